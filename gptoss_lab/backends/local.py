"""LocalBackend: a transformers model in this process; replies token by token, with captures on request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .. import interventions, memory
from ..errors import WontFitError
from ..harmony import StreamParser
from ..model import ModelHandle
from ..options import Generation, default_max_new_tokens
from ..reply import Reply
from . import Turn, check_context

__all__ = ["LocalBackend", "check_context", "check_memory"]


def check_memory(handle: ModelHandle, prompt_tokens: int, max_new_tokens: int, turns: int) -> None:
    """Refuse, before prefill, a reply whose KV cache and prompt attention (and the weights, if they are not
    loaded yet) would not fit in the memory free now; skipped with ``preflight=False`` or when unknown."""
    config = handle.config
    if not handle.preflight or config is None or not memory.priceable(config):
        return
    where = handle.device if handle.device_map is None else "auto"
    free = memory.available_bytes(where)
    if free is None:
        return
    weights = 0 if handle.loaded else memory.weights_bytes(config, handle.plan.memory_quant, handle.dtype)

    def need(new_tokens: int) -> int:
        return weights + memory.reply_bytes(config, prompt_tokens, new_tokens, handle.dtype)

    if need(max_new_tokens) <= free:
        return
    low, high = 0, max_new_tokens  # the most new tokens that fit: need() grows with them
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if need(mid) <= free else (low, mid - 1)
    fits = low if need(low) <= free else 0
    reset = f"%gptoss reset (or lab.reset()) to drop the {turns} earlier turn{'s' * (turns != 1)}" if turns else ""
    fixes = [reset, "a shorter prompt", f"--max-tokens {fits} or less" if fits else ""]
    loading = f"its {_size(weights)} of weights, " if weights else ""
    place = "all GPUs and CPU memory (device_map='auto')" if where == "auto" else where
    raise WontFitError(
        f"this reply needs about {_size(need(max_new_tokens))} on {place} ({loading}the KV cache for "
        f"{prompt_tokens:,} prompt + {max_new_tokens:,} new tokens and the prompt's attention scores, "
        f"{config['num_attention_heads']} heads x {prompt_tokens:,} x {prompt_tokens:,} per layer) but "
        f"{_size(free)} is free: use {', or '.join(f for f in fixes if f)}; Lab(..., preflight=False) tries anyway"
    )


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


class LocalBackend:
    """A :class:`~gptoss_lab.model.ModelHandle`, loaded on first use."""

    capabilities = frozenset({"routing", "attention", "token_ids", "interventions"})

    def __init__(self, handle: ModelHandle) -> None:
        self.handle = handle
        self.name = handle.source.name
        self.label = handle.source.label
        self.identity = handle.source.identity

    @property
    def context_length(self) -> int | None:
        value = (self.handle.config or {}).get("max_position_embeddings")
        return int(value) if value else None

    @property
    def family(self) -> str:
        """ "nano" for the bundled model and checkpoints nano's training wrote (they carry its recipe), else
        "gpt-oss": which default token limits apply."""
        source = self.handle.source
        return "nano" if source.kind == "nano" or "recipe" in source.meta else "gpt-oss"

    def default_max_new_tokens(self, effort: str, prompt_tokens: int | None = None) -> int:
        context = self.context_length
        room = context - prompt_tokens if context is not None and prompt_tokens is not None else None
        return default_max_new_tokens(effort, self.family, room)

    def describe(self) -> str:
        return self.handle.describe()

    def load(self) -> None:
        self.handle.load()

    def with_model(self, name: str) -> LocalBackend:
        return LocalBackend(ModelHandle(name))

    def local_model(self) -> Any:
        return self.handle.load()

    def stream(
        self,
        turn: Turn,
        options: Generation,
        *,
        capture: bool | None,
        on_update: Callable[[Reply], None] | None,
        stop: threading.Event | None,
    ) -> Reply:
        from ..generate import Sampling

        # memory and files first, then the tokenizer alone: a prompt too long for the context or the free
        # memory is refused before the weights load
        self.handle.check()
        prompt_ids = self.handle.encode(turn.harmony(options.effort, self.identity))
        turns = len(turn.history) // 2
        limit = options.max_new_tokens or self.default_max_new_tokens(options.effort, len(prompt_ids))
        check_context(len(prompt_ids), limit, self.context_length, self.label, turns)
        check_memory(self.handle, len(prompt_ids), limit, turns)
        was_loaded = self.handle.loaded
        if not was_loaded and on_update is not None:  # the first reply loads the weights: say so meanwhile
            waiting = Reply(turn.prompt, self.label, options.effort, prompt_ids=prompt_ids)
            waiting.stats.prompt_tokens = len(prompt_ids)
            waiting.status = f"loading {self.label}…"
            on_update(waiting)
        began = time.perf_counter()
        loaded = self.handle.load()
        load_seconds = None if was_loaded else time.perf_counter() - began
        sampling = Sampling(
            temperature=loaded.sampling["temperature"] if options.temperature is None else options.temperature,
            top_p=loaded.sampling["top_p"] if options.top_p is None else options.top_p,
            seed=options.seed,
        )
        reply = Reply(
            turn.prompt, self.label, options.effort, prompt_ids=prompt_ids, untrained=not loaded.source.trained
        )
        reply.stats.prompt_tokens = len(prompt_ids)
        reply.stats.load_seconds = load_seconds
        reply.max_new_tokens = limit
        reply.sampling = {"temperature": sampling.temperature, "top_p": sampling.top_p, "seed": sampling.seed}
        reply.room = None if self.context_length is None else self.context_length - len(prompt_ids)
        captures = _captures(loaded, capture)
        with interventions.apply(loaded.model, options.interventions):
            reply.interventions = interventions.active(loaded.model)  # this reply's, and any `lab.intervene`'s
            _generate(loaded, reply, sampling, limit, captures, on_update, stop)
        if captures:
            from ..capture import build_trace

            reply.trace = build_trace(captures, loaded, prompt_ids + reply.completion_ids, len(prompt_ids))
            if reply.trace is not None:
                reply.trace.config["interventions"] = reply.interventions
        return reply


def _generate(
    loaded: Any,
    reply: Reply,
    sampling: Any,
    max_new_tokens: int,
    captures: list[Any],
    on_update: Callable[[Reply], None] | None,
    stop: threading.Event | None,
) -> None:
    """Generate into ``reply`` token by token; Ctrl-C or ``stop`` ends it "interrupted". Hooks always come off."""
    from ..generate import generate_ids

    parser = StreamParser(loaded.codec)
    call_id = loaded.codec.special_ids.get("<|call|>")
    stopped = "max_tokens"
    start = time.perf_counter()
    tokens = generate_ids(
        loaded.model,
        reply.prompt_ids,
        max_new_tokens=max_new_tokens,
        stop_ids=loaded.stop_ids,
        sampling=sampling,
        threads=loaded.threads,
    )
    prefill_stops: list[Any] = []
    try:
        for capture in captures:
            capture.__enter__()
        prefill_stops = _stop_between_layers(loaded.model, stop)
        for token in tokens:
            _remove(prefill_stops)  # the prompt has run: from here the loop checks ``stop`` between tokens
            if stop is not None and stop.is_set():
                stopped = "interrupted"
                break
            reply.record(token, parser.feed(token), time.perf_counter() - start, parser.current)
            if token in loaded.stop_ids:
                stopped = "call" if token == call_id else "return"
            if on_update is not None:
                on_update(reply)
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        tokens.close()
        _remove(prefill_stops)
        for capture in captures:
            capture.remove()
    reply.close(stopped, parser.finish(), time.perf_counter() - start)


def _stop_between_layers(model: Any, stop: threading.Event | None) -> list[Any]:
    """Pre-hooks that end a long prompt pass at the next layer once ``stop`` is set, as Ctrl-C would."""
    if stop is None:
        return []

    def check(module: Any, args: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt

    layers = getattr(getattr(model, "model", None), "layers", None) or []
    return [layer.register_forward_pre_hook(check) for layer in layers]


def _remove(handles: list[Any]) -> None:
    for handle in handles:
        handle.remove()
    handles.clear()


def _captures(loaded: Any, capture: bool | None) -> list[Any]:
    """The captures to run (routing, attention summaries, and the logit lens where it is cheap) when asked for
    (or by default on the bundled model)."""
    from ..capture import AttentionSummaryCapture, LensCapture, RoutingCapture, lens_is_cheap, moe_layers

    if capture is False or (capture is None and loaded.source.kind != "nano"):
        return []
    if capture is None and not moe_layers(loaded.model):
        return []
    captures = [RoutingCapture(loaded.model), AttentionSummaryCapture(loaded.model)]
    return captures + [LensCapture(loaded.model)] * lens_is_cheap(loaded.model)
