"""gptoss_lab.harmony checked against openai-harmony, offline.

openai-harmony is the official renderer/parser; its vocabulary file is rebuilt
from toktok-rs (see tests/reference/harmony_ref.py), so nothing is downloaded.
Every expectation below comes from openai-harmony itself: the chat dicts are
converted with its builder API and rendered/parsed by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

pytest.importorskip("openai_harmony")
pytest.importorskip("toktok")

from openai_harmony import HarmonyEncoding, Role, StreamableParser

from tests.reference.harmony_ref import (
    HARMONY_SPECIAL_IDS,
    harmony_prompt_tokens,
    load_offline_harmony_encoding,
    to_harmony_conversation,
)


@pytest.fixture(scope="session")
def encoding(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_offline_harmony_encoding(tmp_path_factory.mktemp("harmony-vocab"))


@pytest.fixture(scope="session")
def codec(encoding: HarmonyEncoding) -> Any:
    """Our parser's view of the tokenizer, with a lossy decode like a Hugging Face tokenizer's."""
    from gptoss_lab.harmony import TokenCodec

    return TokenCodec(decode=encoding.decode, special_ids=dict(HARMONY_SPECIAL_IDS))


def test_special_token_ids(encoding: HarmonyEncoding) -> None:
    for name, token_id in HARMONY_SPECIAL_IDS.items():
        assert encoding.encode(name, allowed_special="all") == [token_id], name


# ----------------------------------------------------------------------------- tools

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City and country, e.g. Paris, France"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
            },
            "required": ["location"],
        },
    },
}

SEARCH_TOOL = {  # plain form, nested objects, arrays, numeric defaults
    "name": "search_docs",
    "description": "Search the documentation index.\nReturns at most `limit` hits.",
    "parameters": {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "Free-text query"},
            "filters": {
                "type": "object",
                "description": "Optional filters",
                "properties": {
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "after": {"type": "string", "description": "ISO date"},
                    "score": {"type": "number", "default": 0.5},
                },
            },
            "limit": {"type": "integer", "default": 10},
            "exact": {"type": "boolean", "default": False},
        },
        "required": ["query"],
    },
}

NO_PARAMS_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "description": "Current UTC time."},
}

EMPTY_OBJECT_TOOL = {
    "type": "function",
    "function": {
        "name": "list_files",
        "description": "List files in the working directory.",
        "parameters": {"type": "object", "properties": {}},
    },
}

RICH_TOOL = {  # arrays of objects, nullable, type lists, oneOf, titles, examples
    "type": "function",
    "function": {
        "name": "create_event",
        "description": "Create a calendar event.",
        "parameters": {
            "type": "object",
            "description": "event payload",
            "properties": {
                "title": {"type": "string", "title": "Title", "examples": ["Standup", "Retro"]},
                "attendees": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "email": {"type": "string"},
                            "optional": {"type": "boolean", "default": False},
                        },
                        "required": ["email"],
                    },
                },
                "room": {"type": ["string", "null"], "description": "Room id or null"},
                "duration": {
                    "description": "Minutes or an ISO duration",
                    "oneOf": [{"type": "integer"}, {"type": "string", "description": "ISO 8601"}],
                    "default": 30,
                },
                "visibility": {"type": "string", "enum": ["public", "private"], "default": "private"},
                "notes": {"type": "string", "nullable": True},
                "tags": {"type": "array", "items": {"type": "string"}, "default": ["work"]},
            },
            "required": ["title", "attendees"],
        },
    },
}

UNDESCRIBED_TOOL = {"name": "ping", "parameters": {"type": "object", "properties": {"host": {"type": "string"}}}}

ALL_TOOLS = [WEATHER_TOOL, SEARCH_TOOL, NO_PARAMS_TOOL, EMPTY_OBJECT_TOOL, RICH_TOOL]

# One tool per schema shape that openai-harmony's JSON-schema-to-TypeScript renderer
# treats specially (encoding.rs, json_schema_to_typescript).
EDGE_SCHEMAS: dict[str, dict[str, Any]] = {
    "any-of": {"type": "object", "properties": {"v": {"anyOf": [{"type": "string"}, {"type": "number"}]}}},
    "ref": {"type": "object", "properties": {"v": {"$ref": "#/$defs/X"}}, "$defs": {"X": {"type": "string"}}},
    "integer-enum": {"type": "object", "properties": {"n": {"type": "integer", "enum": [1, 2, 3]}}},
    "enum-without-type": {"type": "object", "properties": {"n": {"enum": ["a", "b"]}}},
    "array-of-arrays": {
        "type": "object",
        "properties": {"m": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}},
    },
    "array-without-items": {"type": "object", "properties": {"m": {"type": "array"}}},
    "multiline-description": {
        "type": "object",
        "properties": {"q": {"type": "string", "description": "line one\nline two"}},
    },
    "top-level-one-of": {
        "oneOf": [{"type": "object", "properties": {"a": {"type": "string"}}}, {"type": "string", "description": "raw"}]
    },
    "top-level-string": {"type": "string"},
    "empty-schema": {},
    "object-without-properties": {"type": "object"},
    "title-and-description": {
        "type": "object",
        "properties": {"q": {"type": "string", "title": "Q", "description": "The q"}},
    },
    "one-of-nullable-required": {
        "type": "object",
        "properties": {
            "x": {
                "oneOf": [{"type": "string", "nullable": True}, {"type": "integer", "default": 3}],
                "description": "same",
            }
        },
        "required": ["x"],
    },
    "one-of-duplicate-description": {
        "type": "object",
        "properties": {
            "x": {
                "description": "D",
                "oneOf": [{"type": "string", "description": "D"}, {"type": "number", "description": "E"}],
            }
        },
    },
    "object-default": {
        "type": "object",
        "properties": {"o": {"type": "object", "properties": {}, "default": {"a": 1, "b": [1, 2]}}},
    },
    "enum-default-with-space": {
        "type": "object",
        "properties": {"u": {"type": "string", "enum": ["a b", "c"], "default": "a b"}},
    },
    "null-default": {"type": "object", "properties": {"u": {"type": "string", "default": None}}},
    "float-default": {"type": "object", "properties": {"u": {"type": "number", "default": 1.0}}},
    "unicode-quote-default": {"type": "object", "properties": {"u": {"type": "string", "default": 'é"q'}}},
    "non-string-examples": {"type": "object", "properties": {"u": {"type": "number", "examples": [1, "two"]}}},
    "deeply-nested": {
        "type": "object",
        "properties": {
            "a": {
                "type": "object",
                "properties": {
                    "b": {
                        "type": "object",
                        "description": "B",
                        "properties": {"c": {"type": "string", "description": "C"}},
                    }
                },
            }
        },
    },
    "type-list-with-default": {"type": "object", "properties": {"a": {"type": ["integer", "null"], "default": 0}}},
    "type-list-nullable": {"type": "object", "properties": {"a": {"type": ["string", "null"], "nullable": True}}},
    "unknown-required-key": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "zzz"]},
    "null-and-untyped": {"type": "object", "properties": {"a": {"type": "null"}, "b": {}}},
    "array-of-described-objects": {
        "type": "object",
        "properties": {
            "a": {
                "type": "array",
                "description": "list",
                "items": {"type": "object", "description": "item", "properties": {"x": {"type": "string"}}},
            }
        },
    },
}


# ----------------------------------------------------------------------------- render corpus


@dataclass(frozen=True)
class Case:
    id: str
    messages: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str | None = "", **extra: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": text, **extra}


def tool(name: str, text: str) -> dict[str, Any]:
    return {"role": "tool", "name": name, "content": text}


def call(name: str, arguments: Any, *, openai_form: bool = False) -> dict[str, Any]:
    if openai_form:
        return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
    return {"name": name, "arguments": arguments}


HI = [user("Hi!")]
DATE = "2026-11-29"

RENDER_CASES: list[Case] = [
    # system message options
    Case("effort-low", HI, {"effort": "low"}),
    Case("effort-medium", HI, {"effort": "medium"}),
    Case("effort-high", HI, {"effort": "high"}),
    Case("effort-default", HI),
    Case("date", HI, {"date": DATE}),
    Case("date-high", HI, {"date": DATE, "effort": "high"}),
    Case("identity", HI, {"model_identity": "You are Lab, a helpful notebook assistant."}),
    Case("identity-multiline", HI, {"model_identity": "You are Lab.\nBe terse."}),
    Case("cutoff", HI, {"knowledge_cutoff": "2025-01"}),
    Case(
        "all-options",
        HI,
        {"effort": "low", "date": DATE, "model_identity": "You are X.", "knowledge_cutoff": "2023-10"},
    ),
    # developer instructions
    Case("instructions-system", [{"role": "system", "content": "Answer briefly."}, user("What is 2+2?")]),
    Case("instructions-developer", [{"role": "developer", "content": "Answer briefly."}, user("What is 2+2?")]),
    Case(
        "instructions-multiline",
        [{"role": "system", "content": "Rules:\n- be brief\n- cite sources\n\nThanks."}, user("Go")],
        {"date": DATE},
    ),
    Case(
        "instructions-and-tools",
        [{"role": "system", "content": "Use tools."}, user("Weather?")],
        {"tools": [WEATHER_TOOL]},
    ),
    # conversation shapes
    Case("single-user", [user("What is the capital of France?")]),
    Case("two-turns", [user("Hi"), assistant("Hello! How can I help?"), user("Tell me a joke.")]),
    Case(
        "past-thinking-dropped",
        [user("What is 2+2?"), assistant("4", thinking="Simple arithmetic."), user("And 3+3?")],
    ),
    Case(
        "past-thinking-two-turns",
        [
            user("2+2?"),
            assistant("4", thinking="Add."),
            user("3+5?"),
            assistant("8", thinking="Add again."),
            user("Thanks"),
        ],
    ),
    Case(
        "thinking-final-with-system",
        [
            {"role": "developer", "content": "Be nice."},
            user("Hey"),
            assistant("Hi there", thinking="Greet back."),
            user("Bye"),
        ],
        {"effort": "high", "date": DATE},
    ),
    # tools
    Case("tools-weather", [user("Weather in Paris?")], {"tools": [WEATHER_TOOL]}),
    Case("tools-all", [user("Plan my day.")], {"tools": ALL_TOOLS}),
    Case("tools-search-plain-form", [user("Find docs on sinks")], {"tools": [SEARCH_TOOL]}),
    Case("tools-no-params", [user("What time is it?")], {"tools": [NO_PARAMS_TOOL]}),
    Case("tools-empty-object", [user("ls")], {"tools": [EMPTY_OBJECT_TOOL]}),
    Case("tools-rich-schema", [user("Book a meeting")], {"tools": [RICH_TOOL]}),
    Case("tools-no-description", [user("ping example.org")], {"tools": [UNDESCRIBED_TOOL]}),
    Case(
        "tool-call-pending-keeps-analysis",
        [
            user("Weather in Paris?"),
            assistant(
                None, thinking="Need the weather tool.", tool_calls=[call("get_weather", '{"location": "Paris"}')]
            ),
            tool("get_weather", '{"temp_c": 21, "sky": "clear"}'),
        ],
        {"tools": [WEATHER_TOOL]},
    ),
    Case(
        "tool-call-dict-arguments",
        [
            user("Weather in Tokyo, in F?"),
            assistant(
                "", thinking="Call it.", tool_calls=[call("get_weather", {"location": "Tokyo", "unit": "fahrenheit"})]
            ),
            tool("get_weather", '{"temp_f": 70}'),
        ],
        {"tools": [WEATHER_TOOL]},
    ),
    Case(
        "tool-call-openai-form",
        [
            user("Weather in Oslo?"),
            assistant(None, tool_calls=[call("get_weather", '{"location":"Oslo"}', openai_form=True)]),
            tool("get_weather", "-3C, snow"),
        ],
        {"tools": [WEATHER_TOOL]},
    ),
    Case(
        "tool-call-then-final-dropped",
        [
            user("Weather in Rome?"),
            assistant(None, thinking="Use tool.", tool_calls=[call("get_weather", {"location": "Rome"})]),
            tool("get_weather", '{"temp_c": 30}'),
            assistant("It is 30°C in Rome.", thinking="Report it."),
            user("And Milan?"),
        ],
        {"tools": [WEATHER_TOOL], "date": DATE},
    ),
    Case(
        "tool-calls-parallel",
        [
            user("Weather in Paris and time?"),
            assistant(None, tool_calls=[call("get_weather", {"location": "Paris"}), call("get_time", {})]),
            tool("get_weather", "sunny"),
            tool("get_time", "12:00Z"),
        ],
        {"tools": [WEATHER_TOOL, NO_PARAMS_TOOL]},
    ),
    Case(
        "tool-call-after-final-turn",
        [
            user("Hi"),
            assistant("Hello!", thinking="Greeting."),
            user("Weather in Lima?"),
            assistant(None, thinking="Tool time.", tool_calls=[call("get_weather", {"location": "Lima"})]),
            tool("get_weather", "foggy"),
        ],
        {"tools": [WEATHER_TOOL]},
    ),
    Case(
        "tool-call-with-content",
        [
            user("Search sinks"),
            assistant("Searching now.", tool_calls=[call("search_docs", {"query": "attention sinks", "limit": 3})]),
            tool("search_docs", '[{"title": "Sinks", "score": 0.9}]'),
        ],
        {"tools": [SEARCH_TOOL]},
    ),
    Case(
        "tool-call-unicode-arguments",
        [
            user("東京の天気は？"),
            assistant(None, tool_calls=[call("get_weather", {"location": "東京"})]),
            tool("get_weather", '{"天気": "晴れ ☀️"}'),
        ],
        {"tools": [WEATHER_TOOL]},
    ),
    # content
    Case("unicode-cjk", [user("用中文解释注意力机制。日本語も。한국어도.")]),
    Case("unicode-emoji", [user("Rate this 🦀👨‍👩‍👧‍👦🎉 on 1-5 ⭐"), assistant("⭐⭐⭐⭐ 🦀!"), user("Why 🤔?")]),
    Case("unicode-rtl", [user("ترجم: שָׁלוֹם — مرحبا بالعالم")]),
    Case("unicode-math", [user("𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ∑ ∫ √ 𠜎𠜱")]),
    Case("braces-json", [user('Parse {"a": {"b": [1, 2, {"c": null}]}} and {{x}} {0} {name}')]),
    Case("code-block", [user("Fix this:\n```python\ndef f(x):\n    return {x: x**2}\n```\n")]),
    Case("empty-user", [user("")]),
    Case("empty-final", [user("Say nothing."), assistant(""), user("OK")]),
    Case("newlines", [user("line1\n\nline3\n\n\n"), assistant("a\nb"), user("\n")]),
    Case("whitespace", [user("   padded   "), assistant("  spaced answer\t"), user("\ttab")]),
    Case(
        "thinking-unicode-braces", [user("{}?"), assistant('{"ok": true}', thinking="JSON {braces} 🧠\n"), user("more")]
    ),
    Case(
        "ends-with-assistant-final",
        [user("Hi"), assistant("Hello!", thinking="Say hi.")],
    ),
    Case(
        "thinking-without-content",
        [user("Hmm?"), assistant("", thinking="Nothing to say."), user("OK")],
    ),
    Case(
        "tool-call-content-and-thinking",
        [
            user("Weather in Nice?"),
            assistant("Checking.", thinking="Tool.", tool_calls=[call("get_weather", '{"location": "Nice"}')]),
            tool("get_weather", "warm"),
            assistant("Warm.", thinking="Done."),
        ],
        {"tools": [WEATHER_TOOL]},
    ),
    Case(
        "tool-descriptions-whitespace",
        [user("x")],
        {
            "tools": [
                {"name": "a", "description": "multi\nline\n\ndesc"},
                {"name": "b", "description": "  spaced  "},
                {"name": "c", "description": "trailing newline\n"},
                {"name": "d", "description": ""},
            ]
        },
    ),
    Case(
        "long-mixed",
        [
            {"role": "system", "content": "You are a {template} engine. Keep ```code``` intact."},
            user("Render {{name}}"),
            assistant("Hello, {name}!", thinking="Jinja-like."),
            user("Now in 中文"),
        ],
        {"effort": "low", "date": DATE, "tools": [SEARCH_TOOL, NO_PARAMS_TOOL]},
    ),
]


PY = {"python": "Runs code. Stateful.\n\nIt times out after 30.0 seconds."}
PY_CALL = {"name": "python", "arguments": "x = 6 * 7\nprint(x)"}
WEATHER = {"name": "get_weather", "arguments": '{"city": "Oslo"}'}
RENDER_CASES += [
    Case("python-tool-declared", [user("2**100?")], {"builtin_tools": PY}),
    Case("python-tool-and-functions", [user("go")], {"builtin_tools": PY, "tools": [SEARCH_TOOL], "effort": "high"}),
    Case(
        "python-call-and-result-mid-turn",
        [user("6*7?"), assistant("", thinking="Use python.", tool_calls=[PY_CALL]), tool("python", "42\n")],
        {"builtin_tools": PY},
    ),
    Case(
        "python-call-then-final-then-follow-up",
        [
            user("6*7?"),
            assistant("", thinking="Use python.", tool_calls=[PY_CALL]),
            tool("python", "42"),
            assistant("42.", thinking="It printed 42."),
            user("and 6*8?"),
        ],
        {"builtin_tools": PY},
    ),
    Case(
        "preamble-before-a-function-call",
        [
            user("Weather in Oslo?"),
            assistant("", thinking="Need weather.", preamble="Let me check the weather.", tool_calls=[WEATHER]),
            tool("get_weather", '{"sky": "sunny"}'),
        ],
        {"tools": [SEARCH_TOOL]},
    ),
]

RENDER_CASES += [
    Case(f"schema-{key}", [user("go")], {"tools": [{"name": "f", "description": key, "parameters": schema}]})
    for key, schema in EDGE_SCHEMAS.items()
]


@pytest.mark.parametrize("case", RENDER_CASES, ids=lambda c: c.id)
def test_render_matches_openai_harmony(case: Case, encoding: HarmonyEncoding) -> None:
    from gptoss_lab.harmony import render_prompt

    expected_tokens = harmony_prompt_tokens(encoding, to_harmony_conversation(case.messages, **case.options))
    expected = encoding.decode_utf8(expected_tokens)

    ours = render_prompt(case.messages, **case.options)

    assert ours == expected
    assert encoding.encode(ours, allowed_special="all") == expected_tokens


def test_render_corpus_is_large_enough() -> None:
    assert len(RENDER_CASES) >= 40
    assert len({c.id for c in RENDER_CASES}) == len(RENDER_CASES)


# ----------------------------------------------------------------------------- parse corpus

CALL_JSON = '{"location": "Paris", "unit": "celsius"}'
NEXT = "<|start|>assistant"  # the header of every assistant message after the first
WEATHER_CALL = f"<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{CALL_JSON}<|call|>"

PARSE_CASES: dict[str, str] = {
    "analysis-final": (
        f"<|channel|>analysis<|message|>User asks 2+2. Answer 4.<|end|>{NEXT}<|channel|>final<|message|>4<|return|>"
    ),
    "final-only": "<|channel|>final<|message|>Paris is the capital of France.<|return|>",
    "final-only-end": "<|channel|>final<|message|>Done.<|end|>",
    "analysis-only-end": "<|channel|>analysis<|message|>Thinking out loud.<|end|>",
    "tool-call-constrain": f"<|channel|>analysis<|message|>Need weather.<|end|>{NEXT}{WEATHER_CALL}",
    "tool-call-only": WEATHER_CALL,
    "tool-call-constrain-no-space": (
        f"<|channel|>commentary to=functions.get_weather<|constrain|>json<|message|>{CALL_JSON}<|call|>"
    ),
    "tool-call-plain-json": f"<|channel|>commentary to=functions.get_weather json<|message|>{CALL_JSON}<|call|>",
    "tool-call-no-content-type": f"<|channel|>commentary to=functions.get_weather<|message|>{CALL_JSON}<|call|>",
    "recipient-first-json": f" to=functions.get_weather<|channel|>commentary json<|message|>{CALL_JSON}<|call|>",
    "recipient-first-constrain": (
        f" to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{CALL_JSON}<|call|>"
    ),
    "recipient-first-second-message": (
        f"<|channel|>analysis<|message|>Call it.<|end|>"
        f"{NEXT} to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{CALL_JSON}<|call|>"
    ),
    "preamble-then-call": (
        "<|channel|>analysis<|message|>Plan: tell the user, then call.<|end|>"
        f"{NEXT}<|channel|>commentary<|message|>Let me check the weather for you.<|end|>"
        f"{NEXT}{WEATHER_CALL}"
    ),
    "python-tool-call": "<|channel|>analysis to=python code<|message|>print(sum(range(10)))<|call|>",
    "browser-tool-call": (
        '<|channel|>analysis to=browser.search <|constrain|>json<|message|>{"query": "gpt-oss", "topn": 5}<|call|>'
    ),
    "tool-result-then-final": (
        f"{WEATHER_CALL}"
        '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{"temp_c": 21}<|end|>'
        f"{NEXT}<|channel|>final<|message|>It is 21°C.<|return|>"
    ),
    "tool-result-no-channel": (
        '<|channel|>commentary to=functions.lookup <|constrain|>json<|message|>{"q": 1}<|call|>'
        "<|start|>functions.lookup to=assistant<|message|>found<|end|>"
        f"{NEXT}<|channel|>analysis<|message|>Got it.<|end|>"
        f"{NEXT}<|channel|>final<|message|>Found.<|return|>"
    ),
    "multi-analysis": (
        "<|channel|>analysis<|message|>Step 1.<|end|>"
        f"{NEXT}<|channel|>analysis<|message|>Step 2.<|end|>"
        f"{NEXT}<|channel|>final<|message|>Result.<|return|>"
    ),
    "unicode-cjk": (
        f"<|channel|>analysis<|message|>用户用中文提问。<|end|>{NEXT}<|channel|>final<|message|>注意力机制是……<|return|>"
    ),
    "unicode-emoji-split": "<|channel|>final<|message|>Crab 🦀, family 👨‍👩‍👧‍👦, party 🎉!<|return|>",
    "unicode-rare-split": (
        f"<|channel|>analysis<|message|>𝔘𝔫𝔦 𠜎𠜱 龘<|end|>{NEXT}<|channel|>final<|message|>𠜎<|return|>"
    ),
    "unicode-rtl": "<|channel|>final<|message|>שָׁלוֹם / مرحبا ﷺ<|return|>",
    "braces": "<|channel|>final<|message|>Use {name} and {{double}} and {0}.<|return|>",
    "json-content": '<|channel|>final<|message|>{"answer": [1, 2, {"nested": {"k": null}}], "ok": true}<|return|>',
    "code-content": (
        "<|channel|>final<|message|>```python\ndef f(x: int) -> dict[int, int]:\n    return {x: x ** 2}\n```<|return|>"
    ),
    "markdown-analysis": (
        "<|channel|>analysis<|message|># Plan\n\n1. a\n2. b\n\n- **bold**<|end|>"
        f"{NEXT}<|channel|>final<|message|>| a | b |\n|---|---|\n| 1 | 2 |<|return|>"
    ),
    "empty-final": "<|channel|>final<|message|><|return|>",
    "empty-analysis": f"<|channel|>analysis<|message|><|end|>{NEXT}<|channel|>final<|message|>x<|return|>",
    "whitespace": (
        "<|channel|>analysis<|message|>  lead and trail  \n<|end|>"
        f"{NEXT}<|channel|>final<|message|>\n\n  answer\t\n<|return|>"
    ),
    "newlines-only": "<|channel|>final<|message|>\n\n\n<|return|>",
    "long-analysis": (
        "<|channel|>analysis<|message|>"
        + " ".join(f"step{i}: {{x{i}}} → {i * i}" for i in range(60))
        + f"<|end|>{NEXT}<|channel|>final<|message|>Done ✅<|return|>"
    ),
    "truncated-final": f"<|channel|>analysis<|message|>Hmm.<|end|>{NEXT}<|channel|>final<|message|>The answer is",
    "call-args-unicode": (
        '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"location": "東京 🗼"}<|call|>'
    ),
}


def _harmony_messages(encoding: HarmonyEncoding, tokens: list[int]) -> list[dict[str, Any]]:
    parsed = encoding.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT)
    return [_harmony_fields(m) for m in parsed]


def _harmony_fields(message: Any) -> dict[str, Any]:
    role = message.author.role.value
    return {
        "role": role,
        "channel": message.channel,
        "recipient": message.recipient,
        "content_type": message.content_type,
        "content": "".join(c.text for c in message.content),
        "name": message.author.name if role == "tool" else None,
    }


def _our_fields(message: Any) -> dict[str, Any]:
    return {
        "role": message.role,
        "channel": message.channel,
        "recipient": message.recipient,
        "content_type": message.content_type,
        "content": message.content,
        "name": message.name if message.role == "tool" else None,
    }


PARSE_IDS = list(PARSE_CASES)


def test_parse_corpus_is_large_enough() -> None:
    assert len(PARSE_CASES) >= 30


@pytest.mark.parametrize("case_id", PARSE_IDS)
def test_parse_ids_matches_openai_harmony(case_id: str, encoding: HarmonyEncoding, codec: Any) -> None:
    from gptoss_lab.harmony import parse_completion

    tokens = encoding.encode(PARSE_CASES[case_id], allowed_special="all")
    expected = _harmony_messages(encoding, tokens)

    ours = [_our_fields(m) for m in parse_completion(tokens, codec)]

    assert ours == expected


@pytest.mark.parametrize("case_id", PARSE_IDS)
def test_parse_text_matches_openai_harmony(case_id: str, encoding: HarmonyEncoding) -> None:
    from gptoss_lab.harmony import parse_completion

    text = PARSE_CASES[case_id]
    expected = _harmony_messages(encoding, encoding.encode(text, allowed_special="all"))

    ours = [_our_fields(m) for m in parse_completion(text)]

    assert ours == expected


def _harmony_stream_deltas(encoding: HarmonyEncoding, tokens: list[int]) -> list[str]:
    """Per message, the concatenated ``last_content_delta`` of openai-harmony's StreamableParser."""
    parser = StreamableParser(encoding, Role.ASSISTANT)
    per_message: list[str] = []
    done = 0
    current = ""
    for token in tokens:
        parser.process(token)
        current += parser.last_content_delta or ""
        if len(parser.messages) > done:
            done = len(parser.messages)
            per_message.append(current)
            current = ""
    parser.process_eos()
    if len(parser.messages) > done:
        per_message.append(current)
    return per_message


