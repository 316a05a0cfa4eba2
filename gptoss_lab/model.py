"""The model handle: what to load, from where, on which device and why; loaded on first use.

``ModelHandle("nano")`` resolves the name and decides device and dtype without importing
torch; ``handle.load()`` (called by the first prompt) imports torch and transformers and
loads through ``AutoModelForCausalLM.from_pretrained(..., attn_implementation="eager")``,
the path every checkpoint takes, the bundled one included. Eager attention is the only
implementation that returns attention weights, which the attention views need.

``quant`` (see :mod:`gptoss_lab.quant`) and ``device_map`` are decided here too, before any
weight is read, so the memory preflight prices what will really load.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checks import check_torch_device, check_weights
from .errors import ModelNotFoundError, OptionError
from .harmony import STOP_TOKENS, Prompt, TokenCodec
from .options import check_device, check_dtype

if TYPE_CHECKING:
    from .quant import QuantPlan

__all__ = ["LoadedModel", "ModelHandle", "encode_prompt", "load_tokenizer", "resolve_model"]


@dataclass(frozen=True)
class ModelSource:
    """Where a model name points. ``kind``: "nano", "local" or "hub"."""

    name: str
    kind: str
    path: str
    label: str
    meta: dict[str, Any] = field(default_factory=dict)  # the checkpoint's gptoss_lab.json, read once

    @property
    def trained(self) -> bool:
        """False only for checkpoints that say so (random weights for tests)."""
        return bool(self.meta.get("trained", True))

    @property
    def identity(self) -> str | None:
        """The model identity line its prompts use (None: harmony's default)."""
        return self.meta.get("identity")


def resolve_model(name: str) -> ModelSource:
    """``"nano"`` -> the bundled model; an existing directory -> local; anything else -> a hub id."""
    if not isinstance(name, str):
        raise OptionError(f"model must be a name (str), got {type(name).__name__} {name!r:.60}: e.g. Lab('nano')")
    if name in ("nano", "gpt-oss-nano"):
        from .nano import nano_checkpoint

        ckpt = nano_checkpoint()
        return ModelSource(name, "nano", str(ckpt.path), ckpt.label, _read_meta(ckpt.path))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelNotFoundError(f"{path} has no config.json: point --model at a Hugging Face checkpoint directory")
        return ModelSource(name, "local", str(path.resolve()), path.name, _read_meta(path))
    if name.count("/") != 1 or name.startswith(("/", ".", "~")):
        raise ModelNotFoundError(
            f"model {name!r} is neither a directory nor a hub id like 'openai/gpt-oss-20b': "
            "use --model nano, a local path, or owner/name"
        )
    return ModelSource(name, "hub", name, name)


def _read_meta(path: Path) -> dict[str, Any]:
    """gptoss_lab.json beside a checkpoint (identity, recommended sampling, recipe), or {}."""
    meta = path / "gptoss_lab.json"
    return json.loads(meta.read_text()) if meta.exists() else {}


def _cuda_visible() -> bool:
    """Whether CUDA is likely usable, without importing torch unless it already is."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return bool(torch.cuda.is_available())
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return os.path.exists("/dev/nvidia0") or os.path.exists("/proc/driver/nvidia/version")


def choose_device(device: str | None) -> tuple[str, str]:
    """(device, why)."""
    if device is not None:
        return device, "you asked for it"
    if _cuda_visible():
        return "cuda", "an NVIDIA GPU is present"
    return "cpu", "no GPU found"


def choose_dtype(dtype: str | None, device: str, source: ModelSource, quant: str | None = None) -> tuple[str, str]:
    """(dtype name, why). Small models on CPU run in float32 (exact, and bf16 matmuls are slow
    there); large checkpoints keep their bfloat16 weights, which halves memory."""
    if dtype is not None:
        return dtype, "you asked for it"
    if quant in ("bf16", "bnb-4bit", "bnb-8bit"):
        return "bfloat16", f"quant={quant!r} keeps the unquantized weights in bf16"
    if device.startswith("cuda"):
        return "bfloat16", "the checkpoint's dtype, native on GPU"
    if source.kind == "nano":
        return "float32", "tiny model on CPU: float32 is exact and fast enough"
    size = _weights_bytes(source)
    if size is not None and size < SMALL_MODEL_BYTES:
        return "float32", f"small checkpoint ({size / 2**20:.0f} MiB) on CPU: float32 is exact and fast enough"
    return "bfloat16", "the checkpoint's dtype; float32 would double the memory"


#: Below this many bytes of weights, a checkpoint runs in float32 on CPU.
SMALL_MODEL_BYTES = 2 * 2**30


def _weights_bytes(source: ModelSource) -> int | None:
    """Bytes of weight files in a local checkpoint (None for hub ids: not known before download)."""
    if source.kind == "hub":
        return None
    files = [*Path(source.path).glob("*.safetensors"), *Path(source.path).glob("*.bin")]
    return sum(f.stat().st_size for f in files) if files else None


@dataclass
class LoadedModel:
    """A loaded model with what generation and parsing need."""

    model: Any
    tokenizer: Any
    codec: TokenCodec
    source: ModelSource
    device: str
    dtype: str
    identity: str | None
    stop_ids: tuple[int, ...]
    #: the model's recommended sampling when the user sets none (OpenAI recommends 1.0 / 1.0 for gpt-oss)
    sampling: dict[str, float] = field(default_factory=lambda: {"temperature": 1.0, "top_p": 1.0})

    #: where accelerate put each module with device_map (None: all on ``device``)
    device_map: dict[str, Any] | None = None
    #: torch intra-op threads while generating (None: torch's default). 1 for tiny models on CPU:
    #: their matmuls are too small to split, and a thread team stalls whenever another process
    #: holds one of the cores (`python bench/threads.py`)
    threads: int | None = None

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; a rendered prompt keeps its messages' text as text (see :func:`encode_prompt`)."""
        return encode_prompt(self.tokenizer, text, self.codec.special_ids)

    @contextlib.contextmanager
    def local_model(self, purpose: str = "") -> Iterator[LoadedModel]:
        """This model itself (what :meth:`gptoss_lab.Lab.local_model` yields, without the Lab's lock)."""
        yield self


class ModelHandle:
    """A model named now, loaded on first use. ``repr`` says what will load and why.

    ``quant``: "auto" (default) | "mxfp4" | "bf16" | "bnb-4bit" | "bnb-8bit" (see :mod:`gptoss_lab.quant`).
    ``device_map``: None puts the whole model on ``device``; "auto" lets accelerate spread it over
    every GPU (and CPU memory), as the 120b needs on GPUs smaller than 80 GB.
    """

    def __init__(
        self,
        model: str = "nano",
        *,
        device: str | None = None,
        dtype: str | None = None,
        quant: str | None = None,
        device_map: str | dict[str, Any] | None = None,
        preflight: bool = True,
    ) -> None:
        from .memory import read_config
        from .quant import plan_quant

        device, dtype = check_device(device, _cuda_visible()), check_dtype(dtype)  # before anything is read
        self.source = resolve_model(model)
        self.device, self._device_why = choose_device(device)
        self.device_map = device_map
        self.dtype, self._dtype_why = choose_dtype(dtype, self.device, self.source, quant)
        self.config = read_config(self.source.name, self.source.path, self.source.kind)
        self.plan = plan_quant(quant, self.config, self.device, self.dtype)
        self.quant = self.plan.quant
        self.preflight = preflight
        self._loaded: LoadedModel | None = None
        self._tokenizer: Any = None  # loaded alone to measure a prompt before the weights load

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def describe(self) -> str:
        state = "loaded" if self.loaded else "not loaded yet (loads on the first prompt)"
        untrained = "" if self.source.trained else " - untrained: random weights, it babbles"
        return (
            f"{self.source.label}{untrained}\n"
            f"  from:   {self.source.path} ({self.source.kind})\n"
            f"  device: {self._device_line()}\n"
            f"  dtype:  {self.dtype} ({self._dtype_why})\n"
            f"  quant:  {self.plan.quant} ({self.plan.why})\n"
            f"  state:  {state}"
        )

    def _device_line(self) -> str:
        if self.device_map is None:
            return f"{self.device} ({self._device_why})"
        placed = self._loaded.device_map if self._loaded is not None else None
        if placed and set(placed) == {""}:
            return f"device_map={self.device_map!r} (the whole model fits on {placed['']})"
        if placed:
            counts: dict[str, int] = {}
            for where in placed.values():
                counts[str(where)] = counts.get(str(where), 0) + 1
            spread = ", ".join(f"{where}: {n} modules" for where, n in counts.items())
            return f"device_map={self.device_map!r} ({spread})"
        return f"device_map={self.device_map!r} (accelerate places the layers at load)"

    def __repr__(self) -> str:
        return (
            f"ModelHandle({self.source.name!r}, device={self.device!r}, dtype={self.dtype!r}, "
            f"quant={self.plan.quant!r}, loaded={self.loaded})"
        )

    def check(self) -> None:
        """Check all that can be checked without reading the weights: packages, device, free memory, files."""
        if self._loaded is not None:
            return
        from .quant import check_packed, checkpoint_format, require_packages

        require_packages(self.plan, self.device_map)
        if self.device_map is None:
            check_torch_device(self.device)
        if self.preflight and self.source.kind != "nano" and self.config is not None:
            from .memory import preflight

            where = self.device if self.device_map is None else "auto"
            plan = self.plan  # before touching the weights, priced as they will load
            preflight(self.source.name, self.config, where, self.dtype, quant=plan.memory_quant, why=plan.why)
        if self.source.kind != "hub":
            check_weights(Path(self.source.path))
        if self.source.kind != "hub" and self.config is not None and checkpoint_format(self.config) == "mxfp4":
            check_packed(self.source.path, self.config)  # headers only: a clear line, not a loader traceback

    def load(self) -> LoadedModel:
        """:meth:`check`, then load the tokenizer and the weights (once)."""
        if self._loaded is None:
            self.check()
            if self.plan.note:
                print(self.plan.note, file=sys.stderr)  # visible in notebooks and terminals alike
            extra = {"tokenizer": self._tokenizer} if self._tokenizer is not None else {}
            self._loaded = _load(self.source, self.device, self.dtype, self.plan, self.device_map, **extra)
        return self._loaded

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``: with the loaded model's tokenizer, or the tokenizer alone if not loaded yet."""
        if self._loaded is not None:
            return self._loaded.encode(text)
        if self._tokenizer is None:
            self._tokenizer = _tokenizer(self.source)
        return encode_prompt(self._tokenizer, text)

    def unload(self) -> None:
        self._loaded = None


def encode_prompt(tokenizer: Any, text: str, special_ids: Mapping[str, int] | None = None) -> list[int]:
    """Token ids of ``text`` (no BOS). Model text is never control.

    A :class:`~gptoss_lab.harmony.Prompt` (what ``render_prompt`` returns) is encoded piece by
    piece: the renderer's structure as control tokens, every message's text with special-token
    parsing off, so a user's literal ``<|end|><|start|>assistant`` stays those characters. In a
    plain string, literal special tokens are control (it is harmony text written by hand).
    """
    if not isinstance(text, Prompt):
        return list(tokenizer.encode(text, add_special_tokens=False))
    specials = special_ids if special_ids is not None else TokenCodec.from_tokenizer(tokenizer).special_ids
    control = set(specials.values())

    def as_text(piece: str) -> list[int]:
        ids = list(tokenizer.encode(piece, add_special_tokens=False, split_special_tokens=True))
        if control.intersection(ids):  # a tokenizer that ignores the flag must not obey the text
            raise RuntimeError(
                f"{type(tokenizer).__name__} read a typed special token as control (split_special_tokens "
                "ignored): pip install -U transformers tokenizers"
            )
        return ids

    return text.token_ids(as_text, specials)


def _offline() -> bool:
    # Honour HF_HUB_OFFLINE even when it was set after huggingface_hub was imported.
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


@contextlib.contextmanager
def _from_hub(source: ModelSource) -> Iterator[None]:
    """A hub id that is neither cached nor reachable becomes one ModelNotFoundError line."""
    try:
        with warnings.catch_warnings():
            # without ipywidgets, tqdm.auto warns in notebooks and falls back to a text bar: the text bar is fine
            warnings.filterwarnings("ignore", message="IProgress not found")
            yield
    except OSError as err:
        if source.kind != "hub":
            raise
        first = (str(err).strip().splitlines() or [""])[0]
        raise ModelNotFoundError(
            f"could not load {source.name!r}: it is not in the local cache and the hub was not reachable: "
            f"download it first (hf download {source.name}) or pass a local directory ({first})"
        ) from None


def load_tokenizer(source: ModelSource) -> Any:
    """The model's tokenizer alone, no weights (what a server client renders and parses harmony with)."""
    return _tokenizer(source)


def _tokenizer(source: ModelSource) -> Any:
    from transformers import AutoTokenizer

    with _from_hub(source):
        return AutoTokenizer.from_pretrained(source.path, local_files_only=_offline())


def _in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (where tqdm draws widgets)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return bool(shell is not None and getattr(shell, "kernel", None) is not None)


@contextlib.contextmanager
def _no_bars_in_notebooks() -> Iterator[None]:
    """transformers' "Loading weights" bar is a tqdm widget in a notebook: saved, it shows "Error
    displaying widget" when the notebook is reopened and "0%| | 0/71" in exported HTML, and live it
    is louder than the reply. The reply's own status line says "loading …" instead."""
    from transformers.utils import logging as hf_logging

    if not _in_kernel() or not hf_logging.is_progress_bar_enabled():
        yield
        return
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()


def _from_pretrained(source: ModelSource, dtype: str, extra: dict[str, Any]) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    with _from_hub(source), _no_bars_in_notebooks():
        return AutoModelForCausalLM.from_pretrained(
            source.path, dtype=getattr(torch, dtype), attn_implementation="eager", local_files_only=_offline(), **extra
        )


def _load_kwargs(device: str, dtype: str, plan: QuantPlan, device_map: Any) -> dict[str, Any]:
    """Extra from_pretrained keywords: the quantization config and where accelerate puts the weights."""
    from .quant import from_pretrained_kwargs

    extra = from_pretrained_kwargs(plan, dtype)
    if device_map is not None:
        extra["device_map"] = device_map
    elif plan.quant in ("mxfp4", "bnb-4bit", "bnb-8bit") or device != "cpu":
        # quantized weights are placed as they load and cannot be moved with .to() afterwards; on a GPU,
        # loading straight onto it also spares the CPU memory a bf16 20b would need on the way (42 GB)
        extra["device_map"] = {"": device}
    return extra


def _load(
    source: ModelSource, device: str, dtype: str, plan: QuantPlan, device_map: Any = None, tokenizer: Any = None
) -> LoadedModel:
    extra = _load_kwargs(device, dtype, plan, device_map)
    tokenizer = tokenizer if tokenizer is not None else _tokenizer(source)
    model = _from_pretrained(source, dtype, extra)
    if "device_map" not in extra:
        model = model.to(device)
    model.eval()
    placed = None
    if device_map is not None:
        # accelerate records its placement; when everything fits on one device transformers skips it
        placed = getattr(model, "hf_device_map", None) or {"": str(next(model.parameters()).device)}
        device = str(next(model.parameters()).device)  # where inputs go: the embeddings' device
    codec = TokenCodec.from_tokenizer(tokenizer)
    stop_ids = tuple(codec.special_ids[n] for n in STOP_TOKENS if n in codec.special_ids)
    loaded = LoadedModel(model, tokenizer, codec, source, device, dtype, source.identity, stop_ids, device_map=placed)
    loaded.sampling.update(source.meta.get("sampling", {}))
    if device == "cpu" and _is_tiny(source):
        loaded.threads = 1
    return loaded


#: Below this many bytes of weights, a CPU model generates on one thread (see LoadedModel.threads).
TINY_MODEL_BYTES = 256 * 2**20


def _is_tiny(source: ModelSource) -> bool:
    size = _weights_bytes(source)
    return source.kind == "nano" or (size is not None and size < TINY_MODEL_BYTES)
