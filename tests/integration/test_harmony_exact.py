"""Harmony-exact mode (``api="completions"``) against a replayed vLLM, with nano's tokenizer: no vLLM needed.

The client renders the prompt with gptoss_lab.harmony and the model's tokenizer, sends the ids, and parses the
ids that come back with its own streaming parser. tests/engines/test_vllm*.py run the same against real vLLM.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gptoss_lab import Lab
from gptoss_lab.errors import OptionError
from gptoss_lab.nano import CHECKPOINT_DIR
from tests.unit._replay_server import ReplayServer, Route

COMPLETION = "<|channel|>analysis<|message|>Add the ones: 7+5=12.<|end|><|start|>assistant<|channel|>final"
COMPLETION += "<|message|>17 + 25 = 42.<|return|>"


def vllm_lists(server: ReplayServer, root: str, owned_by: str = "vllm", name: str = "served") -> None:
    entry = {"id": name, "object": "model", "owned_by": owned_by, "root": root, "max_model_len": 2048}
    server.json("GET", "/v1/models", {"object": "list", "data": [entry]})


def _sse(obj: Any) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


def stream_ids(server: ReplayServer, ids: list[int], *, with_ids: bool = True, text: str = "") -> None:
    """POST /v1/completions streams ``ids`` two at a time, as vLLM does with ``return_token_ids``."""
    chunks = []
    for i in range(0, len(ids), 2):
        choice = {"index": 0, "text": "", "finish_reason": None} | ({"token_ids": ids[i : i + 2]} if with_ids else {})
        chunks.append(_sse({"object": "text_completion", "choices": [choice]}))
    if text:
        chunks.append(_sse({"object": "text_completion", "choices": [{"index": 0, "text": text}]}))
    chunks.append(_sse({"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}))
    chunks += [_sse({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}), b"data: [DONE]\n\n"]
    server.routes["POST", "/v1/completions"] = Route(body=lambda: iter(chunks))


def test_auto_renders_here_on_vllm_and_parses_the_ids(server: ReplayServer, handle: Any) -> None:
    vllm_lists(server, str(CHECKPOINT_DIR))
    completion = handle.encode(COMPLETION)
    stream_ids(server, completion)
    lab = Lab(base_url=server.url)
    reply = lab.ask("What is 17 + 25?", effort="high")
    assert "completions API (harmony-exact: gpt-oss-nano's tokenizer here)" in repr(lab)
    assert (reply.reasoning, reply.answer, reply.stopped) == ("Add the ones: 7+5=12.", "17 + 25 = 42.", "return")
    assert reply.completion_ids == completion and reply.stats.completion_tokens == len(completion)
    [body] = server.posted()
    local = Lab("nano")
    assert body["prompt"] == reply.prompt_ids == handle.encode(local.prompt_text("What is 17 + 25?", effort="high"))
    assert body["return_token_ids"] is True and body["skip_special_tokens"] is False
    assert body["stop_token_ids"] == [handle.encode("<|return|>")[0], handle.encode("<|call|>")[0]]
    assert body["temperature"] == 0.0  # nano's stated sampling, as a local nano uses it
    assert body["max_tokens"] == local.default_max_new_tokens("high")  # nano's default limit, not gpt-oss's
    assert reply.token_note == "token ids from the server, parsed here (harmony-exact)"
    local.history = list(lab.history)
    lab.ask("And times 2?", effort="high")
    second = local.prompt_text("And times 2?", effort="high")  # harmony's multi-turn rules, as a local nano's
    assert "17 + 25 = 42.<|end|>" in second and "Add the ones" not in second
    assert server.posted()[1]["prompt"] == handle.encode(second)


def test_auto_stays_chat_without_a_tokenizer_here_or_off_vllm(server: ReplayServer) -> None:
    vllm_lists(server, "/nowhere/gpt-oss-20b")
    assert Lab(base_url=server.url).load().backend.client.api == "chat"
    vllm_lists(server, str(CHECKPOINT_DIR), owned_by="someone")
    assert Lab(base_url=server.url).load().backend.client.api == "chat"


def test_completions_needs_a_tokenizer(server: ReplayServer, handle: Any) -> None:
    vllm_lists(server, "/nowhere/gpt-oss-20b")
    with pytest.raises(OptionError, match="needs served's tokenizer: pass --tokenizer DIR"):
        Lab(base_url=server.url, api="completions").load()
    stream_ids(server, handle.encode(COMPLETION))
    reply = Lab(base_url=server.url, api="completions", tokenizer="nano").ask("What is 17 + 25?")
    assert reply.answer == "17 + 25 = 42."


def test_a_call_is_read_from_its_token(server: ReplayServer, handle: Any) -> None:
    vllm_lists(server, str(CHECKPOINT_DIR))
    call = '<|channel|>commentary to=functions.add <|constrain|>json<|message|>{"a": 17, "b": 25}<|call|>'
    stream_ids(server, handle.encode(call))
    reply = Lab(base_url=server.url).ask("Add 17 and 25.")
    assert reply.stopped == "call"  # the server says "stop" for both: the last id says which
    [message] = reply.tool_calls
    assert (message.recipient, message.content) == ("functions.add", '{"a": 17, "b": 25}')


def test_a_server_that_sends_text_only_is_still_split(server: ReplayServer) -> None:
    vllm_lists(server, str(CHECKPOINT_DIR))
    stream_ids(server, [], with_ids=False, text=COMPLETION.removesuffix("<|return|>"))
    reply = Lab(base_url=server.url).ask("What is 17 + 25?")
    assert (reply.reasoning, reply.answer, reply.stopped) == ("Add the ones: 7+5=12.", "17 + 25 = 42.", "return")
