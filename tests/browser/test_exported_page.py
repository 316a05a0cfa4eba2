"""A notebook exported by ``gptoss-lab export-notebooks``, opened from disk in Chromium: the page asks nothing
of the network, every figure draws at a readable size, and the reply reads as in JupyterLab (the reasoning
collapsed under its label, opened by a click, the answer below it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .notebook_page import Screenshots, write_notebook

pytestmark = pytest.mark.browser

CELLS = [
    "%load_ext gptoss_lab",
    "%%gptoss --effort high --max-tokens 200 --seed 0 --out reply\nWhat is 17 + 25?",
    "reply.trace.routing_map()",
    "reply.trace.expert_load()",
]

# Per figure: whether plotly drew it (its SVG is there) and the drawn height in px.
_FIGURES_JS = """() => [...document.querySelectorAll('.plotly-graph-div')].map(d => ({
  drawn: d.querySelectorAll('.main-svg').length > 0, height: d.getBoundingClientRect().height }))"""


@pytest.fixture(scope="module")
def exported_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("nbconvert")
    from gptoss_lab.export import export

    folder = tmp_path_factory.mktemp("exported")
    write_notebook(folder / "shared.ipynb", CELLS)
    (done,) = export([folder / "shared.ipynb"], folder / "html")
    assert done.figures == 2
    return done.html


def test_exported_page_shows_the_reply_and_every_figure_offline(browser, screenshots_folder, exported_page, request):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    shots = Screenshots(screenshots_folder, request.node.name)
    try:
        page.goto(exported_page.as_uri())
        page.locator(".plotly-graph-div .main-svg").last.wait_for(state="attached", timeout=30_000)
        page.wait_for_timeout(500)
        shots.take(page, "top")
        assert asked == [exported_page.as_uri()]  # the page itself, and nothing else

        figures = page.evaluate(_FIGURES_JS)
        assert len(figures) == 2
        assert all(f["drawn"] and f["height"] >= 300 for f in figures), figures

        reply = page.locator(".gptoss-reply")
        reasoning = reply.locator(".gptoss-reasoning-text")
        assert reply.locator("summary").inner_text().startswith("Thought for ")
        assert not reasoning.is_visible()  # collapsed, as the finished reply is in JupyterLab
        assert reply.locator(".gptoss-answer").inner_text().strip()
        reply.locator("summary").click()
        assert reasoning.is_visible() and reasoning.inner_text().strip()
        assert float(reply.locator(".gptoss-answer").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 14
        shots.take(reply, "reply-opened")
        page.locator(".plotly-graph-div").nth(1).scroll_into_view_if_needed()
        shots.take(page.locator(".plotly-graph-div").nth(1), "expert-load")
        assert asked == [exported_page.as_uri()]
    finally:
        context.close()
