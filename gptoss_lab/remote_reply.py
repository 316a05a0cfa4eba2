"""A reply streamed from a server, and the loop that reads a server's chunks into it.

Whatever happens the reply keeps what arrived, and ``stopped`` says why it ended: the server's finish
reason, Ctrl-C or a Stop button ("interrupted"), a broken stream ("error", ``reply.error`` says how), a
stream that just stops ("incomplete").
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ServerError
from .harmony import Message, MessageEnd, StreamParser
from .remote_wire import Chunk, ContentSplitter
from .reply import Reply

__all__ = ["FIX_SLOW", "RemoteReply", "Stream", "TextSink", "TokenSink", "read_stream"]

#: OpenAI's finish reasons (what every dialect reads its own into) -> ``Reply.stopped``
_FINISH = {"stop": "return", "length": "max_tokens", "tool_calls": "call", "function_call": "call"}
FIX_SLOW = "is it busy or stuck? wait longer with --timeout SECONDS (Lab(..., timeout=...))"


@dataclass(repr=False)
class RemoteReply(Reply):
    """A :class:`Reply` streamed from a server. ``trace`` stays None (routing needs a local model), except
    harmony-exact on a vLLM that sends its routed experts (:mod:`gptoss_lab.remote_routing`), when capture is
    asked: then it holds the chosen experts, and ``routing_note`` says why not where they did not come.

    Token counts come from the server's ``usage`` when it sends one; otherwise each streamed
    chunk counts as one token and the prompt as a quarter of its characters, and
    ``token_note`` says so (the stats line shows it).
    """

    server: str = ""
    token_note: str = ""
    routing_note: str = ""
    _chunks: int = field(default=0, repr=False)

    def add(self, pieces: list[tuple[str, str]], elapsed: float, tokens: int = 1) -> None:
        """Append ``(channel, text)`` pieces; ``tokens`` is how many tokens the chunk stands for."""
        if tokens and self.stats.seconds_to_first_token is None:
            self.stats.seconds_to_first_token = elapsed
        self._chunks += tokens
        for channel, text in pieces:
            current = self._partial
            if current is not None and current.channel == channel:
                self._partial = replace(current, content=current.content + text)
            else:
                if current is not None:
                    self._apply([MessageEnd(current, "<|end|>")], elapsed)
                self._partial = Message("assistant", text, channel)
        self._pending_tokens += tokens  # after a switch: the chunk that opened a message counts for it
        self._time(elapsed)

    def finish(self, stopped: str, elapsed: float, usage: dict[str, int] | None) -> None:
        """The stream ended: close the open message, then take the server's token counts if any."""
        last = self._partial
        end = "<|return|>" if stopped in ("return", "call", "max_tokens") else "truncated"
        self.close(stopped, [MessageEnd(last, end)] if last else [], elapsed)
        s = self.stats
        if not usage:
            self.token_note = "token counts estimated (stream chunks; prompt ≈ characters / 4)"
            return
        s.prompt_tokens = usage.get("prompt", s.prompt_tokens)
        counted = s.reasoning_tokens + s.answer_tokens
        s.completion_tokens = usage.get("completion", counted)
        reasoning = usage.get("reasoning")
        if reasoning or (reasoning == 0 and not self.reasoning):
            s.reasoning_tokens, s.answer_tokens = reasoning, s.completion_tokens - reasoning
            self.token_note = "token counts from the server"
        else:  # the server gave totals only: split them as the stream did
            share = s.reasoning_tokens / counted if counted else 0.0
            s.reasoning_tokens = round(s.completion_tokens * share)
            s.answer_tokens = s.completion_tokens - s.reasoning_tokens
            self.token_note = "token totals from the server; reasoning/answer split estimated"
        self._rate(elapsed)

    def _completed(self) -> int:
        return max(self._chunks, len(self.completion_ids))  # token ids, when the server sent them


@dataclass
class Stream:
    """An open streaming response and the socket under it (shut down to stop a blocked read)."""

    conn: http.client.HTTPConnection
    sock: socket.socket | None
    resp: http.client.HTTPResponse

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.resp.close()
        self.conn.close()


