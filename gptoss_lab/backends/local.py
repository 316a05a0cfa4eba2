"""LocalBackend: a transformers model in this process; replies token by token, with captures on request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import ContextTooLongError
from ..harmony import StreamParser
from ..model import ModelHandle
from ..options import Generation
from ..reply import Reply
from . import Turn

__all__ = ["LocalBackend", "check_context"]


def check_context(prompt_tokens: int, max_new_tokens: int, context: int | None, model: str, turns: int) -> None:
    """Refuse, before prefill, a prompt that with ``max_new_tokens`` more tokens would not fit the context."""
    if context is None or prompt_tokens + max_new_tokens <= context:
        return
    reset = f"%gptoss reset (or lab.reset()) drops the {turns} earlier turn{'s' * (turns != 1)}" if turns else ""
    room = context - prompt_tokens
    fixes = [f"--max-tokens {room} or less (max_new_tokens={room})" if room > 0 else "", reset, "a shorter prompt"]
    raise ContextTooLongError(
        f"the prompt is {prompt_tokens:,} tokens and --max-tokens asks for {max_new_tokens:,} more: "
        f"{prompt_tokens + max_new_tokens:,} > the {context:,} tokens {model} can read (its context): "
        f"use {', or '.join(f for f in fixes if f)}"
    )


class LocalBackend:
    """A :class:`~gptoss_lab.model.ModelHandle`, loaded on first use."""

    capabilities = frozenset({"routing", "attention", "token_ids"})

    def __init__(self, handle: ModelHandle) -> None:
        self.handle = handle
        self.name = handle.source.name
        self.label = handle.source.label
        self.identity = handle.source.identity

    @property
    def context_length(self) -> int | None:
        value = (self.handle.config or {}).get("max_position_embeddings")
        return int(value) if value else None

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

        # memory and files first, then the tokenizer alone: a prompt too long for the context is refused
        # before the weights load
        self.handle.check()
        prompt_ids = self.handle.encode(turn.harmony(options.effort, self.identity))
        turns = len(turn.history) // 2
        check_context(len(prompt_ids), options.max_new_tokens, self.context_length, self.label, turns)
        loaded = self.handle.load()
        sampling = Sampling(
            temperature=loaded.sampling["temperature"] if options.temperature is None else options.temperature,
            top_p=loaded.sampling["top_p"] if options.top_p is None else options.top_p,
            seed=options.seed,
        )
        reply = Reply(
            turn.prompt, self.label, options.effort, prompt_ids=prompt_ids, untrained=not loaded.source.trained
        )
        reply.stats.prompt_tokens = len(prompt_ids)
        captures = _captures(loaded, capture)
        _generate(loaded, reply, sampling, options.max_new_tokens, captures, on_update, stop)
        if captures:
            from ..capture import build_trace

            reply.trace = build_trace(captures, loaded, prompt_ids + reply.completion_ids, len(prompt_ids))
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
    try:
        for capture in captures:
            capture.__enter__()
        for token in tokens:
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
        for capture in captures:
            capture.remove()
    reply.close(stopped, parser.finish(), time.perf_counter() - start)


def _captures(loaded: Any, capture: bool | None) -> list[Any]:
    """The captures to run (routing, attention summaries) when asked for (or by default on the bundled model)."""
    from ..capture import AttentionSummaryCapture, RoutingCapture, moe_layers

    if capture is False or (capture is None and loaded.source.kind != "nano"):
        return []
    if capture is None and not moe_layers(loaded.model):
        return []
    return [RoutingCapture(loaded.model), AttentionSummaryCapture(loaded.model)]
