"""Tool calls end to end on a scripted model: the call parsed, checked, run, answered, and the model writing on."""

from __future__ import annotations

import json
import threading

import pytest

from gptoss_lab.render import reply_html, reply_text

ANALYSIS = "<|channel|>analysis<|message|>Need the weather.<|end|>"
PREAMBLE = "<|start|>assistant<|channel|>commentary<|message|>Let me check the weather.<|end|>"


def call(args: str, name: str = "get_weather") -> str:
    return f"<|start|>assistant<|channel|>commentary to=functions.{name} <|constrain|>json<|message|>{args}<|call|>"


FINAL = (
    "<|channel|>analysis<|message|>It is sunny.<|end|>"
    "<|start|>assistant<|channel|>final<|message|>Sunny, 21 C.<|return|>"
)


def get_weather(city: str, unit: str = "celsius") -> dict:
    """The weather now in a city.

    Args:
        city: the city's name
        unit: celsius or fahrenheit
    """
    seen.append((city, unit))
    if city == "Atlantis":
        raise ValueError("no such city")
    return {"city": city, "sky": "sunny", "temperature": 21, "unit": unit}


seen: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def _clear():
    seen.clear()


def test_a_call_is_run_and_answered_and_the_model_writes_on(scripted_lab):
    lab, fake = scripted_lab(ANALYSIS + PREAMBLE + call('{"city":"Oslo"}') + FINAL)
    reply = lab.ask("Weather in Oslo?", tools=[get_weather])
    assert seen == [("Oslo", "celsius")]
    assert reply.stopped == "return" and reply.answer == "Sunny, 21 C." and reply.reasoning == "It is sunny."
    (first,) = reply.tool_rounds
    assert first.reply.preamble == "Let me check the weather." and first.reply.stopped == "call"
    (result,) = first.results
    assert result.ok and json.loads(result.output) == {
        "city": "Oslo",
        "sky": "sunny",
        "temperature": 21,
        "unit": "celsius",
    }
    # the second round's prompt is the first's plus the call and the tool's answer, as harmony renders them
    second_prompt = lab.handle.load().tokenizer.decode(reply.prompt_ids)
    assert second_prompt.startswith(lab.handle.load().tokenizer.decode(first.reply.prompt_ids))
    assert "# Tools" in second_prompt and "type get_weather = (_: {" in second_prompt
    assert (
        f"<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{result.output}<|end|>"
        in second_prompt
    )
    assert second_prompt.endswith("<|start|>assistant")
    # the turn stays in the history with the call and the result; the tools stay declared for the next turn
    follow = lab.prompt_text("thanks")
    assert "Let me check the weather." in follow and result.output in follow and "# Tools" in follow
    assert fake.calls.count(len(reply.prompt_ids)) == 1  # each round prefills once


def test_wrong_arguments_go_back_to_the_model_as_an_error_and_nothing_runs(scripted_lab):
    lab, _ = scripted_lab(ANALYSIS + call('{"town":"Oslo"}') + FINAL)
    reply = lab.ask("Weather in Oslo?", tools=[get_weather])
    (result,) = reply.tool_rounds[0].results
    assert seen == [] and not result.ok
    assert result.output == "Error: missing city (required) in arguments"
    lab2, _ = scripted_lab(ANALYSIS + call('{"city": 7}') + FINAL)
    out = lab2.ask("Weather?", tools=[get_weather]).tool_rounds[0].results[0].output
    assert out == "Error: city should be string, got 7"
    lab3, _ = scripted_lab(ANALYSIS + call("{city: Oslo}") + FINAL)
    out = lab3.ask("Weather?", tools=[get_weather]).tool_rounds[0].results[0].output
    assert out.startswith("Error: the arguments are not JSON")
    assert reply.answer == "Sunny, 21 C."  # and the model wrote on


def test_a_raising_function_is_reported_as_text(scripted_lab):
    lab, _ = scripted_lab(ANALYSIS + call('{"city":"Atlantis"}') + FINAL)
    reply = lab.ask("Weather in Atlantis?", tools=[get_weather])
    (result,) = reply.tool_rounds[0].results
    assert not result.ok and result.output == "Error: ValueError: no such city"
    assert reply.stopped == "return"
    assert "Error: ValueError: no such city" in reply_text(reply)


def test_the_round_limit_stops_with_the_last_call_unanswered(scripted_lab):
    lab, _ = scripted_lab((ANALYSIS + call('{"city":"Oslo"}')) * 5)
    reply = lab.ask("Weather?", tools=[get_weather], max_tool_rounds=2)
    assert len(reply.tool_rounds) == 2 and reply.tool_limit == 2 and reply.stopped == "call"
    assert len(seen) == 2  # the third call did not run
    assert "max_tool_rounds=4" in reply_text(reply) and "max_tool_rounds=4" in reply_html(reply)
    with pytest.raises(ValueError, match="max_tool_rounds"):
        lab.ask("again", tools=[get_weather], max_tool_rounds=0)


