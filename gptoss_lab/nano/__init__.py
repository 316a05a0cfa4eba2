"""gpt-oss-nano: the bundled teaching model of the gpt-oss architecture.

Until the trained checkpoint ships, "nano" resolves to an *untrained* placeholder: a tiny
random-weight gpt-oss built deterministically on first use (see :mod:`.placeholder`).
Everything that shows the model says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["NanoCheckpoint", "nano_checkpoint"]

#: Where the trained checkpoint lives once it ships inside the package.
SHIPPED_DIR = Path(__file__).parent / "checkpoint"


@dataclass(frozen=True)
class NanoCheckpoint:
    path: Path
    trained: bool
    label: str


def nano_checkpoint(*, build: bool = True) -> NanoCheckpoint:
    """The bundled model's directory; builds the untrained placeholder if nothing ships."""
    if (SHIPPED_DIR / "config.json").exists():
        return NanoCheckpoint(SHIPPED_DIR, True, "gpt-oss-nano")
    from .placeholder import placeholder_dir

    path = placeholder_dir()
    if build:
        from .placeholder import build_placeholder

        build_placeholder(path)
    return NanoCheckpoint(path, False, "gpt-oss-nano (untrained placeholder)")
