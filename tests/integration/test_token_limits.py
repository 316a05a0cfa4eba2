"""The default token limit and the "stopped while still reasoning" line, end to end through the scripted model:
the Lab, the ``gptoss-lab`` command and the Playground."""

from __future__ import annotations

from typing import Any

import pytest

# analysis that never ends: the scripted model repeats its last token ("think") for as long as it is asked
ENDLESS = "<|channel|>analysis<|message|>Let me think think"


def test_no_limit_given_is_the_models_default_for_the_effort(scripted_lab):
    lab, _ = scripted_lab(ENDLESS)
    reply = lab.ask("What is 4158 + 57?", effort="low", temperature=0)
    assert reply.max_new_tokens == 256 == len(reply.completion_ids)  # nano at low effort
    assert reply.stopped == "max_tokens" and reply.stopped_while_reasoning
    assert reply.room == 2048 - len(reply.prompt_ids)
    assert "stopped at 256 tokens while still reasoning (no answer yet): run again with --max-tokens 1024" in (
        repr(reply)
    )


def test_the_default_is_lowered_to_what_the_context_leaves(scripted_lab):
    lab, _ = scripted_lab(ENDLESS)
    prompt = "Add these numbers, then say the sum. " * 100  # about 900 prompt tokens: 1,280 would not fit
    reply = lab.ask(prompt, effort="high", temperature=0)
    n = len(reply.prompt_ids)
    assert n + 1280 > 2048 and reply.max_new_tokens == 2048 - n == len(reply.completion_ids)
    assert reply.stopped_while_reasoning and "the context has no room for more" in repr(reply)


def test_the_command_prints_the_stop_line(scripted_lab, monkeypatch, capsys):
    from gptoss_lab.cli import main

    lab, _ = scripted_lab(ENDLESS)
    monkeypatch.setattr("gptoss_lab.lab.Lab", lambda *a, **k: lab)
    assert main(["ask", "What is 4158 + 57?", "--effort", "high", "--max-tokens", "20"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("(gpt-oss-nano · effort high")
    assert last.endswith("stopped at 20 tokens while still reasoning (no answer yet): run again with --max-tokens 80)")


def test_the_playground_says_it_in_its_own_words(scripted_lab):
    pytest.importorskip("ipywidgets")
    from gptoss_lab.widgets import Playground

    lab, _ = scripted_lab(ENDLESS)
    pg: Any = Playground(lab, prompt="What is 4158 + 57?", temperature=0)
    assert pg.max_tokens.value == "" and pg.max_tokens.placeholder == "auto: 512 at medium"
    pg.effort.value = "high"
    assert pg.max_tokens.placeholder == "auto: 1280 at high"
    pg.compare.value = True
    assert pg.max_tokens.placeholder == "auto: 256 / 512 / 1280"
    pg.compare.value = False
    pg.max_tokens.value = "30"
    pg.start()
    reply = pg.join(120)
    assert pg.error == "" and reply.max_new_tokens == 30 and reply.stopped_while_reasoning
    words = "stopped at 30 tokens while still reasoning (no answer yet): set max tokens to 120 and Generate again"
    assert words in pg.panels[0].stats.value
    pg.max_tokens.value = "lots"
    assert pg.start() is False and "max tokens must be a whole number such as 2048, got 'lots'" in pg.error
