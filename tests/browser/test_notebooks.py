"""Notebooks 02-07 in JupyterLab: each runs top to bottom and every figure and widget it outputs draws.

Notebook 01 has its own, closer look (test_quickstart.py). Here a student's Run All Cells must end with
no error, every code cell run, every Plotly output drawn as an svg, and every widget output rendered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .notebook_page import errors_of, unexecuted
from .test_quickstart import assert_widgets_rendered

pytestmark = pytest.mark.browser

_NOTEBOOKS = sorted(p.name for p in (Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))
_PLOTLY_MIME = "application/vnd.plotly.v1+json"


def _plotly_outputs(saved) -> int:
    return sum(_PLOTLY_MIME in out.get("data", {}) for cell in saved.cells for out in cell.get("outputs", []))


@pytest.mark.parametrize("name", [n for n in _NOTEBOOKS if not n.startswith("01_")])
def test_notebook_runs_in_the_browser_and_its_figures_draw(notebook, name):
    page = notebook.page
    notebook.open(name)
    notebook.run_all(timeout_s=420)  # 03 evaluates 192 questions: minutes on 2 cores that are busy with more
    saved = notebook.save()
    assert errors_of(saved) == [], f"{name} raised in the browser"
    assert unexecuted(saved) == [], f"Run All Cells stopped before these code cells of {name}"

    expected = _plotly_outputs(saved)
    plots = page.locator(".js-plotly-plot")
    for i in range(plots.count()):  # plotly.js draws a figure once its output is on screen
        plots.nth(i).scroll_into_view_if_needed()
        plots.nth(i).locator("svg.main-svg").first.wait_for(timeout=30_000)
    drawn = page.locator(".js-plotly-plot svg.main-svg").evaluate_all(
        "svgs => new Set(svgs.map(s => s.closest('.js-plotly-plot'))).size"
    )
    assert drawn == expected, f"{name}: {expected} Plotly outputs, {drawn} drawn"
    if expected:
        notebook.shots.take(plots.first, "first-figure")
    assert_widgets_rendered(page, saved)
