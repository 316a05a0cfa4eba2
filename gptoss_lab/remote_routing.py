"""Routing over a server: vLLM's per-token routed experts, read into a :class:`~gptoss_lab.trace.Trace`.

Written from vLLM 0.32's source (``vllm/entrypoints/openai/completion/protocol.py`` and
``vllm/utils/serial_utils.py``): a vLLM started with ``--enable-return-routed-experts`` puts in every
choice of a *non-streamed* response ``routed_experts``, the base64 of a ``.npy`` file (numpy's own
format, no pickle) of shape ``(tokens - 1, layers, top_k)``, the expert ids each token went to, prompt
first (the last generated token is never fed back, so it has none). It sends no router logits and no
mixing weights, so the trace holds ``topk_experts`` alone (:attr:`Trace.weighted` is False): the routing
map, expert load and co-activation draw from it; router entropy and the token path's weights need a
local model and say so.

vLLM 0.32 captures routing only with its second model runner (``VLLM_USE_V2_MODEL_RUNNER=1``), which
needs Triton: on a GPU, not on the CPU build these tests run (it refuses to start there). So this is
tested on responses written the way vLLM writes them (``np.save`` then base64), and checked against a
real server by ``bench/gpu_vllm_routing.py`` where a GPU and vLLM are at hand.

Asking for it (``Lab(base_url, api="completions", capture=True)``) sends the request unstreamed: the
reply then arrives whole, at the end, instead of token by token.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ServerError

__all__ = ["NOT_SENT", "decode_routed_experts", "served_trace"]

#: What a reply says when capture was asked of a server that sent no routed experts.
NOT_SENT = (
    "the server sent no routed experts: start vLLM with --enable-return-routed-experts "
    "(VLLM_USE_V2_MODEL_RUNNER=1, on a GPU) and connect harmony-exact (api='completions'), or use a local model"
)


def decode_routed_experts(text: str) -> np.ndarray:
    """``routed_experts`` as vLLM sends it -> (T, L, k) int16 expert ids; a malformed one is a ServerError."""
    try:
        raw = base64.b64decode(text, validate=True)
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except (binascii.Error, ValueError, OSError, EOFError) as err:
        raise ServerError(f"the server's routed_experts is not a base64 .npy array ({err}): {text[:40]!r}") from None
    if array.ndim != 3 or array.dtype.kind not in "iu":
        raise ServerError(
            f"the server's routed_experts has shape {array.shape} of {array.dtype}; expected (tokens, layers, "
            "top_k) expert ids"
        )
    return array.astype(np.int16)


def _model_config(source: Any) -> dict[str, Any]:
    """num_local_experts and layer_types of the served model: its config.json here, else the known shapes."""
    from .memory import KNOWN_CONFIGS

    path = Path(getattr(source, "path", "") or "") / "config.json"
    if path.is_file():
        return json.loads(path.read_text())
    return dict(KNOWN_CONFIGS.get(getattr(source, "name", ""), {}))


def served_trace(
    routed: np.ndarray, token_ids: list[int], n_prompt: int, tokens: Any, *, model: str, server: str
) -> Any:
    """A weightless :class:`~gptoss_lab.trace.Trace` of ``token_ids`` (prompt + reply) from vLLM's ``routed``.

    ``tokens``: the client's :class:`~gptoss_lab.remote_tokens.ClientTokenizer` (token text, sources and
    the model's config). A routing that does not fit the tokens is a ServerError that says both lengths.
    """
    from .harmony import token_sources
    from .trace import Trace

    T, L, k = routed.shape
    if not len(token_ids) - 1 <= T <= len(token_ids):
        raise ServerError(
            f"the server's routed_experts covers {T} tokens, but the prompt and reply are {len(token_ids)} "
            "(expected one fewer): was routed_experts_prompt_start set?"
        )
    config = _model_config(tokens.source)
    n_experts = int(config.get("num_local_experts") or int(routed.max(initial=0)) + 1)
    if int(routed.max(initial=0)) >= n_experts:
        raise ServerError(f"the server's routed_experts names expert {int(routed.max())} of a {n_experts}-expert model")
    layer_types = list(config.get("layer_types") or ["full_attention"] * L)[:L]
    ids = list(token_ids[:T])
    summary = {"model": model, "server": server, "num_experts": n_experts, "top_k": int(k), "num_layers": int(L)}
    return Trace(
        token_ids=np.asarray(ids, dtype=np.int64),
        token_strings=[tokens.tokenizer.decode([i], skip_special_tokens=False) for i in ids],
        sources=token_sources(token_ids, tokens.codec)[:T],
        n_prompt=min(n_prompt, T),
        layer_types=layer_types,
        config=summary,
        topk_experts=routed,
    )