@pytest.mark.parametrize("case_id", PARSE_IDS)
def test_stream_matches_openai_harmony(case_id: str, encoding: HarmonyEncoding, codec: Any) -> None:
    from gptoss_lab.harmony import ContentDelta, MessageEnd, MessageStart, StreamParser

    tokens = encoding.encode(PARSE_CASES[case_id], allowed_special="all")
    expected = _harmony_messages(encoding, tokens)

    parser = StreamParser(codec, role="assistant")
    events = [event for token in tokens for event in parser.feed(token)]
    events += parser.finish()

    ended: list[dict[str, Any]] = []
    deltas: list[str] = []
    open_message: list[str] | None = None
    for event in events:
        if isinstance(event, MessageStart):
            assert open_message is None, "MessageStart inside an open message"
            open_message = []
        elif isinstance(event, ContentDelta):
            assert open_message is not None, "ContentDelta outside a message"
            open_message.append(event.text)
        elif isinstance(event, MessageEnd):
            assert open_message is not None, "MessageEnd without MessageStart"
            deltas.append("".join(open_message))
            ended.append(_our_fields(event.message))
            open_message = None
    assert open_message is None, "stream finished with an open message"

    assert ended == expected
    assert deltas == [m["content"] for m in ended]
    assert deltas == _harmony_stream_deltas(encoding, tokens)
    assert not any(e.message.malformed for e in events if isinstance(e, MessageEnd))  # well-formed: none flagged


