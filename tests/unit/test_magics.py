"""%%gptoss and %gptoss driven through a real IPython shell, with a fake Lab in place of the model."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from gptoss_lab.errors import ContextTooLongError, ModelNotFoundError
from gptoss_lab.harmony import Message
from gptoss_lab.reply import Reply

BRACES = 'Explain {"a": {"b": [1,2]}} and {undefined_name} and {{x}} and f"{x}"'


class FakeLab:
    """Records what the magics ask; answers with a finished Reply, streaming it through on_update."""

    def __init__(self, model_name: str = "nano", error: Exception | None = None) -> None:
        self.model_name = model_name
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.history: list[dict[str, Any]] = []
        self.resets = 0
        self.loads = 0
        self.switches: list[str] = []
        self.capabilities = frozenset({"routing", "attention", "token_ids"})

    def switch_model(self, name: str) -> FakeLab:
        self.switches.append(name)
        self.model_name = name
        return self

    def __repr__(self) -> str:
        return f"FakeLab: {self.model_name} (not loaded)\n  conversation: {len(self.history) // 2} turns"

    def load(self) -> FakeLab:
        self.loads += 1
        return self

    def default_max_new_tokens(self, effort: str) -> int:
        return {"low": 256, "medium": 512, "high": 1280}[effort]

    def reset(self) -> None:
        self.resets += 1
        self.history.clear()

    def ask(self, prompt: str, **kw: Any) -> Reply:
        self.calls.append((prompt, kw))
        if self.error is not None:
            raise self.error
        reply = Reply(prompt, self.model_name, kw["effort"])
        reply.messages.append(Message(role="assistant", channel="analysis", content="Adding."))
        kw["on_update"](reply)  # still streaming
        reply.messages.append(Message(role="assistant", channel="final", content="42"))
        reply.close("return", [], 0.5)
        kw["on_update"](reply)
        self.history += [{"role": "user", "content": prompt}, {"role": "assistant", "content": "42"}]
        return reply


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """A fresh in-memory IPython shell per test; sys.modules['__main__'] is put back afterwards."""
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    sh = InteractiveShell.instance(config=config)
    try:
        yield sh
    finally:
        InteractiveShell.clear_instance()


@pytest.fixture
def displays(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What LiveDisplay shows (first display and in-place updates), in order."""
    shown: list[Any] = []

    class Handle:
        def update(self, obj: Any) -> None:
            shown.append(obj)

    def display(obj: Any, display_id: bool = False) -> Handle:
        shown.append(obj)
        return Handle()

    monkeypatch.setattr("IPython.display.display", display)
    return shown


@pytest.fixture
def lab(shell: InteractiveShell, displays: list[Any]) -> FakeLab:
    shell.run_line_magic("load_ext", "gptoss_lab")
    fake = FakeLab()
    shell.magics_manager.registry["GptOssMagics"]._lab = fake
    return fake


def usage_error(shell: InteractiveShell, cell: str) -> str:
    """Run ``cell``; demand a UsageError of one line and return its message."""
    err = shell.run_cell(cell).error_in_exec
    assert isinstance(err, UsageError), repr(err)
    message = str(err)
    assert message
    assert "\n" not in message
    return message


# -- loading and configuration


