"""Notebook widgets: :class:`Playground` (prompt, effort, Generate/Stop, streaming panels) and
:class:`Explorer` (a reply's tokens; click one for its routing path and attention).

Needs ipywidgets (and plotly with anywidget for the Explorer's figures): ``pip install 'gptoss-lab[widgets]'``.
Each widget is imported when first named, so the Playground never imports plotly.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._common import require_widgets

__all__ = ["Explorer", "Playground"]

_LAZY = {"Playground": ("playground", ()), "Explorer": ("explorer", ("plotly", "anywidget"))}

if TYPE_CHECKING:
    from .explorer import Explorer
    from .playground import Playground


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, extras = _LAZY[name]
        require_widgets(*extras)
        value = getattr(import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gptoss_lab.widgets' has no attribute {name!r}")
