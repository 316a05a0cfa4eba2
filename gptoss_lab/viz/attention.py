"""Attention figures: gpt-oss's learned sinks and sliding windows, made visible.

**What a sink is.** Every attention head of gpt-oss has one learned scalar, its *sink logit*, that joins
the softmax next to the query's scores against the keys. Whatever probability it takes is attention paid
to nothing: a learned "none of the above". The sink has no value vector, so its share simply disappears
from the head's output (the head's output shrinks towards zero). Eager attention drops the sink column
after the softmax, so the key weights of a query sum to ``1 - p_sink``: the sink's probability is
``1 - row sum``.

**How it differs from StreamingLLM's sinks.** StreamingLLM (Xiao et al., 2023) keeps the *first tokens*
of the sequence in the cache as sink positions: real tokens whose keys and values the model learned to
dump attention on. gpt-oss has no sink token: a learned logit per head, no key, no value, no position;
nothing is read from it. A head that has nothing useful to read can put most of its mass on the sink
and contribute almost nothing, instead of smearing attention over the first token.

**Why sliding layers see only the last ``window`` tokens.** Layers alternate: even layers (0, 2, ...)
attend within a band of the last ``window`` tokens (128 for gpt-oss-20b/120b and for nano), key in
``(q - window, q]``; odd layers attend to every earlier token. This halves the attention cost and the KV
cache of the sliding layers (they keep ``window`` keys, not ``T``), while the full layers keep long range.

Inputs are a :class:`~gptoss_lab.trace.Trace` (``sink_mass`` / ``attention_entropy`` summaries, (T, L, H),
captured during generation) or an ``AttentionWeights`` from :mod:`gptoss_lab.attention` (one layer's exact
weights recomputed on demand, with the sink as an explicit array). Every function returns a
``plotly.graph_objects.Figure`` (never shown) and takes ``title``, ``height``, ``width``, ``template``.
Data lives in ``fig.data``: heatmaps and lines found by ``name`` (``"weights"``, ``"sink"``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._common import (
    SOURCE_COLORS,
    add_key,
    add_shapes,
    block_mean,
    block_size,
    block_starts,
    channel_key,
    check_index,
    finish,
    make_subplots,
    new_figure,
    position_ticks,
    require_plotly,
    runs,
    source_band,
    token_label,
)
from ._theme import ink

if TYPE_CHECKING:
    from ..trace import Trace

__all__ = ["attention_map", "head_view", "sink_grid", "sink_profile"]

NO_SUMMARIES = (
    "this trace has no attention summaries: capture with attention on "
    "(Lab.ask(..., capture=True) on a local model with eager attention)"
)


def _sqrt_scale(name: str, stops: int = 21) -> list[list[Any]]:
    """Plotly's ``name`` scale with colour at the square root of the value: a weight of 1% of the
    scale's top is drawn at 10% of its colour range, not at 1% (which is white), so the small
    weights of a diffuse head, and every weight beside a heavy sink, stay visible."""
    import plotly.colors

    where = [i / (stops - 1) for i in range(stops)]
    return [[f, c] for f, c in zip(where, plotly.colors.sample_colorscale(name, [f**0.5 for f in where]), strict=True)]


_COLORS = "Blues"  # drawn through _sqrt_scale
_COLORBAR_NOTE = "colour ∝ √probability: small weights stay visible"
_SINK_COLOR = "#d62728"


# -- attention_map


def attention_map(
    aw: Any,
    head: int | None = None,
    *,
    max_cells: int = 800,
    zmax: float | None = None,
    title: str | None = None,
    height: int | None = None,
    width: int | None = None,
    template: Any = None,
) -> Any:
    """One head's attention pattern: queries (rows) by keys (columns), and the sink as its own column.

    ``aw`` is an ``AttentionWeights`` (see :mod:`gptoss_lab.attention`); ``head`` one of ``aw.heads``
    (default the first). Traces: ``"sink"`` (left, one column, ``z`` = the sink's probability per query)
    and ``"weights"`` (``z`` = the weight of each key, 0 for future keys and keys outside the window).
    Both share one colour scale (0..``zmax``, default the largest value shown): a probability looks the
    same whether it goes to a token or to the sink; pass ``zmax=0.1`` to see diffuse heads.

    On sliding layers two path shapes (``name`` "window lower edge" / "window upper edge") trace the band
    a query may read, key in ``(q - window, q]``. Strips above and right of the map show each key's and
    query's source (prompt roles, channels). Axes are categories labelled "position 'token'", so tooltips
    name the tokens; shapes use category indices.

    Beyond ``max_cells`` rows or columns, the map is max-pooled over blocks (the largest weight in each
    block: a sharp head stays visible) and the sink column is the mean over each block of queries; the
    subtitle says so and how to recompute a window in full.
    """
    go = require_plotly()
    hi = _head_index(aw, head)
    head = aw.heads[hi]
    queries, keys = np.asarray(aw.queries, dtype=np.int64), np.asarray(aw.keys, dtype=np.int64)
    weights = np.asarray(aw.weights[hi], dtype=np.float32)  # (Q, K)
    sink = np.asarray(aw.sink[hi], dtype=np.float32)  # (Q,)
    if max_cells < 1:
        raise ValueError(f"max_cells must be at least 1; got {max_cells}")
    bq, bk = block_size(len(queries), max_cells), block_size(len(keys), max_cells)
    if bq > 1 or bk > 1:
        weights = _max_pool(weights, bq, bk)  # (Q', K')
        sink = block_mean(sink, bq).astype(np.float32)  # (Q',)
    ylabels = _labels(queries, aw.token_strings, bq)
    xlabels = _labels(keys, aw.token_strings, bk)
    top = float(max(weights.max(initial=0.0), sink.max(initial=0.0))) if zmax is None else float(zmax)

    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.04, 0.96], horizontal_spacing=0.01)
    what = "max weight in block" if bq * bk > 1 else "weight"
    fig.add_trace(
        go.Heatmap(
            z=sink[:, None],
            x=["sink"],
            y=ylabels,
            coloraxis="coloraxis",
            name="sink",
            hovertemplate="query %{y}<br><b>sink</b>: %{z:.4f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Heatmap(
            z=weights,
            x=xlabels,
            y=ylabels,
            coloraxis="coloraxis",
            name="weights",
            hovertemplate=f"query %{{y}}<br>key %{{x}}<br>{what}: %{{z:.4f}}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    if aw.window is not None:
        for name, path in _band_paths(queries, keys, int(aw.window), bq, bk).items():
            line = {"color": _SINK_COLOR, "width": 1, "dash": "dot"}
            fig.add_shape(type="path", path=path, xref="x2", yref="y2", line=line, name=name)
    _source_strips(fig, aw.sources, keys, queries, bk, bq)
    colorbar = {"title": {"text": "probability"}, "x": 1.05}
    scale = _sqrt_scale(_COLORS)
    fig.update_layout(coloraxis={"colorscale": scale, "cmin": 0.0, "cmax": top or 1.0, "colorbar": colorbar})
    fig.update_xaxes(type="category", showgrid=False, tickangle=0, row=1, col=1)
    fig.update_xaxes(type="category", showgrid=False, title_text="key (token read)", row=1, col=2, **_ticks(xlabels))
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    fig.update_yaxes(title_text="query (token reading)", row=1, col=1, **_ticks(ylabels))
    fig.update_layout(margin={"t": 110})
    if height is None:  # a row per query needs room: plotly's 450 px leaves ~100 px under 240 tokens' labels
        height = int(min(1100, max(520, 260 + 3 * len(ylabels))))

    kind = f"sliding window {aw.window}" if aw.window is not None else "full attention"
    default = f"Layer {aw.layer} ({kind}), head {head}: where each query attends, and its sink"
    notes = ["sink = probability given to the head's learned 'none of the above' (1 − row sum)", _COLORBAR_NOTE]
    if aw.window is not None:
        notes.append(f"dotted: the window, key in (q − {aw.window}, q]")
    if bq * bk > 1:
        a, b = int(queries[0]), int(queries[min(len(queries), max_cells) - 1]) + 1
        notes.append(f"showing max over blocks of {bq} x {bk} (sink: mean per block)")
        notes.append(f"to see a window whole, recompute it: attention(..., queries=range({a}, {b}))")
    return finish(fig, default_title=default, notes=notes, title=title, height=height, width=width, template=template)


def _head_index(aw: Any, head: int | None) -> int:
    heads = [int(h) for h in aw.heads]
    if head is None:
        return 0
    if head not in heads:
        raise ValueError(
            f"head {head!r} is not in these attention weights (heads {heads}): "
            f"pick one of them, or recompute with attention(..., heads=[{head}])"
        )
    return heads.index(int(head))


def _max_pool(w: np.ndarray, bq: int, bk: int) -> np.ndarray:
    """(Q, K) -> (ceil(Q/bq), ceil(K/bk)): the largest value per block (weights are >= 0, so pad with 0)."""
    Q, K = w.shape
    nq, nk = -(-Q // bq), -(-K // bk)
    padded = np.zeros((nq * bq, nk * bk), dtype=w.dtype)
    padded[:Q, :K] = w
    return padded.reshape(nq, bq, nk, bk).max(axis=(1, 3))  # (Q', K')


def _labels(positions: np.ndarray, strings: Sequence[str], n: int) -> list[str]:
    """Unique category labels, "position 'token'" (or "first–last 'token'…" for blocks of n)."""
    if n == 1:
        return [f"{p} {token_label(strings[p], 16)}" for p in positions]
    starts = block_starts(len(positions), n)
    ends = np.r_[starts[1:], len(positions)] - 1
    return [
        f"{positions[s]}–{positions[e]} {token_label(strings[positions[s]], 10)}…"
        for s, e in zip(starts, ends, strict=True)
    ]


_MAX_TICKS = 40


def _ticks(labels: Sequence[str]) -> dict[str, Any]:
    """Axis keywords: every label when few; past ``_MAX_TICKS``, every k-th category labelled by its
    position alone, so tick text does not eat the plot (the tooltips still name each token)."""
    if len(labels) <= _MAX_TICKS:
        return {}
    step = -(-len(labels) // _MAX_TICKS)
    shown = list(labels[::step])
    return {"tickmode": "array", "tickvals": shown, "ticktext": [label.split(" ", 1)[0] for label in shown]}


def _band_paths(queries: np.ndarray, keys: np.ndarray, window: int, bq: int, bk: int) -> dict[str, str]:
    """SVG paths (category-index coordinates) of the window's edges: key in (q - window, q].

    Row of query index i spans y in [i/bq - 0.5, (i+1)/bq - 0.5]; the edge between key index j-1 and j
    is at x = j/bk - 0.5. Each edge is a staircase, drawn only where it lies inside the shown keys.
    """
    edges = {
        "window lower edge": np.searchsorted(keys, queries - window, side="right"),  # first key inside
        "window upper edge": np.searchsorted(keys, queries, side="right"),  # one past the last key inside
    }
    i = np.arange(len(queries))
    paths = {}
    for name, j in edges.items():
        inside = (j > 0) & (j < len(keys))
        if not inside.any():
            continue
        x = j[inside] / bk - 0.5
        y0, y1 = i[inside] / bq - 0.5, (i[inside] + 1) / bq - 0.5
        xs, ys = np.repeat(x, 2), np.stack([y0, y1], axis=1).ravel()  # two points per row
        keep = _corners(xs, ys)
        points = [f"{a:.6g},{b:.6g}" for a, b in zip(xs[keep], ys[keep], strict=True)]
        paths[name] = "M" + "L".join(points)
    return paths


def _corners(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points to keep: drop those in the middle of a straight run (same direction)."""
    if len(x) <= 2:
        return np.arange(len(x))
    dx, dy = np.diff(x), np.diff(y)
    turn = ~np.isclose(dx[1:] * dy[:-1], dx[:-1] * dy[1:]) | (dx[1:] * dx[:-1] + dy[1:] * dy[:-1] < 0)
    return np.r_[0, np.flatnonzero(turn) + 1, len(x) - 1]


def _source_strips(fig: Any, sources: Sequence[str], keys: np.ndarray, queries: np.ndarray, bk: int, bq: int) -> None:
    """Strips of token sources above the map (keys) and right of it (queries), and a colour key."""
    src = np.asarray(sources, dtype=object)
    band = {"type": "rect", "line": {"width": 0}, "layer": "above"}
    above = {**band, "xref": "x2", "yref": "paper", "y0": 1.01, "y1": 1.035}
    shapes = [
        {**above, "x0": start / bk - 0.5, "x1": end / bk - 0.5, "fillcolor": SOURCE_COLORS[source]}
        for start, end, source in runs(list(src[keys]))
    ]
    right = {**band, "xref": "paper", "yref": "y2", "x0": 1.005, "x1": 1.02}
    shapes += [
        {**right, "y0": start / bq - 0.5, "y1": end / bq - 0.5, "fillcolor": SOURCE_COLORS[source]}
        for start, end, source in runs(list(src[queries]))
    ]
    add_shapes(fig, shapes)
    add_key(fig, channel_key(list(src[np.r_[keys, queries]]), SOURCE_COLORS, "strips above and right, by token source"))


# -- head_view


def head_view(
    aw: Any,
    query: int,
    *,
    title: str | None = None,
    height: int | None = None,
    width: int | None = None,
    template: Any = None,
) -> Any:
    """For one query token (absolute position, one of ``aw.queries``): which tokens each head reads.

    Heads (rows) by keys (columns): ``"weights"`` ``z[h]`` = ``aw.weights[h, qi]`` over the keys shown,
    and ``"sink"`` ``z[h, 0]`` = ``aw.sink[h, qi]``; a row of the two sums to 1. Keys shown: those the
    query may read (up to itself; on sliding layers only the last ``window``) and any with weight.
    """
    go = require_plotly()
    queries = np.asarray(aw.queries, dtype=np.int64)
    hits = np.flatnonzero(queries == query)
    if not isinstance(query, (int, np.integer)) or len(hits) == 0:
        shown = f"{queries[0]}..{queries[-1]}" if len(queries) else "none"
        raise ValueError(
            f"query must be an absolute token position among these weights' queries ({shown}); got {query!r}: "
            f"recompute with attention(..., queries=[{query}])"
        )
    qi = int(hits[0])
    keys = np.asarray(aw.keys, dtype=np.int64)
    weights = np.asarray(aw.weights, dtype=np.float32)[:, qi, :]  # (H', K)
    readable = keys <= query
    if aw.window is not None:
        readable &= keys > query - int(aw.window)
    shown = readable | (weights > 0).any(axis=0)  # (K,)
    weights, keys = weights[:, shown], keys[shown]
    sink = np.asarray(aw.sink, dtype=np.float32)[:, qi]  # (H',)
    heads = [f"head {h}" for h in aw.heads]
    xlabels = _labels(keys, aw.token_strings, 1)

    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.04, 0.96], horizontal_spacing=0.01)
    sink_heat = go.Heatmap(z=sink[:, None], x=["sink"], y=heads, coloraxis="coloraxis", name="sink")
    fig.add_trace(sink_heat.update(hovertemplate="%{y}<br><b>sink</b>: %{z:.4f}<extra></extra>"), row=1, col=1)
    heat = go.Heatmap(z=weights, x=xlabels, y=heads, coloraxis="coloraxis", name="weights")
    fig.add_trace(heat.update(hovertemplate="%{y}<br>reads key %{x}: %{z:.4f}<extra></extra>"), row=1, col=2)
    _source_strips_keys(fig, aw.sources, keys)
    top = float(max(weights.max(initial=0.0), sink.max(initial=0.0))) or 1.0
    colorbar = {"title": {"text": "probability"}}
    fig.update_layout(coloraxis={"colorscale": _sqrt_scale(_COLORS), "cmin": 0.0, "cmax": top, "colorbar": colorbar})
    fig.update_xaxes(type="category", showgrid=False)
    fig.update_xaxes(title_text="key (token read)", row=1, col=2, **_ticks(xlabels))
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    fig.update_layout(margin={"t": 110})
    if height is None:  # the title and notes take ~110 px; each head gets a row of 30 px, at least 160 px in all
        height = 110 + 70 + max(160, 30 * len(heads))
    kind = f"sliding window {aw.window}: the last {aw.window} tokens" if aw.window is not None else "full attention"
    label = token_label(aw.token_strings[query], 40)
    default = f"What token {query} {label} reads in layer {aw.layer} ({kind})"
    notes = ["each row (keys + sink) sums to 1; sink: the head's 'none of the above'", "colour ∝ √probability"]
    return finish(fig, default_title=default, notes=notes, title=title, height=height, width=width, template=template)


