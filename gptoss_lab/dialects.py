"""Server dialects: how each server API is spoken, one small :class:`Dialect` object each, in :data:`DIALECTS`.

* ``"chat"``: ``POST {base}/chat/completions`` (vLLM, Ollama, LM Studio, llama.cpp, ``transformers serve``)
  with ``reasoning_effort`` and ``chat_template_kwargs.reasoning_effort`` (how ``transformers serve``
  passes effort to gpt-oss's chat template; dropped for a server that refuses it). Reasoning from
  ``delta.reasoning`` (vLLM, LM Studio, Ollama) or ``delta.reasoning_content`` (older vLLM, llama.cpp).
* ``"responses"``: ``POST {base}/responses`` with ``reasoning: {effort}`` and the developer text as
  ``instructions``; reasoning from ``response.reasoning_text.delta`` (or its summary) events.
* ``"ollama"``: Ollama's native ``POST /api/chat`` (NDJSON) with ``think: effort``; reasoning from
  ``message.thinking``; models from ``/api/tags``.
* ``"completions"`` (harmony-exact, vLLM): ``POST {base}/completions`` with the prompt as token ids that
  the client rendered with :mod:`gptoss_lab.harmony` and the model's own tokenizer, ``return_token_ids``
  and ``skip_special_tokens: false``; the reply's token ids are parsed here, so no server-side harmony
  parser can leak markup or drop reasoning.

A dialect says where to send a request, what JSON body carries it (effort placed the way that API
takes it), where the server lists its models, and how to read what comes back, streamed or as one JSON
body, into :class:`~gptoss_lab.remote_wire.Chunk` objects. :class:`~gptoss_lab.remote.RemoteClient`
takes one by name and never branches on which. Adding one is one object::

    DIALECTS["mine"] = Dialect("mine", "/mine", body_fn, read_fn)

No network here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import ServerError
from .options import DEFAULT_EFFORT, DEFAULT_MAX_NEW_TOKENS
from .remote_wire import Chunk, error_text, json_object, ndjson, refused, sse, usage_counts

__all__ = ["CHAT", "COMPLETIONS", "DIALECTS", "OLLAMA", "RESPONSES", "Ask", "Dialect", "api_names"]


@dataclass(frozen=True)
class Ask:
    """One request before any dialect shapes it: the model, the conversation, the generation options."""

    model: str
    prompt: str
    history: list[dict[str, Any]] = field(default_factory=list)
    developer: str | None = None
    effort: str = DEFAULT_EFFORT
    max_tokens: int = DEFAULT_MAX_NEW_TOKENS["gpt-oss"][DEFAULT_EFFORT]
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    #: harmony-exact dialects: the prompt the client rendered, and the ids that end a reply
    prompt_ids: tuple[int, ...] = ()
    stop_ids: tuple[int, ...] = ()
    #: OpenAI function tools the model may call, and this turn's earlier rounds (calls and their results)
    tools: tuple[dict[str, Any], ...] = ()
    tail: tuple[dict[str, Any], ...] = ()
    #: harmony-exact: ask vLLM for each token's routed experts (sent only in a whole, unstreamed response)
    routing: bool = False

    def messages(self, *, instructions: bool = True) -> list[dict[str, Any]]:
        """Chat messages as servers take them: the developer text as ``system`` (unless ``instructions``
        is False: the dialect sends it apart), past replies as their content only, tool calls as OpenAI's
        ``tool_calls`` with ids, each tool result answering the call before it by ``tool_call_id``."""
        out = [{"role": "system", "content": self.developer}] if self.developer and instructions else []
        calls: list[str] = []  # ids of calls not yet answered, oldest first
        made = 0
        for turn in [*self.history, {"role": "user", "content": self.prompt}, *self.tail]:
            message: dict[str, Any] = {"role": turn["role"], "content": str(turn.get("content") or "")}
            if turn["role"] == "assistant" and turn.get("tool_calls"):
                message["tool_calls"] = []
                for call in turn["tool_calls"]:
                    fn = call.get("function", call)
                    calls.append(f"call_{made}")
                    made += 1
                    name = str(fn["name"]).removeprefix("functions.")
                    args = fn.get("arguments", "")
                    args = args if isinstance(args, str) else json.dumps(args)
                    message["tool_calls"].append(
                        {"id": calls[-1], "type": "function", "function": {"name": name, "arguments": args}}
                    )
            elif turn["role"] == "tool":
                message["tool_call_id"] = calls.pop(0) if calls else "call_unknown"
            out.append(message)
        return out

    def sampling(self) -> dict[str, Any]:
        """The sampling options that were set; unset ones are the server's to choose."""
        chosen = {"temperature": self.temperature, "top_p": self.top_p, "seed": self.seed}
        return {k: v for k, v in chosen.items() if v is not None}