def test_stop_while_a_tool_runs_keeps_everything(scripted_lab):
    stop = threading.Event()

    def slow_weather(city: str) -> str:
        stop.set()  # Stop pressed while it runs (Ctrl-C raises KeyboardInterrupt in the kernel's thread)
        raise KeyboardInterrupt

    lab, _ = scripted_lab(ANALYSIS + PREAMBLE + call('{"city":"Oslo"}', "slow_weather") + FINAL)
    reply = lab.ask("Weather?", tools=[slow_weather], stop=stop)
    assert reply.stopped == "interrupted"
    assert reply.preamble == "Let me check the weather." and reply.tool_calls[0].content == '{"city":"Oslo"}'
    assert lab.history[-1]["tool_calls"] == [{"name": "functions.slow_weather", "arguments": '{"city":"Oslo"}'}]
    assert "Let me check the weather." in reply_html(reply)


def test_a_declared_only_tool_ends_the_reply_at_its_call(scripted_lab):
    lab, _ = scripted_lab(ANALYSIS + call('{"city":"Oslo"}') + FINAL)
    spec = {"type": "function", "function": {"name": "get_weather", "description": "weather", "parameters": {}}}
    reply = lab.ask("Weather?", tools=[spec])
    assert reply.stopped == "call" and reply.tool_rounds == [] and seen == []


def test_each_step_is_shown_in_order_and_escaped(scripted_lab):
    lab, _ = scripted_lab(ANALYSIS + PREAMBLE + call('{"city":"<b>Oslo</b> $5"}') + FINAL)
    frames = []
    reply = lab.ask("Weather?", tools=[get_weather], on_update=lambda r: frames.append(reply_html(r)))
    running = [f for f in frames if "running functions.get_weather…" in f]
    assert running and all(f.count("tool call (commentary") == 1 for f in running)  # the call shown once
    assert all(f.count("Let me check the weather.") <= 1 for f in frames)
    page = reply_html(reply)
    order = [
        page.index(s)
        for s in ("round 1 ·", "Let me check the weather.", "tool call", "tool result", "round 2 ·", "Sunny, 21 C.")
    ]
    assert order == sorted(order)
    assert "<b>Oslo</b>" not in page and "&lt;b&gt;Oslo&lt;/b&gt;" in page and "tex2jax_ignore" in page
    text = reply_text(reply)
    assert text.index("[tool result · functions.get_weather") < text.index("[answer]")
    data = reply.to_dict()
    assert data["tool_rounds"][0]["calls"] == [
        {"recipient": "functions.get_weather", "arguments": '{"city":"<b>Oslo</b> $5"}'}
    ]
    assert data["tool_rounds"][0]["results"][0]["ok"] is True


