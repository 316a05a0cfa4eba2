"""The toolkit's figures in JupyterLab: no Plotly logo or "Share chart" button, every expert on its axis,
and the routing map's channel key a caption (not a legend that does nothing when clicked)."""

from __future__ import annotations

import pytest

from .notebook_page import errors_of, write_notebook

pytestmark = pytest.mark.browser

# A synthetic trace of 8 experts (no model): 40 tokens, system, user, analysis, final.
_TRACE = """import numpy as np
from gptoss_lab.trace import Trace

rng = np.random.default_rng(0)
T, L, E, k = 40, 4, 8, 2
logits = rng.normal(size=(T, L, E)).astype(np.float32)
top = np.argsort(-logits, axis=-1)[..., :k]
w = np.exp(np.take_along_axis(logits, top, -1))
trace = Trace(
    token_ids=np.arange(T),
    token_strings=[f" t{i}" for i in range(T)],
    sources=["system"] * 3 + ["user"] * 7 + ["analysis"] * 15 + ["final"] * 15,
    n_prompt=10,
    routing_logits=logits.astype(np.float16),
    topk_experts=top.astype(np.int16),
    topk_weights=(w / w.sum(-1, keepdims=True)).astype(np.float32),
    layer_types=["sliding_attention", "full_attention"] * 2,
)"""

# The Explorer's figures (panes), on the same trace (no model: attention says so; routing is drawn).
_EXPLORER = """from types import SimpleNamespace
from gptoss_lab.widgets import Explorer

Explorer(SimpleNamespace(trace=trace, model="synthetic", effort="low"))"""

# The control: a plain plotly figure shows the logo and the share button here, so the check can fail.
_CONTROL = """import plotly.graph_objects as go

go.Figure(go.Heatmap(z=[[1, 2], [3, 4]]))"""

# Per figure of a cell: its modebar's buttons, its x tick labels per subplot, its annotations, any legend.
_FIGURES_JS = """(cell) => [...cell.querySelectorAll('.js-plotly-plot')].map(p => ({
  buttons: [...p.querySelectorAll('.modebar-btn')].map(b => b.dataset.title || ''),
  logo: p.querySelectorAll('.modebar-btn--logo').length,
  xticks: [...p.querySelectorAll('.subplot')].map(s =>
    [...s.querySelectorAll('.xaxislayer-above text')].map(t => t.textContent)),
  annotations: [...p.querySelectorAll('.annotation-text')].map(a => a.textContent),
  legend: p.querySelectorAll('.legend').length,
}))"""


def _figures(notebook, index: int, count: int) -> list[dict]:
    """The figures of code cell ``index`` once plotly drew ``count`` of them (it draws what is on screen)."""
    cell = notebook.cell(index)
    cell.scroll_into_view_if_needed()
    cell.locator(".js-plotly-plot .modebar").nth(count - 1).wait_for(state="attached", timeout=60_000)
    cell.locator(".js-plotly-plot").first.hover()  # the modebar shows on hover: for the screenshot
    return cell.evaluate(_FIGURES_JS)


def test_figures_show_no_plotly_logo_or_share_button_and_label_every_expert(notebook):
    cells = [_TRACE, "trace.routing_map()", "trace.expert_load()", _EXPLORER, _CONTROL]
    write_notebook(notebook.server.root / "figures.ipynb", cells)
    notebook.open("figures.ipynb")
    notebook.run_all(timeout_s=180)
    assert errors_of(notebook.save()) == []

    control = _figures(notebook, 4, 1)[0]
    assert control["logo"] == 1 and "Share chart..." in control["buttons"], control  # plotly's defaults here

    (routing,) = _figures(notebook, 1, 1)
    notebook.shots.take(notebook.cell(1), "routing-map")
    (load,) = _figures(notebook, 2, 1)
    notebook.shots.take(notebook.cell(2), "expert-load")
    explorer = _figures(notebook, 3, 2)
    notebook.shots.take(notebook.cell(3).locator(".js-plotly-plot").first, "explorer-token-path")
    for figure in [routing, load, *explorer]:
        assert figure["buttons"], figure  # the modebar is there, with its other buttons
        assert figure["logo"] == 0 and not any("Share" in b or "Plotly" in b for b in figure["buttons"]), figure

    every_expert = [str(e) for e in range(8)]
    assert load["xticks"] == [every_expert] * 3, load["xticks"]  # prompt, analysis, final: 0..7 each
    key = next(a for a in routing["annotations"] if "token source" in a)
    assert key == "ribbon above the map, by token source: ■ system, ■ user, ■ analysis, ■ final", key
    assert routing["legend"] == 0  # nothing in the figure looks like a legend to click


