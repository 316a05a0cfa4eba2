"""Trace: what the model did on each token, as named numpy arrays. No torch.

Axes are fixed and written once, here (:data:`AXES` is the same list, checked by a test):

* ``T``: token position in the sequence (prompt, then completion), ``L``: MoE layer (in
  gpt-oss, every decoder layer), ``E``: expert, ``k``: rank among the experts chosen for a
  token (0 = highest weight), ``H``: attention head, ``K``: rank among the logit lens's
  next-token predictions (0 = likeliest).
* ``routing_logits`` (T, L, E) float16: raw router logits over all experts,
  ``logits = hidden @ W.T + b``. Softmax over these is the router's confidence over all E.
* ``topk_experts`` (T, L, k) int16: the experts chosen, best first.
* ``topk_weights`` (T, L, k) float32: the weights used to mix them: softmax over the
  chosen k logits only, as gpt-oss does (they sum to 1 per token and layer).
* ``sink_mass`` (T, L, H) float16, optional: the probability each head gave its learned sink.
* ``attention_entropy`` (T, L, H) float16, optional: each head's attention entropy in nats,
  over the keys plus the sink.
* ``lens_ids`` (T, L, K) int32, optional: the logit lens: the top-K tokens predicted to follow
  token t, read from the residual stream after decoder layer l through the final norm and the
  unembedding (:mod:`gptoss_lab.lens`); at the last layer, the model's own top-K.
* ``lens_probs`` (T, L, K) float32, optional: their probabilities (softmax over the whole vocabulary).
  ``Trace.lens_strings`` holds the text of every id in ``lens_ids``.

A served model's trace (vLLM's ``routed_experts``: :mod:`gptoss_lab.remote_routing`) holds
``topk_experts`` alone: a server sends which experts each token went to, not their weights or the
router's logits. Its ``config["num_experts"]`` says E; the views that need weights or logits say so
in one line (:attr:`Trace.weighted`).

``config["interventions"]`` lists the interventions in effect while the model ran (experts, sinks,
heads switched off: :mod:`gptoss_lab.interventions`), so the routing arrays are what was actually chosen.

A capture (:mod:`gptoss_lab.capture`) returns some of these by name; a Trace keeps them in
``arrays`` and saves each under its name. ``topk_experts`` is always there, and for a local model
the router's logits and weights too.

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

__all__ = ["AXES", "FORMAT_VERSION", "REQUIRED", "SOURCES", "WEIGHTED", "Trace"]

#: The layout of a saved trace: one .npz entry per array, by name, plus ``token_ids`` and ``meta``.
FORMAT_VERSION = 1
#: Where each token comes from: the author of its message, or the channel for the assistant.
SOURCES = ("system", "developer", "user", "analysis", "commentary", "final", "tool", "header")
#: Every array a Trace may hold, with its axes (as in the module docstring). A new capture adds its own here.
AXES: dict[str, tuple[str, ...]] = {
    "routing_logits": ("T", "L", "E"),
    "topk_experts": ("T", "L", "k"),
    "topk_weights": ("T", "L", "k"),
    "sink_mass": ("T", "L", "H"),
    "attention_entropy": ("T", "L", "H"),
    "lens_ids": ("T", "L", "K"),
    "lens_probs": ("T", "L", "K"),
}
#: The arrays every Trace has.
REQUIRED = ("topk_experts",)
#: What a local model's capture records besides; a served model's trace has only REQUIRED.
WEIGHTED = ("routing_logits", "topk_weights")
_NOT_ARRAYS = ("token_ids", "meta")  # the other .npz entries


@dataclass(init=False, eq=False)
class Trace:
    """Per-token routing (and optional attention summaries and logit lens) of one prompt + reply.

    Arrays are passed by name, either in ``arrays`` or as keywords (``routing_logits=...``);
    a keyword set to None leaves that array out. ``lens_strings``: the text of each token id
    in ``lens_ids`` (so a saved trace draws its lens without a tokenizer).
    """

    token_ids: np.ndarray  # (T,) int64
    token_strings: list[str]  # T
    sources: list[str]  # T, each one of SOURCES
    n_prompt: int
    layer_types: list[str]  # L: "sliding_attention" | "full_attention"
    config: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # by name, axes as in AXES
    lens_strings: dict[int, str] = field(default_factory=dict)  # token id -> text, for lens_ids

    def __init__(
        self,
        token_ids: np.ndarray,
        token_strings: list[str],
        sources: list[str],
        n_prompt: int,
        *,
        layer_types: list[str],
        config: dict[str, Any] | None = None,
        arrays: dict[str, np.ndarray] | None = None,
        lens_strings: dict[int, str] | None = None,
        **named: np.ndarray | None,
    ) -> None:
        merged = {**(arrays or {}), **named}
        self.token_ids = np.asarray(token_ids)
        self.token_strings = list(token_strings)
        self.sources = list(sources)
        self.n_prompt = int(n_prompt)
        self.layer_types = list(layer_types)
        self.config = dict(config or {})
        self.arrays = {name: np.asarray(value) for name, value in merged.items() if value is not None}
        self.lens_strings = {int(i): str(s) for i, s in (lens_strings or {}).items()}
        self._check()

    def _check(self) -> None:
        unknown = sorted(set(self.arrays) - set(AXES))
        if unknown:
            raise ValueError(f"unknown trace arrays {unknown}: a Trace holds {list(AXES)} (see gptoss_lab.trace.AXES)")
        missing = [name for name in REQUIRED if name not in self.arrays]
        if missing:
            raise ValueError(f"a Trace needs the routing arrays {list(REQUIRED)}: {missing} missing")
        half = [name for name in WEIGHTED if name not in self.arrays]
        if len(half) == 1:
            raise ValueError(f"a Trace has both of {list(WEIGHTED)} or neither: {half[0]} missing")
        if half and not isinstance(self.config.get("num_experts"), int):
            raise ValueError("a Trace without routing_logits needs config['num_experts'] (E cannot be read off ids)")
        sizes: dict[str, int] = {}
        for name in (n for n in AXES if n in self.arrays):  # the first array with an axis sets its size
            for axis, n in zip(AXES[name], self.arrays[name].shape, strict=False):
                sizes.setdefault(axis, n)
        shapes = {name: (self.arrays[name].shape, tuple(sizes.get(a) for a in AXES[name])) for name in self.arrays}
        shapes["token_ids"] = (self.token_ids.shape, (sizes.get("T"),))
        shapes["token_strings"] = ((len(self.token_strings),), (sizes.get("T"),))
        shapes["sources"] = ((len(self.sources),), (sizes.get("T"),))
        shapes["layer_types"] = ((len(self.layer_types),), (sizes.get("L"),))
        for name, (got, want) in shapes.items():
            if tuple(got) != want:
                axes = ", ".join(sizes)
                raise ValueError(
                    f"Trace.{name} has shape {tuple(got)}, expected {want} ({axes} = {tuple(sizes.values())})"
                )
        bad = sorted(set(self.sources) - set(SOURCES))
        if bad:
            raise ValueError(f"unknown token sources {bad}: each must be one of {SOURCES}")
        if not 0 <= self.n_prompt <= sizes["T"]:
            raise ValueError(f"n_prompt={self.n_prompt} must be within 0..{sizes['T']}")

    # -- arrays by name (axes in the module docstring)

    @property
    def weighted(self) -> bool:
        """Whether the router's logits and the mixing weights are here (a local model's capture), or only
        the chosen experts (a served model's)."""
        return "topk_weights" in self.arrays

    def _weighted(self, name: str) -> np.ndarray:
        if name not in self.arrays:
            where = f" from {self.config['server']}" if self.config.get("server") else ""
            raise ValueError(
                f"this trace{where} holds only the chosen experts (a server sends no router logits or weights), "
                f"so {name} is not here: run the model locally for it (Lab(model)); routing_map, expert_load "
                "and coactivation draw from the chosen experts alone"
            )
        return self.arrays[name]

    @property
    def routing_logits(self) -> np.ndarray:
        return self._weighted("routing_logits")

    @property
    def topk_experts(self) -> np.ndarray:
        return self.arrays["topk_experts"]

    @property
    def topk_weights(self) -> np.ndarray:
        return self._weighted("topk_weights")

    @property
    def sink_mass(self) -> np.ndarray | None:
        return self.arrays.get("sink_mass")

    @property
    def attention_entropy(self) -> np.ndarray | None:
        return self.arrays.get("attention_entropy")

    @property
    def lens_ids(self) -> np.ndarray | None:
        return self.arrays.get("lens_ids")

    @property
    def lens_probs(self) -> np.ndarray | None:
        return self.arrays.get("lens_probs")

    @property
    def interventions(self) -> list[dict[str, Any]]:
        """The interventions in effect while the model ran ([] for none), as saved in ``config``."""
        return list(self.config.get("interventions", []))

    # -- sizes

    @property
    def n_tokens(self) -> int:
        return int(self.topk_experts.shape[0])

    @property
    def n_layers(self) -> int:
        return int(self.topk_experts.shape[1])

    @property
    def n_experts(self) -> int:
        if "routing_logits" in self.arrays:
            return int(self.arrays["routing_logits"].shape[2])
        return int(self.config["num_experts"])

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

    def logit_lens(self, **kwargs: Any) -> Any:
        from .viz import logit_lens

        return logit_lens(self, **kwargs)

    # -- files

    def save(self, path: str | Path) -> Path:
        """Write a compressed ``.npz``: each array under its name, ``token_ids``, and ``meta`` (JSON)."""
        path = Path(path)
        meta = {
            "format_version": FORMAT_VERSION,
            "token_strings": self.token_strings,
            "sources": self.sources,
            "n_prompt": self.n_prompt,
            "layer_types": self.layer_types,
            "config": self.config,
            "lens_strings": {str(i): s for i, s in self.lens_strings.items()},
        }
        entries = {
            **self.arrays,
            "token_ids": self.token_ids,
            "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        }
        with path.open("wb") as f:
            np.savez_compressed(f, **entries)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """Read a trace written by :meth:`save` (every array back under its name)."""
        with np.load(Path(path), allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            version = meta.get("format_version")
            if version != FORMAT_VERSION:
                raise ValueError(
                    f"{path} is a trace of format {version}; this gptoss_lab reads format {FORMAT_VERSION}: "
                    "re-save it with the gptoss_lab version that wrote it"
                )
            return cls(
                token_ids=data["token_ids"],
                token_strings=meta["token_strings"],
                sources=meta["sources"],
                n_prompt=int(meta["n_prompt"]),
                layer_types=meta["layer_types"],
                config=meta["config"],
                arrays={name: data[name] for name in data.files if name not in _NOT_ARRAYS},
                lens_strings={int(i): s for i, s in meta.get("lens_strings", {}).items()},
            )
