"""Render OpenAI function tools as the TypeScript-like ``functions`` namespace of gpt-oss.

gpt-oss's harmony developer message lists function tools under ``# Tools`` as TypeScript-ish
type declarations.  :func:`render_functions_namespace` reproduces, byte for byte, the text that
openai-harmony 0.0.8 renders there, with the standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

__all__ = ["render_functions_namespace"]

_NESTED = "    "  # extra indent for the properties of a nested object
_VARIANT = "   "  # extra indent for the body of a ``oneOf`` variant
_POW10 = [float(f"1e{i}") for i in range(309)]  # serde_json's power-of-ten table
_SCALARS = {"number": "number", "integer": "number", "boolean": "boolean"}


def render_functions_namespace(tools: Sequence[Mapping[str, Any]]) -> str:
    """Return the ``## functions`` section that openai-harmony writes after ``# Tools\\n\\n``.

    ``tools`` are OpenAI tool dicts, ``{"type": "function", "function": {...}}`` or the inner
    ``{"name", "description", "parameters"}`` mapping.  Each tool becomes its description as
    ``// `` comment lines (split like Rust's ``str::lines``) followed by
    ``type NAME = (_: PARAMS) => any;`` or, without ``parameters``, ``type NAME = () => any;``.
    Tools keep their order and property keys keep their insertion order (harmony's serde_json
    preserves it).  An empty ``tools`` gives just ``"## functions\\n"``, as harmony does.
    """
    parts = ["## functions\n"]
    if tools:
        parts.append("namespace functions {\n")
        for tool in tools:
            fn = tool["function"] if isinstance(tool.get("function"), Mapping) else tool
            parts.extend(f"// {line}" for line in _rust_lines(fn.get("description") or ""))
            params = fn.get("parameters")
            args = "" if params is None else f"_: {_ts(params, '')}"
            parts.append(f"type {fn['name']} = ({args}) => any;\n")
        parts.append("} // namespace functions")
    return "\n".join(parts)


def _ts(schema: Any, indent: str) -> str:
    """Translate a JSON schema to harmony's TypeScript-like type text.

    Rules, checked in this order (a non-object schema behaves like ``{}``):

    * ``oneOf`` list: each variant on its own line ``\\n{indent} | TYPE``, rendered with three
      more spaces of indent, ``| null`` added for ``nullable: true``, then a trailing
      ``// description default: ...`` comment (an enum's string default is JSON-quoted here).
    * ``type`` list: the type names joined by `` | `` (``integer`` -> ``number``).
    * ``object``: ``{indent}// description`` line if any, then ``{``, one line per property
      (see :func:`_prop`) and ``{indent}}``; nested objects get four more spaces of indent.
    * ``string``: its string ``enum`` values quoted and joined by `` | ``, else ``string``.
    * ``number``/``integer`` -> ``number``; ``boolean``; ``array`` -> ``ITEMS[]``, or
      ``Array<any>`` without ``items``.
    * anything else (``anyOf``, ``allOf``, ``$ref``, ``null``, no ``type``) -> ``any``.
    """
    s: Mapping[str, Any] = schema if isinstance(schema, Mapping) else {}
    one_of = s.get("oneOf")
    if isinstance(one_of, list):
        return "".join(f"\n{indent} | {_variant(v, indent, _desc(v), raw_enum_default=False)}" for v in one_of)
    kind = s.get("type")
    if isinstance(kind, list):
        names = ["number" if k == "integer" else k for k in kind if isinstance(k, str)]
        return " | ".join(names) or "any"
    if kind == "object":
        head = f"{indent}// {s['description']}\n" if _desc(s) is not None else ""
        props = s.get("properties")
        required = s.get("required")
        req = {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
        body = (
            "".join(_prop(str(k), v, indent, k in req) for k, v in props.items()) if isinstance(props, Mapping) else ""
        )
        return f"{head}{{\n{body}{indent}}}"
    if kind == "string":
        enum = s.get("enum")
        values = [f'"{e}"' for e in enum if isinstance(e, str)] if isinstance(enum, list) else []
        return " | ".join(values) or "string"
    if kind == "array":
        return f"{_ts(s['items'], indent)}[]" if "items" in s else "Array<any>"
    return _SCALARS.get(kind, "any") if isinstance(kind, str) else "any"


def _prop(key: str, schema: Any, indent: str, required: bool) -> str:
    """One object property: ``title``/``description``/``examples`` comments, then the type.

    A ``title`` becomes ``// title`` plus an empty ``//`` line; string ``examples`` are listed
    under ``// Examples:``.  A plain property is ``key?: TYPE, // default: ...`` (``?`` unless
    required; ``| null`` when ``nullable``).  A ``oneOf`` property puts its description (unless
    the first variant repeats it) and default above ``key?:`` and lists variants as `` | TYPE``
    lines closed by ``,``.  Non-enum string defaults are quoted raw, enum ones left bare.
    """
    v: Mapping[str, Any] = schema if isinstance(schema, Mapping) else {}
    opt = "" if required else "?"
    out = f"{indent}// {v['title']}\n{indent}//\n" if isinstance(v.get("title"), str) else ""
    desc = _desc(v)
    if desc is not None and "oneOf" not in v:
        out += f"{indent}// {desc}\n"
    examples = v.get("examples")
    if isinstance(examples, list) and examples:
        out += f"{indent}// Examples:\n"
        out += "".join(f'{indent}// - "{e}"\n' for e in examples if isinstance(e, str))
    one_of = v.get("oneOf")
    if not isinstance(one_of, list):
        out += f"{indent}{key}{opt}: {_nullable(v, _ts(v, indent + _NESTED))},"
        if "default" in v and "oneOf" not in v:
            out += f" // {_default(v, raw_enum_default=True)}"
        return out + "\n"
    above = desc is not None and not (one_of and _desc(one_of[0]) == desc)
    if above:
        out += f"{indent}// {desc}\n"
    if "default" in v:
        out += f"{indent}// {_default(v, raw_enum_default=True)}\n"
    out += f"{indent}{key}{opt}:\n"
    for i, variant in enumerate(one_of):
        own = _desc(variant)
        shown = None if (i == 0 and above) or own == desc else own
        out += f"{indent} | {_variant(variant, indent, shown, raw_enum_default=True)}\n"
    return out + f"{indent},\n"


def _variant(schema: Any, indent: str, desc: str | None, *, raw_enum_default: bool) -> str:
    """A ``oneOf`` variant: its type, ``| null`` if nullable, then ``// desc default: ...``."""
    v: Mapping[str, Any] = schema if isinstance(schema, Mapping) else {}
    comments = [] if desc is None else [desc]
    if "default" in v:
        comments.append(_default(v, raw_enum_default=raw_enum_default))
    text = _nullable(v, _ts(v, indent + _VARIANT))
    return f"{text} // {' '.join(comments)}" if comments else text