def test_load_ext_registers_the_magics_and_config_lists_the_traits(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("load_ext", "gptoss_lab")
    assert "gptoss" in shell.magics_manager.magics["cell"]
    assert "gptoss" in shell.magics_manager.magics["line"]
    capsys.readouterr()
    shell.run_line_magic("config", "GptOssMagics")
    out = capsys.readouterr().out
    for trait in ("effort", "max_tokens", "temperature", "top_p", "model", "interpolate"):
        assert f"GptOssMagics.{trait}" in out


def test_cell_magic_help_documents_the_options(lab: FakeLab) -> None:
    shell = InteractiveShell.instance()
    doc = shell.magics_manager.magics["cell"]["gptoss"].__doc__
    assert "--effort" in doc
    assert "--max-tokens" in doc
    assert "%%gptoss" in doc


# -- the cell magic: prompt and options


def test_prompt_and_options_reach_the_lab(lab: FakeLab, displays: list[Any]) -> None:
    shell = InteractiveShell.instance()
    result = shell.run_cell(
        '%%gptoss --effort high --max-tokens 5 --temperature 0 --seed 3 --developer "Be brief." --top-p 0.5\n'
        "What is 17 + 25?\n"
    )
    assert result.success, result.error_in_exec
    [(prompt, kw)] = lab.calls
    assert prompt == "What is 17 + 25?"
    assert kw["effort"] == "high"
    assert kw["max_new_tokens"] == 5
    assert kw["temperature"] == 0.0
    assert kw["seed"] == 3
    assert kw["developer"] == "Be brief."
    assert kw["top_p"] == 0.5
    assert callable(kw["on_update"])
    assert displays[0] is displays[-1]  # one Reply, drawn and then redrawn in place
    assert displays[-1].done and displays[-1].answer == "42"


def test_short_options(lab: FakeLab) -> None:
    InteractiveShell.instance().run_cell("%%gptoss -e low -n 7 -t 0.2 -s 1 -d dev\nhi")
    [(_, kw)] = lab.calls
    assert (kw["effort"], kw["max_new_tokens"], kw["temperature"], kw["seed"], kw["developer"]) == (
        "low",
        7,
        0.2,
        1,
        "dev",
    )


def test_defaults_come_from_the_traits(lab: FakeLab) -> None:
    InteractiveShell.instance().run_cell("%%gptoss\nhi")
    [(_, kw)] = lab.calls
    assert kw["effort"] == "medium"
    assert kw["max_new_tokens"] is None  # None: the Lab's default for the model and effort
    assert kw["temperature"] is None  # None: the model's own recommendation (resolved by the Lab)
    assert kw["top_p"] is None
    assert kw["seed"] is None
    assert kw["developer"] is None


def test_config_changes_the_defaults(lab: FakeLab) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("config", 'GptOssMagics.effort = "low"')
    shell.run_line_magic("config", "GptOssMagics.max_tokens = 64")
    shell.run_line_magic("config", "GptOssMagics.temperature = 0.0")
    shell.run_cell("%%gptoss\nhi")
    shell.run_cell("%%gptoss --effort high\nhi")
    (_, first), (_, second) = lab.calls
    assert (first["effort"], first["max_new_tokens"], first["temperature"]) == ("low", 64, 0.0)
    assert second["effort"] == "high"  # an option beats the configured default


def test_configured_effort_is_case_insensitive_but_reaches_the_lab_canonical(lab: FakeLab) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("config", 'GptOssMagics.effort = "HIGH"')
    shell.run_cell("%%gptoss\nhi")
    assert lab.calls[0][1]["effort"] == "high"


# -- bad input: one-line UsageErrors that say what to type


def test_bad_effort_names_the_choices(lab: FakeLab) -> None:
    message = usage_error(InteractiveShell.instance(), "%%gptoss --effort hi\nhello")
    assert "'hi'" in message
    assert all(e in message for e in ("low", "medium", "high"))
    assert lab.calls == []


def test_bad_max_tokens_names_the_option_and_value(lab: FakeLab) -> None:
    message = usage_error(InteractiveShell.instance(), "%%gptoss --max-tokens x\nhello")
    assert "--max-tokens" in message
    assert "'x'" in message
    assert lab.calls == []


def test_misspelt_option_points_at_the_right_one(lab: FakeLab) -> None:
    message = usage_error(InteractiveShell.instance(), "%%gptoss --efort high\nhello")
    assert "--efort" in message
    assert "--effort" in message or "%%gptoss?" in message  # what to type instead
    assert lab.calls == []


def test_unclosed_quote_in_options_is_a_usage_error(lab: FakeLab) -> None:
    message = usage_error(InteractiveShell.instance(), "%%gptoss --developer 'Be brief.\nhello")
    assert "quot" in message
    assert lab.calls == []


def test_empty_cell_is_an_error(lab: FakeLab) -> None:
    shell = InteractiveShell.instance()
    usage_error(shell, "%%gptoss --effort low\n")
    with pytest.raises(UsageError, match="empty"):
        shell.run_cell_magic("gptoss", "--effort low", "   \n\t\n")
    assert lab.calls == []


def test_errors_of_the_lab_become_one_line_usage_errors(lab: FakeLab) -> None:
    lab.error = ContextTooLongError("the prompt is 9,000 tokens: use a shorter prompt")
    message = usage_error(InteractiveShell.instance(), "%%gptoss\nhi")
    assert message == "the prompt is 9,000 tokens: use a shorter prompt"
    assert len(lab.calls) == 1


def test_a_missing_checkpoint_becomes_a_usage_error(lab: FakeLab) -> None:
    lab.error = ModelNotFoundError("no checkpoint at ./nowhere: use %gptoss load nano")
    assert "nowhere" in usage_error(InteractiveShell.instance(), "%%gptoss\nhi")


@pytest.mark.parametrize(
    "error",
    [
        ValueError("mat1 and mat2 shapes cannot be multiplied (1x64 and 32x64)"),
        RuntimeError("CUDA error: device-side assert triggered"),
        OSError("[Errno 5] Input/output error"),
    ],
)
def test_a_bug_deep_in_torch_keeps_its_traceback(lab: FakeLab, error: Exception) -> None:
    lab.error = error
    err = InteractiveShell.instance().run_cell("%%gptoss\nhi").error_in_exec
    assert err is error  # not turned into a UsageError line: the traceback shows where it came from


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ("--temperature nan", "temperature must be a finite number, got nan"),
        ("--temperature inf", "temperature must be a finite number, got inf"),
        ("--temperature -1", "temperature must be 0 (greedy) or at least 0.01, got -1.0"),
        ("--temperature 1e-45", "temperature must be 0 (greedy) or at least 0.01, got 1e-45"),
        ("--top-p 0", "top_p must be in (0, 1], got 0.0"),
        ("--top-p 1.5", "top_p must be in (0, 1], got 1.5"),
        ("--seed 99999999999999999999999", "seed must be a whole number from 0 to 2**64 - 1"),
        ("--seed -1", "seed must be a whole number from 0 to 2**64 - 1, got -1"),
        ("--max-tokens 0", "max_new_tokens must be at least 1, got 0"),
    ],
)
def test_bad_options_are_one_line_before_the_lab_is_asked(lab: FakeLab, options: str, words: str) -> None:
    message = usage_error(InteractiveShell.instance(), f"%%gptoss --model other {options}\nhi")
    assert words in message  # the rule and the value
    assert "e.g. --" in message or "use --" in message  # and what to type
    assert lab.calls == [] and lab.switches == []  # refused before a --model switch could load anything


