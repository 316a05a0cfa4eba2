"""ServerBackend: a model on a server (:class:`~gptoss_lab.remote.RemoteClient`); no insides.

The server renders the prompt, or, harmony-exact (``api="completions"``), the client does with the model's
tokenizer: then the prompt is exactly what a local model of that name would see (its identity line included).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import ContextTooLongError, NeedsLocalModel
from ..options import SERVER_CONTEXT_SHARE, Generation, default_max_new_tokens
from ..remote import RemoteClient, local_model_needed
from ..reply import Reply
from . import Turn, check_context

__all__ = ["ServerBackend"]


class ServerBackend:
    """One model on one server. ``load`` reaches the server and checks its model list."""

    capabilities: frozenset[str] = frozenset()
    handle = None

    def __init__(self, client: RemoteClient) -> None:
        self.client = client

    @property
    def name(self) -> str:
        return str(self.client.model)

    @property
    def label(self) -> str:
        return f"{self.client.model or '(the model it serves)'} on {self.client.base_url}"

    @property
    def base_url(self) -> str:
        return self.client.base_url

    @property
    def context_length(self) -> int | None:
        return self.client.context_length

    @property
    def identity(self) -> str | None:
        """None where the server renders the prompt; harmony-exact: the model's own, as a local model's."""
        tokens = self.client.tokens
        return tokens.identity if tokens is not None else None

    @property
    def family(self) -> str:
        """Whose default token limits apply: the real models', unless harmony-exact mode knows it is nano."""
        tokens = self.client.tokens
        return tokens.family if tokens is not None else "gpt-oss"

    def default_max_new_tokens(self, effort: str, prompt_tokens: int | None = None) -> int:
        context = self.client.context_length
        if context is None:
            return default_max_new_tokens(effort, self.family)
        if prompt_tokens is not None:  # harmony-exact: the prompt was counted here, as a local model's is
            return default_max_new_tokens(effort, self.family, context - prompt_tokens)
        return default_max_new_tokens(effort, self.family, int(context * SERVER_CONTEXT_SHARE))  # a share of it

    def describe(self) -> str:
        return f"{self.client!r}\n  {local_model_needed()}"

    def load(self) -> None:
        self.client.check()

    def with_model(self, name: str) -> ServerBackend:
        c = self.client
        api, timeout = c.requested_api, c.timeout
        return ServerBackend(RemoteClient(c.base_url, name, api_key=c.api_key, api=api, timeout=timeout))

    def local_model(self) -> Any:
        raise NeedsLocalModel(local_model_needed(self.client.base_url))

    def stream(
        self,
        turn: Turn,
        options: Generation,
        *,
        capture: bool | None,
        on_update: Callable[[Reply], None] | None,
        stop: threading.Event | None,
    ) -> Reply:
        client = self.client.ensure_checked()
        context, tokens = client.context_length, client.tokens
        if turn.builtin_tools and tokens is None:
            raise NeedsLocalModel(
                f"the python tool is offered in the prompt harmony renders, and {self.label} renders its own: "
                "connect with api='completions' (--api completions, harmony-exact) or use a local model"
            )
        harmony = turn.harmony(options.effort, self.identity) if tokens is not None else None
        if harmony is not None and tokens is not None:  # harmony-exact: the prompt's length is known here
            prompt_tokens = len(tokens.encode(harmony))
            limit = options.max_new_tokens or self.default_max_new_tokens(options.effort, prompt_tokens)
            check_context(prompt_tokens, limit, context, self.label, len(turn.history) // 2)
        else:
            limit = options.max_new_tokens or self.default_max_new_tokens(options.effort)
        if context is not None and limit >= context:  # the prompt's length is the server's to judge
            raise ContextTooLongError(
                f"--max-tokens {limit:,} asks for more tokens than {self.name} reads in all "
                f"({context:,}, its context on {self.client.base_url}): use --max-tokens {context // 2:,} or less"
            )
        return self.client.ask(
            turn.prompt,
            turn.history,
            developer=turn.developer,
            effort=options.effort,
            max_new_tokens=limit,
            temperature=options.temperature,
            top_p=options.top_p,
            seed=options.seed,
            on_update=on_update,
            stop=stop,
            harmony=harmony,
            tools=turn.tools,
            tail=turn.tail,
            capture=bool(capture),
        )
