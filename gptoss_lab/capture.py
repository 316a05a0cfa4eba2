"""Forward hooks that record expert routing in every MoE layer (the one place that knows
how transformers' gpt-oss router reports itself in each version), attention summaries, and
the logit lens (:class:`LensCapture`, the math in :mod:`gptoss_lab.lens`).

Each MoE layer ``layers[i].mlp`` gets three hooks:

* a pre-hook on ``mlp`` keeps the layer's input (the post-attention-norm hidden state);
* a hook on ``mlp.router`` reads what the router returned (:func:`routing_from_router_call`);
* a hook on ``mlp`` after it ran: if the router never fired (transformers' MXFP4 GPU kernel
  path replaces the MLP's forward and bypasses the router module), the routing is
  recomputed from the kept input with the router's weight and bias
  (:func:`routing_from_hidden`), which is exactly what the kernel computes. If the router
  did fire, the two ``mlp`` hooks remove themselves: later tokens pay for one hook only.

Each capture has a ``name`` and :meth:`~_LayerHooks.collect` returns its numpy arrays by the
names a :class:`~gptoss_lab.trace.Trace` stores (axes in :mod:`gptoss_lab.trace`).
Tensors stay on the model's device until ``collect()``, so capture adds no device
synchronisation per token. Hooks are removed on exit, also on error or Ctrl-C. How each
transformers version shapes what the hooks see is read through :mod:`gptoss_lab._hf`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import _hf

__all__ = [
    "AttentionSummaryCapture",
    "LensCapture",
    "RoutingCapture",
    "attention_summaries",
    "build_trace",
    "collect_all",
    "lens_is_cheap",
    "moe_layers",
    "routing_from_hidden",
    "routing_from_router_call",
]


def moe_layers(model: Any) -> list[Any]:
    """The MoE MLP modules of a gpt-oss model, in layer order (empty if there are none)."""
    layers = getattr(getattr(model, "model", None), "layers", None) or []
    return [layer.mlp for layer in layers if hasattr(getattr(layer, "mlp", None), "router")]


def routing_from_hidden(hidden: Any, weight: Any, bias: Any, top_k: int) -> tuple[Any, Any, Any]:
    """(logits (N, E), experts (N, k), weights (N, k)) from router inputs ``hidden`` (N, H).

    gpt-oss: logits = hidden @ W.T + b; the top-k of the raw logits; softmax over those k only.
    """
    import torch

    logits = torch.nn.functional.linear(hidden.to(weight.dtype), weight, bias).float()  # (N, E)
    top, experts = torch.topk(logits, top_k, dim=-1)  # (N, k), best first
    return logits, experts, torch.softmax(top, dim=-1)


def routing_from_router_call(router_input: Any, output: Any, weight: Any, bias: Any, top_k: int) -> tuple[Any, ...]:
    """(logits (N, E), experts (N, k), weights (N, k)) from what ``mlp.router`` returned on ``router_input`` (N, H).

    The shapes are :func:`gptoss_lab._hf.router_output`'s; a version that returns no raw logits
    has them recomputed from the router's input.
    """
    import torch

    logits, experts, weights = _hf.router_output(output, weight.shape[0])
    if logits is None:
        logits = torch.nn.functional.linear(router_input.to(weight.dtype), weight, bias)
    return logits.float(), experts, weights.float()


class _LayerHooks:
    """Hooks put on when entered and always taken off on exit (errors and Ctrl-C included),
    with what they record kept per layer as one tuple of tensors per forward call."""

    name = ""  # what this capture is called (in errors, and when two captures return one name)

    def __init__(self, n_layers: int) -> None:
        self._steps: list[list[tuple[Any, ...]]] = [[] for _ in range(n_layers)]
        self._handles: list[Any] = []

    def _register(self) -> list[Any]:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._handles = self._register()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    @property
    def complete_calls(self) -> int:
        """Forward calls recorded in every layer (a Ctrl-C mid-forward leaves one partial call)."""
        return min((len(steps) for steps in self._steps), default=0)

    def collect(self) -> dict[str, Any]:
        """The capture's numpy arrays by name, over the forward calls that reached every layer; {} if none did."""
        return self._named() if self.complete_calls > 0 else {}

    def _named(self) -> dict[str, Any]:
        raise NotImplementedError

    def _stack(self, part: int) -> Any:
        """Item ``part`` of every complete call, as one (T, L, ...) tensor on the CPU."""
        import torch

        complete = self.complete_calls
        per_layer = [torch.cat([s[part] for s in steps[:complete]], dim=0) for steps in self._steps]  # L x (T, .)
        return torch.stack(per_layer, dim=1).cpu()  # (T, L, .)


