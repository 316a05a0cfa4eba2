"""How much memory a gpt-oss checkpoint needs, from its config alone, before loading anything.

Parameters are counted from the config (embeddings, attention, router, experts), then priced
per quantization:

* ``bf16``: 2 bytes per parameter.
* ``mxfp4``: the experts in MXFP4 (4-bit values plus one 8-bit scale per 32: 4.25 bits per
  parameter), everything else bf16. This is how the checkpoints ship; it runs only on a
  supported GPU, elsewhere transformers dequantizes to bf16.
* ``bnb-8bit`` / ``bnb-4bit``: bitsandbytes quantizes ``nn.Linear`` layers only, and transformers
  keeps the output head out of it: the attention projections shrink; gpt-oss's experts are fused
  3-D parameters, so they stay bf16 (checked on a tiny checkpoint, tests/integration/test_real_formats.py).

The KV cache adds, per token, 2 (K and V) x KV heads x head_dim x 2 bytes in each layer;
sliding layers keep at most ``sliding_window`` tokens. A reply also needs, while the prompt runs,
eager attention's (heads, T, T) scores of one layer at a time (:func:`reply_bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import CheckpointError, OptionError, WontFitError
from .quant import plan_quant

__all__ = [
    "KNOWN_CONFIGS",
    "QUANTS",
    "Estimate",
    "NotEnoughMemory",
    "available_bytes",
    "count_parameters",
    "estimate",
    "preflight",
    "priceable",
    "reply_bytes",
    "weights_bytes",
]

QUANTS = ("bf16", "mxfp4", "bnb-8bit", "bnb-4bit")

#: Shapes of the published checkpoints (their config.json), so a preflight needs no download.
KNOWN_CONFIGS: dict[str, dict[str, Any]] = {
    "openai/gpt-oss-20b": {"num_hidden_layers": 24, "num_local_experts": 32},
    "openai/gpt-oss-120b": {"num_hidden_layers": 36, "num_local_experts": 128},
}
_SHARED = {
    "vocab_size": 201088,
    "hidden_size": 2880,
    "intermediate_size": 2880,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "num_experts_per_tok": 4,
    "sliding_window": 128,
    "model_type": "gpt_oss",
    "quantization_config": {"quant_method": "mxfp4"},  # the experts ship in MXFP4
}
for _config in KNOWN_CONFIGS.values():
    _config.update(_SHARED)
    _config["layer_types"] = ["sliding_attention", "full_attention"] * (_config["num_hidden_layers"] // 2)


@dataclass(frozen=True)
class Parameters:
    """Parameter counts by part; ``active`` is what one token uses (top-k of the experts)."""

    embeddings: int  # input embeddings + output head
    attention: int
    router: int
    experts: int
    norms: int
    top_k: int
    n_experts: int

    @property
    def total(self) -> int:
        return self.embeddings + self.attention + self.router + self.experts + self.norms

    @property
    def active(self) -> int:
        """Per token, counted as OpenAI does: the chosen experts, not the input embedding (a lookup)."""
        return self.total - self.embeddings // 2 - self.experts + self.experts * self.top_k // self.n_experts


def count_parameters(config: dict[str, Any]) -> Parameters:
    """Parameters of a gpt-oss model from its config.json (a dict)."""
    V, H, L = config["vocab_size"], config["hidden_size"], config["num_hidden_layers"]
    E, I = config["num_local_experts"], config["intermediate_size"]  # noqa: E741
    nq, nkv = config["num_attention_heads"], config["num_key_value_heads"]
    d = config.get("head_dim") or H // nq
    q, kv = nq * d, nkv * d
    attention = (H * q + q) + 2 * (H * kv + kv) + (q * H + H) + nq  # projections with biases, sinks
    experts = E * (H * 2 * I + 2 * I) + E * (I * H + H)  # fused gate_up and down, with biases
    return Parameters(
        embeddings=2 * V * H,
        attention=L * attention,
        router=L * (E * H + E),
        experts=L * experts,
        norms=(2 * L + 1) * H,
        top_k=config.get("num_experts_per_tok", 4),
        n_experts=E,
    )


@dataclass(frozen=True)
class Estimate:
    quant: str
    weights_bytes: int
    kv_bytes: int
    context: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_bytes

    def __str__(self) -> str:
        return f"{self.total_bytes / 1e9:.1f} GB ({self.quant}: weights {self.weights_bytes / 1e9:.1f} GB + KV cache)"


def priceable(config: dict[str, Any] | None) -> bool:
    """Whether ``config`` is a gpt-oss config these estimates can price."""
    return config is not None and config.get("model_type", "gpt_oss") == "gpt_oss" and "num_local_experts" in config


def _dtype_bytes(dtype: str) -> int:
    return 4 if dtype == "float32" else 2


def _kv_bytes(config: dict[str, Any], context: int, value_bytes: int = 2) -> int:
    nkv = config["num_key_value_heads"]
    d = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    window = config.get("sliding_window") or context
    types = config.get("layer_types") or ["full_attention"] * config["num_hidden_layers"]
    tokens = sum(min(context, window) if t == "sliding_attention" else context for t in types)
    return tokens * 2 * nkv * d * value_bytes  # K and V


def estimate(config: dict[str, Any], quant: str, *, context: int = 4096) -> Estimate:
    """Memory to load ``config``'s model with ``quant`` and hold a KV cache of ``context`` tokens."""
    if quant not in QUANTS:
        raise OptionError(f"quant must be one of {'|'.join(QUANTS)}, got {quant!r}")
    p = count_parameters(config)
    bf16 = 2
    linear = p.attention  # the nn.Linear weights bitsandbytes replaces (transformers skips the output head)
    if quant == "bf16":
        weights = p.total * bf16
    elif quant == "mxfp4":
        weights = (p.total - p.experts) * bf16 + p.experts * 17 // 32  # 4.25 bits = 17/32 bytes
    else:
        per = 1.0 if quant == "bnb-8bit" else 0.5
        weights = int((p.total - linear) * bf16 + linear * per)
    return Estimate(quant, int(weights), _kv_bytes(config, context), context)


