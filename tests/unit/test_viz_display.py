"""What a reader sees of every figure, asserted on what the notebook receives: Plotly's chrome without
its logo or share button, every expert labelled, keys that say what they explain, model text shown."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("plotly")

import plotly.io as pio
from IPython.utils.capture import capture_output

from gptoss_lab import viz
from gptoss_lab.viz._common import SOURCE_COLORS, integer_ticks
from tests.unit.test_magics import shell as ipython_shell
from tests.unit.test_viz_attention import make_trace as make_attention_trace
from tests.unit.test_viz_attention import make_weights
from tests.unit.test_viz_routing import make_trace

shell = ipython_shell

_MIME = "application/vnd.plotly.v1+json"

FIGURES = {
    "routing_map": lambda: viz.routing_map(make_trace()),
    "expert_load": lambda: viz.expert_load(make_trace()),
    "coactivation": lambda: viz.coactivation(make_trace(), 1),
    "routing_stats": lambda: viz.routing_stats(make_trace()),
    "token_path": lambda: viz.token_path(make_trace(), 3),
    "attention_map": lambda: viz.attention_map(make_weights(window=8)),
    "head_view": lambda: viz.head_view(make_weights(), 20),
    "sink_grid": lambda: viz.sink_grid(make_attention_trace()),
    "sink_profile": lambda: viz.sink_profile(make_attention_trace()),
}


def shown_in_a_notebook(shell: Any, fig: Any) -> dict[str, Any]:
    """The Plotly output a notebook gets for a cell that ends in ``fig``."""
    shell.user_ns["fig"] = fig
    with capture_output() as captured:
        shell.run_cell("fig")
    bundles = [out.data for out in captured.outputs if _MIME in out.data]
    assert len(bundles) == 1, [list(out.data) for out in captured.outputs]
    return bundles[0][_MIME]


# -- Plotly's logo and share button


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_shows_without_the_logo_or_the_share_button(name, shell, monkeypatch):
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")  # JupyterLab's renderer
    fig = FIGURES[name]()
    shown = shown_in_a_notebook(shell, fig)
    assert shown["config"]["displaylogo"] is False
    assert shown["config"]["showSendToCloud"] is False
    assert "sendChartToCloud" in shown["layout"]["modebar"]["remove"]  # also in any copy of the figure's JSON
    assert fig._repr_mimebundle_()[_MIME]["config"]["displaylogo"] is False  # a display without IPython's hook


@pytest.mark.parametrize("name", ["routing_map", "head_view"])
def test_a_widget_pane_gets_the_figure_as_a_notebook_does(name, shell, monkeypatch):
    """The Explorer's panes show ``mime_bundle``: the same Plotly JSON a cell's figure gives the notebook."""
    from gptoss_lab.viz._figure import mime_bundle

    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    fig = FIGURES[name]()
    assert mime_bundle(fig)[_MIME] == shown_in_a_notebook(shell, fig)


def test_a_plain_plotly_figure_would_show_them(shell, monkeypatch):
    """The control: what plotly shows by default, so the test above can fail."""
    import plotly.graph_objects as go

    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    shown = shown_in_a_notebook(shell, go.Figure(go.Heatmap(z=[[1]])))
    assert "displaylogo" not in shown.get("config", {})
    assert "modebar" not in shown["layout"]


def test_exported_html_keeps_the_config_and_a_callers_own_config_adds_to_it(tmp_path):
    fig = FIGURES["routing_map"]()
    assert '"displaylogo": false' in fig.to_html(include_plotlyjs=False)
    html = fig.to_html(include_plotlyjs=False, config={"scrollZoom": True})
    assert '"displaylogo": false' in html and '"scrollZoom": true' in html
    fig.write_html(tmp_path / "fig.html", include_plotlyjs=False)
    assert '"showSendToCloud": false' in (tmp_path / "fig.html").read_text()


def test_a_figure_survives_copies_as_the_toolkits_figure(monkeypatch):
    import copy
    import pickle

    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")  # JupyterLab's, whatever ran before
    fig = FIGURES["token_path"]()
    for again in (copy.deepcopy(fig), pickle.loads(pickle.dumps(fig))):
        assert type(again) is type(fig)
        assert again._repr_mimebundle_()[_MIME]["config"]["displaylogo"] is False


# -- every expert labelled, whole numbers only


def _ticks(axis: Any) -> tuple[list[Any], list[str]]:
    assert axis.tickmode == "array", axis.tickmode
    return list(axis.tickvals), list(axis.ticktext)


EVERY_EXPERT = (list(range(8)), [str(e) for e in range(8)])


def test_expert_axes_label_each_of_8_experts():
    trace = make_trace(E=8)
    load = viz.expert_load(trace)
    assert "(%{customdata:.2f}× uniform)" in load.data[0].hovertemplate  # 1.87×, not 1.8700000047683716×
    panels = [load.layout[f"xaxis{i if i > 1 else ''}"] for i in range(1, len(load.data) + 1)]
    assert len(panels) == 3 and all(_ticks(axis) == EVERY_EXPERT for axis in panels)
    together = viz.coactivation(trace, 1)
    assert _ticks(together.layout.xaxis) == _ticks(together.layout.yaxis) == EVERY_EXPERT
    assert _ticks(viz.token_path(trace, 3).layout.yaxis) == EVERY_EXPERT
    assert _ticks(viz.routing_map(trace).data[0].colorbar) == EVERY_EXPERT


def test_many_experts_are_labelled_at_a_regular_step():
    assert integer_ticks(32)["tickvals"] == list(range(32))
    assert integer_ticks(32, 16)["tickvals"] == list(range(0, 32, 2))
    assert integer_ticks(128)["tickvals"] == list(range(0, 128, 4))
    assert integer_ticks(128)["ticktext"][:3] == ["0", "4", "8"]
    trace = make_trace(T=20, E=32, k=4)
    assert _ticks(viz.coactivation(trace, 0).layout.xaxis)[0] == list(range(0, 32, 2))
    assert _ticks(viz.expert_load(trace).layout.xaxis)[0] == list(range(0, 32, 4))  # three panels side by side


def test_a_short_trace_has_a_tick_per_token_and_no_half_tokens():
    trace = make_trace(T=6, n_prompt=2)
    sinks = make_attention_trace(T=6, n_prompt=2)
    for fig in (viz.routing_map(trace), viz.routing_stats(trace), viz.sink_profile(sinks)):
        assert _ticks(fig.layout.xaxis) == (list(range(6)), ["0", "1", "2", "3", "4", "5"])
    assert viz.routing_map(make_trace(T=200)).layout.xaxis.tickmode == "auto"  # plotly's whole-number steps


# -- keys that are captions, not legends


def test_the_channel_key_above_the_routing_map_says_what_it_explains():
    fig = viz.routing_map(make_trace())
    (key,) = [a for a in fig.layout.annotations if a.name == "key"]
    assert key.text.startswith("ribbon above the map, by token source: ")
    words = [part.split("</span> ")[-1] for part in key.text.split(": ", 1)[1].split(", ")]
    assert words == ["system", "user", "analysis", "final"]
    assert key.font.size == 11 and key.showarrow is False
    assert not {d.name for d in fig.data} & set(SOURCE_COLORS)  # nothing a legend would offer to toggle
    assert not any(d.showlegend for d in fig.data)


@pytest.mark.parametrize(
    ("name", "lead"),
    [
        ("attention_map", "strips above and right, by token source: "),
        ("head_view", "strip above the map, by token source: "),
    ],
)
def test_the_attention_keys_say_what_they_explain(name, lead):
    fig = FIGURES[name]()
    assert [a.text.startswith(lead) for a in fig.layout.annotations if a.name == "key"] == [True]


def test_the_shading_keys_in_subtitles_say_what_they_explain():
    assert "shading in the top panel, by token group: " in FIGURES["routing_stats"]().layout.title.text
    assert "shading, by token source: " in FIGURES["sink_profile"]().layout.title.text
    heat = viz.sink_profile(make_attention_trace(), kind="heatmap")
    assert "strip above the map, by token source: " in heat.layout.title.text


# -- model text in tooltips and titles


def test_bidi_controls_in_tokens_show_as_escapes_in_tooltips():
    trace = make_trace()
    trace.token_strings[3] = "a\u202eb"
    labels = np.asarray(viz.routing_map(trace).data[0].text)
    assert "\u202e" not in labels[0][3] and "\\u202e" in labels[0][3]
    assert "\u202e" not in viz.token_path(trace, 3).layout.title.text
