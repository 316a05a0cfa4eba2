"""Effect measurements on the bundled model, with a few questions: real effects, a clean model afterwards."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gptoss_lab import interventions
from gptoss_lab.errors import NeedsLocalModel, OptionError
from gptoss_lab.experiments import expert_importance, head_effects, sink_effects
from gptoss_lab.nano import eval as nano_eval

FAMILIES = ("add", "compare_decimals")
SMALL = {"n": 2, "effort": "low", "seed": 5, "progress": False}


@pytest.fixture(scope="module")
def nano(nano_lab_factory):
    return nano_lab_factory()


@pytest.fixture(scope="module")
def plain(nano):
    """The plain eval of the same questions, and layer 0's busiest expert on them."""
    with nano.local_model() as loaded:
        torch.set_num_threads(1)
        conversations = nano_eval.answer_eval_set(loaded, effort="low", n=2, families=FAMILIES, seed=5)
        load = nano_eval.expert_load(loaded, conversations)  # (L, E)
        scores = nano_eval.score(loaded, conversations)
    return conversations, scores, int(load[0].argmax())


def _hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _bits(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone().view(torch.int32) for name, p in model.named_parameters()}


def _clean(model, hooks, bits) -> bool:
    same = all(torch.equal(p.detach().view(torch.int32), bits[name]) for name, p in model.named_parameters())
    return same and _hooks(model) == hooks and interventions.active(model) == []


def test_the_baseline_is_the_plain_eval_and_the_busiest_expert_changes_answers(nano, plain):
    _, scores, busiest = plain
    model = nano.handle.load().model
    hooks, bits = _hooks(model), _bits(model)
    quiet = (busiest + 1) % 8
    result = expert_importance(nano, FAMILIES, experts={0: [busiest, quiet]}, **SMALL)
    assert _clean(model, hooks, bits)
    np.testing.assert_array_equal(result.baseline, [s.accuracy for s in scores])
    assert result.accuracy.shape == result.changed.shape == (4, 8, 2) and result.measured.sum() == 2
    assert result.measured[0, busiest] and np.isnan(result.accuracy[1, 0]).all()
    assert result.changed[0, busiest].sum() > 0  # a quarter of layer 0's token-slots rerouted: answers move
    with nano.intervene(ablate_experts={0: [busiest]}), nano.local_model() as loaded:  # the same thing by hand
        by_hand = nano_eval.answer_eval_set(loaded, effort="low", n=2, families=FAMILIES, seed=5)
        scores = nano_eval.score(loaded, by_hand)
    np.testing.assert_array_equal(result.accuracy[0, busiest], [s.accuracy for s in scores])
    moved = [(a.example.family, a.completion_ids != b.completion_ids) for a, b in zip(by_hand, plain[0], strict=True)]
    share = [np.mean([m for f, m in moved if f == family]) for family in FAMILIES]
    np.testing.assert_array_equal(result.changed[0, busiest], share)
    assert _clean(model, hooks, bits)
    assert "layer 0, expert" in repr(result) and "2 of 2 measured" in repr(result)


def test_an_expert_the_model_cannot_reach_changes_nothing(nano, plain):
    _, _, busiest = plain
    with nano.intervene(ablate_experts={1: [busiest]}):  # never routed to while this is on
        result = expert_importance(nano, FAMILIES, experts={1: [busiest]}, **SMALL)
        assert interventions.active(nano.handle.load().model)[0]["experts"] == [busiest]  # the outer one stays on
    np.testing.assert_array_equal(result.changed[1, busiest], [0.0, 0.0])
    np.testing.assert_array_equal(result.accuracy[1, busiest], result.baseline)


def test_heads_and_sinks(nano):
    model = nano.handle.load().model
    hooks, bits = _hooks(model), _bits(model)
    small = {**SMALL, "seed": 7}  # questions where a sink ablation moves answers (not so for every seed)
    heads = head_effects(nano, FAMILIES, heads={2: [0, 1]}, **small)
    assert heads.accuracy.shape == (4, 4, 2) and heads.measured.sum() == 2
    sinks = sink_effects(nano, FAMILIES, **small)
    assert sinks.accuracy.shape == (5, 2) and sinks.measured.all()
    assert sinks.rows[0] == "sinks off in layer 0" and sinks.rows[-1] == "sinks off in every layer"
    assert sinks.changed[0].sum() > 0  # no sink in layer 0: answers move (on nano, not with every sink off)
    np.testing.assert_array_equal(heads.baseline, sinks.baseline)
    assert _clean(model, hooks, bits)


def test_ctrl_c_keeps_what_was_measured_and_leaves_the_model_clean(nano, plain, monkeypatch):
    _, _, busiest = plain
    model = nano.handle.load().model
    hooks, bits = _hooks(model), _bits(model)
    calls = []
    real = model.generate

    def generate(*args, **kwargs):  # one call per eval of 4 questions: the baseline's, the first ablation's, ...
        calls.append(1)
        if len(calls) == 3:
            assert interventions.active(model)  # interrupted inside the second ablation
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "generate", generate)
    three = sorted([busiest, *[e for e in range(8) if e != busiest][:2]])
    result = expert_importance(nano, FAMILIES, experts={0: three}, **SMALL)  # measured in order
    assert result.interrupted and result.measured[0].tolist() == [i == three[0] for i in range(8)]
    assert "interrupted after 1 of 3" in result.summary()
    assert _clean(model, hooks, bits)


def test_options_are_checked_before_anything_loads(nano_lab_factory):
    lab = nano_lab_factory()
    with pytest.raises(OptionError, match="families must be some of add, sub"):
        expert_importance(lab, ["addition"], n=2)
    with pytest.raises(OptionError, match=r"expert 8 in layer 1 does not exist"):
        expert_importance(lab, FAMILIES, n=2, experts={1: [8]})
    with pytest.raises(OptionError, match="n \\(questions per family\\) must be a whole number"):
        head_effects(lab, FAMILIES, n=0)
    assert not lab.handle.loaded

    from gptoss_lab import Lab

    with pytest.raises(NeedsLocalModel, match="use a local model"):
        sink_effects(Lab(base_url="http://127.0.0.1:9", model="gpt-oss-20b"))
