"""What is checked before any weight is read: the device this torch can use, the checkpoint's files.

Each check reads headers or asks torch a question; a failure is one line naming the device or the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import CheckpointError, OptionError

__all__ = ["check_torch_device", "check_weights"]


def check_torch_device(device: str) -> None:
    """Refuse, in one line, a device this torch cannot use (a CPU build asked for CUDA, a GPU index too high)."""
    if device == "cpu":
        return  # every torch has one; no import needed
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "unable to see a GPU"
            raise OptionError(
                f"--device {device}: no CUDA here (torch {torch.__version__} is {build}): "
                "use --device cpu, or install a CUDA build of torch"
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        count = torch.cuda.device_count()
        if index >= count:
            raise OptionError(f"--device {device}: this machine has {count} GPU(s), cuda:0..cuda:{count - 1}")
    elif device == "mps" and not torch.backends.mps.is_available():
        raise OptionError("--device mps: this torch has no Apple GPU (MPS) here: use --device cpu")


def check_weights(path: Path) -> None:
    """Refuse, naming the file, a safetensors file that is cut short or whose header is not JSON (no data read)."""
    fix = "re-download or re-copy the checkpoint"
    index = path / "model.safetensors.index.json"
    shards = set(json.loads(index.read_text()).get("weight_map", {}).values()) if index.exists() else set()
    for missing in sorted(s for s in shards if not (path / s).exists()):
        raise CheckpointError(f"{path / missing} is missing (model.safetensors.index.json lists it): {fix}")
    for file in sorted(path.glob("*.safetensors")):
        size = file.stat().st_size
        with open(file, "rb") as f:
            head = f.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if n < 0 or 8 + n > size:
                raise CheckpointError(f"{file} is damaged: {size} bytes, too short for its own header: {fix}")
            try:
                header = json.loads(f.read(n))
                end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                raise CheckpointError(f"{file} is damaged: its header is not safetensors JSON: {fix}") from None
        if 8 + n + end > size:
            raise CheckpointError(
                f"{file} is truncated: its header describes {8 + n + end:,} bytes but the file has {size:,}: {fix}"
            )
