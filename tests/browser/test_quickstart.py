"""notebooks/01_quickstart.ipynb in JupyterLab: Run All Cells, then look at what a student sees."""

from __future__ import annotations

import pytest

from .notebook_page import errors_of, unexecuted

pytestmark = pytest.mark.browser

# The reasoning stays in its collapsible block: the answer is never inside it.
_REPLY_PARTS_JS = """() => [...document.querySelectorAll('.gptoss-reply')].map(r => ({
  reasoning: (r.querySelector('details.gptoss-reasoning .gptoss-reasoning-text') || {}).textContent || '',
  open: !!r.querySelector('details.gptoss-reasoning[open]'),
  answer: (r.querySelector(':scope > .gptoss-answer') || {}).textContent || '',
  answerInsideReasoning: !!r.querySelector('details .gptoss-answer'),
  stats: (r.querySelector('.gptoss-stats') || {}).textContent || '',
}))"""

# A figure that really drew: plotly's svg with a size, a title, and the heatmap painted as an image.
_PLOTLY_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(p => {
  const svg = p.querySelector('svg.main-svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {width: box.width, height: box.height, title: (p.querySelector('.gtitle') || {}).textContent || '',
          painted: p.querySelectorAll('.hm image, .heatmaplayer image').length};
})"""


def test_quickstart_runs_and_shows_reasoning_answer_and_figure(notebook):
    page = notebook.page
    notebook.open("01_quickstart.ipynb")
    notebook.shots.take(page, "opened")
    notebook.run_all()
    saved = notebook.save()

    assert errors_of(saved) == [], "the notebook raised in the browser"
    assert unexecuted(saved) == [], "Run All Cells stopped before these code cells"

    replies = page.evaluate(_REPLY_PARTS_JS)
    assert len(replies) >= 3, f"expected the three %%gptoss replies, found {len(replies)}"
    for reply in replies:
        assert reply["reasoning"].strip(), reply
        assert reply["answer"].strip(), reply
        assert not reply["answerInsideReasoning"], reply
        assert not reply["open"], "a finished reply's reasoning should be collapsed"
        assert "finished" in reply["stats"] or "token limit" in reply["stats"], reply
    first = page.locator(".jp-CodeCell", has=page.locator(".gptoss-reply")).first
    notebook.shots.take(first, "reply-reasoning-collapsed")

    # a student clicks the "Thought for ..." summary and reads the reasoning
    first.locator("details.gptoss-reasoning summary").click()
    reasoning_text = first.locator(".gptoss-reasoning-text")
    assert reasoning_text.is_visible()
    assert reasoning_text.inner_text().strip() == replies[0]["reasoning"].strip()
    notebook.shots.take(first, "reply-reasoning-open")

    plot = page.locator(".js-plotly-plot")
    if plot.count():  # plotly.js loads lazily and draws once its output is on screen
        plot.last.scroll_into_view_if_needed()
        page.locator(".js-plotly-plot svg.main-svg").last.wait_for(timeout=30_000)
    figures = page.evaluate(_PLOTLY_JS)
    assert figures, "no Plotly figure in the page: is plotly's JupyterLab extension (jupyterlab-plotly) installed?"
    figure = figures[-1]
    assert figure["width"] > 200 and figure["height"] > 100, figure
    assert "expert" in figure["title"], figure
    assert figure["painted"] > 0, f"the routing heatmap was not painted: {figure}"
    notebook.shots.take(page.locator(".js-plotly-plot").last, "routing-map")

    assert_widgets_rendered(page, saved)


def assert_widgets_rendered(page, saved) -> None:
    """Every widget output of the saved notebook drew as a widget (ipywidgets' front end is installed)."""
    mime = "application/vnd.jupyter.widget-view+json"
    expected = sum(mime in out.get("data", {}) for cell in saved.cells for out in cell.get("outputs", []))
    drawn = page.locator(".jp-OutputArea-output > .jupyter-widgets").count()
    body = page.locator(".jp-Notebook").inner_text()
    assert "Error displaying widget" not in body
    assert drawn == expected, f"{expected} widget outputs, {drawn} drawn: is jupyterlab_widgets installed?"
