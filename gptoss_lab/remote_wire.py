"""What every server dialect shares: stream framing, the :class:`Chunk` it is read into, error bodies.

Server-sent events and NDJSON are split into ``(event, data)``; each :mod:`~gptoss_lab.dialects`
object reads its own JSON into :class:`Chunk` objects; :class:`ContentSplitter` then finds
reasoning inside ``content`` for servers that send harmony there instead of a reasoning field.
No network here: every function reads an object with ``readline()``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import ServerError
from .harmony import SPECIAL_TOKENS, ContentDelta, StreamParser

__all__ = [
    "Chunk",
    "ContentSplitter",
    "ServerError",
    "error_text",
    "json_object",
    "ndjson",
    "refused",
    "split_content",
    "sse",
    "usage_counts",
]


# ----------------------------------------------------------------------------- content -> channels

_GLUED_CHANNELS = ("analysis", "commentary")
_GLUED_MARKER = re.compile(r"assistant(analysis|commentary|final)")
_MARKERS = tuple(f"assistant{c}" for c in ("analysis", "commentary", "final"))
_SPECIAL_STARTS = ("<|channel|>", "<|start|>", "<|message|>")


class ContentSplitter:
    """Split streamed ``content`` text into ``(channel, text)`` pieces.

    Plain text is the answer (``final``). Text that starts with a harmony token is parsed as
    harmony; text that starts with ``analysis``/``commentary`` is harmony with its special
    tokens stripped (``analysisWe add...assistantfinal42``) and is split at
    ``assistant{channel}``. Text that could still become a marker is held back until it
    cannot, so a marker split over two chunks is still found.
    """

    def __init__(self) -> None:
        self.mode: str | None = None  # None (undecided), "plain", "harmony", "glued"
        self._buf = ""
        self._channel = "final"
        self._opened = False  # glued: the opening channel name was read
        self._parser: StreamParser | None = None

    def feed(self, text: str) -> list[tuple[str, str]]:
        self._buf += text
        if self.mode is None:
            self.mode = self._decide(self._buf)
            if self.mode is None:
                return []
        return self._drain(final=False)

    def finish(self) -> list[tuple[str, str]]:
        self.mode = self.mode or "plain"
        return self._drain(final=True)

    @staticmethod
    def _decide(buf: str) -> str | None:
        head = buf.lstrip()
        for start in (*_SPECIAL_STARTS, *_GLUED_CHANNELS):
            if head.startswith(start):
                return "harmony" if start.startswith("<|") else "glued"
            if start.startswith(head):
                return None  # too short to tell yet
        return "plain"

    def _drain(self, final: bool) -> list[tuple[str, str]]:
        if self.mode == "harmony":
            return self._harmony(final)
        if self.mode == "glued":
            return self._glued(final)
        text, self._buf = self._buf, ""
        return [("final", text)] if text else []

    def _harmony(self, final: bool) -> list[tuple[str, str]]:
        if self._parser is None:
            self._parser = StreamParser()
        keep = 0 if final else _open_special(self._buf)
        text, self._buf = self._buf[: len(self._buf) - keep], self._buf[len(self._buf) - keep :]
        events = self._parser.feed_text(text) + (self._parser.finish() if final else [])
        return [(e.channel or "final", e.text) for e in events if isinstance(e, ContentDelta) and e.text]

    def _glued(self, final: bool) -> list[tuple[str, str]]:
        out = []
        if not self._opened:  # the first channel name opens the text
            self._opened = True
            head = self._buf.lstrip()
            self._channel = next(c for c in _GLUED_CHANNELS if head.startswith(c))
            self._buf = head[len(self._channel) :]
        while (match := _GLUED_MARKER.search(self._buf)) is not None:
            if match.start():
                out.append((self._channel, self._buf[: match.start()]))
            self._channel, self._buf = match.group(1), self._buf[match.end() :]
        keep = 0 if final else _marker_prefix(self._buf)
        text, self._buf = self._buf[: len(self._buf) - keep], self._buf[len(self._buf) - keep :]
        return [*out, (self._channel, text)] if text else out


def _marker_prefix(text: str) -> int:
    """Length of the longest end of ``text`` that could begin an ``assistant{channel}`` marker."""
    for k in range(min(len(text), max(map(len, _MARKERS))), 0, -1):
        if any(m.startswith(text[-k:]) for m in _MARKERS):
            return k
    return 0


def _open_special(text: str) -> int:
    """Length of the start of a harmony special token at the end of ``text`` (split over chunks)."""
    at = text.rfind("<")
    tail = text[at:] if at >= 0 else ""
    return len(tail) if tail and any(t.startswith(tail) and t != tail for t in SPECIAL_TOKENS) else 0


def split_content(text: str) -> list[tuple[str, str]]:
    """Split one whole ``content`` string into ``(channel, text)`` pieces (see :class:`ContentSplitter`)."""
    splitter = ContentSplitter()
    pieces = splitter.feed(text) + splitter.finish()
    merged: list[tuple[str, str]] = []
    for channel, piece in pieces:
        if merged and merged[-1][0] == channel:
            merged[-1] = (channel, merged[-1][1] + piece)
        else:
            merged.append((channel, piece))
    return merged


# ----------------------------------------------------------------------------- wire formats


@dataclass
class Chunk:
    """One parsed piece of a stream: reasoning and content deltas, a finish reason, usage.

    ``end``: the stream said it is over (``[DONE]``, ``response.completed``, Ollama's ``done``); a stream
    that stops with neither ``end`` nor a ``finish`` reason was cut short. ``token_ids``: the ids this
    chunk's text was decoded from, when the server sends them (harmony's special tokens included).
    """

    reasoning: str = ""
    content: str = ""
    finish: str | None = None
    usage: dict[str, int] | None = None
    end: bool = False
    token_ids: list[int] | None = None
    #: tool-call pieces (chat completions' ``delta.tool_calls``): ``{"index", "name", "arguments"}``, where a
    #: name and arguments may come in parts over several chunks, each appended to its index's
    calls: list[dict[str, Any]] | None = None
    #: vLLM's per-token routed experts (base64 ``.npy``; non-streamed harmony-exact replies only):
    #: :mod:`gptoss_lab.remote_routing`
    routed_experts: str | None = None


def json_object(data: str | bytes) -> Any:
    """One chunk's JSON object; anything else is a ServerError that shows the chunk's start."""
    head = data[:80].decode("utf-8", errors="replace") if isinstance(data, bytes) else data[:80]
    try:
        obj = json.loads(data)
    except ValueError as err:
        raise ServerError(f"the server sent a chunk that is not JSON ({err}): {head!r}") from None
    if not isinstance(obj, dict):
        raise ServerError(f"the server sent JSON that is not an object: {head!r}")
    return obj


def refused(obj: Any) -> None:
    """Raise the error a server put in a chunk (``{"error": ...}``) in place of an answer.

    ``"error": null`` is no error: an OpenAI Responses object carries that field always."""
    if isinstance(obj, dict) and obj.get("error") is not None:
        raise ServerError(f"the server stopped the reply with an error: {error_text(obj)}")


def sse(resp: Any) -> Iterator[tuple[str | None, str]]:
    """Server-sent events as ``(event name, data)``; data lines of one event are joined."""
    event: str | None = None
    data: list[str] = []
    for raw in iter(resp.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield event, "\n".join(data)


def ndjson(resp: Any) -> Iterator[tuple[str | None, str]]:
    """Newline-delimited JSON as ``(None, line)``; blank lines skipped."""
    for raw in iter(resp.readline, b""):
        line = raw.decode("utf-8", errors="replace").strip()
        if line:
            yield None, line


def error_text(obj: Any) -> str:
    """The message inside the error bodies servers send (OpenAI, vLLM, Ollama, FastAPI)."""
    if isinstance(obj, dict):
        for key in ("error", "detail", "message", "msg"):
            if key in obj:
                return error_text(obj[key])
        return json.dumps(obj)[:200]
    if isinstance(obj, list) and obj:
        return error_text(obj[0])
    return str(obj)[:300]


def usage_counts(prompt: Any, completion: Any, details: dict[str, Any]) -> dict[str, int] | None:
    """A server's token counts as ``{"prompt", "completion", "reasoning"?}``; None when it sent none."""
    if prompt is None and completion is None:
        return None
    out = {"prompt": int(prompt or 0), "completion": int(completion or 0)}
    if details.get("reasoning_tokens") is not None:
        out["reasoning"] = int(details["reasoning_tokens"])
    return out
