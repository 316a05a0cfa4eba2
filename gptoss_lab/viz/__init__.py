"""Figures from a :class:`~gptoss_lab.trace.Trace` (or recomputed attention weights or logit lens): pure functions
returning plotly Figures, never shown.

Every function takes ``title``, ``height``, ``width`` and ``template``. Plotly is needed
(``pip install 'gptoss-lab[viz]'``) and is imported when a figure is drawn, not by this import.
"""

from __future__ import annotations

from .attention import attention_map, head_view, sink_grid, sink_profile
from .logit_lens import logit_lens
from .routing import coactivation, expert_load, routing_map, routing_stats, token_path

__all__ = [
    "attention_map",
    "coactivation",
    "expert_load",
    "head_view",
    "logit_lens",
    "routing_map",
    "routing_stats",
    "sink_grid",
    "sink_profile",
    "token_path",
]