class RoutingCapture(_LayerHooks):
    """``with RoutingCapture(model) as cap: model(...)``, then ``cap.collect()``.

    Every forward call appends its positions (the whole prompt once, then one token per
    cached decoding step), for batch size 1.
    """

    name = "routing"

    def __init__(self, model: Any) -> None:
        self.mlps = moe_layers(model)
        if not self.mlps:
            raise ValueError(f"{type(model).__name__} has no gpt-oss MoE layers (layers[i].mlp.router) to capture")
        super().__init__(len(self.mlps))
        self.top_k = int(self.mlps[0].router.top_k)
        self._input: list[Any] = [None] * len(self.mlps)
        self._fired = [False] * len(self.mlps)
        self._fallback: list[list[Any]] = [[] for _ in self.mlps]  # per layer: the mlp pre/post hooks

    def _register(self) -> list[Any]:
        handles = []
        for i, mlp in enumerate(self.mlps):
            self._fallback[i] = [
                mlp.register_forward_pre_hook(self._make_pre(i)),
                mlp.register_forward_hook(self._make_post(i)),
            ]
            handles += [mlp.router.register_forward_hook(self._make_router(i)), *self._fallback[i]]
        return handles

    def remove(self) -> None:
        super().remove()
        self._input = [None] * len(self.mlps)

    def _make_pre(self, i: int) -> Any:
        def pre(module: Any, args: tuple[Any, ...]) -> None:
            self._input[i] = args[0].detach()
            self._fired[i] = False

        return pre

    def _make_router(self, i: int) -> Any:
        def hook(router: Any, args: tuple[Any, ...], output: Any) -> None:
            hidden = args[0].detach().reshape(-1, router.weight.shape[1])  # (N, H)
            self._steps[i].append(routing_from_router_call(hidden, output, router.weight, router.bias, self.top_k))
            self._fired[i] = True

        return hook

    def _make_post(self, i: int) -> Any:
        def post(module: Any, args: tuple[Any, ...], output: Any) -> None:
            hidden, self._input[i] = self._input[i], None
            if not self._fired[i] and hidden is not None:  # the router module was bypassed
                router = module.router
                flat = hidden.reshape(-1, router.weight.shape[1])  # (N, H)
                self._steps[i].append(routing_from_hidden(flat, router.weight, router.bias, self.top_k))
            elif self._fired[i]:
                # This layer calls its router: the fallback is not needed, and its hooks cost time per token.
                for handle in self._fallback[i]:
                    handle.remove()

        return post

    def _named(self) -> dict[str, Any]:
        """routing_logits (T, L, E) float16, topk_experts (T, L, k) int16, topk_weights (T, L, k) float32."""
        import torch

        return {
            "routing_logits": self._stack(0).half().numpy(),
            "topk_experts": self._stack(1).to(torch.int16).numpy(),
            "topk_weights": self._stack(2).float().numpy(),
        }

    def arrays(self) -> tuple[Any, Any, Any]:
        """(routing_logits, topk_experts, topk_weights) by position, for callers not yet on :meth:`collect`."""
        named = self.collect()
        if not named:
            raise ValueError("nothing was captured: run the model inside the `with RoutingCapture(...)` block")
        return named["routing_logits"], named["topk_experts"], named["topk_weights"]


class AttentionSummaryCapture(_LayerHooks):
    """Per token, layer and head: the sink's probability and the attention entropy.

    Hooks each ``layers[i].self_attn``; eager attention returns its weights with the sink
    column already dropped, so the sink mass is ``1 - row sum`` and the entropy (nats) runs
    over the keys plus the sink. Other attention implementations return no weights: then
    nothing is recorded and :meth:`collect` returns {}. Only summaries are kept, never the
    (H, T, T) weights themselves.
    """

    name = "attention summaries"

    def __init__(self, model: Any) -> None:
        layers = getattr(getattr(model, "model", None), "layers", None) or []
        self.attns = [layer.self_attn for layer in layers if hasattr(layer, "self_attn")]
        super().__init__(len(self.attns))

    def _register(self) -> list[Any]:
        return [attn.register_forward_hook(self._make_hook(i)) for i, attn in enumerate(self.attns)]

    def _make_hook(self, i: int) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            weights = _hf.attention_weights(output)
            if weights is not None:
                self._steps[i].append(attention_summaries(weights))

        return hook

    def _named(self) -> dict[str, Any]:
        """sink_mass (T, L, H) float16, attention_entropy (T, L, H) float16."""
        return {"sink_mass": self._stack(0).half().numpy(), "attention_entropy": self._stack(1).half().numpy()}


def attention_summaries(weights: Any) -> tuple[Any, Any]:
    """(sink mass (Sq, H), entropy in nats (Sq, H)) from eager weights (1, H, Sq, Sk) without the sink."""
    import torch

    w = weights[0]  # (H, Sq, Sk)
    sink = (1.0 - w.sum(dim=-1)).clamp_(min=0.0)  # (H, Sq); rounding can dip below 0
    entropy = torch.special.entr(w).sum(dim=-1) + torch.special.entr(sink)  # entr(x) = -x log x
    return sink.T, entropy.T  # (Sq, H)


#: Most multiply-adds per token the logit lens may add for it to be captured by default (layers x vocab x hidden):
#: nano's is under 1 M; the 20b's 14 G, about 4x its own forward pass (3.6 G active parameters), so there the lens
#: is recomputed on demand instead.
CHEAP_LENS = 2**26


