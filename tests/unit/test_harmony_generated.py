"""Rendering and parsing against openai-harmony on seeded random conversations.

The hand-written corpus in test_harmony_reference.py covers the rules one by one; these
conversations are generated, so they also check combinations nobody wrote a test from.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

pytest.importorskip("openai_harmony")
pytest.importorskip("toktok")

from openai_harmony import Role

from tests.reference.harmony_ref import (
    HARMONY_SPECIAL_IDS,
    harmony_prompt_tokens,
    load_offline_harmony_encoding,
    to_harmony_conversation,
)

WORDS = [
    "2 + 2",
    "strawberry",
    "Ünïcödé",
    "日本語",
    "🦀",
    "{",
    "}",
    '{"a": [1, 2]}',
    "\n",
    "  ",
    "def f(x):",
    "a < b",
    "&",
]
TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Adds.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "integer", "default": 0}},
            },
        },
    },
]


def _text(rng: random.Random, allow_empty: bool = True) -> str:
    n = rng.randint(0 if allow_empty else 1, 6)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def random_conversation(rng: random.Random) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    options: dict[str, Any] = {"effort": rng.choice(["low", "medium", "high"])}
    if rng.random() < 0.3:
        options["date"] = f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
    if rng.random() < 0.2:
        options["model_identity"] = "You are " + _text(rng, allow_empty=False)
    tools = rng.random() < 0.4
    if tools:
        options["tools"] = TOOLS
    messages: list[dict[str, Any]] = []
    if rng.random() < 0.5:
        messages.append({"role": rng.choice(["system", "developer"]), "content": _text(rng)})
    for _ in range(rng.randint(1, 4)):
        messages.append({"role": "user", "content": _text(rng, allow_empty=False)})
        if tools and rng.random() < 0.5:
            name = rng.choice(["get_weather", "add"])
            args: Any = {"city": _text(rng)} if rng.random() < 0.5 else json.dumps({"a": rng.randint(0, 99)})
            messages.append(
                {
                    "role": "assistant",
                    "content": "",
                    "thinking": _text(rng, allow_empty=False),
                    "tool_calls": [{"name": name, "arguments": args}],
                }
            )
            messages.append({"role": "tool", "name": name, "content": _text(rng)})
        turn: dict[str, Any] = {"role": "assistant", "content": _text(rng, allow_empty=False)}
        if rng.random() < 0.7:
            turn["thinking"] = _text(rng, allow_empty=False)
        messages.append(turn)
    if rng.random() < 0.8:
        messages.append({"role": "user", "content": _text(rng, allow_empty=False)})
    return messages, options


def random_completion(rng: random.Random) -> str:
    parts = []
    if rng.random() < 0.8:
        parts.append(f"<|channel|>analysis<|message|>{_text(rng, False)}<|end|><|start|>assistant")
    if rng.random() < 0.3:
        parts.append(f"<|channel|>commentary<|message|>{_text(rng, False)}<|end|><|start|>assistant")
    if rng.random() < 0.4:
        where = rng.random() < 0.5
        head = " to=functions.add<|channel|>commentary" if where else "<|channel|>commentary to=functions.add"
        ctype = rng.choice([" <|constrain|>json", " json", ""])
        parts.append(f"{head}{ctype}<|message|>{json.dumps({'a': rng.randint(0, 9)})}<|call|>")
    else:
        parts.append(f"<|channel|>final<|message|>{_text(rng, False)}<|return|>")
    return "".join(parts)


@pytest.fixture(scope="module")
def encoding(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_offline_harmony_encoding(tmp_path_factory.mktemp("harmony-vocab-gen"))


@pytest.mark.parametrize("seed", range(150))
def test_generated_conversation_renders_like_openai_harmony(seed: int, encoding: Any) -> None:
    from gptoss_lab.harmony import render_prompt

    messages, options = random_conversation(random.Random(seed))
    expected = encoding.decode_utf8(harmony_prompt_tokens(encoding, to_harmony_conversation(messages, **options)))
    assert render_prompt(messages, **options) == expected


@pytest.mark.parametrize("seed", range(150))
def test_generated_completion_parses_like_openai_harmony(seed: int, encoding: Any) -> None:
    from gptoss_lab.harmony import TokenCodec, parse_completion

    tokens = encoding.encode(random_completion(random.Random(seed)), allowed_special="all")
    theirs = [
        (m.author.role.value, m.channel, m.recipient, m.content_type, "".join(c.text for c in m.content))
        for m in encoding.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT)
    ]
    codec = TokenCodec(decode=encoding.decode, special_ids=HARMONY_SPECIAL_IDS)
    parsed = parse_completion(tokens, codec)
    ours = [(m.role, m.channel, m.recipient, m.content_type, m.content) for m in parsed]
    assert ours == theirs
    assert not any(m.malformed for m in parsed)
