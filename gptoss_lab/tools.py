"""Tools the model may call: your Python functions, described to it in harmony's ``functions`` namespace.

>>> def get_weather(city: str, unit: str = "celsius") -> dict:
...     '''The weather now in a city.
...
...     Args:
...         city: the city's name, e.g. "Oslo"
...         unit: "celsius" or "fahrenheit"
...     '''
...     return {"city": city, "temperature": 21, "unit": unit}
>>> reply = lab.ask("What is the weather in Oslo?", tools=[get_weather])

A tool is a Python callable (its schema is read from the signature, the type hints and the
docstring: :func:`tool`) or an OpenAI tool dict (``{"type": "function", "function": {...}}``),
which the model may call but nothing runs: the reply stops at that call, as a server's would.
Each call's JSON arguments are checked against the schema (:func:`check_arguments`) before the
function runs; its result, or the error, goes back to the model as text (:func:`run_call`),
at most :data:`MAX_RESULT_CHARS` characters of it. The Lab loops until a final answer or its
round limit (``Lab.ask``'s ``max_tool_rounds``).

Functions run in this process, as you: they are your code. The model's ``python`` tool is another
matter (:mod:`gptoss_lab.python_tool`).
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import time
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import GptOssLabError
from .harmony import BUILTIN_TOOLS

__all__ = [
    "MAX_RESULT_CHARS",
    "Tool",
    "ToolResult",
    "ToolRound",
    "as_tools",
    "check_arguments",
    "run_call",
    "tool",
]

#: The most characters of one tool result sent back to the model (and shown); the rest is cut, and the
#: cut says how long the whole was. Real gpt-oss reads 128k tokens, nano 2,048: a result is part of the prompt.
MAX_RESULT_CHARS = 4000


class ToolError(GptOssLabError, ValueError):
    """A tool that cannot be described to the model (a bad name, an argument type with no JSON schema)."""


@dataclass(frozen=True)
class Tool:
    """One function the model may call: its name, what it does, its parameters' JSON schema, and the
    Python function that runs it (None: declared only, so a call to it ends the reply)."""

    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None
    function: Callable[..., Any] | None = field(default=None, compare=False)
    #: the model's own tool (python): described in the system message, called with text, not JSON
    raw: bool = False
    #: the most characters of a result sent back (the rest is cut, and the cut says so)
    limit: int = MAX_RESULT_CHARS

    def spec(self) -> dict[str, Any]:
        """The OpenAI tool dict that harmony renders (and servers take)."""
        fn: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.parameters is not None:
            fn["parameters"] = self.parameters
        return {"type": "function", "function": fn}


@dataclass(frozen=True)
class ToolResult:
    """What one call did: the tool's name, the arguments the model wrote, the text sent back, and whether
    it ran to a result (``ok``); ``seconds`` it took; ``truncated`` when the text was cut."""

    name: str
    arguments: str
    output: str
    ok: bool
    seconds: float = 0.0
    truncated: bool = False

    @property
    def source(self) -> str:
        """Who answered, as harmony names it: ``functions.NAME``, or ``python``."""
        return self.name if self.name in BUILTIN_TOOLS else f"functions.{self.name}"

    def message(self) -> dict[str, Any]:
        """The tool message harmony expects after the call (``functions.NAME to=assistant``)."""
        return {"role": "tool", "name": self.name, "content": self.output}


@dataclass
class ToolRound:
    """One round of an exchange with tools: the reply that ended in calls, and what each call returned."""

    reply: Any  # Reply (not imported: reply.py imports nothing from here)
    results: list[ToolResult] = field(default_factory=list)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def tool(function: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None) -> Any:
    """A :class:`Tool` from a Python function; also a decorator (``@tool`` or ``@tool(name=...)``).

    The description is the docstring's first paragraph; each parameter's description comes from a
    Google-style ``Args:`` section or ``:param x:`` lines. Types: ``str``, ``int``, ``float``, ``bool``,
    ``list[...]``, ``dict``, ``Literal[...]``, an ``Enum`` and ``X | None``; a parameter without a default
    is required. ``*args`` cannot be described; ``**kwargs`` lets the model pass other keys.
    """
    if function is None:
        return lambda f: tool(f, name=name, description=description)
    if isinstance(function, Tool):
        return function
    if not callable(function):
        raise ToolError(f"a tool is a Python function or an OpenAI tool dict, not {type(function).__name__}")
    called = name or getattr(function, "__name__", "")
    if not _NAME.match(called):
        raise ToolError(f"a tool's name must be a Python-style identifier, got {called!r}: pass tool(f, name=...)")
    doc = inspect.getdoc(function) or ""
    summary, params_doc = _read_docstring(doc)
    return Tool(called, description if description is not None else summary, _schema(function, params_doc), function)


def as_tools(items: Sequence[Any] | None) -> list[Tool]:
    """``items`` (callables, :class:`Tool`, OpenAI tool dicts) as Tools; names must be distinct."""
    out: list[Tool] = []
    for item in items or ():
        if isinstance(item, Mapping):
            fn = item["function"] if isinstance(item.get("function"), Mapping) else item
            if not isinstance(fn.get("name"), str) or not _NAME.match(fn["name"]):
                raise ToolError(f"an OpenAI tool dict needs a 'name' that is an identifier, got {fn.get('name')!r}")
            out.append(Tool(fn["name"], str(fn.get("description") or ""), fn.get("parameters")))
        else:
            out.append(tool(item))
    names = [t.name for t in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ToolError(f"two tools are named {', '.join(twice)}: give one another name with tool(f, name=...)")
    return out


# ----------------------------------------------------------------------------- schema from a signature


def _read_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and each parameter's description (``Args:`` section or ``:param x:``)."""
    paragraphs = re.split(r"\n\s*\n", doc.strip(), maxsplit=1)
    summary = (
        " ".join(paragraphs[0].split()) if paragraphs and not paragraphs[0].startswith(("Args:", ":param")) else ""
    )
    params: dict[str, str] = {}
    for m in re.finditer(r"^\s*:param\s+(?:\w+\s+)?(\w+):\s*(.+)$", doc, re.M):
        params[m.group(1)] = m.group(2).strip()
    section = re.search(r"^(?:Args|Arguments|Parameters):\s*\n((?:[ \t]+.*\n?|\s*\n)+)", doc, re.M)
    if section:
        current = None
        for line in section.group(1).splitlines():
            m = re.match(r"^\s+(\*{0,2}\w+)\s*(?:\([^)]*\))?:\s*(.*)$", line)
            if m:
                current = m.group(1).lstrip("*")
                params[current] = m.group(2).strip()
            elif current and line.strip():
                params[current] = f"{params[current]} {line.strip()}".strip()
    return summary, params