def _source_strips_keys(fig: Any, sources: Sequence[str], keys: np.ndarray) -> None:
    src = np.asarray(sources, dtype=object)[keys]
    band = {"type": "rect", "line": {"width": 0}, "xref": "x2", "yref": "paper", "y0": 1.01, "y1": 1.035}
    add_shapes(fig, [source_band(band, start, end, source) for start, end, source in runs(list(src))])
    add_key(fig, channel_key(list(src), SOURCE_COLORS, "strip above the map, by token source"))


# -- sink_grid


def sink_grid(
    trace: Trace,
    *,
    token: int | None = None,
    title: str | None = None,
    height: int | None = None,
    width: int | None = None,
    template: Any = None,
) -> Any:
    """Layers (rows) by heads (columns): how much each head gives to its learned sink.

    ``z[l, h]`` = ``sink_mass[:, l, h]`` averaged over all tokens, or ``sink_mass[token, l, h]`` with
    ``token=t``. Rows are labelled with the layer's attention kind (sliding / full); colour 0..1.
    Tooltips add the mean attention entropy (nats over keys + sink) when the trace has it.
    """
    go = require_plotly()
    sink = _summaries(trace)
    T, _, H = sink.shape
    if token is None:
        z = sink.astype(np.float32).mean(axis=0)  # (L, H)
    else:
        token = check_index("token", token, T, "a token position")
        z = sink[token].astype(np.float32)  # (L, H)
    top = float(z.max(initial=0.0))
    top = min(1.0, np.ceil(top * 20) / 20) if top > 0 else 1.0  # the largest value, up to the next 5%
    heat = go.Heatmap(
        z=np.round(z, 4).astype(np.float32),
        x=[f"head {h}" for h in range(H)],
        y=_layer_labels(trace),
        colorscale="Reds",
        zmin=0.0,
        zmax=top,
        name="sink mass",
        colorbar={"title": {"text": "sink<br>mass"}, "tickformat": ".0%"},
        texttemplate="%{z:.1%}",  # the number in every cell: a pale cell is read, not guessed
        hovertemplate="%{y}, %{x}<br>sink mass %{z:.1%}<extra></extra>",
    )
    if trace.attention_entropy is not None:
        ent = trace.attention_entropy.astype(np.float32)
        e = ent.mean(axis=0) if token is None else ent[token]  # (L, H)
        heat.update(
            customdata=np.round(e, 3).astype(np.float32),
            hovertemplate="%{y}, %{x}<br>sink mass %{z:.1%}<br>entropy %{customdata:.2f} nats<extra></extra>",
        )
    fig = new_figure(heat)
    fig.update_xaxes(title_text="head", showgrid=False, type="category")
    fig.update_yaxes(title_text="layer", type="category", autorange="reversed", showgrid=False)
    if token is None:
        default = f"Sink mass per head: mean over {T} tokens"
    else:
        where = "prompt" if token < trace.n_prompt else "completion"
        label = token_label(trace.token_strings[token], 40)
        default = f"Sink mass per head for token {token} {label} ({where}, {trace.sources[token]})"
    notes = [
        "share of each head's attention given to its learned sink ('none of the above'): 1 − key weights",
        f"colour 0 to {top:.0%}",
    ]
    return finish(fig, default_title=default, notes=notes, title=title, height=height, width=width, template=template)