def lens_is_cheap(model: Any) -> bool:
    """Whether capturing the logit lens during generation costs little next to the model's own work."""
    if not hasattr(getattr(model, "model", None), "norm"):  # not a transformers gpt-oss (a test's fake)
        return False
    sizes = [getattr(model.config, name, 0) or 0 for name in ("num_hidden_layers", "vocab_size", "hidden_size")]
    cost = sizes[0] * sizes[1] * sizes[2]
    return 0 < cost <= CHEAP_LENS


class LensCapture(_LayerHooks):
    """The logit lens: each decoder layer's output through the final norm and ``lm_head``, top-``k`` only.

    Hooks each ``layers[i]`` and keeps its output (N, hidden) per forward call; :meth:`collect` reads
    all of them through the norm and ``lm_head`` in one pass per layer, top-``k`` only, the (T, V)
    logits a chunk of rows at a time (:func:`gptoss_lab.lens.top_predictions`). Keeping the hidden
    states (T x L x hidden floats: 3 MB for 1,000 of nano's tokens) and projecting once costs less
    than a projection per token (``python bench/capture_cost.py``).
    """

    name = "logit lens"

    def __init__(self, model: Any, k: int = 5) -> None:
        self.layers = list(getattr(getattr(model, "model", None), "layers", None) or [])
        super().__init__(len(self.layers))
        self.norm, self.unembed, self.k = model.model.norm, model.get_output_embeddings(), int(k)

    def _register(self) -> list[Any]:
        return [layer.register_forward_hook(self._make_hook(i)) for i, layer in enumerate(self.layers)]

    def _make_hook(self, i: int) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            hidden = _hf.decoder_layer_output(output).detach()  # (1, S, hidden)
            self._steps[i].append((hidden.reshape(-1, hidden.shape[-1]),))  # (S, hidden)

        return hook

    def _named(self) -> dict[str, Any]:
        """lens_ids (T, L, K) int32, lens_probs (T, L, K) float32."""
        import torch

        from .lens import top_predictions

        hidden = self._stack(0)  # (T, L, hidden)
        per_layer = [top_predictions(hidden[:, i], self.norm, self.unembed, self.k) for i in range(hidden.shape[1])]
        ids = torch.stack([layer_ids for layer_ids, _ in per_layer], dim=1)  # (T, L, K)
        probs = torch.stack([layer_probs for _, layer_probs in per_layer], dim=1)  # (T, L, K)
        return {"lens_ids": ids.to(torch.int32).numpy(), "lens_probs": probs.float().numpy()}


def collect_all(captures: Sequence[_LayerHooks]) -> dict[str, Any]:
    """Every capture's arrays in one dict by name (two captures returning one name is a bug, so it raises)."""
    arrays: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for capture in captures:
        for name, value in capture.collect().items():
            if name in arrays:
                raise ValueError(f"captures {owner[name]!r} and {capture.name!r} both return {name!r}")
            arrays[name], owner[name] = value, capture.name
    return arrays


def build_trace(captures: Sequence[_LayerHooks], loaded: Any, token_ids: list[int], n_prompt: int) -> Any:
    """A :class:`~gptoss_lab.trace.Trace` from finished captures over ``token_ids`` (prompt + completion),
    or None when no routing was captured."""
    import numpy as np

    from .harmony import token_sources
    from .trace import REQUIRED, WEIGHTED, Trace

    arrays = collect_all(captures)
    if any(name not in arrays for name in (*REQUIRED, *WEIGHTED)):
        return None
    T, L, E = arrays["routing_logits"].shape  # T: tokens that went through the model (not the last one generated)
    # Ctrl-C between a layer's attention and its MLP leaves one more attention step than routing steps
    arrays = {name: value[:T] for name, value in arrays.items() if value.shape[0] >= T}
    ids = list(token_ids[:T])
    config = loaded.model.config
    layer_types = list(getattr(config, "layer_types", None) or ["full_attention"] * L)
    summary = {
        "model": loaded.source.label,
        "num_experts": int(E),
        "top_k": int(arrays["topk_experts"].shape[2]),
        "num_layers": int(L),
        "hidden_size": int(getattr(config, "hidden_size", 0)),
        "num_attention_heads": int(getattr(config, "num_attention_heads", 0)),
        "num_key_value_heads": int(getattr(config, "num_key_value_heads", 0)),
        "sliding_window": int(getattr(config, "sliding_window", 0) or 0),
    }
    lens_strings = {}
    if "lens_ids" in arrays:  # the text of each predicted token, so a saved trace draws without a tokenizer
        predicted = np.unique(arrays["lens_ids"]).tolist()
        lens_strings = {i: loaded.tokenizer.decode([i], skip_special_tokens=False) for i in predicted}
    return Trace(
        token_ids=np.asarray(ids, dtype=np.int64),
        token_strings=[loaded.tokenizer.decode([i], skip_special_tokens=False) for i in ids],
        sources=token_sources(token_ids, loaded.codec)[:T],
        n_prompt=min(n_prompt, T),
        layer_types=layer_types[:L],
        config=summary,
        arrays=arrays,
        lens_strings=lens_strings,
    )
