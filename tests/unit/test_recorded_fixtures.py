"""The vLLM fixtures of tests/data/remote are what ``tests/engines/record_fixtures.py`` recorded and derived.

No server here: the broken variants are remade from the recorded stream and compared byte for byte, and
the recording is checked against the completion the script made vLLM write.
"""

from __future__ import annotations

import json

import pytest

from tests.engines.record_fixtures import ANSWER, DERIVED, REASONING, RECORDED, normalise

from ._replay_server import DATA


def chat_deltas() -> list[dict]:
    events = (DATA / "vllm_chat.sse").read_bytes().split(b"\n\n")
    objs = [json.loads(e.removeprefix(b"data: ")) for e in events if e.startswith(b"data: {")]
    return [c["delta"] for o in objs for c in o["choices"]]


@pytest.mark.parametrize("name", sorted(DERIVED))
def test_each_broken_variant_is_its_transformation_of_the_recorded_stream(name: str) -> None:
    recorded = (DATA / "vllm_chat.sse").read_bytes()
    assert (DATA / name).read_bytes() == DERIVED[name](recorded), "remake them: python -m tests.engines.record_fixtures"


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_the_recordings_are_normalised(name: str) -> None:
    data = (DATA / name).read_bytes()
    assert normalise(data) == data
    assert b'"created":1754400000' in data or b'"created_at":1754400000' in data


def test_vllm_streams_the_scripted_completion_one_token_a_chunk() -> None:
    """What vLLM 0.32 sent: a role chunk, a chunk per text token, none for harmony's markup tokens."""
    deltas = chat_deltas()
    assert deltas[0] == {"role": "assistant", "content": ""}
    reasoning = [d["reasoning"] for d in deltas if "reasoning" in d]
    content = [d["content"] for d in deltas[1:] if "content" in d]
    assert ("".join(reasoning), "".join(content)) == (REASONING, ANSWER)
    assert deltas[-1] == {}  # the finish reason's chunk
    assert len(deltas) == 1 + len(reasoning) + len(content) + 1
    usage = json.loads((DATA / "vllm_chat_body.json").read_bytes())["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == len(reasoning) == 37
    # harmony's markup: 3 tokens before the reasoning, 6 between it and the answer, <|return|>
    assert usage["completion_tokens"] - len(reasoning) - len(content) == 10