#: One streamed JSON object (and its server-sent event name, if any) -> the chunks it carries.
Reader = Callable[[dict[str, Any], str | None], Iterable[Chunk]]


@dataclass(frozen=True)
class Dialect:
    """One server API.

    ``endpoint``: where a request is POSTed, under the base URL (``/v1``) or, with ``at_root``, the
    server's root. ``request_body(ask)``: the JSON body, ``"stream": True`` included. ``read_object``:
    one streamed object -> chunks; ``frames`` splits the stream into ``(event, data)`` (server-sent events
    or NDJSON). ``read_body``: a whole JSON answer from a server that ignored ``stream`` (None: read as one
    streamed object). ``models_endpoint`` / ``models_key``: where the model list is and the key of its
    entries. ``optional_fields``: body fields a server may refuse; one its error names is dropped from then on.
    ``renders``: the client renders the prompt to token ids (``Ask.prompt_ids``) and parses the reply's ids.
    """

    name: str
    endpoint: str
    request_body: Callable[[Ask], dict[str, Any]]
    read_object: Reader
    read_body: Callable[[dict[str, Any]], Iterable[Chunk]] | None = None
    frames: Callable[[Any], Iterator[tuple[str | None, str]]] = sse
    models_endpoint: str = "/models"
    models_key: str = "data"
    at_root: bool = False
    optional_fields: tuple[str, ...] = ()
    renders: bool = False

    def chunks(self, resp: Any) -> Iterator[Chunk]:
        """A streamed answer (anything with ``readline()``) as chunks, up to the one that says it is over."""
        for event, data in self.frames(resp):
            if data.strip() == "[DONE]":  # the OpenAI streams' last event
                yield Chunk(end=True)
                return
            for chunk in self.read_object(json_object(data), event):
                yield chunk
                if chunk.end:
                    return

    def body_chunks(self, resp: Any) -> Iterator[Chunk]:
        """The one JSON body of a server that ignored ``stream: true``, as the chunks a stream would bring."""
        obj = json_object(resp.read())
        yield from self.read_body(obj) if self.read_body is not None else self.read_object(obj, None)
        yield Chunk(end=True)  # a whole body is the whole answer

    def model_entries(self, obj: Any) -> list[dict[str, Any]]:
        """The entries of the server's model list (dicts with ``id``, ``name`` or ``model``)."""
        items = obj.get(self.models_key) if isinstance(obj, dict) else None
        return [m for m in items or [] if isinstance(m, dict)]


# ----------------------------------------------------------------------------- chat completions


def _chat_body(ask: Ask) -> dict[str, Any]:
    body = {"model": ask.model, "stream": True, **ask.sampling(), "messages": ask.messages()}
    body.update(reasoning_effort=ask.effort, max_tokens=ask.max_tokens, stream_options={"include_usage": True})
    body["chat_template_kwargs"] = {"reasoning_effort": ask.effort}
    if ask.tools:
        body["tools"] = list(ask.tools)
    return body


def _call_pieces(delta: dict[str, Any]) -> list[dict[str, Any]] | None:
    """``delta.tool_calls`` (or a whole message's) as Chunk.calls pieces; None when there are none."""
    pieces = []
    for i, call in enumerate(delta.get("tool_calls") or []):
        fn = call.get("function") or {}
        args = fn.get("arguments")
        args = args if isinstance(args, str) or args is None else json.dumps(args)  # Ollama sends an object
        pieces.append({"index": call.get("index", i), "name": fn.get("name") or "", "arguments": args or ""})
    return pieces or None


