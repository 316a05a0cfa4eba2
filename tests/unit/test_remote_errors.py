"""The remote client when things go wrong: stop and Ctrl-C mid-stream, unreachable servers, HTTP errors."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

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


def test_an_error_inside_the_stream_keeps_what_arrived(server: ReplayServer) -> None:
    server.models("m")
    server.routes["POST", CHAT] = Route(body=lambda: iter([_delta(reasoning="a"), b'data: {"error": "boom"}\n\n']))
    lab = Lab("m", base_url=server.url)
    reply = lab.ask("Hi")
    assert (reply.stopped, reply.reasoning, reply.error) == (
        "error",
        "a",
        "the server stopped the reply with an error: boom",
    )
    assert lab.replies == [reply]


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


# -- broken streams: the partial reply is returned and recorded, ``stopped`` says what happened

REASONING = "The user asks 17 + 25. Ones: 7+5=12, carry 1; tens: 1+2+1=4. So 42."


def broken(server: ReplayServer, filename: str, cut_at: int | None = None) -> tuple[Lab, Any]:
    server.models("m")
    server.replay(CHAT, filename, cut_at=cut_at)
    lab = Lab("m", base_url=server.url)
    return lab, lab.ask("What is 17 + 25?")


def assert_recorded(lab: Lab, reply: Any, answer: str) -> None:
    """The partial reply is the Lab's last reply and the last turn of its conversation."""
    assert lab.replies[-1] is reply
    assert lab.history[-2:] == [
        {"role": "user", "content": "What is 17 + 25?"},
        {"role": "assistant", "content": answer},
    ]


def test_an_invalid_json_chunk_keeps_the_partial_reply(server: ReplayServer) -> None:
    lab, reply = broken(server, "vllm_chat_bad_json.sse")
    assert (reply.stopped, reply.reasoning, reply.answer) == ("error", REASONING, "17 + 25")
    assert reply.error.startswith("the server sent a chunk that is not JSON (")
    assert "'data: " not in reply.error and '{"id":"chatcmpl-1"' in reply.error  # the chunk's start
    assert reply.token_note.startswith("token counts estimated")
    assert_recorded(lab, reply, "17 + 25")


def test_a_connection_cut_mid_chunk_keeps_the_partial_reply(server: ReplayServer) -> None:
    # 34 events (2 lines each: vLLM's role chunk, then one chunk per reasoning token), then the cut
    lab, reply = broken(server, "vllm_chat.sse", cut_at=68)
    assert reply.stopped == "error"
    assert reply.reasoning == "The user asks 17 + 25. Ones: 7+5=12, carry 1; tens: 1+2+1=4." and reply.answer == ""
    assert reply.error.startswith(f"the stream from {server.url} broke off: ")
    assert_recorded(lab, reply, "")


def test_a_stream_that_ends_without_a_finish_reason_is_incomplete(server: ReplayServer) -> None:
    from gptoss_lab.render import reply_text

    lab, reply = broken(server, "vllm_chat_no_end.sse")
    assert (reply.stopped, reply.error) == ("incomplete", None)
    assert (reply.reasoning, reply.answer) == (REASONING, "17 + 25 = 42.")
    assert "the stream ended without a finish reason" in reply_text(reply) and "finished" not in reply_text(reply)
    assert_recorded(lab, reply, "17 + 25 = 42.")


def test_a_finish_reason_without_done_still_finishes(server: ReplayServer) -> None:
    server.models("m")
    stop = b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
    server.routes["POST", CHAT] = Route(body=lambda: iter([_delta(content="42"), stop]))
    assert Lab("m", base_url=server.url).ask("Hi").stopped == "return"


@pytest.mark.parametrize(
    ("api", "endpoint", "filename"),
    [("chat", CHAT, "vllm_chat_body.json"), ("responses", "/v1/responses", "vllm_responses_body.json")],
)
def test_a_server_that_ignores_stream_true_is_read_from_its_one_json_body(
    server: ReplayServer, api: str, endpoint: str, filename: str
) -> None:
    server.models("m")
    server.file("POST", endpoint, filename, "application/json")
    lab = Lab("m", base_url=server.url, api=api)
    reply = lab.ask("What is 17 + 25?")
    assert (reply.stopped, reply.reasoning, reply.answer) == ("return", REASONING, "17 + 25 = 42.")
    assert [m.channel for m in reply.messages] == ["analysis", "final"]
    assert reply.token_note == "token counts from the server"
    assert server.posted()[0]["stream"] is True  # it was asked to stream


