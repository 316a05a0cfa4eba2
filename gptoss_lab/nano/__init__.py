"""gpt-oss-nano: the bundled teaching model of the gpt-oss architecture.

A ~2M-parameter ``GptOssForCausalLM`` (MoE with top-2 of 8 experts, alternating sliding and
full attention, learned sinks, GQA, YaRN RoPE) trained from scratch on CPU to reason in
harmony format on a few task families (:mod:`.tasks`), with reasoning effort that changes
how much it thinks. The checkpoint ships in ``checkpoint/``; :mod:`.train` reproduces it and
:mod:`.eval` measures it. It knows these tasks and little else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHECKPOINT_DIR", "NanoCheckpoint", "nano_checkpoint"]

CHECKPOINT_DIR = Path(__file__).parent / "checkpoint"


@dataclass(frozen=True)
class NanoCheckpoint:
    path: Path
    label: str


def nano_checkpoint() -> NanoCheckpoint:
    """The bundled model's directory."""
    if not (CHECKPOINT_DIR / "config.json").exists():
        raise FileNotFoundError(
            f"the bundled gpt-oss-nano checkpoint is missing from {CHECKPOINT_DIR}: reinstall gptoss-lab, "
            f"or rebuild it with: python -m gptoss_lab.nano.train --out {CHECKPOINT_DIR}"
        )
    return NanoCheckpoint(CHECKPOINT_DIR, "gpt-oss-nano")
