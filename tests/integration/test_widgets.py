"""Playground and Explorer driven from Python: the scripted fake model for exact behaviour, nano for real."""

from __future__ import annotations

import html
import sys
import threading
from typing import Any

import pytest
from IPython.core.error import UsageError

from tests.unit.test_magics import shell as ipython_shell

shell = ipython_shell  # the fixture: a fresh in-memory IPython shell per test

pytest.importorskip("ipywidgets")
pytest.importorskip("plotly")
pytest.importorskip("anywidget")

COMPLETION = "<|channel|>analysis<|message|>Add 2 and 2.<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>"
PAYLOAD = (
    '<|channel|>analysis<|message|><script>alert(1)</script> & "q"<|end|>'
    "<|start|>assistant<|channel|>final<|message|><img src=x onerror=alert(2)><|return|>"
)
WAIT = 120  # seconds: a ceiling for a stuck thread, never a measurement


def gate(fake: Any, at: int) -> tuple[threading.Event, threading.Event]:
    """Make the fake model's forward call number ``at`` (0 = the prompt) signal ``reached`` and wait for ``release``."""
    reached, release = threading.Event(), threading.Event()
    forward = fake.forward

    def gated(*args: Any, **kwargs: Any) -> Any:
        if len(fake.calls) == at:
            reached.set()
            assert release.wait(WAIT), "the test never released the model"
        return forward(*args, **kwargs)

    fake.forward = gated
    return reached, release


def playground(lab: Any, **kwargs: Any) -> Any:
    from gptoss_lab.widgets import Playground

    return Playground(lab, temperature=0, **{"prompt": "What is 2+2?", **kwargs})


# -- Playground


def test_generate_fills_reasoning_and_answer_panels_apart(scripted_lab):
    lab, _ = scripted_lab(COMPLETION)
    pg = playground(lab)
    assert pg.stop_button.disabled and not pg.generate_button.disabled
    pg.generate_button.click()
    reply = pg.join(WAIT)
    assert not pg.running and pg.error == ""
    assert reply.reasoning == "Add 2 and 2." and reply.answer == "4"
    panel = pg.panels[0]
    assert "Add 2 and 2." in panel.reasoning.value and "Add 2 and 2." not in panel.answer.value
    assert panel.answer.value.endswith(">4</div>")
    assert "finished" in panel.stats.value and "effort medium" in panel.stats.value
    # kept in the Lab's replies; not a turn of the conversation unless "follow up" is ticked
    assert pg.replies == {"medium": reply} and lab.replies[-1] is reply
    assert lab.history == []
    assert not pg.generate_button.disabled and pg.stop_button.disabled
    for widget, name in ((pg, "gptoss-playground"), (panel.reasoning, "gptoss-reasoning")):
        assert name in widget._dom_classes
    assert "gptoss-answer" in panel.answer._dom_classes and "gptoss-stats" in panel.stats._dom_classes
    assert (pg.generate_button.description, pg.stop_button.description) == ("Generate", "Stop")


def test_effort_buttons_grey_out_while_comparing(scripted_lab):
    lab, _ = scripted_lab(COMPLETION)
    pg = playground(lab)
    assert not pg.effort.disabled
    pg.compare.value = True
    assert pg.effort.disabled  # every effort runs: the buttons would do nothing
    pg.compare.value = False
    assert not pg.effort.disabled
    assert playground(lab, compare=True).effort.disabled


def test_generate_twice_asks_afresh_unless_follow_up_is_ticked(scripted_lab):
    lab, _ = scripted_lab(COMPLETION)
    pg = playground(lab)
    assert not pg.follow_up.value and "no earlier turns yet" in pg.follow_up.description
    pg.start()
    first = pg.join(WAIT)
    pg.start()
    again = pg.join(WAIT)
    assert again.prompt_ids == first.prompt_ids  # the same question pressed twice: the same prompt
    assert lab.history == [] and lab.replies == [first, again]
    pg.follow_up.value = True
    pg.start()
    follow = pg.join(WAIT)
    assert follow.prompt_ids == first.prompt_ids  # nothing earlier to send yet
    assert [t["role"] for t in lab.history] == ["user", "assistant"]
    assert "1 earlier turn)" in pg.follow_up.description
    pg.start()
    assert len(pg.join(WAIT).prompt_ids) > len(first.prompt_ids)  # now the earlier turn is sent
    assert len(lab.history) == 4 and "2 earlier turns" in pg.follow_up.description


