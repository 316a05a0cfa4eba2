"""The nano task generator: seeded, correct, split-disjoint, effort-graded, harmony-shaped."""

from __future__ import annotations

import random
import re
from collections import Counter
from decimal import Decimal

import pytest

from gptoss_lab.harmony import parse_completion, render_prompt
from gptoss_lab.nano.tasks import (
    ALL_FAMILIES,
    DEV_INSTRUCTIONS,
    EFFORTS,
    EVAL_WORDS,
    FAMILIES,
    IDENTITY_REPLY,
    OFF_TASK,
    TEMPLATES,
    TRAIN_WORDS,
    Example,
    completion_text,
    generate,
    grade,
    held_out_value,
    made_up_word,
    make_example,
)


@pytest.fixture(scope="module")
def train() -> list[Example]:
    return generate(3 * 27 * 40, seed=7, families=ALL_FAMILIES)


@pytest.fixture(scope="module")
def evalset() -> list[Example]:
    return generate(27 * 40, seed=7, split="eval", families=ALL_FAMILIES)


def _recompute(ex: Example) -> str:
    """The target from the problem's values, with plain Python."""
    m = ex.meta
    if ex.family in ("add", "sub", "mul"):
        return str({"add": m["a"] + m["b"], "sub": m["a"] - m["b"], "mul": m["a"] * m["b"]}[ex.family])
    if ex.family == "count_letter":
        return str(m["word"].count(m["letter"]))
    if ex.family == "compare_decimals":
        pick = max if m["ask"] == "max" else min
        return pick(m["a"], m["b"], key=Decimal)
    if ex.family == "sort":
        return ", ".join(map(str, sorted(m["nums"], reverse=m["order"] == "desc")))
    if ex.family == "reverse":
        return m["word"][::-1]
    if ex.family == "word_problem":
        total = m["values"][0]
        for step, x in zip(m["story"][2:], m["values"][1:], strict=True):
            total = {"+": total + x, "-": total - x, "*": total * x}[step[0]]
        return str(total)
    return IDENTITY_REPLY


_EQUATION = re.compile(r"[\d.+\-*/]+(?:=[\d.+\-*/]+)+")


def _equations(text: str) -> list[str]:
    """Every chain ``x op y = z = ...`` in a text, spaces around operators removed."""
    return _EQUATION.findall(re.sub(r"\s*([+\-*/=])\s*", r"\1", text))


def _holds(chain: str) -> bool:
    values = [eval(part.strip("."), {"__builtins__": {}}) for part in chain.split("=")]  # digits and + - * / only
    return all(v == values[0] for v in values)


# ----------------------------------------------------------------------------- determinism and balance


def test_same_seed_same_examples_other_seed_others():
    assert generate(90, seed=3) == generate(90, seed=3)
    assert generate(90, seed=3) != generate(90, seed=4)
    assert generate(30, seed=3, split="eval") == generate(30, seed=3, split="eval")
    rng_a, rng_b = random.Random(5), random.Random(5)
    assert make_example(rng_a, "mul", "high") == make_example(rng_b, "mul", "high")


def test_generate_is_balanced_over_families_and_efforts():
    examples = generate(len(FAMILIES) * 3 * 4, seed=1)
    counts = Counter((ex.family, ex.effort) for ex in examples)
    assert set(counts) == {(f, e) for f in FAMILIES for e in EFFORTS}
    assert set(counts.values()) == {4}
    only = generate(12, seed=1, families=["sort"], efforts=["low", "high"])
    assert Counter((ex.family, ex.effort) for ex in only) == {("sort", "low"): 6, ("sort", "high"): 6}


@pytest.mark.parametrize(
    ("family", "effort", "split"), [("add!", "low", "train"), ("add", "max", "train"), ("add", "low", "test")]
)
def test_make_example_names_the_allowed_values(family, effort, split):
    with pytest.raises(ValueError, match=r"must be one of|must be train"):
        make_example(random.Random(0), family, effort, split)


# ----------------------------------------------------------------------------- templates and splits


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_every_family_has_15_templates_and_3_held_out(family):
    templates = TEMPLATES[family]
    assert len(templates) >= 15
    assert sum(t.held_out for t in templates) >= 3
    assert len({t.text for t in templates}) == len(templates)


def test_word_lists_and_dev_instructions_split_cleanly():
    assert not set(TRAIN_WORDS) & set(EVAL_WORDS)
    assert len(set(TRAIN_WORDS)) >= 100
    assert len(EVAL_WORDS) >= 25
    assert any(d.held_out for d in DEV_INSTRUCTIONS)
    assert {d.style for d in DEV_INSTRUCTIONS if d.held_out} == {"bare", "sentence"}


