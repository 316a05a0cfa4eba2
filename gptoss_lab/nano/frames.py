"""How students ask: a small grammar of question wordings for each task family.

A question is a *frame* (a family's core phrase inside a shell: "Can you {c}?" around "add {a}
and {b}") with an optional opener and closer ("hey, quick one:", "(for homework)", "Question 3:"),
numbers with or without thousands commas, and casing and punctuation noise. Every part of
every frame is seen in training, but a fifth of the composed frames, openers and closers
(:func:`held_out`, a hash of the text) only in the eval: the model is scored on combinations it
has not seen. Openers and closers carry distractors on purpose: numbers that are no operands,
words of other families ("letters", "sort", "backwards"), and made-up words spelled letter by
letter, so that no surface cue names the task.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from typing import Any

from .families import made_up_word

__all__ = ["FRAMES", "held_out", "phrase"]


def held_out(text: str) -> bool:
    """Whether a wording is reserved for the eval: about one in five, by a stable hash of its text."""
    return zlib.crc32(text.encode()) % 5 == 0


def _pick(rng: random.Random, options: Sequence[str], split: str) -> str:
    pool = [o for o in options if held_out(o) == (split == "eval")]
    return rng.choice(pool or list(options))


# fmt: off
_NP_SHELLS = (
    "What is {x}?", "what's {x}", "Compute {x}.", "Calculate {x}.", "Find {x}.", "Work out {x}.", "Tell me {x}.",
    "Can you give me {x}?", "I need {x}.", "How much is {x}?", "{x} = ?", "{x}=?", "{x}?", "What do you get for {x}?",
    "Please figure out {x}.", "Do you know what {x} is?", "My teacher wants to know what {x} is.",
    "I was wondering what {x} is.", "Help me find {x}.", "so what is {x}", "Solve {x}.", "What does {x} make?",
    "Could you tell me what {x} equals?", "What is the value of {x}?", "{x} is what?",
)
_CMD_SHELLS = (
    "{C}.", "Please {c}.", "Can you {c}?", "Could you {c}?", "{C}, please.", "I need you to {c}.", "Help me {c}.",
    "Try to {c}.", "Quick, {c}!", "Would you {c}?", "Let's {c}.", "{C} for me.", "Please {c} for me.", "{c}",
    "I want you to {c}.", "Now {c}.",
)
# Core phrases: a noun phrase for the question shells, or a command for the command shells.
_CORES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "add": (
        ("{a} + {b}", "{a}+{b}", "{a} plus {b}", "the sum of {a} and {b}", "the total of {a} and {b}",
         "{a} and {b} added together", "{a} add {b}", "{a} + {b} altogether"),
        ("add {a} and {b}", "add {a} to {b}", "add up {a} and {b}", "sum {a} and {b}",
         "add these two numbers: {a}, {b}",
         "add together {a} and {b}", "find the sum of {a} and {b}", "total up {a} and {b}", "add {a} plus {b}"),
    ),
    "sub": (
        ("{a} - {b}", "{a}-{b}", "{a} minus {b}", "{a} take away {b}", "the difference between {a} and {b}",
         "{b} less than {a}", "{a} less {b}", "{a} with {b} taken away"),
        ("subtract {b} from {a}", "take {b} away from {a}", "take {b} from {a}", "find {a} minus {b}",
         "find the difference between {a} and {b}", "work out {a} minus {b}", "subtract {a} minus {b}",
         "deduct {b} from {a}"),
    ),
    "mul": (
        ("{a} * {b}", "{a}*{b}", "{a} x {b}", "{a} times {b}", "the product of {a} and {b}", "{a} multiplied by {b}",
         "{a} groups of {b}", "{a} lots of {b}"),
        ("multiply {a} by {b}", "multiply {a} and {b}", "find the product of {a} and {b}", "times {a} by {b}",
         "multiply these two numbers: {a}, {b}", "work out {a} times {b}"),
    ),
    "count_letter": (
        ("the number of {l}'s in {w}", "the number of times {l} appears in {w}", "the count of the letter {l} in {w}",
         "the number of letter {l}'s in the word {w}"),
        ("count the {l}'s in {w}", "count the letter {l} in {w}", "count how many {l}'s {w} has",
         "tell me how many {l}'s are in {w}", "count every {l} in the word {w}", "count {l} in {w}",
         "find how many times {l} shows up in {w}"),
    ),
    "reverse": (
        ("{w} backwards", "{w} spelled backwards", "the reverse of {w}", "{w} written in reverse",
         "{w} read from right to left", "the word {w} reversed"),
        ("spell {w} backwards", "reverse the word {w}", "write {w} backwards", "reverse {w}",
         "turn {w} around, letter by letter", "read {w} from right to left", "flip the letters of {w}",
         "write the letters of {w} in reverse order", "spell the word {w} in reverse"),
    ),
    "compare_decimals": (
        ("the {adj} of {a} and {b}", "the {adj} number out of {a} and {b}", "the {adj} one of {a} and {b}"),
        ("pick the {adj} number: {a} or {b}", "tell me which is {more}, {a} or {b}",
         "compare {a} and {b} and give the {adj} one", "choose the {adj} of {a} and {b}",
         "find the {adj} of {a} and {b}", "say which is {more}: {a} or {b}"),
    ),
    "sort": (
        ("{nums} sorted in {order}", "{nums} in {order}", "the list {nums} put in {order}",
         "the order of {nums} {dir}"),
        ("sort {nums}", "sort these numbers: {nums}", "put {nums} in {order}", "arrange {nums} in {order}",
         "sort the list [{nums}]", "order these {dir}: {nums}", "list {nums} in {order}", "rearrange {nums} {dir}",
         "sort {nums} in {order}", "put these numbers in {order}: {nums}"),
    ),
}
# Whole questions for the families whose natural wording is a question, not a phrase in a shell.
_QUESTIONS: dict[str, tuple[str, ...]] = {
    "count_letter": (
        "How many {l}'s are in {w}?", "How many times does {l} appear in {w}?",
        "How many {l} are there in the word {w}?",
        "In {w}, how many {l}'s are there?", "how often does the letter {l} occur in {w}?", "{w}: how many {l}?",
        "Does {w} have any {l}'s? How many?", "How many letter {l}'s does {w} contain?",
    ),
    "reverse": (
        "What is {w} backwards?", "How do you spell {w} backwards?", "What is {w} spelled backwards?",
        "What does {w} look like reversed?", "What is the reverse of {w}?", "{w} backwards?",
        "Can you spell {w} in reverse?", "How is {w} written backwards?",
    ),
    "compare_decimals": (
        "Which is {more}, {a} or {b}?", "Which is {more}: {a} or {b}?", "{a} or {b}, which is {more}?",
        "Is {a} or {b} {more}?", "Between {a} and {b}, which one is {more}?", "Which number is {more}, {a} or {b}?",
        "Of {a} and {b}, which is {more}?", "{a} vs {b}: which is {more}?", "Which is {more}? {a} or {b}",
    ),
}
_MORE = {"max": ("bigger", "larger", "greater", "higher", "more"), "min": ("smaller", "lower", "tinier", "less")}
_ORDER = {
    "asc": (("ascending order", "increasing order", "order from smallest to largest", "order, smallest first"),
            ("from smallest to largest", "from lowest to highest", "from least to greatest", "smallest first")),
    "desc": (("descending order", "decreasing order", "order from largest to smallest", "order, largest first"),
             ("from largest to smallest", "from highest to lowest", "from greatest to least", "largest first")),
}
_SEPARATORS = (", ", ", ", ", ", " ", ",", "; ")

OPENERS = (
    "Hey, ", "Hi! ", "Question: ", "Quick question: ", "Please help. ", "Hello. ", "Tell me: ", "OK, ", "Help me out: ",
    "I wonder: ", "Here is one. ", "Hmm, ", "So, ", "One more: ", "hey, quick one: ", "Question 3: ", "Problem 2. ",
    "(2 points) ", "For homework: ", "Homework question: ", "My sister asked me this: ", "Math time! ",
    "I am stuck on this one: ", "From my worksheet: ", "Exercise 7: ", "Okay so ", "Sorry to bother you, but ",
    "Quick check: ", "This is for class: ", "Real quick: ", "Yo, ", "Test question 12: ", "Warm-up: ",
    "After the spelling test, ", "Before we sort things out: ", "Letters aside, ", "Good morning! ", "Hi there. ",
    "I have 2 questions, first: ", "Help please!! ", "Teacher says: ", "Challenge: ", "Level 4: ", "Step 1: ",
)
CLOSERS = (
    " Thanks!", " Thank you.", " Please.", " please", " :)", " Show your work.", " Be careful.", " Thanks a lot.",
    " Quickly!", " (homework)", " (for homework)", " I am stuck.", " Can you?", " Go.", " ok?", " Cheers.",
    " It is for school.", " My teacher asked me this.", " I need it for class.", " This is question 5.",
    " Due tomorrow!", " Think step by step.", " I got a different answer.", " No calculator!", " (3 marks)",
    " Spelling counts too.", " Then we sort out the rest.", " Thanks in advance.", " Double-check it.",
    " I think I know but want to check.", " Is it hard?", " Take your time.", " Ty!", " lol",
)
# fmt: on


def _number(rng: random.Random, n: int) -> str:
    """A number as a student writes it: with thousands commas a third of the time."""
    return f"{n:,}" if n >= 1000 and rng.random() < 0.35 else str(n)


def _quoted(rng: random.Random, text: str) -> str:
    return rng.choice((text, text, text, f'"{text}"', f"'{text}'"))


def _core_fields(rng: random.Random, family: str, m: dict[str, Any]) -> dict[str, str]:
    if family in ("add", "sub", "mul"):
        return {"a": _number(rng, m["a"]), "b": _number(rng, m["b"])}
    if family == "count_letter":
        letter = m["letter"].upper() if rng.random() < 0.15 else m["letter"]
        return {"l": _quoted(rng, letter), "w": _quoted(rng, m["word"])}
    if family == "reverse":
        return {"w": _quoted(rng, m["word"])}
    if family == "compare_decimals":
        adj = rng.choice(_MORE[m["ask"]][:-1])  # "the more one" is no English: "more" and "less" only ask
        return {"a": m["a"], "b": m["b"], "more": rng.choice((adj, _MORE[m["ask"]][-1])), "adj": adj}
    if family == "sort":
        words, dirs = _ORDER[m["order"]]
        sep = rng.choice(_SEPARATORS)
        nums = sep.join(map(str, m["nums"]))
        if sep == ", " and rng.random() < 0.2:
            *head, last = map(str, m["nums"])
            nums = f"{', '.join(head)} and {last}"
        return {"nums": nums, "order": rng.choice(words), "dir": rng.choice(dirs)}
    raise ValueError(family)


def _frame(rng: random.Random, family: str, m: dict[str, Any], split: str) -> str:
    """A family's question in a composed frame (shell x core, or a whole question), of ``split``."""
    phrases, commands = _CORES[family]
    questions = _QUESTIONS.get(family, ())
    if family == "sort" and m["order"] == "asc" and rng.random() < 0.3:  # no order named means ascending
        phrases, commands, questions = ("{nums} sorted", "{nums} in order"), _UNORDERED, ()
    for _ in range(2000):
        roll = rng.random()
        if questions and roll < 0.4:
            frame = rng.choice(questions)
        elif roll < 0.7:
            frame = rng.choice(_NP_SHELLS).replace("{x}", rng.choice(phrases))
        else:
            core, shell = rng.choice(commands), rng.choice(_CMD_SHELLS)
            frame = shell.replace("{C}", core[0].upper() + core[1:]).replace("{c}", core)
        if held_out(frame) == (split == "eval"):
            return _name_the_order(frame) if family == "sort" and m["order"] == "desc" else frame
    raise RuntimeError(f"no {split} wording for {family}")  # pragma: no cover - a grammar without such frames


