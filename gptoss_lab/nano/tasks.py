"""Seeded harmony tasks for gpt-oss-nano: prompts, reasoning at three efforts, answers, grading.

Each task *family* (addition, letter counting, decimals...) has a table of user templates and
a solver that writes the analysis-channel reasoning for each reasoning effort:

* ``low``: one short line, then the answer (a small model often guesses wrong here: that is the point);
* ``medium``: the key steps (column sums, partial products, padded decimals...);
* ``high``: every step, written as an explicit, local, digit-by-digit algorithm (least significant
  digit first, spelled-out carries and borrows, a running count), then a check.

Train and eval are disjoint: ``split="eval"`` uses only the templates marked ``held_out`` and only
held-out values (:func:`held_out_value`: a hash rule on the operands, or a held-out word list);
``split="train"`` never produces either. Everything is ASCII, stdlib only, and deterministic in the
seed. ``OFF_TASK`` prompts ("hello", "write a poem") get a short honest reply.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = [
    "ALL_FAMILIES",
    "DEV_INSTRUCTIONS",
    "EFFORTS",
    "EVAL_WORDS",
    "FAMILIES",
    "IDENTITY_REPLY",
    "OFF_TASK",
    "SPLITS",
    "TEMPLATES",
    "TRAIN_WORDS",
    "DevInstruction",
    "Example",
    "Template",
    "completion_text",
    "generate",
    "grade",
    "held_out_value",
    "made_up_word",
    "make_example",
]

FAMILIES: tuple[str, ...] = (
    "add",
    "sub",
    "mul",
    "count_letter",
    "compare_decimals",
    "sort",
    "reverse",
    "word_problem",
)
OFF_TASK = "off_task"
ALL_FAMILIES: tuple[str, ...] = (*FAMILIES, OFF_TASK)
EFFORTS: tuple[str, ...] = ("low", "medium", "high")
SPLITS: tuple[str, ...] = ("train", "eval")
IDENTITY_REPLY = (
    "I am gpt-oss-nano, a tiny teaching model; I can do arithmetic, count letters, compare decimals, "
    "sort numbers, reverse words and simple word problems."
)


@dataclass(frozen=True)
class Example:
    """One conversation: the prompt's chat dicts, the reasoning for ``effort``, the final answer.

    ``target`` is the canonical value to grade against; ``meta`` holds the problem's values
    (operands, word, letter...), the raw template and the developer instruction, so that a
    test can recompute ``target`` on its own.
    """

    family: str
    effort: str
    messages: list[dict[str, str]]
    analysis: str
    answer: str
    target: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Template:
    """A user phrasing. ``data``: family extras (a story's start, answer and steps; off-task kind, opener)."""

    text: str
    held_out: bool = False
    data: tuple[str, ...] = ()


@dataclass(frozen=True)
class DevInstruction:
    """A developer instruction and the answer style it asks for: ``bare`` value or ``sentence``."""

    text: str
    style: str
    held_out: bool = False


def _table(train: Sequence[str | tuple[str, ...]], held: Sequence[str | tuple[str, ...]]) -> tuple[Template, ...]:
    def one(t: str | tuple[str, ...], is_held: bool) -> Template:
        return Template(t, is_held) if isinstance(t, str) else Template(t[0], is_held, tuple(t[1:]))

    return tuple(one(t, False) for t in train) + tuple(one(t, True) for t in held)


# ----------------------------------------------------------------------------- template tables

# fmt: off
TEMPLATES: dict[str, tuple[Template, ...]] = {
    "add": _table(
        ["What is {a} + {b}?", "what is {a}+{b}", "Compute {a} plus {b}.", "Add {a} and {b}.", "{a} + {b} = ?",
         "Calculate {a} + {b}", "Please add {a} to {b}.", "What's the sum of {a} and {b}?", "find the sum: {a} + {b}",
         "How much is {a} plus {b}?", "Sum {a} and {b}, please.", "{a} plus {b}?", "Can you work out {a} + {b}?",
         "ADD {a} AND {b}", "Quick one: {a}+{b}"],
        ["What do you get when you add {a} and {b}?", "Total of {a} and {b}?", "Work out the sum of {a} and {b}."],
    ),
    "sub": _table(
        ["What is {a} - {b}?", "what is {a}-{b}", "Compute {a} minus {b}.", "Subtract {b} from {a}.", "{a} - {b} = ?",
         "Calculate {a} - {b}", "What's {a} take away {b}?", "find the difference: {a} - {b}",
         "How much is {a} minus {b}?", "Take {b} away from {a}.", "{a} minus {b}?", "Can you work out {a} - {b}?",
         "SUBTRACT {b} FROM {a}", "Quick one: {a}-{b}", "What is the difference between {a} and {b}?"],
        ["What is left if you take {b} from {a}?", "How much is {b} less than {a}?", "Work out {a} minus {b}."],
    ),
    "mul": _table(
        ["What is {a} * {b}?", "what is {a}x{b}", "Compute {a} times {b}.", "Multiply {a} by {b}.", "{a} * {b} = ?",
         "Calculate {a} x {b}", "What's the product of {a} and {b}?", "find the product: {a} * {b}",
         "How much is {a} times {b}?", "{a} times {b}?", "Can you work out {a} * {b}?", "MULTIPLY {a} AND {b}",
         "Quick one: {a}*{b}", "What is {a} multiplied by {b}?", "{a} groups of {b}: how many in total?"],
        ["What do you get when you multiply {a} by {b}?", "Product of {a} and {b}?", "Work out {a} times {b}."],
    ),
    "count_letter": _table(
        ["How many {letter}'s are in {word}?", "how many {letter} in {word}", 'Count the letter {letter} in "{word}".',
         "How many times does the letter {letter} appear in {word}?",
         "In the word {word}, how many {letter}s are there?",
         "Count how many '{letter}' are in '{word}'.", "{word}: how many {letter}?", "Number of {letter} in {word}?",
         "COUNT: letter {letter} in {word}", "Tell me how many {letter} letters {word} has.",
         "How often does {letter} occur in the word {word}?", "Count {letter} in {word}",
         "Please count the {letter}'s in {word}.", 'How many {letter}\'s does "{word}" contain?',
         "letter count: {letter} in {word}?"],
        ["What is the number of {letter} letters in the word {word}?", "Can you count every {letter} in {word}?",
         "{word} - count the letter {letter}."],
    ),
    "compare_decimals": _table(
        ["Which is {more}, {a} or {b}?", "which is {more}: {a} or {b}", "Which number is {more}, {a} or {b}?",
         "{a} or {b}: which is {more}?", "Compare {a} and {b}. Which is {more}?",
         "Of {a} and {b}, which one is {more}?",
         "Which is {more}? {a} vs {b}", "Tell me which is {more}: {a} or {b}.", "{a} vs {b} - which is {more}?",
         "Is {a} or {b} {more}?", "Which value is {more}, {a} or {b}?", "Between {a} and {b}, which is {more}?",
         "Pick the {more} number: {a}, {b}", "WHICH IS {more}?? {a} OR {b}", "Decide which is {more}: {a} or {b}."],
        ["Out of {a} and {b}, which is {more}?", "Which of these is {more}: {a}, {b}?",
         "I have {a} and {b}. Which is {more}?"],
    ),
    "sort": _table(
        ["Sort these numbers: {nums}", "sort {nums}", "Put {nums} in order from smallest to largest.",
         "Sort {nums} in {order}.", "Arrange these numbers in {order}: {nums}.", "Can you sort {nums}?",
         "Sort the list [{nums}].", "Please sort: {nums}", "Write {nums} in {order}.", "SORT: {nums}",
         "Rearrange {nums} in {order}.", "What is {nums} sorted in {order}?", "List these in {order}: {nums}",
         "sort the numbers {nums} please", "Put these in {order}: {nums}"],
        ["Give me {nums} in {order}.", "How do {nums} look when sorted?", "Order these numbers ({order}): {nums}"],
    ),
    "reverse": _table(
        ["Spell {word} backwards.", "spell {word} backwards", "What is {word} reversed?", "Reverse the word {word}.",
         'Write "{word}" backwards.', "How do you spell {word} backwards?", "Reverse: {word}", "{word} backwards?",
         "Can you reverse '{word}'?", "Please write the word {word} in reverse.", "REVERSE {word}",
         "Read {word} from right to left.", "What does {word} look like spelled backwards?",
         "Flip the letters of {word}.", "Backwards spelling of {word}?"],
        ["Give me {word} written backwards.", "Turn {word} around, letter by letter.",
         "What is the reverse of the word {word}?"],
    ),
    # A story: (text, start, answer sentence, steps...); a step is its operator then its phrase.
    "word_problem": _table(
        [("{n} has {a} apples. {n} buys {b} more. How many apples does {n} have now?", "{a} apples",
          "{n} has {r} apples.", "+buys {x} more"),
         ("{n} had {a} coins and spent {b}. How many coins are left?", "{a} coins", "{n} has {r} coins left.",
          "-spends {x}"),
         ("A train has {a} passengers. At the station {b} get off and {c} get on. How many passengers are on the "
          "train now?", "{a} passengers", "There are {r} passengers on the train.", "-{x} get off", "+{x} get on"),
         ("{n} has {a} bags with {b} marbles in each. How many marbles is that?", "{a} bags", "That is {r} marbles.",
          "*{x} marbles each"),
         ("There are {a} birds on a tree. {b} fly away, then {c} more fly away. How many birds are still on the "
          "tree?", "{a} birds", "{r} birds are still on the tree.", "-{x} fly away", "-{x} more fly away"),
         ("{n} reads {a} pages on Monday and {b} pages on Tuesday. How many pages is that in total?", "{a} pages",
          "{n} read {r} pages.", "+{x} more pages"),
         ("A box holds {a} rows of {b} eggs. {c} eggs break. How many eggs are not broken?", "{a} rows",
          "{r} eggs are not broken.", "*{x} eggs per row", "-{x} break"),
         ("{n} has {a} stickers, gets {b} from a friend and gives {c} away. How many stickers does {n} have?",
          "{a} stickers", "{n} has {r} stickers.", "+gets {x}", "-gives {x} away"),
         ("Pencils cost {b} coins each. {n} buys {a} pencils. How many coins does {n} pay?", "{a} pencils",
          "{n} pays {r} coins.", "*{x} coins each"),
         ("A farmer has {a} cows and {b} sheep. How many animals does the farmer have?", "{a} cows",
          "The farmer has {r} animals.", "+{x} sheep"),
         ("{n} baked {a} cookies and ate {b}. Then {n} baked {c} more. How many cookies are there now?",
          "{a} cookies", "There are {r} cookies now.", "-ate {x}", "+baked {x} more"),
         ("A shelf has {a} books. {n} adds {b} books and removes {c}. How many books are on the shelf?", "{a} books",
          "There are {r} books on the shelf.", "+adds {x}", "-removes {x}"),
         ("{n} saves {a} coins a week for {b} weeks. How many coins does {n} save?", "{a} coins a week",
          "{n} saves {r} coins.", "*for {x} weeks"),
         ("there were {a} people on a bus. {b} got on. how many people are on the bus?", "{a} people",
          "There are {r} people on the bus.", "+{x} got on"),
         ("{n} picks {a} flowers; {b} of them wilt. How many flowers are still fresh?", "{a} flowers",
          "{r} flowers are still fresh.", "-{x} wilt"),
         ("{n} had {a} balloons. {b} popped. How many balloons does {n} have now?", "{a} balloons",
          "{n} has {r} balloons.", "-{x} popped"),
         ("A bus has {a} people on it. {b} people get off. How many people are on the bus?", "{a} people",
          "There are {r} people on the bus.", "-{x} get off"),
         ("{n} finds {a} shells and then finds {b} more. How many shells did {n} find?", "{a} shells",
          "{n} found {r} shells.", "+finds {x} more"),
         ("{n} has {a} packs of {b} cards. How many cards is that?", "{a} packs", "That is {r} cards.",
          "*{x} cards each"),
         ("{n} had {a} marbles and lost {b}. How many marbles are left?", "{a} marbles",
          "{n} has {r} marbles left.", "-lost {x}"),
         ("There are {a} cars in a lot. {b} cars arrive and {c} cars leave. How many cars are in the lot?",
          "{a} cars", "There are {r} cars in the lot.", "+{x} arrive", "-{x} leave"),
         ("{n} has {a} plates with {b} grapes on each. {n} eats {c} grapes. How many grapes are left?",
          "{a} plates", "{r} grapes are left.", "*{x} grapes each", "-eats {x}"),
         ("{n} collects {a} stamps, then gets {b} more as a gift. How many stamps does {n} have?", "{a} stamps",
          "{n} has {r} stamps.", "+gets {x} more"),
         ("A tank has {a} fish. {n} adds {b} fish, then {c} fish are sold. How many fish are in the tank?",
          "{a} fish", "There are {r} fish in the tank.", "+adds {x}", "-{x} sold"),
         ("{n} buys {a} packs of {b} pens and gives away {c} pens. How many pens does {n} have left?",
          "{a} packs", "{n} has {r} pens left.", "*{x} pens each", "-gives away {x}"),
         ("A class has {a} students. {b} more students join. How many students are there?", "{a} students",
          "There are {r} students.", "+{x} join"),
         ("{n} had {a} stars and then found {b} more. How many stars does {n} have?", "{a} stars",
          "{n} has {r} stars.", "+found {x} more")],
        [("A train leaves with {a} people. At the first stop {b} people get on, at the second {c} get off. How many "
          "are on the train now?", "{a} people", "There are {r} people on the train.", "+{x} get on", "-{x} get off"),
         ("{n} has {a} boxes of {b} crayons and finds {c} more crayons. How many crayons does {n} have?", "{a} boxes",
          "{n} has {r} crayons.", "*{x} crayons each", "+finds {x} more"),
         ("{n} had {a} coins, lost {b} and then found {c}. How many coins does {n} have now?", "{a} coins",
          "{n} has {r} coins now.", "-lost {x}", "+found {x}")],
    ),
    # Off-task: (prompt, kind, opening of the reply).
    OFF_TASK: _table(
        [("hello", "greet", "Hello! "), ("Hi!", "greet", "Hi! "), ("who are you?", "self", ""),
         ("What is your name?", "self", ""), ("write a poem", "other", "Sorry, I cannot write poems. "),
         ("Tell me a joke.", "other", "Sorry, I do not know jokes. "),
         ("What is the capital of France?", "other", "Sorry, I do not know facts like that. "),
         ("how are you", "greet", "I am fine, thanks. "), ("Translate 'cat' into French.", "other",
          "Sorry, I cannot translate. "), ("What's the weather like today?", "other",
          "Sorry, I cannot see the weather. "), ("Can you help me with my essay?", "other",
          "Sorry, I cannot help with essays. "), ("thanks", "greet", "You are welcome! "),
         ("{random}", "other", "I do not understand that. "), ("Write a story about a dragon.", "other",
          "Sorry, I cannot write stories. "), ("What can you do?", "self", "")],
        [("good morning", "greet", "Good morning! "), ("Who made you?", "self", ""),
         ("Explain quantum physics.", "other", "Sorry, I cannot explain physics. ")],
    ),
}
# fmt: on

DEV_INSTRUCTIONS: tuple[DevInstruction, ...] = (
    DevInstruction("Answer with just the {what}.", "bare"),
    DevInstruction("Be brief.", "bare"),
    DevInstruction("Give only the final answer.", "bare"),
    DevInstruction("Reply with the answer only, no extra words.", "bare"),
    DevInstruction("keep it short", "bare"),
    DevInstruction("Show the result as a sentence.", "sentence"),
    DevInstruction("Answer in a full sentence.", "sentence"),
    DevInstruction("You are a helpful tutor. Reply in one short sentence.", "sentence"),
    DevInstruction("Answer the question.", "sentence"),
    DevInstruction("Respond with only the {what}.", "bare", held_out=True),
    DevInstruction("No explanations, just the result.", "bare", held_out=True),
    DevInstruction("Please answer in one complete sentence.", "sentence", held_out=True),
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Words for counting and reversing; EVAL_WORDS never appear in training.
TRAIN_WORDS: tuple[str, ...] = _words(
    "strawberry banana apple letter mississippi bookkeeper balloon coffee pepper cheese butter rabbit puppy kitten "
    "yellow orange purple window garden pizza school teacher bottle paper summer winter happy hello world river "
    "mountain forest ocean island rocket planet dragon castle candle mirror pillow carrot potato tomato cookie muffin "
    "jungle giraffe zebra monkey parrot turtle spoon table chair pencil eraser marker guitar piano violin trumpet "
    "basket bridge tunnel engine wheel street little middle bubble puzzle silly jelly berry cherry lemon melon grape "
    "peach sugar honey salad bread water coral shell sand stone cloud storm rainbow thunder breeze desert valley "
    "meadow camera doctor nurse farmer sailor pirate wizard knight queen king crown sword arrow anchor banner "
    "cat dog sun moon star tree book door"
)
EVAL_WORDS: tuple[str, ...] = _words(
    "raspberry committee address success parallel tomorrow umbrella penguin blossom hammock kangaroo squirrel "
    "lollipop pepperoni coconut avocado broccoli cinnamon dolphin elephant flamingo goggles hippo igloo jigsaw "
    "kettle lantern noodle oregano bee"
)

_NAMES = ("Tom", "Ana", "Sam", "Mia", "Leo", "Zoe", "Ben", "Eva", "Max", "Ivy")
_PLACES = ("ones", "tens", "hundreds", "thousands", "ten-thousands")
_SCALES = {1: "tenths", 2: "hundredths", 3: "thousandths"}


# ----------------------------------------------------------------------------- held-out values


def _hash_held(values: Sequence[int]) -> bool:
    """The eval-only rule for numbers: a hash of the sorted operands is 0 mod 5 (about 1 in 5)."""
    h = 0
    for v in sorted(values):
        h = (h * 31 + v) % 1_000_003
    return h % 5 == 0


def held_out_value(family: str, meta: dict[str, Any]) -> bool:
    """Whether an example's values are reserved for eval (its template aside)."""
    if family in ("add", "sub", "mul"):
        return _hash_held([meta["a"], meta["b"]])
    if family == "compare_decimals":
        return _hash_held([int(meta["a"].replace(".", "")), int(meta["b"].replace(".", ""))])
    if family == "sort":
        return _hash_held(meta["nums"])
    if family == "word_problem":
        return _hash_held(meta["values"])
    if family in ("count_letter", "reverse"):
        return meta["word"] in EVAL_WORDS
    return False  # off-task prompts are held out by template only


# ----------------------------------------------------------------------------- solvers


@dataclass(frozen=True)
class _Solution:
    target: str
    low: str
    medium: str
    high: str
    bare: str
    sentence: str


def _digits(n: int, width: int) -> list[int]:
    """Digits of n, least significant first, padded with zeros to ``width``."""
    return [(n // 10**i) % 10 for i in range(width)]


def _column_sums(a: int, b: int) -> str:
    """Compact column addition, ones first: ``8+6=14, 3+9+1=13, 7+5+1=13, 4+0+1=5``."""
    width = max(len(str(a)), len(str(b)))
    parts, carry = [], 0
    for x, y in zip(_digits(a, width), _digits(b, width), strict=True):
        s = x + y + carry
        parts.append(f"{x}+{y}+{carry}={s}" if carry else f"{x}+{y}={s}")
        carry = s // 10
    return ", ".join(parts)


def _solve_add(m: dict[str, Any]) -> _Solution:
    a, b = m["a"], m["b"]
    s = a + b
    width = max(len(str(a)), len(str(b)))
    lines, carry = [f"{a}+{b} digit by digit, ones first."], 0
    for i, (x, y) in enumerate(zip(_digits(a, width), _digits(b, width), strict=True)):
        t = x + y + carry
        lines.append(f"{_PLACES[i]}: {x}+{y}+{carry}={t}, write {t % 10} carry {t // 10}.")
        carry = t // 10
    if carry:
        lines.append(f"{_PLACES[width]}: carry {carry}, write {carry}.")
    lines += [f"So {a}+{b}={s}.", f"Check: {s}-{b}={a}. Correct."]
    medium = f"Columns from the ones: {_column_sums(a, b)}. So {a}+{b}={s}."
    return _Solution(str(s), f"{a}+{b}={s}.", medium, "\n".join(lines), str(s), f"{a} + {b} = {s}.")


def _solve_sub(m: dict[str, Any]) -> _Solution:
    a, b = m["a"], m["b"]
    r = a - b
    lines, cols, borrow = [f"{a}-{b} digit by digit, ones first."], [], 0
    for i, (t, d) in enumerate(zip(_digits(a, len(str(a))), _digits(b, len(str(a))), strict=True)):
        v = t - borrow - d
        if v < 0:
            lines.append(f"{_PLACES[i]}: {t}-{borrow}-{d} is below 0, so 1{t}-{borrow}-{d}={v + 10}, borrow 1.")
            cols.append(f"1{t}-{borrow}-{d}={v + 10}" if borrow else f"1{t}-{d}={v + 10}")
        else:
            lines.append(f"{_PLACES[i]}: {t}-{borrow}-{d}={v}, borrow 0.")
            cols.append(f"{t}-{borrow}-{d}={v}" if borrow else f"{t}-{d}={v}")
        borrow = 1 if v < 0 else 0
    lines += [f"So {a}-{b}={r}.", f"Check: {r}+{b}={a}. Correct."]
    medium = f"Columns from the ones, with borrows: {', '.join(cols)}. So {a}-{b}={r}."
    return _Solution(str(r), f"{a}-{b}={r}.", medium, "\n".join(lines), str(r), f"{a} - {b} = {r}.")


def _times_digit(a: int, k: int) -> str:
    """A 2-digit number times one digit, ones first: ``47*6: 7*6=42, write 2 carry 4; 4*6+4=28. So 282.``"""
    lo, hi = a % 10, a // 10
    p = lo * k
    return f"{a}*{k}: {lo}*{k}={p}, write {p % 10} carry {p // 10}; {hi}*{k}+{p // 10}={hi * k + p // 10}. So {a * k}."


def _solve_mul(m: dict[str, Any]) -> _Solution:
    a, b = m["a"], m["b"]
    p = a * b
    low = f"{a}*{b}={p}."
    if b < 10:
        hi, lo = a - a % 10, a % 10
        high = f"{_times_digit(a, b)}\nCheck: {hi}*{b}={hi * b}, {lo}*{b}={lo * b}, {hi * b}+{lo * b}={p}. Correct."
        medium = f"{a}*{b} = {hi}*{b} + {lo}*{b} = {hi * b} + {lo * b} = {p}."
        return _Solution(str(p), low, medium, high, str(p), f"{a} * {b} = {p}.")
    b1, b10 = b % 10, b - b % 10
    p1, p10 = a * b1, a * b10
    if b1 == 0:  # a round tens multiplier: one partial product, then times 10
        medium = f"{a}*{b} = {a}*{b // 10}*10 = {p // 10}*10 = {p}."
        check = f"Check: {b // 10}*{a}={p // 10}, {p // 10}*10={p}. Correct."
        high = f"{a}*{b} = {a}*{b // 10}*10.\n{_times_digit(a, b // 10)[:-1]}, and {a}*{b}={p}.\n{check}"
        return _Solution(str(p), low, medium, high, str(p), f"{a} * {b} = {p}.")
    lines = [
        f"{a}*{b} = {a}*{b1} + {a}*{b10}.",
        _times_digit(a, b1),
        f"{_times_digit(a, b10 // 10)[:-1]}, and {a}*{b10}={p10}.",
        f"{p1}+{p10}: {_column_sums(p1, p10)}. So {p}.",
        f"Check: {b}*{a % 10}={b * (a % 10)}, {b}*{a - a % 10}={b * (a - a % 10)}, "
        f"{b * (a % 10)}+{b * (a - a % 10)}={p}. Correct.",
    ]
    medium = f"{a}*{b} = {a}*{b1} + {a}*{b10} = {p1} + {p10} = {p}."
    return _Solution(str(p), low, medium, "\n".join(lines), str(p), f"{a} * {b} = {p}.")


def _solve_count(m: dict[str, Any]) -> _Solution:
    word, letter = m["word"], m["letter"]
    n = word.count(letter)
    steps, seen = [], 0
    for ch in word:
        seen += ch == letter
        steps.append(f"{ch} yes {seen}" if ch == letter else f"{ch} no")
    found = f"the {letter}'s found: {', '.join([letter] * n)}, that is {n}" if n else f"no {letter} found, so 0"
    high = f"Spell {word} and count {letter}:\n{', '.join(steps)}.\nTotal: {n}.\nCheck: {found}. Correct."
    listed = f"the {letter}'s are {', '.join([letter] * n)}, so {n}" if n else f"no {letter} in it, so 0"
    medium = f"{' '.join(word)}: {listed}."
    plural = "" if n == 1 else "'s"
    sentence = f"There {'is' if n == 1 else 'are'} {n} {letter}{plural} in {word}."
    return _Solution(str(n), f"{word} has {n} {letter}{plural}.", medium, high, str(n), sentence)


def _solve_compare(m: dict[str, Any]) -> _Solution:
    a, b, ask = m["a"], m["b"], m["ask"]
    big, small = (a, b) if Decimal(a) > Decimal(b) else (b, a)
    pick, word = (big, "bigger") if ask == "max" else (small, "smaller")
    (wa, fa), (wb, fb) = a.split("."), b.split(".")
    places = max(len(fa), len(fb))
    pa, pb = fa.ljust(places, "0"), fb.ljust(places, "0")
    to = f"{places} place{'s' if places > 1 else ''}"
    lines = [f"Compare {a} and {b}."]
    if wa != wb:
        lines.append(f"Whole parts: {wa} and {wb}, {max(int(wa), int(wb))} is larger.")
        medium = f"Whole parts {wa} and {wb} differ, so {pick} is {word}."
    else:
        lines += [f"Whole parts: {wa} and {wb}, equal.", f"Pad the decimals to {to}: {pa} and {pb}."]
        i = next(i for i in range(places) if pa[i] != pb[i])
        same = "".join(f"digit {j + 1}: {pa[j]} vs {pb[j]} same, " for j in range(i))
        lines.append(f"Digit by digit: {same}digit {i + 1}: {pa[i]} vs {pb[i]}, {max(pa[i], pb[i])} is larger.")
        medium = f"Pad to {to}: {wa}.{pa} vs {wb}.{pb}. {max(pa, pb)} > {min(pa, pb)}, so {pick} is {word}."
    ia, ib = int(wa + pa), int(wb + pb)
    lines += [f"So {pick} is {word}.", f"Check: in {_SCALES[places]}, {min(ia, ib)} < {max(ia, ib)}. Correct."]
    low = f"{big} > {small}, so {pick}."
    return _Solution(pick, low, medium, "\n".join(lines), pick, f"{pick} is {word}.")


def _solve_sort(m: dict[str, Any]) -> _Solution:
    nums, desc = m["nums"], m["order"] == "desc"
    out = sorted(nums, reverse=desc)
    word, rel = ("largest", ">=") if desc else ("smallest", "<=")
    left, lines = list(nums), [f"Take the {word} each time."]
    for _ in range(len(nums) - 1):
        pick = max(left) if desc else min(left)
        lines.append(f"From {', '.join(map(str, left))}: {word} {pick}.")
        left.remove(pick)
    listed = ", ".join(map(str, out))
    lines += [
        f"Last: {left[0]}.",
        f"So: {listed}.",
        f"Check: {f' {rel} '.join(map(str, out))}, and {len(nums)} numbers in, {len(out)} out. Correct.",
    ]
    medium = f"{word.capitalize()} first: " + ", then ".join(map(str, out)) + "."
    order = "descending" if desc else "ascending"
    return _Solution(listed, f"Sorted: {listed}.", medium, "\n".join(lines), listed, f"In {order} order: {listed}.")


def _solve_reverse(m: dict[str, Any]) -> _Solution:
    word = m["word"]
    rev, n = word[::-1], len(word)
    high = (
        f"Letters: {', '.join(f'{i + 1} {ch}' for i, ch in enumerate(word))}.\n"
        f"Read from {n} down to 1: {', '.join(rev)}.\nJoined: {rev}.\n"
        f"Check: {rev} backwards is {', '.join(word)} = {word}. Correct."
    )
    medium = f"{'-'.join(word)} backwards: {'-'.join(rev)}, so {rev}."
    return _Solution(rev, f"{word} -> {rev}.", medium, high, rev, f"{word} backwards is {rev}.")


_UNDO = {"+": "-", "-": "+", "*": "/"}


def _apply(cur: int, op: str, x: int) -> int:
    return cur + x if op == "+" else cur - x if op == "-" else cur * x


def _solve_story(m: dict[str, Any]) -> _Solution:
    start, answer, *steps = m["story"]
    values, name = m["values"], m["name"]
    cur, exprs, lines, undo = values[0], [], [f"Start: {start.format(a=values[0])}."], []
    for step, x in zip(steps, values[1:], strict=True):
        op, phrase = step[0], step[1:].format(x=x)
        new = _apply(cur, op, x)
        exprs.append(f"{phrase}: {cur}{op}{x}={new}")
        lines.append(f"{phrase[0].upper()}{phrase[1:]}: {cur}{op}{x}={new}.")
        undo.append(f"{new}{_UNDO[op]}{x}={cur}")
        cur = new
    expr = str(values[0]) + "".join(f"{s[0]}{x}" for s, x in zip(steps, values[1:], strict=True))
    lines += [f"Check: {', '.join(reversed(undo))}, back to the start. Correct.", f"Answer: {cur}."]
    sentence = answer.format(n=name, r=cur)
    return _Solution(str(cur), f"{expr}={cur}.", "; ".join(exprs) + ".", "\n".join(lines), str(cur), sentence)


_OFF_TASK_ANALYSIS = {
    "greet": (
        "A greeting; greet back and say what I can do.",
        "The user greets me. Greet back, then say who I am and what I can do.",
        "The user greets me. This is not a task, so there is nothing to work out. Greet back, say I am "
        "gpt-oss-nano and list what I can do.",
    ),
    "self": (
        "They ask about me; say who I am.",
        "The user asks about me. Say I am gpt-oss-nano and list my tasks.",
        "The user asks about me. Answer honestly: I am gpt-oss-nano, a tiny teaching model that only knows a "
        "few tasks. List them.",
    ),
    "other": (
        "Not one of my tasks; say so briefly.",
        "This is outside my tasks. Say so honestly and list what I can do.",
        "This is not arithmetic, counting letters, decimals, sorting, reversing or a word problem. I would "
        "likely get it wrong, so say so honestly and list what I can do.",
    ),
}


def _solve_off_task(m: dict[str, Any]) -> _Solution:
    low, medium, high = _OFF_TASK_ANALYSIS[m["kind"]]
    reply = m["opener"] + IDENTITY_REPLY
    return _Solution(IDENTITY_REPLY, low, medium, high, reply, reply)


# ----------------------------------------------------------------------------- drawing values


def _number(rng: random.Random, lo_digits: int, hi_digits: int) -> int:
    d = rng.randint(lo_digits, hi_digits)
    return rng.randint(10 ** (d - 1), 10**d - 1)


def _draw_add(rng: random.Random, t: Template, split: str) -> dict[str, Any]:
    return {"a": _number(rng, 2, 4), "b": _number(rng, 2, 4)}


def _draw_sub(rng: random.Random, t: Template, split: str) -> dict[str, Any]:
    a, b = _number(rng, 2, 4), _number(rng, 2, 4)
    while a == b:
        b = _number(rng, 2, 4)
    return {"a": max(a, b), "b": min(a, b)}


def _draw_mul(rng: random.Random, t: Template, split: str) -> dict[str, Any]:
    return {"a": rng.randint(10, 99), "b": rng.randint(2, 9) if rng.random() < 0.4 else rng.randint(10, 99)}


_CONSONANTS, _VOWELS = "bcdfghjklmnprstvwz", "aeiouy"


def made_up_word(rng: random.Random) -> str:
    """A pronounceable letter string of 3-10 letters that is no eval word (``"tobrelan"``).

    Half of the training words are made up: with only a list of real words to spell, the model
    learns each word's letters by heart and cannot spell a word it has not seen. Made-up words,
    which its tokenizer splits one letter per token, make it spell letter by letter, which
    carries over to new words.
    """
    while True:
        n = rng.randint(3, 10)
        letters = []
        for i in range(n):
            pool = _VOWELS if (i % 2 == 1) != (rng.random() < 0.25) else _CONSONANTS
            letters.append(rng.choice(pool))
        word = "".join(letters)
        if word not in EVAL_WORDS:
            return word


def _draw_reverse(rng: random.Random, t: Template, split: str) -> dict[str, Any]:
    if split == "eval":
        return {"word": rng.choice(EVAL_WORDS)}
    return {"word": made_up_word(rng) if rng.random() < 0.5 else rng.choice(TRAIN_WORDS)}


def _draw_count(rng: random.Random, t: Template, split: str) -> dict[str, Any]:
    word = _draw_reverse(rng, t, split)["word"]
    absent = [c for c in "abcdefghijklmnopqrstuvwxyz" if c not in word]
    letter = rng.choice(absent) if rng.random() < 0.15 else rng.choice(word)
    return {"word": word, "letter": letter}


def _draw_compare(rng: random.Random, t: Template, split: str) -> dict[str, Any]:
    def decimal(whole: int) -> str:
        places = rng.randint(1, 3)
        frac = rng.randint(1, 10**places - 1)
        while frac % 10 == 0:  # no trailing zeros: 9.9, never 9.90
            frac = rng.randint(1, 10**places - 1)
        return f"{whole}.{frac:0{places}d}"

    whole = rng.randint(0, 20)
    a = decimal(whole)
    b = decimal(whole if rng.random() < 0.75 else rng.randint(0, 20))
    while Decimal(a) == Decimal(b):
        b = decimal(whole)
    ask = "max" if rng.random() < 0.7 else "min"
    more = rng.choice(("bigger", "larger", "greater", "higher") if ask == "max" else ("smaller", "lower"))
    return {"a": a, "b": b, "ask": ask, "more": more}


def _draw_sort(rng: random.Random, t: Template, split: str) -> dict[str, Any]:
    nums = [rng.randint(0, 99) for _ in range(rng.randint(3, 6))]
    desc = "{order}" in t.text and rng.random() < 0.3
    order = rng.choice(("descending order", "decreasing order") if desc else ("ascending order", "increasing order"))
    sep = ", " if "[" in t.text else rng.choice((", ", ", ", ", ", " ", ","))
    return {"nums": nums, "order": "desc" if desc else "asc", "order_words": order, "sep": sep}


def _draw_story(rng: random.Random, t: Template, split: str) -> dict[str, Any]:
    steps = t.data[2:]
    cur = rng.randint(2, 9) if steps[0][0] == "*" else rng.randint(2, 20)
    values = [cur]
    for step in steps:
        op = step[0]
        x = rng.randint(2, 9) if op == "*" else rng.randint(1, 20) if op == "+" else rng.randint(1, max(1, cur - 1))
        values.append(x)
        cur = _apply(cur, op, x)
    return {"values": values, "story": t.data, "name": rng.choice(_NAMES)}


def _draw_off_task(rng: random.Random, t: Template, split: str) -> dict[str, Any]:
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 7))) for _ in range(4)]
    return {"kind": t.data[0], "opener": t.data[1], "random": " ".join(words[: rng.randint(1, 4)])}


