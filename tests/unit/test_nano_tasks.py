"""The nano task generator: seeded, correct, split-disjoint, effort-graded, honest checks, harmony-shaped."""

from __future__ import annotations

import random
import re
from collections import Counter
from decimal import Decimal

import pytest

from gptoss_lab.harmony import parse_completion, render_prompt
from gptoss_lab.nano import frames
from gptoss_lab.nano.tasks import (
    ALL_FAMILIES,
    DEV_INSTRUCTIONS,
    EFFORTS,
    EVAL_WORDS,
    FAMILIES,
    IDENTITY_REPLY,
    OFF_TASK,
    SLIP_SHARES,
    TRAIN_WORDS,
    Example,
    answer_value,
    completion_spans,
    completion_text,
    generate,
    grade,
    held_out_value,
    made_up_word,
    make_example,
    paraphrases,
    read_reasoning,
)


@pytest.fixture(scope="module")
def train() -> list[Example]:
    return generate(3 * 27 * 40, seed=7, families=ALL_FAMILIES)


@pytest.fixture(scope="module")
def evalset() -> list[Example]:
    return generate(27 * 40, seed=7, split="eval", families=ALL_FAMILIES)


def _apply(total: int, op: str, x: int) -> int:
    return {"+": total + x, "-": total - x, "*": total * x, "/": total // x}[op]


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
        for op, x in zip(m["ops"], m["values"][1:], strict=True):
            total = _apply(total, op, x)
        return str(total)
    return IDENTITY_REPLY


_EQUATION = re.compile(r"[\d.+\-*/#]+(?:=[\d.+\-*/#]+)+")


def _equations(text: str) -> list[str]:
    """Every chain ``x op y = z = ...`` in a text, spaces around operators removed; not the digit pairs of a
    layout-3 comparison (``6=2 no`` says whether two digits are equal, tested on its own)."""
    text = re.sub(r"(?<![\d+\-*/=])[\d.-]=[\d.-] (yes|no)\b", "", text)
    return _EQUATION.findall(re.sub(r"\s*([+\-*/=])\s*", r"\1", text))


def _holds(chain: str) -> bool:
    values = [eval(part.strip("."), {"__builtins__": {}}) for part in chain.split("=")]  # digits and + - * / only
    return all(v == values[0] for v in values)


def _unslipped(ex: Example) -> str:
    """The analysis with its injected slips replaced by ``#``."""
    text = ex.analysis
    for a, b in sorted(ex.masked, reverse=True):
        text = text[:a] + "#" * max(1, b - a) + text[b:]
    return text


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


# ----------------------------------------------------------------------------- wordings and splits


def test_frames_are_many_per_family_and_a_fifth_held_out():
    rng = random.Random(0)
    for family in FAMILIES:
        seen = {"train": set(), "eval": set()}
        for split in seen:
            for _ in range(400):
                ex = make_example(rng, family, "low", split)
                seen[split].add(re.sub(r"\d+|'[a-z]+'|\"[a-z]+\"", "#", ex.meta["question"]))
        assert len(seen["train"]) >= 200, (family, len(seen["train"]))
        assert len(seen["eval"]) >= 100, (family, len(seen["eval"]))
    parts = [*frames.OPENERS, *frames.CLOSERS]
    assert 0.1 < sum(map(frames.held_out, parts)) / len(parts) < 0.35


def test_word_lists_and_dev_instructions_split_cleanly():
    assert not set(TRAIN_WORDS) & set(EVAL_WORDS)
    assert len(set(TRAIN_WORDS)) >= 100
    assert len(EVAL_WORDS) >= 25
    assert {d.style for d in DEV_INSTRUCTIONS if d.held_out} == {"bare", "sentence"}


def test_train_never_produces_held_out_wordings_values_or_instructions(train, evalset):
    held_devs = {d.text.format(what=w) for d in DEV_INSTRUCTIONS if d.held_out for w in ("number", "word", "list")}
    held_parts = [p.strip() for p in (*frames.OPENERS, *frames.CLOSERS) if frames.held_out(p)]
    for ex in train:
        assert not held_out_value(ex.family, ex.meta), ex.meta
        assert ex.meta["dev"] not in held_devs
        if ex.family != OFF_TASK:  # a greeting may read like an opener
            assert not any(p in ex.meta["question"] for p in held_parts if len(p) > 12), ex.meta["question"]
    words = {ex.meta["word"] for ex in train if "word" in ex.meta}
    assert not words & set(EVAL_WORDS)
    assert words & set(TRAIN_WORDS) and words - set(TRAIN_WORDS)  # real words and made-up ones
    stories = [ex for ex in evalset if ex.family == "word_problem"]
    assert {ex.meta["cast"]["n"] for ex in stories}.isdisjoint(
        {ex.meta["cast"]["n"] for ex in train if ex.family == "word_problem"}
    )


def test_eval_uses_only_held_out_values_and_new_wordings(train, evalset):
    for ex in evalset:
        if ex.family != OFF_TASK:
            assert held_out_value(ex.family, ex.meta), ex.meta
        assert ex.meta["slip"] is None and not ex.masked
    assert {ex.meta["word"] for ex in evalset if "word" in ex.meta} <= set(EVAL_WORDS)
    prompts = lambda xs: {ex.messages[-1]["content"] for ex in xs if ex.family != OFF_TASK}  # noqa: E731
    assert not prompts(train) & prompts(evalset)


def test_made_up_words_are_letters_of_varied_length_and_never_eval_words():
    rng = random.Random(0)
    words = [made_up_word(rng) for _ in range(2000)]
    assert all(w.isalpha() and w.islower() and 3 <= len(w) <= 10 for w in words)
    assert not set(words) & set(EVAL_WORDS)
    assert len(set(words)) > 1500 and {len(w) for w in words} == set(range(3, 11))


def test_held_out_value_rule_covers_about_a_fifth_of_operands():
    rng = random.Random(0)
    pairs = [{"a": rng.randint(10, 9999), "b": rng.randint(10, 9999)} for _ in range(5000)]
    share = sum(held_out_value("add", m) for m in pairs) / len(pairs)
    assert 0.15 < share < 0.25
    assert held_out_value("mul", {"a": 47, "b": 36}) == held_out_value("mul", {"a": 36, "b": 47})


def test_questions_carry_commas_distractors_and_noise(train):
    questions = [ex.meta["question"] for ex in train if ex.family in ("add", "sub")]
    assert any(re.search(r"\d,\d{3}", q) for q in questions)  # thousands commas
    assert any("homework" in q for q in questions)
    assert any(q == q.lower() for q in questions)


def test_prompt_mentions_the_values(train):
    for ex in train[:800]:
        user = ex.messages[-1]["content"].lower().replace(",", "")
        m = ex.meta
        if ex.family in ("add", "sub", "mul", "compare_decimals"):
            assert str(m["a"]) in user and str(m["b"]) in user
        elif ex.family in ("count_letter", "reverse"):
            assert m["word"] in user
        elif ex.family == "sort":
            assert [int(x) for x in re.findall(r"\d+", user)][-len(m["nums"]) :] == m["nums"] or all(
                str(n) in user for n in m["nums"]
            )
        elif ex.family == "word_problem":
            assert all(str(v) in user for v in m["values"]), (user, m)


# ----------------------------------------------------------------------------- correctness


def test_targets_match_python_arithmetic(train, evalset):
    for ex in [*train, *evalset]:
        assert ex.target == _recompute(ex), (ex.messages, ex.meta)


def test_every_equation_holds_except_the_injected_slips(train, evalset):
    checked = 0
    for ex in [*train, *evalset]:
        for chain in _equations(_unslipped(ex)):
            if "#" not in chain:
                assert _holds(chain), (chain, ex.analysis)
                checked += 1
    assert checked > len(train)


def test_every_analysis_starts_with_the_task_and_ends_at_the_right_answer(train, evalset):
    for ex in [*train, *evalset]:
        assert ex.analysis.startswith("Task: "), ex.analysis
        assert grade(ex.family, ex.answer, ex.target), (ex.answer, ex.target)
        if ex.family != OFF_TASK:
            reading = read_reasoning(ex.analysis)
            assert reading.final_answer is not None and grade(ex.family, reading.final_answer, ex.target), ex.analysis


def test_the_check_fires_exactly_when_a_slip_changed_something(train):
    high = [ex for ex in train if ex.effort == "high" and ex.family != OFF_TASK]
    for ex in high:
        reading = read_reasoning(ex.analysis)
        assert reading.checked
        if ex.meta["slip"] is None:
            assert not reading.fired and not ex.masked, ex.analysis
        if reading.fired:
            assert ex.masked, ex.analysis  # only an injected slip makes a reference check fire
        if ex.meta["slip"] == "work" and reading.first_answer != ex.target:
            assert reading.fired, ex.analysis  # a slip that reached the answer is always caught
    fired = sum(read_reasoning(ex.analysis).fired for ex in high) / len(high)
    assert 0.5 * sum(SLIP_SHARES.values()) < fired <= sum(SLIP_SHARES.values()) + 0.05
    kinds = Counter(ex.meta["slip"] for ex in high)
    assert set(kinds) == {None, "copy", "work", "check"}


def test_masked_spans_are_the_slips_and_map_into_the_completion(train):
    slipped = [ex for ex in train if ex.masked]
    assert slipped
    for ex in slipped[:200]:
        text = completion_text(ex)
        for (a, b), (c, d) in zip(ex.masked, completion_spans(ex), strict=True):
            assert text[c:d] == ex.analysis[a:b]
            assert "Answer:" not in ex.analysis[a:b] and "Check" not in ex.analysis[a:b]


def test_a_copy_slip_is_caught_by_re_reading_the_question(train):
    copies = [ex for ex in train if ex.meta["slip"] == "copy" and ex.masked]
    assert copies
    for ex in copies:
        check = next(line for line in ex.analysis.splitlines() if line.startswith("Check: the question says"))
        assert check.endswith("differ."), ex.analysis
        assert "Redo:" in ex.analysis


def test_paraphrases_keep_the_problem_and_change_the_words(evalset):
    for ex in [e for e in evalset if e.family != OFF_TASK][:80]:
        others = paraphrases(ex, 5, seed=1)
        assert len(others) == 5
        assert len({o.messages[-1]["content"] for o in others}) == 5
        for other in others:
            assert other.target == ex.target and other.effort == ex.effort
            assert other.meta["dev"] == ex.meta["dev"]
            assert held_out_value(other.family, other.meta)


def test_answer_style_follows_the_developer_instruction(train):
    for ex in train:
        if ex.family == OFF_TASK:
            continue
        if ex.meta["style"] == "bare":
            assert ex.answer == ex.target
        else:
            assert ex.answer != ex.target and ex.answer.endswith(".")
        assert (ex.messages[0]["role"] == "developer") == (ex.meta["dev"] is not None)
        assert ex.messages[-1]["role"] == "user"


# ----------------------------------------------------------------------------- effort


def test_reasoning_grows_with_effort_and_low_is_the_task_and_a_guess(train):
    for family in ALL_FAMILIES:
        mean = {}
        for effort in EFFORTS:
            texts = [ex.analysis for ex in train if ex.family == family and ex.effort == effort]
            mean[effort] = sum(map(len, texts)) / len(texts)
        assert mean["low"] < mean["medium"] < mean["high"], (family, mean)
    for ex in train:
        if ex.effort == "low" and ex.family != OFF_TASK:
            assert len(ex.analysis.splitlines()) == 2 and ex.analysis.splitlines()[1].startswith("Answer: ")
        if ex.effort != "high":
            assert "Check" not in ex.analysis


def test_off_task_replies_are_short_and_honest(train):
    off = [ex for ex in train if ex.family == OFF_TASK]
    assert {ex.effort for ex in off} == set(EFFORTS)
    for ex in off:
        assert len(ex.analysis) < 240
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


def test_answer_value_gives_one_normal_form_per_answer():
    assert answer_value("add", "3,475 + 5,143 = 8,618.") == answer_value("add", "8618") == "8618"
    assert answer_value("compare_decimals", "3.50 is bigger.") == "3.5"
    assert answer_value("sort", "In ascending order: 3, 5, 12.") == "3, 5, 12"
    assert answer_value("reverse", "penguin backwards is niugnep.") == "niugnep"
    assert answer_value("add", "no idea") is None


def test_a_slip_in_a_story_never_leaves_whole_numbers():
    # a slipped step lowered by one once made a later "take away" go below zero (an assertion in training)
    for seed in range(12):
        for ex in generate(600, seed=seed, families=["word_problem"], efforts=["high"]):
            assert all(int(v) >= 0 for v in re.findall(r"=(\d+)", _unslipped(ex)))


# ----------------------------------------------------------------------------- scratchpad layouts


def test_layout_2_matches_every_letter_by_its_number_beside_the_one_sought():
    checked = 0
    for ex in generate(400, seed=11, families=("count_letter",), efforts=("high",), layout=2):
        letter, word = ex.meta["letter"], ""
        lines = [ln for ln in _unslipped(ex).splitlines() if ln.startswith(("Letters: ", "Each: "))]
        assert any(ln.startswith("Each: ") for ln in lines), ex.analysis
        for line in lines:
            if line.startswith("Letters: "):  # the word as spelled just above (a miscopied one after a copy slip)
                word = "".join(re.findall(r"\d+ (\w)", line))
                continue
            if "#" in line:
                continue
            seen, found = 0, re.findall(r"(\d+) (\w) = (\w) (no|yes \d+)", line)
            assert [int(n) for n, *_ in found] == list(range(1, len(word) + 1))  # every letter, by its number
            for n, ch, sought, verdict in found:
                assert ch == word[int(n) - 1] and sought == letter
                seen += ch == letter
                assert verdict == (f"yes {seen}" if ch == letter else "no"), line
                checked += 1
    assert checked > 1000


def test_compare_digits_spells_out_each_digit_up_to_the_first_mismatch():
    from gptoss_lab.nano.scratch import compare_digits

    assert compare_digits("4617", "4617") == ("4617 vs 4617: 4=4 yes, 6=6 yes, 1=1 yes, 7=7 yes: same. Correct.", True)
    assert compare_digits("6046", "6219") == ("6046 vs 6219: 6=6 yes, 0=2 no: differ.", False)
    assert compare_digits("4617", "461") == ("4617 vs 461: 4=4 yes, 6=6 yes, 1=1 yes, 7=- no: differ.", False)
    assert compare_digits("7", "17") == ("7 vs 17: 7=1 no: differ.", False)


_VS = re.compile(r"^(\d+) vs (\d+): (.*): (same\. Correct\.|differ\.)$")


def test_layout_3_compares_whole_numbers_digit_by_digit_and_changes_nothing_else():
    from gptoss_lab.nano.families import DIGITWISE

    lines = 0
    for family in ALL_FAMILIES:
        kwargs = dict(seed=5, families=(family,), efforts=("high",))
        third, second = generate(150, layout=3, **kwargs), generate(150, layout=2, **kwargs)
        for new, old in zip(third, second, strict=True):
            assert new.target == old.target and new.messages == old.messages
            if family not in DIGITWISE:  # words and decimals keep the whole-value verdict
                assert new.analysis == old.analysis
                continue
            shortened = []
            for line in _unslipped(new).splitlines():
                found = _VS.match(line)
                if found is None or "#" in line:
                    shortened.append(line)
                    continue
                a, b, steps, verdict = found.groups()
                pairs = re.findall(r"(\d|-)=(\d|-) (yes|no)", steps)
                want = [(x, y) for x, y in zip(a.ljust(len(b), "-"), b.ljust(len(a), "-"), strict=True)]
                first_no = next((i for i, (x, y) in enumerate(want) if x != y), len(want) - 1)
                assert [(x, y) for x, y, _ in pairs] == want[: first_no + 1], line  # left to right, to the first no
                assert [v for *_, v in pairs] == ["yes" if x == y else "no" for x, y in want[: first_no + 1]]
                assert (verdict == "same. Correct.") == (a == b), line
                shortened.append(f"{a} vs {b}: {'same. Correct.' if a == b else 'differ.'}")
                lines += 1
            assert "\n".join(shortened) == _unslipped(old)  # the same reasoning, the verdict spelled out
    assert lines > 400


def test_digitwise_comparison_drills_learn_the_whole_spelled_out_verdict():
    from gptoss_lab.nano import drill

    rng, verdicts = random.Random(2), []
    for _ in range(100):
        pieces = drill.compare_row(rng, 8, digitwise=True)
        text = "".join(piece for piece, _ in pieces)
        assert len(text.splitlines()) == 8
        for line in text.splitlines():
            found = _VS.match(line)
            assert found, line
            a, b, _, verdict = found.groups()
            assert (verdict == "same. Correct.") == (a == b)
            verdicts.append(a == b)
        learned = [piece for piece, on in pieces if on]
        heads = [piece for piece, on in pieces if not on]
        assert all(re.fullmatch(r"\n?\d+ vs \d+:", h) for h in heads)  # the two numbers given, the rest learned
        assert all(piece.startswith(" ") and piece.endswith(".") for piece in learned)
    assert 0.4 < sum(verdicts) / len(verdicts) < 0.6  # a constant verdict scores half


def test_the_default_layout_is_the_shipped_checkpoints_and_weights_only_reweight():
    from gptoss_lab.nano.families import LAYOUT
    from gptoss_lab.nano.stages import SHIPPED

    assert max(stage.get("layout", 1) for stage in SHIPPED) == LAYOUT  # what eval and the notebooks show
    shipped = generate(60, seed=3, families=("count_letter",), efforts=("high",))
    assert all("Each:" in ex.analysis for ex in shipped)  # layouts 2 and 3: a verdict per letter
    compared = [ex for ex in shipped if " vs " in ex.analysis]  # not those whose re-read found a miscopy
    assert len(compared) > 40 and all(re.search(r" vs \d+: \d=\d (yes|no)", ex.analysis) for ex in compared)
    assert [ex.analysis for ex in shipped] == [ex.analysis for ex in generate(60, seed=3, families=("count_letter",),
                                                                              efforts=("high",), layout=3)]  # fmt: skip
    first = generate(60, seed=3, families=("count_letter",), efforts=("high",), layout=1)
    assert all("Each:" not in ex.analysis for ex in first)  # the first four stages' layout
    plain = generate(90, seed=3)
    assert [ex.analysis for ex in generate(90, seed=3, weights={})] == [ex.analysis for ex in plain]
    weighted = Counter(ex.family for ex in generate(9 * 30, seed=3, weights={"sort": 3}, efforts=("high",)))
    assert weighted["sort"] == 3 * 27 and weighted["add"] == 27


def test_layout_4_undoes_sums_and_works_every_story_step_in_columns():
    facts = 0
    for family in ALL_FAMILIES:
        kwargs = dict(seed=6, families=(family,), efforts=("high",))
        fourth, third = generate(200, layout=4, **kwargs), generate(200, layout=3, **kwargs)
        for new, old in zip(fourth, third, strict=True):
            if family not in ("add", "word_problem"):  # layout 4 rewrites these two families only
                assert (new.messages, new.analysis) == (old.messages, old.analysis)
                continue
            text = _unslipped(new)
            assert "Other order" not in text
            if family == "add" and "the task says" in text and ": same.\n" in text.split("Check:")[1][:200]:
                undo = re.search(r"^Undo: (\d+)-(\d+), ones first: .* so (\d+)\.$", text, re.M)
                if undo and "#" not in undo.group(0):  # the sum taken back apart, digit by digit
                    total, b, back = map(int, undo.groups())
                    assert back == total - b and b == new.meta["b"]
            for line in text.splitlines():
                if "#" in line or line.startswith(("Task:", "Redo:", "Check:", "Answer:")):
                    continue
                # a story's sums and differences always in columns: never "23+9=22." in one go
                if family == "word_problem":
                    head = re.match(r"\d+[+-]\d+", line)
                    assert head is None or line[head.end() :].startswith(
                        (", ones first: ", " is not a whole number: differ.")
                    ), line
                for x, y, p in re.findall(r"\b(\d+)\*(\d+)=(\d+)\b", line):  # counting up to a share, facts
                    assert int(x) * int(y) == int(p), line
                    facts += 1
                share = re.fullmatch(r"(\d+)/(\d+): .*, so (\d+)\.", line)
                if share:
                    whole, part, q = map(int, share.groups())
                    assert whole == part * q and line.count("*") == q, line
    assert facts > 100


def test_layout_8_takes_the_divisor_away_until_none_is_left_and_changes_nothing_else():
    shares = slipped = 0
    for family in ALL_FAMILIES:
        kwargs = dict(seed=9, families=(family,), efforts=("high", "medium", "low"))
        eighth, fourth = generate(480, layout=8, **kwargs), generate(480, layout=4, **kwargs)
        for new, old in zip(eighth, fourth, strict=True):
            assert new.messages == old.messages and new.target == old.target
            if family != "word_problem" or new.effort != "high":  # layout 8 rewrites a story's shares only
                assert new.analysis == old.analysis
                continue
            text, before = _unslipped(new), _unslipped(old)
            lines, was = text.splitlines(), before.splitlines()
            assert len(lines) == len(was)
            for line, old_line in zip(lines, was, strict=True):
                share = re.fullmatch(r"(\d+)/(\d+): (.*), so (\d+|#+)\.", line)
                if not share:
                    assert line == old_line  # every other line as layout 4 writes it
                    continue
                whole, part, takes, q = share.groups()
                whole, part = int(whole), int(part)
                assert old_line.startswith(f"{whole}/{part}: 1*{part}=") and old_line.endswith(f", so {q}.")
                steps = re.findall(r"(\d+): (\d+)-(\d+)=(\d+)", takes)
                assert ", ".join(f"{k}: {c}-{x}={d}" for k, c, x, d in steps) == takes  # nothing else on the line
                assert [int(k) for k, *_ in steps] == list(range(1, whole // part + 1))  # numbered from 1
                left = whole
                for _, c, x, d in steps:  # each take from what the one before left, down to 0
                    assert (int(c), int(x), int(d)) == (left, part, left - part)
                    left -= part
                assert left == 0
                if q.startswith("#"):  # a slipped count (the work's or the undo's): the check finds it
                    assert ": differ." in text
                    slipped += 1
                else:
                    assert int(q) == len(steps)
                shares += 1
    assert shares > 30 and slipped > 3


def test_layout_9_sorts_in_one_line_and_its_check_finds_a_swapped_pair():
    from gptoss_lab.nano.families import LAYOUTS

    assert all(LAYOUTS[9][f] is LAYOUTS[8][f] for f in LAYOUTS[8] if f != "sort")  # only sorting is rewritten
    fired = passed = 0
    for i in range(300):
        new, old = (make_example(random.Random(i), "sort", "high", "train", layout=n) for n in (9, 8))
        medium = make_example(random.Random(i), "sort", "medium", "train", layout=9)
        assert new.target == old.target  # the same problem (what is drawn after the reasoning may differ)
        lines = new.analysis.splitlines()
        assert lines[0] == old.analysis.splitlines()[0] and not any(ln.startswith("Left:") for ln in lines)
        if new.meta["slip"] is None:  # the work is medium's line, then the check passes
            assert lines[1] == medium.analysis.splitlines()[1] and lines[2] == f"Answer: {new.target}."
            assert lines[-1].endswith("so same. Correct.")
            passed += 1
        if new.meta["slip"] == "work":  # two neighbours swapped (masked): In order finds the pair, the redo fixes it
            first = re.fullmatch(r"Answer: ([\d, ]+)\.", lines[2]).group(1)
            assert first != new.target and sorted(first.split(", ")) == sorted(new.target.split(", "))
            swapped = [new.analysis[a:b] for a, b in new.masked]
            assert len(swapped) == 2 and ", ".join(swapped) in first and ", ".join(swapped[::-1]) in new.target
            assert lines[4].startswith("In order: ") and re.search(r" no[,.]", lines[4])
            assert "so differ." in new.analysis and lines[-1] == f"Answer: {new.target}."
            fired += 1
    assert passed > 100 and fired > 30
    from gptoss_lab.nano import drill  # the list rows drill the same line

    row = "".join(p for p, _ in drill.list_row(random.Random(3), 1, layout=9))
    assert re.search(r"^(Smallest|Largest) first: \d+(, then \d+)+\.$", row, re.M) and "Left:" not in row


@pytest.mark.parametrize("split", ["train", "eval"])
def test_a_descending_sort_names_its_order(split):
    """No order named means ascending: a question that wants the largest first must say so."""
    named = re.compile(r"descending|decreasing|largest|highest|greatest")
    sorts = generate(3000, seed=3, split=split, families=("sort",), efforts=("low",))
    descending = [ex for ex in sorts if ex.meta["order"] == "desc"]
    assert len(descending) > 600
    unnamed = [ex.messages[-1]["content"] for ex in descending if not named.search(ex.messages[-1]["content"].lower())]
    assert not unnamed, unnamed[:3]
