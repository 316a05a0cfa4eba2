"""Expert-routing figures: which experts each token went to, how evenly, with whom, and how surely.

Each function takes a :class:`~gptoss_lab.trace.Trace` and returns a ``plotly.graph_objects.Figure``
(never shown), with the common keywords ``title``, ``height``, ``width``, ``template``. Figures stay
interactive on long traces: where there would be more than ``max_tokens`` columns, tokens are
aggregated in blocks, and the subtitle says so.

Data lives in ``fig.data`` in a form a test can assert: ``z`` arrays of heatmaps, ``y`` of lines and
bars, traces found by ``name``. Weights in tooltips are whole percents, to keep the JSON small.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._common import (
    GROUP_COLORS,
    GROUPS,
    add_channel_ribbon,
    block_mean,
    block_mode,
    block_size,
    block_starts,
    channel_key,
    check_index,
    check_layers,
    diverging_colorscale,
    finish,
    integer_ticks,
    make_subplots,
    new_figure,
    position_ticks,
    require_plotly,
    runs,
    stepped_colorscale,
    token_groups,
    token_label,
)
from ._theme import ink

if TYPE_CHECKING:
    from ..trace import Trace

__all__ = ["chance_of_sharing", "coactivation", "expert_load", "routing_map", "routing_stats", "token_path"]

#: Above this many experts, colours can no longer name experts (qualitative palettes have ~24 colours).
MAX_EXPERT_COLORS = 24
_VEIL = [[0, "rgba(255,255,255,0.8)"], [1, "rgba(255,255,255,0)"]]


# -- routing_map


def routing_map(
    trace: Trace,
    *,
    highlight: int | None = None,
    layers: int | Sequence[int] | None = None,
    max_tokens: int = 1024,
    title: str | None = None,
    height: int | None = None,
    width: int | None = None,
    template: Any = None,
) -> Any:
    """Heatmap of tokens (x) by MoE layer (y): which expert each token went to.

    * ``highlight=None``, at most 24 experts: ``z`` is the top-1 expert id, one colour per expert,
      faded by a white veil (second trace, ``name="weight veil"``) where the top-1 weight is low.
    * ``highlight=None``, more experts: ``z`` is the top-1 weight; the expert is in the tooltip.
    * ``highlight=e``: ``z`` is expert ``e``'s weight where it is among the chosen k, else 0.

    Beyond ``max_tokens`` tokens, each column is a block of n tokens: the most frequent top-1 expert
    (ties to the smaller id) and the mean weight; the subtitle says so. A ribbon above the map shows
    each token's source (prompt roles, then analysis/commentary/final), with dotted lines at the
    prompt/completion and channel boundaries.
    """
    go = require_plotly()
    layers = check_layers(trace, layers)
    T, E, k = trace.n_tokens, trace.n_experts, trace.top_k
    if highlight is not None:
        highlight = check_index("highlight", highlight, E, "an expert number")
    mode = "highlight" if highlight is not None else "expert" if E <= MAX_EXPERT_COLORS else "weight"
    experts = trace.topk_experts[:, layers, :]  # (T, L', k)
    if not trace.weighted and mode == "weight":
        raise ValueError(
            f"{E} experts are too many to tell apart by colour, and this trace has no weights to draw instead "
            "(a server sends only the chosen experts): pass highlight=e to see where expert e is chosen"
        )
    # a served trace has no weights: the experts alone (highlight: chosen or not; no veil)
    weights = trace.topk_weights[:, layers, :].astype(np.float32) if trace.weighted else None  # (T, L', k)
    n = block_size(T, max_tokens)
    if n == 1:
        cells = _token_cells(trace, experts, weights, mode, highlight)
    else:
        cells = _block_cells(trace, experts, weights, mode, highlight, n)

    fig = new_figure()
    fig.add_trace(
        go.Heatmap(
            z=cells["z"],
            x=cells["x"],
            y=layers,
            customdata=cells["customdata"],
            text=cells["text"],
            hovertemplate=cells["hovertemplate"],
            name="routing",
            **_map_colors(mode, E, k, highlight, trace.weighted),
        )
    )
    if mode == "expert" and trace.weighted:
        # the weight can't share the colour channel with the expert id, so a white veil fades weak choices
        veil = go.Heatmap(z=cells["veil"], x=cells["x"], y=layers, colorscale=_VEIL, zmin=1 / k if k > 1 else 0)
        fig.add_trace(veil.update(zmax=1.0, showscale=False, hoverinfo="skip", name="weight veil"))
    add_channel_ribbon(fig, trace.sources, trace.n_prompt)
    fig.update_xaxes(title_text="token position", range=[-0.5, T - 0.5], showgrid=False, **position_ticks(T))
    fig.update_yaxes(title_text="MoE layer", type="category", showgrid=False)
    fig.update_layout(margin={"t": 110})
    default, notes = _map_titles(mode, E, k, highlight, trace.weighted)
    if n > 1:
        what = "share of tokens choosing it, mean weight" if mode == "highlight" else "most frequent top-1, mean weight"
        notes.append(f"{T} tokens in blocks of {n} tokens ({what}); max_tokens={max_tokens}")
    return finish(fig, default_title=default, notes=notes, title=title, height=height, width=width, template=template)


_NO_WEIGHTS = "the server sent the chosen experts only, no weights"


def _map_titles(mode: str, E: int, k: int, h: int | None, weighted: bool = True) -> tuple[str, list[str]]:
    if not weighted:
        if mode == "expert":
            return f"Top-1 expert of each token in each layer (top-{k} of {E})", [_NO_WEIGHTS]
        return f"Where expert {h} is chosen among the top-{k}", [_NO_WEIGHTS]
    if mode == "expert":
        return f"Top-1 expert of each token in each layer (top-{k} of {E}; faded = low weight)", []
    if mode == "weight":
        hint = f"{E} experts are too many to tell apart by colour: the expert is in the tooltip; pass highlight=e"
        return f"Top-1 routing weight of each token in each layer (top-{k} of {E} experts)", [hint]
    return f"Where expert {h} is chosen: its weight among the top-{k} (0 = not chosen)", []


def _token_cells(
    trace: Trace, experts: np.ndarray, weights: np.ndarray | None, mode: str, h: int | None
) -> dict[str, Any]:
    """One column per token; the tooltip lists the k experts and their weights."""
    T, L, k = experts.shape
    labels = [f"{token_label(s)} · {src}" for s, src in zip(trace.token_strings, trace.sources, strict=True)]
    # small integers (ids, whole percents) serialise as compact binary: customdata is up to 2k numbers per cell
    small = np.uint8 if trace.n_experts <= 255 else np.uint16
    if weights is None:  # a served trace: the experts alone
        z = (experts == h).any(-1).T.astype(np.float32) if mode == "highlight" else experts[..., 0].T.astype(np.int16)
        chosen = ", ".join(f"<b>%{{customdata[{i}]}}</b>" for i in range(k))
        return {
            "z": z,
            "x": np.arange(T),
            "customdata": experts.astype(small).transpose(1, 0, 2),
            "text": [labels] * L,
            "hovertemplate": f"token %{{x}}: %{{text}}<br>layer %{{y}}<br>experts: {chosen}<extra></extra>",
        }
    if mode == "highlight":
        z = (weights * (experts == h)).sum(-1).T  # (L', T)
    elif mode == "expert":
        z = experts[..., 0].T.astype(np.int16)  # (L', T)
    else:
        z = weights[..., 0].T  # (L', T)
    percent = np.rint(weights * 100).astype(small)
    customdata = np.concatenate([experts.astype(small), percent], axis=-1).transpose(1, 0, 2)  # (L', T, 2k)
    chosen = ", ".join(f"<b>%{{customdata[{i}]}}</b> %{{customdata[{k + i}]}}%" for i in range(k))
    return {
        "z": np.round(z, 3),
        "x": np.arange(T),
        "customdata": customdata,
        "text": [labels] * L,
        "hovertemplate": f"token %{{x}}: %{{text}}<br>layer %{{y}}<br>experts (weight): {chosen}<extra></extra>",
        "veil": np.round(weights[..., 0].T, 3),
    }


def _block_cells(
    trace: Trace, experts: np.ndarray, weights: np.ndarray | None, mode: str, h: int | None, n: int
) -> dict[str, Any]:
    """One column per block of n tokens, aggregated (see routing_map)."""
    T, L, _ = experts.shape
    starts = block_starts(T, n)
    ends = np.r_[starts[1:], T]
    # the first token only: this text is repeated in every layer's cell and dominates the JSON
    texts = [
        f"tokens {s}–{e - 1}: {token_label(trace.token_strings[s], 10)}…" for s, e in zip(starts, ends, strict=True)
    ]
    if weights is None:  # a served trace: how often chosen, or the most frequent top-1
        return _block_cells_unweighted(trace, experts, mode, h, n, starts, ends, texts)
    mean_w1 = block_mean(weights[..., 0], n).T  # (L', B)
    if mode == "highlight":
        share = block_mean((experts == h).any(-1), n).T  # (L', B)
        z = block_mean((weights * (experts == h)).sum(-1), n).T  # (L', B)
        customdata = np.stack([np.rint(share * 100), np.rint(z * 100)], axis=-1)  # (L', B, 2)
        hover = f"chosen on %{{customdata[0]}}% of them, mean weight of expert {h}: %{{customdata[1]}}%"
    else:
        top, count = block_mode(experts[..., 0], n, trace.n_experts)  # (B, L') each
        z = top.T.astype(np.int16) if mode == "expert" else mean_w1
        customdata = np.stack([top.T, count.T, np.rint(mean_w1 * 100)], axis=-1)  # (L', B, 3)
        hover = "top-1 expert <b>%{customdata[0]}</b> on %{customdata[1]} of them, mean top-1 weight %{customdata[2]}%"
    return {
        "z": np.round(z, 3).astype(np.float32) if z.dtype.kind == "f" else z,
        "x": (starts + ends - 1) / 2,  # block centres, so shapes drawn in token positions line up
        "customdata": customdata.astype(np.uint16),
        "text": [texts] * L,
        "hovertemplate": f"%{{text}}<br>layer %{{y}}<br>{hover}<extra></extra>",
        "veil": np.round(mean_w1, 3).astype(np.float32),
    }


def _block_cells_unweighted(
    trace: Trace,
    experts: np.ndarray,
    mode: str,
    h: int | None,
    n: int,
    starts: np.ndarray,
    ends: np.ndarray,
    texts: list[str],
) -> dict[str, Any]:
    L = experts.shape[1]
    if mode == "highlight":
        z = block_mean((experts == h).any(-1), n).T.astype(np.float32)  # (L', B)
        customdata = np.rint(z * 100)[..., None]
        hover = f"expert {h} chosen on %{{customdata[0]}}% of them"
    else:
        top, count = block_mode(experts[..., 0], n, trace.n_experts)  # (B, L') each
        z, customdata = top.T.astype(np.int16), np.stack([top.T, count.T], axis=-1)
        hover = "top-1 expert <b>%{customdata[0]}</b> on %{customdata[1]} of them"
    return {
        "z": np.round(z, 3) if z.dtype.kind == "f" else z,
        "x": (starts + ends - 1) / 2,
        "customdata": customdata.astype(np.uint16),
        "text": [texts] * L,
        "hovertemplate": f"%{{text}}<br>layer %{{y}}<br>{hover}<extra></extra>",
    }


def _map_colors(mode: str, E: int, k: int, h: int | None, weighted: bool = True) -> dict[str, Any]:
    if mode == "expert":
        import plotly.colors

        palette = plotly.colors.qualitative.Plotly if E <= 10 else plotly.colors.qualitative.Dark24
        return {
            "colorscale": stepped_colorscale(palette[:E]),
            "zmin": -0.5,
            "zmax": E - 0.5,
            "colorbar": {"title": {"text": "top-1<br>expert"}, **integer_ticks(E, MAX_EXPERT_COLORS)},
        }
    if mode == "weight":
        lowest = 1 / k if k > 1 else 0.0  # a top-1 weight is never below 1/k
        return {"colorscale": "Blues", "zmin": lowest, "zmax": 1.0, "colorbar": {"title": {"text": "top-1<br>weight"}}}
    if not weighted:
        chosen = {"title": {"text": f"expert {h}<br>chosen"}}
        return {"colorscale": "Reds", "zmin": 0.0, "zmax": 1.0, "colorbar": chosen}
    return {"colorscale": "Reds", "zmin": 0.0, "colorbar": {"title": {"text": f"weight of<br>expert {h}"}}}


# -- expert_load


def expert_load(
    trace: Trace,
    *,
    layers: int | Sequence[int] | None = None,
    title: str | None = None,
    height: int | None = None,
    width: int | None = None,
    template: Any = None,
) -> Any:
    """How evenly tokens spread over experts: one heatmap (layers x experts) per token group.

    Share of token-slots: each token fills k slots per layer, so expert e's share in a layer is
    ``tokens choosing e / (tokens * k)``; a row sums to 1 and uniform routing gives 1/E. The colour
    scale is centred on 1/E (white): red experts are overloaded, blue ones underused. Groups, in
    ``fig.data`` order: prompt, analysis, commentary, final, other (those that have tokens).
    """
    go = require_plotly()
    layers = check_layers(trace, layers)
    E, k = trace.n_experts, trace.top_k
    shares, sizes = _load_shares(trace, layers)
    titles = [f"<span style='color:{GROUP_COLORS[g]}'>■</span> {g} ({sizes[g]} tokens)" for g in shares]
    fig = make_subplots(rows=1, cols=len(shares), shared_yaxes=True, horizontal_spacing=0.03, subplot_titles=titles)
    for col, (group, share) in enumerate(shares.items(), start=1):
        heat = go.Heatmap(
            z=np.round(share, 4).astype(np.float32),
            x=np.arange(E),
            y=layers,
            customdata=np.round(share * E, 2).astype(np.float32),
            coloraxis="coloraxis",
            name=group,
            hovertemplate=f"{group}<br>layer %{{y}}, expert %{{x}}<br>"
            "share %{z:.1%} (%{customdata:.2f}× uniform)<extra></extra>",
        )
        fig.add_trace(heat, row=1, col=col)
    if len(layers) * E <= 160:  # few enough cells to print the percentages in them
        fig.update_traces(texttemplate="%{z:.0%}", textfont={"size": 10})
    top = max(2 / E, max(float(s.max()) for s in shares.values()))  # at least 2/E, so white sits mid-scale or lower
    colorbar = {
        "title": {"text": "share of<br>token-slots"},
        "tickvals": [0.0, 1 / E, top],
        "ticktext": ["0", f"1/E = {1 / E:.1%}", f"{top:.1%}"],
    }
    scale = diverging_colorscale((1 / E) / top)
    fig.update_layout(coloraxis={"colorscale": scale, "cmin": 0.0, "cmax": top, "colorbar": colorbar})
    fig.update_xaxes(title_text="expert", showgrid=False, **integer_ticks(E, max(8, 32 // len(shares))))
    fig.update_yaxes(type="category", showgrid=False)
    fig.update_yaxes(title_text="MoE layer", row=1, col=1)
    notes = [f"white = uniform 1/{E} = {1 / E:.1%}, red = overloaded, blue = underused; top-{k}: k slots per token"]
    default = "Expert load by channel: share of token-slots per expert"
    return finish(fig, default_title=default, notes=notes, title=title, height=height, width=width, template=template)


def _load_shares(trace: Trace, layers: list[int]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Per group with tokens: (L', E) share of token-slots, and the group's number of tokens."""
    E, k, L = trace.n_experts, trace.top_k, len(layers)
    groups = token_groups(trace)
    experts = trace.topk_experts[:, layers, :].astype(np.int64)  # (T, L', k)
    shares, sizes = {}, {}
    for group in GROUPS:
        chosen = experts[groups == group]  # (Tg, L', k)
        if len(chosen) == 0:
            continue
        slot = np.arange(L)[None, :, None] * E + chosen  # (Tg, L', k): flat index of (layer, expert)
        counts = np.bincount(slot.ravel(), minlength=L * E).reshape(L, E)
        shares[group], sizes[group] = counts / (len(chosen) * k), len(chosen)
    return shares, sizes


