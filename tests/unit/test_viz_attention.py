"""Attention figures: asserted on the data they carry, from synthetic traces and weights (no torch, no model)."""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("plotly")

from gptoss_lab import viz
from gptoss_lab.trace import Trace
from tests.unit.test_viz_routing import make_trace as make_routing_trace


def make_trace(T=40, L=4, H=6, n_prompt=10, seed=0, summaries=True, window=8):
    """The routing tests' synthetic Trace plus random sink mass / entropy summaries (T, L, H) float16."""
    rng = np.random.default_rng(seed)
    return dataclasses.replace(
        make_routing_trace(T=T, L=L, n_prompt=n_prompt, seed=seed),
        config={"sliding_window": window},
        sink_mass=rng.random((T, L, H)).astype(np.float16) if summaries else None,
        attention_entropy=(3 * rng.random((T, L, H))).astype(np.float16) if summaries else None,
    )


def make_weights(T=40, heads=(0, 3), window=None, queries=None, keys=None, layer=0, seed=0):
    """An AttentionWeights stand-in with exact softmax-with-sink probabilities.

    Scores are random; the sink joins the softmax as one more logit per head and is then split off:
    key weights are zero for future keys and outside the window, and each row sums to 1 - sink.
    """
    rng = np.random.default_rng(seed)
    H = len(heads)
    q = np.arange(T)[:, None]
    kk = np.arange(T)[None, :]
    allowed = kk <= q if window is None else (kk <= q) & (kk > q - window)  # (T, T)
    scores = np.where(allowed, rng.normal(size=(H, T, T)), -np.inf)  # (H, T, T)
    sink_logit = rng.normal(size=(H, 1, 1)) + 1.0
    full = np.concatenate([scores, np.broadcast_to(sink_logit, (H, T, 1))], axis=-1)  # (H, T, T + 1)
    p = np.exp(full - full.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    queries = np.arange(T) if queries is None else np.asarray(queries)
    keys = np.arange(T) if keys is None else np.asarray(keys)
    trace = make_trace(T=T)
    return SimpleNamespace(
        layer=layer,
        layer_type="full_attention" if window is None else "sliding_attention",
        window=window,
        heads=list(heads),
        queries=queries,
        keys=keys,
        weights=p[:, queries][:, :, keys].astype(np.float32),
        sink=p[:, queries, T].astype(np.float32),
        token_strings=trace.token_strings,
        sources=trace.sources,
    )


def by_name(fig, name):
    found = [d for d in fig.data if d.name is not None and d.name.startswith(name)]
    assert len(found) == 1, [d.name for d in fig.data]
    return found[0]


def shape_named(fig, name):
    found = [s for s in fig.layout.shapes if s.name == name]
    return found[0] if found else None


def path_points(path):
    return np.array([[float(a), float(b)] for a, b in re.findall(r"([-\d.e]+),([-\d.e]+)", path)])


# -- attention_map


def test_attention_map_sink_column_is_the_heads_sink_and_weights_are_exact():
    aw = make_weights(heads=(0, 3))
    fig = viz.attention_map(aw, head=3)
    sink, heat = by_name(fig, "sink"), by_name(fig, "weights")
    assert list(sink.x) == ["sink"]
    np.testing.assert_array_equal(np.asarray(sink.z)[:, 0], aw.sink[1])
    np.testing.assert_array_equal(np.asarray(heat.z), aw.weights[1])
    np.testing.assert_allclose(np.asarray(heat.z).sum(-1) + np.asarray(sink.z)[:, 0], 1, atol=1e-5)
    assert list(sink.y) == list(heat.y)  # one row per query, shared
    default = viz.attention_map(aw)  # the first head
    np.testing.assert_array_equal(np.asarray(by_name(default, "sink").z)[:, 0], aw.sink[0])
    assert "head 0" in default.layout.title.text


def test_attention_map_labels_name_the_tokens_escaped():
    heat = by_name(viz.attention_map(make_weights()), "weights")
    assert heat.x[5] == "5 '\\n&lt;|x|&gt;'" and heat.y[7] == "7 ' t7'"
    assert "%{x}" in heat.hovertemplate and "%{y}" in heat.hovertemplate


def test_attention_map_outlines_the_window_on_sliding_layers_only():
    T, w = 40, 8
    fig = viz.attention_map(make_weights(T=T, window=w))
    upper = path_points(shape_named(fig, "window upper edge").path)
    lower = path_points(shape_named(fig, "window lower edge").path)
    # a staircase: query q's row spans y in [q - 0.5, q + 0.5]; it may read keys q - w + 1 .. q
    for q in range(T - 1):  # the last row's upper edge is the right border, not drawn
        assert [q + 0.5, q - 0.5] in upper.tolist() and [q + 0.5, q + 0.5] in upper.tolist()
    for q in range(w, T):  # before q = w the window starts at key 0: no lower edge inside
        assert [q - w + 0.5, q - 0.5] in lower.tolist() and [q - w + 0.5, q + 0.5] in lower.tolist()
    assert lower[:, 0].min() == 0.5 and lower[:, 1].min() == w - 0.5
    assert "(q − 8, q]" in fig.layout.title.text
    full = viz.attention_map(make_weights(T=T, window=None))
    assert shape_named(full, "window upper edge") is None and shape_named(full, "window lower edge") is None


def test_attention_map_window_edges_follow_a_zoomed_window():
    aw = make_weights(T=40, window=8, queries=range(20, 30), keys=range(10, 30))
    fig = viz.attention_map(aw)
    assert np.asarray(by_name(fig, "weights").z).shape == (10, 20)
    upper = path_points(shape_named(fig, "window upper edge").path)
    lower = path_points(shape_named(fig, "window lower edge").path)
    # query 20 (row 0) reads keys 13..20, i.e. key indices 3..10 among keys 10..29
    assert [10.5, -0.5] in upper.tolist() and [2.5, -0.5] in lower.tolist()
    assert upper[:, 0].max() == 18.5 and upper[:, 1].max() == 8.5  # row 9 = query 29 reads the last key: border


def test_attention_map_downsamples_past_max_cells_and_says_so():
    aw = make_weights(T=50, window=8)
    whole = viz.attention_map(aw, max_cells=50)
    assert "blocks" not in whole.layout.title.text
    fig = viz.attention_map(aw, max_cells=20)  # 50 -> blocks of 3 -> 17 rows and columns
    z = np.asarray(by_name(fig, "weights").z)
    assert z.shape == (17, 17)
    w = aw.weights[0]
    assert z[5, 4] == w[15:18, 12:15].max() and z[16, 16] == w[48:, 48:].max()
    sink = np.asarray(by_name(fig, "sink").z)[:, 0]
    np.testing.assert_allclose(sink[:16], aw.sink[0][:48].reshape(16, 3).mean(-1), rtol=1e-6)
    np.testing.assert_allclose(sink[16], aw.sink[0][48:].mean(), rtol=1e-6)
    text = fig.layout.title.text
    assert "showing max over blocks of 3 x 3" in text and "attention(..., queries=range(0, 20))" in text
    assert by_name(fig, "weights").x[1].startswith("3–5 ")
    upper = path_points(shape_named(fig, "window upper edge").path)
    assert [round(1 / 3 - 0.5, 6), -0.5] in np.round(upper, 6).tolist()  # query 0: edge after key 0 = 1/3 block


def test_attention_map_source_strips_along_both_axes():
    aw = make_weights(T=40)
    fig = viz.attention_map(aw)
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    along_keys = [(r.x0 + 0.5, r.x1 + 0.5) for r in rects if r.xref == "x2"]
    along_queries = [(r.y0 + 0.5, r.y1 + 0.5) for r in rects if r.yref == "y2"]
    assert along_keys == along_queries == [(0, 3), (3, 10), (10, 25), (25, 40)]
    assert "analysis" in fig.layout.annotations[0].text


def test_attention_map_rejects_a_head_not_computed():
    with pytest.raises(ValueError, match=r"head 5 .*heads \[0, 3\].*attention\(\.\.\., heads=\[5\]\)"):
        viz.attention_map(make_weights(heads=(0, 3)), head=5)


# -- head_view


def test_head_view_rows_are_the_query_weights_over_the_window_plus_the_sink():
    aw = make_weights(T=40, heads=(0, 3, 5), window=8)
    fig = viz.head_view(aw, 20)
    heat, sink = by_name(fig, "weights"), by_name(fig, "sink")
    assert [int(x.split()[0]) for x in heat.x] == list(range(13, 21))  # the last 8 tokens
    np.testing.assert_array_equal(np.asarray(heat.z), aw.weights[:, 20, 13:21])
    np.testing.assert_array_equal(np.asarray(sink.z)[:, 0], aw.sink[:, 20])
    np.testing.assert_allclose(np.asarray(heat.z).sum(-1) + aw.sink[:, 20], 1, atol=1e-5)
    assert list(heat.y) == ["head 0", "head 3", "head 5"]


def test_head_view_full_layer_shows_every_earlier_token():
    aw = make_weights(T=40, window=None, queries=range(30, 40))
    heat = by_name(viz.head_view(aw, 33), "weights")
    assert len(heat.x) == 34
    np.testing.assert_array_equal(np.asarray(heat.z), aw.weights[:, 3, :34])
    with pytest.raises(ValueError, match=r"30\.\.39.*got 12.*queries=\[12\]"):
        viz.head_view(aw, 12)


# -- sink_grid


def test_sink_grid_is_the_mean_over_tokens_or_one_token():
    trace = make_trace()
    fig = viz.sink_grid(trace)
    z = np.asarray(fig.data[0].z)
    np.testing.assert_allclose(z, trace.sink_mass.astype(np.float32).mean(0), atol=1e-4)
    assert list(fig.data[0].y) == ["0 sliding 8", "1 full", "2 sliding 8", "3 full"]
    # the colour runs to the largest value (up to the next 5%), not to 1: 1-10% sinks are not drawn white
    assert fig.data[0].zmin == 0 and z.max() <= fig.data[0].zmax <= min(1.0, z.max() + 0.05)
    assert f"colour 0 to {fig.data[0].zmax:.0%}" in fig.layout.title.text
    assert fig.data[0].texttemplate == "%{z:.1%}"  # every cell carries its number
    assert list(fig.data[0].x) == [f"head {h}" for h in range(trace.sink_mass.shape[2])]  # no -0.5, 0.5 ticks
    assert fig.layout.xaxis.type == "category"
    one = viz.sink_grid(trace, token=7)
    np.testing.assert_allclose(np.asarray(one.data[0].z), trace.sink_mass[7].astype(np.float32), atol=1e-4)
    assert "token 7" in one.layout.title.text
    np.testing.assert_allclose(one.data[0].customdata, trace.attention_entropy[7].astype(np.float32), atol=1e-3)


def test_missing_summaries_say_how_to_capture_them():
    trace = make_trace(summaries=False)
    for draw in (viz.sink_grid, viz.sink_profile):
        with pytest.raises(ValueError, match=r"no attention summaries.*capture=True.*eager attention"):
            draw(trace)


# -- sink_profile


def test_sink_profile_lines_are_the_per_layer_mean_over_heads():
    trace = make_trace()
    fig = viz.sink_profile(trace)
    want = trace.sink_mass.astype(np.float32).mean(-1)  # (T, L)
    for layer in range(4):
        line = by_name(fig, f"layer {layer} ")
        np.testing.assert_allclose(line.y, want[:, layer], atol=1e-4)
        assert line.line.dash == ("dot" if layer % 2 == 0 else "solid")
    mean = by_name(fig, "mean over layers")
    np.testing.assert_allclose(mean.y, want.mean(-1), atol=1e-3)
    assert "&lt;|x|&gt;" in mean.text[0]
    one = viz.sink_profile(trace, heads=2)
    np.testing.assert_allclose(by_name(one, "layer 1 ").y, trace.sink_mass[:, 1, 2].astype(np.float32), atol=1e-4)
    heat = viz.sink_profile(trace, heads=[1, 4], kind="heatmap")
    want = trace.sink_mass[:, :, [1, 4]].astype(np.float32).mean(-1).T  # (L, T)
    np.testing.assert_allclose(np.asarray(by_name(heat, "sink mass").z), want, atol=1e-4)
    with pytest.raises(ValueError, match=r"0\.\.5"):
        viz.sink_profile(trace, heads=[6])


def test_sink_profile_block_means_past_max_tokens():
    trace = make_trace(T=40)
    fig = viz.sink_profile(trace, max_tokens=10)
    want = trace.sink_mass.astype(np.float32).mean(-1)[:4, 0].mean()
    assert by_name(fig, "layer 0 ").y[0] == pytest.approx(want, abs=1e-4)
    assert "blocks of 4 tokens" in fig.layout.title.text


# -- all figures

FIGURES = {
    "attention_map": lambda **kw: viz.attention_map(make_weights(window=8), **kw),
    "head_view": lambda **kw: viz.head_view(make_weights(), 20, **kw),
    "sink_grid": lambda **kw: viz.sink_grid(make_trace(), **kw),
    "sink_profile": lambda **kw: viz.sink_profile(make_trace(), **kw),
}


@pytest.mark.parametrize("name", FIGURES)
def test_common_keywords_apply(name):
    fig = FIGURES[name](title="Mine", height=321, width=654, template="plotly_white")
    assert fig.layout.title.text.startswith("Mine")
    assert (fig.layout.height, fig.layout.width) == (321, 654)
    assert fig.layout.template.layout.paper_bgcolor == "white"


def test_saved_trace_draws_the_same_sink_figures(tmp_path):
    trace = make_trace()
    again = Trace.load(trace.save(tmp_path / "trace.npz"))
    np.testing.assert_array_equal(viz.sink_grid(trace).data[0].z, viz.sink_grid(again).data[0].z)
    np.testing.assert_array_equal(viz.sink_profile(trace).data[0].y, viz.sink_profile(again).data[0].y)


def test_gpt_oss_20b_shape_at_4096_tokens_stays_small():
    trace = make_trace(T=4096, L=24, H=64, n_prompt=512, window=128)
    for draw in (viz.sink_grid, viz.sink_profile, lambda tr: viz.sink_profile(tr, kind="heatmap")):
        size = len(draw(trace).to_json())
        assert size < 5_000_000, f"{size / 1e6:.1f} MB of JSON"
    T = 4096
    q = np.arange(T)
    weights = np.where(q[None, :] <= q[:, None], 1.0 / (q[:, None] + 2), 0).astype(np.float32)[None]  # (1, T, T)
    aw = SimpleNamespace(
        layer=1, layer_type="full_attention", window=None, heads=[7], queries=q, keys=q, weights=weights,
        sink=(1.0 / (q + 2)).astype(np.float32)[None], token_strings=trace.token_strings, sources=trace.sources,
    )  # fmt: skip
    fig = viz.attention_map(aw)
    z = np.asarray(by_name(fig, "weights").z)
    assert max(z.shape) <= 1000 and "showing max over blocks of" in fig.layout.title.text
    size = len(fig.to_json())
    assert size < 5_000_000, f"attention_map: {size / 1e6:.1f} MB of JSON"
    aw.window, aw.layer_type = 128, "sliding_attention"
    assert len(viz.attention_map(aw).to_json()) < 5_000_000
    assert len(viz.head_view(aw, 4000).to_json()) < 5_000_000


def test_attention_map_of_many_tokens_is_tall_enough_and_its_ticks_are_short():
    import plotly.colors

    fig = viz.attention_map(make_weights(T=242))
    assert fig.layout.height >= 260 + 3 * 242  # a row per query gets 3 px at least
    ticks = fig.layout.yaxis.ticktext or fig.layout.yaxis2.ticktext
    assert ticks is not None and len(ticks) <= 40 and all(t.isdigit() for t in ticks)  # positions only
    small = viz.attention_map(make_weights(T=12))
    assert small.layout.height is None or small.layout.height >= 520
    assert small.layout.xaxis2.ticktext is None  # few tokens: every label, token text included
    # colour at the square root of the value: 5% of the top is drawn a fifth of the way along the scale
    scale = fig.layout.coloraxis.colorscale
    assert scale[1][0] == 0.05 and scale[1][1] == plotly.colors.sample_colorscale("Blues", [0.05**0.5])[0]
    assert "√probability" in fig.layout.title.text


def test_long_notes_go_one_to_a_line_with_room_above_the_plot_for_them_and_the_key():
    from gptoss_lab.viz._common import NOTE_LINE_CHARS, note_lines

    fig = viz.attention_map(make_weights(T=600, heads=(0,), window=128), head=0, max_cells=200)
    title = fig.layout.title.text
    notes = title.split("<sup>", 1)[1].removesuffix("</sup>").split("<br>")
    assert len(notes) == 5  # sink, colour, window, blocks, how to recompute: too long for one line
    assert any("blocks of 3 x 3" in n for n in notes) and any("queries=range(0, 200)" in n for n in notes)
    assert max(len(n) for n in notes) <= NOTE_LINE_CHARS  # none runs off a figure of the default width
    keyed = [a for a in fig.layout.annotations if a.name == "key"]
    assert len(keyed) == 1 and fig.layout.margin.t >= 40 + 21 * (len(notes) + 1)  # the key's line too
    assert note_lines(["a", "b"]) == ["a · b"] and note_lines([]) == []
