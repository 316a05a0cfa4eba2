"""Tools from Python functions: the schema read from a signature, arguments checked, calls run, results cut."""

from __future__ import annotations

import enum
from typing import Literal

import pytest

from gptoss_lab._tools import render_functions_namespace
from gptoss_lab.tools import Tool, ToolError, as_tools, check_arguments, run_call, tool


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


def forecast(city: str, days: int, unit: Unit = Unit.C, hourly: bool = False, tags: list[str] | None = None) -> str:
    """The forecast for a city.

    More text that is not the summary.

    Args:
        city: the city's name,
            as people write it
        days: how many days ahead
    """
    return f"{city} {days}"


def test_the_schema_comes_from_the_signature_hints_and_docstring():
    t = tool(forecast)
    assert t.name == "forecast" and t.description == "The forecast for a city."
    assert t.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "the city's name, as people write it"},
            "days": {"type": "integer", "description": "how many days ahead"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "hourly": {"type": "boolean", "default": False},
            "tags": {"type": "array", "items": {"type": "string"}, "default": None},
        },
        "required": ["city", "days"],
        "additionalProperties": False,
    }
    namespace = render_functions_namespace([t.spec()])
    assert "// The forecast for a city.\ntype forecast = (_: {" in namespace
    assert "// the city's name, as people write it\ncity: string," in namespace


def test_sphinx_params_literals_kwargs_and_decorator_names():
    @tool(name="lookup")
    def find(kind: Literal["a", "b"], score: float = 1.0, **rest) -> None:
        """:param kind: which kind"""

    assert find.name == "lookup" and find.description == ""
    assert find.parameters["properties"]["kind"] == {"type": "string", "enum": ["a", "b"], "description": "which kind"}
    assert find.parameters["properties"]["score"] == {"type": "number", "default": 1.0}
    assert "additionalProperties" not in find.parameters  # **rest takes other keys


def test_what_cannot_be_a_tool_says_what_to_do():
    def spread(*values: int) -> int:
        return sum(values)

    with pytest.raises(ToolError, match=r"\*args cannot be described"):
        tool(spread)
    with pytest.raises(ToolError, match="name=") as err:  # a lambda's name is not an identifier
        tool(lambda x: x)
    assert "<lambda>" in str(err.value)

    def odd(x: complex) -> None: ...

    with pytest.raises(ToolError, match=r"odd\(x\).*has no JSON type"):
        tool(odd)
    with pytest.raises(ToolError, match="two tools are named forecast"):
        as_tools([forecast, forecast])
    with pytest.raises(ToolError, match="not int"):
        as_tools([3])


def test_openai_dicts_are_declared_only():
    (t,) = as_tools([{"type": "function", "function": {"name": "f", "description": "d", "parameters": {}}}])
    assert t == Tool("f", "d", {}) and t.function is None
    assert t.spec() == {"type": "function", "function": {"name": "f", "description": "d", "parameters": {}}}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ({"city": "Oslo", "days": 2}, None),
        ({"city": "Oslo", "days": 2, "unit": "fahrenheit", "tags": ["a"]}, None),
        ({"days": 2}, "missing city (required) in arguments"),
        ({"city": "Oslo", "days": 2.5}, "days should be integer, got 2.5"),
        ({"city": "Oslo", "days": True}, "days should be integer, got true"),
        ({"city": "Oslo", "days": 2, "unit": "kelvin"}, 'unit should be one of "celsius", "fahrenheit", got "kelvin"'),
        ({"city": "Oslo", "days": 2, "tags": ["a", 3]}, "tags[1] should be string, got 3"),
        ({"city": "Oslo", "days": 2, "when": "now"}, "no parameter named when in arguments (the parameters are: "
         "city, days, unit, hourly, tags)"),
        ([1, 2], "arguments should be object, got [1, 2]"),
    ],
)  # fmt: skip
def test_arguments_are_checked_against_the_schema(args, said):
    assert check_arguments(tool(forecast).parameters, args) == said


def test_run_call_runs_and_reports_every_failure_as_text():
    tools = as_tools([forecast, {"name": "declared"}])
    ok = run_call(tools, "functions.forecast", '{"city": "Oslo", "days": 3}')
    assert ok.ok and ok.output == "Oslo 3" and ok.name == "forecast" and ok.seconds >= 0
    assert (
        run_call(tools, "functions.nope", "{}").output
        == "Error: there is no tool named 'nope' to run (the tools are: forecast)"
    )
    assert run_call(tools, "functions.declared", "{}").output.startswith("Error: there is no tool named 'declared'")

    def boom() -> None:
        raise RuntimeError("disk full")

    assert run_call(as_tools([boom]), "functions.boom", "").output == "Error: RuntimeError: disk full"

    def big() -> dict:
        return {"text": "x" * 10_000}

    cut = run_call(as_tools([big]), "functions.big", "{}", limit=100)
    assert (
        cut.truncated
        and cut.output.startswith('{"text": "xxx')
        and "10,012 characters in all, the first 100" in cut.output
    )
    assert len(cut.output) < 200

    def stopped() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_call(as_tools([stopped]), "functions.stopped", "{}")
    assert ok.message() == {"role": "tool", "name": "forecast", "content": "Oslo 3"}
