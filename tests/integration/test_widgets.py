"""Playground and Explorer driven from Python: the scripted fake model for exact behaviour, nano for real."""

from __future__ import annotations

import html
import sys
import threading
from typing import Any

import pytest

pytest.importorskip("ipywidgets")

COMPLETION = "<|channel|>analysis<|message|>Add 2 and 2.<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>"
PAYLOAD = (
    '<|channel|>analysis<|message|><script>alert(1)</script> & "q"<|end|>'
    "<|start|>assistant<|channel|>final<|message|><img src=x onerror=alert(2)><|return|>"
)
WAIT = 120  # seconds: a ceiling for a stuck thread, never a measurement


def gate(fake: Any, at: int) -> tuple[threading.Event, threading.Event]:
    """Make the fake model's forward call number ``at`` (0 = the prompt) signal ``reached`` and wait for ``release``."""
    reached, release = threading.Event(), threading.Event()
    forward = fake.forward

    def gated(*args: Any, **kwargs: Any) -> Any:
        if len(fake.calls) == at:
            reached.set()
            assert release.wait(WAIT), "the test never released the model"
        return forward(*args, **kwargs)

    fake.forward = gated
    return reached, release


def playground(lab: Any, **kwargs: Any) -> Any:
    from gptoss_lab.widgets import Playground

    return Playground(lab, temperature=0, **{"prompt": "What is 2+2?", **kwargs})


# -- Playground


def test_generate_fills_reasoning_and_answer_panels_apart(scripted_lab):
    lab, _ = scripted_lab(COMPLETION)
    pg = playground(lab)
    assert pg.stop_button.disabled and not pg.generate_button.disabled
    pg.generate_button.click()
    reply = pg.join(WAIT)
    assert not pg.running and pg.error == ""
    assert reply.reasoning == "Add 2 and 2." and reply.answer == "4"
    panel = pg.panels[0]
    assert "Add 2 and 2." in panel.reasoning.value and "Add 2 and 2." not in panel.answer.value
    assert panel.answer.value.endswith(">4</div>")
    assert "finished" in panel.stats.value and "effort medium" in panel.stats.value
    # kept, and appended to the conversation as Lab.ask does
    assert pg.replies == {"medium": reply} and lab.replies[-1] is reply
    assert [t["role"] for t in lab.history] == ["user", "assistant"]
    assert not pg.generate_button.disabled and pg.stop_button.disabled
    for widget, name in ((pg, "gptoss-playground"), (panel.reasoning, "gptoss-reasoning")):
        assert name in widget._dom_classes
    assert "gptoss-answer" in panel.answer._dom_classes and "gptoss-stats" in panel.stats._dom_classes
    assert (pg.generate_button.description, pg.stop_button.description) == ("Generate", "Stop")


def test_html_in_a_reply_is_escaped_in_the_panels(scripted_lab):
    lab, _ = scripted_lab(PAYLOAD)
    pg = playground(lab)
    pg.start()
    reply = pg.join(WAIT)
    assert reply.answer == "<img src=x onerror=alert(2)>"
    panel = pg.panels[0]
    shown = panel.reasoning.value + panel.answer.value + panel.stats.value
    assert "<script" not in shown and "<img" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;" in panel.reasoning.value
    assert "&lt;img src=x onerror=alert(2)&gt;" in panel.answer.value


def test_stop_ends_the_background_reply_early_and_keeps_it(scripted_lab):
    lab, fake = scripted_lab(COMPLETION)
    reached, release = gate(fake, at=6)
    pg = playground(lab)
    pg.generate_button.click()
    assert reached.wait(WAIT)
    # the model is mid-forward in the background thread; this thread is free, as the kernel is
    assert pg.running and pg.generate_button.disabled and not pg.stop_button.disabled
    pg.stop_button.click()
    release.set()
    reply = pg.join(WAIT)
    assert reply.stopped == "interrupted"
    full = lab.handle.load().encode(COMPLETION)
    assert reply.completion_ids == full[:6]  # tokens 0..5 were streamed; the one in flight is dropped
    assert "interrupted" in pg.panels[0].stats.value
    assert pg.panels[0].final_drawn and lab.replies[-1] is reply
    assert not pg.generate_button.disabled and pg.stop_button.disabled