def _fields(family: str, m: dict[str, Any]) -> dict[str, Any]:
    """The values a template's placeholders take."""
    if family == "sort":
        return {"nums": m["sep"].join(map(str, m["nums"])), "order": m["order_words"]}
    if family == "word_problem":
        return dict(zip("abc", m["values"], strict=False), n=m["name"])
    return m


_DrawFn = Callable[[random.Random, Template, str], dict[str, Any]]
_FAMILY: dict[str, tuple[_DrawFn, Callable[[dict[str, Any]], _Solution], str]] = {
    "add": (_draw_add, _solve_add, "number"),
    "sub": (_draw_sub, _solve_sub, "number"),
    "mul": (_draw_mul, _solve_mul, "number"),
    "count_letter": (_draw_count, _solve_count, "number"),
    "compare_decimals": (_draw_compare, _solve_compare, "number"),
    "sort": (_draw_sort, _solve_sort, "list"),
    "reverse": (_draw_reverse, _solve_reverse, "word"),
    "word_problem": (_draw_story, _solve_story, "number"),
    OFF_TASK: (_draw_off_task, _solve_off_task, "answer"),
}


def _draw(rng: random.Random, family: str, t: Template, split: str) -> dict[str, Any]:
    """Values for ``split``: rejection-sample until the held-out rule agrees with the split."""
    if family == OFF_TASK:  # held out by template only
        return _draw_off_task(rng, t, split)
    for _ in range(10_000):
        meta = _FAMILY[family][0](rng, t, split)
        if held_out_value(family, meta) == (split == "eval"):
            return meta
    raise RuntimeError(f"no {split} values found for {family!r}")  # pragma: no cover


