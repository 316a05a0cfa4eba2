"""Exact attention weights on demand, with gpt-oss's sink and sliding window made explicit.

gpt-oss attention differs from what most tools assume:

* **Learned sinks.** Each head has one learned logit that joins the softmax as an extra
  column and is then dropped: the keys' weights sum to ``1 - p_sink``. The sink is a
  learned "none of the above" with no value vector, so the probability it takes simply
  leaves the output. (StreamingLLM's sinks are real first tokens that later tokens attend
  to; gpt-oss needs no such token.)
* **Sliding windows.** Layers 0, 2, 4, ... attend only to the last ``sliding_window`` keys
  (128 on the real models: query ``i`` sees keys ``i - 127 .. i``); layers 1, 3, ... see the
  whole prefix. This halves the attention cost and KV cache of half the layers.

Full attention for the 20b over 4096 tokens is 48 GiB, so it is never kept: a Trace holds
per-token summaries (sink mass, entropy), and :func:`attention` recomputes one layer's
weights for the heads and queries asked for, with a teacher-forced pass whose attention is
computed in query chunks, so the extra memory stays bounded whatever the length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import OptionError

__all__ = ["AttentionWeights", "attention", "attention_of"]

_CHUNKED = "gptoss_lab_chunked"
_BUDGET_BYTES = 256 * 2**20  # working set of one query chunk (logits, probabilities, mask)


@dataclass
class AttentionWeights:
    """Exact attention of one layer. ``weights``: (heads, queries, keys) over absolute key
    positions, zero for future keys and keys outside the window; ``sink``: (heads, queries),
    the sink's probability (each row of ``weights`` sums to ``1 - sink``)."""

    layer: int
    layer_type: str
    window: int | None
    heads: list[int]
    queries: np.ndarray  # (Q,) absolute positions
    keys: np.ndarray  # (K,) absolute positions
    weights: np.ndarray  # (h, Q, K) float32
    sink: np.ndarray  # (h, Q) float32
    token_strings: list[str]
    sources: list[str]

    def __repr__(self) -> str:
        kind = f"sliding window {self.window}" if self.window else "full attention"
        return (
            f"AttentionWeights(layer {self.layer}, {kind}, heads {self.heads}, "
            f"{len(self.queries)} queries x {len(self.keys)} keys)"
        )


def _chunk_size(n_heads: int, n_keys: int) -> int:
    return max(1, _BUDGET_BYTES // max(1, n_heads * n_keys * 4 * 3))


def _visible(q_pos: Any, k_pos: Any, window: int | None) -> Any:
    """(Q, K) bool: causal, and within the window on sliding layers."""
    ok = k_pos[None, :] <= q_pos[:, None]
    if window:
        ok &= q_pos[:, None] - k_pos[None, :] < window
    return ok


def _probs(q: Any, k: Any, sinks: Any, scaling: float, q_pos: Any, window: int | None) -> tuple[Any, Any]:
    """Softmax over keys plus the sink for one chunk: q (h, c, D), k (h, T, D), sinks (h,).

    Returns (key probabilities (h, c, T), sink probability (h, c)).
    """
    import torch

    logits = torch.matmul(q, k.transpose(-1, -2)).float() * scaling  # (h, c, T)
    keys = torch.arange(k.shape[1], device=k.device)
    logits.masked_fill_(~_visible(q_pos, keys, window), float("-inf"))
    sink = sinks.float().view(-1, 1, 1).expand(-1, logits.shape[1], 1)  # (h, c, 1)
    p = torch.softmax(torch.cat([logits, sink], dim=-1), dim=-1)  # (h, c, T+1)
    return p[..., :-1], p[..., -1]


def chunked_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float, **_: Any
) -> tuple[Any, None]:
    """Exact gpt-oss attention (batch 1, no padding) computed a chunk of queries at a time."""
    import torch

    H, S = query.shape[1], query.shape[2]  # query: (1, H, S, D)
    groups = H // key.shape[1]
    k = key[0].repeat_interleave(groups, dim=0)  # (H, T, D)
    v = value[0].repeat_interleave(groups, dim=0)
    out = torch.empty_like(query[0])  # (H, S, D)
    offset = k.shape[1] - S  # queries are the last S positions
    step = _chunk_size(H, k.shape[1])
    for a in range(0, S, step):
        q_pos = torch.arange(a, min(S, a + step), device=query.device) + offset
        p, _ = _probs(query[0, :, a : a + step], k, module.sinks, scaling, q_pos, module.sliding_window)
        out[:, a : a + step] = torch.matmul(p.to(v.dtype), v)  # (H, c, D)
    return out.transpose(0, 1).unsqueeze(0), None  # (1, S, H, D)


def _register() -> None:
    from . import _hf

    _hf.register_attention(_CHUNKED, chunked_attention)  # masks are built per chunk


class _Stop(Exception):
    """Raised once the target layer's queries and keys are in hand: later layers are not needed."""


