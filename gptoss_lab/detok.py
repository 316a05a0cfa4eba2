"""Incremental detokenizing: token ids in, text out, no character split and none lost.

A streaming parser gets one token id at a time, but one character may span several byte-level
tokens, and a model may write bytes that are not UTF-8 at all. :class:`ByteDecoder` decodes the
tokens' bytes with an incremental UTF-8 decoder (exact: only invalid bytes become U+FFFD);
:class:`TextDecoder` makes do with a tokenizer's ``decode`` (every valid character kept, but a run
of invalid bytes may give more or fewer U+FFFD). :func:`byte_level_reader` reads a token's bytes
from a byte-level BPE tokenizer (gpt-oss's, and the bundled nano's). No torch, no transformers.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any

__all__ = ["ByteDecoder", "TextDecoder", "byte_level_reader", "make_decoder"]

_REPLACEMENT = "\ufffd"


def _byte_level_table() -> dict[str, int]:
    """GPT-2's byte-level alphabet, reversed: a printable byte stands for itself, any other for chr(256 + k)."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    others = [b for b in range(256) if b not in printable]
    return {**{chr(b): b for b in printable}, **{chr(256 + k): b for k, b in enumerate(others)}}


_BYTE_LEVEL = _byte_level_table()


def byte_level_reader(tokenizer: Any, decode: Callable[[list[int]], str]) -> Callable[[int], bytes] | None:
    """A token's bytes, for byte-level BPE tokenizers (gpt-oss's, nano's); None for any other kind.

    Byte-level BPE spells every byte as one character of a fixed alphabet, so a vocabulary
    entry reads back as bytes. Added tokens are stored as plain text.
    """
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if type(getattr(backend, "decoder", None)).__name__ != "ByteLevel" or not hasattr(backend, "id_to_token"):
        return None
    added = set(backend.get_added_tokens_decoder()) if hasattr(backend, "get_added_tokens_decoder") else set()
    cache: dict[int, bytes] = {}

    def token_bytes(token_id: int) -> bytes:
        if token_id not in cache:
            if token_id in added:
                cache[token_id] = decode([token_id]).encode()
            else:  # an unknown id (None) raises: the parser marks it with U+FFFD
                cache[token_id] = bytes(_BYTE_LEVEL[c] for c in backend.id_to_token(token_id))
        return cache[token_id]

    return token_bytes


class ByteDecoder:
    """Exact incremental UTF-8: a character split over tokens comes out once, when whole;
    only invalid bytes become U+FFFD, and every valid character after them is kept."""

    def __init__(self, token_bytes: Callable[[int], bytes]) -> None:
        self._bytes = token_bytes
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")

    def push(self, token_id: int) -> str:
        try:
            data = self._bytes(token_id)
        except Exception:  # an id the tokenizer does not know: marked, not dropped
            return self.flush() + _REPLACEMENT
        return self._utf8.decode(data)

    def flush(self) -> str:
        """Whatever is held back; an incomplete character as U+FFFD."""
        return self._utf8.decode(b"", final=True)


class TextDecoder:
    """Incremental detokenizing with nothing but ``decode``: text is emitted where a character ends.

    Ids are decoded after the last emitted chunk as context (as an offset streamer does). A
    window whose text ends in U+FFFD (a lossy decoder) or that the decoder refuses (a strict
    one, such as openai-harmony's ``decode_utf8``) may end mid-character and is held. Before
    invalid bytes, text is emitted up to the last whole character, so none is lost.
    """

    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self._decode = decode
        self._context: list[int] = []
        self._context_text = ""
        self._pending: list[int] = []

    def push(self, token_id: int) -> str:
        self._pending.append(token_id)
        return self._drain(final=False)

    def flush(self) -> str:
        return self._drain(final=True)

    def _drain(self, final: bool) -> str:
        out = []
        while self._pending and (k := self._ready(final)):
            out.append(self._emit(k))
        return "".join(out)

    def _text(self, n: int) -> str | None:
        """The text of the first ``n`` pending ids; None when the decoder refuses them."""
        try:
            return self._decode(self._context + self._pending[:n])[len(self._context_text) :]
        except Exception:
            return None

    def _ready(self, final: bool) -> int:
        """How many pending ids can be emitted now without splitting a character."""
        n = len(self._pending)
        full = self._text(n)
        if full is not None and (final or not full.endswith(_REPLACEMENT)):
            return n
        if n < 4 and not final:
            return 0  # an incomplete character has at most 3 bytes: wait for the rest
        for k in range(n - 1, 0, -1):  # the longest run that ends on a whole character
            text = self._text(k)
            if text is not None and not text.endswith(_REPLACEMENT) and (full is None or full.startswith(text)):
                return k
        if full is not None:  # lossy, led by invalid bytes: their U+FFFD is final once 3 ids follow
            for k in range(n - 3, 0, -1):
                text = self._text(k)
                if text is not None and full.startswith(text):
                    return k
            return 0
        return 1 if final or n >= 8 else 0  # strict and still refusing: the first id is invalid

    def _emit(self, k: int) -> str:
        text = self._text(k)
        self._context, self._pending = self._pending[:k], self._pending[k:]
        try:
            self._context_text = self._decode(self._context)
        except Exception:
            self._context, self._context_text = [], ""
        return _REPLACEMENT if text is None else text


def make_decoder(
    decode: Callable[[list[int]], str], token_bytes: Callable[[int], bytes] | None = None
) -> ByteDecoder | TextDecoder:
    """The exact decoder when token bytes are known, else the one that needs only ``decode``."""
    return ByteDecoder(token_bytes) if token_bytes is not None else TextDecoder(decode)
