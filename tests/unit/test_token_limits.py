"""Default token limits by model and effort, and the stop line of a reply the limit cut off mid-reasoning.

No model, no torch: replies are built by hand, a server is replayed.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gptoss_lab import Lab
from gptoss_lab.harmony import Message
from gptoss_lab.options import DEFAULT_MAX_NEW_TOKENS, EFFORTS, check_generation, default_max_new_tokens
from gptoss_lab.render import reply_html, reply_text, stats_line, stop_words
from gptoss_lab.reply import Reply

from ._replay_server import ReplayServer, Route, serve

CHAT = "/v1/chat/completions"


def _nano_eval_limits() -> dict[str, int]:
    """nano/eval.py's MAX_NEW_TOKENS, read from its source (importing it would import torch)."""
    source = (Path(__file__).parents[2] / "gptoss_lab" / "nano" / "eval.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == "MAX_NEW_TOKENS" for t in targets):
                return ast.literal_eval(node.value)
    raise AssertionError("nano/eval.py has no MAX_NEW_TOKENS")


# -- the defaults


def test_nano_defaults_hold_its_longest_reference_replies_and_fit_its_context() -> None:
    longest = _nano_eval_limits()
    for effort in EFFORTS:
        assert longest[effort] < DEFAULT_MAX_NEW_TOKENS["nano"][effort] < 2048, effort  # 2,048: nano's context


def test_the_real_models_get_room_to_reason_at_high_effort() -> None:
    oss = [DEFAULT_MAX_NEW_TOKENS["gpt-oss"][e] for e in EFFORTS]
    assert oss == sorted(oss) and oss[-1] >= 32768  # thousands of reasoning tokens are common at high
    assert all(DEFAULT_MAX_NEW_TOKENS["gpt-oss"][e] > DEFAULT_MAX_NEW_TOKENS["nano"][e] for e in EFFORTS)


def test_a_default_is_lowered_to_what_the_context_leaves() -> None:
    assert default_max_new_tokens("high", "gpt-oss") == 32768
    assert default_max_new_tokens("high", "gpt-oss", room=3000) == 3000
    assert default_max_new_tokens("low", "nano", room=3000) == 256
    assert default_max_new_tokens("high", "nano", room=-5) == 1280  # no room: the context guard refuses it


def test_no_limit_given_is_none_until_the_backend_chooses() -> None:
    assert check_generation().max_new_tokens is None
    assert check_generation(max_new_tokens=7).max_new_tokens == 7


def test_a_lab_says_its_default_for_each_effort_without_loading() -> None:
    nano = Lab("nano")
    assert [nano.default_max_new_tokens(e) for e in EFFORTS] == [256, 512, 1280]
    assert nano.handle is not None and not nano.handle.loaded
    big = Lab("openai/gpt-oss-20b", preflight=False)
    assert big.default_max_new_tokens("high") == 32768 and big.default_max_new_tokens() == 16384


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    yield from serve()


def _reasoning_until_length(server: ReplayServer, context: int) -> None:
    """A server of stated ``context`` whose reply reasons until its token limit ("length"), answering nothing."""

    def chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
        body = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body)}\n\n".encode()

    def body() -> Iterator[bytes]:
        for i in range(5):
            yield chunk({"reasoning": f"step {i}. "})
        yield chunk({}, "length")
        yield b"data: [DONE]\n\n"

    server.json("GET", "/v1/models", {"data": [{"id": "m", "max_model_len": context}]})
    server.routes["POST", CHAT] = Route(body=body)


def test_a_server_default_takes_half_its_context_and_the_stop_line_says_what_fits(server: ReplayServer) -> None:
    _reasoning_until_length(server, context=4096)
    lab = Lab("m", base_url=server.url)
    reply = lab.ask("Count.", effort="high")
    assert server.posted()[0]["max_tokens"] == 2048  # high's 32,768 would not fit the server's 4,096
    assert reply.stopped == "max_tokens" and reply.stopped_while_reasoning and reply.max_new_tokens == 2048
    room = 4096 - reply.stats.prompt_tokens  # the prompt's length as the client estimates it
    words = f"stopped at 2048 tokens while still reasoning (no answer yet): run again with --max-tokens {room}"
    assert stop_words(reply) == words and words in stats_line(reply)
    assert lab.ask("Again.", effort="high", max_new_tokens=room).stopped == "max_tokens"  # what it said is taken


# -- the stop line


def _cut(reasoning: str = "First add the ones", answer: str = "", **kw: object) -> Reply:
    reply = Reply("What is 4158 + 57?", "gpt-oss-20b", "high", **kw)  # type: ignore[arg-type]
    reply.messages.append(Message(role="assistant", channel="analysis", content=reasoning))
    if answer:
        reply.messages.append(Message(role="assistant", channel="final", content=answer))
    reply.close("max_tokens", [], 9.0)
    return reply


def test_a_reply_cut_off_while_reasoning_says_so_with_what_to_type() -> None:
    reply = _cut(max_new_tokens=1024)
    words = "stopped at 1024 tokens while still reasoning (no answer yet): run again with --max-tokens 4096"
    assert reply.stopped_while_reasoning and stop_words(reply) == words
    assert words in stats_line(reply) and words in reply_html(reply) and words in reply_text(reply)
    assert "\n" not in stats_line(reply)  # one line


def test_the_limit_to_try_stays_within_the_context() -> None:
    assert stop_words(_cut(max_new_tokens=1280, room=1900)).endswith("run again with --max-tokens 1900")
    full = stop_words(_cut(max_new_tokens=1280, room=1280))
    assert full == (
        "stopped at 1280 tokens while still reasoning (no answer yet); the context has no room for more: "
        "try a lower effort, a shorter prompt or a new conversation"
    )


def test_a_shell_says_how_to_ask_for_more_in_its_own_words() -> None:
    words = stop_words(_cut(max_new_tokens=100), "set max tokens to {n} and Generate again")
    assert words.endswith("(no answer yet): set max tokens to 400 and Generate again")


def test_a_reply_cut_off_in_its_answer_keeps_the_plain_words() -> None:
    reply = _cut(answer="4158 + 57 = 42", max_new_tokens=1024)
    assert not reply.stopped_while_reasoning
    assert stop_words(reply) == "stopped at the token limit (raise --max-tokens)"
    finished = Reply("q", "nano", "low")
    finished.messages.append(Message(role="assistant", channel="analysis", content="Easy."))
    finished.close("return", [], 1.0)
    assert not finished.stopped_while_reasoning and stop_words(finished) == "finished"
