"""Notebook widgets: :class:`Playground` (prompt, effort, Generate/Stop, streaming panels) and
:class:`Explorer` (a reply's tokens; click one for its routing path and attention).

Needs ipywidgets (and plotly with anywidget for the Explorer's figures): ``pip install 'gptoss-lab[widgets]'``.
Each widget is imported when first named, so the Playground does not import plotly itself; once a reply with a
trace is done in a kernel, the Lab warms the Explorer's imports on a background thread (:func:`prewarm_explorer`).
"""

from __future__ import annotations

import threading
from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from ._common import require_widgets

__all__ = ["Explorer", "Playground", "prewarm_explorer"]

_LAZY = {"Playground": ("playground", ()), "Explorer": ("explorer", ("plotly", "anywidget"))}

if TYPE_CHECKING:
    from .explorer import Explorer
    from .playground import Playground


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        if _warming is not None and _warming is not threading.current_thread():
            _warming.join()  # one thread imports the widgets' modules at a time
        module, extras = _LAZY[name]
        require_widgets(*extras)
        value = getattr(import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gptoss_lab.widgets' has no attribute {name!r}")


_warming: threading.Thread | None = None  # the prewarm's thread, once started


def _warm() -> None:
    try:
        import_module(".explorer", __name__)  # ipywidgets, anywidget, the token strip
        from ..viz import routing  # noqa: F401  (the figures' modules)
        from ..viz._common import new_figure

        new_figure().to_dict()  # plotly builds its validators and the theme's template on a first figure
    except Exception:  # a warm-up that fails leaves the first open as slow as before, no worse
        pass


def prewarm_explorer() -> threading.Thread | None:
    """Import what an Explorer needs, once per process, on a background thread; the thread, or None when
    it ran before or the widgets' packages are not installed.

    A page's first Explorer paid about 0.5-0.8 s in the kernel for first imports and plotly's first figure
    (``bench/explorer_open.py``). The Lab calls this after a reply with a trace, when a notebook is running:
    the work is done while the student reads the reply, and an Explorer opened meanwhile waits on the same
    imports, so it is never slower.
    """
    global _warming
    if _warming is not None or any(find_spec(name) is None for name in ("ipywidgets", "plotly", "anywidget")):
        return None
    _warming = threading.Thread(target=_warm, name="gptoss-lab-prewarm", daemon=True)
    _warming.start()
    return _warming
