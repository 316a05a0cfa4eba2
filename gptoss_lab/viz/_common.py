"""What every viz figure shares: the plotly import, the common keywords, channel colours, downsampling.

Figures are pure functions ``Trace -> plotly.graph_objects.Figure``; none of them shows the figure.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MissingPackageError
from ._theme import ink

if TYPE_CHECKING:
    from ..trace import Trace

PIP_HINT = "pip install 'gptoss-lab[viz]'"

#: One colour per token source (see ``trace.SOURCES``); prompt roles in cool colours, the assistant's
#: channels in warm ones, so reasoning and answer stand apart from what the user wrote.
SOURCE_COLORS = {
    "system": "#7f7f7f",
    "developer": "#8c6d31",
    "user": "#1f77b4",
    "tool": "#17becf",
    "header": "#c7c7c7",
    "analysis": "#ff7f0e",
    "commentary": "#9467bd",
    "final": "#2ca02c",
}
#: Token groups used for statistics: every prompt token is "prompt" whatever its role; completion tokens
#: by channel; "other" catches completion tokens outside a channel (an unfinished header).
GROUPS = ("prompt", "analysis", "commentary", "final", "other")
GROUP_COLORS = {"prompt": "#1f77b4", "analysis": "#ff7f0e", "commentary": "#9467bd", "final": "#2ca02c"}
GROUP_COLORS["other"] = "#c7c7c7"


def require_plotly() -> Any:
    """``plotly.graph_objects``, or an ImportError that says what to install."""
    try:
        import plotly.graph_objects as go
    except ImportError as err:
        raise MissingPackageError(f"gptoss_lab.viz draws with plotly, which is not installed: {PIP_HINT}") from err
    return go


def new_figure(*traces: Any) -> Any:
    """An empty :class:`~gptoss_lab.viz._figure.Figure` (or one of ``traces``): a plotly Figure that shows
    without Plotly's logo or its share button, drawn for the page's theme (:mod:`._theme`)."""
    require_plotly()
    from ._figure import Figure

    return Figure(list(traces))


def make_subplots(**kwargs: Any) -> Any:
    require_plotly()
    from plotly.subplots import make_subplots as make

    return make(figure=new_figure(), **kwargs)


#: Where a colour key stands, in the plot's heights: on top of the source strips (which end at 1.035).
KEY_Y = 1.035
#: Characters of small type that fit on one line of a figure of plotly's default width.
NOTE_LINE_CHARS = 110
_NOTE_LINE_PX = 21  # a line of small type under the title, as Chromium draws it


def note_lines(notes: Sequence[str]) -> list[str]:
    """The notes as lines under the title: on one line joined by " · " when it fits, else one note a line."""
    joined = " · ".join(notes)
    plain = re.sub(r"<[^>]+>", "", joined)  # a key's coloured squares are markup, not width
    return ([joined] if len(plain) <= NOTE_LINE_CHARS else list(notes)) if notes else []


def finish(
    fig: Any,
    *,
    default_title: str,
    notes: Sequence[str] = (),
    title: str | None,
    height: int | None,
    width: int | None,
    template: Any,
) -> Any:
    """Apply the common keywords. Notes (downsampling, hints) always stay under the title, even a user's."""
    text = default_title if title is None else title
    lines = note_lines([n for n in notes if n])
    if lines:
        text += "<br><sup>" + "<br>".join(lines) + "</sup>"
    from ._figure import MODEBAR_REMOVE

    # the title block hangs from the top (plotly centres it in the margin, so extra lines ran into the plot),
    # with room under it for one line per note and the key just above the plot
    title_layout = {"text": text, "yref": "container", "y": 1, "yanchor": "top", "pad": {"t": 12}}
    layout: dict[str, Any] = {"title": title_layout, "modebar": {"remove": list(MODEBAR_REMOVE)}}
    keyed = any(a.name == "key" for a in fig.layout.annotations)
    tall = height or fig.layout.height or 450  # the key stands on the strips, KEY_Y of the plot's height up
    key_room = _NOTE_LINE_PX + 4 + (KEY_Y - 1) * tall if keyed else 0
    top = round(12 + 28 + _NOTE_LINE_PX * len(lines) + key_room + 8)
    if (fig.layout.margin.t or 0) < top:
        layout["margin"] = {"t": top}
    # only what was given, so a None never overrides plotly's defaults (template=None would drop the theme)
    for key, value in (("height", height), ("width", width), ("template", template)):
        if value is not None:
            layout[key] = value
    fig.update_layout(**layout)
    return fig