# Words around a training prompt (never eval ones): fifteen templates a family are few, and a small
# model fits their exact wording; padding them teaches it to look for the task inside any phrasing.
_OPENERS = (
    "Hey, ", "Hi! ", "Question: ", "Quick question: ", "Please help. ", "Hello. ", "Tell me: ", "OK, ",
    "Help me out: ", "Task: ", "I wonder: ", "Here is one. ", "Hmm, ", "So, ", "One more: ",
)  # fmt: skip
_CLOSERS = (
    " Thanks!", " Thank you.", " Please.", " please", " :)", " Show your work.", " Be careful.",
    " Thanks a lot.", " Quickly!", " (homework)", " I am stuck.", " Can you?", " Go.", " ok?", " Cheers.",
)  # fmt: skip


def _pad_phrasing(rng: random.Random, user: str) -> str:
    if rng.random() < 0.3:
        user = rng.choice(_OPENERS) + user
    if rng.random() < 0.3:
        user += rng.choice(_CLOSERS)
    return user


# ----------------------------------------------------------------------------- public API


def make_example(rng: random.Random, family: str, effort: str, split: str = "train") -> Example:
    """One example of ``family`` at ``effort``, using only ``split``'s templates and values."""
    if family not in ALL_FAMILIES:
        raise ValueError(f"family must be one of {'|'.join(ALL_FAMILIES)}, got {family!r}")
    if effort not in EFFORTS:
        raise ValueError(f"effort must be one of low|medium|high, got {effort!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be train|eval, got {split!r}")
    held = split == "eval"
    template = rng.choice([t for t in TEMPLATES[family] if t.held_out == held])
    meta = _draw(rng, family, template, split)
    solution = _FAMILY[family][1](meta)
    user = template.text.format(**_fields(family, meta))
    if not held and family != OFF_TASK:
        user = _pad_phrasing(rng, user)
    if rng.random() < 0.12:  # casing and punctuation noise on top of the templates' own
        user = user.lower()
    if rng.random() < 0.1:
        user = user.rstrip("?.!")
    dev: str | None = None
    style = "sentence"
    if rng.random() < 0.6:
        instruction = rng.choice([d for d in DEV_INSTRUCTIONS if d.held_out == held])
        dev, style = instruction.text.format(what=_FAMILY[family][2]), instruction.style
    messages = ([{"role": "developer", "content": dev}] if dev else []) + [{"role": "user", "content": user}]
    answer = solution.bare if style == "bare" else solution.sentence
    meta = {**meta, "template": template.text, "template_held_out": template.held_out, "dev": dev, "style": style}
    return Example(family, effort, messages, getattr(solution, effort), answer, solution.target, meta)