def _desc(schema: Any) -> str | None:
    desc = schema.get("description") if isinstance(schema, Mapping) else None
    return desc if isinstance(desc, str) else None


def _nullable(schema: Mapping[str, Any], text: str) -> str:
    return f"{text} | null" if schema.get("nullable") is True and "null" not in text else text


def _default(schema: Mapping[str, Any], *, raw_enum_default: bool) -> str:
    """``default: ...``: strings in raw quotes (enum ones bare or JSON), the rest as JSON."""
    value = schema["default"]
    if isinstance(value, str):
        enum = schema.get("enum")
        if not (isinstance(enum, list) and enum):
            return f'default: "{value}"'
        if raw_enum_default:
            return f"default: {value}"
    return f"default: {_json(value)}"


def _json(value: Any) -> str:
    """Compact JSON as serde_json's ``Display`` writes it (unescaped unicode, ryu floats)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, Mapping):
        items = (f"{_json(k if isinstance(k, str) else json.dumps(k))}:{_json(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _number(value: float) -> str:
    """A number as harmony shows it: Python's JSON text re-read by serde_json, then printed.

    serde_json (without ``float_roundtrip``) keeps integers that fit u64/i64 exact; otherwise it
    keeps the leading digits that fit a u64, counts the dropped ones as powers of ten and builds
    ``digits * 10**exponent`` with one rounded multiply or divide, which can be an ulp off.
    """
    if isinstance(value, int) and -(2**63) <= value < 2**64:
        return str(value)
    sign, digit_tuple, exponent = Decimal(repr(value) if isinstance(value, float) else value).as_tuple()
    significand, used = 0, 0
    while used < len(digit_tuple) and significand * 10 + digit_tuple[used] < 2**64:
        significand, used = significand * 10 + digit_tuple[used], used + 1
    exponent = int(exponent) + len(digit_tuple) - used
    x = float(significand)
    while exponent < -308 and x != 0.0:
        x, exponent = x / 1e308, exponent + 308
    if abs(exponent) <= 308:
        x = x * _POW10[exponent] if exponent >= 0 else x / _POW10[-exponent]
    return _ryu(-x if sign else x)


def _ryu(x: float) -> str:
    """Format a finite float like Rust's ryu: shortest digits, ``1e16``, ``0.00001``, ``1.0``."""
    sign = "-" if str(x).startswith("-") else ""
    if x == 0:
        return f"{sign}0.0"
    _, digit_tuple, exp = Decimal(repr(abs(x))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    k = int(exp) + len(digit_tuple) - len(digits)  # value = int(digits) * 10**k
    point = len(digits) + k  # 10**(point-1) <= value < 10**point
    if k >= 0 and point <= 16:
        text = f"{digits}{'0' * k}.0"
    elif 0 < point <= 16:
        text = f"{digits[:point]}.{digits[point:]}"
    elif -5 < point <= 0:
        text = f"0.{'0' * -point}{digits}"
    else:
        mantissa = digits if len(digits) == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{mantissa}e{point - 1}"
    return sign + text


def _rust_lines(text: str) -> list[str]:
    """Split like Rust's ``str::lines``: on ``\\n`` or ``\\r\\n``, no empty last line."""
    *ended, last = text.split("\n")
    lines = [line.removesuffix("\r") for line in ended]
    return [*lines, last] if last else lines