# -- the prompt text: braces pass through; --vars substitutes defined names only


def test_braces_and_json_pass_through_unchanged(lab: FakeLab) -> None:
    shell = InteractiveShell.instance()
    shell.user_ns.update(x=5, undefined_name_is_not="here")
    shell.run_cell(f"%%gptoss\n{BRACES}\n")
    assert lab.calls[0][0] == BRACES


def test_dollar_and_braces_in_the_option_line_stay_as_typed(lab: FakeLab) -> None:
    shell = InteractiveShell.instance()
    shell.user_ns.update(x=5, price="nothing")
    assert shell.run_cell('%%gptoss --developer "costs $x, {price} or $5"\nhi').success
    assert lab.calls[0][1]["developer"] == "costs $x, {price} or $5"  # IPython expanded $x and {price} before
    assert "'$x'" in usage_error(shell, "%gptoss $x")  # the line form too


def test_vars_substitutes_defined_names_and_keeps_the_rest(lab: FakeLab) -> None:
    shell = InteractiveShell.instance()
    shell.user_ns.update(city="Paris", n=3)
    shell.run_cell('%%gptoss --vars\nWeather in {city} for {n} days? {missing} {"a": 1} { city }\n')
    assert lab.calls[0][0] == 'Weather in Paris for 3 days? {missing} {"a": 1} { city }'