# -- coactivation


def coactivation(
    trace: Trace,
    layer: int,
    *,
    diagonal: bool = False,
    title: str | None = None,
    height: int | None = None,
    width: int | None = None,
    template: Any = None,
) -> Any:
    """E x E heatmap: the fraction of tokens for which experts i and j are both among the top-k in ``layer``.

    Symmetric. The diagonal would be how often i is chosen at all, which dwarfs every pair, so it is
    NaN (left blank) unless ``diagonal=True``; it is always in ``customdata[i, i, 0]`` and the tooltip.
    ``customdata[i, j]`` = (how often i is chosen, how often j is chosen).
    """
    go = require_plotly()
    layer = check_index("layer", layer, trace.n_layers, "an MoE layer number")
    T, E, k = trace.n_tokens, trace.n_experts, trace.top_k
    chosen = np.zeros((T, E), dtype=np.int32)  # (T, E): one-hot of the k chosen
    np.put_along_axis(chosen, trace.topk_experts[:, layer, :].astype(np.int64), 1, axis=1)
    together = (chosen.T @ chosen) / max(T, 1)  # (E, E)
    rate = np.diag(together).copy()  # (E,)
    z = np.round(together, 4).astype(np.float32)
    if not diagonal:
        np.fill_diagonal(z, np.nan)
    customdata = np.stack(np.broadcast_arrays(rate[:, None], rate[None, :]), axis=-1)  # (E, E, 2)
    hover = (
        "experts %{y} and %{x} together on %{z:.1%} of tokens<br>"
        "expert %{y} chosen on %{customdata[0]:.1%}, expert %{x} on %{customdata[1]:.1%}<extra></extra>"
    )
    heat = go.Heatmap(
        z=z,
        x=np.arange(E),
        y=np.arange(E),
        customdata=np.round(customdata, 4).astype(np.float32),
        colorscale="Viridis",
        zmin=0.0,
        name="together",
        colorbar={"title": {"text": "share of<br>tokens"}},
        hovertemplate=hover,
    )
    fig = new_figure(heat)
    ticks = integer_ticks(E, 16)  # a square figure: as many labels fit across as down
    fig.update_xaxes(title_text="expert", constrain="domain", showgrid=False, **ticks)
    fig.update_yaxes(title_text="expert", scaleanchor="x", constrain="domain", showgrid=False, **ticks)
    chance = k * (k - 1) / (E * (E - 1)) if E > 1 else 0.0
    notes = [
        f"{T} tokens, top-{k} of {E}; routing uniformly at random would put {chance:.1%} on each pair",
        "diagonal: how often each expert is chosen" if diagonal else "diagonal left blank (its rate is in the tooltip)",
    ]
    kind = trace.layer_types[layer].replace("_attention", "")
    default = f"Experts chosen together in layer {layer} ({kind} attention)"
    return finish(fig, default_title=default, notes=notes, title=title, height=height, width=width, template=template)


