"""The Explorer's "switch this expert off and regenerate", driven from Python on nano (no browser)."""

from __future__ import annotations

import dataclasses
import html
from typing import Any

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("plotly")
pytest.importorskip("anywidget")

WAIT = 120  # seconds: a ceiling for a stuck thread, never a measurement


@pytest.fixture(scope="module")
def conversation(nano_lab_factory):
    """A Lab with two turns; the second (a follow-up, so its prompt carries the first turn) is explored."""
    lab = nano_lab_factory()
    lab.ask("What is 4 + 5?", effort="low", max_new_tokens=60)
    reply = lab.ask("What is 17 + 25?", effort="low", max_new_tokens=60)
    return lab, reply


def explorer(reply: Any, lab: Any) -> Any:
    from gptoss_lab.widgets import Explorer

    return Explorer(reply, lab=lab)


def busiest(reply: Any, layer: int) -> tuple[int, int]:
    """The expert that ``layer`` chose most often for the reply's own tokens, and how often."""
    trace = reply.trace
    counts = np.bincount(trace.topk_experts[trace.n_prompt :, layer].ravel(), minlength=trace.n_experts)
    return int(counts.argmax()), int(counts.max())


def conversation_state(lab: Any) -> tuple[Any, ...]:
    return [dict(m) for m in lab.history], [id(r) for r in lab.replies], lab.developer


def test_switching_a_routed_expert_off_regenerates_beside_the_reply(conversation, monkeypatch):
    from gptoss_lab import interventions

    lab, reply = conversation
    before = conversation_state(lab)
    ex = explorer(reply, lab)
    pane = ex.ablation
    assert not pane.button.disabled and pane.reply is None and pane.columns.layout.display == "none"
    during: list[tuple[bool, str]] = []
    ask = lab.ask

    def watched(*args: Any, **kwargs: Any) -> Any:  # what the widget shows while the model runs
        during.append((pane.button.disabled, pane.status.value))
        return ask(*args, **kwargs)

    monkeypatch.setattr(lab, "ask", watched)
    parted = []
    for layer in range(reply.trace.n_layers):
        expert, routed = busiest(reply, layer)
        assert routed > 0  # an expert the reply actually routes to
        ex.layer_select.value, ex.expert_select.value = layer, expert
        assert pane.button.description == f"Switch expert {expert} of layer {layer} off and regenerate"
        assert f"chose expert {expert} for {routed} of this reply's" in html.unescape(pane.hint.value)
        pane.button.click()
        new = pane.join(WAIT)
        disabled, status = during[-1]
        assert disabled and "regenerating…" in status
        assert pane.message == "" and not pane.running and not pane.button.disabled
        assert new.prompt_ids == reply.prompt_ids  # the same prompt after the same conversation
        assert new.effort == reply.effort and new.sampling == reply.sampling and reply.sampling["temperature"] == 0
        want = [{"kind": "ablate_experts", "layer": layer, "experts": [expert]}]
        assert new.interventions == want and new.trace.config["interventions"] == want
        assert interventions.active(lab.handle.load().model) == []  # they came off
        assert conversation_state(lab) == before  # nothing lost, nothing added
        old_strip, new_strip = (column.children[1] for column in pane.columns.children)
        assert len(old_strip.tokens) == len(reply.completion_ids) and len(new_strip.tokens) == len(new.completion_ids)
        at = pane.parted
        if at == -1:
            assert new.completion_ids == reply.completion_ids
            assert pane.verdict.startswith("identical") and ex.strip.marked == -1
        else:  # the first completion token that differs (or the end of the shorter reply)
            old_ids, new_ids = reply.completion_ids, new.completion_ids
            assert old_ids[:at] == new_ids[:at] and old_ids[at : at + 1] != new_ids[at : at + 1]
            assert f"the replies part at token {at} of the reply" in pane.verdict
            assert ex.strip.marked == reply.trace.n_prompt + at  # outlined in the transcript too
            assert old_strip.marked == at and f"'{old_strip.tokens[at]}' → " in pane.verdict
            parted.append(at)
        assert pane.verdict in html.unescape(pane.status.value)
    assert parted, "no busiest expert of any layer changed nano's reply"


