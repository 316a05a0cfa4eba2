"""Every version-fragile transformers seam, one function each (checked on transformers 4.57.6 and 5.24).

Each function says which shapes it knows; tests/integration/test_hf.py has a test per shape. When a
transformers release moves something, the fix belongs here and nowhere else. torch and transformers
are imported inside functions only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "attention_call",
    "attention_implementation",
    "attention_weights",
    "cache_keyword",
    "decoder_layer_output",
    "new_cache",
    "register_attention",
    "rotate",
    "router_output",
]


def router_output(output: Any, n_experts: int) -> tuple[Any, Any, Any]:
    """What ``mlp.router`` returned, as (logits (N, E) or None, experts (N, k), weights (N, k)).

    * transformers >= 5: ``(logits (N, E), scores (N, k), indices (N, k))``.
    * transformers 4.55-4.57: ``(scores, indices)``, the chosen experts' weights scattered into (N, E)
      with zeros elsewhere (or already (N, k)); no raw logits, so None: recompute them from the input.
    """
    if isinstance(output, tuple) and len(output) == 3:
        logits, weights, experts = output
        return logits, experts, weights
    if isinstance(output, tuple) and len(output) == 2:
        scores, experts = output
        weights = scores.gather(-1, experts) if scores.shape[-1] == n_experts else scores  # (N, k)
        return None, experts, weights
    shape = [tuple(getattr(o, "shape", ())) for o in output] if isinstance(output, tuple) else type(output).__name__
    raise TypeError(f"unrecognised gpt-oss router output {shape}: this transformers version is not supported yet")


def decoder_layer_output(output: Any) -> Any:
    """The residual stream (B, S, hidden) that ``model.model.layers[i]`` returned.

    * transformers >= 4.56 (5.24 included): the hidden states tensor itself.
    * transformers 4.55: a tuple whose first item is the hidden states (router logits and attention
      weights may follow).
    """
    if isinstance(output, tuple):
        return output[0]
    return output


def cache_keyword(forward: Callable[..., Any]) -> str:
    """The KV cache argument of a model's ``forward``: ``cache`` from transformers 5.24, ``past_key_values`` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


def new_cache(config: Any) -> Any:
    """An empty ``DynamicCache`` laid out from ``config`` (4.56+: sliding layers keep only their window).

    An older ``DynamicCache()`` takes no config and keeps every key on every layer (the mask still
    hides what a window must not see, so results are the same, only the memory is larger).
    """
    import inspect

    from transformers import DynamicCache

    if "config" in inspect.signature(DynamicCache).parameters:
        return DynamicCache(config=config)
    return DynamicCache()


def rotate(q: Any, k: Any, cos: Any, sin: Any) -> tuple[Any, Any]:
    """gpt-oss's rotary embedding applied to q (B, H, T, D) and k (B, Hkv, T, D), with the (cos, sin)
    the model's decoder passed to its attention (their layout is the model's business, so its own
    ``apply_rotary_pos_emb`` applies them; 4.57 and 5.24 both take ``(q, k, cos, sin)``)."""
    from transformers.models.gpt_oss.modeling_gpt_oss import apply_rotary_pos_emb

    return apply_rotary_pos_emb(q, k, cos, sin)


def attention_call(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, tuple[Any, Any]]:
    """(hidden_states, (cos, sin)) from a call of ``layers[i].self_attn`` seen by a ``with_kwargs`` pre-hook.

    4.57 and 5.24 decoder layers pass both by keyword; the attention's own signature
    ``(hidden_states, position_embeddings, ...)`` also covers a positional call.
    """
    import inspect

    bound = inspect.signature(module.forward).bind_partial(*args, **kwargs).arguments
    missing = [name for name in ("hidden_states", "position_embeddings") if bound.get(name) is None]
    if missing:
        name = type(module).__name__
        raise TypeError(f"{name} was called without {missing}: this transformers version is not supported yet")
    return bound["hidden_states"], tuple(bound["position_embeddings"])


def attention_weights(output: Any) -> Any:
    """The attention probabilities (B, H, Sq, Sk) that ``layers[i].self_attn`` returned, or None.

    4.57 and 5.24 return ``(attn_output, attn_weights)``; the weights are None unless the
    implementation is ``eager``.
    """
    if isinstance(output, tuple) and len(output) > 1:
        return output[1]
    return None


@contextlib.contextmanager
def attention_implementation(model: Any, name: str) -> Iterator[None]:
    """Run ``model`` with the attention implementation ``name`` inside the block; the previous one after.

    4.57 and 5.x models have ``set_attn_implementation`` (it checks the name, e.g. refuses ``sdpa`` for
    gpt-oss, and reaches every sub-config); a model without it reads ``config._attn_implementation``
    at each forward, so that is written. The previous value is written back as it was, unchecked.
    """
    config = model.config
    previous = config._attn_implementation
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(name)
    else:
        config._attn_implementation = name
    try:
        yield
    finally:
        config._attn_implementation = previous


def register_attention(name: str, function: Callable[..., Any]) -> None:
    """Make ``name`` an attention implementation that runs ``function`` and gets no mask (it builds its own).

    ``AttentionInterface`` and ``AttentionMaskInterface`` (4.53+). 4.57 and 5.24 also skip the mask for
    a name with no mask entry; registering one keeps it so if that default changes.
    """
    from transformers import AttentionInterface, AttentionMaskInterface

    AttentionInterface.register(name, function)
    AttentionMaskInterface.register(name, lambda *args, **kwargs: None)
