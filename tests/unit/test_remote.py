"""The remote client against replayed server streams: reasoning apart from the answer for every
server's field names, what the client sends, multi-turn, the magic. No torch, no network."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from gptoss_lab import Lab
from gptoss_lab.remote import RemoteReply, ServerError, local_model_needed
from gptoss_lab.remote_wire import ContentSplitter, split_content
from gptoss_lab.render import reply_html, reply_text

from ._replay_server import ReplayServer, serve
from .test_magics import shell as ipython_shell  # a fresh in-memory IPython shell per test

shell = ipython_shell  # the fixture, under the name the tests ask for

REASONING = "The user asks 17 + 25. Ones: 7+5=12, carry 1; tens: 1+2+1=4. So 42."
ANSWER = "17 + 25 = 42."
CHAT = "/v1/chat/completions"
NDJSON = "application/x-ndjson"

#: file, api, endpoint, content type, usage the reply should report (prompt, completion, reasoning) or None.
#: The vLLM rows' counts are the usage vLLM 0.32 sent in the recording (tests/engines/record_fixtures.py):
#: 75 prompt tokens at effort high, 55 completion tokens, 37 of them the reasoning's text (harmony's 10
#: markup tokens count in the completion, not in the reasoning); the other rows' are written from docs.
VARIANTS = [
    ("vllm_chat.sse", "chat", CHAT, None, (75, 55, 37)),
    ("vllm_old_chat.sse", "chat", CHAT, None, (75, 55, None)),
    ("llamacpp_chat.sse", "chat", CHAT, None, None),
    ("lmstudio_chat.sse", "chat", CHAT, None, (80, 9, None)),
    ("ollama_openai_chat.sse", "auto", CHAT, None, (80, 9, None)),
    ("ollama_native_chat.ndjson", "ollama", "/api/chat", NDJSON, (81, 10, None)),
    ("harmony_raw_chat.sse", "chat", CHAT, None, None),
    ("vllm_responses.sse", "responses", "/v1/responses", None, (75, 55, 37)),
]


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    yield from serve()


def remote_lab(server: ReplayServer, api: str = "chat", model: str = "gpt-oss-test") -> Lab:
    server.models(model)
    return Lab(model, base_url=server.url, api=api, api_key="")


@pytest.mark.parametrize(("filename", "api", "endpoint", "content_type", "usage"), VARIANTS)
def test_each_server_variant_keeps_reasoning_apart_from_the_answer(
    server: ReplayServer, filename: str, api: str, endpoint: str, content_type: str | None, usage: Any
) -> None:
    server.replay(endpoint, filename, content_type or "text/event-stream")
    if api == "ollama":
        server.json("GET", "/api/tags", {"models": [{"name": "gpt-oss-test", "model": "gpt-oss-test"}]})
    frames: list[tuple[str, str]] = []
    reply = remote_lab(server, api).ask(
        "What is 17 + 25?", effort="high", on_update=lambda r: frames.append((r.reasoning, r.answer))
    )
    assert isinstance(reply, RemoteReply)
    assert (reply.reasoning, reply.answer) == (REASONING, ANSWER)
    assert [m.channel for m in reply.messages] == ["analysis", "final"]
    assert reply.stopped == "return"
    assert reply.trace is None
    assert frames[0][1] == ""  # the reasoning streamed before any answer
    assert len(frames) > 5  # streamed, not delivered at once
    s = reply.stats
    assert s.seconds_to_first_token is not None and s.total_seconds >= s.seconds_to_first_token
    if usage is None:
        assert reply.token_note.startswith("token counts estimated")
        assert s.completion_tokens == len(frames) - 1  # a token per streamed chunk; Lab adds a last frame
        assert s.reasoning_tokens + s.answer_tokens == s.completion_tokens
        assert s.reasoning_tokens >= 6 and s.answer_tokens >= 3  # chunks of reasoning count as reasoning
    else:
        prompt, completion, reasoning = usage
        assert (s.prompt_tokens, s.completion_tokens) == (prompt, completion)
        assert s.reasoning_tokens + s.answer_tokens == completion
        if reasoning is not None:
            assert s.reasoning_tokens == reasoning
            assert reply.token_note == "token counts from the server"
        else:
            assert "split estimated" in reply.token_note


@pytest.mark.parametrize(("filename", "api", "endpoint", "content_type", "usage"), VARIANTS)
def test_the_request_carries_model_effort_messages_and_stream(
    server: ReplayServer, filename: str, api: str, endpoint: str, content_type: str | None, usage: Any
) -> None:
    server.replay(endpoint, filename, content_type or "text/event-stream")
    server.json("GET", "/api/tags", {"models": [{"name": "gpt-oss-test"}]})
    remote_lab(server, api).ask("What is 17 + 25?", effort="low", developer="Be brief.", max_new_tokens=64, seed=3)
    [body] = server.posted()
    assert body["model"] == "gpt-oss-test"
    assert body["stream"] is True
    if api == "ollama":
        assert body["think"] == "low"
        assert body["options"] == {"num_predict": 64, "seed": 3}
    elif api == "responses":
        assert body["reasoning"] == {"effort": "low"}
        assert body["instructions"] == "Be brief."
        assert body["input"] == [{"role": "user", "content": "What is 17 + 25?"}]
        assert body["max_output_tokens"] == 64
    else:
        assert body["reasoning_effort"] == "low"
        assert body["chat_template_kwargs"] == {"reasoning_effort": "low"}
        assert body["max_tokens"] == 64
        assert body["stream_options"] == {"include_usage": True}
    if api != "responses":
        assert body["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 17 + 25?"},
        ]
    assert "temperature" not in body  # unset options are the server's to choose


def test_transformers_serve_glued_harmony_is_split(server: ReplayServer) -> None:
    """Recorded from `transformers serve` 5.24: harmony with its special tokens stripped in `content`."""
    server.replay(CHAT, "transformers_serve_chat.sse")
    reply = remote_lab(server).ask("What is 17 + 25?")
    assert reply.answer == ANSWER
    assert reply.reasoning.startswith("17+25 digit by digit")  # effort high, sent as chat_template_kwargs
    for word in ("analysis", "assistant", "final"):
        assert word not in reply.reasoning + reply.answer
    assert (reply.stats.prompt_tokens, reply.stats.completion_tokens) == (76, 99)


def test_transformers_serve_responses_stream_is_split(server: ReplayServer) -> None:
    server.replay("/v1/responses", "transformers_serve_responses.sse")
    reply = remote_lab(server, "responses").ask("What is 17 + 25?")
    assert reply.answer == ANSWER
    assert reply.reasoning.startswith("Columns from the ones") and "assistant" not in reply.reasoning
    # the server reported reasoning_tokens 0 though it sent reasoning: the split is estimated
    assert reply.stats.reasoning_tokens > 0 and "split estimated" in reply.token_note


def test_follow_up_sends_past_answers_as_content_only(server: ReplayServer) -> None:
    server.replay(CHAT, "vllm_chat.sse")
    lab = remote_lab(server)
    lab.ask("What is 17 + 25?", developer="Be brief.")
    lab.ask("And times 2?")
    second = server.posted()[1]["messages"]
    assert second == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 17 + 25?"},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "And times 2?"},
    ]
    lab.reset()
    lab.ask("Hi")
    assert server.posted()[2]["messages"] == [{"role": "user", "content": "Hi"}]


def test_the_rendered_reply_shows_reasoning_and_answer_apart(server: ReplayServer) -> None:
    server.replay(CHAT, "lmstudio_chat.sse")
    reply = remote_lab(server).ask("What is 17 + 25?")
    html = reply_html(reply)
    reasoning_block = html.split('class="gptoss-reasoning-text"', 1)[1].split("</div>", 1)[0]
    answer_block = html.split('class="gptoss-answer"', 1)[1].split("</div>", 1)[0]
    assert "So 42." in reasoning_block and ANSWER not in reasoning_block
    assert ANSWER in answer_block and "carry" not in answer_block
    assert "split estimated" in reply_text(reply)  # the stats line says where token counts come from


def test_model_is_taken_from_the_server_when_it_serves_one(server: ReplayServer) -> None:
    server.models("only-model")
    lab = Lab(base_url=server.url)
    assert "(the one it serves)" in repr(lab)
    lab.load()
    assert lab.model_name == "only-model"
    text = repr(lab)
    assert "remote server" in text and server.url in text and "only-model" in text
    assert "need a local model" in text


def test_a_server_with_several_models_needs_a_name(server: ReplayServer) -> None:
    server.models("a", "b")
    with pytest.raises(ServerError, match=r"serves a, b: name one with --model NAME"):
        Lab(base_url=server.url).load()
    with pytest.raises(ServerError, match=r"does not list model 'c'; it lists: a, b"):
        Lab("c", base_url=server.url).load()


def test_base_url_forms(server: ReplayServer) -> None:
    bare = Lab("m", base_url=f"http://127.0.0.1:{server.port}/")
    assert "token_ids" not in bare.capabilities and bare.backend.base_url == server.url
    with pytest.raises(ValueError, match="http://HOST:PORT/v1"):
        Lab("m", base_url="localhost:8000")
    with pytest.raises(ValueError, match=re.escape("--api chat|responses|ollama")):
        Lab("m", base_url=server.url, api="grpc")


def test_api_key_is_sent_as_a_bearer_token(server: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.replay(CHAT, "vllm_chat.sse")
    server.models("m")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    Lab("m", base_url=server.url).ask("Hi")
    Lab("m", base_url=server.url, api_key="sk-given").ask("Hi")
    monkeypatch.delenv("OPENAI_API_KEY")
    Lab("m", base_url=server.url).ask("Hi")
    keys = [r.headers.get("Authorization") for r in server.requests if r.method == "POST"]
    assert keys == ["Bearer sk-from-env", "Bearer sk-given", None]


# -- content splitting, whole and streamed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("analysisWe add.assistantfinal42", [("analysis", "We add."), ("final", "42")]),
        (
            "<|channel|>analysis<|message|>We add.<|end|><|start|>assistant<|channel|>final<|message|>42<|return|>",
            [("analysis", "We add."), ("final", "42")],
        ),
        ("The analysis says 42.", [("final", "The analysis says 42.")]),
        ("42", [("final", "42")]),
        ("ana", [("final", "ana")]),  # too short to be a channel name: plain text at the end
    ],
)
def test_split_content(text: str, expected: list[tuple[str, str]]) -> None:
    assert split_content(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "analysisWe add: assistant said 4.assistantcommentaryPlan.assistantfinal42 assistantfin",
        "<|channel|>analysis<|message|>a <|x|> b<|end|><|start|>assistant<|channel|>final<|message|>42<|return|>",
    ],
)
def test_streaming_one_character_at_a_time_splits_as_the_whole(text: str) -> None:
    splitter = ContentSplitter()
    pieces = [p for ch in text for p in splitter.feed(ch)] + splitter.finish()
    merged: dict[str, str] = {}
    for channel, piece in pieces:
        merged[channel] = merged.get(channel, "") + piece
    assert merged == {c: t for c, t in split_content(text)}
    assert "assistantfinal" not in "".join(merged.values())


# -- views that need a local model


def test_attention_recompute_says_it_needs_a_local_model(server: ReplayServer) -> None:
    from gptoss_lab.attention import attention

    lab = remote_lab(server)
    with pytest.raises(ValueError, match="need a local model") as err:
        attention(lab, None, layer=0)
    assert str(err.value) == local_model_needed(server.url)
    assert "\n" not in str(err.value)


def test_magic_connect_ask_status_and_show_routing(
    server: ReplayServer, shell: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shell.run_line_magic("load_ext", "gptoss_lab")
    shown: list[Any] = []
    monkeypatch.setattr("IPython.display.display", lambda obj, display_id=False: shown.append(obj) or _Handle(shown))
    server.models("gpt-oss-test")
    server.replay(CHAT, "ollama_openai_chat.sse")
    assert shell.run_line_magic("gptoss", f"connect {server.url} --model gpt-oss-test") is None
    out = capsys.readouterr().out
    assert f"remote server {server.url}, model gpt-oss-test, chat API" in out
    result = shell.run_cell("%%gptoss --effort high --show routing --out r\nWhat is 17 + 25?")
    assert result.success, result.error_in_exec
    reply = shell.user_ns["r"]
    assert (reply.reasoning, reply.answer) == (REASONING, ANSWER)
    assert server.posted()[0]["reasoning_effort"] == "high"
    assert local_model_needed(server.url) in capsys.readouterr().out
    assert shown and shown[-1] is reply
    shell.run_line_magic("gptoss", "status")
    assert server.url in capsys.readouterr().out


def test_magic_connect_errors_are_one_line(shell: Any) -> None:
    from IPython.core.error import UsageError

    shell.run_line_magic("load_ext", "gptoss_lab")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    for line in ("connect", f"connect {closed} --api grpc", f"connect {closed} --model x"):
        err = shell.run_cell(f"%gptoss {line}").error_in_exec
        assert isinstance(err, UsageError), (line, err)
        assert "\n" not in str(err)
    assert "connection refused" in str(err)


class _Handle:
    def __init__(self, shown: list[Any]) -> None:
        self.shown = shown

    def update(self, obj: Any) -> None:
        self.shown.append(obj)


def test_command_line_ask_with_base_url(server: ReplayServer, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from gptoss_lab.cli import main

    server.replay(CHAT, "vllm_chat.sse")
    server.models("gpt-oss-test")
    assert main(["ask", "What is 17 + 25?", "--base-url", server.url, "--effort", "high", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["reasoning"], out["answer"], out["model"]) == (REASONING, ANSWER, "gpt-oss-test")
    assert server.posted()[0]["reasoning_effort"] == "high"
    assert main(["ask", "Hi", "--base-url", server.url, "--model", "other"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "gptoss-lab: error: the server does not list model 'other'; it lists: gpt-oss-test: use --model NAME"


def test_cell_model_option_switches_model_on_the_same_server(
    server: ReplayServer, shell: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shell.run_line_magic("load_ext", "gptoss_lab")
    monkeypatch.setattr("IPython.display.display", lambda obj, display_id=False: _Handle([]))
    server.models("small", "big")
    server.replay(CHAT, "vllm_chat.sse")
    shell.run_line_magic("gptoss", f"connect {server.url} --model small --api-key k")
    assert shell.run_cell("%%gptoss --model big\nWhat is 17 + 25?").success
    assert server.posted()[0]["model"] == "big"
    assert [r.headers.get("Authorization") for r in server.requests][-1] == "Bearer k"
    magics = shell.magics_manager.registry["GptOssMagics"]
    assert magics.lab.backend.base_url == server.url and magics.model == "nano"  # the local default is kept


def test_magic_keeps_a_broken_reply_in_out_last_and_history(
    server: ReplayServer, shell: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shell.run_line_magic("load_ext", "gptoss_lab")
    shown: list[Any] = []
    monkeypatch.setattr("IPython.display.display", lambda obj, display_id=False: shown.append(obj) or _Handle(shown))
    server.models("gpt-oss-test")
    server.replay(CHAT, "vllm_chat_bad_json.sse")
    shell.run_line_magic("gptoss", f"connect {server.url} --timeout 30")
    magics = shell.magics_manager.registry["GptOssMagics"]
    assert magics.lab.backend.client.timeout == 30.0
    result = shell.run_cell("%%gptoss --out r\nWhat is 17 + 25?")
    assert result.success, result.error_in_exec  # the reply is shown, not raised
    reply = shell.user_ns["r"]
    assert reply is magics.last and reply.stopped == "error" and reply.answer == "17 + 25"
    assert shown[-1] is reply and "broke off - partial reply kept" in reply_text(reply)  # the last frame says so
    assert "not JSON" in reply_text(reply)
    capsys.readouterr()
    shell.run_line_magic("gptoss", "history")
    assert capsys.readouterr().out.splitlines() == ["user: What is 17 + 25?", "assistant: 17 + 25"]


def test_command_line_prints_a_broken_reply_and_says_why(
    server: ReplayServer, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from gptoss_lab.cli import main

    server.replay(CHAT, "vllm_chat_bad_json.sse")
    server.models("gpt-oss-test")
    assert main(["ask", "What is 17 + 25?", "--base-url", server.url, "--json", "--timeout", "30"]) == 1
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert (out["stopped"], out["answer"], out["reasoning"]) == ("error", "17 + 25", REASONING)
    assert out["error"].startswith("the server sent a chunk that is not JSON")
    assert captured.err.startswith("gptoss-lab: error: the server sent a chunk that is not JSON")
