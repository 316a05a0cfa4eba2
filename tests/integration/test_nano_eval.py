"""nano's eval: batched greedy scoring, self-check rates, paraphrase agreement and the teacher-forced
diagnostic agree with the Lab's own loop."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from gptoss_lab import Lab
from gptoss_lab.nano import tasks
from gptoss_lab.nano.eval import (
    Conversation,
    evaluate,
    expert_load,
    grade_conversation,
    paraphrase_agreement,
    summarize,
    teacher_forced,
)


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
        assert 0 <= score.check_rate <= 1 and 0 <= score.n_fired <= score.n_checked <= score.n
        assert all(r is None or 0 <= r <= 1 for r in (score.fire_rate, score.fix_rate, score.false_pass))


def test_self_check_rates_count_what_the_labs_own_reasoning_says(lab):
    loaded = lab.handle.load()
    (score,) = evaluate(loaded, effort="high", n=3, families=("add",), batch_size=1)
    examples = tasks.generate(3, seed=1234, split="eval", families=("add",), efforts=("high",))
    records = []
    for ex in examples:
        reply = _ask(lab, ex)
        records.append(
            grade_conversation(ex.family, ex.target, reply.reasoning, reply.answer, valid=True, reasoning_tokens=0)
        )
    mine = summarize("add", records)
    assert score.n_checked > 0, "nano ran no check at high effort: the rates below would compare Nones"
    assert (score.n_checked, score.n_fired, score.n_wrong_checked) == (
        mine.n_checked,
        mine.n_fired,
        mine.n_wrong_checked,
    )
    assert (score.check_rate, score.fire_rate, score.fix_rate, score.false_pass) == (
        mine.check_rate,
        mine.fire_rate,
        mine.fix_rate,
        mine.false_pass,
    )


def test_paraphrase_agreement_compares_the_labs_own_answers_across_wordings(lab):
    loaded = lab.handle.load()
    (row,) = paraphrase_agreement(loaded, effort="low", n=2, families=("add",), k=2, batch_size=1)
    questions = tasks.generate(2, seed=1234, split="eval", families=("add",), efforts=("low",))
    agree = right = 0
    for i, ex in enumerate(questions):
        wordings = tasks.paraphrases(ex, 2, seed=1234 + i)
        assert len({w.messages[-1]["content"] for w in wordings}) == 2 and {w.target for w in wordings} == {ex.target}
        answers = [_ask(lab, w).answer for w in wordings]
        values = [tasks.answer_value("add", a) for a in answers]
        agree += None not in values and values[0] == values[1]
        right += sum(tasks.grade("add", a, ex.target) for a in answers)
    assert (row.family, row.n, row.k) == ("add", 2, 2)
    assert row.agreement == pytest.approx(agree / 2) and row.accuracy == pytest.approx(right / 4)


def test_teacher_forced_exact_means_greedy_decoding_reproduces_the_reference(lab, monkeypatch):
    import dataclasses

    from gptoss_lab.nano import eval as nano_eval

    loaded = lab.handle.load()
    examples = tasks.generate(4, seed=7, split="train", families=("reverse",), efforts=("high",), slips=False)
    # two references the model writes itself (its own greedy replies), two written by the task generator
    own = [
        dataclasses.replace(ex, analysis=r.reasoning, answer=r.answer)
        for ex, r in ((e, _ask(lab, e)) for e in examples[:2])
    ]
    mixed = own + examples[2:]
    monkeypatch.setattr(nano_eval.tasks, "generate", lambda n, **_: mixed[:n])
    (score,) = teacher_forced(loaded, split="train", effort="high", n=4, families=("reverse",))
    reproduced = [_ask(lab, ex).completion_ids == loaded.encode(tasks.completion_text(ex)) for ex in mixed]
    assert reproduced[:2] == [True, True], "the model's own greedy replies must reproduce: the check compares nothing"
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

    assert main(["eval", "--n", "1", "--effort", "low", "--paraphrase", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["effort"] == "low" and [f["family"] for f in report["families"]] == list(tasks.FAMILIES)
    assert all(f["n"] == 1 for f in report["families"])
    overall = report["overall"]
    assert overall["n"] == len(tasks.FAMILIES) and set(report["families"][0]) - {"family"} == set(overall)
    for row in [*report["families"], overall]:
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["check_rate"] <= 1
        assert all(row[k] is None or 0 <= row[k] <= 1 for k in ("fire_rate", "fix_rate", "false_pass"))
    paraphrase = report["paraphrase"]
    assert [a["family"] for a in paraphrase["families"]] == list(tasks.FAMILIES)
    assert all(a["n"] == 1 and a["k"] == 2 and a["agreement"] in (0, 1) for a in paraphrase["families"])
    assert paraphrase["overall"]["n"] == len(tasks.FAMILIES) and 0 <= paraphrase["overall"]["accuracy"] <= 1
    load = report["expert_load"]
    assert len(load["per_layer"]) == 4 and all(sum(row) == pytest.approx(1, abs=1e-3) for row in load["per_layer"])
    assert load["min"] == pytest.approx(min(map(min, load["per_layer"])), abs=1e-4)
    assert main(["eval", "--n", "1", "--effort", "low", "--teacher-forced", "--json"]) == 0
    forced = json.loads(capsys.readouterr().out)
    assert {(s["family"], s["split"]) for s in forced["scores"]} == {
        (f, split) for f in tasks.FAMILIES for split in ("train", "eval")
    }


def test_cli_eval_table_has_the_self_check_columns_and_an_all_row(capsys):
    from gptoss_lab.cli import main

    assert main(["eval", "--paraphrase", "1"]) == 2  # checked before the model loads
    assert "--paraphrase K needs K >= 2" in capsys.readouterr().err
    assert main(["eval", "--n", "1", "--effort", "low"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "effort low" and lines[1].split()[-5:] == ["check", "fires", "fixes", "false", "pass"]
    rows = [line.split()[0] for line in lines[2:] if line and line.split()[0] in (*tasks.FAMILIES, "all")]
    assert rows == [*tasks.FAMILIES, "all"] and max(map(len, lines)) <= 100


def test_cli_eval_scores_only_the_families_asked_and_names_an_unknown_one(capsys):
    from gptoss_lab.cli import main

    assert main(["eval", "--n", "2", "--effort", "low", "--families", "sort,add", "--paraphrase", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [f["family"] for f in report["families"]] == ["add", "sort"] and report["overall"]["n"] == 4
    assert [a["family"] for a in report["paraphrase"]["families"]] == ["add", "sort"]
    assert main(["eval", "--families", "add,multiply"]) == 2
    err = capsys.readouterr().err
    assert "--families takes some of add,sub,mul,count_letter,compare_decimals,sort,reverse,word_problem" in err
    assert "got 'add,multiply'" in err