def _chat_object(obj: dict[str, Any], event: str | None = None) -> Iterator[Chunk]:
    """A ``chat.completion.chunk`` (``delta``) or a whole ``chat.completion`` (``message``)."""
    refused(obj)
    for choice in obj.get("choices") or []:
        delta = choice.get("delta") or choice.get("message") or {}
        reasoning = delta.get("reasoning") or delta.get("reasoning_content") or ""
        yield Chunk(reasoning, delta.get("content") or "", choice.get("finish_reason"), calls=_call_pieces(delta))
    usage = obj.get("usage")
    if usage:
        details = usage.get("completion_tokens_details") or {}
        yield Chunk(usage=usage_counts(usage.get("prompt_tokens"), usage.get("completion_tokens"), details))


CHAT = Dialect("chat", "/chat/completions", _chat_body, _chat_object, optional_fields=("chat_template_kwargs",))


# ----------------------------------------------------------------------------- Responses


def _responses_input(ask: Ask) -> list[dict[str, Any]]:
    """The conversation as Responses input items: messages, and calls and their outputs as their own items."""
    items: list[dict[str, Any]] = []
    for m in ask.messages(instructions=False):
        if m["role"] == "tool":
            items.append({"type": "function_call_output", "call_id": m["tool_call_id"], "output": m["content"]})
            continue
        if m["content"] or not m.get("tool_calls"):
            items.append({"role": m["role"], "content": m["content"]})
        for call in m.get("tool_calls") or []:
            fn = call["function"]
            items.append({"type": "function_call", "call_id": call["id"], **fn})
    return items


def _responses_body(ask: Ask) -> dict[str, Any]:
    body = {"model": ask.model, "stream": True, **ask.sampling(), "input": _responses_input(ask)}
    body.update(reasoning={"effort": ask.effort}, max_output_tokens=ask.max_tokens)
    if ask.developer:
        body["instructions"] = ask.developer
    if ask.tools:  # the Responses API's flat form of a function tool
        body["tools"] = [{"type": "function", **t.get("function", t)} for t in ask.tools]
    return body


def _function_call(item: dict[str, Any]) -> Chunk:
    args = item.get("arguments") or ""
    args = args if isinstance(args, str) else json.dumps(args)
    index = item.get("id") or item.get("call_id") or ""
    return Chunk(calls=[{"index": index, "name": item.get("name") or "", "arguments": args}])


def _response_usage(response: dict[str, Any]) -> dict[str, int] | None:
    usage = response.get("usage") or {}
    details = usage.get("output_tokens_details") or {}
    return usage_counts(usage.get("input_tokens"), usage.get("output_tokens"), details)


def _responses_event(obj: dict[str, Any], event: str | None) -> Iterator[Chunk]:
    """One ``/responses`` event: reasoning text (or its summary), output text, the end, or an error."""
    kind = obj.get("type") or event
    if kind in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta"):
        yield Chunk(reasoning=obj.get("delta") or "")
    elif kind == "response.output_text.delta":
        yield Chunk(content=obj.get("delta") or "")
    elif kind == "response.output_item.done" and (obj.get("item") or {}).get("type") == "function_call":
        yield _function_call(obj["item"])  # the call whole, once its arguments are complete
    elif kind in ("response.completed", "response.incomplete"):
        finish = "length" if kind == "response.incomplete" else "stop"
        yield Chunk(finish=finish, usage=_response_usage(obj.get("response") or {}), end=True)
    elif kind in ("response.failed", "error"):
        raise ServerError(f"the server stopped the reply with an error: {error_text(obj)}")


def _response_body(obj: dict[str, Any]) -> Iterator[Chunk]:
    """A whole ``response``: its reasoning and message output items, then its status."""
    response = obj.get("response") or obj
    refused(response)
    for item in [i for i in response.get("output") or [] if isinstance(i, dict)]:
        parts = (item.get("content") or []) + (item.get("summary") or [])
        text = "".join(p.get("text") or "" for p in parts if isinstance(p, dict))
        if item.get("type") == "reasoning" and text:
            yield Chunk(reasoning=text)
        elif item.get("type") == "message" and text:
            yield Chunk(content=text)
        elif item.get("type") == "function_call":
            yield _function_call(item)
    finish = {"completed": "stop", "incomplete": "length"}.get(response.get("status") or "completed")
    yield Chunk(finish=finish, usage=_response_usage(response), end=True)


