"""Figures from a :class:`~gptoss_lab.trace.Trace`: pure functions returning plotly Figures, never shown.

Every function takes ``title``, ``height``, ``width`` and ``template``. Plotly is needed
(``pip install 'gptoss-lab[viz]'``) and is imported when a figure is drawn, not by this import.
"""

from __future__ import annotations

from .routing import coactivation, expert_load, routing_map, routing_stats, token_path

__all__ = ["coactivation", "expert_load", "routing_map", "routing_stats", "token_path"]
