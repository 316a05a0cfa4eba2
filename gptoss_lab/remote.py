"""Talk to gpt-oss on a server: vLLM, Ollama, LM Studio, llama.cpp, ``transformers serve``.

>>> lab = Lab(base_url="http://127.0.0.1:8000/v1", model="openai/gpt-oss-20b")   # doctest: +SKIP
>>> lab.ask("What is 17 + 25?", effort="high").reasoning                         # doctest: +SKIP

A small standard-library HTTP client (no extra dependency) that streams a reply and fills
the same :class:`~gptoss_lab.reply.Reply` as a local model, reasoning apart from the answer.
``api`` names the :class:`~gptoss_lab.dialects.Dialect` it speaks (``"chat"``: chat completions,
which every server above offers; ``"responses"``; ``"ollama"``, Ollama's native API; ``"completions"``,
harmony-exact; or one you register in :data:`~gptoss_lab.dialects.DIALECTS`); the client itself never
branches on which. ``"auto"`` is harmony-exact on vLLM when the model's tokenizer is on this machine's
disk (the directory vLLM loaded, or nano), chat completions otherwise.

Harmony-exact (``api="completions"``): the prompt is rendered here, by :mod:`gptoss_lab.harmony` and the
model's own tokenizer (:class:`~gptoss_lab.remote_tokens.ClientTokenizer`), sent as token ids, and the
reply's token ids are parsed here by the same streaming parser as a local model's: reasoning, answer
and tool calls as the model wrote them, whatever the server's own harmony parser would have done.

When a chat server puts everything in ``content`` the text is split here: literal harmony
(``<|channel|>analysis<|message|>...``) through :class:`~gptoss_lab.harmony.StreamParser`,
and harmony whose special tokens were stripped (``analysis...assistantfinal...``, what
``transformers serve`` 5.x sends for gpt-oss) at its channel names. Tool calls are not
requested; past turns go back as plain ``{"role", "content"}`` messages.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from .dialects import COMPLETIONS, DIALECTS, Ask, api_names
from .errors import GptOssLabError, OptionError, ServerError
from .harmony import Prompt, render_prompt
from .options import DEFAULT_EFFORT, DEFAULT_TIMEOUT, check_timeout, default_max_new_tokens
from .remote_reply import FIX_SLOW, RemoteReply, Stream, TokenSink, read_stream
from .remote_tokens import ClientTokenizer, local_tokenizer_name
from .remote_wire import error_text, split_content
from .reply import Reply

__all__ = ["RemoteClient", "RemoteReply", "ServerError", "local_model_needed", "split_content"]

_FIX_URL = "start the server (transformers serve, ollama serve, vllm serve ...) or fix the URL (http://HOST:PORT/v1)"


def local_model_needed(url: str | None = None) -> str:
    """The one line every routing/attention view gives for a reply that has no trace."""
    where = f" (this reply came from {url})" if url else ""
    return f"routing and attention views need a local model{where}: %gptoss load nano, or Lab('nano')"


# ----------------------------------------------------------------------------- the client


class RemoteClient:
    """An OpenAI-compatible (or Ollama) server and one model on it.

    ``base_url``: ``http://HOST:PORT/v1`` (a bare ``http://HOST:PORT`` gets ``/v1``).
    ``model``: as the server names it; None takes the one model the server lists.
    ``api_key``: sent as a bearer token (default: ``$OPENAI_API_KEY``, else none).
    ``api``: a name in :data:`~gptoss_lab.dialects.DIALECTS` (``"chat"``, ``"responses"``, ``"ollama"``,
    ``"completions"``), or ``"auto"`` (harmony-exact completions on vLLM when the model's tokenizer is here,
    else chat completions; decided by :meth:`check`).
    ``tokenizer``: where harmony-exact mode reads the model's tokenizer (``"nano"``, a checkpoint directory,
    a hub id); default: the directory the server says it loaded, or the model's name, if either is here.
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
        timeout: float = DEFAULT_TIMEOUT,
        tokenizer: str | None = None,
    ) -> None:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OptionError(f"base_url must look like http://HOST:PORT/v1, got {base_url!r}")
        if api not in api_names():
            raise OptionError(f"api must be one of {'|'.join(api_names())}, got {api!r}: use --api {_api_choices()}")
        self._parts = parts
        path = parts.path.rstrip("/")
        self._openai_path = path or "/v1"  # where /chat/completions, /responses, /models live
        self._root_path = path[: -len("/v1")] if path.endswith("/v1") else path  # Ollama's /api/chat
        self.base_url = f"{parts.scheme}://{parts.netloc}{self._openai_path}"
        self.model = model
        self.requested_api = api
        self.api = "chat" if api == "auto" else api
        self.dialect = DIALECTS[self.api]
        self.tokenizer = tokenizer
        #: the model's tokenizer, read by :meth:`check` for a dialect that renders (harmony-exact)
        self.tokens: ClientTokenizer | None = None
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY") or None
        self.timeout = check_timeout(timeout)
        #: tokens the model reads at most, when the server's model list says (vLLM's max_model_len)
        self.context_length: int | None = None
        self._refused_fields: set[str] = set()  # optional body fields this server rejected
        self._checked = False

    def __repr__(self) -> str:
        model = self.model or "(the one it serves)"
        key = ", api key set" if self.api_key else ""
        exact = f" (harmony-exact: {self.tokens.source.label}'s tokenizer here)" if self.tokens else ""
        return f"remote server {self.base_url}, model {model}, {self.api} API{exact}{key}"

    # -- HTTP

    def _path(self, endpoint: str) -> str:
        return (self._root_path if self.dialect.at_root else self._openai_path) + endpoint

    def _url(self, endpoint: str) -> str:
        return f"{self._parts.scheme}://{self._parts.netloc}{self._path(endpoint)}"

    def _open(self, method: str, endpoint: str, body: dict[str, Any] | None = None) -> Stream:
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
            raise ServerError(f"{self.base_url} sent nothing for {self.timeout:g} s: {FIX_SLOW}") from None
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
        return Stream(conn, sock, resp)

    def _html_page(self, endpoint: str) -> str:
        where = self._url(endpoint)
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
        where = self._url(endpoint)
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
                f"try --api {_api_choices()}, or a base URL ending in /v1"
            )
        hint = "see the server's log" if status >= 500 else "check the options (--max-tokens, --temperature)"
        return ServerError(f"the server answered HTTP {status}: {message}: {hint}")

    # -- models

    def models(self, *, quiet: bool = False) -> list[str]:
        """The model names the server lists (at the dialect's ``models_endpoint``)."""
        return [name for name, _ in self._model_list(quiet)]

    def _model_list(self, quiet: bool) -> list[tuple[str, dict[str, Any]]]:
        endpoint = self.dialect.models_endpoint
        try:
            stream = self._open("GET", endpoint)
            try:
                raw = stream.resp.read()
            finally:
                stream.close()
            try:
                obj = json.loads(raw)
            except ValueError:
                raise ServerError(f"{self._url(endpoint)} did not answer with JSON: {raw[:60]!r}") from None
        except ServerError:
            if quiet:
                return []
            raise
        return [(str(m.get("id") or m.get("name") or m.get("model")), m) for m in self.dialect.model_entries(obj)]

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
        self._choose_rendering(entry)
        return self

    def _choose_rendering(self, entry: dict[str, Any]) -> None:
        """Read the model's tokenizer for harmony-exact mode: always for a dialect that renders, and for
        ``"auto"`` on vLLM (its model list says ``owned_by: vllm``) when the tokenizer is on this disk."""
        auto = self.requested_api == "auto" and entry.get("owned_by") == "vllm"
        if not (self.dialect.renders or auto) or self.tokens is not None:
            return
        name = self.tokenizer or local_tokenizer_name(self.model, entry)
        if name is None and not auto:
            raise OptionError(
                f"--api {self.api} renders the prompt here and needs {self.model}'s tokenizer: pass --tokenizer "
                "DIR (a checkpoint directory with its tokenizer files, or nano)"
            )
        if name is None:
            return
        try:
            self.tokens = ClientTokenizer.load(name)
        except (GptOssLabError, OSError, ValueError) as err:
            if not auto:
                raise OptionError(f"cannot read the tokenizer {name!r} for harmony-exact mode: {err}") from None
            return  # auto: chat completions, as without a tokenizer
        self.api, self.dialect = COMPLETIONS.name, COMPLETIONS

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
        effort: str = DEFAULT_EFFORT,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        on_update: Callable[[Reply], None] | None = None,
        stop: threading.Event | None = None,
        harmony: Prompt | None = None,
        tools: tuple[dict[str, Any], ...] = (),
        tail: tuple[dict[str, Any], ...] = (),
        capture: bool = False,
    ) -> RemoteReply:
        """Stream one reply to ``prompt`` after ``history`` (chat dicts; assistant turns as content).

        ``harmony``: the rendered prompt, for harmony-exact mode (default: rendered here from the rest).
        ``tools``: OpenAI function tools; ``tail``: this turn's earlier rounds of calls and results.
        ``capture``: harmony-exact, ask vLLM for each token's routed experts into ``reply.trace`` (the reply
        then comes whole, unstreamed: :mod:`gptoss_lab.remote_routing`)."""
        self.ensure_checked()
        limit = max_new_tokens or default_max_new_tokens(effort)
        ask = Ask(str(self.model), prompt, history, developer, effort, limit, temperature, top_p, seed)
        ask = replace(ask, tools=tuple(tools), tail=tuple(tail), routing=capture and self.tokens is not None)
        reply = RemoteReply(prompt, str(self.model), effort, server=self.base_url, max_new_tokens=limit)
        if self.tokens is not None:
            ask = self._rendered(ask, harmony)
            reply.prompt_ids = list(ask.prompt_ids)
            reply.stats.prompt_tokens = len(ask.prompt_ids)
        else:
            reply.stats.prompt_tokens = sum(len(str(m["content"])) for m in ask.messages()) // 4
        if self.context_length is not None:  # what the stated context leaves (by an estimate, without ids)
            reply.room = self.context_length - reply.stats.prompt_tokens
        start = time.perf_counter()
        try:
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            stream = self._post(self.dialect.request_body(ask))
        except KeyboardInterrupt:  # stopped before the server sent a byte (loading, a long prompt)
            reply.finish("interrupted", time.perf_counter() - start, None)
            return reply
        kind = (stream.resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
        one_body = kind == "application/json"  # not a stream (NDJSON is one): the server ignored stream: true
        chunks = self.dialect.body_chunks(stream.resp) if one_body else self.dialect.chunks(stream.resp)
        sink = None
        if self.tokens is not None:
            call_id = self.tokens.codec.special_ids.get("<|call|>")
            sink = TokenSink(reply, self.tokens.parser(), self.tokens.stop_ids, call_id)
        read_stream(reply, stream, chunks, on_update, stop, start, self.timeout, sink)
        if capture:
            self._routing(reply, ask, sink)
        return reply

    def _routing(self, reply: RemoteReply, ask: Ask, sink: TokenSink | None) -> None:
        """``reply.trace`` from the routed experts vLLM sent, or ``reply.routing_note`` saying why there is none."""
        from .remote_routing import NOT_SENT, decode_routed_experts, served_trace

        if sink is None or self.tokens is None:
            return  # the server renders and parses itself: the views say they need a local model
        if not sink.routed:
            reply.routing_note = NOT_SENT
            return
        try:
            routed = decode_routed_experts(sink.routed)
            ids = list(ask.prompt_ids) + list(reply.completion_ids)
            reply.trace = served_trace(
                routed, ids, len(ask.prompt_ids), self.tokens, model=str(self.model), server=self.base_url
            )
        except ServerError as err:  # the reply stands; only its routing is lost, and the note says why
            reply.routing_note = str(err)

    def _rendered(self, ask: Ask, harmony: Prompt | None) -> Ask:
        """``ask`` with its prompt rendered to ids by the model's tokenizer, and the model's sampling defaults."""
        assert self.tokens is not None
        if harmony is None:
            dev = [{"role": "developer", "content": ask.developer}] if ask.developer is not None else []
            chat = [*dev, *ask.history, {"role": "user", "content": ask.prompt}, *ask.tail]
            tools = list(ask.tools) or None
            harmony = render_prompt(chat, effort=ask.effort, model_identity=self.tokens.identity, tools=tools)
        defaults = self.tokens.sampling  # a model's stated sampling, as a local model uses it (nano: greedy)
        temperature = ask.temperature if ask.temperature is not None else defaults.get("temperature")
        top_p = ask.top_p if ask.top_p is not None else defaults.get("top_p")
        ids = tuple(self.tokens.encode(harmony))
        return replace(ask, temperature=temperature, top_p=top_p, prompt_ids=ids, stop_ids=self.tokens.stop_ids)

    def _post(self, body: dict[str, Any]) -> Stream:
        """POST ``body``; an optional field the server refuses is dropped, for this and every later request."""
        body = {k: v for k, v in body.items() if k not in self._refused_fields}
        try:
            return self._open("POST", self.dialect.endpoint, body)
        except ServerError as err:
            refused = {f for f in self.dialect.optional_fields if f in body and f in str(err)}
            if not refused:
                raise
            self._refused_fields |= refused
            return self._open("POST", self.dialect.endpoint, {k: v for k, v in body.items() if k not in refused})


def _api_choices() -> str:
    """The dialects ``--api`` takes, as a fix names them (``chat|responses|ollama``)."""
    return "|".join(DIALECTS)
