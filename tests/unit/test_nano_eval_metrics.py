"""nano eval's counting, on hand-written records: self-check rates, pooling, paraphrase agreement, reports."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

import pytest

from gptoss_lab.nano.eval import (
    Agreement,
    FamilyScore,
    Graded,
    agreement_scores,
    count_scores,
    format_agreement,
    format_table,
    pooled,
    pooled_agreement,
    scores_to_dict,
    summarize,
)


def _rec(family="add", *, right, checked=False, fired=False, first_right=None, tokens=10, valid=True):
    first = right if first_right is None else first_right
    return Graded(family, right, valid, tokens, checked, fired, first)


# one of each case the self-check metrics tell apart
PASSED_RIGHT = _rec(right=True, checked=True)
FIXED = _rec(right=True, checked=True, fired=True, first_right=False)
FALSE_ALARM = _rec(right=False, checked=True, fired=True, first_right=True)  # fired on a right answer, broke it
FALSE_PASS = _rec(right=False, checked=True)
UNCHECKED_WRONG = _rec(right=False, tokens=4, valid=False)
UNCHECKED_RIGHT = _rec(right=True, tokens=4)
MIXED = [PASSED_RIGHT, FIXED, FALSE_ALARM, FALSE_PASS, UNCHECKED_WRONG, UNCHECKED_RIGHT]


def test_summarize_counts_each_self_check_case_once():
    s = summarize("add", MIXED)
    assert (s.n, s.n_checked, s.n_fired, s.n_wrong_checked) == (6, 4, 2, 2)
    assert s.accuracy == pytest.approx(3 / 6)
    assert s.format_valid == pytest.approx(5 / 6)
    assert s.mean_reasoning_tokens == pytest.approx(48 / 6)
    assert s.check_rate == pytest.approx(4 / 6)
    assert s.fire_rate == pytest.approx(2 / 4)
    assert s.fix_rate == pytest.approx(1 / 2)  # FIXED, not FALSE_ALARM (its first answer was right)
    assert s.false_pass == pytest.approx(1 / 2)  # of FALSE_ALARM and FALSE_PASS, the one that did not fire


def test_a_fired_check_on_a_wrong_first_answer_that_stays_wrong_is_no_fix():
    stuck = _rec(right=False, checked=True, fired=True, first_right=False)
    s = summarize("add", [stuck, FIXED])
    assert s.fix_rate == pytest.approx(1 / 2) and s.false_pass == 0.0


def test_rates_without_a_denominator_are_none_not_zero():
    low = summarize("add", [UNCHECKED_WRONG, UNCHECKED_RIGHT])
    assert low.check_rate == 0.0
    assert (low.fire_rate, low.fix_rate, low.false_pass) == (None, None, None)
    never_fired = summarize("add", [PASSED_RIGHT])
    assert never_fired.fire_rate == 0.0 and never_fired.fix_rate is None and never_fired.false_pass is None


def test_count_scores_groups_in_family_order_and_pooled_equals_counting_everything():
    records = [
        *(_rec("sort", right=r.right, checked=r.checked, fired=r.fired, first_right=r.first_right) for r in MIXED),
        FIXED,
        FALSE_PASS,
        UNCHECKED_RIGHT,
        _rec("mul", right=True),
    ]
    scores = count_scores(records)
    assert [s.family for s in scores] == ["add", "mul", "sort"]  # tasks.FAMILIES order, not arrival order
    assert [s.n for s in scores] == [3, 1, 6]
    assert asdict(pooled(scores)) == pytest.approx(asdict(summarize("all", records)))


def test_pooled_weights_by_denominators_not_by_families():
    # one family: 1 of 1 checked wrong answers passed; the other: 0 of 3. Mean of rates would say 50%.
    scores = count_scores([FALSE_PASS, *(_rec("sub", right=False, checked=True, fired=True) for _ in range(3))])
    assert [s.false_pass for s in scores] == [1.0, 0.0]
    assert pooled(scores).false_pass == pytest.approx(1 / 4)
    assert pooled([]).n == 0 and pooled([]).fire_rate is None


def test_agreement_needs_every_wording_to_give_one_value():
    questions = [
        ("add", [("42", True), ("42", True), ("42", True)]),
        ("add", [("7", False), ("7", False), ("7", False)]),  # wrong, but consistently: agrees
        ("add", [("5", True), ("5", True), (None, False)]),  # an answer with no value disagrees
        ("reverse", [("olleh", True), ("hello", False), ("olleh", True)]),
    ]
    add, rev = agreement_scores(questions)
    assert (add.family, add.n, add.k) == ("add", 3, 3)
    assert add.agreement == pytest.approx(2 / 3) and add.accuracy == pytest.approx(5 / 9)
    assert (rev.n, rev.agreement, rev.accuracy) == (1, 0.0, pytest.approx(2 / 3))
    everything = pooled_agreement([add, rev])
    assert (everything.family, everything.n, everything.k) == ("all", 4, 3)
    assert everything.agreement == pytest.approx(2 / 4) and everything.accuracy == pytest.approx(7 / 12)


def test_format_table_shows_dashes_for_none_an_all_row_and_fits_100_columns():
    scores = count_scores([*MIXED, _rec("word_problem", right=False)])
    table = format_table(scores, effort="high")
    lines = table.splitlines()
    assert max(map(len, lines)) <= 100
    assert lines[0] == "effort high" and lines[1].split()[:3] == ["family", "n", "accuracy"]
    assert {"check", "fires", "fixes", "false"} <= set(lines[1].split())
    rows = {line.split()[0]: line.split() for line in lines[2:] if line.split()[0] in ("add", "word_problem", "all")}
    assert rows["add"][1:] == ["6", "50.0%", "83.3%", "8.0", "66.7%", "50.0%", "50.0%", "50.0%"]
    assert rows["word_problem"][-4:] == ["0.0%", "-", "-", "-"]
    assert rows["all"][1:3] == ["7", "42.9%"]


def test_format_agreement_has_an_all_row():
    rows = [Agreement("add", 2, 5, 0.5, 0.6), Agreement("sort", 2, 5, 1.0, 1.0)]
    lines = format_agreement(rows, effort="low").splitlines()
    assert "5 wordings" in lines[0] and max(map(len, lines)) <= 100
    assert lines[-1].split() == ["all", "4", "75.0%", "80.0%"]


def test_json_report_carries_every_field_overall_and_nulls():
    scores = count_scores([*MIXED, _rec("sort", right=True)])
    agreement = [Agreement("add", 2, 3, 0.5, 0.5)]
    report = json.loads(json.dumps(scores_to_dict(scores, model="nano", effort="low", agreement=agreement)))
    names = {f.name for f in fields(FamilyScore)}
    assert all(set(f) == names for f in report["families"])
    assert set(report["overall"]) == names - {"family"} and report["overall"]["n"] == 7
    assert report["families"][1]["fire_rate"] is None  # sort never checked: null, not 0
    assert report["paraphrase"]["overall"] == {"n": 2, "k": 3, "agreement": 0.5, "accuracy": 0.5}
    assert "expert_load" not in report
