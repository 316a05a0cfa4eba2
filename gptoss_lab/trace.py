"""Trace: what the model did on each token, as numpy arrays. No torch.

Axes are fixed and written once, here:

* ``T``: token position in the sequence (prompt, then completion), ``L``: MoE layer,
  ``E``: expert, ``k``: rank among the experts chosen for a token (0 = highest weight),
  ``H``: attention head.
* ``routing_logits``  (T, L, E) float16: raw router logits over all experts,
  ``logits = hidden @ W.T + b``. Softmax over these is the router's confidence over all E.
* ``topk_experts``    (T, L, k) int16: the experts chosen, best first.
* ``topk_weights``    (T, L, k) float32: the weights used to mix them: softmax over the
  chosen k logits only, as gpt-oss does (they sum to 1 per token and layer).
* ``sink_mass`` / ``attention_entropy`` (T, L, H) float16: optional attention summaries.

Only tokens that went through the model have routing: the last generated token is never
fed back, so ``T = len(tokens)`` counts the tokens routed, and ``n_prompt`` of them are
the prompt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMAT_VERSION", "SOURCES", "Trace"]

FORMAT_VERSION = 1
#: Where each token comes from: the author of its message, or the channel for the assistant.
SOURCES = ("system", "developer", "user", "analysis", "commentary", "final", "tool", "header")


@dataclass
class Trace:
    """Per-token routing (and optional attention summaries) of one prompt + reply."""

    token_ids: np.ndarray  # (T,) int64
    token_strings: list[str]  # T
    sources: list[str]  # T, each one of SOURCES
    n_prompt: int
    routing_logits: np.ndarray  # (T, L, E) float16
    topk_experts: np.ndarray  # (T, L, k) int16
    topk_weights: np.ndarray  # (T, L, k) float32
    layer_types: list[str]  # L: "sliding_attention" | "full_attention"
    config: dict[str, Any] = field(default_factory=dict)
    sink_mass: np.ndarray | None = None  # (T, L, H) float16
    attention_entropy: np.ndarray | None = None  # (T, L, H) float16

    def __post_init__(self) -> None:
        T, L, E = self.routing_logits.shape
        k = self.topk_experts.shape[-1]
        checks = {
            "token_ids": (self.token_ids.shape, (T,)),
            "token_strings": ((len(self.token_strings),), (T,)),
            "sources": ((len(self.sources),), (T,)),
            "topk_experts": (self.topk_experts.shape, (T, L, k)),
            "topk_weights": (self.topk_weights.shape, (T, L, k)),
            "layer_types": ((len(self.layer_types),), (L,)),
        }
        for name, (got, want) in checks.items():
            if tuple(got) != want:
                raise ValueError(
                    f"Trace.{name} has shape {tuple(got)}, expected {want} (T, L, E, k = {T}, {L}, {E}, {k})"
                )
        bad = sorted(set(self.sources) - set(SOURCES))
        if bad:
            raise ValueError(f"unknown token sources {bad}: each must be one of {SOURCES}")
        if not 0 <= self.n_prompt <= T:
            raise ValueError(f"n_prompt={self.n_prompt} must be within 0..{T}")

    # -- sizes

    @property
    def n_tokens(self) -> int:
        return int(self.routing_logits.shape[0])

    @property
    def n_layers(self) -> int:
        return int(self.routing_logits.shape[1])

    @property
    def n_experts(self) -> int:
        return int(self.routing_logits.shape[2])

    @property
    def top_k(self) -> int:
        return int(self.topk_experts.shape[2])

    def __repr__(self) -> str:
        return (
            f"Trace({self.n_tokens} tokens ({self.n_prompt} prompt), {self.n_layers} layers, "
            f"{self.n_experts} experts, top-{self.top_k}, model={self.config.get('model', '?')!r})"
        )

    # -- derived quantities

    def router_probs(self) -> np.ndarray:
        """(T, L, E) float32: softmax over all E experts (the router's confidence)."""
        z = self.routing_logits.astype(np.float32)
        z = z - z.max(axis=-1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=-1, keepdims=True)

    # -- figures (plotly imported on use)

    def routing_map(self, **kwargs: Any) -> Any:
        from .viz import routing_map

        return routing_map(self, **kwargs)

    def expert_load(self, **kwargs: Any) -> Any:
        from .viz import expert_load

        return expert_load(self, **kwargs)

    def coactivation(self, layer: int, **kwargs: Any) -> Any:
        from .viz import coactivation

        return coactivation(self, layer, **kwargs)

    def routing_stats(self, **kwargs: Any) -> Any:
        from .viz import routing_stats

        return routing_stats(self, **kwargs)

    def token_path(self, t: int, **kwargs: Any) -> Any:
        from .viz import token_path

        return token_path(self, t, **kwargs)

    # -- files

    def save(self, path: str | Path) -> Path:
        """Write a compressed ``.npz`` (format version stamped inside)."""
        path = Path(path)
        arrays: dict[str, Any] = {
            "token_ids": self.token_ids,
            "routing_logits": self.routing_logits,
            "topk_experts": self.topk_experts,
            "topk_weights": self.topk_weights,
        }
        for name in ("sink_mass", "attention_entropy"):
            value = getattr(self, name)
            if value is not None:
                arrays[name] = value
        meta = {
            "format_version": FORMAT_VERSION,
            "token_strings": self.token_strings,
            "sources": self.sources,
            "n_prompt": self.n_prompt,
            "layer_types": self.layer_types,
            "config": self.config,
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        with path.open("wb") as f:
            np.savez_compressed(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        with np.load(Path(path), allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            version = meta.get("format_version")
            if version != FORMAT_VERSION:
                raise ValueError(
                    f"{path} is a trace of format {version}; this gptoss_lab reads format {FORMAT_VERSION}: "
                    "re-save it with the gptoss_lab version that wrote it"
                )
            optional = {n: data[n] for n in ("sink_mass", "attention_entropy") if n in data.files}
            return cls(
                token_ids=data["token_ids"],
                token_strings=list(meta["token_strings"]),
                sources=list(meta["sources"]),
                n_prompt=int(meta["n_prompt"]),
                routing_logits=data["routing_logits"],
                topk_experts=data["topk_experts"],
                topk_weights=data["topk_weights"],
                layer_types=list(meta["layer_types"]),
                config=dict(meta["config"]),
                **optional,
            )
