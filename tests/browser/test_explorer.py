"""The Explorer in JupyterLab: the token strip wraps inside its box and the attention plot is readable."""

from __future__ import annotations

import pytest

from .notebook_page import errors_of, write_notebook

pytestmark = pytest.mark.browser

_ASK = """from gptoss_lab import Lab
lab = Lab()
r = lab.ask("Please add 4,158 and 57 for me, I need it for class.", effort="high", max_new_tokens=260)
len(r.prompt_ids) + len(r.completion_ids)"""

# The strip: no token past its right edge; the plots: the painted area of each, in px.
_GEOMETRY_JS = """() => {
  const strip = document.querySelector('.gptoss-token-strip');
  const plots = [...document.querySelectorAll('.gptoss-explorer .js-plotly-plot')].map(p => {
    const drag = p.querySelector('.nsewdrag');
    const box = drag ? drag.getBoundingClientRect() : {height: 0, width: 0};
    return {height: box.height, width: box.width, title: (p.querySelector('.gtitle') || {}).textContent || ''};
  });
  return {scrollWidth: strip.scrollWidth, clientWidth: strip.clientWidth, tokens: strip.children.length, plots};
}"""


def test_explorer_strip_wraps_and_attention_is_tall_enough(notebook):
    page = notebook.page
    page.set_viewport_size({"width": 1280, "height": 1000})
    write_notebook(notebook.server.root / "explorer.ipynb", [_ASK, "r.explore()"])
    notebook.open("explorer.ipynb")
    notebook.run_all(timeout_s=240)
    saved = notebook.save()
    assert errors_of(saved) == []
    explorer = notebook.cell(1).locator(".gptoss-explorer")
    explorer.locator(".js-plotly-plot .nsewdrag").nth(1).wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    notebook.shots.take(explorer, "explorer")
    geometry = page.evaluate(_GEOMETRY_JS)
    assert geometry["tokens"] > 150, geometry
    assert geometry["scrollWidth"] <= geometry["clientWidth"] + 1, geometry  # wrapped, nothing cut off
    titles = [p["title"] for p in geometry["plots"]]
    attention = next(p for p in geometry["plots"] if p["title"].startswith("What token"))
    assert attention["height"] >= 150, (attention, titles)  # every head a readable row