RESPONSES = Dialect("responses", "/responses", _responses_body, _responses_event, read_body=_response_body)


# ----------------------------------------------------------------------------- Ollama native


def _ollama_body(ask: Ask) -> dict[str, Any]:
    options = {"num_predict": ask.max_tokens, "temperature": ask.temperature, "top_p": ask.top_p, "seed": ask.seed}
    body = {"model": ask.model, "messages": ask.messages(), "stream": True, "think": ask.effort}
    body["options"] = {k: v for k, v in options.items() if v is not None}
    if ask.tools:
        body["tools"] = list(ask.tools)
    return body


def _ollama_object(obj: dict[str, Any], event: str | None = None) -> Iterator[Chunk]:
    """One ``/api/chat`` line: ``message.thinking`` and ``message.content``; ``done`` with the counts."""
    refused(obj)
    message = obj.get("message") or {}
    done = bool(obj.get("done"))
    usage = usage_counts(obj.get("prompt_eval_count"), obj.get("eval_count"), {}) if done else None
    finish = (obj.get("done_reason") or "stop") if done else None
    calls = _call_pieces(message)
    if calls:  # Ollama sends each call whole, and says "stop" at the end of a turn that called
        calls = [{**c, "index": f"{obj.get('created_at', '')}/{c['index']}"} for c in calls]
    yield Chunk(message.get("thinking") or "", message.get("content") or "", finish, usage, end=done, calls=calls)


OLLAMA = Dialect(
    "ollama",
    "/api/chat",
    _ollama_body,
    _ollama_object,
    frames=ndjson,
    models_endpoint="/api/tags",
    models_key="models",
    at_root=True,
)

# ----------------------------------------------------------------------------- harmony-exact completions


def _completions_body(ask: Ask) -> dict[str, Any]:
    body = {"model": ask.model, "stream": not ask.routing, **ask.sampling(), "prompt": list(ask.prompt_ids)}
    body.update(max_tokens=ask.max_tokens, stop_token_ids=list(ask.stop_ids))
    if not ask.routing:
        body.update(stream_options={"include_usage": True})
    body.update(return_token_ids=True, skip_special_tokens=False)  # the ids themselves, harmony's tokens included
    return body


def _completions_object(obj: dict[str, Any], event: str | None = None) -> Iterator[Chunk]:
    """A ``text_completion`` chunk: its token ids (vLLM's ``return_token_ids``), else its text."""
    refused(obj)
    for choice in obj.get("choices") or []:
        ids = choice.get("token_ids")
        tokens = [int(i) for i in ids] if isinstance(ids, list) else None
        routed = choice.get("routed_experts")  # vLLM, unstreamed, with --enable-return-routed-experts
        text, finish = choice.get("text") or "", choice.get("finish_reason")
        routed = routed if isinstance(routed, str) else None
        yield Chunk(content=text, finish=finish, token_ids=tokens, routed_experts=routed)
    usage = obj.get("usage")
    if usage:
        yield Chunk(usage=usage_counts(usage.get("prompt_tokens"), usage.get("completion_tokens"), {}))


COMPLETIONS = Dialect("completions", "/completions", _completions_body, _completions_object, renders=True)

#: Every dialect by the name ``api=`` takes. ``"auto"`` is chat completions, or harmony-exact completions on
#: vLLM when the model's tokenizer is at hand (see :class:`~gptoss_lab.remote.RemoteClient`).
DIALECTS: dict[str, Dialect] = {d.name: d for d in (CHAT, RESPONSES, OLLAMA, COMPLETIONS)}


def api_names() -> tuple[str, ...]:
    """What ``api=`` (``--api``) takes: ``"auto"`` and each registered dialect."""
    return ("auto", *DIALECTS)
