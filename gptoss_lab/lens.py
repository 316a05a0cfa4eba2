"""The logit lens: what the model would predict next if it stopped after each decoder layer.

The residual stream after layer ``l`` is put through the model's own final norm and unembedding
(``lm_head``), exactly as the last layer's output is to make the real next-token logits, so the
lens at the last layer *is* the model's next-token distribution. Only the top ``K`` predictions of
each token and layer are kept, never the (T, V) logits: for the 20b (V = 201,088) one layer's
logits over 4,096 tokens would be 3.3 GB in float32, and 24 layers of them 79 GB.

Two ways in:

* captured during generation (:class:`~gptoss_lab.capture.LensCapture`) when it is cheap: on the
  bundled model and other small ones, into the Trace's ``lens_ids`` and ``lens_probs`` (T, L, K);
* recomputed on demand with :func:`logit_lens` over a finished reply or trace: one teacher-forced
  pass, its attention computed in query chunks (:mod:`gptoss_lab.attention`'s); each layer's top-K
  is taken in its hook a chunk of positions at a time (at most :data:`BUDGET_BYTES` of logits alive
  at once), and the pass stops after the last layer, so the model's own (T, V) logits are never
  made either.

torch is imported inside functions only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import OptionError

__all__ = ["BUDGET_BYTES", "DEFAULT_K", "LogitLens", "lens_of", "logit_lens", "logit_lens_of", "top_predictions"]

#: Predictions kept per token and layer unless asked otherwise.
DEFAULT_K = 5
#: Most bytes of logits (and their working copy) alive at once while a layer's top-K is taken.
BUDGET_BYTES = 64 * 2**20


def top_predictions(hidden: Any, norm: Any, unembed: Any, k: int, budget: int | None = None) -> tuple[Any, Any]:
    """(ids (N, k) int64, probabilities (N, k) float32) of ``softmax(unembed(norm(hidden)))`` for ``hidden``
    (N, H), best first, computed ``budget // (8 V)`` rows at a time so no more than one chunk's logits exist."""
    import torch

    vocab = unembed.weight.shape[0]
    step = max(1, (BUDGET_BYTES if budget is None else budget) // (vocab * 8))  # float32 logits + exp's temporary
    ids, probs = [], []
    with torch.no_grad():
        for a in range(0, hidden.shape[0], step):
            logits = unembed(norm(hidden[a : a + step])).float()  # (c, V)
            top, idx = torch.topk(logits, k, dim=-1)  # (c, k): the top of the logits is the top of the softmax
            probs.append(torch.exp(top - torch.logsumexp(logits, dim=-1, keepdim=True)))
            ids.append(idx)
            del logits  # before the next chunk's are made
    return torch.cat(ids), torch.cat(probs)


@dataclass
class LogitLens:
    """Top-K next-token predictions read after every decoder layer, for T positions.

    ``ids[t, l]`` and ``probs[t, l]``: what the residual stream after layer ``l`` predicts to follow
    token ``t``, best first. ``next_ids[t]``: the token that did follow (-1 where not known: the last
    position of a bare Trace). ``strings``: the text of every id in ``ids`` and ``next_ids``.
    """

    ids: np.ndarray  # (T, L, K) int32
    probs: np.ndarray  # (T, L, K) float32
    token_ids: np.ndarray  # (T,) the token at each position
    next_ids: np.ndarray  # (T,) int64, -1 = not known
    token_strings: list[str]  # T
    sources: list[str]  # T, as in trace.SOURCES
    n_prompt: int
    layer_types: list[str]  # L
    strings: dict[int, str]

    @property
    def shape(self) -> tuple[int, int, int]:
        T, L, K = self.ids.shape
        return int(T), int(L), int(K)

    def text(self, token_id: int) -> str:
        """The text of ``token_id`` (``<id>`` if this lens did not keep it)."""
        return self.strings.get(int(token_id), f"<{int(token_id)}>")

    def hits(self) -> np.ndarray:
        """(T, L) bool: the top-1 prediction is the token that came next."""
        return (self.ids[..., 0] == self.next_ids[:, None]) & (self.next_ids[:, None] >= 0)

    def known_from(self) -> np.ndarray:
        """(T,) int: the first layer from which the top-1 is the next token in every later layer; -1 if the
        last layer's top-1 is not (a sampled token off the top, or the next token is not known)."""
        hits = self.hits()  # (T, L)
        L = hits.shape[1]
        misses = ~hits[:, ::-1]  # (T, L), last layer first
        streak = np.where(misses.any(axis=1), misses.argmax(axis=1), L)  # (T,) trailing layers that hit
        return np.where(streak > 0, L - streak, -1)

    def figure(self, **kwargs: Any) -> Any:
        from .viz import logit_lens

        return logit_lens(self, **kwargs)

    def __repr__(self) -> str:
        T, L, K = self.shape
        return f"LogitLens({T} tokens ({self.n_prompt} prompt), {L} layers, top-{K})"


def lens_of(source: Any) -> LogitLens:
    """The lens captured in a :class:`~gptoss_lab.trace.Trace`, or in a Reply's trace (whose ids also give
    the token after the last position); a :class:`LogitLens` is returned as it is. No model needed."""
    from .reply import Reply
    from .trace import Trace

    if isinstance(source, LogitLens):
        return source
    if not isinstance(source, (Reply, Trace)):
        raise OptionError(f"a logit lens is drawn from a LogitLens, a Trace or a Reply; got {type(source).__name__}")
    trace = source.trace if isinstance(source, Reply) else source
    if not isinstance(trace, Trace) or trace.lens_ids is None or trace.lens_probs is None:
        raise OptionError(
            "this has no captured logit lens (captured during generation on small models only): "
            "recompute it with gptoss_lab.lens.logit_lens(lab, reply)"
        )
    T = trace.n_tokens
    following = list(source.prompt_ids) + list(source.completion_ids) if isinstance(source, Reply) else []
    following = following or trace.token_ids.tolist()
    next_ids = np.full(T, -1, dtype=np.int64)
    known = np.asarray(following[1 : T + 1], dtype=np.int64)
    next_ids[: len(known)] = known
    strings = dict(trace.lens_strings)
    strings.update(zip(trace.token_ids.tolist(), trace.token_strings, strict=True))
    return LogitLens(
        ids=trace.lens_ids,
        probs=trace.lens_probs,
        token_ids=trace.token_ids,
        next_ids=next_ids,
        token_strings=list(trace.token_strings),
        sources=list(trace.sources),
        n_prompt=trace.n_prompt,
        layer_types=list(trace.layer_types),
        strings=strings,
    )


def logit_lens(lab: Any, source: Any, k: int = DEFAULT_K) -> LogitLens:
    """Recompute the logit lens over a finished Reply (its prompt and completion) or Trace, top-``k``.

    ``lab``: the :class:`gptoss_lab.Lab` with the model that wrote it; the recompute holds the Lab's
    lock (LabBusy while a reply is being written). One teacher-forced pass, layers' top-k taken as
    they run; extra memory: :data:`BUDGET_BYTES` of logits plus the result, ``T * L * k * 8`` bytes.
    The positions are those a Trace has: every token but the last generated one. A reply written
    under interventions is recomputed inside the same ``with lab.intervene(...)`` (else OptionError).
    """
    from .harmony import token_sources
    from .trace import Trace

    with lab.local_model("recompute the logit lens") as loaded:
        trace = source if isinstance(source, Trace) else getattr(source, "trace", None)
        wrote = ((trace.config if trace is not None else None) or {}).get("model") or getattr(source, "model", None)
        if wrote and wrote != loaded.source.label:  # e.g. the Lab switched models since the reply
            raise OptionError(
                f"this was written by {wrote}, and the Lab now holds {loaded.source.label}: "
                "recompute with a Lab on the model that wrote it"
            )
        _check_interventions(source, trace, loaded.model)
        if isinstance(source, Trace):  # its last position's successor is not in it
            ids, following, n_prompt, sources = source.token_ids.tolist(), -1, source.n_prompt, list(source.sources)
        elif hasattr(source, "completion_ids"):
            whole = list(source.prompt_ids) + list(source.completion_ids)
            ids, following, n_prompt = whole[:-1], whole[-1] if whole else -1, len(source.prompt_ids)
            sources = token_sources(whole, loaded.codec)
        else:
            raise OptionError(f"the logit lens is recomputed over a Reply or a Trace; got {type(source).__name__}")

        def decode(i: int) -> str:
            return str(loaded.tokenizer.decode([i], skip_special_tokens=False))

        lens = logit_lens_of(loaded.model, ids, k, decode, next_id=following)
        lens.sources, lens.n_prompt = sources[: len(ids)], min(n_prompt, len(ids))
        return lens


def _check_interventions(source: Any, trace: Any, model: Any) -> None:
    """A lens recomputed under other interventions than the reply was written with would not be its lens."""
    from . import interventions

    recorded = getattr(source, "interventions", None)
    if recorded is None:
        recorded = ((trace.config if trace is not None else None) or {}).get("interventions", [])
    now = interventions.active(model)
    if list(recorded) != now:
        raise OptionError(
            f"this was written under the interventions {interventions.summary(list(recorded)) or 'none'}, and "
            f"the model now runs under {interventions.summary(now) or 'none'}: recompute inside "
            "`with lab.intervene(...)` with the same ones (or outside any, for a plain reply)"
        )


class _Stop(Exception):
    """Raised after the last layer's lens: the model's own (T, V) logits are not needed."""


def logit_lens_of(
    model: Any, token_ids: Any, k: int = DEFAULT_K, decode: Any = None, *, next_id: int = -1
) -> LogitLens:
    """:func:`logit_lens` for a bare transformers gpt-oss model over every position of ``token_ids``
    (no Lab, no lock). ``next_id``: the token that followed the last one (-1: not known);
    ``decode(id) -> str`` names the tokens (default: ``<id>``). Sources are all "user" and every
    position counts as prompt: :func:`logit_lens` fills in a reply's.
    """
    import torch

    from . import _hf
    from .attention import _CHUNKED, _register
    from .capture import LensCapture

    ids = [int(i) for i in np.asarray(token_ids).ravel()]
    if not ids:
        raise OptionError("the logit lens needs at least one token to read; got none")
    vocab = model.get_output_embeddings().weight.shape[0]
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= vocab:
        raise OptionError(f"k must be a whole number of predictions in 1..{vocab}; got {k!r}")
    layers = model.model.layers
    device = next(model.parameters()).device
    capture = LensCapture(model, int(k))
    _register()
    # attention a chunk of queries at a time (attention.py's, exact), so no layer holds (heads, T, T) scores either
    with _hf.attention_implementation(model, _CHUNKED), capture, torch.inference_mode():
        stop = layers[-1].register_forward_hook(_raise_stop)  # after the capture's hook, so that one runs first
        try:
            model(input_ids=torch.tensor([ids], device=device), use_cache=False)
        except _Stop:
            pass
        finally:
            stop.remove()
    named = capture.collect()
    decode = decode or (lambda i: f"<{i}>")
    following = [*ids[1:], int(next_id)]
    known = [i for i in following if i >= 0]
    strings = {i: decode(i) for i in np.unique(np.r_[named["lens_ids"].ravel(), ids, known]).tolist()}
    return LogitLens(
        ids=named["lens_ids"],
        probs=named["lens_probs"],
        token_ids=np.asarray(ids, dtype=np.int64),
        next_ids=np.asarray(following, dtype=np.int64),
        token_strings=[strings[i] for i in ids],
        sources=["user"] * len(ids),
        n_prompt=len(ids),
        layer_types=list(getattr(model.config, "layer_types", None) or ["full_attention"] * len(layers)),
        strings=strings,
    )


def _raise_stop(*_: Any) -> None:
    raise _Stop