def test_redraws_are_throttled_and_the_final_frame_is_drawn(scripted_lab):
    lab, fake = scripted_lab(COMPLETION)
    pg = playground(lab, min_interval=1e9)  # nothing passes the throttle but the first and the last frame
    pg.start()
    reply = pg.join(WAIT)
    assert len(reply.completion_ids) == len(fake.script) > 2
    assert pg.panels[0].redraws == 2
    assert pg.panels[0].answer.value.endswith(">4</div>") and "finished" in pg.panels[0].stats.value


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("prompt", "   ", "the prompt is empty"),
        ("seed", "abc", "seed must be a whole number, got 'abc'"),
        ("temperature", "hot", "temperature must be a number"),
        ("temperature", "-1", "temperature must be >= 0"),
    ],
)
def test_bad_input_is_one_line_in_the_widget(scripted_lab, field, value, words):
    lab, fake = scripted_lab(COMPLETION)
    pg = playground(lab)
    getattr(pg, field).value = value
    assert pg.start() is False
    assert words in pg.error and "\n" not in pg.error
    assert html.escape(words) in pg.status.value
    assert not pg.running and fake.calls == [] and pg.reply is None


def test_model_load_failure_is_shown_not_lost(scripted_lab, monkeypatch):
    lab, _ = scripted_lab(COMPLETION)

    def broken() -> Any:
        raise OSError("checkpoint /x is unreadable\nsecond line")

    monkeypatch.setattr(lab.handle, "load", broken)
    pg = playground(lab)
    pg.start()
    assert pg.join(WAIT) is None
    assert pg.error == "OSError: checkpoint /x is unreadable"
    assert "checkpoint /x is unreadable" in pg.status.value
    assert not pg.running and not pg.generate_button.disabled
    pg.prompt.value = "again"  # a new run clears the error line
    monkeypatch.undo()
    pg.start()
    assert pg.join(WAIT).answer == "4" and pg.error == "" and pg.status.value == ""


def test_compare_stop_skips_the_remaining_efforts(scripted_lab):
    lab, fake = scripted_lab(COMPLETION)
    reached, release = gate(fake, at=3)
    pg = playground(lab, compare=True)
    pg.start()
    assert reached.wait(WAIT)
    pg.stop()
    release.set()
    pg.join(WAIT)
    assert list(pg.replies) == ["low"] and pg.replies["low"].stopped == "interrupted"
    assert [p.title.value for p in pg.panels] == ["<b>low</b>", "<b>medium</b>", "<b>high</b>"]
    assert all("not run" in p.stats.value for p in pg.panels[1:])
    assert lab.history == [] and lab.replies == []  # a comparison is not a turn


@pytest.mark.slow
def test_compare_efforts_on_nano_grows_the_reasoning(nano_lab_factory):
    lab = nano_lab_factory()
    pg = playground(lab, prompt="What is 17 + 25?", compare=True, max_tokens=160)
    pg.start()
    pg.join(WAIT * 3)
    assert pg.error == ""
    assert list(pg.replies) == ["low", "medium", "high"] and len(pg.columns.children) == 3
    tokens = [pg.replies[e].stats.reasoning_tokens for e in ("low", "medium", "high")]
    assert tokens[0] < tokens[1] < tokens[2], tokens
    for effort, panel in zip(("low", "medium", "high"), pg.panels, strict=True):
        reply = pg.replies[effort]
        assert reply.effort == effort and reply.stopped == "return"
        assert f"{reply.stats.reasoning_tokens} reasoning tokens" in panel.stats.value
        assert f"{reply.stats.total_seconds:.1f} s" in panel.stats.value
    assert lab.history == []


def test_magic_opens_a_playground_on_its_lab():
    from IPython.core.interactiveshell import InteractiveShell

    from gptoss_lab.widgets import Playground
    from gptoss_lab.widgets._common import default_lab

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "gptoss_lab")
    pg = shell.run_line_magic("gptoss", "playground --compare --effort high")
    magics = next(c for c in shell.configurables if type(c).__name__ == "GptOssMagics")
    assert isinstance(pg, Playground) and pg.lab is magics.lab and default_lab() is magics.lab
    assert pg.compare.value and pg.effort.value == "high"


def test_missing_ipywidgets_says_what_to_install(monkeypatch):
    from gptoss_lab.widgets._common import require_widgets

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails as if not installed
    rule = r"^gptoss_lab's widgets need ipywidgets, .*: pip install 'gptoss-lab\[widgets\]'$"
    with pytest.raises(ImportError, match=rule):
        require_widgets()