#: The sort commands that name no order, and how a descending sort says it instead (no order named means
#: ascending). Applied after the split's choice, so that the draws, and every question after, stay as they were;
#: the new wordings are no other frame's, so a training frame never becomes an eval one.
_NAMED_ORDER = (
    ("ort these numbers: {nums}", "ort these numbers {dir}: {nums}"),
    ("ort the list [{nums}]", "ort the list [{nums}] {dir}"),
    ("ort {nums}", "ort {nums}, {dir}"),
)


def _name_the_order(frame: str) -> str:
    if "{order}" in frame or "{dir}" in frame:
        return frame
    for bare, named in _NAMED_ORDER:
        if bare in frame:
            return frame.replace(bare, named, 1)
    raise AssertionError(f"a descending sort's frame names no order: {frame!r}")  # pragma: no cover


_UNORDERED = ("sort {nums}", "sort these numbers: {nums}", "sort the list [{nums}]", "put {nums} in order")


def _noise(rng: random.Random, text: str) -> str:
    roll = rng.random()
    if roll < 0.12:
        text = text.lower()
    elif roll < 0.17:
        text = text[0].lower() + text[1:]
    if rng.random() < 0.12:
        text = text.rstrip("?.!")
    if rng.random() < 0.05:
        text = text.replace(" ", "  ", 1)
    return text


