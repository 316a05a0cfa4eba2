"""Tools over a server: function calls in chat completions, the Responses API and Ollama, run here and answered.

The replay server answers the first request with a call and the second with an answer; the tests check what
was sent each time (the tools, the call with its id, the result answering it) and what the Lab made of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gptoss_lab import Lab
from gptoss_lab.errors import NeedsLocalModel

from ._replay_server import ReplayServer, Request, Route, serve


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    yield from serve()


def get_weather(city: str) -> dict:
    """The weather now in a city."""
    return {"city": city, "sky": "sunny"}


RESULT = json.dumps({"city": "Oslo", "sky": "sunny"})


def _sse(*objs: Any) -> list[bytes]:
    return [f"data: {json.dumps(o)}\n\n".encode() for o in objs] + [b"data: [DONE]\n\n"]


def _by_round(server: ReplayServer, path: str, first: list[bytes], second: list[bytes], kind: str) -> None:
    def answer(request: Request) -> Route:
        rounds = sum(r.method == "POST" for r in server.requests)
        return Route(200, kind, lambda: iter(first if rounds <= 1 else second))

    server.dynamic["POST", path] = answer


def _chat_delta(**delta: Any) -> dict[str, Any]:
    return {"choices": [{"delta": delta, "finish_reason": None}]}


def test_chat_completions_call_is_run_and_answered_by_its_id(server: ReplayServer) -> None:
    server.models("m")
    piece = lambda **f: _chat_delta(tool_calls=[{"index": 0, "function": f}])  # noqa: E731
    first = _sse(
        _chat_delta(reasoning="Need the weather."),
        _chat_delta(tool_calls=[{"index": 0, "id": "x", "type": "function", "function": {"name": "get_"}}]),
        piece(name="weather", arguments='{"ci'),
        piece(arguments='ty": "Oslo"}'),
        {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
    )
    second = _sse(_chat_delta(content="Sunny in Oslo."), {"choices": [{"delta": {}, "finish_reason": "stop"}]})
    _by_round(server, "/v1/chat/completions", first, second, "text/event-stream")
    lab = Lab("m", base_url=server.url, api="chat")
    reply = lab.ask("Weather in Oslo?", tools=[get_weather])
    assert reply.answer == "Sunny in Oslo." and reply.stopped == "return"
    (done,) = reply.tool_rounds
    assert done.reply.stopped == "call" and done.reply.reasoning == "Need the weather."
    assert [(m.recipient, m.content) for m in done.reply.tool_calls] == [("functions.get_weather", '{"city": "Oslo"}')]
    assert done.results[0].output == RESULT
    one, two = server.posted()
    assert one["tools"][0]["function"]["name"] == "get_weather" and two["tools"] == one["tools"]
    assert two["messages"][-2:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "content": RESULT, "tool_call_id": "call_0"},
    ]
    lab.ask("Thanks!")  # the next turn keeps the calls and the result in the history, by id, and the tools
    three = server.posted()[-1]
    assert [m["role"] for m in three["messages"]] == ["user", "assistant", "tool", "assistant", "user"]
    assert three["messages"][2]["tool_call_id"] == three["messages"][1]["tool_calls"][0]["id"] and "tools" in three


def test_responses_function_call_items_are_run_and_answered(server: ReplayServer) -> None:
    server.models("m")
    call = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "c1",
        "name": "get_weather",
        "arguments": '{"city":"Oslo"}',
    }
    first = _sse(
        {"type": "response.reasoning_text.delta", "delta": "Need the weather."},
        {"type": "response.output_item.added", "item": {**call, "arguments": ""}},
        {"type": "response.function_call_arguments.delta", "delta": '{"city":"Oslo"}'},
        {"type": "response.output_item.done", "item": call},
        {"type": "response.completed", "response": {"status": "completed"}},
    )
    second = _sse(
        {"type": "response.output_text.delta", "delta": "Sunny."},
        {"type": "response.completed", "response": {"status": "completed"}},
    )
    _by_round(server, "/v1/responses", first, second, "text/event-stream")
    reply = Lab("m", base_url=server.url, api="responses").ask("Weather in Oslo?", tools=[get_weather])
    assert reply.answer == "Sunny." and reply.tool_rounds[0].results[0].output == RESULT
    one, two = server.posted()
    assert one["tools"] == [
        {"type": "function", "name": "get_weather", "description": "The weather now in a city.",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                        "additionalProperties": False}}
    ]  # fmt: skip
    assert two["input"][-2:] == [
        {"type": "function_call", "call_id": "call_0", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
        {"type": "function_call_output", "call_id": "call_0", "output": RESULT},
    ]


def test_ollama_sends_calls_whole_and_says_stop(server: ReplayServer) -> None:
    server.json("GET", "/api/tags", {"models": [{"name": "m"}]})
    call = {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    lines = [
        {"message": {"role": "assistant", "thinking": "Need weather."}, "done": False},
        {"message": {"role": "assistant", "content": "", "tool_calls": [call]}, "done": False},
        {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"},
    ]
    answer = [{"message": {"role": "assistant", "content": "Sunny."}, "done": True, "done_reason": "stop"}]
    ndjson = lambda objs: [json.dumps(o).encode() + b"\n" for o in objs]  # noqa: E731
    _by_round(server, "/api/chat", ndjson(lines), ndjson(answer), "application/x-ndjson")
    reply = Lab("m", base_url=server.url, api="ollama").ask("Weather in Oslo?", tools=[get_weather])
    assert reply.answer == "Sunny." and reply.tool_rounds[0].reply.stopped == "call"
    assert reply.tool_rounds[0].results[0].output == RESULT
    assert server.posted()[1]["messages"][-1] == {"role": "tool", "content": RESULT, "tool_call_id": "call_0"}


def test_the_python_tool_needs_harmony_exact_mode_on_a_server(server: ReplayServer) -> None:
    server.models("m")
    with pytest.raises(NeedsLocalModel, match="api='completions'"):
        Lab("m", base_url=server.url, api="chat").ask("2**100?", tools=["python"])