class _StopWatcher:
    """Shuts the socket down when ``stop`` is set, so a read blocked on a silent server returns."""

    def __init__(self, stop: threading.Event, sock: socket.socket | None) -> None:
        self._stop, self._sock, self._done = stop, sock, threading.Event()
        self._thread = threading.Thread(target=self._watch, name="gptoss-remote-stop", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            if self._stop.wait(0.05):
                if self._sock is not None:
                    with contextlib.suppress(OSError):
                        self._sock.shutdown(socket.SHUT_RDWR)
                return

    def close(self) -> None:
        self._done.set()
        self._thread.join()


class TextSink:
    """Reads text chunks into a reply: reasoning fields apart, ``content`` split by :class:`ContentSplitter`."""

    def __init__(self, reply: RemoteReply) -> None:
        self.reply, self.splitter = reply, ContentSplitter()
        self.calls: dict[Any, list[str]] = {}  # index -> [name, arguments], as the pieces arrive

    def take(self, chunk: Chunk, elapsed: float) -> bool:
        """Add what ``chunk`` carries; whether the reply grew."""
        if chunk.reasoning and self.splitter.mode is None:
            self.splitter.mode = "plain"  # the server separates reasoning: content is all answer
        for piece in chunk.calls or ():
            name_args = self.calls.setdefault(piece["index"], ["", ""])
            name_args[0] += piece["name"]
            name_args[1] += piece["arguments"]
        if not (chunk.reasoning or chunk.content):
            return False
        pieces = [("analysis", chunk.reasoning)] if chunk.reasoning else []
        self.reply.add(pieces + self.splitter.feed(chunk.content), elapsed)
        return True

    def finish(self, stopped: str, elapsed: float, usage: dict[str, int] | None) -> None:
        self.reply.add(self.splitter.finish(), elapsed, tokens=0)
        if self.calls:  # the calls as harmony's messages would be: commentary, to functions.NAME
            last = self.reply._partial
            ends = [MessageEnd(last, "<|end|>")] if last is not None else []
            self.reply._partial = None
            self.reply._apply(ends, elapsed)
            for name, args in self.calls.values():
                call = Message("assistant", args, "commentary", f"functions.{name}", "<|constrain|>json")
                self.reply._apply([MessageEnd(call, "<|call|>")], elapsed)
            stopped = "call" if stopped in ("return", "call") else stopped  # Ollama says "stop" after calls
        self.reply.finish(stopped, elapsed, usage)


class TokenSink:
    """Reads token-id chunks (harmony-exact) into a reply: every id through the project's own
    :class:`~gptoss_lab.harmony.StreamParser`, as a local model's are, so the counts are exact. A chunk
    without ids (a server that ignored ``return_token_ids``) is read as text."""

    def __init__(self, reply: RemoteReply, parser: StreamParser, stop_ids: tuple[int, ...], call_id: int | None):
        self.reply, self.parser, self.stop_ids, self.call_id = reply, parser, stop_ids, call_id
        self.text = TextSink(reply)
        self.stopped: str | None = None  # "return" | "call", by the stop token the model wrote
        self.routed: str | None = None  # vLLM's routed experts, when it sent them (remote_routing)

    def take(self, chunk: Chunk, elapsed: float) -> bool:
        self.routed = chunk.routed_experts or self.routed
        if chunk.token_ids is None:
            return self.text.take(chunk, elapsed)
        for token in chunk.token_ids:
            self.reply.record(token, self.parser.feed(token), elapsed, self.parser.current)
            if token in self.stop_ids:
                self.stopped = "call" if token == self.call_id else "return"
        return bool(chunk.token_ids)

    def finish(self, stopped: str, elapsed: float, usage: dict[str, int] | None) -> None:
        if not self.reply.completion_ids:
            self.text.finish(stopped, elapsed, usage)
            return
        if stopped == "return" and self.stopped:
            stopped = self.stopped  # the server says "stop" for both: the token says which
        self.reply.close(stopped, self.parser.finish(), elapsed)
        self.reply.token_note = "token ids from the server, parsed here (harmony-exact)"


Sink = TextSink | TokenSink


def read_stream(
    reply: RemoteReply,
    stream: Stream,
    chunks: Iterator[Chunk],
    on_update: Callable[[Reply], None] | None,
    stop: threading.Event | None,
    start: float,
    timeout: float,
    sink: Sink | None = None,
) -> None:
    """Read the stream into ``reply`` through ``sink`` (default: a :class:`TextSink`). Whatever happens the
    reply keeps what arrived and ``stopped`` says why it ended: Ctrl-C or ``stop`` "interrupted", a broken
    stream "error" (``reply.error`` says how), a stream that ends without a finish reason or end marker
    "incomplete"."""
    sink = sink if sink is not None else TextSink(reply)
    stopped: str | None = None
    usage: dict[str, int] | None = None
    ended = False
    watcher = _StopWatcher(stop, stream.sock) if stop is not None else None
    try:
        for chunk in chunks:
            if stop is not None and stop.is_set():
                break
            if sink.take(chunk, time.perf_counter() - start) and on_update is not None:
                on_update(reply)
            if chunk.finish:
                stopped = _FINISH.get(chunk.finish, "return")
            usage, ended = chunk.usage or usage, ended or chunk.end
    except KeyboardInterrupt:
        stopped = "interrupted"
    except (OSError, http.client.HTTPException) as err:  # ServerError included: an error event, a bad chunk
        if stop is None or not stop.is_set():  # a read cut short by the stop watcher is a stop, not an error
            stopped, reply.error = "error", _broke(err, reply.server, timeout)
    finally:
        if watcher is not None:
            watcher.close()
        stream.close()
    if stop is not None and stop.is_set():
        stopped = "interrupted"
    stopped = stopped or ("return" if ended else "incomplete")
    sink.finish(stopped, time.perf_counter() - start, usage if stopped not in ("interrupted", "error") else None)


def _broke(err: BaseException, server: str, timeout: float) -> str:
    """Why a stream broke off, as one line."""
    if isinstance(err, ServerError):
        return str(err)
    if isinstance(err, TimeoutError):
        return f"{server} sent nothing for {timeout:g} s mid-reply: {FIX_SLOW}"
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return f"the stream from {server} broke off: {first}"