def _queries_and_keys(model: Any, token_ids: np.ndarray, layer: int) -> tuple[Any, Any, Any]:
    """(q (H, T, D), k (Hkv, T, D), the attention module) of ``layer`` for a teacher-forced pass."""
    import torch

    from . import _hf

    attn = model.model.layers[layer].self_attn
    found: dict[str, Any] = {}

    def grab(module: Any, args: Any, kwargs: Any) -> None:
        hidden, (cos, sin) = _hf.attention_call(module, args, kwargs)  # hidden (1, T, hidden)
        shape = (*hidden.shape[:-1], -1, module.head_dim)
        q = module.q_proj(hidden).view(shape).transpose(1, 2)  # (1, H, T, D)
        k = module.k_proj(hidden).view(shape).transpose(1, 2)  # (1, Hkv, T, D)
        found["q"], found["k"] = _hf.rotate(q, k, cos, sin)
        raise _Stop

    _register()
    ids = torch.tensor([token_ids.tolist()], device=next(model.parameters()).device)  # (1, T)
    with _hf.attention_implementation(model, _CHUNKED):
        handle = attn.register_forward_pre_hook(grab, with_kwargs=True)
        try:
            with torch.inference_mode():
                model(input_ids=ids, use_cache=False)
        except _Stop:
            pass
        finally:
            handle.remove()
    return found["q"][0], found["k"][0], attn


def attention(
    lab: Any,
    trace: Any,
    layer: int,
    heads: list[int] | None = None,
    queries: Any = None,
) -> AttentionWeights:
    """Recompute the exact attention of ``layer`` over ``trace``'s tokens.

    ``lab``: a :class:`gptoss_lab.Lab` (or its loaded model) with the model that made the trace; the
    recompute holds the Lab's lock (LabBusy while a reply is being written).
    ``heads``: query heads (default all); ``queries``: absolute query positions (default all).
    Extra memory: one query chunk's working set (about 256 MiB) plus the result,
    ``len(heads) * len(queries) * T * 4`` bytes: ask for the heads and queries you will draw.
    """
    # the Lab's lock: a click never runs the model a Playground is generating with (LabBusy instead);
    # a server's Lab has no weights to recompute with (NeedsLocalModel)
    with lab.local_model("recompute attention") as loaded:
        if trace is None:
            raise OptionError("no trace to recompute attention over: ask with capture=True (%%gptoss --capture)")
        wrote = (trace.config or {}).get("model")
        if wrote and wrote != loaded.source.label:  # e.g. the Lab switched models since the reply
            raise OptionError(
                f"this trace was captured by {wrote}, and the Lab now holds {loaded.source.label}: "
                "recompute with a Lab on the model that wrote it"
            )
        return attention_of(loaded.model, trace, layer, heads, queries)


def attention_of(
    model: Any, trace: Any, layer: int, heads: list[int] | None = None, queries: Any = None
) -> AttentionWeights:
    """:func:`attention` for a bare transformers gpt-oss model (no Lab, no lock): for benchmarks and scripts."""
    import torch

    n_layers = len(model.model.layers)
    if not 0 <= layer < n_layers:
        raise OptionError(f"layer must be in 0..{n_layers - 1}, got {layer}")
    T = len(trace.token_ids)
    q_all, k, attn = _queries_and_keys(model, trace.token_ids, layer)
    H = q_all.shape[0]
    heads = list(range(H)) if heads is None else [int(h) for h in heads]
    if any(not 0 <= h < H for h in heads):
        raise OptionError(f"heads must be in 0..{H - 1}, got {heads}")
    q_pos = np.arange(T) if queries is None else np.asarray(list(queries), dtype=np.int64)
    if q_pos.size and (q_pos.min() < 0 or q_pos.max() >= T):
        raise OptionError(f"queries must be positions in 0..{T - 1}")
    groups = H // k.shape[0]
    head_idx = torch.tensor(heads, device=k.device)
    q = q_all[head_idx]  # (h, T, D)
    keys = k[head_idx // groups]  # (h, T, D)
    weights = np.zeros((len(heads), len(q_pos), T), dtype=np.float32)
    sink = np.zeros((len(heads), len(q_pos)), dtype=np.float32)
    step = _chunk_size(len(heads), T)
    with torch.inference_mode():
        for a in range(0, len(q_pos), step):
            pos = torch.as_tensor(q_pos[a : a + step], device=k.device)
            p, s = _probs(q[:, pos], keys, attn.sinks[head_idx], attn.scaling, pos, attn.sliding_window)
            weights[:, a : a + step] = p.cpu().numpy()
            sink[:, a : a + step] = s.cpu().numpy()
    layer_type = trace.layer_types[layer] if layer < len(trace.layer_types) else "full_attention"
    return AttentionWeights(
        layer=layer,
        layer_type=layer_type,
        window=attn.sliding_window,
        heads=heads,
        queries=q_pos,
        keys=np.arange(T),
        weights=weights,
        sink=sink,
        token_strings=list(trace.token_strings),
        sources=list(trace.sources),
    )
