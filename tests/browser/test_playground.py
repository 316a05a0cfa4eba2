"""The Playground widget in JupyterLab: Generate streams the reasoning in, Stop ends it, the partial reply stays."""

from __future__ import annotations

import pytest

from .notebook_page import ENTRIES_JS, SCRIPTS_SINCE_JS, errors_of, write_notebook

pytestmark = pytest.mark.browser

_SETUP = """import time
from gptoss_lab import Lab, Playground

lab = Lab()  # the bundled nano
# nano writes a whole reply in about a second on a free CPU; 0.1 s a token keeps it streaming long enough
# to watch the reasoning grow and press Stop, as a student would while a big model thinks
lab.handle.load().model.register_forward_pre_hook(lambda module, args: time.sleep(0.1))
pg = Playground(lab, effort="high", max_tokens=1900)  # within nano's 2,048-token context
pg"""

# The reasoning panel's text without its label ("Thinking… 12 tokens").
_REASONING_JS = """() => {
  const panel = document.querySelector('.gptoss-playground .gptoss-reasoning .widget-html-content > div');
  if (!panel) return '';
  const label = panel.querySelector('span');
  return panel.textContent.slice(label ? label.textContent.length : 0);
}"""


def test_playground_generate_then_stop_keeps_the_partial_reply(notebook):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # the fixture checked it is installed

    page = notebook.page
    write_notebook(notebook.server.root / "playground.ipynb", ["print('a first output')", _SETUP])
    notebook.open("playground.ipynb")
    notebook.cell(0).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    notebook.wait_idle(60)
    before = page.evaluate(ENTRIES_JS)  # what the page fetches from here on is the Playground's doing
    page.keyboard.press("Shift+Enter")
    notebook.wait_idle(150)
    assert errors_of(notebook.save()) == []
    playground = page.locator(".jp-OutputArea-output .gptoss-playground.jupyter-widgets")
    playground.wait_for(timeout=30_000)  # ipywidgets' front end drew the widget
    page.wait_for_timeout(1_000)  # a typeset label would start loading MathJax by now
    fetched = page.evaluate(SCRIPTS_SINCE_JS, before)
    # the widget manager's scripts only, not JupyterLab's MathJax (16 scripts), which a control's description
    # loads on a page's first widget: its labels are HTML widgets and toggle buttons (widgets/_common.labelled)
    assert [name for name, *_ in fetched if name.startswith("jupyterlab ")] == [], fetched
    labels = playground.locator(".widget-html-content").all_inner_texts()
    assert {"effort", "temperature", "max tokens", "seed"} <= {t.strip() for t in labels}, labels
    generate, stop = playground.locator("button.gptoss-generate"), playground.locator("button.gptoss-stop")
    assert generate.is_enabled() and stop.is_disabled()
    notebook.shots.take(playground, "playground")

    playground.locator(".gptoss-prompt textarea").fill("What is 347 + 589?")
    generate.click()
    try:
        page.wait_for_function(f"() => ({_REASONING_JS})().trim().length > 10", timeout=60_000, polling=100)
    except PlaywrightTimeout:
        pytest.fail(f"no reasoning streamed in within 60 s; the panels say: {_panels(playground)!r}")
    assert stop.is_enabled(), "Stop should be clickable while the reply streams"
    notebook.shots.take(playground, "streaming")
    stop.click()

    stats = playground.locator(".gptoss-stats")
    try:
        stats.filter(has_text="interrupted").wait_for(timeout=30_000)
    except PlaywrightTimeout:
        pytest.fail(f"Stop did not end the reply within 30 s; the panels say: {_panels(playground)!r}")
    assert "partial reply kept" in stats.inner_text()
    page.wait_for_function(
        "() => !document.querySelector('.gptoss-playground button.gptoss-generate').disabled", timeout=10_000
    )
    assert stop.is_disabled()
    reasoning = page.evaluate(_REASONING_JS).strip()
    shown = _panels(playground)
    assert reasoning, "the partial reasoning should stay on screen"
    page.wait_for_timeout(1_500)  # at 0.1 s a token, a reply still running would add ~15 tokens meanwhile
    assert page.evaluate(_REASONING_JS).strip() == reasoning
    assert _panels(playground) == shown, "the reply kept changing after Stop"
    assert "finished" not in shown
    notebook.shots.take(playground, "stopped")
    notebook.theme("JupyterLab Dark")  # the switches and labels take the theme's colours
    colours = page.evaluate(
        """() => [...document.querySelectorAll('.gptoss-switch')].map((b) => getComputedStyle(b).color)"""
    )
    notebook.shots.take(playground, "stopped-dark")
    notebook.theme("JupyterLab Light")
    assert colours and all(c != "rgb(0, 0, 0)" for c in colours), colours  # not dark ink on a dark page


def _panels(playground) -> str:
    return playground.locator(".gptoss-columns").inner_text()


_CONVERSATION = """from gptoss_lab import Lab, Playground

pg = Playground(Lab(), effort="low")  # the bundled nano at full speed
pg"""
_CROWDED = """crowded = Lab()  # a conversation of about 1,800 tokens, most of nano's 2,048
crowded.history += [{"role": "user", "content": "Add 12 and 30. " * 185}, {"role": "assistant", "content": "42"}]
near = Playground(crowded, prompt="And 5 + 5?", effort="high")
near.follow_up.value = True
near"""