def test_html_in_a_reply_is_escaped_in_the_panels(scripted_lab):
    lab, _ = scripted_lab(PAYLOAD)
    pg = playground(lab)
    pg.start()
    reply = pg.join(WAIT)
    assert reply.answer == "<img src=x onerror=alert(2)>"
    panel = pg.panels[0]
    shown = panel.reasoning.value + panel.answer.value + panel.stats.value
    assert "<script" not in shown and "<img" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;" in panel.reasoning.value
    assert "&lt;img src=x onerror=alert(2)&gt;" in panel.answer.value


def test_stop_ends_the_background_reply_early_and_keeps_it(scripted_lab):
    lab, fake = scripted_lab(COMPLETION)
    reached, release = gate(fake, at=6)
    pg = playground(lab)
    pg.generate_button.click()
    assert reached.wait(WAIT)
    # the model is mid-forward in the background thread; this thread is free, as the kernel is
    assert pg.running and pg.generate_button.disabled and not pg.stop_button.disabled
    pg.stop_button.click()
    release.set()
    reply = pg.join(WAIT)
    assert reply.stopped == "interrupted"
    full = lab.handle.load().encode(COMPLETION)
    assert reply.completion_ids == full[:6]  # tokens 0..5 were streamed; the one in flight is dropped
    assert "interrupted" in pg.panels[0].stats.value
    assert pg.panels[0].final_drawn and lab.replies[-1] is reply
    assert not pg.generate_button.disabled and pg.stop_button.disabled


def test_redraws_are_throttled_and_the_final_frame_is_drawn(scripted_lab):
    lab, fake = scripted_lab(COMPLETION)
    pg = playground(lab, min_interval=1e9)  # nothing passes the throttle but the first and the last frame
    pg.start()
    reply = pg.join(WAIT)
    assert len(reply.completion_ids) == len(fake.script) > 2
    assert pg.panels[0].redraws == 2
    assert pg.panels[0].answer.value.endswith(">4</div>") and "finished" in pg.panels[0].stats.value


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("prompt", "   ", "the prompt is empty"),
        ("seed", "abc", "seed must be a whole number, got 'abc'"),
        ("temperature", "hot", "temperature must be a number"),
        ("temperature", "-1", "temperature must be 0 (greedy) or at least 0.01, got -1.0"),
        ("temperature", "1e-45", "temperature must be 0 (greedy) or at least 0.01, got 1e-45"),
        ("temperature", "nan", "temperature must be a finite number, got nan"),
    ],
)
def test_bad_input_is_one_line_in_the_widget(scripted_lab, field, value, words):
    lab, fake = scripted_lab(COMPLETION)
    pg = playground(lab)
    getattr(pg, field).value = value
    assert pg.start() is False
    assert words in pg.error and "\n" not in pg.error
    assert html.escape(words) in pg.status.value
    assert not pg.running and fake.calls == [] and pg.reply is None


def test_model_load_failure_is_shown_not_lost(scripted_lab, monkeypatch):
    lab, _ = scripted_lab(COMPLETION)

    def broken() -> Any:
        raise OSError("checkpoint /x is unreadable\nsecond line")

    monkeypatch.setattr(lab.handle, "load", broken)
    pg = playground(lab)
    pg.start()
    assert pg.join(WAIT) is None
    assert pg.error == "OSError: checkpoint /x is unreadable"
    assert "checkpoint /x is unreadable" in pg.status.value
    assert "Traceback (most recent call last)" in pg.traceback and "<summary>traceback</summary>" in pg.status.value
    assert not pg.running and not pg.generate_button.disabled
    pg.prompt.value = "again"  # a new run clears the error line
    monkeypatch.undo()
    pg.start()
    assert pg.join(WAIT).answer == "4" and pg.error == "" and pg.status.value == ""


def test_compare_stop_skips_the_remaining_efforts(scripted_lab):
    lab, fake = scripted_lab(COMPLETION)
    reached, release = gate(fake, at=3)
    pg = playground(lab, compare=True)
    pg.start()
    assert reached.wait(WAIT)
    pg.stop()
    release.set()
    pg.join(WAIT)
    assert list(pg.replies) == ["low"] and pg.replies["low"].stopped == "interrupted"
    assert [p.title.value for p in pg.panels] == ["<b>low</b>", "<b>medium</b>", "<b>high</b>"]
    assert all("not run" in p.stats.value for p in pg.panels[1:])
    assert lab.history == [] and lab.replies == []  # a comparison is not a turn