def decorate(rng: random.Random, text: str, split: str, *, extras: float = 0.5) -> str:
    """Openers, closers, made-up words and noise around a question (of ``split``'s parts)."""
    if rng.random() < extras:
        opener = _pick(rng, OPENERS, split)
        if rng.random() < 0.1:
            opener = f"{made_up_word(rng, 3, 7).capitalize()} here. " + opener
        mid_sentence = opener.rstrip()[-1:] not in ".!?)" and not text.startswith("I ")
        text = opener + (text[0].lower() + text[1:] if mid_sentence else text)
    if rng.random() < extras * 0.8:
        text += _pick(rng, CLOSERS, split)
    return _noise(rng, text)


def phrase(rng: random.Random, family: str, m: dict[str, Any], split: str) -> str:
    """The user's question for the values ``m``, worded with ``split``'s frames."""
    if family == "word_problem":
        from .stories import story

        return decorate(rng, story(rng, m, split), split, extras=0.3)
    if family == "off_task":
        from .stories import off_task

        return off_task(rng, m, split)
    fields = _core_fields(rng, family, m)
    return decorate(rng, _frame(rng, family, m, split).format(**fields), split)


FRAMES = {family: (*_CORES[family][0], *_CORES[family][1], *_QUESTIONS.get(family, ())) for family in _CORES}
