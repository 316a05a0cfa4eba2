"""gptoss_lab._tools.render_functions_namespace against openai-harmony's tool rendering.

The golden tests run everywhere; the corpus comparison renders each tool list with
openai-harmony 0.0.8 itself (offline, vocabulary rebuilt from toktok-rs) and demands the
exact same text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from gptoss_lab._tools import render_functions_namespace

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Gets weather.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City"},
                "unit": {"type": "string", "enum": ["c", "f"], "default": "c"},
            },
            "required": ["location"],
        },
    },
}
NOW = {"name": "now", "description": "Time."}


def _obj(properties: dict[str, Any], required: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), **extra}


def _tool(name: str, parameters: Any = None, description: str | None = "Does things.") -> dict[str, Any]:
    fn: dict[str, Any] = {"name": name}
    if description is not None:
        fn["description"] = description
    if parameters is not None:
        fn["parameters"] = parameters
    return {"type": "function", "function": fn}


# --- golden expectations (no openai-harmony needed; also checked against it below) -------

GOLDENS: dict[str, tuple[list[dict[str, Any]], str]] = {
    "weather_example": (
        [WEATHER, NOW],
        "## functions\n\nnamespace functions {\n\n"
        "// Gets weather.\ntype get_weather = (_: {\n// City\nlocation: string,\n"
        'unit?: "c" | "f", // default: c\n}) => any;\n\n'
        "// Time.\ntype now = () => any;\n\n"
        "} // namespace functions",
    ),
    "nested_object_array_and_defaults": (
        [
            {
                "name": "search",
                "description": "Line one\nLine two\n",
                "parameters": _obj(
                    {
                        "filters": _obj({"year": {"type": "integer", "default": 2024}}, description="Filters"),
                        "ids": {"type": "array", "items": {"type": "number"}},
                        "tags": {"type": "array"},
                        "exact": {"type": "boolean", "default": False, "nullable": True},
                        "sort": {"type": "string", "default": "asc"},
                        "ratio": {"type": "number", "default": 1e-5},
                    },
                    ["ids"],
                ),
            }
        ],
        "## functions\n\nnamespace functions {\n\n// Line one\n// Line two\n"
        "type search = (_: {\n"
        "// Filters\nfilters?:     // Filters\n{\n    year?: number, // default: 2024\n    },\n"
        "ids: number[],\ntags?: Array<any>,\n"
        "exact?: boolean | null, // default: false\n"
        'sort?: string, // default: "asc"\n'
        "ratio?: number, // default: 0.00001\n"
        "}) => any;\n\n} // namespace functions",
    ),
    "one_of_property_and_any_of": (
        [
            _tool(
                "hit",
                _obj(
                    {
                        "target": {
                            "description": "What to hit",
                            "oneOf": [
                                {"type": "string", "description": "A name"},
                                {"type": "integer", "description": "An id", "nullable": True},
                            ],
                            "default": 0,
                        },
                        "mode": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Mode"},
                    },
                    ["target"],
                ),
                description=None,
            )
        ],
        "## functions\n\nnamespace functions {\n\n"
        "type hit = (_: {\n"
        "// What to hit\n// default: 0\ntarget:\n | string\n | number | null // An id\n,\n"
        "// Mode\n//\nmode?: any,\n"
        "}) => any;\n\n} // namespace functions",
    ),
    "empty_and_degenerate": (
        [_tool("f", {}), _tool("g", {"type": "object"}, "")],
        "## functions\n\nnamespace functions {\n\n// Does things.\ntype f = (_: any) => any;\n\n"
        "type g = (_: {\n}) => any;\n\n} // namespace functions",
    ),
    "no_tools": ([], "## functions\n"),
}


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_golden(name: str) -> None:
    tools, expected = GOLDENS[name]
    assert render_functions_namespace(tools) == expected


# --- corpus compared with openai-harmony ---------------------------------------------------

ADDRESS = _obj(
    {"street": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}, "geo": _obj({})},
    ["street"],
    description="Postal address",
)

# Python's JSON text for these is re-read by serde_json without float_roundtrip: several come
# out an ulp away from the Python value, and ints past u64/i64 become floats.
ODD_NUMBERS = [0.1 + 0.2, 1 / 3, -2.5e-300, 1.7e308, 123456789.12345679, 1e16, 1e15, -0.0, 5e-324, 2**63]
ODD_NUMBERS += [-(2**63) - 1, 2**64, 3**50, -(7**40), 10**30, 0.5, 42]

CORPUS: dict[str, list[dict[str, Any]]] = {
    "weather_and_now": [WEATHER, NOW],
    "plain_dict_form": [{"name": "ping", "description": "Ping.", "parameters": _obj({"host": {"type": "string"}})}],
    "no_description": [_tool("nodesc", _obj({"x": {"type": "integer"}}, ["x"]), description=None)],
    "empty_description_no_params": [_tool("noop", description="")],
    "multiline_crlf_description": [_tool("ml", _obj({}), "First line\r\n\r\nThird line\n\n")],
    "unicode_description": [
        _tool(
            "traduire",
            _obj({"texte": {"type": "string", "description": "Texte à traduire — 日本語 ✓"}}),
            "Übersetzt 🌍",
        )
    ],
    "nested_objects": [_tool("create_user", _obj({"name": {"type": "string"}, "address": ADDRESS}, ["name"]))],
    "deeply_nested": [
        _tool("deep", _obj({"a": _obj({"b": _obj({"c": {"type": "boolean", "description": "Deep flag"}}, ["c"])})}))
    ],
    "array_of_objects": [
        _tool(
            "add_items",
            _obj(
                {
                    "items": {
                        "type": "array",
                        "description": "Line items",
                        "items": _obj({"sku": {"type": "string"}, "qty": {"type": "integer", "default": 1}}, ["sku"]),
                    },
                    "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                },
                ["items"],
            ),
        )
    ],
    "string_enums": [
        _tool(
            "set_level",
            _obj(
                {
                    "level": {"type": "string", "enum": ["low", "medium", "high"], "description": "Level"},
                    "color": {"type": "string", "enum": ["red", 3, None]},
                    "empty_enum": {"type": "string", "enum": []},
                },
                ["level"],
            ),
        )
    ],
    "number_enums_and_const": [
        _tool(
            "pick",
            _obj(
                {
                    "n": {"type": "integer", "enum": [1, 2, 3], "default": 2},
                    "ratio": {"type": "number", "enum": [0.5, 1.5]},
                    "kind": {"const": "fixed"},
                    "version": {"type": "string", "const": "v1", "default": "v1"},
                    "untyped_enum": {"enum": ["a", "b"]},
                }
            ),
        )
    ],
    "defaults_every_json_type": [
        _tool(
            "defaults",
            _obj(
                {
                    "s": {"type": "string", "default": 'say "hi"\tnow'},
                    "s_enum": {"type": "string", "enum": ["x", "y"], "default": "y"},
                    "i": {"type": "integer", "default": -42},
                    "big": {"type": "integer", "default": 2**64},
                    "f": {"type": "number", "default": 0.1},
                    "f_whole": {"type": "number", "default": 3.0},
                    "f_tiny": {"type": "number", "default": 1e-7},
                    "f_small": {"type": "number", "default": 0.00001},
                    "f_huge": {"type": "number", "default": 1e21},
                    "b_true": {"type": "boolean", "default": True},
                    "b_false": {"type": "boolean", "default": False},
                    "null": {"type": "string", "default": None},
                    "arr": {"type": "array", "items": {"type": "string"}, "default": ["a", "é", 'q"', 1.5, None]},
                    "obj": {"type": "object", "default": {"k": [1, 2], "z": {"n": None}, "ctl": "a\nb\x01"}},
                }
            ),
        )
    ],
    "nullable": [
        _tool(
            "maybe",
            _obj(
                {
                    "a": {"type": "string", "nullable": True},
                    "b": {"type": "integer", "nullable": True, "default": None},
                    "c": {"type": ["string", "null"], "nullable": True},
                    "d": _obj({"x": {"type": "string"}}, nullable=True),
                    "e": {"type": "string", "enum": ["nullish", "other"], "nullable": True},
                    "f": {"type": "boolean", "nullable": False},
                }
            ),
        )
    ],
    "type_arrays": [
        _tool(
            "multi",
            _obj({"v": {"type": ["integer", "string"]}, "w": {"type": ["number", "null"], "description": "Maybe"}}),
        )
    ],
    "one_of_property": [
        _tool(
            "locate",
            _obj(
                {
                    "where": {
                        "description": "Place",
                        "oneOf": [
                            {"type": "string", "description": "A city name"},
                            _obj({"lat": {"type": "number"}, "lon": {"type": "number"}}, ["lat", "lon"]),
                            {"type": "null"},
                        ],
                    },
                },
                ["where"],
            ),
        )
    ],
    "one_of_property_dedup_and_defaults": [
        _tool(
            "fmt",
            _obj(
                {
                    "style": {
                        "description": "Same",
                        "default": "plain",
                        "oneOf": [
                            {"type": "string", "description": "Same", "default": "plain"},
                            {"type": "string", "enum": ["a", "b"], "default": "a", "description": "Enum"},
                            {"type": "integer", "default": 3, "nullable": True},
                        ],
                    },
                    "enum_default": {
                        "enum": ["x"],
                        "default": "x",
                        "oneOf": [{"type": "string", "description": "Same"}, {"type": "boolean"}],
                    },
                    "no_desc": {"oneOf": [{"type": "string", "description": "S"}, {"type": "number"}]},
                }
            ),
        )
    ],
    "one_of_top_level": [
        _tool(
            "either",
            {
                "oneOf": [
                    _obj({"id": {"type": "integer"}}, ["id"], description="By id"),
                    {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "default": {"name": "x"},
                        "nullable": True,
                    },
                    {"type": "string", "enum": ["all"], "default": "all"},
                    {"type": "string", "default": "raw"},
                ]
            },
        )
    ],
    "nested_one_of_in_items": [
        _tool(
            "batch",
            _obj(
                {"ops": {"type": "array", "items": {"oneOf": [{"type": "string"}, _obj({"op": {"type": "string"}})]}}}
            ),
        )
    ],
    "any_of_all_of_ref": [
        _tool(
            "pydantic_style",
            {
                "type": "object",
                "title": "Args",
                "$defs": {"Color": {"type": "string", "enum": ["red", "blue"]}},
                "properties": {
                    "opt": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None, "title": "Opt"},
                    "color": {"$ref": "#/$defs/Color"},
                    "both": {"allOf": [{"type": "string"}], "description": "All of"},
                    "typed_any_of": {"type": "string", "anyOf": [{"minLength": 1}]},
                },
                "required": ["color"],
                "additionalProperties": False,
            },
        )
    ],
    "title_and_examples": [
        _tool(
            "titled",
            _obj(
                {
                    "q": {
                        "type": "string",
                        "title": "Query",
                        "description": "Search query",
                        "examples": ["cats", 'dogs "and" birds', 3],
                    },
                    "n": {"type": "integer", "examples": [1, 2]},
                    "m": {"type": "integer", "examples": []},
                }
            ),
        )
    ],
    "booleans_and_integers": [
        _tool(
            "toggle",
            _obj(
                {
                    "on": {"type": "boolean"},
                    "count": {"type": "integer", "minimum": 0, "maximum": 10},
                    "rate": {"type": "number", "exclusiveMinimum": 0},
                },
                ["on", "count"],
            ),
        )
    ],
    "no_properties_and_unknown_types": [
        _tool(
            "odd",
            _obj(
                {
                    "free": {"type": "object"},
                    "map": {"type": "object", "additionalProperties": {"type": "string"}},
                    "nothing": {},
                    "null_type": {"type": "null"},
                    "weird_type": {"type": "date"},
                    "numeric_type": {"type": 5},
                    "tuple": {"type": "array", "items": [{"type": "string"}, {"type": "number"}]},
                }
            ),
        )
    ],
    "strict_openai": [
        _tool(
            "strict_tool",
            {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name"},
                    "units": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit", None]},
                },
                "required": ["city", "units"],
                "additionalProperties": False,
            },
            "Weather in a city.",
        ),
    ],
    "required_unknown_and_order": [
        _tool("order", _obj({"zeta": {"type": "string"}, "alpha": {"type": "string"}, "Mid": {}}, ["alpha", "ghost"]))
    ],
    "top_level_description_and_no_type": [
        _tool("topdesc", _obj({"x": {"type": "string"}}, description="Arguments")),
        _tool("untyped", {"properties": {"x": {"type": "string"}}}),
    ],
    "float_and_big_int_defaults": [
        _tool(
            "numbers",
            _obj({f"n{i}": {"type": "number", "default": value} for i, value in enumerate(ODD_NUMBERS)}),
        )
    ],
    "many_tools": [WEATHER, NOW, _tool("a"), _tool("b", _obj({})), {"name": "c", "parameters": {"type": "string"}}],
}


def _fields(tool: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = tool.get("function")
    return inner if isinstance(inner, Mapping) else tool


@pytest.fixture(scope="session")
def harmony_render(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A function rendering tools with openai-harmony and returning the text after ``# Tools``."""
    pytest.importorskip("openai_harmony")
    pytest.importorskip("toktok")
    from openai_harmony import Conversation, DeveloperContent, Message, Role, SystemContent, ToolDescription

    from tests.reference.harmony_ref import load_offline_harmony_encoding

    encoding = load_offline_harmony_encoding(tmp_path_factory.mktemp("tools-vocab"))

    def render(tools: Sequence[Mapping[str, Any]]) -> str:
        described = [
            ToolDescription.new(f["name"], f.get("description") or "", parameters=f.get("parameters"))
            for f in map(_fields, tools)
        ]
        developer = DeveloperContent.new().with_function_tools(described)
        conversation = Conversation.from_messages(
            [
                Message.from_role_and_content(Role.SYSTEM, SystemContent.new()),
                Message.from_role_and_content(Role.DEVELOPER, developer),
                Message.from_role_and_content(Role.USER, "Hi"),
            ]
        )
        text = encoding.decode_utf8(encoding.render_conversation_for_completion(conversation, Role.ASSISTANT))
        start = text.index("# Tools\n\n") + len("# Tools\n\n")
        return text[start : text.index("<|end|>", start)]

    return render


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 25


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_matches_openai_harmony(name: str, harmony_render: Any) -> None:
    tools = CORPUS[name]
    assert render_functions_namespace(tools) == harmony_render(tools)


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_goldens_match_openai_harmony(name: str, harmony_render: Any) -> None:
    tools, expected = GOLDENS[name]
    assert harmony_render(tools) == expected