def test_interpolate_trait_turns_vars_on_by_default(lab: FakeLab) -> None:
    shell = InteractiveShell.instance()
    shell.user_ns["city"] = "Oslo"
    shell.run_cell("%%gptoss\n{city}")
    shell.run_line_magic("config", "GptOssMagics.interpolate = True")
    shell.run_cell("%%gptoss\n{city}")
    assert [p for p, _ in lab.calls] == ["{city}", "Oslo"]


# -- --out and --new


def test_out_stores_the_reply_in_the_namespace(lab: FakeLab) -> None:
    shell = InteractiveShell.instance()
    assert shell.run_cell("%%gptoss --out r\nWhat is 17 + 25?").success
    reply = shell.user_ns["r"]
    assert isinstance(reply, Reply)
    assert reply.prompt == "What is 17 + 25?"
    assert reply.answer == "42"
    assert shell.magics_manager.registry["GptOssMagics"].last is reply


def test_new_resets_before_asking(lab: FakeLab) -> None:
    shell = InteractiveShell.instance()
    shell.run_cell("%%gptoss\nfirst")
    assert lab.resets == 0
    shell.run_cell("%%gptoss --new\nsecond")
    assert lab.resets == 1
    assert [turn["content"] for turn in lab.history] == ["second", "42"]


# -- the line magic


def test_reset_command(lab: FakeLab, capsys: pytest.CaptureFixture[str]) -> None:
    InteractiveShell.instance().run_line_magic("gptoss", "reset")
    assert lab.resets == 1
    assert "conversation cleared" in capsys.readouterr().out


def test_history_command(lab: FakeLab, capsys: pytest.CaptureFixture[str]) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("gptoss", "history")
    assert "no conversation yet" in capsys.readouterr().out
    shell.run_cell("%%gptoss\nWhat is 17 + 25?")
    capsys.readouterr()
    shell.run_line_magic("gptoss", "history")
    assert capsys.readouterr().out.splitlines() == ["user: What is 17 + 25?", "assistant: 42"]


def test_status_command(lab: FakeLab, capsys: pytest.CaptureFixture[str]) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("config", 'GptOssMagics.effort = "high"')
    capsys.readouterr()
    shell.run_line_magic("gptoss", "status")
    out = capsys.readouterr().out
    assert "FakeLab: nano (not loaded)" in out
    assert "effort=high" in out
    assert "max_tokens=1280 (by model and effort; at most the context's room)" in out  # nano at high
    assert lab.loads == 0  # status never loads the model


def test_unknown_or_missing_command_is_a_usage_error(lab: FakeLab) -> None:
    shell = InteractiveShell.instance()
    with pytest.raises(UsageError, match="bogus"):
        shell.run_line_magic("gptoss", "bogus")
    assert "reset" in usage_error(shell, "%gptoss bogus")
    assert "load | reset | history | status" in usage_error(shell, "%gptoss")
    assert lab.resets == lab.loads == 0


@pytest.mark.parametrize(
    ("line", "missing"), [("load", "model"), ("load --quant bf16", "model"), ("connect --model x", "url")]
)
def test_missing_argument_of_a_command_is_a_usage_error_not_an_exit(lab: FakeLab, line: str, missing: str) -> None:
    shell = InteractiveShell.instance()
    message = usage_error(shell, f"%gptoss {line}")  # argparse alone raises SystemExit here
    assert f"required: {missing}" in message and f"%gptoss {line.split()[0]}" in message
    assert lab.loads == 0


# -- figures after the reply


