"""The served model's tokenizer, here on the client: what harmony-exact mode renders and parses with.

In harmony-exact mode (``api="completions"``) the client renders the prompt with
:func:`~gptoss_lab.harmony.render_prompt` and this tokenizer, sends the token ids, and parses the ids
that come back with :class:`~gptoss_lab.harmony.StreamParser`: the same path as a local model, so the
server's own harmony parser (and whatever it leaks or drops) is never involved. Only the tokenizer is
read (no weights), and for ``api="auto"`` only from this machine's disk: never downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .harmony import STOP_TOKENS, Prompt, StreamParser, TokenCodec
from .model import ModelSource, encode_prompt, load_tokenizer, resolve_model

__all__ = ["ClientTokenizer", "local_tokenizer_name"]


@dataclass(frozen=True)
class ClientTokenizer:
    """A model's tokenizer with what rendering and parsing its harmony need."""

    source: ModelSource
    tokenizer: Any
    codec: TokenCodec

    @classmethod
    def load(cls, name: str) -> ClientTokenizer:
        """``"nano"``, a checkpoint directory or a hub id (a hub id may download its tokenizer files)."""
        from .nano import CHECKPOINT_DIR

        if Path(name).expanduser().resolve() == CHECKPOINT_DIR.resolve():
            name = "nano"  # the bundled checkpoint served from its own directory: nano, by name and label
        source = resolve_model(name)
        tokenizer = load_tokenizer(source)
        return cls(source, tokenizer, TokenCodec.from_tokenizer(tokenizer))

    @property
    def identity(self) -> str | None:
        """The identity line its prompts use, as a local model's (None: harmony's default)."""
        return self.source.identity

    @property
    def family(self) -> str:
        """ "nano" for nano and checkpoints its training wrote (their default token limits), else "gpt-oss"."""
        return "nano" if self.source.kind == "nano" or "recipe" in self.source.meta else "gpt-oss"

    @property
    def sampling(self) -> dict[str, float]:
        """The model's recommended sampling, where its checkpoint states one (nano: greedy)."""
        return dict(self.source.meta.get("sampling", {}))

    @property
    def stop_ids(self) -> tuple[int, ...]:
        """The ids that end a reply (``<|return|>``, ``<|call|>``)."""
        ids = self.codec.special_ids
        return tuple(ids[n] for n in STOP_TOKENS if n in ids)

    def encode(self, prompt: Prompt) -> list[int]:
        """A rendered prompt's ids: its structure as control tokens, every message's text as text."""
        return encode_prompt(self.tokenizer, prompt, self.codec.special_ids)

    def parser(self) -> StreamParser:
        return StreamParser(self.codec)


def local_tokenizer_name(model: str | None, entry: dict[str, Any]) -> str | None:
    """A name :meth:`ClientTokenizer.load` reads from this machine's disk alone, for a model a server lists:
    the directory the server loaded it from (vLLM's ``root``) if it is here, else the model's name if it is
    ``nano`` or a directory here; None otherwise."""
    for name in (entry.get("root"), model):
        if isinstance(name, str) and (name in ("nano", "gpt-oss-nano") or _checkpoint_dir(name)):
            return name
    return None


def _checkpoint_dir(name: str) -> bool:
    path = Path(name).expanduser()
    return path.is_dir() and (path / "config.json").is_file() and any(path.glob("tokenizer*.json"))