def test_train_never_produces_held_out_templates_values_or_instructions(train):
    held_devs = {d.text for d in DEV_INSTRUCTIONS if d.held_out}
    for ex in train:
        assert not ex.meta["template_held_out"], ex.meta["template"]
        assert not held_out_value(ex.family, ex.meta), ex.meta
        assert not any(ex.meta["dev"] == d.format(what=w) for d in held_devs for w in ("number", "word", "list"))
    words = {ex.meta["word"] for ex in train if "word" in ex.meta}
    assert not words & set(EVAL_WORDS)
    assert words & set(TRAIN_WORDS) and words - set(TRAIN_WORDS)  # real words and made-up ones
    used = {(ex.family, ex.meta["template"]) for ex in train}
    assert used == {(f, t.text) for f in ALL_FAMILIES for t in TEMPLATES[f] if not t.held_out}


def test_made_up_words_are_letters_of_varied_length_and_never_eval_words():
    rng = random.Random(0)
    words = [made_up_word(rng) for _ in range(2000)]
    assert all(w.isalpha() and w.islower() and 3 <= len(w) <= 10 for w in words)
    assert not set(words) & set(EVAL_WORDS)
    assert len(set(words)) > 1500 and {len(w) for w in words} == set(range(3, 11))


def test_eval_uses_only_held_out_templates_and_values(train, evalset):
    for ex in evalset:
        assert ex.meta["template_held_out"], ex.meta["template"]
        if ex.family != OFF_TASK:
            assert held_out_value(ex.family, ex.meta), ex.meta
    assert not {ex.meta["template"] for ex in train} & {ex.meta["template"] for ex in evalset}
    assert not {ex.meta["dev"] for ex in train} & {ex.meta["dev"] for ex in evalset} - {None}
    assert {ex.meta["word"] for ex in evalset if "word" in ex.meta} <= set(EVAL_WORDS)
    prompts = lambda xs: {ex.messages[-1]["content"] for ex in xs if ex.family != OFF_TASK}  # noqa: E731
    assert not prompts(train) & prompts(evalset)


def test_held_out_value_rule_covers_about_a_fifth_of_operands():
    rng = random.Random(0)
    pairs = [{"a": rng.randint(10, 9999), "b": rng.randint(10, 9999)} for _ in range(5000)]
    share = sum(held_out_value("add", m) for m in pairs) / len(pairs)
    assert 0.15 < share < 0.25
    assert held_out_value("mul", {"a": 47, "b": 36}) == held_out_value("mul", {"a": 36, "b": 47})


# ----------------------------------------------------------------------------- correctness


def test_targets_match_python_arithmetic(train, evalset):
    for ex in [*train, *evalset]:
        assert ex.target == _recompute(ex), (ex.messages, ex.meta)


def test_every_equation_in_every_analysis_holds(train, evalset):
    checked = 0
    for ex in [*train, *evalset]:
        for chain in _equations(ex.analysis):
            assert _holds(chain), (chain, ex.analysis)
            checked += 1
    assert checked > len(train)


def test_answers_grade_correct_and_reasoning_reaches_the_target(train, evalset):
    for ex in [*train, *evalset]:
        assert grade(ex.family, ex.answer, ex.target), (ex.answer, ex.target)
        if ex.family == "sort":  # medium writes "7, then 19, then 42"
            found, want = re.findall(r"\d+", ex.analysis), re.findall(r"\d+", ex.target)
            assert any(found[i : i + len(want)] == want for i in range(len(found))), ex.analysis
        elif ex.family != OFF_TASK:
            assert ex.target in ex.analysis, ex.analysis


def test_prompt_mentions_the_values(train):
    for ex in train[:500]:
        user = ex.messages[-1]["content"].lower()
        m = ex.meta
        if ex.family in ("add", "sub", "mul", "compare_decimals"):
            assert str(m["a"]) in user and str(m["b"]) in user
        elif ex.family in ("count_letter", "reverse"):
            assert m["word"] in user
        elif ex.family == "sort":
            assert re.findall(r"\d+", user) == [str(n) for n in m["nums"]]


def test_answer_style_follows_the_developer_instruction(train):
    for ex in train:
        if ex.family == OFF_TASK:
            continue
        if ex.meta["style"] == "bare":
            assert ex.answer == ex.target
        else:
            assert ex.answer != ex.target and ex.answer.endswith(".")
        has_dev = ex.messages[0]["role"] == "developer"
        assert has_dev == (ex.meta["dev"] is not None)
        assert ex.messages[-1]["role"] == "user"


# ----------------------------------------------------------------------------- effort