# Each text box's placeholder: its text's width in the box's own font, and the room inside the box's padding.
_PLACEHOLDER_FIT_JS = """(inputs) => inputs.filter((el) => el.placeholder).map((el) => {
  const style = getComputedStyle(el);
  const context = document.createElement('canvas').getContext('2d');
  context.font = style.font;
  const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return {placeholder: el.placeholder, text: context.measureText(el.placeholder).width, room};
})"""


def test_playground_ctrl_enter_follow_up_new_conversation_and_compare(notebook):
    """Ctrl+Enter generates (and does not run the cell); following up shows the conversation collapsed with
    its turns and tokens; New conversation clears it; Compare says what it answers from; a crowded
    conversation warns. Two Playgrounds on one page: a key press answers only in its own."""
    page = notebook.page
    write_notebook(notebook.server.root / "conversation.ipynb", [_CONVERSATION, _CROWDED])
    notebook.open("conversation.ipynb")
    notebook.run_all()
    assert errors_of(notebook.save()) == []
    playgrounds = page.locator(".jp-OutputArea-output .gptoss-playground.jupyter-widgets")
    playgrounds.nth(1).wait_for(timeout=30_000)
    pg, near = playgrounds.nth(0), playgrounds.nth(1)
    ran_as = notebook.cell(0).locator(".jp-InputPrompt").inner_text()
    box = pg.locator(".gptoss-prompt textarea")
    assert "Ctrl+Enter generates" in (box.get_attribute("placeholder") or "")

    follow_up = pg.locator(".gptoss-switch", has_text="follow up")
    follow_up.click()  # on
    summary = pg.locator(".gptoss-conversation summary")
    summary.filter(has_text="no earlier turns").wait_for(timeout=10_000)
    box.fill("What is 17 + 25?")
    box.press("Control+Enter")
    summary.filter(has_text="1 earlier turn ·").wait_for(timeout=60_000)
    text = summary.inner_text()
    assert "tokens of the 2,048 tokens gpt-oss-nano reads" in text, text
    assert pg.locator(".gptoss-conversation details").get_attribute("open") is None  # collapsed
    assert pg.locator(".gptoss-answer").inner_text().strip(), "the reply should be on screen"
    assert notebook.cell(0).locator(".jp-InputPrompt").inner_text() == ran_as  # the key did not re-run the cell
    assert near.locator(".gptoss-stats").inner_text().strip() == ""  # nor generate in the other Playground
    notebook.shots.take(pg, "ctrl-enter-follow-up")

    box.fill("And what is 17 + 26?")
    box.press("Control+Enter")
    summary.filter(has_text="2 earlier turns").wait_for(timeout=60_000)
    summary.click()  # unfold the earlier turns
    turns = pg.locator(".gptoss-conversation details")
    assert turns.get_attribute("open") is not None
    shown = turns.inner_text()
    assert shown.count("you:") == 2 and "What is 17 + 25?" in shown and "And what is 17 + 26?" in shown, shown
    notebook.shots.take(pg, "conversation-unfolded")

    pg.locator("button.gptoss-new-conversation").click()
    summary.filter(has_text="no earlier turns").wait_for(timeout=10_000)
    assert "no earlier turns yet" in follow_up.inner_text()
    assert pg.locator(".gptoss-answer").inner_text().strip() == "answer (final channel)"  # panels afresh
    notebook.shots.take(pg, "new-conversation")

    follow_up.click()  # off
    pg.locator(".gptoss-switch", has_text="compare efforts").click()
    state = pg.locator(".gptoss-compare-state")
    state.filter(has_text="Each effort answers as a new conversation").wait_for(timeout=10_000)
    pg.locator("button.gptoss-generate").click()
    page.wait_for_function(
        "() => document.querySelectorAll('.gptoss-playground')[0].querySelectorAll('.gptoss-stats').length === 3"
        " && [...document.querySelectorAll('.gptoss-playground')[0].querySelectorAll('.gptoss-stats')]"
        ".every(s => /reasoning tokens/.test(s.textContent))"
        " && !document.querySelector('.gptoss-playground button.gptoss-generate').disabled",
        timeout=120_000,
        polling=250,
    )
    assert "the comparison is not added to the conversation" in state.inner_text()
    # the max tokens box shows its whole placeholder (the limits of the three efforts), not a cut-off line
    fit = pg.locator("input").evaluate_all(_PLACEHOLDER_FIT_JS)
    limits = next(f for f in fit if f["placeholder"].startswith("auto: "))
    assert limits["placeholder"] == "auto: 256 / 512 / 1280" and limits["text"] <= limits["room"], fit
    notebook.shots.take(pg, "compare-from-a-new-conversation")

    warning = near.locator(".gptoss-context-warning")
    assert "of the 2,048 tokens gpt-oss-nano reads: a reply has" in warning.inner_text()
    assert "Click New conversation to start afresh." in warning.inner_text()
    notebook.shots.take(near, "near-the-context")