def test_identical_replies_are_said_to_be_identical(conversation, monkeypatch):
    lab, reply = conversation
    ex = explorer(reply, lab)
    same = dataclasses.replace(reply, interventions=[{"kind": "ablate_experts", "layer": 1, "experts": [0]}])
    monkeypatch.setattr(lab, "ask", lambda *args, **kwargs: same)
    ex.ablation.start()
    assert ex.ablation.join(WAIT) is same
    n = len(reply.completion_ids)
    assert ex.ablation.parted == -1 and ex.strip.marked == -1
    assert (
        ex.ablation.verdict
        == f"identical: with expert {ex.expert_select.value} of layer 0 off the reply writes the same {n} tokens"
    )


def test_the_originals_interventions_are_kept_and_the_sampling_reused(nano_lab_factory):
    lab = nano_lab_factory()
    reply = lab.ask(
        "What is 3 + 8?", effort="low", max_new_tokens=40, temperature=0.8, seed=7, intervene={"heads_off": {1: [0]}}
    )
    assert reply.sampling == {"temperature": 0.8, "top_p": 1.0, "seed": 7}
    ex = explorer(reply, lab)
    ex.ablation.start()
    new = ex.ablation.join(WAIT)
    assert ex.ablation.message == ""
    assert new.sampling == reply.sampling and new.prompt_ids == reply.prompt_ids
    expert = ex.expert_select.value
    assert {"kind": "heads_off", "layer": 1, "heads": [0]} in new.interventions
    assert {"kind": "ablate_experts", "layer": 0, "experts": [expert]} in new.interventions
    assert len(lab.history) == 2 and lab.replies[0] is reply and len(lab.replies) == 1  # its own turn, put back
    assert "without a seed" not in ex.ablation.verdict
    titles = [column.children[0].value for column in ex.ablation.columns.children]
    assert "head 0 off in layer 1" in titles[0] and "expert" in titles[1] and "head 0 off" in titles[1]


def test_a_busy_lab_or_a_reset_conversation_is_one_line_and_loses_nothing(conversation):
    from gptoss_lab.widgets.ablation import GONE

    lab, reply = conversation
    before = conversation_state(lab)
    ex = explorer(reply, lab)
    with lab.local_model():  # what a Playground's reply holds while it is written
        assert ex.ablation.start()
        assert ex.ablation.join(WAIT) is None
    assert "already writing a reply" in ex.ablation.message and "traceback" not in ex.ablation.status.value
    assert conversation_state(lab) == before and not ex.ablation.button.disabled
    fresh = lab.__class__("nano")  # the same model, another Lab: an empty conversation, not this reply's
    ex = explorer(reply, fresh)
    ex.ablation.start()
    ex.ablation.join(WAIT)
    assert ex.ablation.message == GONE and fresh.history == [] and fresh.replies == []


def test_the_button_is_off_with_its_reason_on_a_server_or_without_a_model(conversation):
    from gptoss_lab import Lab
    from gptoss_lab.widgets.ablation import NO_LAB

    _, reply = conversation
    server = Lab("gpt-oss-test", base_url="http://127.0.0.1:9", api="chat", api_key="")  # nothing is sent
    ex = explorer(reply, server)
    assert ex.ablation.button.disabled and not ex.ablation.start()
    assert "needs a local model" in ex.ablation.hint.value and "gpt-oss-test" in ex.ablation.hint.value
    ex.layer_select.value = 1  # re-aiming keeps it off
    assert ex.ablation.button.disabled
    foreign = dataclasses.replace(
        reply, trace=dataclasses.replace(reply.trace, config={**reply.trace.config, "model": "x"})
    )
    ex = explorer(foreign, None)
    assert ex.ablation.button.disabled and ex.ablation.unavailable() == NO_LAB


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [([1, 2, 3], [1, 2, 3], None), ([1, 2, 3], [1, 5, 3], 1), ([1, 2], [1, 2, 3], 2), ([4], [], 0), ([], [], None)],
)
def test_first_difference(a, b, want):
    from gptoss_lab.widgets.ablation import first_difference

    assert first_difference(a, b) == want


def test_the_strip_front_end_outlines_the_parting_token(tmp_path):
    from tests.integration.test_widgets import run_strip_front_end

    state = {"tokens": ["a", "b", "c", "d"], "sources": ["final"] * 4, "specials": [False] * 4}
    state |= {"colors": {"final": "#2ca02c"}, "selected": 0, "marked": 3}
    spans = run_strip_front_end(tmp_path, state)["out"]
    assert [i for i, s in enumerate(spans) if "gptoss-parted" in s["classes"]] == [3]
