"""Which quantization a checkpoint loads with on this machine, and why; no torch at import.

The published gpt-oss checkpoints ship their experts in MXFP4 (``*_blocks``: two e2m1 values
per byte, ``*_scales``: one E8M0 exponent per 32 values) and everything else in bf16.

* ``"auto"``: MXFP4 stays MXFP4 where transformers' kernels run it (a CUDA GPU, triton >= 3.4,
  the ``kernels`` package); elsewhere the experts are dequantized at load, and a note says so.
  Checkpoints that are not quantized load as they are.
* ``"mxfp4"``: MXFP4 or nothing: refused, in one line, where the kernels cannot run.
* ``"bf16"``: an MXFP4 checkpoint dequantized to bf16 (``Mxfp4Config(dequantize=True)``).
* ``"bnb-4bit"`` / ``"bnb-8bit"``: bitsandbytes (``BitsAndBytesConfig``) on a bf16 checkpoint.
  It replaces ``nn.Linear`` layers only; gpt-oss's experts are fused 3-D parameters, so they,
  most of the model, stay bf16. transformers also keeps the output head unquantized.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CheckpointError, MissingPackageError, OptionError

__all__ = ["QUANT_CHOICES", "QuantPlan", "check_packed", "checkpoint_format", "mxfp4_missing", "plan_quant"]

QUANT_CHOICES: tuple[str, ...] = ("auto", "mxfp4", "bf16", "bnb-4bit", "bnb-8bit")
_BNB_WHY = (
    "bitsandbytes quantizes the attention's nn.Linear layers only: gpt-oss's experts are fused parameters, "
    "not nn.Linear, so they (most of the model) stay {dtype}"
)


@dataclass(frozen=True)
class QuantPlan:
    """What will load. ``quant``: "mxfp4" | "bf16" | "bnb-4bit" | "bnb-8bit" | "none" (the checkpoint as it is)."""

    quant: str
    why: str
    note: str | None = None  # said once at load: the weights differ from the checkpoint's format
    dequantize: bool = False  # an MXFP4 checkpoint whose experts are dequantized at load

    @property
    def memory_quant(self) -> str:
        """The name ``memory.estimate`` prices this plan with."""
        return "bf16" if self.quant == "none" else self.quant


def checkpoint_format(config: dict[str, Any] | None) -> str | None:
    """The checkpoint's own quantization method ("mxfp4", ...), or None for plain weights."""
    return ((config or {}).get("quantization_config") or {}).get("quant_method")


def _version_at_least(package: str, minimum: tuple[int, ...]) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version(package)
    except PackageNotFoundError:
        return False
    parts = []
    for piece in text.split(".")[: len(minimum)]:
        digits = "".join(c for c in piece if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts) >= minimum


def mxfp4_missing(device: str) -> str | None:
    """None when MXFP4 kernels can run on ``device``; otherwise what is missing, as a short clause."""
    if not device.startswith("cuda"):
        return "MXFP4 kernels need a CUDA GPU"
    torch = sys.modules.get("torch")  # only asked when torch is already imported: no import cost here
    if torch is not None and torch.cuda.is_available() and torch.cuda.get_device_capability() < (7, 5):
        return "MXFP4 kernels need a GPU of compute capability 7.5 or newer"
    if not _version_at_least("triton", (3, 4)):
        return "MXFP4 kernels need triton >= 3.4"
    if importlib.util.find_spec("kernels") is None:
        return "MXFP4 kernels need the kernels package (pip install 'gptoss-lab[gpu]')"
    return None


def _check_choice(quant: str | None) -> str:
    quant = "auto" if quant is None else quant
    if quant not in QUANT_CHOICES:
        raise OptionError(f"quant must be {'|'.join(QUANT_CHOICES)}, got {quant!r}: use --quant auto")
    return quant


