"""The seam between a :class:`~gptoss_lab.Lab` and what writes its replies: one :class:`Backend` each.

* :class:`~gptoss_lab.backends.local.LocalBackend`: a transformers model in this process (routing,
  attention, token ids).
* :class:`~gptoss_lab.backends.server.ServerBackend`: a server (vLLM, Ollama, LM Studio,
  ``transformers serve``) that sends text.

A caller asks what a backend can do through ``capabilities``, never through its type.
No torch here, nor in the backends' module scope.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import ContextTooLongError
from ..harmony import render_prompt
from ..options import Generation
from ..reply import Reply

__all__ = ["CAPABILITIES", "Backend", "Turn", "check_context"]

#: What a backend may offer: ``routing`` and ``attention`` (the model's insides, captured or recomputed),
#: ``token_ids`` (harmony-exact token ids of prompt and reply), ``interventions`` (experts, sinks, heads
#: switched off while it runs: :mod:`gptoss_lab.interventions`).
CAPABILITIES = ("routing", "attention", "token_ids", "interventions")


@dataclass(frozen=True)
class Turn:
    """What the next reply answers: the conversation so far and the new prompt."""

    prompt: str
    history: list[dict[str, Any]] = field(default_factory=list)
    developer: str | None = None
    date: str | None = None
    #: OpenAI tool dicts the model may call (rendered as harmony's functions namespace)
    tools: tuple[dict[str, Any], ...] = ()
    #: the model's own tools offered (``{"python": description}``, rendered in the system message)
    builtin_tools: tuple[tuple[str, str], ...] = ()
    #: this turn so far, after the prompt: earlier rounds' tool calls and the tools' results
    tail: tuple[dict[str, Any], ...] = ()

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Chat dicts: developer instructions, the history, the prompt, this turn's tool rounds."""
        dev = [{"role": "developer", "content": self.developer}] if self.developer is not None else []
        return [*dev, *self.history, {"role": "user", "content": self.prompt}, *self.tail]

    def harmony(self, effort: str, identity: str | None = None) -> str:
        """The exact harmony text a model sees for this turn."""
        tools, builtin = list(self.tools) or None, dict(self.builtin_tools) or None
        return render_prompt(
            self.messages, effort=effort, date=self.date, model_identity=identity, tools=tools, builtin_tools=builtin
        )


class Backend(Protocol):
    """One model to ask, local or on a server. Built without loading anything; :meth:`load` checks it all."""

    @property
    def name(self) -> str:
        """The model as it was named (``Lab.model_name``)."""

    @property
    def label(self) -> str:
        """What its replies are labelled with, and what a failed switch says it kept."""

    @property
    def capabilities(self) -> frozenset[str]:
        """A subset of :data:`CAPABILITIES`."""

    @property
    def identity(self) -> str | None:
        """The model's identity line in harmony's system message (None: harmony's default)."""

    @property
    def handle(self) -> Any:
        """The local model's :class:`~gptoss_lab.model.ModelHandle` (None on a server)."""

    @property
    def context_length(self) -> int | None:
        """Tokens the model reads at most, prompt and reply together (None: not known)."""

    def default_max_new_tokens(self, effort: str, prompt_tokens: int | None = None) -> int:
        """The token limit of a reply given none, for this model and ``effort`` (and the prompt's length)."""

    def describe(self) -> str:
        """Lines for ``repr(lab)``: what will answer, from where, and why."""

    def load(self) -> None:
        """Load (or reach) it now; raises a :class:`~gptoss_lab.errors.GptOssLabError` saying what is wrong."""

    def with_model(self, name: str) -> Backend:
        """The same kind of backend (the same server) for another model."""

    def local_model(self) -> Any:
        """The loaded transformers model (:class:`~gptoss_lab.model.LoadedModel`), or NeedsLocalModel."""

    def stream(
        self,
        turn: Turn,
        options: Generation,
        *,
        capture: bool | None,
        on_update: Callable[[Reply], None] | None,
        stop: threading.Event | None,
    ) -> Reply:
        """Write the reply to ``turn``; Ctrl-C or ``stop`` ends it early with the partial reply kept."""


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