def test_unicode_cases_really_split_characters(encoding: HarmonyEncoding) -> None:
    """Guard: the unicode parse cases contain tokens that are not valid UTF-8 on their own."""
    for case_id in ("unicode-emoji-split", "unicode-rare-split"):
        tokens = encoding.encode(PARSE_CASES[case_id], allowed_special="all")
        partial = 0
        for token in tokens:
            try:
                encoding.decode_utf8([token])
            except Exception:
                partial += 1
        assert partial > 0, case_id


@pytest.mark.parametrize("case_id", ["unicode-emoji-split", "unicode-rare-split", "call-args-unicode"])
def test_strict_utf8_codec(case_id: str, encoding: HarmonyEncoding) -> None:
    """harmony.py's TokenCodec docstring suggests ``decode=enc.decode_utf8``, which raises on a
    partial UTF-8 character instead of returning U+FFFD: parsing must still work with it."""
    from gptoss_lab.harmony import MessageEnd, StreamParser, TokenCodec, parse_completion

    strict = TokenCodec(decode=encoding.decode_utf8, special_ids=dict(HARMONY_SPECIAL_IDS))
    tokens = encoding.encode(PARSE_CASES[case_id], allowed_special="all")
    expected = _harmony_messages(encoding, tokens)

    assert [_our_fields(m) for m in parse_completion(tokens, strict)] == expected

    parser = StreamParser(strict, role="assistant")
    events = [event for token in tokens for event in parser.feed(token)] + parser.finish()
    assert [_our_fields(e.message) for e in events if isinstance(e, MessageEnd)] == expected