def test_show_asks_for_capture_and_draws_the_figures(
    lab: FakeLab, displays: list[Any], shell: InteractiveShell
) -> None:
    pytest.importorskip("plotly")
    import plotly.graph_objects as go

    from tests.unit.test_viz_routing import make_trace

    original = lab.ask

    def ask_with_trace(prompt: str, **kw: Any) -> Reply:
        reply = original(prompt, **kw)
        reply.trace = make_trace()
        return reply

    lab.ask = ask_with_trace  # type: ignore[method-assign]
    shell.run_cell_magic("gptoss", "--show routing,load", "hi")
    assert lab.calls[-1][1]["capture"] is True
    figures = [d for d in displays if isinstance(d, go.Figure)]
    assert len(figures) == 2
    assert figures[0].data[0].type == "heatmap"


def test_show_without_a_trace_says_what_to_add(lab: FakeLab, capsys: pytest.CaptureFixture[str]) -> None:
    shell = InteractiveShell.instance()
    shell.run_cell_magic("gptoss", "--show routing", "hi")
    assert "add --capture" in capsys.readouterr().out


def test_show_unknown_figure_names_the_choices(lab: FakeLab) -> None:
    message = usage_error(InteractiveShell.instance(), "%%gptoss --show pictures\nhi")
    assert "routing" in message
    assert lab.calls == []


