"""The remote client when things go wrong: stop and Ctrl-C mid-stream, unreachable servers, HTTP errors."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from gptoss_lab import Lab
from gptoss_lab.remote import ServerError

from ._replay_server import ReplayServer, Request, Route, serve

CHAT = "/v1/chat/completions"


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    yield from serve()


def _delta(**fields: str) -> bytes:
    chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": fields, "finish_reason": None}]}
    return f"data: {json.dumps(chunk)}\n\n".encode()


def held_stream(server: ReplayServer, release: threading.Event, before: int) -> None:
    """A reasoning stream that sends ``before`` chunks, waits for ``release``, then 50 more and an answer."""

    def body() -> Iterator[bytes]:
        for i in range(before):
            yield _delta(reasoning=f"step {i}. ")
        release.wait(10)
        for i in range(50):
            yield _delta(reasoning=f"late {i}. ")
        yield _delta(content="42")
        yield b"data: [DONE]\n\n"

    server.routes["POST", CHAT] = Route(body=body)
    server.models("m")


def test_stop_event_mid_stream_keeps_the_partial_reply_and_closes_the_connection(server: ReplayServer) -> None:
    release = threading.Event()
    held_stream(server, release, before=5)
    stop = threading.Event()

    def on_update(reply: object) -> None:
        if "step 2." in reply.reasoning:  # type: ignore[attr-defined]
            stop.set()  # what a widget's Stop button does

    lab = Lab("m", base_url=server.url)
    reply = lab.ask("Count.", on_update=on_update, stop=stop)
    release.set()
    assert reply.stopped == "interrupted"
    assert reply.reasoning.startswith("step 0. step 1. step 2.")
    assert "late" not in reply.reasoning and reply.answer == ""
    assert server.disconnected.wait(5)  # the server saw the client hang up
    assert "token counts estimated" in reply.token_note
    assert lab.history[-1] == {"role": "assistant", "content": ""}  # the turn is kept, partial
    assert not [t for t in threading.enumerate() if t.name == "gptoss-remote-stop"]


def test_stop_while_the_server_is_silent_returns_without_waiting_for_it(server: ReplayServer) -> None:
    release = threading.Event()
    held_stream(server, release, before=2)
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)  # pressed while the server sends nothing
    timer.start()
    try:
        reply = Lab("m", base_url=server.url).ask("Count.", stop=stop)
    finally:
        timer.cancel()
        release.set()  # only now may the server go on: a client that waited would have read "late"
    assert reply.stopped == "interrupted"
    assert reply.reasoning == "step 0. step 1. "
    assert server.disconnected.wait(5)


def test_ctrl_c_mid_stream_keeps_the_partial_reply(server: ReplayServer) -> None:
    release = threading.Event()
    held_stream(server, release, before=6)
    seen: list[str] = []

    def on_update(reply: object) -> None:
        seen.append(reply.reasoning)  # type: ignore[attr-defined]
        if len(seen) == 3:
            raise KeyboardInterrupt  # the notebook's stop button

    reply = Lab("m", base_url=server.url).ask("Count.", on_update=on_update)
    release.set()
    assert reply.stopped == "interrupted"
    assert reply.reasoning == "step 0. step 1. step 2. "
    assert server.disconnected.wait(5)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(err.value)
    assert message and "\n" not in message
    return message


def test_connection_refused_says_start_the_server_or_fix_the_url() -> None:
    port = _closed_port()
    with pytest.raises(ServerError) as err:
        Lab("m", base_url=f"http://127.0.0.1:{port}/v1").ask("Hi")
    message = one_line(err)
    assert f"cannot connect to http://127.0.0.1:{port}/v1: connection refused" in message
    assert "start the server" in message and "http://HOST:PORT/v1" in message


def test_unknown_model_lists_what_the_server_has(server: ReplayServer) -> None:
    # vLLM's answer for a model it does not serve; this server lists no models up front
    server.json("POST", CHAT, {"error": {"message": "The model `foo` does not exist.", "code": 404}}, status=404)
    with pytest.raises(ServerError) as err:
        Lab("foo", base_url=server.url).ask("Hi")
    message = one_line(err)
    assert "no model 'foo'" in message and "does not exist" in message and "--model NAME" in message


def test_ollama_native_unknown_model(server: ReplayServer) -> None:
    server.json("GET", "/api/tags", {"models": [{"name": "gpt-oss:20b"}]})
    with pytest.raises(ServerError) as err:
        Lab("gpt-oss:120b", base_url=server.url, api="ollama").ask("Hi")
    assert "does not list model 'gpt-oss:120b'; it lists: gpt-oss:20b: use --model NAME" in one_line(err)
    # listed as gpt-oss:latest (what "gpt-oss" means to Ollama), then refused when asked
    server.json("GET", "/api/tags", {"models": [{"name": "gpt-oss:20b"}, {"name": "gpt-oss:latest"}]})
    server.json("POST", "/api/chat", {"error": "model 'gpt-oss' not found"}, status=404)
    with pytest.raises(ServerError) as err:
        Lab("gpt-oss", base_url=server.url, api="ollama").ask("Hi")
    assert "no model 'gpt-oss' (HTTP 404: model 'gpt-oss' not found); it lists: gpt-oss:20b" in one_line(err)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"error": {"message": "Invalid API key"}}, "HTTP 401: Invalid API key): pass its key with --api-key KEY"),
        (500, {"detail": "CUDA out of memory"}, "HTTP 500: CUDA out of memory: see the server's log"),
        (422, {"detail": [{"msg": "max_tokens too large"}]}, "HTTP 422: max_tokens too large: check the options"),
    ],
)
def test_http_errors_are_one_line(server: ReplayServer, status: int, body: object, expected: str) -> None:
    server.models("m")
    server.json("POST", CHAT, body, status=status)
    with pytest.raises(ServerError) as err:
        Lab("m", base_url=server.url).ask("Hi")
    assert expected in one_line(err)


def test_an_api_the_server_lacks_is_named(server: ReplayServer) -> None:
    server.models("m")
    with pytest.raises(ServerError) as err:
        Lab("m", base_url=server.url, api="responses").ask("Hi")
    message = one_line(err)
    assert f"{server.url}/responses not found (HTTP 404)" in message and "--api chat|responses|ollama" in message


def test_an_error_inside_the_stream_is_raised(server: ReplayServer) -> None:
    server.models("m")
    server.routes["POST", CHAT] = Route(body=lambda: iter([_delta(reasoning="a"), b'data: {"error": "boom"}\n\n']))
    with pytest.raises(ServerError, match="the server stopped the reply with an error: boom"):
        Lab("m", base_url=server.url).ask("Hi")


def test_a_server_that_rejects_chat_template_kwargs_is_asked_again_without(server: ReplayServer) -> None:
    server.models("m")
    reject = json.dumps({"detail": "Unexpected fields in the request: {'chat_template_kwargs'}"}).encode()
    answer = [_delta(reasoning="Think. "), _delta(content="Done.")]

    def strict(request: Request) -> Route:
        if "chat_template_kwargs" in request.body:
            return Route(422, "application/json", reject)
        return Route(body=lambda: iter(answer))

    server.dynamic["POST", CHAT] = strict
    lab = Lab("m", base_url=server.url)
    reply = lab.ask("Hi", effort="high")
    assert (reply.reasoning, reply.answer) == ("Think. ", "Done.")
    first, second = server.posted()
    assert first["chat_template_kwargs"] == {"reasoning_effort": "high"}
    assert "chat_template_kwargs" not in second and second["reasoning_effort"] == "high"
    lab.ask("Again")
    assert len(server.posted()) == 3  # remembered: no second refusal
    assert "chat_template_kwargs" not in server.posted()[2]


def test_a_stop_set_before_asking_sends_nothing(server: ReplayServer) -> None:
    server.models("m")
    stop = threading.Event()
    stop.set()
    reply = Lab("m", base_url=server.url).ask("Hi", stop=stop)
    assert (reply.stopped, reply.reasoning, reply.answer) == ("interrupted", "", "")
    assert server.posted() == []


def test_a_server_without_a_model_list_needs_a_model_name(server: ReplayServer) -> None:
    with pytest.raises(ServerError) as err:
        Lab(base_url=server.url).load()
    assert one_line(err) == f"{server.url} lists no models: name one with --model NAME"


def test_an_answer_that_starts_like_a_channel_name_stays_the_answer(server: ReplayServer) -> None:
    # with a reasoning field the server has split the text itself: content is never re-split
    server.models("m")
    answer = [_delta(reasoning="Think."), _delta(content="analysis"), _delta(content=" of 17 + 25: 42")]
    server.routes["POST", CHAT] = Route(body=lambda: iter(answer))
    reply = Lab("m", base_url=server.url).ask("Hi")
    assert (reply.reasoning, reply.answer) == ("Think.", "analysis of 17 + 25: 42")
