"""The Playground widget in JupyterLab: Generate streams the reasoning in, Stop ends it, the partial reply stays."""

from __future__ import annotations

import pytest

from .notebook_page import errors_of, write_notebook

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
    write_notebook(notebook.server.root / "playground.ipynb", [_SETUP])
    notebook.open("playground.ipynb")
    notebook.run_all()
    assert errors_of(notebook.save()) == []
    playground = page.locator(".jp-OutputArea-output .gptoss-playground.jupyter-widgets")
    playground.wait_for(timeout=30_000)  # ipywidgets' front end drew the widget
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


def _panels(playground) -> str:
    return playground.locator(".gptoss-columns").inner_text()
