"""One error type: every option checked before anything loads, each refusal one line; a bug keeps its traceback."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from gptoss_lab import Lab
from gptoss_lab.errors import (
    CheckpointError,
    ContextTooLongError,
    GptOssLabError,
    ModelNotFoundError,
    OptionError,
    ServerError,
    WontFitError,
    with_note,
)
from gptoss_lab.options import check_dtype, check_generation


@pytest.fixture
def no_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to read weights or a tokenizer fails the test: the refusal must come first."""
    monkeypatch.setattr("gptoss_lab.model._load", lambda *a, **k: pytest.fail("weights were touched"))
    monkeypatch.setattr("gptoss_lab.model._tokenizer", lambda *a, **k: pytest.fail("the tokenizer was loaded"))
    monkeypatch.setattr("gptoss_lab.model._cuda_visible", lambda: False)


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(err.value)
    assert message and "\n" not in message
    return message


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"temperature": math.nan}, "temperature must be a finite number, got nan"),
        ({"temperature": -0.5}, "temperature must be 0 (greedy) or at least 0.01, got -0.5"),
        ({"temperature": 1e-45}, "at least 0.01, got 1e-45"),
        ({"temperature": "hot"}, "temperature must be a number, got 'hot' (str)"),
        ({"top_p": 0}, "top_p must be in (0, 1], got 0"),
        ({"top_p": True}, "top_p must be a number, got True (bool)"),
        ({"seed": 2**64}, "seed must be a whole number from 0 to 2**64 - 1, got 18446744073709551616"),
        ({"seed": 1.5}, "seed must be a whole number, got 1.5 (float)"),
        ({"max_new_tokens": 0}, "max_new_tokens must be at least 1, got 0"),
        ({"max_new_tokens": "10"}, "max_new_tokens must be a whole number, got '10' (str)"),
        ({"effort": "max"}, "effort must be low, medium or high, got 'max'"),
    ],
)
def test_each_option_rule_says_the_rule_the_value_and_the_fix(options: dict[str, Any], words: str) -> None:
    with pytest.raises(OptionError) as err:
        check_generation(**options)
    message = one_line(err)
    assert words in message and ("e.g. --" in message or "use --" in message)


def test_good_options_pass_through() -> None:
    g = check_generation(effort="high", max_new_tokens=5, temperature=0, top_p=1, seed=2**64 - 1)
    assert (g.effort, g.max_new_tokens, g.temperature, g.top_p, g.seed) == ("high", 5, 0.0, 1.0, 2**64 - 1)
    assert check_generation(temperature=0.01).temperature == 0.01  # the smallest non-greedy temperature
    assert check_dtype("bf16") == "bfloat16" and check_dtype(None) is None


def test_effort_has_one_rule_wherever_it_is_checked() -> None:
    from gptoss_lab.harmony import render_prompt
    from gptoss_lab.options import DEFAULT_EFFORT, EFFORTS, check_effort

    refusals = []
    for check in (
        lambda: check_effort("max"),
        lambda: check_generation(effort="max"),
        lambda: render_prompt([{"role": "user", "content": "hi"}], effort="max"),
        lambda: Lab("nano").ask("hi", effort="max"),
    ):
        with pytest.raises(OptionError) as err:
            check()
        refusals.append(one_line(err))
    assert len(set(refusals)) == 1 and refusals[0].startswith("effort must be low, medium or high, got 'max'")
    assert EFFORTS == ("low", "medium", "high") and DEFAULT_EFFORT in EFFORTS
    assert f"Reasoning: {DEFAULT_EFFORT}" in render_prompt([{"role": "user", "content": "hi"}])


def test_the_error_types_are_the_builtins_older_code_caught() -> None:
    assert issubclass(OptionError, ValueError) and issubclass(ServerError, OSError)
    assert issubclass(WontFitError, MemoryError) and issubclass(ModelNotFoundError, FileNotFoundError)
    for kind in (OptionError, ServerError, WontFitError, ModelNotFoundError, CheckpointError, ContextTooLongError):
        assert issubclass(kind, GptOssLabError)
    noted = with_note(ServerError("refused"), "kept nano")
    assert type(noted) is ServerError and str(noted) == "refused: kept nano"


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        (123, "prompt must be text (str), got int 123: pass str(...)"),
        (["hi"], "prompt must be text (str), got list"),
        ("a lone \ud800 half", "prompt holds '\\ud800' at character 7, half of a character (a lone surrogate)"),
    ],
)
def test_a_prompt_that_is_not_text_is_refused_before_loading(no_load: None, prompt: Any, words: str) -> None:
    lab = Lab("nano")
    with pytest.raises(OptionError) as err:
        lab.ask(prompt)
    assert words in one_line(err)
    assert not lab.handle.loaded and lab.history == []