# -- checking arguments: the rule, the value, the fix


def check_layers(trace: Trace, layers: int | Sequence[int] | None) -> list[int]:
    L = trace.n_layers
    if layers is None:
        return list(range(L))
    chosen = [layers] if isinstance(layers, (int, np.integer)) else list(layers)
    bad = [x for x in chosen if not -L <= int(x) < L]
    if not chosen or bad:
        raise ValueError(f"layers must be MoE layer numbers within 0..{L - 1} (this trace has {L}); got {layers!r}")
    return [int(x) % L for x in chosen]


def check_index(name: str, value: int, n: int, what: str) -> int:
    if not isinstance(value, (int, np.integer)) or not -n <= value < n:
        raise ValueError(f"{name} must be {what} within 0..{n - 1} (or negative from the end); got {value!r}")
    return int(value) % n


def integer_ticks(n: int, most: int = 32) -> dict[str, Any]:
    """Axis (or colour bar) keywords that label the whole numbers 0..n-1: every one when at most ``most``
    fit, else every step-th, the step a power of two (8, 32 and 128 experts stay regular); never a fraction.

    Plotly's automatic ticks label every other expert of 8 (0, 2, 4, 6) and put 0.5 between two tokens.
    """
    step = 1
    while -(-n // step) > most:
        step *= 2
    values = list(range(0, max(n, 1), step))
    return {"tickmode": "array", "tickvals": values, "ticktext": [str(v) for v in values]}


def position_ticks(n: int) -> dict[str, Any]:
    """Token-position axis keywords: each position of a short sequence (no 0.5 ticks), Plotly's own past 30."""
    return integer_ticks(n) if n <= 30 else {"tickmode": "auto"}


def stepped_colorscale(colors: Sequence[str]) -> list[list[Any]]:
    """A colour scale with one flat band per integer 0..len(colors)-1 (use zmin=-0.5, zmax=n-0.5)."""
    n = len(colors)
    scale: list[list[Any]] = []
    for i, color in enumerate(colors):
        scale += [[i / n, color], [(i + 1) / n, color]]
    return scale


#: Blue -> white -> red (ColorBrewer RdBu, reversed), white in the middle.
_DIVERGING = ("#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7")
_DIVERGING += ("#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f")


def diverging_colorscale(mid: float) -> list[list[Any]]:
    """Blue below, white at ``mid`` (a fraction of the colour range), red above.

    Plotly's ``cmid`` is ignored once ``cmin`` and ``cmax`` are set, so the centre is built into the scale.
    """
    lower, upper = _DIVERGING[:6], _DIVERGING[5:]
    scale = [[mid * i / 5, c] for i, c in enumerate(lower)]
    return scale + [[mid + (1 - mid) * i / 5, c] for i, c in enumerate(upper) if i > 0]


# -- tokens and channels


def token_label(s: str, limit: int = 24) -> str:
    """A token as the user should see it in a tooltip: quoted, whitespace visible, HTML-escaped."""
    shown = repr(s)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return html.escape(shown, quote=False)


def token_groups(trace: Trace) -> np.ndarray:
    """(T,) str: each token's group in GROUPS."""
    return source_groups(trace.sources, trace.n_prompt)


def source_groups(sources: Sequence[str], n_prompt: int) -> np.ndarray:
    """(len(sources),) str: the group in GROUPS of each token, the first ``n_prompt`` being the prompt."""
    kinds = np.asarray(sources, dtype=object)
    groups = np.where(np.isin(kinds, ["analysis", "commentary", "final"]), kinds, "other")
    groups[: max(0, n_prompt)] = "prompt"
    return groups.astype(str)


def runs(labels: Sequence[str]) -> list[tuple[int, int, str]]:
    """Contiguous runs ``(start, end, label)`` of equal labels, end exclusive."""
    a = np.asarray(labels, dtype=object)
    if len(a) == 0:
        return []
    starts = np.r_[0, np.flatnonzero(a[1:] != a[:-1]) + 1]
    ends = np.r_[starts[1:], len(a)]
    return [(int(s), int(e), str(a[s])) for s, e in zip(starts, ends, strict=True)]


def channel_key(labels: Sequence[str], colors: dict[str, str], what: str) -> str:
    """A key to colours drawn as shapes (bands, shading), as a caption: ``what``, then each label's square.

    Plain words, not a legend: Plotly's legends toggle traces on a click, and these colours are no traces,
    so the key says what it explains ("ribbon above the map, by token source: ■ system, ■ user, ...").
    """
    seen = [x for x in colors if x in set(labels)]
    return f"{what}: " + ", ".join(f"<span style='color:{colors[x]}'>■</span> {x}" for x in seen)


def add_shapes(fig: Any, shapes: Sequence[dict[str, Any]]) -> None:
    """Add ``shapes`` (dicts, as ``fig.add_shape`` takes them) to ``fig`` in one step.

    ``add_shape`` validates again every shape already there, so a ribbon of n runs added one by one costs
    n**2 validations: most of the time of a 1,658-token routing map (``bench/explorer_open.py``).
    """
    fig.layout.shapes = (*fig.layout.shapes, *shapes)


def source_band(band: dict[str, Any], start: int, end: int, source: str) -> dict[str, Any]:
    """``band`` (a rect shape) over tokens ``start`` to ``end``, a run of one source, in that source's colour."""
    return {**band, "x0": start - 0.5, "x1": end - 0.5, "fillcolor": SOURCE_COLORS[source]}


def add_channel_ribbon(fig: Any, sources: Sequence[str], n_prompt: int, start: int = 0) -> None:
    """Coloured ribbon above the plot, one band per run of token sources, dotted lines between groups, and
    its key. ``sources`` are those of tokens ``start``, ``start + 1``, ... (a window of a longer sequence),
    ``n_prompt`` counts the whole sequence's prompt.

    Above rather than behind a heatmap, which would hide any background.
    """
    band = {"type": "rect", "xref": "x", "yref": "paper", "y0": 1.01, "y1": 1.04, "line": {"width": 0}}
    shapes = [source_band(band, start + a, start + b, source) for a, b, source in runs(sources)]
    line = {"type": "line", "xref": "x", "yref": "paper", "y0": 0, "y1": 1.04}
    dotted = {"color": ink(), "width": 1, "dash": "dot"}
    for a, _, _ in runs(list(source_groups(sources, n_prompt - start)))[1:]:
        shapes.append({**line, "x0": start + a - 0.5, "x1": start + a - 0.5, "line": dotted})
    add_shapes(fig, shapes)
    add_key(fig, channel_key(sources, SOURCE_COLORS, "ribbon above the map, by token source"))


def add_key(fig: Any, key: str) -> None:
    """``key`` (a :func:`channel_key`) in small type right above the plot, at its right end."""
    where = {"xref": "paper", "yref": "paper", "x": 1, "y": KEY_Y, "yshift": 3, "xanchor": "right", "yanchor": "bottom"}
    fig.add_annotation(text=key, showarrow=False, font={"size": 11}, name="key", **where)


# -- downsampling along T


def block_size(n_tokens: int, max_tokens: int) -> int:
    """Tokens per column so that at most ``max_tokens`` columns are drawn."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1; got {max_tokens}")
    return max(1, math.ceil(n_tokens / max_tokens))


def block_starts(n_tokens: int, n: int) -> np.ndarray:
    return np.arange(0, n_tokens, n)


def block_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Mean over blocks of ``n`` along axis 0 (the last block may be shorter)."""
    starts = block_starts(x.shape[0], n)
    sizes = np.diff(np.r_[starts, x.shape[0]]).reshape((-1,) + (1,) * (x.ndim - 1))
    return np.add.reduceat(x.astype(np.float64), starts, axis=0) / sizes


def block_mode(values: np.ndarray, n: int, n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """Most frequent value per block of ``n`` along axis 0 of a (T, L) int array, and its count.

    Ties go to the smallest value.
    """
    T, L = values.shape
    block = np.arange(T) // n  # (T,)
    n_blocks = int(block[-1]) + 1 if T else 0
    flat = (block[:, None] * L + np.arange(L)[None, :]) * n_values + values.astype(np.int64)  # (T, L)
    counts = np.bincount(flat.ravel(), minlength=n_blocks * L * n_values).reshape(n_blocks, L, n_values)
    return counts.argmax(axis=-1), counts.max(axis=-1)  # (B, L) each