def _schema(function: Callable[..., Any], params_doc: dict[str, str]) -> dict[str, Any]:
    signature = inspect.signature(function)
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # a hint that does not resolve: use the raw annotations
        hints = {}
    properties: dict[str, Any] = {}
    required = []
    extra = False
    for p in signature.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            raise ToolError(f"{function.__name__}(*{p.name}): a tool's arguments are named; *args cannot be described")
        if p.kind is p.VAR_KEYWORD:
            extra = True
            continue
        hint = hints.get(p.name, p.annotation)
        prop = _json_type(hint, f"{function.__name__}({p.name})") if hint is not inspect.Parameter.empty else {}
        if p.name in params_doc:
            prop = {**prop, "description": params_doc[p.name]}
        if p.default is not inspect.Parameter.empty and _jsonable(p.default):
            prop = {**prop, "default": p.default}
        properties[p.name] = prop
        if p.default is inspect.Parameter.empty:
            required.append(p.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if not extra:
        schema["additionalProperties"] = False
    return schema


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


_SCALAR = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _json_type(hint: Any, where: str) -> dict[str, Any]:
    if hint is Any:
        return {}
    if hint in _SCALAR:
        return {"type": _SCALAR[hint]}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"type": "string", "enum": [str(m.value) for m in hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        kinds = {type(a) for a in args}
        kind = _SCALAR.get(kinds.pop()) if len(kinds) == 1 else None
        return {"type": kind, "enum": list(args)} if kind else {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _json_type(rest[0], where)
        return {"type": [_json_type(a, where).get("type", "string") for a in rest]}
    if hint in (list, tuple, set) or origin in (list, tuple, set, Sequence):
        return {"type": "array", "items": _json_type(args[0], where)} if args else {"type": "array"}
    if hint is dict or origin in (dict, Mapping):
        return {"type": "object"}
    raise ToolError(f"{where}: {hint!r} has no JSON type: use str, int, float, bool, list, dict or Literal[...]")


# ----------------------------------------------------------------------------- checking and running a call


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def check_arguments(schema: Mapping[str, Any] | None, arguments: Any) -> str | None:
    """Why ``arguments`` (parsed JSON) do not fit ``schema``, in one line; None when they do.

    Checks what function schemas use: an object's required and unknown keys, each value's ``type``
    (a list of types too), ``enum``, and an array's ``items``; other keywords are left to the function.
    """
    return _check(schema or {"type": "object"}, arguments, "arguments")


def _check(schema: Mapping[str, Any], value: Any, where: str) -> str | None:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    if kinds and not any(_CHECKS.get(k, lambda v: True)(value) for k in kinds):
        return f"{where} should be {' or '.join(kinds)}, got {json.dumps(value)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} should be one of {', '.join(json.dumps(v) for v in schema['enum'])}, got {json.dumps(value)}"
    if isinstance(value, dict) and ("object" in kinds or "properties" in schema):
        props = schema.get("properties") or {}
        missing = [k for k in schema.get("required") or [] if k not in value]
        if missing:
            return f"missing {', '.join(missing)} (required) in {where}"
        unknown = [k for k in value if k not in props]
        if unknown and schema.get("additionalProperties") is False:
            known = ", ".join(props) or "none"
            return f"no parameter named {', '.join(unknown)} in {where} (the parameters are: {known})"
        for key, sub in props.items():
            if key in value and isinstance(sub, Mapping):
                said = _check(sub, value[key], key)
                if said:
                    return said
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            said = _check(schema["items"], item, f"{where}[{i}]")
            if said:
                return said
    return None


def _as_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(result)


def _cut(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return f"{text[:limit]}… [cut: {len(text):,} characters in all, the first {limit:,} shown]", True


def run_call(tools: Sequence[Tool], recipient: str, arguments: str, *, limit: int | None = None) -> ToolResult:
    """Run the call the model addressed to ``recipient`` (``functions.NAME``) with ``arguments`` (its JSON text).

    Whatever goes wrong becomes the text the model reads, so it can try again: an unknown tool, arguments
    that are not JSON or do not fit the schema, or the function raising (``Error: ValueError: ...``).
    A KeyboardInterrupt (Ctrl-C, Stop) is not caught: the Lab keeps what came before it.
    """
    name = recipient.removeprefix("functions.")
    found = next((t for t in tools if t.name == name), None)
    start = time.perf_counter()

    def result(text: str, ok: bool) -> ToolResult:
        most = limit if limit is not None else found.limit if found is not None else MAX_RESULT_CHARS
        shown, cut = _cut(text, most)
        return ToolResult(name, arguments, shown, ok, time.perf_counter() - start, cut)

    if found is None or found.function is None:
        names = ", ".join(t.name for t in tools if t.function is not None) or "none"
        name = recipient if found is None and recipient in BUILTIN_TOOLS else name
        return result(f"Error: there is no tool named {name!r} to run (the tools are: {names})", False)
    if found.raw:  # code for the python tool
        try:
            return result(_as_text(found.function(arguments)), True)
        except KeyboardInterrupt:
            raise
        except Exception as err:
            return result(f"Error: {type(err).__name__}: {err}", False)
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError as err:
        return result(f"Error: the arguments are not JSON ({err.msg} at character {err.pos}): {arguments}", False)
    said = check_arguments(found.parameters, parsed)
    if said:
        return result(f"Error: {said}", False)
    try:
        value = found.function(**parsed)
    except KeyboardInterrupt:
        raise
    except Exception as err:
        return result(f"Error: {type(err).__name__}: {err}", False)
    return result(_as_text(value), True)
