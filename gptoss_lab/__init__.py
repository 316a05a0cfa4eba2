"""gptoss_lab: a Jupyter-native toolkit for OpenAI's gpt-oss reasoning models.

``%load_ext gptoss_lab`` then ``%%gptoss`` in a notebook, or from Python::

    from gptoss_lab import Lab
    reply = Lab().ask("What is 17 + 25?")
    reply.reasoning, reply.answer

Importing this package is instant: torch, transformers and plotly load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Lab": "lab",
    "Reply": "reply",
    "Stats": "reply",
    "Message": "harmony",
    "render_prompt": "harmony",
    "parse_completion": "harmony",
    "StreamParser": "harmony",
    "Playground": "widgets",
    "Explorer": "widgets",
    "Tool": "tools",
    "tool": "tools",
}

__all__ = [
    "Explorer",
    "Lab",
    "Message",
    "Playground",
    "Reply",
    "Stats",
    "StreamParser",
    "Tool",
    "__version__",
    "load_ipython_extension",
    "parse_completion",
    "render_prompt",
    "tool",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from .harmony import Message, StreamParser, parse_completion, render_prompt
    from .lab import Lab
    from .reply import Reply, Stats
    from .tools import Tool, tool
    from .widgets import Explorer, Playground


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gptoss_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext gptoss_lab``: registers ``%%gptoss`` and ``%gptoss``."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload_ipython_extension as unload

    unload(ipython)
