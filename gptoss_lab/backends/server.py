"""ServerBackend: a model on a server (:class:`~gptoss_lab.remote.RemoteClient`); text only, no insides."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import ContextTooLongError, NeedsLocalModel
from ..options import SERVER_CONTEXT_SHARE, Generation, default_max_new_tokens
from ..remote import RemoteClient, local_model_needed
from ..reply import Reply
from . import Turn

__all__ = ["ServerBackend"]


class ServerBackend:
    """One model on one server. ``load`` reaches the server and checks its model list."""

    capabilities: frozenset[str] = frozenset()
    identity = None  # the server renders the prompt
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

    family = "gpt-oss"  # a server's model: the default token limits of the real models

    def default_max_new_tokens(self, effort: str, prompt_tokens: int | None = None) -> int:
        context = self.client.context_length  # the prompt's length is the server's to judge: a share of it
        room = None if context is None else int(context * SERVER_CONTEXT_SHARE)
        return default_max_new_tokens(effort, self.family, room)

    def describe(self) -> str:
        return f"{self.client!r}\n  {local_model_needed()}"

    def load(self) -> None:
        self.client.check()

    def with_model(self, name: str) -> ServerBackend:
        c = self.client
        return ServerBackend(RemoteClient(c.base_url, name, api_key=c.api_key, api=c.api, timeout=c.timeout))

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
        context = self.client.ensure_checked().context_length
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
        )