@pytest.mark.slow
def test_compare_efforts_on_nano_grows_the_reasoning(nano_lab_factory):
    lab = nano_lab_factory()
    pg = playground(lab, prompt="What is 17 + 25?", compare=True, max_tokens=400)
    pg.start()
    pg.join(WAIT * 3)
    assert pg.error == ""
    assert list(pg.replies) == ["low", "medium", "high"] and len(pg.columns.children) == 3
    tokens = [pg.replies[e].stats.reasoning_tokens for e in ("low", "medium", "high")]
    assert tokens[0] < tokens[1] < tokens[2], tokens
    for effort, panel in zip(("low", "medium", "high"), pg.panels, strict=True):
        reply = pg.replies[effort]
        assert reply.effort == effort and reply.stopped == "return"
        assert f"{reply.stats.reasoning_tokens} reasoning tokens" in panel.stats.value
        assert f"{reply.stats.total_seconds:.1f} s" in panel.stats.value
    assert lab.history == []
    assert pg.replies["high"].explore().lab is lab  # the Explorer finds the model through the Playground


def test_magic_opens_a_playground_on_its_lab(shell, capsys):
    from gptoss_lab.widgets import Playground
    from gptoss_lab.widgets._common import default_lab

    shell.run_line_magic("load_ext", "gptoss_lab")
    pg = shell.run_line_magic("gptoss", "playground --compare --effort high")
    magics = next(c for c in shell.configurables if type(c).__name__ == "GptOssMagics")
    assert isinstance(pg, Playground) and pg.lab is magics.lab and default_lab() is magics.lab
    assert pg.compare.value and pg.effort.value == "high"
    assert (
        capsys.readouterr().out.splitlines()[-1]
        == "to use it from code: pg = _ in the next cell, or %gptoss playground --out pg"
    )
    named = shell.run_line_magic("gptoss", "playground --out pg")
    assert shell.user_ns["pg"] is named and isinstance(named, Playground)
    assert "the Playground is pg: pg.reply is its last reply" in capsys.readouterr().out
    with pytest.raises(UsageError, match="--out takes a variable name"):
        shell.run_line_magic("gptoss", "playground --out 2pg")


def test_missing_ipywidgets_says_what_to_install(monkeypatch):
    from gptoss_lab.widgets._common import require_widgets

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails as if not installed
    rule = r"^gptoss_lab's widgets need ipywidgets, .*: pip install 'gptoss-lab\[widgets\]'$"
    with pytest.raises(ImportError, match=rule):
        require_widgets()


def test_live_routing_strip_fills_as_tokens_stream(nano_lab_factory):
    np = pytest.importorskip("numpy")
    lab = nano_lab_factory()
    pg = playground(lab, prompt="What is 17 + 25?", effort="low", routing=True, min_interval=0)
    strip = pg._strip()
    widths: list[int] = []
    show = strip.show

    def recording(n_prompt: int) -> None:
        show(n_prompt)
        widths.append(len(strip.figure.data[0].x))

    strip.show = recording
    pg.start()
    reply = pg.join(WAIT)
    assert pg.error == "" and reply.trace is not None
    assert widths[0] <= 2 and widths == sorted(widths) and len(set(widths)) > 10  # it filled as tokens came
    want = reply.trace.topk_experts[reply.trace.n_prompt :, :, 0].T  # (L, generated tokens routed)
    np.testing.assert_array_equal(np.array(strip.figure.data[0].z), want)
    model = lab.handle.load().model
    assert all(not layer.mlp.router._forward_hooks for layer in model.model.layers)  # hooks came off


# -- Explorer


@pytest.fixture(scope="module")
def nano_reply(nano_lab_factory):
    lab = nano_lab_factory()
    return lab, lab.ask("What is 17 + 25?", effort="low", temperature=0, max_new_tokens=40)