def plan_quant(quant: str | None, config: dict[str, Any] | None, device: str, dtype: str) -> QuantPlan:
    """Decide how a checkpoint with ``config`` loads on ``device``; refuse an impossible ``quant`` in one line."""
    quant = _check_choice(quant)
    packed = checkpoint_format(config) == "mxfp4"
    dtype_word = "bf16" if dtype == "bfloat16" else dtype
    if quant.startswith("bnb-"):
        if packed:
            raise OptionError(
                f"quant={quant!r} needs a checkpoint with bf16 experts, and this one ships MXFP4 experts: "
                "use quant='auto' (MXFP4 on a GPU, else dequantized), or a bf16 copy of the checkpoint"
            )
        return QuantPlan(quant, _BNB_WHY.format(dtype=dtype_word))
    missing = mxfp4_missing(device)
    if quant == "mxfp4":
        if missing is not None:
            raise OptionError(f"quant='mxfp4' cannot run here: {missing}; use quant='auto' to dequantize instead")
        if config is not None and not packed:
            raise OptionError(
                "quant='mxfp4' loads checkpoints that ship MXFP4 experts, and this one does not: "
                "use quant='auto' (its own weights) or quant='bnb-4bit'"
            )
        return QuantPlan("mxfp4", "MXFP4 experts kept: kernels for them run here")
    if not packed:
        if quant == "bf16":
            return QuantPlan("bf16", "the checkpoint's weights in bf16, as you asked")
        return QuantPlan("none", "the checkpoint's own weights, not quantized")
    if quant == "auto" and missing is None:
        return QuantPlan("mxfp4", "MXFP4 experts kept: kernels for them run here")
    reason = "you asked for quant='bf16'" if quant == "bf16" else missing
    why = f"MXFP4 experts dequantized to {dtype_word} at load ({reason})"
    bits = 32 if dtype == "float32" else 16
    cost = f"the experts take {bits / 4.25:.1f}x the memory they take in MXFP4 ({bits} bits per value, not 4.25)"
    return QuantPlan("bf16", why, note=f"note: {why}: {cost}", dequantize=True)


def from_pretrained_kwargs(plan: QuantPlan, dtype: str) -> dict[str, Any]:
    """The ``quantization_config`` keyword that carries ``plan`` into ``from_pretrained`` ({} for none)."""
    if plan.dequantize:
        from transformers import Mxfp4Config

        return {"quantization_config": Mxfp4Config(dequantize=True)}
    if plan.quant.startswith("bnb-"):
        import torch
        from transformers import BitsAndBytesConfig

        if plan.quant == "bnb-4bit":
            config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=getattr(torch, dtype))
        else:
            config = BitsAndBytesConfig(load_in_8bit=True)
        return {"quantization_config": config}
    return {}


def require_packages(plan: QuantPlan, device_map: Any) -> None:
    """Refuse, in one line naming the pip command, a plan whose packages are not installed."""
    needs: list[tuple[str, str]] = []
    if plan.quant.startswith("bnb-"):
        needs += [("bitsandbytes", "bnb"), ("accelerate", "bnb")]
    if device_map is not None or plan.quant == "mxfp4":
        needs.append(("accelerate", "gpu"))
    for module, extra in needs:
        if importlib.util.find_spec(module) is None:
            what = f"quant={plan.quant!r}" if extra == "bnb" or device_map is None else f"device_map={device_map!r}"
            raise MissingPackageError(
                f"{what} needs {module}, which is not installed: pip install 'gptoss-lab[{extra}]'"
            )


def _packed_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Shapes of the ``*_blocks``/``*_scales`` tensors in a checkpoint's safetensors headers (no data read)."""
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    for file in sorted(path.glob("*.safetensors")):
        with safe_open(str(file), "pt") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                if key.endswith(("_blocks", "_scales")):
                    shapes[key] = tuple(f.get_slice(key).get_shape())
    return shapes


def check_packed(path: str, config: dict[str, Any]) -> None:
    """Refuse, naming the tensor, a local MXFP4 checkpoint whose packed experts are missing or malformed.

    transformers would otherwise stop deep in its loader with a multi-page report. Each expert
    projection needs ``*_blocks`` of shape (E, rows, groups, 16) (32 e2m1 values in 16 bytes) and
    ``*_scales`` of shape (E, rows, groups) (one exponent per 32 values).
    """
    shapes = _packed_shapes(Path(path))
    fix = "re-download or re-convert the checkpoint"
    for layer in range(config["num_hidden_layers"]):
        for proj in ("gate_up_proj", "down_proj"):
            stem = f"model.layers.{layer}.mlp.experts.{proj}"
            blocks, scales = shapes.get(f"{stem}_blocks"), shapes.get(f"{stem}_scales")
            for name, shape in ((f"{stem}_blocks", blocks), (f"{stem}_scales", scales)):
                if shape is None:
                    raise CheckpointError(f"{path} is an MXFP4 checkpoint without {name}: {fix}")
            if blocks != (*scales, 16):
                raise CheckpointError(
                    f"{path}: {stem}_blocks has shape {blocks} but {stem}_scales has {scales} "
                    f"(blocks must be scales + (16,): 32 four-bit values per scale): {fix}"
                )
