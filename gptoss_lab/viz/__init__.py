"""Figures from a :class:`~gptoss_lab.trace.Trace` (or recomputed attention weights or logit lens): pure functions
returning plotly Figures, never shown.

Every function takes ``title``, ``height``, ``width`` and ``template``. Plotly is needed
(``pip install 'gptoss-lab[viz]'``) and is imported when a figure is drawn, not by this import.
"""

from __future__ import annotations

from .attention import attention_map, head_view, sink_grid, sink_profile
from .effects import expert_importance, head_effects, sink_effects
from .logit_lens import logit_lens
from .routing import coactivation, expert_load, routing_map, routing_stats, token_path

__all__ = [
    "Figure",
    "attention_map",
    "coactivation",
    "expert_importance",
    "expert_load",
    "head_effects",
    "head_view",
    "logit_lens",
    "routing_map",
    "routing_stats",
    "sink_effects",
    "sink_grid",
    "sink_profile",
    "token_path",
]


def __getattr__(name: str) -> object:
    """``viz.Figure``: the toolkit's plotly Figure (no logo, no share button), for figures of your own;
    plotly is imported only when it is asked for."""
    if name == "Figure":
        from ._common import require_plotly

        require_plotly()
        from ._figure import Figure

        return Figure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
