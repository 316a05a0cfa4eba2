"""The generation loop: one token at a time over the model's KV cache.

:func:`generate_ids` is a generator of token ids, so every token can be streamed,
parsed and inspected as it comes. Sampling runs on the CPU from a seeded
``torch.Generator``, so a seed gives the same tokens on any device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Sampling", "generate_ids", "sample_next"]


@dataclass(frozen=True)
class Sampling:
    """How to pick the next token. ``temperature=0`` is greedy."""

    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        from .options import check_generation

        check_generation(temperature=self.temperature, top_p=self.top_p, seed=self.seed)  # the rules, once


def sample_next(logits: Any, sampling: Sampling, generator: Any) -> int:
    """Pick one token id from a (V,) float tensor of logits."""
    import torch

    if sampling.temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # keep the smallest prefix whose mass reaches top_p (always at least one token)
        outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= sampling.top_p
        sorted_probs[outside] = 0.0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


def generate_ids(
    model: Any,
    prompt_ids: Sequence[int],
    *,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    sampling: Sampling = Sampling(),
    threads: int | None = None,
) -> Iterator[int]:
    """Yield new token ids until a stop id (yielded too) or ``max_new_tokens``.

    The first step runs the whole prompt through the model; each later step feeds only the
    last token against the KV cache. Closing the generator (or an exception such as
    KeyboardInterrupt) simply drops the cache: the model itself holds no state.
    ``threads`` sets torch's intra-op threads while the generator runs (restored when it ends).
    """
    import torch

    if not prompt_ids:
        raise ValueError("prompt_ids is empty: render a prompt first")
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield from _decode(model, prompt_ids, max_new_tokens, stop_ids, sampling)
    finally:
        torch.set_num_threads(before)


def _decode(
    model: Any, prompt_ids: Sequence[int], max_new_tokens: int, stop_ids: Sequence[int], sampling: Sampling
) -> Iterator[int]:
    import torch

    from . import _hf

    device = next(model.parameters()).device
    generator = torch.Generator(device="cpu")
    if sampling.seed is None:
        generator.seed()
    else:
        generator.manual_seed(sampling.seed)
    stops = set(stop_ids)
    cache_arg = _hf.cache_keyword(model.forward)
    cache = _hf.new_cache(model.config)
    input_ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=device)  # (1, T)
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            # logits_to_keep=1: the prompt step computes logits for its last position only
            out = model(input_ids=input_ids, use_cache=True, logits_to_keep=1, **{cache_arg: cache})
            logits = out.logits[0, -1].float().cpu()  # (V,)
            token = sample_next(logits, sampling, generator)
            yield token
            if token in stops:
                return
            input_ids = torch.tensor([[token]], dtype=torch.long, device=device)  # (1, 1)