# -- routing_stats


def chance_of_sharing(n_experts: int, k: int) -> float:
    """P(two independent uniform top-k sets of E experts share at least one): 1 - C(E-k, k) / C(E, k)."""
    return 1 - math.comb(n_experts - k, k) / math.comb(n_experts, k)


def routing_stats(
    trace: Trace,
    *,
    layers: int | Sequence[int] | None = None,
    max_tokens: int = 4096,
    title: str | None = None,
    height: int | None = None,
    width: int | None = None,
    template: Any = None,
) -> Any:
    """Two panels: how sure the router is, and how often neighbouring tokens share experts.

    (a) ``name="entropy"``: router entropy over all E experts in bits, mean over ``layers``, per token
        (block means beyond ``max_tokens``), against ``log2 E`` (a router with no preference, trace
        named "max...") and ``log2 k`` (k experts equally likely and no other).
    (b) ``name="consecutive"``: per layer, the share of consecutive token pairs (t, t+1) whose top-k
        sets share at least one expert, against chance (trace named "chance..."):
        ``1 - C(E-k, k) / C(E, k)``, the rate for two independent uniformly random top-k sets.
    """
    go = require_plotly()
    layers = check_layers(trace, layers)
    T, E, k = trace.n_tokens, trace.n_experts, trace.top_k
    fig = make_subplots(
        rows=2,
        cols=1,
        vertical_spacing=0.16,
        subplot_titles=[
            f"Router entropy over all {E} experts, mean over {len(layers)} layers",
            "Consecutive tokens sharing at least one expert",
        ],
    )
    n = _entropy_panel(fig, trace, layers, max_tokens)
    experts = trace.topk_experts[:, layers, :]  # (T, L', k)
    same = experts[:-1, :, :, None] == experts[1:, :, None, :]  # (T-1, L', k, k)
    shared = same.any(axis=(-1, -2)).mean(0) if T > 1 else np.full(len(layers), np.nan)  # (L',)
    kinds = [trace.layer_types[layer].replace("_attention", "") for layer in layers]
    bars = go.Bar(
        x=[str(layer) for layer in layers],
        y=np.round(shared, 4),
        customdata=kinds,
        name="consecutive tokens sharing an expert",
        marker_color="#636efa",
        hovertemplate="layer %{x} (%{customdata}): %{y:.1%} of pairs<extra></extra>",
    )
    fig.add_trace(bars, row=2, col=1)
    chance = chance_of_sharing(E, k)
    label = f"chance = 1 − C({E}−{k},{k})/C({E},{k}) = {chance:.2f}"
    fig.add_trace(_hline([str(layers[0]), str(layers[-1])], chance, label, "dash"), row=2, col=1)
    fig.update_xaxes(title_text="MoE layer", type="category", row=2, col=1)
    fig.update_yaxes(title_text="share of pairs", range=[0, 1], row=2, col=1)
    fig.update_layout(height=650, margin={"b": 120}, legend={"orientation": "h", "y": -0.14, "yanchor": "top"})
    notes = [channel_key(list(token_groups(trace)), GROUP_COLORS, "shading in the top panel, by token group")]
    if n > 1:
        notes.append(f"entropy: {T} tokens in blocks of {n} tokens (mean); max_tokens={max_tokens}")
    default = f"Router confidence and stickiness (top-{k} of {E})"
    return finish(fig, default_title=default, notes=notes, title=title, height=height, width=width, template=template)


