"""Talk to gpt-oss on a server: vLLM, Ollama, LM Studio, llama.cpp, ``transformers serve``.

>>> lab = Lab(base_url="http://127.0.0.1:8000/v1", model="openai/gpt-oss-20b")   # doctest: +SKIP
>>> lab.ask("What is 17 + 25?", effort="high").reasoning                         # doctest: +SKIP

A small standard-library HTTP client (no extra dependency) that streams a reply and fills
the same :class:`~gptoss_lab.reply.Reply` as a local model, reasoning apart from the answer.
``api`` chooses the endpoint:

* ``"chat"`` (and ``"auto"``, since every server above offers it): ``POST {base}/chat/completions``
  with ``stream``, ``reasoning_effort`` (and ``chat_template_kwargs.reasoning_effort``, which
  is how ``transformers serve`` passes effort to gpt-oss's chat template; a server that refuses
  that field is asked again without it).
  Reasoning comes from ``delta.reasoning`` (vLLM, LM Studio, Ollama) or
  ``delta.reasoning_content`` (older vLLM, llama.cpp).
* ``"responses"``: ``POST {base}/responses`` with ``reasoning: {effort}``; reasoning from
  ``response.reasoning_text.delta`` (or ``reasoning_summary_text``) events.
* ``"ollama"``: Ollama's native ``POST /api/chat`` (NDJSON) with ``think: effort``;
  reasoning from ``message.thinking``.

When a server puts everything in ``content`` the text is split here: literal harmony
(``<|channel|>analysis<|message|>...``) through :class:`~gptoss_lab.harmony.StreamParser`,
and harmony whose special tokens were stripped (``analysis...assistantfinal...``, what
``transformers serve`` 5.x sends for gpt-oss) at its channel names. Tool calls are not
requested; past turns go back as plain ``{"role", "content"}`` messages.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from .errors import OptionError, ServerError
from .harmony import Message, MessageEnd
from .options import check_timeout
from .remote_wire import (
    Chunk,
    ContentSplitter,
    body_chunks,
    chat_chunks,
    error_text,
    ollama_chunks,
    responses_chunks,
    split_content,
)
from .reply import Reply

__all__ = ["APIS", "RemoteClient", "RemoteReply", "ServerError", "local_model_needed", "split_content"]

APIS = ("auto", "chat", "responses", "ollama")
_FINISH = {"stop": "return", "length": "max_tokens", "tool_calls": "call", "function_call": "call"}
_FIX_SLOW = "is it busy or stuck? wait longer with --timeout SECONDS (Lab(..., timeout=...))"
_FIX_URL = "start the server (transformers serve, ollama serve, vllm serve ...) or fix the URL (http://HOST:PORT/v1)"


def local_model_needed(url: str | None = None) -> str:
    """The one line every routing/attention view gives for a reply that has no trace."""
    where = f" (this reply came from {url})" if url else ""
    return f"routing and attention views need a local model{where}: %gptoss load nano, or Lab('nano')"


# ----------------------------------------------------------------------------- the reply


@dataclass(repr=False)
class RemoteReply(Reply):
    """A :class:`Reply` streamed from a server. ``trace`` stays None: routing needs a local model.

    Token counts come from the server's ``usage`` when it sends one; otherwise each streamed
    chunk counts as one token and the prompt as a quarter of its characters, and
    ``token_note`` says so (the stats line shows it).
    """

    server: str = ""
    token_note: str = ""
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
        return self._chunks


# ----------------------------------------------------------------------------- the client


@dataclass
class _Stream:
    """An open streaming response and the socket under it (shut down to stop a blocked read)."""

    conn: http.client.HTTPConnection
    sock: socket.socket | None
    resp: http.client.HTTPResponse

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.resp.close()
        self.conn.close()


class RemoteClient:
    """An OpenAI-compatible (or Ollama) server and one model on it.

    ``base_url``: ``http://HOST:PORT/v1`` (a bare ``http://HOST:PORT`` gets ``/v1``).
    ``model``: as the server names it; None takes the one model the server lists.
    ``api_key``: sent as a bearer token (default: ``$OPENAI_API_KEY``, else none).
    ``api``: ``"auto"`` (chat completions), ``"chat"``, ``"responses"`` or ``"ollama"``.
    ``timeout``: seconds to wait for any byte (a big model's first token can take a while); a stream
    silent for longer ends ``stopped="error"`` with what arrived kept.
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        api: str = "auto",
        timeout: float = 600.0,
    ) -> None:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OptionError(f"base_url must look like http://HOST:PORT/v1, got {base_url!r}")
        if api not in APIS:
            raise OptionError(f"api must be one of {'|'.join(APIS)}, got {api!r}: use --api chat|responses|ollama")
        self._parts = parts
        path = parts.path.rstrip("/")
        self._openai_path = path or "/v1"  # where /chat/completions, /responses, /models live
        self._root_path = path[: -len("/v1")] if path.endswith("/v1") else path  # Ollama's /api/chat
        self.base_url = f"{parts.scheme}://{parts.netloc}{self._openai_path}"
        self.model = model
        self.api = "chat" if api == "auto" else api
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY") or None
        self.timeout = check_timeout(timeout)
        #: tokens the model reads at most, when the server's model list says (vLLM's max_model_len)
        self.context_length: int | None = None
        self._template_kwargs = True  # dropped if a server rejects chat_template_kwargs
        self._checked = False

    def __repr__(self) -> str:
        model = self.model or "(the one it serves)"
        key = ", api key set" if self.api_key else ""
        return f"remote server {self.base_url}, model {model}, {self.api} API{key}"

    # -- HTTP

    def _path(self, endpoint: str) -> str:
        if endpoint.startswith("/api/"):
            return self._root_path + endpoint
        return self._openai_path + endpoint

    def _open(self, method: str, endpoint: str, body: dict[str, Any] | None = None) -> _Stream:
        """Send one request; a connection problem or an HTTP error is one :class:`ServerError` line."""
        host, port = self._parts.hostname or "", self._parts.port
        cls = http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(host, port, timeout=self.timeout)
        headers = {"Accept": "text/event-stream, application/x-ndjson, application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else None
        try:
            conn.request(method, self._path(endpoint), body=data, headers=headers)
            sock = conn.sock
            resp = conn.getresponse()
        except ConnectionRefusedError:
            conn.close()
            raise ServerError(f"cannot connect to {self.base_url}: connection refused: {_FIX_URL}") from None
        except socket.gaierror:
            conn.close()
            raise ServerError(f"cannot find the host {host!r} of {self.base_url}: {_FIX_URL}") from None
        except TimeoutError:
            conn.close()
            raise ServerError(f"{self.base_url} sent nothing for {self.timeout:g} s: {_FIX_SLOW}") from None
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            raise ServerError(f"cannot talk to {self.base_url}: {err}: {_FIX_URL}") from None
        if resp.status >= 400:
            text = resp.read(8192).decode("utf-8", errors="replace")
            conn.close()
            raise self._http_error(resp.status, text, endpoint)
        if "html" in (resp.getheader("Content-Type") or "").lower():
            conn.close()
            raise ServerError(self._html_page(endpoint))
        return _Stream(conn, sock, resp)

    def _html_page(self, endpoint: str) -> str:
        where = f"{self._parts.scheme}://{self._parts.netloc}{self._path(endpoint)}"
        root = f"{self._parts.scheme}://{self._parts.netloc}"
        fix = f"try {root}/v1" if self._openai_path != "/v1" else "check the host and port (the server's API port)"
        return f"{where} got an HTML page, not an OpenAI-compatible API: is the URL right? {fix}"

    def _http_error(self, status: int, text: str, endpoint: str) -> ServerError:
        if text.lstrip()[:1] == "<":  # a web page, not an API error body
            return ServerError(f"HTTP {status}: {self._html_page(endpoint)}")
        try:
            message = error_text(json.loads(text))
        except ValueError:
            message = text.strip().splitlines()[0][:300] if text.strip() else "(no message)"
        where = f"{self._parts.scheme}://{self._parts.netloc}{self._path(endpoint)}"
        if status in (401, 403):
            return ServerError(
                f"the server refused the request (HTTP {status}: {message}): pass its key with "
                "--api-key KEY (Lab(api_key=...)) or set OPENAI_API_KEY"
            )
        if status == 404 and "model" in message.lower():
            listed = ", ".join(self.models(quiet=True)) or "nothing"
            return ServerError(
                f"the server has no model {self.model!r} (HTTP 404: {message}); it lists: {listed}: use --model NAME"
            )
        if status == 404:
            return ServerError(
                f"{where} not found (HTTP 404): the server does not offer the {self.api} API there: "
                "try --api chat|responses|ollama, or a base URL ending in /v1"
            )
        hint = "see the server's log" if status >= 500 else "check the options (--max-tokens, --temperature)"
        return ServerError(f"the server answered HTTP {status}: {message}: {hint}")

    # -- models

    def models(self, *, quiet: bool = False) -> list[str]:
        """The model names the server lists (``/models``, or ``/api/tags`` for Ollama's API)."""
        return [name for name, _ in self._model_list(quiet)]

    def _model_list(self, quiet: bool) -> list[tuple[str, dict[str, Any]]]:
        endpoint = "/api/tags" if self.api == "ollama" else "/models"
        try:
            stream = self._open("GET", endpoint)
            try:
                raw = stream.resp.read()
            finally:
                stream.close()
            try:
                obj = json.loads(raw)
            except ValueError:
                raise ServerError(f"{self.base_url}{endpoint} did not answer with JSON: {raw[:60]!r}") from None
        except ServerError:
            if quiet:
                return []
            raise
        items = obj.get("models" if self.api == "ollama" else "data") if isinstance(obj, dict) else None
        entries = [m for m in items or [] if isinstance(m, dict)]
        return [(str(m.get("id") or m.get("name") or m.get("model")), m) for m in entries]

    def check(self) -> RemoteClient:
        """Reach the server; choose the model if none was named; refuse one it does not list."""
        try:
            listed = self._model_list(quiet=False)
        except ServerError as err:  # a server without a model list still answers prompts for a named model
            if "HTTP 404" not in str(err) or "HTML page" in str(err):
                raise
            if self.model is None:
                raise ServerError(f"{self.base_url} lists no models: name one with --model NAME") from None
            listed = []
        names = [name for name, _ in listed]
        self._checked = True
        if self.model is None:
            if len(names) != 1:
                shown = ", ".join(names) or "no models"
                raise ServerError(f"{self.base_url} serves {shown}: name one with --model NAME")
            self.model = names[0]
        elif names and self.model not in names and f"{self.model}:latest" not in names:
            raise ServerError(
                f"the server does not list model {self.model!r}; it lists: {', '.join(names)}: use --model NAME"
            )
        entry = next((m for name, m in listed if name in (self.model, f"{self.model}:latest")), {})
        length = entry.get("max_model_len") or entry.get("context_length") or entry.get("max_context_length")
        self.context_length = int(length) if isinstance(length, int) and length > 0 else None
        return self

    def ensure_checked(self) -> RemoteClient:
        """:meth:`check` once: a wrong URL or model name is said plainly before the first reply."""
        return self if self._checked else self.check()

    # -- asking

    def ask(
        self,
        prompt: str,
        history: list[dict[str, Any]],
        *,
        developer: str | None = None,
        effort: str = "medium",
        max_new_tokens: int = 1024,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        on_update: Callable[[Reply], None] | None = None,
        stop: threading.Event | None = None,
    ) -> RemoteReply:
        """Stream one reply to ``prompt`` after ``history`` (chat dicts; assistant turns as content)."""
        self.ensure_checked()
        messages = _wire_messages(prompt, history, developer if self.api != "responses" else None)
        options = {"max": max_new_tokens, "temperature": temperature, "top_p": top_p, "seed": seed}
        endpoint, body, reader = self._request(messages, developer, effort, options)
        reply = RemoteReply(prompt, str(self.model), effort, server=self.base_url)
        reply.stats.prompt_tokens = sum(len(str(m.get("content") or "")) for m in messages) // 4
        start = time.perf_counter()
        try:
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            stream = self._open_retrying(endpoint, body)
        except KeyboardInterrupt:  # stopped before the server sent a byte (loading, a long prompt)
            reply.finish("interrupted", time.perf_counter() - start, None)
            return reply
        kind = (stream.resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
        one_body = kind == "application/json"  # not a stream (NDJSON is one): the server ignored stream: true
        chunks = body_chunks(stream.resp, self.api) if one_body else reader(stream.resp)
        _run(reply, stream, chunks, on_update, stop, start, self.timeout)
        return reply

    def _open_retrying(self, endpoint: str, body: dict[str, Any]) -> _Stream:
        try:
            return self._open("POST", endpoint, body)
        except ServerError as err:
            # a server that rejects unknown fields: send effort the standard way only, from now on
            if "chat_template_kwargs" not in body or "chat_template_kwargs" not in str(err):
                raise
            self._template_kwargs = False
            return self._open("POST", endpoint, {k: v for k, v in body.items() if k != "chat_template_kwargs"})

    def _request(
        self, messages: list[dict[str, Any]], developer: str | None, effort: str, opt: dict[str, Any]
    ) -> tuple[str, dict[str, Any], Callable[[Any], Iterator[Chunk]]]:
        """(endpoint, JSON body, stream reader) for this client's API."""
        if self.api == "ollama":
            options = {"num_predict": opt["max"], "temperature": opt["temperature"], "top_p": opt["top_p"]}
            options["seed"] = opt["seed"]
            body = {"model": self.model, "messages": messages, "stream": True, "think": effort}
            body["options"] = {k: v for k, v in options.items() if v is not None}
            return "/api/chat", body, ollama_chunks
        sampling = {"temperature": opt["temperature"], "top_p": opt["top_p"], "seed": opt["seed"]}
        body = {"model": self.model, "stream": True, **{k: v for k, v in sampling.items() if v is not None}}
        if self.api == "responses":
            body.update(input=messages, reasoning={"effort": effort}, max_output_tokens=opt["max"])
            if developer:
                body["instructions"] = developer
            return "/responses", body, responses_chunks
        body.update(messages=messages, reasoning_effort=effort, max_tokens=opt["max"])
        body["stream_options"] = {"include_usage": True}
        if self._template_kwargs:
            body["chat_template_kwargs"] = {"reasoning_effort": effort}
        return "/chat/completions", body, chat_chunks


def _wire_messages(prompt: str, history: list[dict[str, Any]], developer: str | None) -> list[dict[str, Any]]:
    """Chat messages as servers take them: instructions as ``system``, past replies as content only."""
    out: list[dict[str, Any]] = [{"role": "system", "content": developer}] if developer else []
    for turn in history:
        out.append({"role": turn["role"], "content": str(turn.get("content") or "")})
    out.append({"role": "user", "content": prompt})
    return out


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


def _run(
    reply: RemoteReply,
    stream: _Stream,
    chunks: Iterator[Chunk],
    on_update: Callable[[Reply], None] | None,
    stop: threading.Event | None,
    start: float,
    timeout: float,
) -> None:
    """Read the stream into ``reply``. Whatever happens the reply keeps what arrived and ``stopped`` says
    why it ended: Ctrl-C or ``stop`` "interrupted", a broken stream "error" (``reply.error`` says how), a
    stream that ends without a finish reason or end marker "incomplete"."""
    splitter = ContentSplitter()
    stopped: str | None = None
    usage: dict[str, int] | None = None
    ended = False
    watcher = _StopWatcher(stop, stream.sock) if stop is not None else None
    try:
        for chunk in chunks:
            if stop is not None and stop.is_set():
                break
            if chunk.reasoning and splitter.mode is None:
                splitter.mode = "plain"  # the server separates reasoning: content is all answer
            if chunk.reasoning or chunk.content:
                pieces = [("analysis", chunk.reasoning)] if chunk.reasoning else []
                reply.add(pieces + splitter.feed(chunk.content), time.perf_counter() - start)
                if on_update is not None:
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
    elapsed = time.perf_counter() - start
    reply.add(splitter.finish(), elapsed, tokens=0)
    stopped = stopped or ("return" if ended else "incomplete")
    reply.finish(stopped, elapsed, usage if stopped not in ("interrupted", "error") else None)


def _broke(err: BaseException, server: str, timeout: float) -> str:
    """Why a stream broke off, as one line."""
    if isinstance(err, ServerError):
        return str(err)
    if isinstance(err, TimeoutError):
        return f"{server} sent nothing for {timeout:g} s mid-reply: {_FIX_SLOW}"
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return f"the stream from {server} broke off: {first}"
