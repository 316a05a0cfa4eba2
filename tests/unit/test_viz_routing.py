"""Routing figures: asserted on the data they carry, from synthetic traces (no torch, no model)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("plotly")

from gptoss_lab import viz
from gptoss_lab.trace import Trace
from gptoss_lab.viz.routing import chance_of_sharing


def make_trace(T=40, L=4, E=8, k=2, n_prompt=10, seed=0, topk=None):
    """A Trace with random logits, its top-k by argsort and softmax-over-top-k weights.

    Sources: system then user in the prompt, then analysis, then final. ``topk`` (T, L, k) overrides
    the chosen experts (the logits are then unrelated to them, which Trace does not check).
    """
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(T, L, E)).astype(np.float16)
    z = logits.astype(np.float32)
    order = np.argsort(-z, axis=-1, kind="stable")[..., :k] if topk is None else np.asarray(topk)
    top = np.take_along_axis(z, order.astype(np.int64), axis=-1)
    weights = np.exp(top - top.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    n_system = min(3, n_prompt)
    n_analysis = (T - n_prompt) // 2
    sources = ["system"] * n_system + ["user"] * (n_prompt - n_system) + ["analysis"] * n_analysis
    sources += ["final"] * (T - len(sources))
    return Trace(
        token_ids=np.arange(T, dtype=np.int64),
        token_strings=[f" t{i}" if i % 5 else "\n<|x|>" for i in range(T)],
        sources=sources,
        n_prompt=n_prompt,
        routing_logits=logits,
        topk_experts=order.astype(np.int16),
        topk_weights=weights.astype(np.float32),
        layer_types=["sliding_attention", "full_attention"] * (L // 2) + ["sliding_attention"] * (L % 2),
    )


def by_name(fig, name):
    found = [d for d in fig.data if d.name is not None and d.name.startswith(name)]
    assert len(found) == 1, [d.name for d in fig.data]
    return found[0]


# -- routing_map


def test_routing_map_cells_are_top1_experts():
    trace = make_trace()
    fig = viz.routing_map(trace)
    z = np.asarray(by_name(fig, "routing").z)
    assert z.shape == (4, 40)  # (L, T)
    np.testing.assert_array_equal(z, trace.topk_experts[:, :, 0].T)
    veil = np.asarray(by_name(fig, "weight veil").z)
    np.testing.assert_allclose(veil, trace.topk_weights[:, :, 0].T, atol=1e-3)


def test_routing_map_tooltip_carries_the_k_experts_and_weights():
    trace = make_trace(k=3)
    heat = by_name(viz.routing_map(trace), "routing")
    cd = np.asarray(heat.customdata)  # (L, T, 2k)
    np.testing.assert_array_equal(cd[2, 7, :3], trace.topk_experts[7, 2])
    np.testing.assert_array_equal(cd[2, 7, 3:], np.rint(trace.topk_weights[7, 2] * 100))
    assert "&lt;|x|&gt;" in heat.text[0][0] and "\\n" in heat.text[0][0]  # escaped and visible


def test_routing_map_highlight_shows_weight_where_chosen_else_zero():
    trace = make_trace(E=8, k=2)
    z = np.asarray(viz.routing_map(trace, highlight=5).data[0].z)  # (L, T)
    for t in range(trace.n_tokens):
        for layer in range(trace.n_layers):
            chosen = list(trace.topk_experts[t, layer])
            want = trace.topk_weights[t, layer, chosen.index(5)] if 5 in chosen else 0.0
            assert z[layer, t] == pytest.approx(want, abs=1e-3)
    assert (z > 0).any() and (z == 0).any()


def test_routing_map_many_experts_shows_weight_and_says_how_to_highlight():
    trace = make_trace(E=32, k=4)
    fig = viz.routing_map(trace)
    np.testing.assert_allclose(fig.data[0].z, trace.topk_weights[:, :, 0].T, atol=1e-3)
    assert len(fig.data) == 1
    assert "highlight=e" in fig.layout.title.text


def test_routing_map_layers_subset():
    trace = make_trace(L=6)
    fig = viz.routing_map(trace, layers=[1, 4])
    np.testing.assert_array_equal(fig.data[0].z, trace.topk_experts[:, [1, 4], 0].T)
    assert list(fig.data[0].y) == [1, 4]
    with pytest.raises(ValueError, match=r"0\.\.5"):
        viz.routing_map(trace, layers=[6])
    with pytest.raises(ValueError, match="highlight"):
        viz.routing_map(trace, highlight=8)


def test_routing_map_downsamples_in_blocks_and_says_so():
    trace = make_trace(T=100, E=8, k=2)
    full = viz.routing_map(trace, max_tokens=100)
    assert "block" not in full.layout.title.text and len(full.data[0].x) == 100
    fig = viz.routing_map(trace, max_tokens=30)  # 100 tokens -> blocks of 4 -> 25 columns
    assert "blocks of 4 tokens" in fig.layout.title.text
    z = np.asarray(fig.data[0].z)
    assert z.shape == (4, 25)
    top1 = trace.topk_experts[:, :, 0]  # (T, L)
    for b in range(25):
        for layer in range(4):
            values, counts = np.unique(top1[4 * b : 4 * b + 4, layer], return_counts=True)
            assert z[layer, b] == values[counts.argmax()]  # most frequent, ties to the smaller id
    np.testing.assert_allclose(fig.data[0].x[:2], [1.5, 5.5])  # block centres in token positions
    hz = np.asarray(viz.routing_map(trace, max_tokens=30, highlight=2).data[0].z)
    want = (trace.topk_weights * (trace.topk_experts == 2)).sum(-1)[:4].mean(0)  # first block, (L,)
    np.testing.assert_allclose(hz[:, 0], want, atol=1e-3)


def test_routing_map_ribbon_follows_sources():
    trace = make_trace(T=40, n_prompt=10)
    fig = viz.routing_map(trace)
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(r.x0 + 0.5, r.x1 + 0.5) for r in rects] == [(0, 3), (3, 10), (10, 25), (25, 40)]
    lines = [s.x0 + 0.5 for s in fig.layout.shapes if s.type == "line"]
    assert lines == [10, 25]  # prompt | analysis | final
    assert "analysis" in fig.layout.annotations[0].text


# -- expert_load


def test_expert_load_shares_sum_to_one_and_match_a_hand_count():
    trace = make_trace(T=40, L=4, E=8, k=2, n_prompt=10)
    fig = viz.expert_load(trace)
    assert [d.name for d in fig.data] == ["prompt", "analysis", "final"]
    for d in fig.data:
        np.testing.assert_allclose(np.asarray(d.z).sum(axis=1), 1.0, atol=1e-3)
    analysis = np.asarray(by_name(fig, "analysis").z)  # tokens 10..24
    chosen = trace.topk_experts[10:25, 2, :]
    assert analysis[2, 3] == pytest.approx((chosen == 3).sum() / (15 * 2), abs=1e-4)
    axis = fig.layout.coloraxis
    white = [pos for pos, color in axis.colorscale if color == "#f7f7f7"]
    assert axis.cmin + white[0] * (axis.cmax - axis.cmin) == pytest.approx(1 / 8)  # white at uniform


def test_expert_load_commentary_gets_its_own_group():
    trace = make_trace(T=20, n_prompt=4)
    trace.sources[15:18] = ["commentary"] * 3
    fig = viz.expert_load(trace, layers=0)
    assert [d.name for d in fig.data] == ["prompt", "analysis", "commentary", "final"]
    assert np.asarray(fig.data[0].z).shape == (1, 8)


# -- coactivation


def test_coactivation_matches_a_hand_count():
    # one layer, E=4, k=2, four tokens: {0,1} {0,1} {1,2} {3,0}
    topk = np.array([[[0, 1]], [[0, 1]], [[1, 2]], [[3, 0]]])
    trace = make_trace(T=4, L=1, E=4, k=2, n_prompt=1, topk=topk)
    fig = viz.coactivation(trace, 0)
    z = np.asarray(fig.data[0].z)
    np.testing.assert_array_equal(np.isnan(z), np.eye(4, dtype=bool))  # diagonal left blank
    np.testing.assert_allclose(z, z.T)
    assert z[0, 1] == pytest.approx(2 / 4) and z[1, 2] == pytest.approx(1 / 4) and z[0, 3] == pytest.approx(1 / 4)
    assert z[2, 3] == 0 and z[0, 2] == 0
    np.testing.assert_allclose(np.diag(np.asarray(fig.data[0].customdata)[..., 0]), [3 / 4, 3 / 4, 1 / 4, 1 / 4])
    with_diag = np.asarray(viz.coactivation(trace, 0, diagonal=True).data[0].z)
    np.testing.assert_allclose(np.diag(with_diag), [3 / 4, 3 / 4, 1 / 4, 1 / 4])


def test_coactivation_rows_sum_to_k_minus_one_times_rate():
    trace = make_trace(T=200, E=8, k=3)
    z = np.asarray(viz.coactivation(trace, 2, diagonal=True).data[0].z)
    np.testing.assert_allclose(z, z.T)
    off = z.sum(1) - np.diag(z)
    np.testing.assert_allclose(off, 2 * np.diag(z), atol=1e-3)


# -- routing_stats


def test_routing_stats_chance_level_is_the_formula():
    assert chance_of_sharing(8, 2) == pytest.approx(1 - 15 / 28)
    assert chance_of_sharing(32, 4) == pytest.approx(1 - math.comb(28, 4) / math.comb(32, 4))
    fig = viz.routing_stats(make_trace(E=8, k=2))
    np.testing.assert_allclose(by_name(fig, "chance").y, [1 - 15 / 28] * 2)
    np.testing.assert_allclose(by_name(fig, "max").y, [3.0, 3.0])  # log2 8 bits


def test_routing_stats_consecutive_share_matches_a_hand_count():
    # layer 0: {0,1} {1,2} {3,4} {4,0} -> pairs share: yes, no, yes -> 2/3
    # layer 1: {0,1} {0,1} {0,1} {0,1} -> 3/3
    topk = np.array([[[0, 1], [0, 1]], [[1, 2], [0, 1]], [[3, 4], [0, 1]], [[4, 0], [0, 1]]])
    trace = make_trace(T=4, L=2, E=8, k=2, n_prompt=1, topk=topk)
    fig = viz.routing_stats(trace)
    np.testing.assert_allclose(by_name(fig, "consecutive").y, [2 / 3, 1.0], atol=1e-4)


def test_routing_stats_entropy_is_mean_router_entropy_in_bits():
    trace = make_trace(T=30)
    fig = viz.routing_stats(trace)
    p = trace.router_probs()
    want = -(p * np.log2(p)).sum(-1).mean(-1)
    np.testing.assert_allclose(by_name(fig, "entropy").y, want, atol=1e-3)
    blocked = viz.routing_stats(trace, max_tokens=10)
    np.testing.assert_allclose(by_name(blocked, "entropy").y, want.reshape(10, 3).mean(1), atol=1e-3)
    assert "blocks of 3 tokens" in blocked.layout.title.text


# -- token_path


def test_token_path_shows_the_experts_of_token_t():
    trace = make_trace(k=3)
    fig = viz.token_path(trace, 7)
    chosen = by_name(fig, "chosen")
    np.testing.assert_array_equal(chosen.y, trace.topk_experts[7].ravel())
    np.testing.assert_array_equal(chosen.x, np.repeat(np.arange(4), 3))
    np.testing.assert_allclose(chosen.marker.color, trace.topk_weights[7].ravel(), atol=1e-3)
    np.testing.assert_array_equal(by_name(fig, "top-1 path").y, trace.topk_experts[7, :, 0])
    np.testing.assert_allclose(by_name(fig, "router probability").z, trace.router_probs()[7].T, atol=1e-3)
    assert "Token 7 ' t7'" in fig.layout.title.text
    assert viz.token_path(trace, -1).layout.title.text.startswith("Token 39 ")
    with pytest.raises(ValueError, match="token position"):
        viz.token_path(trace, 40)


# -- every figure


FIGURES = {
    "routing_map": lambda tr, **kw: viz.routing_map(tr, **kw),
    "expert_load": lambda tr, **kw: viz.expert_load(tr, **kw),
    "coactivation": lambda tr, **kw: viz.coactivation(tr, 1, **kw),
    "routing_stats": lambda tr, **kw: viz.routing_stats(tr, **kw),
    "token_path": lambda tr, **kw: viz.token_path(tr, 3, **kw),
}


@pytest.mark.parametrize("name", FIGURES)
def test_common_keywords_apply(name):
    fig = FIGURES[name](make_trace(), title="Mine", height=321, width=654, template="plotly_white")
    assert fig.layout.title.text.startswith("Mine")
    assert (fig.layout.height, fig.layout.width) == (321, 654)
    assert fig.layout.template.layout.paper_bgcolor == "white"


@pytest.mark.parametrize("name", FIGURES)
def test_saved_trace_draws_the_same_figure(name, tmp_path):
    trace = make_trace(T=30)
    again = Trace.load(trace.save(tmp_path / "trace.npz"))
    a, b = FIGURES[name](trace), FIGURES[name](again)
    assert len(a.data) == len(b.data)
    for da, db in zip(a.data, b.data, strict=True):
        for field in ("x", "y", "z", "customdata"):
            va, vb = getattr(da, field, None), getattr(db, field, None)
            if va is not None:
                np.testing.assert_array_equal(np.asarray(va), np.asarray(vb))


def test_trace_methods_draw_the_figures():
    trace = make_trace()
    np.testing.assert_array_equal(trace.routing_map().data[0].z, viz.routing_map(trace).data[0].z)
    np.testing.assert_array_equal(trace.token_path(2).data[-1].y, viz.token_path(trace, 2).data[-1].y)


def test_import_viz_does_not_import_plotly():
    code = "import sys, gptoss_lab.viz; print('plotly' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_gpt_oss_20b_shape_at_4096_tokens_stays_small():
    trace = make_trace(T=4096, L=24, E=32, k=4, n_prompt=512)
    for name, draw in FIGURES.items():
        size = len(draw(trace).to_json())
        assert size < 5_000_000, f"{name}: {size / 1e6:.1f} MB of JSON"
    assert "blocks of 4 tokens" in viz.routing_map(trace).layout.title.text


def test_missing_plotly_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install 'gptoss-lab\[viz\]'"):
        viz.routing_map(make_trace())
