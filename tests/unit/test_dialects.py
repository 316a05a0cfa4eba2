"""Server dialects as registered objects: a new one is one :class:`Dialect` plus this test, and the client
and the shells take it with no other change. No torch, no network (the replay server on 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gptoss_lab import Lab
from gptoss_lab.dialects import DIALECTS, Ask, Dialect, api_names
from gptoss_lab.errors import OptionError
from gptoss_lab.harmony import render_prompt
from gptoss_lab.remote_wire import Chunk

from ._replay_server import ReplayServer, Route, serve
from .test_magics import shell as ipython_shell

shell = ipython_shell

COMPLETIONS_PATH = "/v1/completions"
#: a harmony reply as a raw completions server streams it, split at awkward places
PIECES = ["<|channel|>ana", "lysis<|message|>Add the ones: 7+5=12.", "<|end|><|start|>assistant<|chan"]
PIECES += ["nel|>final<|mess", "age|>17 + 25 = 42."]


def _completions_body(ask: Ask) -> dict[str, Any]:
    """The legacy completions API: the whole conversation rendered as harmony text, effort inside it."""
    prompt = render_prompt(ask.messages(), effort=ask.effort)
    return {"model": ask.model, "prompt": str(prompt), "max_tokens": ask.max_tokens, "stream": True, **ask.sampling()}


def _completions_object(obj: dict[str, Any], event: str | None = None) -> Iterator[Chunk]:
    for choice in obj.get("choices") or []:
        yield Chunk(content=choice.get("text") or "", finish=choice.get("finish_reason"))


#: the toy dialect: nothing else in gptoss_lab knows about it
COMPLETIONS = Dialect("harmony-text", "/completions", _completions_body, _completions_object)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    yield from serve()


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Dialect:
    monkeypatch.setitem(DIALECTS, COMPLETIONS.name, COMPLETIONS)
    return COMPLETIONS


def _sse(obj: Any) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


def serve_completions(server: ReplayServer) -> None:
    chunks = [_sse({"choices": [{"text": p, "finish_reason": None}]}) for p in PIECES]
    chunks += [_sse({"choices": [{"text": "", "finish_reason": "stop"}]}), b"data: [DONE]\n\n"]
    server.routes["POST", COMPLETIONS_PATH] = Route(body=lambda: iter(chunks))
    server.models("m")


def test_the_registry_holds_one_object_per_dialect() -> None:
    names = ("chat", "responses", "ollama", "completions")
    assert {name: d.name for name, d in DIALECTS.items()} == {n: n for n in names}
    assert api_names() == ("auto", *names)
    assert (DIALECTS["ollama"].endpoint, DIALECTS["ollama"].models_endpoint) == ("/api/chat", "/api/tags")


def test_a_dialect_is_refused_until_it_is_registered(server: ReplayServer) -> None:
    refused = r"api must be one of auto\|chat\|responses\|ollama\|completions, got 'harmony-text'"
    with pytest.raises(OptionError, match=refused):
        Lab("m", base_url=server.url, api="harmony-text")


def test_a_registered_toy_dialect_drives_a_lab(server: ReplayServer, registered: Dialect) -> None:
    serve_completions(server)
    lab = Lab("m", base_url=server.url, api="harmony-text")
    assert "harmony-text API" in repr(lab)
    frames: list[str] = []
    reply = lab.ask(
        "What is 17 + 25?", effort="high", developer="Be brief.", on_update=lambda r: frames.append(r.answer)
    )
    assert (reply.reasoning, reply.answer, reply.stopped) == ("Add the ones: 7+5=12.", "17 + 25 = 42.", "return")
    assert [m.channel for m in reply.messages] == ["analysis", "final"]
    assert frames[0] == "" and len(frames) >= len(PIECES)  # streamed
    [body] = server.posted()
    assert body["prompt"].endswith("<|start|>assistant") and "Reasoning: high" in body["prompt"]
    assert "Be brief." in body["prompt"] and body["max_tokens"] == 32768 and "temperature" not in body  # high's default
    lab.ask("And times 2?")
    assert "<|start|>assistant<|channel|>final<|message|>17 + 25 = 42.<|end|>" in server.posted()[1]["prompt"]


def test_a_registered_dialect_reads_a_one_body_answer_too(server: ReplayServer, registered: Dialect) -> None:
    server.models("m")
    text = "".join(PIECES)
    server.json("POST", COMPLETIONS_PATH, {"choices": [{"text": text, "finish_reason": "stop"}]})
    reply = Lab("m", base_url=server.url, api="harmony-text").ask("What is 17 + 25?")
    assert (reply.reasoning, reply.answer, reply.stopped) == ("Add the ones: 7+5=12.", "17 + 25 = 42.", "return")


def test_the_magic_and_the_command_line_offer_a_registered_dialect(
    server: ReplayServer, registered: Dialect, shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from gptoss_lab.cli import main

    serve_completions(server)
    shell.run_line_magic("load_ext", "gptoss_lab")
    shell.run_line_magic("gptoss", f"connect {server.url} --model m --api harmony-text")
    assert "harmony-text API" in capsys.readouterr().out
    assert main(["ask", "What is 17 + 25?", "--base-url", server.url, "--api", "harmony-text", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["answer"] == "17 + 25 = 42."


def test_ollama_without_streaming_reads_its_one_body(server: ReplayServer) -> None:
    server.json("GET", "/api/tags", {"models": [{"name": "m"}]})
    message = {"role": "assistant", "thinking": "Seven and five.", "content": "42"}
    answer = {"message": message, "done": True, "done_reason": "stop", "prompt_eval_count": 80, "eval_count": 9}
    server.json("POST", "/api/chat", answer)
    reply = Lab("m", base_url=server.url, api="ollama").ask("What is 17 + 25?")
    assert (reply.reasoning, reply.answer, reply.stopped) == ("Seven and five.", "42", "return")
    assert (reply.stats.prompt_tokens, reply.stats.completion_tokens) == (80, 9)


def test_a_responses_body_with_error_null_is_an_answer(server: ReplayServer) -> None:
    server.models("m")
    output = [{"type": "message", "content": [{"type": "output_text", "text": "42"}]}]
    server.json("POST", "/v1/responses", {"object": "response", "status": "completed", "error": None, "output": output})
    reply = Lab("m", base_url=server.url, api="responses").ask("What is 17 + 25?")
    assert (reply.answer, reply.stopped, reply.error) == ("42", "return", None)