@pytest.mark.parametrize(
    ("base", "fix"),
    [("/v1", "check the host and port (the server's API port)"), ("/lab", "try http://127.0.0.1:{port}/v1")],
)
def test_an_html_page_at_the_url_is_named(server: ReplayServer, base: str, fix: str) -> None:
    server.file("GET", f"{base}/models", "html_page.html", "text/html; charset=utf-8")
    url = f"http://127.0.0.1:{server.port}{base}"
    with pytest.raises(ServerError) as err:
        Lab(base_url=url).load()
    message = one_line(err)
    assert message.startswith(f"{url}/models got an HTML page, not an OpenAI-compatible API: is the URL right?")
    assert message.endswith(fix.format(port=server.port))


def test_an_html_error_page_is_named_too(server: ReplayServer) -> None:
    server.models("m")
    server.file("POST", CHAT, "html_page.html", "text/html", status=502)  # a proxy's "bad gateway" page
    with pytest.raises(ServerError) as err:
        Lab("m", base_url=server.url).ask("Hi")
    assert one_line(err).startswith(f"HTTP 502: {server.url}/chat/completions got an HTML page")


def test_timeout_is_an_option_and_a_silent_stream_keeps_what_arrived(server: ReplayServer) -> None:
    release = threading.Event()
    held_stream(server, release, before=3)
    try:
        lab = Lab("m", base_url=server.url, timeout=0.5)
        reply = lab.ask("Count.")
    finally:
        release.set()
    assert (reply.stopped, reply.reasoning) == ("error", "step 0. step 1. step 2. ")
    assert reply.error == f"{server.url} sent nothing for 0.5 s mid-reply: is it busy or stuck? " + (
        "wait longer with --timeout SECONDS (Lab(..., timeout=...))"
    )
    assert lab.replies == [reply]


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), "soon"])
def test_a_bad_timeout_is_refused(timeout: object) -> None:
    from gptoss_lab.errors import OptionError

    with pytest.raises(OptionError, match="timeout"):
        Lab(base_url="http://127.0.0.1:1/v1", timeout=timeout)  # type: ignore[arg-type]


def test_a_connect_to_a_dead_port_keeps_the_lab_as_it_was(server: ReplayServer) -> None:
    server.models("m")
    server.replay(CHAT, "vllm_chat.sse")
    lab = Lab("m", base_url=server.url)
    first = lab.ask("What is 17 + 25?")
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    with pytest.raises(ServerError) as err:
        lab.connect(dead, "m")
    assert one_line(err).endswith(f"connection refused: {_FIX}: kept m on {server.url} and your 1 earlier turn")
    assert lab.backend.base_url == server.url and lab.replies == [first]
    assert lab.ask("Again?").answer == "17 + 25 = 42."  # the old server still answers


_FIX = "start the server (transformers serve, ollama serve, vllm serve ...) or fix the URL (http://HOST:PORT/v1)"


def test_max_tokens_beyond_a_servers_stated_context_is_refused_before_sending(server: ReplayServer) -> None:
    from gptoss_lab.errors import ContextTooLongError

    server.json("GET", "/v1/models", {"data": [{"id": "m", "max_model_len": 4096}]})  # what vLLM lists
    server.replay(CHAT, "vllm_chat.sse")
    lab = Lab("m", base_url=server.url)
    with pytest.raises(ContextTooLongError) as err:
        lab.ask("Hi", max_new_tokens=5000)
    assert one_line(err) == (
        f"--max-tokens 5,000 asks for more tokens than m reads in all (4,096, its context on {server.url}): "
        "use --max-tokens 2,048 or less"
    )
    assert server.posted() == [] and lab.history == []
    assert lab.ask("Hi", max_new_tokens=2048).stopped == "return"