def reply_bytes(config: dict[str, Any], prompt_tokens: int, max_new_tokens: int, dtype: str) -> int:
    """Memory one reply needs beside the weights, at the activation ``dtype``: the KV cache of every layer
    for prompt and reply, plus the peak of eager attention over the prompt, one layer at a time.

    That peak is three live (heads, T, T + 1) tensors (the scores, the scores with the sink column, their
    softmax; transformers' ``eager_attention_forward``), the full and sliding (T, T) causal masks, and a few
    (T, hidden) and (T, intermediate) activations beside them. On nano (float32, CPU) the peak RSS grew
    by 3.3 score tensors from 1,024 to 2,048 prompt tokens, where this counts 3.5.
    """
    size = _dtype_bytes(dtype)
    T = prompt_tokens
    scores = 3 * config["num_attention_heads"] * T * (T + 1) * size
    masks = 2 * T * T * size
    activations = T * (8 * config["hidden_size"] + 4 * config["intermediate_size"]) * size
    return _kv_bytes(config, T + max_new_tokens, size) + scores + masks + activations


def weights_bytes(config: dict[str, Any], quant: str, dtype: str) -> int:
    """The weights as :func:`preflight` prices them (float32 doubles the bf16 parts' price, as it does)."""
    return estimate(config, quant, context=0).weights_bytes * (2 if dtype == "float32" else 1)


#: Raised before loading when the model would not fit (the name older code imports).
NotEnoughMemory = WontFitError


def available_bytes(device: str) -> int | None:
    """Free memory now where the weights (and a reply's activations) go: the GPU's, the available RAM, or for
    ``"auto"`` (accelerate's device_map) every GPU's plus the RAM it may offload to."""
    if device == "auto":
        import torch

        ram = available_bytes("cpu") or 0
        return ram + sum(_cuda_free(i) for i in range(torch.cuda.device_count()))
    if device.startswith("cuda"):
        return _cuda_free(int(device.split(":")[1]) if ":" in device else 0)
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None  # not Linux: no preflight


def _cuda_free(index: int) -> int:
    """The GPU's free memory plus what torch's allocator has reserved but holds nothing in (it reuses that)."""
    import torch

    cached = torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index)
    return int(torch.cuda.mem_get_info(index)[0]) + max(int(cached), 0)


def preflight(
    name: str,
    config: dict[str, Any],
    device: str,
    dtype: str,
    *,
    context: int = 4096,
    quant: str | None = None,
    why: str | None = None,
) -> None:
    """Refuse, in one line, a load that cannot fit; do nothing if it can (or if memory is unknown).

    ``quant``/``why``: how the weights will load (``QuantPlan.memory_quant``); by default what
    :func:`~gptoss_lab.quant.plan_quant` decides for ``quant="auto"``, the one place that decides it.
    ``device`` "auto" means accelerate's device_map over all GPUs.
    """
    if not priceable(config):
        return
    if quant is None:
        plan = plan_quant("auto", config, device, dtype)
        quant, why = plan.memory_quant, plan.why
    need = estimate(config, quant, context=context)
    total = need.total_bytes * (2 if dtype == "float32" else 1)
    free = available_bytes(device)
    if free is None or total <= free:
        return
    fits = estimate(config, "mxfp4", context=context)  # how the published checkpoints run on a GPU
    where = "all GPUs and CPU memory (device_map='auto')" if device == "auto" else device
    raise NotEnoughMemory(
        f"{name} needs about {total / 1e9:.1f} GB on {where} ({why}; weights plus a {context}-token KV cache) "
        f"but {free / 1e9:.1f} GB is free: on a GPU with MXFP4 it needs about {fits.total_bytes / 1e9:.1f} GB, "
        "or run it on a server; Lab(..., preflight=False) tries anyway"
    )


def read_config(name: str, path: str, kind: str) -> dict[str, Any] | None:
    """The config.json of a local checkpoint, a published one's known shape, or a cached hub copy."""
    import json
    from pathlib import Path

    if kind != "hub":
        file = Path(path) / "config.json"
        try:
            return json.loads(file.read_text()) if file.exists() else None
        except ValueError as err:
            raise CheckpointError(f"{file} is not valid JSON ({err}): re-download or repair the checkpoint") from None
    if name in KNOWN_CONFIGS:
        return KNOWN_CONFIGS[name]
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name, "config.json")
    except ImportError:
        return None
    return json.loads(Path(cached).read_text()) if isinstance(cached, str) else None