def test_explorer_click_redraws_the_figures_in_their_panes(nano_reply):
    np = pytest.importorskip("numpy")
    from gptoss_lab.attention import attention
    from gptoss_lab.viz import head_view, token_path

    lab, reply = nano_reply
    trace = reply.trace
    ex = reply.explore(lab=lab)
    path, att = ex.path_figure, ex.attention_figure
    assert ex.selected == trace.n_prompt and ex.message == ""
    t = trace.n_tokens - 3
    before = np.array(att.figure.data[1].z)
    ex.strip.selected = t  # what the front end sends when the token is clicked
    assert ex.selected == t and ex.token_select.value == t
    assert ex.path_figure is path and ex.attention_figure is att  # same widgets, new figures
    want = token_path(trace, t)
    for got, expected in zip(path.figure.data, want.data, strict=True):
        assert got.name == expected.name
    np.testing.assert_array_equal(path.figure.data[2].y, trace.topk_experts[t].ravel())
    np.testing.assert_array_equal(path.figure.data[0].z, want.data[0].z)
    aw = attention(lab, trace, 0, queries=[t])
    view = head_view(aw, t)
    assert att.figure.data[0].name == "sink" and att.figure.data[1].name == "weights"
    np.testing.assert_allclose(np.array(att.figure.data[1].z), view.data[1].z)
    np.testing.assert_allclose(np.array(att.figure.data[0].z)[:, 0], aw.sink[:, 0])
    assert len(att.figure.data[1].y) == trace.config["num_attention_heads"]  # a row per head
    after = np.array(att.figure.data[1].z)
    assert after.shape != before.shape or not np.allclose(after, before)


def test_explorer_layer_head_and_expert_selectors(nano_reply):
    np = pytest.importorskip("numpy")
    from gptoss_lab.attention import attention
    from gptoss_lab.viz import head_view, routing_map

    lab, reply = nano_reply
    trace = reply.trace
    ex = explorer(reply, lab=lab)
    t = trace.n_tokens - 1
    ex.selected = t
    ex.layer_select.value = 1
    ex.head_select.value = 2
    aw = attention(lab, trace, 1, heads=[2], queries=[t])
    assert list(ex.attention_figure.figure.data[1].y) == ["head 2"]
    np.testing.assert_allclose(np.array(ex.attention_figure.figure.data[1].z), head_view(aw, t).data[1].z)
    assert "layer 1" in ex.attention_figure.figure.layout.title.text
    band = [s for s in ex.path_figure.figure.layout.shapes if s.type == "rect"]
    assert [(s.x0, s.x1) for s in band] == [(0.5, 1.5)]  # the selected layer, shaded
    expert = trace.n_experts - 1
    ex.expert_select.value = expert
    np.testing.assert_array_equal(ex.expert_figure.figure.data[0].z, routing_map(trace, highlight=expert).data[0].z)
    marks = [s.x0 for s in ex.expert_figure.figure.layout.shapes if s.name == "selected token"]
    assert marks == [t]


def test_explorer_click_while_a_reply_streams_says_the_lab_is_busy(nano_reply):
    lab, reply = nano_reply
    ex = explorer(reply, lab=lab)
    assert ex.message == ""
    streaming, release = threading.Event(), threading.Event()

    def on_update(_: Any) -> None:
        streaming.set()
        release.wait(WAIT)

    worker = threading.Thread(target=lambda: lab.ask("Hi", effort="low", max_new_tokens=3, on_update=on_update))
    worker.start()
    try:
        assert streaming.wait(WAIT)
        ex.selected = ex.selected + 1  # a click while a Playground generates with the same model
        assert "already writing a reply" in ex.message and "cannot recompute attention now" in ex.message
        assert "traceback" not in ex.note.value  # bad timing, not a bug: one line
    finally:
        release.set()
        worker.join(WAIT)
    ex.selected = ex.selected + 1
    assert ex.message == "" and len(ex.attention_figure.figure.data) > 0  # free again: the recompute runs


def test_a_failing_attention_recompute_shows_its_traceback(nano_reply, monkeypatch):
    lab, reply = nano_reply
    ex = explorer(reply, lab=lab)

    def bug(*args: Any, **kwargs: Any) -> Any:
        raise IndexError("index 7 is out of bounds for dimension 0 with size 4")

    monkeypatch.setattr("gptoss_lab.attention.attention_of", bug)
    ex.selected = ex.selected + 1
    assert ex.message == "IndexError: index 7 is out of bounds for dimension 0 with size 4"
    assert "<summary>traceback</summary>" in ex.note.value and "Traceback (most recent call last)" in ex.note.value


