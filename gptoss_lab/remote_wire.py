"""What servers stream, read into ``(channel, text)`` pieces: the wire formats behind :mod:`gptoss_lab.remote`.

Three stream formats (OpenAI chat completions and Responses as server-sent events, Ollama's
native NDJSON), and the one JSON body a server that ignores ``stream: true`` sends, become
:class:`Chunk` objects; :class:`ContentSplitter` then finds reasoning
inside ``content`` for servers that send harmony there instead of a reasoning field.
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
    "body_chunks",
    "chat_chunks",
    "error_text",
    "ollama_chunks",
    "responses_chunks",
    "split_content",
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
    that stops with neither ``end`` nor a ``finish`` reason was cut short.
    """

    reasoning: str = ""
    content: str = ""
    finish: str | None = None
    usage: dict[str, int] | None = None
    end: bool = False


def _json(data: str | bytes) -> Any:
    """One chunk's JSON object; anything else is a ServerError that shows the chunk's start."""
    head = data[:80].decode("utf-8", errors="replace") if isinstance(data, bytes) else data[:80]
    try:
        obj = json.loads(data)
    except ValueError as err:
        raise ServerError(f"the server sent a chunk that is not JSON ({err}): {head!r}") from None
    if not isinstance(obj, dict):
        raise ServerError(f"the server sent JSON that is not an object: {head!r}")
    return obj


def _refused(obj: Any) -> None:
    if isinstance(obj, dict) and "error" in obj:
        raise ServerError(f"the server stopped the reply with an error: {error_text(obj)}")


def _sse(resp: Any) -> Iterator[tuple[str | None, str]]:
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


def chat_chunks(resp: Any) -> Iterator[Chunk]:
    """``/chat/completions`` SSE: ``delta.reasoning`` or ``delta.reasoning_content``, ``delta.content``."""
    for _, data in _sse(resp):
        if data.strip() == "[DONE]":
            yield Chunk(end=True)
            return
        yield from _chat_object(_json(data))


def _chat_object(obj: Any) -> Iterator[Chunk]:
    """A ``chat.completion.chunk`` (``delta``) or a whole ``chat.completion`` (``message``)."""
    _refused(obj)
    for choice in obj.get("choices") or []:
        delta = choice.get("delta") or choice.get("message") or {}
        reasoning = delta.get("reasoning") or delta.get("reasoning_content") or ""
        yield Chunk(reasoning, delta.get("content") or "", choice.get("finish_reason"))
    usage = obj.get("usage")
    if usage:
        details = usage.get("completion_tokens_details") or {}
        yield Chunk(usage=_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), details))


def responses_chunks(resp: Any) -> Iterator[Chunk]:
    """``/responses`` SSE events: reasoning text (or its summary), output text, completion."""
    for event, data in _sse(resp):
        obj = _json(data)
        kind = obj.get("type") or event
        if kind in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta"):
            yield Chunk(reasoning=obj.get("delta") or "")
        elif kind == "response.output_text.delta":
            yield Chunk(content=obj.get("delta") or "")
        elif kind in ("response.completed", "response.incomplete"):
            response = obj.get("response") or {}
            usage = response.get("usage") or {}
            finish = "length" if kind == "response.incomplete" else "stop"
            details = usage.get("output_tokens_details") or {}
            counts = _usage(usage.get("input_tokens"), usage.get("output_tokens"), details)
            yield Chunk(finish=finish, usage=counts, end=True)
            return
        elif kind in ("response.failed", "error"):
            raise ServerError(f"the server stopped the reply with an error: {error_text(obj)}")


def ollama_chunks(resp: Any) -> Iterator[Chunk]:
    """Ollama's native ``/api/chat`` NDJSON: ``message.thinking`` and ``message.content``."""
    for raw in iter(resp.readline, b""):
        if not raw.strip():
            continue
        chunk = _ollama_object(_json(raw))
        yield chunk
        if chunk.end:
            return


def _ollama_object(obj: Any) -> Chunk:
    _refused(obj)
    message = obj.get("message") or {}
    done = bool(obj.get("done"))
    usage = _usage(obj.get("prompt_eval_count"), obj.get("eval_count"), {}) if done else None
    finish = (obj.get("done_reason") or "stop") if done else None
    return Chunk(message.get("thinking") or "", message.get("content") or "", finish, usage, end=done)


def _response_object(obj: Any) -> Iterator[Chunk]:
    """A whole Responses API ``response``: its reasoning and message output items, then its status."""
    _refused(obj)
    for item in [i for i in obj.get("output") or [] if isinstance(i, dict)]:
        parts = (item.get("content") or []) + (item.get("summary") or [])
        text = "".join(p.get("text") or "" for p in parts if isinstance(p, dict))
        if item.get("type") == "reasoning" and text:
            yield Chunk(reasoning=text)
        elif item.get("type") == "message" and text:
            yield Chunk(content=text)
    usage = obj.get("usage") or {}
    details = usage.get("output_tokens_details") or {}
    finish = {"completed": "stop", "incomplete": "length"}.get(obj.get("status") or "completed")
    yield Chunk(finish=finish, usage=_usage(usage.get("input_tokens"), usage.get("output_tokens"), details), end=True)


def body_chunks(resp: Any, api: str) -> Iterator[Chunk]:
    """The one JSON body of a server that ignored ``stream: true``, read as the chunks a stream would bring."""
    obj = _json(resp.read())
    if api == "ollama":
        yield _ollama_object(obj)
    elif api == "responses":
        yield from _response_object(obj.get("response") or obj)
    else:
        yield from _chat_object(obj)
        yield Chunk(end=True)


def _usage(prompt: Any, completion: Any, details: dict[str, Any]) -> dict[str, int] | None:
    if prompt is None and completion is None:
        return None
    out = {"prompt": int(prompt or 0), "completion": int(completion or 0)}
    if details.get("reasoning_tokens") is not None:
        out["reasoning"] = int(details["reasoning_tokens"])
    return out