def test_load_of_a_model_that_cannot_fit_is_refused_in_one_line(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gptoss_lab.memory.available_bytes", lambda device: 24 * 2**30)
    monkeypatch.setattr("gptoss_lab.model._cuda_visible", lambda: False)
    shell.run_line_magic("load_ext", "gptoss_lab")
    message = usage_error(shell, "%gptoss load openai/gpt-oss-120b")
    assert "needs about 233.8 GB on cpu" in message


# -- switching is a transaction: a failed load or connect keeps the model and the conversation


def finished_reply(prompt: str, answer: str) -> Reply:
    reply = Reply(prompt, "gpt-oss-nano", "low")
    reply.messages.append(Message(role="assistant", channel="final", content=answer))
    reply.close("return", [], 0.1)
    return reply


@pytest.fixture
def nano_with_turns(shell: InteractiveShell, displays: list[Any]) -> Any:
    """The magic's real (lazy, never loaded) nano Lab with two earlier turns."""
    shell.run_line_magic("load_ext", "gptoss_lab")
    magics = shell.magics_manager.registry["GptOssMagics"]
    for prompt, answer in (("What is 17 + 25?", "42"), ("And times 2?", "84")):
        magics.lab._remember(prompt, finished_reply(prompt, answer))
    return magics


def assert_kept(shell: InteractiveShell, magics: Any, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert message.endswith(": kept gpt-oss-nano and your 2 earlier turns")  # says what it kept
    assert magics.lab.model_name == "nano" and magics.model == "nano"
    assert not magics.lab.handle.loaded  # nothing was loaded on the way
    capsys.readouterr()
    shell.run_line_magic("gptoss", "history")
    assert capsys.readouterr().out.splitlines() == [
        "user: What is 17 + 25?",
        "assistant: 42",
        "user: And times 2?",
        "assistant: 84",
    ]


def test_a_load_that_cannot_fit_keeps_the_model_and_the_conversation(
    shell: InteractiveShell, nano_with_turns: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("gptoss_lab.memory.available_bytes", lambda device: 16e9)  # a 16 GB laptop
    monkeypatch.setattr("gptoss_lab.model._cuda_visible", lambda: False)
    monkeypatch.setattr("gptoss_lab.model._load", lambda *a, **k: pytest.fail("weights were touched"))
    message = usage_error(shell, "%gptoss load openai/gpt-oss-20b")
    assert "openai/gpt-oss-20b needs about 41.9 GB on cpu" in message and "16.0 GB is free" in message
    assert_kept(shell, nano_with_turns, message, capsys)


def test_a_damaged_checkpoint_is_named_and_the_conversation_kept(
    shell: InteractiveShell, nano_with_turns: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from gptoss_lab.model import resolve_model

    broken = tmp_path / "broken"
    shutil.copytree(resolve_model("nano").path, broken)
    weights = broken / "model.safetensors"
    with open(weights, "r+b") as f:
        f.truncate(weights.stat().st_size // 2)  # a download cut in half
    message = usage_error(shell, f"%gptoss load {broken}")
    assert f"{weights} is truncated: its header describes" in message and "re-download" in message
    assert_kept(shell, nano_with_turns, message, capsys)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("load nano --dtype banana", "dtype must be float32|bfloat16|float16, got 'banana'"),
        ("load nano --dtype float64", "expert kernel (grouped_mm) takes float32, bfloat16 or float16 only"),
        ("load nano --device cuda", "--device cuda: no CUDA here"),
        ("load nano --device gpu", "device must be cpu, cuda, cuda:N or mps, got 'gpu'"),
        ("load ./no/such/dir", "is neither a directory nor a hub id"),
    ],
)
def test_bad_load_options_are_one_line_and_keep_the_conversation(
    shell: InteractiveShell,
    nano_with_turns: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    line: str,
    words: str,
) -> None:
    monkeypatch.setattr("gptoss_lab.model._cuda_visible", lambda: False)
    message = usage_error(shell, f"%gptoss {line}")
    assert words in message
    assert_kept(shell, nano_with_turns, message, capsys)


def test_a_connect_to_a_dead_port_keeps_the_model_and_the_conversation(
    shell: InteractiveShell, nano_with_turns: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    message = usage_error(shell, f"%gptoss connect {dead} --timeout 5")
    assert f"cannot connect to {dead}: connection refused" in message
    assert_kept(shell, nano_with_turns, message, capsys)


def test_a_bug_during_a_load_keeps_its_traceback_and_the_conversation(
    shell: InteractiveShell, nano_with_turns: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def bug(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("Expected mat_a to be Float32, BFloat16 or Float16 matrix, got Double")  # from torch

    monkeypatch.setattr("gptoss_lab.model._load", bug)
    err = shell.run_cell("%gptoss load nano").error_in_exec
    assert isinstance(err, RuntimeError) and "got Double" in str(err)  # not a UsageError: the traceback shows
    if sys.version_info >= (3, 11):
        assert err.__notes__ == ["kept gpt-oss-nano and your 2 earlier turns"]
    assert_kept(shell, nano_with_turns, ": kept gpt-oss-nano and your 2 earlier turns", capsys)


# -- tools


def test_tools_are_named_from_the_notebook_and_reach_the_lab(lab: FakeLab) -> None:
    shell = InteractiveShell.instance()
    shell.run_cell("def get_weather(city: str) -> str:\n    return 'sunny'\nmore = [len, {'name': 'declared'}]")
    result = shell.run_cell("%%gptoss --tools get_weather,more,python --tool-rounds 3\nWeather in Oslo?")
    assert result.success, result.error_in_exec
    [(_, kw)] = lab.calls
    ns = shell.user_ns
    assert kw["tools"] == [ns["get_weather"], len, {"name": "declared"}, "python"] and kw["max_tool_rounds"] == 3
    shell.run_cell('%%gptoss --tools ""\nno tools now')
    assert lab.calls[-1][1]["tools"] == []
    shell.run_cell("%%gptoss\nthe same tools as before")
    assert "tools" not in lab.calls[-1][1] and "max_tool_rounds" not in lab.calls[-1][1]


def test_a_tool_name_not_in_the_notebook_is_one_line_with_a_hint(lab: FakeLab) -> None:
    shell = InteractiveShell.instance()
    shell.run_cell("def get_weather(city: str) -> str:\n    return 'sunny'")
    said = usage_error(shell, "%%gptoss --tools get_wether\nWeather?")
    assert said == "--tools get_wether: the notebook has no variable named get_wether: did you mean get_weather?"
    said = usage_error(shell, "%%gptoss --tools zzz_nothing_like_it\nWeather?")
    assert said.endswith("define the function in a cell above first")
    assert lab.calls == []