def test_the_cli_imports_the_tools_and_prints_every_step(scripted_lab, tmp_path, monkeypatch, capsys):
    from gptoss_lab import cli

    (tmp_path / "mytools.py").write_text("def get_weather(city: str) -> str:\n    return f'sunny in {city}'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(__import__("sys").modules, "mytools", raising=False)
    script = ANALYSIS + PREAMBLE + call('{"city":"Oslo"}') + FINAL
    lab, _ = scripted_lab(script)
    monkeypatch.setattr("gptoss_lab.lab.Lab", lambda *a, **k: lab)
    assert cli.main(["ask", "Weather in Oslo?", "--tools", "mytools:get_weather"]) == 0
    out = capsys.readouterr().out
    steps = ["Need the weather.", "Preamble", "Let me check", "Tool call: functions.get_weather", "Tool result (ok",
             "sunny in Oslo", "It is sunny.", "Answer:", "Sunny, 21 C."]  # fmt: skip
    assert [out.index(s) for s in steps] == sorted(out.index(s) for s in steps), out
    lab2, _ = scripted_lab(script)
    monkeypatch.setattr("gptoss_lab.lab.Lab", lambda *a, **k: lab2)
    assert cli.main(["ask", "Weather?", "--tools", "mytools:get_weather", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["answer"] == "Sunny, 21 C." and data["tool_rounds"][0]["results"][0]["output"] == "sunny in Oslo"
    assert cli.main(["ask", "Weather?", "--tools", "mytools:nope"]) == 2
    assert capsys.readouterr().err.strip() == "gptoss-lab: error: --tools mytools:nope: module mytools has no nope"
    assert cli.main(["ask", "Weather?", "--tools", "get_weather"]) == 2
    assert "MODULE:FUNCTION" in capsys.readouterr().err


# -- the python tool: the model's code in a kernel of its own

PY_CALL = "<|start|>assistant to=python<|channel|>analysis code<|message|>{code}<|call|>"


def test_the_python_tool_runs_the_models_code_in_another_kernel(scripted_lab):
    secret_in_this_process = "the user's"  # noqa: F841 - the model's kernel must not see it
    code = "import os\nx = 6 * 7\nprint(x, os.getpid())"
    lab, _ = scripted_lab(ANALYSIS + PY_CALL.format(code=code) + PY_CALL.format(code="secret_in_this_process") + FINAL)
    try:
        reply = lab.ask("What is 6*7? Use python.", tools=["python"])
        first, second = reply.tool_rounds
        value, pid = first.results[0].output.split()
        assert value == "42" and int(pid) != __import__("os").getpid() and first.results[0].source == "python"
        assert "NameError" in second.results[0].output  # the notebook's variables are not there
        prompt = lab.handle.load().tokenizer.decode(reply.prompt_ids)
        assert "# Tools\n\n## python\n\nUse this tool to execute Python code" in prompt
        assert "time out after 30.0 seconds" in prompt and "functions" not in prompt.split("<|end|>")[0]
        assert "<|start|>python to=assistant<|channel|>analysis<|message|>42 " in prompt
        assert "[tool result · python ·" in reply_text(reply)
        assert "print(x" not in first.reply.reasoning and first.reply.reasoning == "Need the weather."
        assert [m.recipient for m in first.reply.tool_calls] == ["python"]
    finally:
        lab.python.close()


def test_a_hanging_call_times_out_and_long_output_is_cut(scripted_lab):
    lab, _ = scripted_lab(
        ANALYSIS + PY_CALL.format(code="import time\nwhile True: time.sleep(0.05)")
        + PY_CALL.format(code="print('y' * 100000)") + FINAL
    )  # fmt: skip
    lab.python.timeout, lab.python.max_output = 2.0, 300  # 300 letters: nano spells them, one token each
    try:
        reply = lab.ask("loop", tools=["python"])
        hung, long = (r.results[0] for r in reply.tool_rounds)
        assert "timed out after 2 s" in hung.output and hung.seconds < 10
        assert long.truncated and "100,000 characters in all, the first 300 shown" in long.output
        assert reply.answer == "Sunny, 21 C."
        assert lab.python.running
        lab.reset()
        assert not lab.python.running and lab.tools == []  # a new conversation, a fresh kernel
    finally:
        lab.python.close()


def test_results_too_long_for_the_context_end_the_exchange_with_everything_kept(scripted_lab):
    def page() -> str:
        return "z" * 3000  # nano spells it letter by letter: more than its 2,048-token context

    lab, _ = scripted_lab(ANALYSIS + PREAMBLE + call("{}", "page") + FINAL)
    reply = lab.ask("Read the page", tools=[page])
    assert reply.stopped == "error" and "the next round did not start: the prompt is" in reply.error
    assert reply.preamble == "Let me check the weather." and reply.tool_results[0].output == "z" * 3000
    assert lab.history[-1] == {"role": "tool", "name": "page", "content": "z" * 3000}


_KERNEL_SCRIPT = """
import gptoss_lab.generate
from gptoss_lab import Lab

call = "<|channel|>analysis<|message|>Check.<|end|><|start|>assistant to=python<|channel|>analysis code"
call += "<|message|>{}<|call|>"
ROUNDS = [call.format("model_var = 1\\nprint(secret)"), "<|channel|>final<|message|>Done.<|return|>"]
encode = Lab().handle.load().encode
scripts = [encode(r) for r in ROUNDS]

def scripted_generate(*args, **kwargs):
    yield from scripts.pop(0)

gptoss_lab.generate.generate_ids = scripted_generate
secret = 42
"""


def test_the_python_tool_cannot_see_or_change_the_notebooks_variables(tmp_path):
    """In a real notebook kernel: the model's code meets a NameError for the notebook's variable, and the
    variable it sets never appears in the notebook."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = ["%load_ext gptoss_lab", _KERNEL_SCRIPT, "%%gptoss --tools python -o r\nWhat is secret?"]
    cells += ["print(secret, 'model_var' in globals(), r.tool_rounds[0].results[0].output.splitlines()[-1])"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}})
    client.execute()
    printed = "".join(o.get("text", "") for o in nb.cells[3].outputs)
    assert printed.strip() == "42 False NameError: name 'secret' is not defined"
