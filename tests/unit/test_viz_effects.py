"""Effect figures: what a reader sees, from synthetic results (no torch, no model)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("plotly")

from gptoss_lab import viz
from gptoss_lab.experiments import Effects
from gptoss_lab.viz._figure import Figure

FAMILIES = ("add", "compare_decimals")


def make_effects(kind="expert", L=4, X=8, missing=(), interrupted=False):
    """Baseline 40% / 80%; layer 1's expert 3 (or head 3) costs 30 points on add, the rest a little or nothing."""
    baseline = np.array([0.4, 0.8])
    grid = (L + 1,) if kind == "sink" else (L, X)
    accuracy = np.broadcast_to(baseline, (*grid, 2)).copy()
    accuracy[(1, 3) if kind != "sink" else (1,)] = [0.1, 0.8]
    accuracy[(2, 0) if kind != "sink" else (L,)] = [0.45, 0.5]  # better on add, worse on compare_decimals
    changed = np.where(accuracy != baseline, 0.5, 0.0)
    for index in missing:
        accuracy[index] = changed[index] = np.nan
    rows = (*(f"sinks off in layer {i}" for i in range(L)), "sinks off in every layer") if kind == "sink" else ()
    return Effects(kind, FAMILIES, 20, "low", 1234, baseline, accuracy, changed, rows=rows, interrupted=interrupted)


def _title(fig) -> str:
    return fig.layout.title.text


def test_expert_importance_is_layer_by_expert_on_a_scale_centred_at_zero():
    fig = viz.expert_importance(make_effects())
    assert isinstance(fig, Figure)
    (heat,) = fig.data
    assert list(heat.x) == [f"expert {e}" for e in range(8)] and list(heat.y) == [f"layer {n}" for n in range(4)]
    z = np.asarray(heat.z)  # pooled drop in points: (30 + 0) / 2 at layer 1, expert 3
    assert z.shape == (4, 8) and z[1, 3] == pytest.approx(15.0) and z[2, 0] == pytest.approx(12.5)
    assert z[0, 0] == 0
    axis = fig.layout.coloraxis
    assert axis.cmin == -axis.cmax and axis.cmax >= 15  # symmetric: white (the scale's middle) is 0
    middle = [c for pos, c in axis.colorscale if pos == 0.5]
    assert middle == ["#f7f7f7"] and axis.colorscale[-1][1] == "#67001f"  # red at the top: a drop (worse)
    assert "0 (no change)" in axis.colorbar.ticktext and "(worse)" in axis.colorbar.ticktext[-1]
    assert fig.layout.xaxis.title.text == "expert" and fig.layout.yaxis.title.text == "MoE layer"
    title = _title(fig)
    assert "Accuracy drop when one expert is switched off (all families)" in title
    assert "baseline (nothing off): 60.0% over 2 families, 20 questions per family, low effort" in title
    assert "chance: 50% on compare_decimals" in title
    assert "blank" not in title  # every cell measured


def test_one_family_states_its_baseline_and_how_far_chance_is():
    fig = viz.expert_importance(make_effects(), family="compare_decimals")
    z = np.asarray(fig.data[0].z)
    assert z[2, 0] == pytest.approx(30.0) and z[1, 3] == 0
    assert "baseline (nothing off): 80.0% on compare_decimals" in _title(fig)
    assert "chance: 50% (a drop of 30 points reaches it)" in _title(fig)
    add = viz.expert_importance(make_effects(), family="add")
    assert "80.0%" not in _title(add) and "chance" not in _title(add)  # no meaningful chance for a sum
    with pytest.raises(ValueError, match="family must be one of add, compare_decimals"):
        viz.expert_importance(make_effects(), family="sort")


def test_small_multiples_share_one_colour_scale_and_name_each_baseline():
    fig = viz.expert_importance(make_effects(), by_family=True)
    assert [h.name for h in fig.data] == list(FAMILIES)
    assert {h.coloraxis for h in fig.data} == {"coloraxis"}
    titles = [a.text for a in fig.layout.annotations]
    assert "add<br>baseline 40%" in titles and "compare_decimals<br>baseline 80%" in titles
    assert fig.layout.coloraxis.cmax >= 30 and fig.layout.coloraxis.cmin == -fig.layout.coloraxis.cmax


def test_unmeasured_cells_are_blank_and_said_so():
    fig = viz.expert_importance(make_effects(missing=[(3, 7)], interrupted=True))
    assert np.isnan(np.asarray(fig.data[0].z, dtype=float)[3, 7])
    assert "blank: not measured (interrupted)" in _title(fig)


def test_head_and_sink_figures():
    heads = viz.head_effects(make_effects("head", X=4))
    assert list(heads.data[0].x) == [f"head {h}" for h in range(4)] and heads.layout.xaxis.title.text == "head"
    sinks = viz.sink_effects(make_effects("sink"))
    (heat,) = sinks.data
    assert list(heat.x) == [*FAMILIES, "all"] and list(heat.y) == [*(f"layer {i}" for i in range(4)), "every layer"]
    z = np.asarray(heat.z)
    assert z[1, 0] == pytest.approx(30.0) and z[4, 1] == pytest.approx(30.0) and z[4, 2] == pytest.approx(12.5)
    assert sinks.layout.coloraxis.cmin == -sinks.layout.coloraxis.cmax
    assert "Accuracy drop with the attention sinks off" in _title(sinks) and "baseline (nothing off)" in _title(sinks)
    with pytest.raises(ValueError, match=r"these effects are sink ablations: use viz\.sink_effects"):
        viz.expert_importance(make_effects("sink"))


def test_the_summary_lists_the_most_damaging_with_per_family_deltas():
    effects = make_effects()
    assert effects.top(1) == [
        ("layer 1, expert 3", pytest.approx(0.15), {"add": pytest.approx(0.3), "compare_decimals": 0.0})
    ]
    text = repr(effects)
    lines = text.splitlines()
    assert "32 of 32 measured" in lines[0] and "baseline accuracy: add 40%, compare_decimals 80%" in text
    assert lines[3].split()[:5] == ["layer", "1,", "expert", "3", "-15.0"] and "add -30 compare_decimals +0" in lines[3]
    assert "layer 2, expert 0" in lines[4] and "add +5 compare_decimals -30" in lines[4]
    assert len(lines) == 3 + 5
    assert effects.to_dict()["accuracy"][1][3] == [pytest.approx(0.1), 0.8]
    partial = make_effects(missing=[(1, 3)], interrupted=True)
    assert "interrupted after 31 of 32" in partial.summary() and partial.top(1)[0][0] == "layer 2, expert 0"
    assert partial.to_dict()["accuracy"][1][3] == [None, None]