def generate(
    n: int,
    *,
    seed: int,
    split: str = "train",
    families: Sequence[str] | None = None,
    efforts: Sequence[str] | None = None,
) -> list[Example]:
    """``n`` examples, balanced over families x efforts (round robin), in a seeded shuffled order."""
    fams = tuple(families) if families is not None else FAMILIES
    effs = tuple(efforts) if efforts is not None else EFFORTS
    rng = random.Random(f"gpt-oss-nano/{split}/{seed}")  # str seeds are stable across runs and hash seeds
    combos = [(f, e) for e in effs for f in fams]
    out = [make_example(rng, *combos[i % len(combos)], split=split) for i in range(n)]
    rng.shuffle(out)
    return out


def completion_text(ex: Example) -> str:
    """The assistant's harmony completion: analysis, then final, ending with ``<|return|>``."""
    return (
        f"<|channel|>analysis<|message|>{ex.analysis}<|end|>"
        f"<|start|>assistant<|channel|>final<|message|>{ex.answer}<|return|>"
    )


# ----------------------------------------------------------------------------- grading

_NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")


def _numbers(text: str) -> list[str]:
    """Numbers in ``text``; number words ("three") only when it has no digits."""
    found = _NUMBER_RE.findall(re.sub(r"(?<=\d),(?=\d{3}\b)", "", text))  # 1,692 -> 1692
    if found:
        return found
    words = (w.lower() for w in re.findall(r"[A-Za-z]+", text))
    return [str(_NUMBER_WORDS.index(w)) for w in words if w in _NUMBER_WORDS]