# A figure's colours in the page: its paper (opaque: the colour it was drawn on), the page colour behind it
# (the first opaque ancestor), the least contrast of its text against its paper, and which way its ink goes.
_THEMED_JS = """(cell) => {
  const rgba = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const linear = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => [r, g, b].map(linear).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const plot = cell.querySelector('.js-plotly-plot');
  let page = [255, 255, 255];
  for (let el = plot.parentElement; el; el = el.parentElement) {
    const c = rgba(getComputedStyle(el).backgroundColor);
    if (c.length >= 3 && (c.length < 4 || c[3] > 0)) { page = c.slice(0, 3); break; }
  }
  const paper = rgba(getComputedStyle(plot.querySelector('.main-svg')).backgroundColor);
  const behind = paper.length >= 4 && paper[3] === 0 ? page : paper.slice(0, 3);
  const texts = [...plot.querySelectorAll('.xtick text, .ytick text, .gtitle, .g-xtitle text, .g-ytitle text')];
  const ratio = t => {
    const [a, b] = [lum(rgba(getComputedStyle(t).fill)), lum(behind)].sort((x, y) => y - x);
    return (a + 0.05) / (b + 0.05);
  };
  return {
    paper: paper.slice(0, 3), page, n: texts.length, least: Math.min(...texts.map(ratio)),
    inkLighter: lum(rgba(getComputedStyle(texts[0]).fill)) > lum(behind),
  };
}"""


def test_figures_take_the_theme_chosen_in_jupyterlab(notebook):
    """Drawn in Dark: on Dark's page colour with light ink; kept when the theme goes Light (a dark card that
    still reads); drawn again in Light: on white with dark ink. Text at WCAG AA (4.5:1) on its paper each time."""
    write_notebook(notebook.server.root / "themed.ipynb", [_TRACE, "trace.expert_load(height=360)"])
    notebook.open("themed.ipynb")
    figure = notebook.cell(1)

    def look(name: str) -> dict:
        figure.locator(".js-plotly-plot .xtick").first.wait_for(state="attached", timeout=60_000)
        figure.scroll_into_view_if_needed()
        notebook.shots.take(figure, name)
        return figure.evaluate(_THEMED_JS)

    try:
        notebook.theme("JupyterLab Dark")
        notebook.run_all(timeout_s=120)
        dark = look("figure-dark")
        notebook.theme("JupyterLab Light")
        kept = look("figure-drawn-dark-shown-light")
        notebook.run_all(timeout_s=120)  # drawn again: a figure takes the theme it is made in
        light = look("figure-light")
    finally:
        notebook.theme("JupyterLab Light")
    assert dark["page"] == dark["paper"] == [17, 17, 17] and dark["inkLighter"], dark  # blends into Dark's page
    assert light["page"] == light["paper"] == [255, 255, 255] and not light["inkLighter"], light
    assert kept["page"] == [255, 255, 255] and kept["paper"] == [17, 17, 17], kept  # a dark card on the light page
    for got in (dark, kept, light):
        assert got["n"] >= 10 and got["least"] >= 4.5, got
