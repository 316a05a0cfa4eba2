"""nano's eval: batched greedy scoring and the teacher-forced diagnostic agree with the Lab's own loop."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from gptoss_lab import Lab
from gptoss_lab.nano import tasks
from gptoss_lab.nano.eval import Conversation, evaluate, expert_load, teacher_forced


@pytest.fixture(scope="module")
def lab():
    return Lab()


def _ask(lab, ex):
    lab.reset()
    dev = [m["content"] for m in ex.messages if m["role"] == "developer"]
    user = ex.messages[-1]["content"]
    return lab.ask(user, effort=ex.effort, developer=dev[0] if dev else None, temperature=0, capture=False)


def test_evaluate_grades_what_the_labs_own_greedy_loop_answers(lab):
    loaded = lab.handle.load()
    families = ("add", "compare_decimals")
    scores = evaluate(loaded, effort="medium", n=3, families=families, batch_size=1)
    examples = tasks.generate(6, seed=1234, split="eval", families=families, efforts=("medium",))
    for score in scores:
        mine = [tasks.grade(ex.family, _ask(lab, ex).answer, ex.target) for ex in examples if ex.family == score.family]
        assert score.n == len(mine) == 3
        assert score.accuracy == pytest.approx(sum(mine) / len(mine))
        assert 0 <= score.format_valid <= 1 and score.mean_reasoning_tokens > 0


def test_teacher_forced_exact_means_greedy_decoding_reproduces_the_reference(lab):
    loaded = lab.handle.load()
    # nano reverses its training words exactly (see the README's teacher-forced table): real matches to compare
    (score,) = teacher_forced(loaded, split="train", effort="high", n=6, families=("reverse",))
    examples = tasks.generate(6, seed=7, split="train", families=("reverse",), efforts=("high",))
    reproduced = [_ask(lab, ex).completion_ids == loaded.encode(tasks.completion_text(ex)) for ex in examples]
    assert any(reproduced), "no training word reproduced: the cross-check below would compare zeros"
    assert score.exact == pytest.approx(sum(reproduced) / len(reproduced))
    assert 0 < score.token_accuracy <= 1


def test_expert_load_counts_what_the_labs_capture_records(lab):
    import numpy as np

    (ex,) = tasks.generate(1, seed=3, split="eval", families=("add",), efforts=("high",))
    lab.reset()
    reply = lab.ask(ex.messages[-1]["content"], effort="high", temperature=0, capture=True)
    trace = reply.trace
    routed = reply.completion_ids[: trace.n_tokens - len(reply.prompt_ids)]  # the last token is never fed back
    load = expert_load(lab.handle.load(), [Conversation(ex, reply.prompt_ids, routed)])
    experts = trace.topk_experts.astype(int)  # (T, L, k)
    counted = [np.bincount(experts[:, layer].ravel(), minlength=trace.n_experts) for layer in range(trace.n_layers)]
    np.testing.assert_allclose(load, np.stack(counted) / (trace.n_tokens * trace.top_k))


def test_cli_eval_json_and_teacher_forced(capsys):
    from gptoss_lab.cli import main

    assert main(["eval", "--n", "1", "--effort", "low", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["effort"] == "low" and [f["family"] for f in report["families"]] == list(tasks.FAMILIES)
    assert all(f["n"] == 1 for f in report["families"])
    load = report["expert_load"]
    assert len(load["per_layer"]) == 4 and all(sum(row) == pytest.approx(1, abs=1e-3) for row in load["per_layer"])
    assert load["min"] == pytest.approx(min(map(min, load["per_layer"])), abs=1e-4)
    assert main(["eval", "--n", "1", "--effort", "low", "--teacher-forced", "--json"]) == 0
    forced = json.loads(capsys.readouterr().out)
    assert {(s["family"], s["split"]) for s in forced["scores"]} == {
        (f, split) for f in tasks.FAMILIES for split in ("train", "eval")
    }
