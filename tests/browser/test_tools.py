"""A reply with tool calls in JupyterLab: every step shown in order and labelled, escaped, never typeset,
readable in Light and Dark."""

from __future__ import annotations

import pytest

from .notebook_page import errors_of, write_notebook
from .test_payload import _CONTRAST_JS

pytestmark = pytest.mark.browser

# nano's tokenizer and Lab with the generation loop replaced by two rounds of script: a preamble and a call,
# then (after the tool's result) the reasoning and the answer; all of it through the real parser and renderer
_SCRIPTED = """
import gptoss_lab.generate
from gptoss_lab import Lab

ROUNDS = [
    "<|channel|>analysis<|message|>The user wants the weather; call the tool.<|end|>"
    "<|start|>assistant<|channel|>commentary<|message|>Let me check the weather in Oslo.<|end|>"
    '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json'
    '<|message|>{"city": "Oslo <b>x</b>", "note": "$5 and $10"}<|call|>',
    "<|channel|>analysis<|message|>The tool says sunny, 21 C.<|end|>"
    "<|start|>assistant<|channel|>final<|message|>It is sunny in Oslo, 21 C.<|return|>",
]
encode = Lab().handle.load().encode
scripts = [encode(r) for r in ROUNDS]

def scripted_generate(*args, **kwargs):
    yield from scripts.pop(0)

gptoss_lab.generate.generate_ids = scripted_generate

def get_weather(city: str, note: str = "") -> dict:
    '''The weather now in a city.'''
    return {"city": city, "sky": "sunny", "temperature": 21, "price": "$5 or $10"}
"""


def test_every_step_of_a_tool_exchange_shows_in_order_light_and_dark(notebook):
    page = notebook.page
    write_notebook(
        notebook.server.root / "tools.ipynb",
        ["%load_ext gptoss_lab", _SCRIPTED, "%%gptoss --effort low --tools get_weather\nWeather in Oslo?"],
    )
    notebook.open("tools.ipynb")
    notebook.run_all()
    assert errors_of(notebook.save()) == []
    reply = notebook.cell(2).locator(".gptoss-reply")
    text = reply.inner_text()
    steps = ["round 1", "preamble", "Let me check the weather in Oslo.", "tool call", "→ functions.get_weather("]
    steps += ["tool result · functions.get_weather", '"sky": "sunny"', "round 2", "It is sunny in Oslo, 21 C."]
    at = [text.find(s) for s in steps]
    assert -1 not in at and at == sorted(at), (steps, at, text)
    assert reply.locator("b, mjx-container").count() == 0  # markup shown as text, dollars not typeset
    assert "Oslo <b>x</b>" in reply.locator(".gptoss-tool-call").inner_text()
    assert "$5 or $10" in reply.locator(".gptoss-tool-result").inner_text()
    reply.locator(".gptoss-tool-round details.gptoss-reasoning summary").click()
    assert "call the tool" in reply.locator(".gptoss-tool-round .gptoss-reasoning-text").inner_text()
    parts = [".gptoss-preamble", ".gptoss-tool-call", ".gptoss-tool-result", ".gptoss-answer", ".gptoss-stats"]
    notebook.shots.take(reply, "tools-light")
    light = page.evaluate(_CONTRAST_JS, parts)
    try:
        notebook.theme("JupyterLab Dark")
        notebook.shots.take(reply, "tools-dark")
        dark = page.evaluate(_CONTRAST_JS, parts)
    finally:
        notebook.theme("JupyterLab Light")
    for theme, ratios in (("light", light), ("dark", dark)):
        assert all(ratio >= 4.5 for ratio in ratios.values()), (theme, ratios)  # WCAG AA for text


def test_the_playground_shows_a_tool_exchange_step_by_step(notebook):
    page = notebook.page
    setup = _SCRIPTED + "\nfrom gptoss_lab import Playground\n"
    setup += "pg = Playground(Lab(), prompt='Weather in Oslo?', effort='low', tools=[get_weather])\npg"
    write_notebook(notebook.server.root / "tools_playground.ipynb", [setup])
    notebook.open("tools_playground.ipynb")
    notebook.run_all()
    assert errors_of(notebook.save()) == []
    playground = page.locator(".jp-OutputArea-output .gptoss-playground.jupyter-widgets")
    playground.wait_for(timeout=30_000)
    playground.locator("button.gptoss-generate").click()
    playground.locator(".gptoss-stats").filter(has_text="finished").wait_for(timeout=60_000)
    answer = playground.locator(".gptoss-answer")
    text = playground.locator(".gptoss-columns").inner_text()
    steps = ["round 1", "Let me check the weather in Oslo.", "→ functions.get_weather(", '"sky": "sunny"']
    steps += ["round 2", "The tool says sunny", "It is sunny in Oslo, 21 C."]
    at = [text.find(s) for s in steps]
    assert -1 not in at and at == sorted(at), (at, text)
    assert answer.locator("b, mjx-container").count() == 0
    notebook.shots.take(playground, "playground-tools")