def _summaries(trace: Trace) -> np.ndarray:
    if trace.sink_mass is None:
        raise ValueError(NO_SUMMARIES)
    return np.asarray(trace.sink_mass)  # (T, L, H)


def _layer_labels(trace: Trace) -> list[str]:
    window = trace.config.get("sliding_window")
    labels = []
    for layer, kind in enumerate(trace.layer_types):
        if kind == "sliding_attention":
            labels.append(f"{layer} sliding" + (f" {window}" if window else ""))
        else:
            labels.append(f"{layer} {kind.replace('_attention', '')}")
    return labels


# -- sink_profile


def sink_profile(
    trace: Trace,
    *,
    heads: Literal["mean"] | int | Sequence[int] = "mean",
    kind: Literal["lines", "heatmap"] = "lines",
    max_tokens: int = 4096,
    title: str | None = None,
    height: int | None = None,
    width: int | None = None,
    template: Any = None,
) -> Any:
    """Sink mass per token across layers: where the model parks attention.

    For each layer, the sink mass averaged over ``heads`` ("mean": all heads; or a head or a list of
    heads), per token. ``kind="lines"``: one line per layer (``name`` "layer l (sliding|full)", dotted
    for sliding layers) and a thick ``"mean over layers"`` line whose tooltip names the token; channel
    regions shaded behind. ``kind="heatmap"``: one ``"sink mass"`` heatmap, layers (rows) by tokens,
    with the channels as a strip above. Beyond ``max_tokens`` tokens, block means (the subtitle says so).
    """
    go = require_plotly()
    sink = _summaries(trace)
    T, _, H = sink.shape
    chosen = _check_heads(heads, H)
    per_layer = sink[:, :, chosen].astype(np.float32).mean(axis=-1)  # (T, L)
    n = block_size(T, max_tokens)
    if n == 1:
        x = np.arange(T)
        text = [f"{token_label(s)} · {src}" for s, src in zip(trace.token_strings, trace.sources, strict=True)]
    else:
        starts = block_starts(T, n)
        x = (starts + np.r_[starts[1:], T] - 1) / 2  # block centres, in token positions
        per_layer = block_mean(per_layer, n)  # (B, L)
        text = [f"tokens {s}–{min(s + n, T) - 1}: {token_label(trace.token_strings[s], 10)}…" for s in starts]
    y = np.round(per_layer, 4).astype(np.float32)  # (T', L)
    labels = _layer_labels(trace)
    fig = new_figure()
    if kind == "lines":
        _profile_lines(fig, trace, x, y, text, labels)
    elif kind == "heatmap":
        heat = go.Heatmap(z=y.T, x=x, y=labels, colorscale="Reds", zmin=0.0, zmax=1.0, name="sink mass")
        heat.update(colorbar={"title": {"text": "sink<br>mass"}}, hovertemplate="token %{x}, layer %{y}: %{z:.1%}")
        fig.add_trace(heat)
        band = {"type": "rect", "xref": "x", "yref": "paper", "y0": 1.01, "y1": 1.04, "line": {"width": 0}}
        add_shapes(fig, [source_band(band, start, end, source) for start, end, source in runs(trace.sources)])
        fig.update_yaxes(title_text="layer", type="category", autorange="reversed", showgrid=False)
    else:
        raise ValueError(f"kind must be 'lines' or 'heatmap'; got {kind!r}")
    fig.update_xaxes(title_text="token position", range=[-0.5, T - 0.5], showgrid=False, **position_ticks(T))
    fig.update_layout(margin={"t": 110})
    which = "mean over heads" if heads == "mean" else f"mean over heads {chosen}"
    default = f"Where the model parks attention: sink mass per token and layer ({which})"
    where = "shading" if kind == "lines" else "strip above the map"
    notes = [channel_key(trace.sources, SOURCE_COLORS, f"{where}, by token source")]
    if n > 1:
        notes.append(f"{T} tokens in blocks of {n} tokens (mean); max_tokens={max_tokens}")
    return finish(fig, default_title=default, notes=notes, title=title, height=height, width=width, template=template)