def _entropy_panel(fig: Any, trace: Trace, layers: list[int], max_tokens: int) -> int:
    """Panel (a) of routing_stats, with channel regions shaded behind; returns the block size used."""
    go = require_plotly()
    T, E, k = trace.n_tokens, trace.n_experts, trace.top_k
    p = trace.router_probs()[:, layers, :]  # (T, L', E)
    entropy = -(p * np.log2(np.maximum(p, 1e-12))).sum(-1).mean(-1)  # (T,)
    n = block_size(T, max_tokens)
    if n == 1:
        x, y = np.arange(T), entropy
        text = [f"{token_label(s)} · {src}" for s, src in zip(trace.token_strings, trace.sources, strict=True)]
    else:
        starts = block_starts(T, n)
        x, y = (starts + np.r_[starts[1:], T] - 1) / 2, block_mean(entropy, n)
        text = [f"tokens {s}–{min(s + n, T) - 1}" for s in starts]
    line = go.Scatter(
        x=x,
        y=np.round(y, 3).astype(np.float32),
        text=text,
        mode="lines",
        name="entropy",
        line={"color": ink(), "width": 1},
        hovertemplate="token %{x}: %{text}<br>entropy %{y:.2f} bits<extra></extra>",
    )
    fig.add_trace(line, row=1, col=1)
    fig.add_trace(_hline([-0.5, T - 0.5], math.log2(E), f"max: log₂ {E} = {math.log2(E):.2g} bits", "dash"), 1, 1)
    fig.add_trace(_hline([-0.5, T - 0.5], math.log2(k), f"k equal: log₂ {k} = {math.log2(k):.2g} bits", "dot"), 1, 1)
    for start, end, group in runs(list(token_groups(trace))):
        shade = {"fillcolor": GROUP_COLORS[group], "opacity": 0.12, "line_width": 0, "layer": "below"}
        fig.add_vrect(x0=start - 0.5, x1=end - 0.5, row=1, col=1, **shade)
    fig.update_xaxes(title_text="token position", row=1, col=1, **position_ticks(T))
    fig.update_yaxes(title_text="bits", rangemode="tozero", row=1, col=1)
    return n