def test_reasoning_grows_with_effort_and_low_is_one_line(train):
    for family in ALL_FAMILIES:
        mean = {}
        for effort in EFFORTS:
            texts = [ex.analysis for ex in train if ex.family == family and ex.effort == effort]
            assert texts
            mean[effort] = sum(map(len, texts)) / len(texts)
        assert mean["low"] < mean["medium"] < mean["high"], (family, mean)
        if family != OFF_TASK:
            assert mean["high"] < 400, (family, mean)
    for ex in train:
        if ex.effort == "low":
            assert "\n" not in ex.analysis and len(ex.analysis) < 80, ex.analysis
        if ex.effort == "high":
            assert len(ex.analysis) < 560, ex.analysis


def test_high_effort_ends_with_a_check(train):
    for ex in train:
        if ex.effort == "high" and ex.family != OFF_TASK:
            assert "Check:" in ex.analysis


def test_off_task_replies_are_short_and_honest(train):
    off = [ex for ex in train if ex.family == OFF_TASK]
    assert {ex.effort for ex in off} == set(EFFORTS)
    for ex in off:
        assert len(ex.analysis) < 200
        assert len(ex.answer) < 220
        assert "gpt-oss-nano" in ex.answer


# ----------------------------------------------------------------------------- harmony shape


def test_completion_parses_into_analysis_then_final(train):
    for ex in train[:300]:
        messages = parse_completion(completion_text(ex))
        assert [(m.role, m.channel) for m in messages] == [("assistant", "analysis"), ("assistant", "final")]
        assert (messages[0].content, messages[1].content) == (ex.analysis, ex.answer)
        assert completion_text(ex).endswith("<|return|>")


def test_rendered_prompt_states_the_effort(train):
    for ex in train[:300]:
        prompt = render_prompt(ex.messages, effort=ex.effort)
        assert f"Reasoning: {ex.effort}" in prompt
        assert prompt.endswith("<|start|>assistant")
        assert ("# Instructions" in prompt) == (ex.meta["dev"] is not None)


def test_all_text_is_ascii_and_free_of_special_tokens(train, evalset):
    for ex in [*train, *evalset]:
        text = " ".join([ex.analysis, ex.answer, *(m["content"] for m in ex.messages)])
        assert text.isascii()
        assert "<|" not in text


# ----------------------------------------------------------------------------- grading


@pytest.mark.parametrize(
    ("family", "text", "target", "ok"),
    [
        ("add", "42", "42", True),
        ("add", "17 + 25 = 42.", "42", True),
        ("add", "The answer is 42.", "42", True),
        ("add", "Answer: 1,692", "1692", True),
        ("add", "17 + 25 = 41.", "42", False),
        ("add", "42 minus 1 is 41", "42", False),
        ("add", "", "42", False),
        ("sub", "7534 - 1018 = 6516.", "6516", True),
        ("mul", "47 * 36 = 1692", "1692", True),
        ("mul", "1693", "1692", False),
        ("count_letter", "There are 3 r's in strawberry.", "3", True),
        ("count_letter", "three", "3", True),
        ("count_letter", "There is 1 r in cherry.", "1", True),
        ("count_letter", "There are 2 r's in strawberry.", "3", False),
        ("compare_decimals", "9.9", "9.9", True),
        ("compare_decimals", "9.90 is bigger.", "9.9", True),
        ("compare_decimals", "9.9 is bigger than 9.11.", "9.9", True),
        ("compare_decimals", "The bigger one is 9.9.", "9.9", True),
        ("compare_decimals", "9.11 is bigger than 9.9.", "9.9", False),
        ("compare_decimals", "9.11", "9.9", False),
        ("sort", "1, 3, 5", "1, 3, 5", True),
        ("sort", "In ascending order: 1, 3, 5.", "1, 3, 5", True),
        ("sort", "[1, 3, 5]", "1, 3, 5", True),
        ("sort", "1, 5, 3", "1, 3, 5", False),
        ("sort", "1, 3", "1, 3, 5", False),
        ("reverse", "olleh", "olleh", True),
        ("reverse", "hello backwards is olleh.", "olleh", True),
        ("reverse", "Reversed: o-l-l-e-h", "olleh", True),
        ("reverse", "OLLEH", "olleh", True),
        ("reverse", "hello backwards is ollhe.", "olleh", False),
        ("reverse", "hello", "olleh", False),
        ("word_problem", "Tom has 6 apples.", "6", True),
        ("word_problem", "6 birds are still on the tree.", "6", True),
        ("word_problem", "Tom has 7 apples.", "6", False),
        (OFF_TASK, IDENTITY_REPLY, IDENTITY_REPLY, True),
        (OFF_TASK, "Here is a poem about the sea...", IDENTITY_REPLY, False),
    ],
)
def test_grade_is_lenient_about_phrasing_strict_about_value(family, text, target, ok):
    assert grade(family, text, target) is ok