def test_explorer_finds_no_model_for_a_foreign_trace(nano_reply):
    from dataclasses import replace

    from gptoss_lab.widgets.explorer import NO_MODEL

    _, reply = nano_reply
    foreign = replace(reply, trace=replace(reply.trace, config={**reply.trace.config, "model": "someone-else"}))
    ex = explorer(foreign)
    assert ex.lab is None and ex.message == NO_MODEL and NO_MODEL in html.unescape(ex.note.value)
    names = [t.name for t in ex.path_figure.figure.data]
    assert names == ["router probability", "top-1 path", "chosen"]  # routing works


def test_explorer_without_a_trace_says_so_and_escapes(scripted_lab):
    from gptoss_lab.widgets.explorer import NO_TRACE

    lab, _ = scripted_lab(PAYLOAD)
    reply = lab.ask("hi", temperature=0)
    assert reply.trace is None
    ex = reply.explore()
    assert ex.message == NO_TRACE and "gptoss-explorer" in ex._dom_classes
    shown = "".join(child.value for child in ex.children)
    assert "need a local model with capture on" in shown
    assert "<script" not in shown and "&lt;script&gt;" in shown and "&lt;img src=x" in shown


def test_token_strip_writes_tokens_as_text_never_as_html():
    from gptoss_lab.widgets.explorer import TokenStrip

    assert "textContent = text" in TokenStrip._esm and "innerHTML" not in TokenStrip._esm
    assert "http" not in TokenStrip._esm  # nothing fetched: the front end ships with the package


def explorer(*args: Any, **kwargs: Any) -> Any:
    from gptoss_lab.widgets import Explorer

    return Explorer(*args, **kwargs)


def test_public_api_names_the_widgets():
    import gptoss_lab
    from gptoss_lab.widgets.explorer import Explorer
    from gptoss_lab.widgets.playground import Playground

    assert gptoss_lab.Playground is Playground and gptoss_lab.Explorer is Explorer


STRIP_HARNESS = """
const fake = () => ({
  children: [], classes: new Set(), style: {}, listeners: {},
  classList: { add(c) { this.o.classes.add(c); }, remove(c) { this.o.classes.delete(c); } },
  addEventListener(name, f) { this.listeners[name] = f; },
  appendChild(c) { this.children.push(c); }, replaceChildren() { this.children = []; },
  set className(v) { v.split(" ").forEach((c) => this.classes.add(c)); },
});
const node = () => { const n = fake(); n.classList.o = n; return n; };
globalThis.document = { createElement: node };
const state = JSON.parse(process.argv[3]), handlers = {}, saved = [];
const model = {
  get: (k) => state[k], set: (k, v) => { state[k] = v; }, save_changes: () => saved.push(state.selected),
  on: (name, f) => { handlers[name] = f; },
};
const el = node();
const { default: widget } = await import(process.argv[2]);
widget.render({ model, el });
el.children[2].listeners.click();           // the user clicks the third token
handlers["change:selected"]();
const out = el.children.map((s) => ({ text: s.textContent, classes: [...s.classes], html: "innerHTML" in s }));
console.log(JSON.stringify({ out, saved, strip: [...el.classes] }));
"""


