"""The logit lens as a figure: at which layer does the model know what comes next?

Tokens (x) by decoder layer (y); each cell is the top-1 prediction read from the residual stream
after that layer (:mod:`gptoss_lab.lens`), coloured by its probability and labelled with its text;
a triangle marks, in each column, the layer from which on the top-1 is the token that actually came
next ("known from layer l"). The tooltip lists the top-K with their probabilities.

Data lives in ``fig.data`` for tests: the heatmap ``name="prediction"`` (``z`` probabilities, ``text`` the
predicted tokens, ``customdata`` the tooltips) and the markers ``name="known from"`` (``x`` positions,
``y`` layers).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from ._common import add_channel_ribbon, finish, new_figure, require_plotly, token_label

__all__ = ["logit_lens"]

#: Above this many columns a cell is too narrow for its token: the text stays in the tooltip only.
MAX_LABELLED = 120
_MAX_TICKS = 60
_CELL_CHARS = 6
_KNOWN = {"symbol": "triangle-up", "size": 8, "color": "#d62728", "line": {"color": "white", "width": 1}}


def logit_lens(
    source: Any,
    *,
    tokens: range | slice | None = None,
    max_tokens: int = 48,
    title: str | None = None,
    height: int | None = None,
    width: int | None = None,
    template: Any = None,
) -> Any:
    """Heatmap of positions (x) by decoder layer (y): the top-1 next-token prediction and its probability.

    ``source``: a :class:`~gptoss_lab.lens.LogitLens` (recomputed with ``gptoss_lab.lens.logit_lens(lab,
    reply)``), a Trace that captured the lens, or a Reply whose trace did. ``tokens``: the positions
    to draw (a range or slice); by default all of them, or the last ``max_tokens`` (where the answer
    is), the subtitle saying so. x ticks are the tokens read; cells, the tokens predicted to follow,
    escaped, without quotes, a space shown as ␣ (the tooltip quotes them in full).
    """
    from ..lens import lens_of

    go = require_plotly()
    lens = lens_of(source)
    T, L, K = lens.shape
    window, note = _window(T, tokens, max_tokens)
    ids, probs = lens.ids[window], lens.probs[window].astype(np.float32)  # (W, L, K)
    x = np.arange(T)[window]  # (W,)
    labels = [[cell_label(lens.text(i)) for i in row] for row in ids[..., 0].T]  # (L, W)
    heat = go.Heatmap(
        z=np.round(probs[..., 0].T, 3),  # (L, W)
        x=x,
        y=np.arange(L),
        text=labels,
        customdata=_tooltips(lens, window),
        hovertemplate="%{customdata}<extra></extra>",
        colorscale="Blues",
        zmin=0.0,
        zmax=1.0,
        colorbar={"title": {"text": "probability"}},
        name="prediction",
    )
    if len(x) <= MAX_LABELLED:
        heat.update(texttemplate="%{text}", textfont={"size": 10 if len(x) <= 32 else 8})
    fig = new_figure(heat)
    known = lens.known_from()[window]  # (W,)
    at = known >= 0
    marks = go.Scatter(x=x[at], y=known[at] - 0.36, mode="markers", marker=_KNOWN, name="known from")
    fig.add_trace(marks.update(hoverinfo="skip", showlegend=False))
    add_channel_ribbon(fig, lens.sources[window], lens.n_prompt, int(x[0]) if len(x) else 0)
    step = -(-len(x) // _MAX_TICKS) or 1
    ticks = {"tickmode": "array", "tickvals": x[::step].tolist()}
    ticks["ticktext"] = [token_label(lens.token_strings[t], 10) for t in x[::step]]
    span = [x[0] - 0.5, x[-1] + 0.5] if len(x) else [-0.5, 0.5]
    fig.update_xaxes(title_text="token read (cells: the token predicted to follow it)", range=span, **ticks)
    fig.update_xaxes(showgrid=False, tickangle=-60 if len(x) > 20 else 0)
    layer_ticks = {"tickmode": "array", "tickvals": list(range(L)), "ticktext": [str(i) for i in range(L)]}
    fig.update_yaxes(title_text="after decoder layer", range=[-0.5, L - 0.5], showgrid=False, **layer_ticks)
    fig.update_layout(margin={"t": 110})
    mark = f"<span style='color:{_KNOWN['color']}'>▲</span> from this layer up, the top-1 is the token that came next"
    notes = [f"{mark}; the last layer is the model's own prediction", note]
    if len(x) > MAX_LABELLED:
        notes.append(f"too many columns to label ({len(x)}): tokens in the tooltip, or pass tokens=range(a, b)")
    default = f"Logit lens: the top-1 next token after each layer (top-{K} in the tooltip)"
    return finish(fig, default_title=default, notes=notes, title=title, height=height, width=width, template=template)


def _window(T: int, tokens: range | slice | None, max_tokens: int) -> tuple[slice, str]:
    """The positions to draw, as a slice, and a note when not all are drawn."""
    if tokens is None:
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1; got {max_tokens}")
        start = max(0, T - max_tokens)
        note = f"the last {T - start} of {T} tokens (max_tokens={max_tokens}; pass tokens=range(a, b))" if start else ""
        return slice(start, T), note
    chosen = range(T)[tokens] if isinstance(tokens, slice) else tokens
    if not isinstance(chosen, range) or chosen.step != 1 or not len(chosen) or not 0 <= chosen[0] <= chosen[-1] < T:
        raise ValueError(f"tokens must be a range of consecutive positions within 0..{T - 1}; got {tokens!r}")
    note = f"tokens {chosen[0]}–{chosen[-1]} of {T}" if len(chosen) < T else ""
    return slice(chosen[0], chosen[-1] + 1), note


def _tooltips(lens: Any, window: slice) -> list[list[str]]:
    """(L, W) tooltips: the token read, the top-K with probabilities, and the token that came next."""
    ids, probs = lens.ids[window], lens.probs[window]  # (W, L, K)
    known = lens.known_from()[window]  # (W,)
    W, L, _ = ids.shape
    rows: list[list[str]] = [[] for _ in range(L)]
    for w in range(W):
        t = (window.start or 0) + w
        read = f"position {t}, after {token_label(lens.token_strings[t], 24)} · {lens.sources[t]}"
        came = lens.next_ids[t]
        then = f"came next: {token_label(lens.text(came), 24)}" if came >= 0 else "came next: not known"
        if known[w] >= 0:
            then += f" (top-1 from layer {known[w]} on)"
        hits = ids[w, :, 0] == came  # (L,)
        for layer in range(L):
            top = "<br>".join(
                f"{r + 1}. {token_label(lens.text(i), 24)} {p:.1%}"
                for r, (i, p) in enumerate(zip(ids[w, layer], probs[w, layer], strict=True))
            )
            hit = " ✓ top-1" if hits[layer] else ""
            rows[layer].append(f"{read}<br>layer {layer} ({_kind(lens, layer)})<br>{top}<br>{then}{hit}")
    return rows


def cell_label(s: str) -> str:
    """A predicted token in a narrow cell: its repr without the quotes (controls, bidi marks and newlines as
    escapes), a space as ␣, at most a few characters, HTML-escaped."""
    shown = repr(s)[1:-1].replace(" ", "␣")
    if len(shown) > _CELL_CHARS:
        shown = shown[: _CELL_CHARS - 1] + "…"
    return html.escape(shown, quote=False)


def _kind(lens: Any, layer: int) -> str:
    kinds = lens.layer_types
    return kinds[layer].replace("_attention", " attention") if layer < len(kinds) else "attention"