def test_a_bad_temperature_is_refused_before_a_20b_loads(no_load: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gptoss_lab.memory.available_bytes", lambda device: 10**12)  # it would fit
    with pytest.raises(OptionError, match="finite"):
        Lab("openai/gpt-oss-20b").ask("hi", temperature=math.inf)


# -- the command line: one line, exit 2; a bug: its traceback


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--dtype", "banana"], "dtype must be float32|bfloat16|float16, got 'banana'"),
        (["--dtype", "float64"], "dtype 'float64' cannot run gpt-oss"),
        (["--device", "cuda"], "--device cuda: no CUDA here"),
        (["--temperature", "nan"], "temperature must be a finite number, got nan"),
        (["--temperature", "1e-45"], "temperature must be 0 (greedy) or at least 0.01"),
        (["--seed", str(2**70)], "seed must be a whole number from 0 to 2**64 - 1"),
        (["--max-tokens", "-3"], "max_new_tokens must be at least 1, got -3"),
        (["--model", "a/b/c"], "is neither a directory nor a hub id"),
    ],
)
def test_command_line_refusals_are_one_line(
    no_load: None, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    from gptoss_lab.cli import main

    assert main(["ask", "hi", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gptoss-lab: error: ") and words in err and err.count("\n") == 1


def test_command_line_lets_a_bug_show_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from gptoss_lab.cli import main

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("[Errno 5] Input/output error")  # was swallowed into one line before

    monkeypatch.setattr(Lab, "ask", broken)
    with pytest.raises(OSError, match="Errno 5"):
        main(["ask", "hi"])


# -- damaged checkpoints: the file is named, nothing is loaded


def make_checkpoint(path: Path, tensors: dict[str, Any], data: bytes) -> Path:
    header = json.dumps(tensors).encode()
    (path / "config.json").write_text("{}")
    (path / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + data)
    return path / "model.safetensors"


@pytest.mark.parametrize(
    ("tensors", "data", "words"),
    [
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 9, "is truncated: its header"),
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16, None),  # whole: fine
    ],
)
def test_a_truncated_safetensors_file_is_named(tmp_path: Path, tensors: Any, data: bytes, words: str | None) -> None:
    from gptoss_lab.checks import check_weights

    file = make_checkpoint(tmp_path, tensors, data)
    if words is None:
        check_weights(tmp_path)
        return
    with pytest.raises(CheckpointError) as err:
        check_weights(tmp_path)
    assert one_line(err).startswith(f"{file} {words}") and "re-download" in str(err.value)


def test_a_garbled_header_or_a_missing_shard_is_named(tmp_path: Path) -> None:
    from gptoss_lab.checks import check_weights

    (tmp_path / "model.safetensors").write_bytes((5).to_bytes(8, "little") + b"nope!")
    with pytest.raises(CheckpointError, match=r"model\.safetensors is damaged: its header is not safetensors JSON"):
        check_weights(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\1\2")
    with pytest.raises(CheckpointError, match="too short for its own header"):
        check_weights(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    index = {"weight_map": {"w": "model-00002-of-00002.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match=r"model-00002-of-00002\.safetensors is missing"):
        check_weights(tmp_path)


def test_a_broken_config_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config\.json is not valid JSON"):
        Lab(str(tmp_path))


# -- the context guard's line


def test_the_context_guard_says_the_numbers_and_what_to_type() -> None:
    from gptoss_lab.backends.local import check_context

    check_context(1000, 1048, 2048, "nano", 0)  # exactly fits
    with pytest.raises(ContextTooLongError) as err:
        check_context(1500, 1024, 2048, "gpt-oss-nano", 3)
    assert one_line(err) == (
        "the prompt is 1,500 tokens and --max-tokens asks for 1,024 more: 2,524 > the 2,048 tokens gpt-oss-nano "
        "can read (its context): use --max-tokens 548 or less (max_new_tokens=548), or %gptoss reset "
        "(or lab.reset()) drops the 3 earlier turns, or a shorter prompt"
    )
    with pytest.raises(ContextTooLongError, match=r"11,812 tokens .* use a shorter prompt$"):
        check_context(11812, 1024, 2048, "gpt-oss-nano", 0)