def run_strip_front_end(tmp_path: Any, state: dict[str, Any]) -> dict[str, Any]:
    """The token strip's JavaScript rendered by node over ``state`` (the model's traits), then token 2 clicked."""
    import json
    import shutil
    import subprocess

    from gptoss_lab.widgets.explorer import TokenStrip

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the token strip's JavaScript is checked with it")
    (tmp_path / "strip.mjs").write_text(TokenStrip._esm)
    (tmp_path / "harness.mjs").write_text(STRIP_HARNESS)
    run = subprocess.run(
        [node, str(tmp_path / "harness.mjs"), str(tmp_path / "strip.mjs"), json.dumps(state)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(run.stdout)


def test_token_strip_front_end_clicks_and_shows_text(tmp_path):
    tokens = ["<|start|>", "<script>alert(1)</script>", "4", "<img src=x>"]
    state = {
        "tokens": tokens,
        "sources": ["user", "analysis", "final", "final"],
        "specials": [True, False, False, False],
    }
    state |= {"colors": {"user": "#1f77b4", "analysis": "#ff7f0e", "final": "#2ca02c"}, "selected": 1}
    result = run_strip_front_end(tmp_path, state)
    assert [s["text"] for s in result["out"]] == tokens  # as text: innerHTML is never set
    assert not any(s["html"] for s in result["out"])
    assert result["saved"] == [2]  # the click sent the token's position to Python
    selected = [i for i, s in enumerate(result["out"]) if "gptoss-selected" in s["classes"]]
    assert selected == [2]  # and moved the mark from token 1
    assert "gptoss-special" in result["out"][0]["classes"] and "gptoss-token-strip" in result["strip"]


def test_playground_and_explorer_over_a_server():
    from gptoss_lab import Lab
    from tests.unit._replay_server import serve

    for server in serve():
        server.models("gpt-oss-test")
        server.replay("/v1/chat/completions", "vllm_chat.sse")
        lab = Lab("gpt-oss-test", base_url=server.url, api="chat", api_key="")
        pg = playground(lab, routing=True)
        pg.start()
        reply = pg.join(WAIT)
        assert pg.error == "" and reply.reasoning and reply.answer
        assert pg.routing_strip.layout.display == "none"  # nothing to record from a server: no strip
        panel = pg.panels[0]
        assert html.escape(reply.reasoning) in panel.reasoning.value and reply.reasoning not in panel.answer.value
        assert html.escape(reply.answer) in panel.answer.value and "finished" in panel.stats.value
        message = reply.explore().message
        assert reply.trace is None and "need a local model" in message and server.url in message


# -- what the widgets' figures show: no Plotly logo or share button, every expert, model text as written


def synthetic_explorer() -> Any:
    """An Explorer of a synthetic trace (no model: attention says none was found; routing figures drawn)."""
    from types import SimpleNamespace

    from tests.unit.test_viz_routing import make_trace

    trace = make_trace(E=8)
    trace.token_strings[12] = "pay \u202e123"
    return explorer(SimpleNamespace(trace=trace, model="synthetic", effort="low"))


def test_every_figure_widget_draws_without_the_logo_or_the_share_button():
    from gptoss_lab.widgets.routing_strip import RoutingStrip

    ex = synthetic_explorer()
    ex.attention_figure.show(ex.path_figure.figure)  # no model here: any figure, to check what a pane sends
    for pane in [ex.path_figure, ex.attention_figure, ex.expert_figure]:
        (output,) = pane.get_state()["outputs"]  # what the front end receives and hands to plotly.js
        spec = output["data"]["application/vnd.plotly.v1+json"]
        assert spec["config"] == {"displaylogo": False, "showSendToCloud": False}
        assert "sendChartToCloud" in spec["layout"]["modebar"]["remove"]
    strip = RoutingStrip().figure
    assert strip.get_state()["_config"] == {"displaylogo": False, "showSendToCloud": False}
    assert "sendChartToCloud" in strip.layout.modebar.remove
    ex.expert_select.value = 3  # a redraw keeps it
    (output,) = ex.expert_figure.get_state()["outputs"]
    assert "sendChartToCloud" in output["data"]["application/vnd.plotly.v1+json"]["layout"]["modebar"]["remove"]


def test_the_explorer_loads_no_figure_widget():
    """Its figures are plain plotly outputs in panes: no FigureWidget, each of which ships its own 5 MB plotly.js
    to the browser, and nothing that imports plotly's renderers (nbformat, jsonschema: seconds)."""
    import subprocess
    from pathlib import Path

    code = (
        "import sys\n"
        "from types import SimpleNamespace\n"
        "from tests.unit.test_viz_routing import make_trace\n"
        "from gptoss_lab.widgets import Explorer\n"
        "ex = Explorer(SimpleNamespace(trace=make_trace(E=8), model='synthetic', effort='low'))\n"
        "ex.selected = 5\n"
        "heavy = ('plotly.io._renderers', 'plotly.basewidget', 'nbformat', 'jsonschema')\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    root = Path(__file__).parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=WAIT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_live_routing_strip_labels_each_expert_and_each_generated_token():
    from types import SimpleNamespace

    import numpy as np

    from gptoss_lab.widgets.routing_strip import RoutingStrip

    strip = RoutingStrip()
    strip._reset(n_layers=4, n_experts=8)
    colorbar = strip.figure.data[0].colorbar
    assert list(colorbar.tickvals) == list(range(8)) and list(colorbar.ticktext) == [str(e) for e in range(8)]
    assert list(strip.figure.layout.xaxis.tickvals) == [0]  # one token so far: no ticks at 0.5
    experts = np.zeros((13, 4, 2), dtype=np.int64)  # (T, L, k): 10 prompt tokens, then 3 generated
    strip._capture = SimpleNamespace(complete_calls=1, arrays=lambda: (None, experts, None))  # a recording stand-in
    strip.show(n_prompt=10)
    assert list(strip.figure.layout.xaxis.tickvals) == [0, 1, 2]


def test_token_strip_shows_bidi_controls_as_markers():
    ex = synthetic_explorer()
    assert ex.strip.tokens[12] == "pay ⟨U+202E⟩123"
    assert not any("\u202e" in token for token in ex.strip.tokens)


# -- tools in the Playground

TOOL_EXCHANGE = (
    "<|channel|>analysis<|message|>Need the weather.<|end|>"
    "<|start|>assistant<|channel|>commentary<|message|>Let me check the weather.<|end|>"
    "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
    '<|message|>{"city":"Oslo"}<|call|>'
    "<|channel|>analysis<|message|>It is sunny.<|end|><|start|>assistant<|channel|>final<|message|>Sunny.<|return|>"
)


def test_the_playground_runs_tools_and_shows_every_step_in_order(scripted_lab):
    lab, _ = scripted_lab(TOOL_EXCHANGE)

    def get_weather(city: str) -> str:
        return f"<b>sunny</b> in {city}"

    pg = playground(lab, prompt="Weather in Oslo?", tools=[get_weather])
    pg.generate_button.click()
    reply = pg.join(WAIT)
    assert pg.error == "" and reply.answer == "Sunny." and reply.tool_rounds[0].results[0].output.startswith("<b>")
    (panel,) = pg.panels
    page = panel.rounds.value + panel.reasoning.value + panel.answer.value  # in the order they are drawn
    steps = ["round 1 ·", "Need the weather.", "Let me check the weather.", "tool call", "tool result"]
    steps += ["&lt;b&gt;sunny", "round 2 ·", "It is sunny.", "Sunny."]
    assert [page.index(s) for s in steps] == sorted(page.index(s) for s in steps), page
    assert "<b>sunny" not in page


def test_playground_magic_takes_tools_by_name(shell, capsys):
    shell.run_line_magic("load_ext", "gptoss_lab")
    shell.run_cell("def get_weather(city: str) -> str:\n    return 'sunny'")
    shell.run_cell("%gptoss playground --tools get_weather --out pg")
    assert shell.user_ns["pg"].tools == [shell.user_ns["get_weather"]]


def test_prewarm_imports_what_the_explorer_needs_once_on_a_thread():
    import subprocess

    code = (
        "import sys\n"
        "from gptoss_lab.widgets import prewarm_explorer\n"
        "before = 'gptoss_lab.widgets.explorer' in sys.modules\n"
        "thread = prewarm_explorer()\n"
        "thread.join()\n"
        "names = ('gptoss_lab.widgets.explorer', 'anywidget', 'plotly.graph_objects')\n"
        "print(before, thread.daemon, prewarm_explorer() is None, sorted(m for m in names if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "False True True ['anywidget', 'gptoss_lab.widgets.explorer', 'plotly.graph_objects']", out


@pytest.mark.parametrize("in_kernel", [True, False])
def test_a_traced_reply_in_a_kernel_prewarms_the_explorer(nano_lab_factory, monkeypatch, in_kernel):
    import gptoss_lab.lab as lab_module
    import gptoss_lab.widgets as widgets_module

    calls: list[int] = []
    assert lab_module._in_kernel() is False  # pytest is no kernel
    monkeypatch.setattr(lab_module, "_in_kernel", lambda: in_kernel)
    monkeypatch.setattr(widgets_module, "prewarm_explorer", lambda: calls.append(1))
    reply = nano_lab_factory().ask("What is 2 + 3?", effort="low", max_new_tokens=20)
    assert reply.trace is not None
    assert calls == ([1] if in_kernel else [])


def test_in_kernel_reads_the_shell_s_kernel(monkeypatch):
    import IPython

    import gptoss_lab.lab as lab_module

    shell = type("Shell", (), {"kernel": None})()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    assert lab_module._in_kernel() is False  # a terminal IPython has no kernel
    shell.kernel = object()
    assert lab_module._in_kernel() is True