def _check_heads(heads: Any, H: int) -> list[int]:
    if isinstance(heads, str):
        if heads != "mean":
            raise ValueError(f"heads must be 'mean', a head number or a list of them; got {heads!r}")
        return list(range(H))
    chosen = [heads] if isinstance(heads, (int, np.integer)) else list(heads)
    bad = [h for h in chosen if not isinstance(h, (int, np.integer)) or not -H <= h < H]
    if not chosen or bad:
        raise ValueError(f"heads must be head numbers within 0..{H - 1} (this trace has {H}); got {heads!r}")
    return [int(h) % H for h in chosen]


def _profile_lines(fig: Any, trace: Trace, x: np.ndarray, y: np.ndarray, text: list[str], labels: list[str]) -> None:
    """One line per layer (colour by depth, dotted if sliding), the mean over layers, channels shaded."""
    go = require_plotly()
    import plotly.colors

    L = y.shape[1]
    colors = plotly.colors.sample_colorscale("Viridis", [i / max(L - 1, 1) for i in range(L)])
    for layer in range(L):
        dash = "dot" if trace.layer_types[layer] == "sliding_attention" else "solid"
        name = f"layer {labels[layer]}"
        line = go.Scatter(x=x, y=y[:, layer], mode="lines", name=name, line={"color": colors[layer], "dash": dash})
        fig.add_trace(line.update(line_width=1, hovertemplate=f"{name}: %{{y:.1%}}<extra></extra>"))
    mean = go.Scatter(x=x, y=np.round(y.mean(axis=1), 4).astype(np.float32), text=text, mode="lines")
    mean.update(name="mean over layers", line={"color": ink(), "width": 3})
    fig.add_trace(mean.update(hovertemplate="%{text}<br>mean over layers: %{y:.1%}<extra></extra>"))
    for start, end, source in runs(trace.sources):
        shade = {"fillcolor": SOURCE_COLORS[source], "opacity": 0.12, "line_width": 0, "layer": "below"}
        fig.add_vrect(x0=start - 0.5, x1=end - 0.5, **shade)
    fig.update_yaxes(title_text="sink mass", range=[0, 1.02])
    fig.update_layout(hovermode="x unified")
