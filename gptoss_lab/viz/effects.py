"""Figures of effect measurements (:class:`~gptoss_lab.experiments.Effects`): what switching an expert, a head
or the sinks off did to accuracy, against the unablated baseline.

Every figure colours the accuracy drop in points (baseline minus ablated) on one diverging scale centred at
0: white is no change, red is worse, blue is better; the limits are symmetric, so equal drops and gains look
alike. The baseline, and chance where it means something, stand in the notes under the title.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ._common import diverging_colorscale, finish, make_subplots, new_figure, require_plotly

if TYPE_CHECKING:
    from ..experiments import Effects

__all__ = ["expert_importance", "head_effects", "sink_effects"]


def expert_importance(
    effects: Effects,
    *,
    family: str | None = None,
    by_family: bool = False,
    title: str | None = None,
    height: int | None = None,
    width: int | None = None,
    template: Any = None,
) -> Any:
    """Layer x expert heatmap of the accuracy drop when that one expert is switched off.

    ``family=None`` pools the families (each has ``n`` questions), ``family="add"`` shows one,
    ``by_family=True`` draws one small heatmap per family on the same colour scale.
    """
    return _grid(effects, "expert", family, by_family, title, height, width, template)


def head_effects(
    effects: Effects,
    *,
    family: str | None = None,
    by_family: bool = False,
    title: str | None = None,
    height: int | None = None,
    width: int | None = None,
    template: Any = None,
) -> Any:
    """Layer x head heatmap of the accuracy drop when that one head is switched off (as :func:`expert_importance`)."""
    return _grid(effects, "head", family, by_family, title, height, width, template)


def sink_effects(
    effects: Effects,
    *,
    title: str | None = None,
    height: int | None = None,
    width: int | None = None,
    template: Any = None,
) -> Any:
    """Heatmap of the accuracy drop per family (and all families) when the sinks are off in each layer, and
    in every layer at once."""
    go = require_plotly()
    _kind(effects, "sink")
    drops = np.concatenate([effects.drop("each"), effects.drop()[:, None]], axis=1)  # (L + 1, F + 1)
    changed = np.concatenate([effects.changed, effects.changed.mean(axis=-1, keepdims=True)], axis=1)
    columns = [*effects.families, "all"]
    rows = [r.split(" in ", 1)[-1] for r in effects.rows] or [str(i) for i in range(drops.shape[0])]
    verb = effects.rows[0].split(" in ")[0] if effects.rows else "sinks off"  # "sinks off", "sinks ×0.5"
    heat = go.Heatmap(
        z=_points(drops),
        x=columns,
        y=rows,
        customdata=np.stack([_accuracy_with_all(effects), changed], axis=-1).astype(np.float32),
        coloraxis="coloraxis",
        hovertemplate=verb + " in %{y}, %{x}<br>accuracy %{customdata[0]:.0%}, drop %{z:+.1f} points<br>"
        "answers changed %{customdata[1]:.0%}<extra></extra>",
    )
    fig = new_figure(heat)
    _texts(fig, drops.size)
    _color_axis(fig, drops)
    fig.update_xaxes(title_text="task family", type="category", showgrid=False)
    fig.update_yaxes(title_text=f"{verb} in", type="category", autorange="reversed", showgrid=False)
    default = f"Accuracy drop with the attention {verb}"
    notes = [*_baseline_notes(effects, None), *_state_notes(effects)]
    return finish(fig, default_title=default, notes=notes, title=title, height=height, width=width, template=template)


# --------------------------------------------------------------------------------------------- shared


def _kind(effects: Effects, kind: str) -> None:
    if effects.kind != kind:
        raise ValueError(
            f"this figure shows {kind} ablations, and these effects are {effects.kind} ablations: "
            f"use viz.{ {'expert': 'expert_importance', 'head': 'head_effects', 'sink': 'sink_effects'}[effects.kind] }"
        )


def _points(drop: np.ndarray) -> np.ndarray:
    """Accuracy drop as points (100 x share), float32 for a small figure; NaN (not measured) stays NaN."""
    return np.round(100 * drop, 2).astype(np.float32)


def _accuracy_with_all(effects: Effects) -> np.ndarray:
    return np.concatenate([effects.accuracy, effects.accuracy.mean(axis=-1, keepdims=True)], axis=-1)


def _grid(
    effects: Effects,
    kind: str,
    family: str | None,
    by_family: bool,
    title: str | None,
    height: int | None,
    width: int | None,
    template: Any,
) -> Any:
    """The layer x expert (or head) heatmap, one per family with ``by_family``, on one colour axis."""
    go = require_plotly()
    _kind(effects, kind)
    L, X = effects.accuracy.shape[:2]
    panels = list(effects.families) if by_family else [family]
    cols = min(4, len(panels))
    fig = make_subplots(
        rows=math.ceil(len(panels) / cols),
        cols=cols,
        shared_yaxes=True,
        horizontal_spacing=0.03,
        vertical_spacing=0.12,
        subplot_titles=[_panel_title(effects, f) for f in panels] if by_family else None,
    )
    every: list[np.ndarray] = []
    for i, panel in enumerate(panels):
        drop = effects.drop(panel)  # (L, X)
        accuracy, changed = (_of_family(effects, a, panel) for a in (effects.accuracy, effects.changed))  # (L, X)
        every.append(drop)
        heat = go.Heatmap(
            z=_points(drop),
            x=[f"{kind} {x}" for x in range(X)],
            y=[f"layer {layer}" for layer in range(L)],
            customdata=np.stack([accuracy, changed], axis=-1).astype(np.float32),  # (L, X, 2)
            coloraxis="coloraxis",
            name=panel or "all families",
            hovertemplate=f"{panel or 'all families'}<br>%{{y}}, %{{x}} off<br>accuracy %{{customdata[0]:.0%}}, "
            "drop %{z:+.1f} points<br>answers changed %{customdata[1]:.0%}<extra></extra>",
        )
        fig.add_trace(heat, row=i // cols + 1, col=i % cols + 1)
    _texts(fig, L * X * len(panels))
    _color_axis(fig, np.stack(every))
    fig.update_xaxes(type="category", showgrid=False)
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    for row in range(1, math.ceil(len(panels) / cols) + 1):
        fig.update_yaxes(title_text="MoE layer", row=row, col=1)
    for col in range(1, cols + 1):
        fig.update_xaxes(title_text=kind, row=math.ceil(len(panels) / cols), col=col)
    what = "each family" if by_family else (family or "all families")
    default = f"Accuracy drop when one {kind} is switched off ({what})"
    notes = [*_baseline_notes(effects, None if by_family else family), *_state_notes(effects)]
    return finish(fig, default_title=default, notes=notes, title=title, height=height, width=width, template=template)


def _of_family(effects: Effects, values: np.ndarray, family: str | None) -> np.ndarray:
    """``values`` (grid + (F,)) for one family, or the mean over families."""
    return values.mean(axis=-1) if family is None else values[..., effects.family_index(family)]


def _panel_title(effects: Effects, family: str) -> str:
    base = effects.baseline[effects.family_index(family)]
    return f"{family}<br>baseline {base:.0%}"  # two lines: four panels abreast leave each ~250 px


def _texts(fig: Any, cells: int) -> None:
    if cells <= 200:  # few enough cells to print the drop in each
        fig.update_traces(texttemplate="%{z:+.0f}", textfont={"size": 10})


def _color_axis(fig: Any, drops: np.ndarray) -> None:
    """One diverging scale, white at 0, limits symmetric (at least ±10 points, so noise stays pale)."""
    finite = drops[np.isfinite(drops)]
    top = max(10.0, float(np.abs(100 * finite).max()) if finite.size else 0.0)
    top = math.ceil(top / 5) * 5
    colorbar = {
        "title": {"text": "accuracy drop (points)", "side": "right"},  # along the bar: clear of the top tick
        "tickvals": [-top, 0, top],
        "ticktext": [f"−{top:g} (better)", "0 (no change)", f"+{top:g} (worse)"],
    }
    scale = diverging_colorscale(0.5)
    fig.update_layout(coloraxis={"colorscale": scale, "cmin": -top, "cmax": top, "colorbar": colorbar})


def _baseline_notes(effects: Effects, family: str | None) -> list[str]:
    """The baseline accuracy (pooled, or the one family's) and chance where it is meaningful."""
    from ..experiments import CHANCE

    run = f"{effects.n} questions per family, {effects.effort} effort"
    if family is None:
        pooled = float(effects.baseline.mean())
        notes = [f"baseline (nothing off): {pooled:.1%} over {len(effects.families)} families, {run}"]
        chance = [f"{CHANCE[f]:.0%} on {f}" for f in effects.families if f in CHANCE]
        if chance:
            notes.append(f"chance: {', '.join(chance)} (one of two numbers); no meaningful chance for the others")
        return notes
    base = float(effects.baseline[effects.family_index(family)])
    notes = [f"baseline (nothing off): {base:.1%} on {family}, {run}"]
    if family in CHANCE:
        notes.append(f"chance: {CHANCE[family]:.0%} (a drop of {100 * (base - CHANCE[family]):.0f} points reaches it)")
    return notes


def _state_notes(effects: Effects) -> list[str]:
    notes = ["red: worse without it, blue: better, white: no change"]
    if not effects.measured.all():
        notes.append(
            "blank: not measured (interrupted)" if effects.interrupted else "blank: not measured (not asked for)"
        )
    return notes