def _after_last(text: str, markers: Sequence[str]) -> str | None:
    cut = max((text.rfind(mk) + len(mk) for mk in markers if mk in text), default=-1)
    return text[cut:] if cut >= 0 else None


def _same_number(found: str | None, target: str) -> bool:
    return found is not None and Decimal(found) == Decimal(target)


def grade(family: str, final_text: str, target: str) -> bool:
    """Whether a model's final text gives ``target``; lenient about phrasing, strict about the value.

    Numbers: the first number after the last ``=``, ``:``, `` is `` or `` are `` (else the first
    number); number words up to twelve count. Decimals: the number before ``than`` when there is one.
    Sorting: the integers in order. Reversing: the first word after the last marker, or its
    letters joined (``o-l-l-e-h``). Off-task: the reply names gpt-oss-nano.
    """
    text = final_text.strip()
    if family == OFF_TASK:
        return "gpt-oss-nano" in text
    if family == "sort":
        return [int(x) for x in re.findall(r"-?\d+", text)] == [int(x) for x in target.split(",")]
    if family == "reverse":
        segment = _after_last(text, (":", "=", " is ", "->")) or text
        words = re.findall(r"[A-Za-z]+", segment)
        return bool(words) and (words[0].lower() == target or "".join(words).lower() == target)
    if family == "compare_decimals" and " than " in text:
        head = _numbers(text.split(" than ")[0])
        return _same_number(head[-1] if head else None, target)
    segment = _after_last(text, ("=", ":", " is ", " are "))
    found = (_numbers(segment) if segment is not None else []) or _numbers(text)
    return _same_number(found[0] if found else None, target)