def _hline(x: list[Any], y: float, name: str, dash: str) -> Any:
    """A reference line as a trace, so it is named in the legend and its value is in ``fig.data``."""
    go = require_plotly()
    style = {"color": "#d62728", "dash": dash, "width": 1.5}
    return go.Scatter(x=x, y=[y, y], mode="lines", name=name, line=style, hovertemplate=f"{name}<extra></extra>")


# -- token_path


def token_path(
    trace: Trace,
    t: int,
    *,
    show_probs: bool = True,
    title: str | None = None,
    height: int | None = None,
    width: int | None = None,
    template: Any = None,
) -> Any:
    """One token's k experts and their weights through every layer.

    Traces by name: ``"router probability"`` (heatmap, experts x layers, softmax over all E; only with
    ``show_probs``), ``"top-1 path"`` (line through the best expert of each layer) and ``"chosen"``
    (markers: ``x`` = layer repeated k times, ``y`` = ``topk_experts[t].ravel()``, size and colour = weight).
    """
    go = require_plotly()
    t = check_index("t", t, trace.n_tokens, "a token position")
    L, E, k = trace.n_layers, trace.n_experts, trace.top_k
    experts = trace.topk_experts[t].astype(np.int64)  # (L, k)
    weighted = trace.weighted  # a served trace: the experts alone, no weights or router probabilities
    weights = trace.topk_weights[t].astype(np.float32).ravel() if weighted else None  # (L * k,)
    show_probs = show_probs and weighted
    fig = new_figure()
    if show_probs:
        z = trace.routing_logits[t].astype(np.float32)  # (L, E): this token's softmax, not the whole trace's
        p = np.exp(z - z.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        probs = go.Heatmap(z=np.round(p.T, 3), x=np.arange(L), y=np.arange(E), colorscale="Greys", zmin=0, zmax=1)
        hover = "layer %{x}, expert %{y}: router probability %{z:.1%}<extra></extra>"
        fig.add_trace(probs.update(showscale=False, opacity=0.5, name="router probability", hovertemplate=hover))
    path = go.Scatter(x=np.arange(L), y=experts[:, 0], mode="lines", name="top-1 path", line={"color": "#888"})
    fig.add_trace(path)
    marker: dict[str, Any] = {"size": 14, "color": "#21918c", "line": {"color": "white", "width": 1}}
    hover = "layer %{x}: expert %{y} (rank %{customdata})<extra></extra>"
    if weights is not None:
        marker |= {"size": np.round(6 + 30 * weights, 1), "color": np.round(weights, 3), "colorscale": "Viridis"}
        marker |= {"cmin": 0.0, "cmax": 1.0, "colorbar": {"title": {"text": "weight"}}}
        hover = "layer %{x}: expert %{y} (rank %{customdata}), weight %{marker.color:.0%}<extra></extra>"
    x, ranks = np.repeat(np.arange(L), k), np.tile(np.arange(k), L)
    chosen = go.Scatter(x=x, y=experts.ravel(), mode="markers", name="chosen", customdata=ranks, marker=marker)
    fig.add_trace(chosen.update(hovertemplate=hover))
    fig.update_xaxes(title_text="MoE layer", range=[-0.5, L - 0.5], dtick=1 if L <= 36 else None, showgrid=False)
    fig.update_yaxes(title_text="expert", range=[-0.5, E - 0.5], showgrid=False, **integer_ticks(E, 16))
    fig.update_layout(showlegend=False)
    where = "prompt" if t < trace.n_prompt else "completion"
    default = f"Token {t} {token_label(trace.token_strings[t], 40)} ({where}, {trace.sources[t]}): its top-{k} of {E}"
    note = "marker size and colour = mixing weight; line = top-1 path" + ("; grey = router probability" * show_probs)
    if not weighted:
        note = f"line = top-1 path; {_NO_WEIGHTS}"
    return finish(fig, default_title=default, notes=[note], title=title, height=height, width=width, template=template)
