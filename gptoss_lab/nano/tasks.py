"""Seeded harmony tasks for gpt-oss-nano: questions, reasoning at three efforts, answers, grading.

The families live in :mod:`.families` (one object each: values, task line, steps, check), the
question wordings in :mod:`.frames` and :mod:`.stories`, the scratchpad shape in :mod:`.scratch`.
This module puts them together into :class:`Example` conversations:

* ``low``: the restated task and a one-line answer (a small model often guesses wrong: the point);
* ``medium``: the key steps;
* ``high``: every step, then a check that re-reads the question and recomputes another way; in
  training a share of high-effort examples carry an injected slip (``Example.masked`` marks it, so
  training never learns the slip itself) that the check catches and the ``Redo:`` fixes.

Train and eval are disjoint: ``split="eval"`` uses held-out wordings (a fifth of the composed
frames, openers and closers), held-out values (:func:`held_out_value`: a hash rule on numbers, held-out
words, names and objects) and held-out developer instructions; ``split="train"`` never produces
any of them. Everything is ASCII, stdlib only, and deterministic in the seed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from . import frames
from .families import EVAL_WORDS, IDENTITY_REPLY, LAYOUT, LAYOUTS, REGISTRY, TRAIN_WORDS, made_up_word
from .scratch import SLIPS, Reading, read_reasoning

__all__ = [
    "ALL_FAMILIES",
    "DEV_INSTRUCTIONS",
    "EFFORTS",
    "EVAL_WORDS",
    "FAMILIES",
    "IDENTITY_REPLY",
    "LAYOUT",
    "OFF_TASK",
    "SLIP_SHARES",
    "SPLITS",
    "TRAIN_WORDS",
    "DevInstruction",
    "Example",
    "Reading",
    "answer_value",
    "completion_spans",
    "completion_text",
    "generate",
    "grade",
    "held_out_value",
    "made_up_word",
    "make_example",
    "paraphrases",
    "read_reasoning",
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
#: Share of training high-effort examples with each kind of injected slip (the rest have none).
SLIP_SHARES: dict[str, float] = {"copy": 0.12, "work": 0.25, "check": 0.08}
_EXTRA_KEYS = ("question", "question_held_out", "dev", "style", "slip")


@dataclass(frozen=True)
class Example:
    """One conversation: the prompt's chat dicts, the reasoning for ``effort``, the final answer.

    ``target`` is the canonical value to grade against; ``meta`` holds the problem's values
    (operands, word, letter...), the slip injected (``meta["slip"]``) and the developer
    instruction, so that a test can recompute ``target`` on its own. ``masked``: character spans
    of ``analysis`` that are injected slips, which training must not learn to write.
    """

    family: str
    effort: str
    messages: list[dict[str, str]]
    analysis: str
    answer: str
    target: str
    meta: dict[str, Any] = field(default_factory=dict)
    masked: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class DevInstruction:
    """A developer instruction and the answer style it asks for: ``bare`` value or ``sentence``."""

    text: str
    style: str
    held_out: bool = False


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


def held_out_value(family: str, meta: dict[str, Any]) -> bool:
    """Whether an example's values are reserved for eval (its wording aside)."""
    return REGISTRY[family].held_out(meta)


def _check_names(family: str, effort: str, split: str) -> None:
    if family not in ALL_FAMILIES:
        raise ValueError(f"family must be one of {'|'.join(ALL_FAMILIES)}, got {family!r}")
    if effort not in EFFORTS:
        raise ValueError(f"effort must be one of low|medium|high, got {effort!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be train|eval, got {split!r}")


def _draw(rng: random.Random, family: str, split: str) -> dict[str, Any]:
    """Values for ``split``: rejection-sample until the held-out rule agrees with the split."""
    fam = REGISTRY[family]
    for _ in range(10_000):
        values = fam.draw(rng, split)
        if family == OFF_TASK or fam.held_out(values) == (split == "eval"):
            return values
    raise RuntimeError(f"no {split} values found for {family!r}")  # pragma: no cover


def _slip(rng: random.Random, effort: str, slips: bool) -> str | None:
    if not slips or effort != "high":
        return None
    roll, edge = rng.random(), 0.0
    for kind in SLIPS:
        edge += SLIP_SHARES[kind]
        if roll < edge:
            return kind
    return None


def make_example(
    rng: random.Random,
    family: str,
    effort: str,
    split: str = "train",
    *,
    slips: bool | None = None,
    values: dict[str, Any] | None = None,
    layout: int = LAYOUT,
) -> Example:
    """One example of ``family`` at ``effort`` from ``split``'s wordings and values (or the ``values`` given).

    ``slips`` (default: on for train, off for eval) injects slips into high-effort reasoning;
    ``layout`` picks the scratchpads (:data:`.families.LAYOUTS`; the newest by default).
    """
    _check_names(family, effort, split)
    fam = LAYOUTS[layout][family]
    values = dict(values) if values is not None else _draw(rng, family, split)
    user = frames.phrase(rng, family, values, split)
    slip = _slip(rng, effort, split == "train" if slips is None else slips)
    text, masked = fam.reason(values, effort, slip, rng).done()
    dev: str | None = None
    style = "sentence"
    if rng.random() < 0.5:
        instruction = rng.choice([d for d in DEV_INSTRUCTIONS if d.held_out == (split == "eval")])
        dev, style = instruction.text.format(what=fam.kind), instruction.style
    messages = ([{"role": "developer", "content": dev}] if dev else []) + [{"role": "user", "content": user}]
    answer = fam.bare(values) if style == "bare" else fam.sentence(values)
    meta = {**values, "question": user, "dev": dev, "style": style, "slip": slip}
    return Example(family, effort, messages, text, answer, fam.target(values), meta, masked)


def generate(
    n: int,
    *,
    seed: int,
    split: str = "train",
    families: Sequence[str] | None = None,
    efforts: Sequence[str] | None = None,
    slips: bool | None = None,
    layout: int = LAYOUT,
    weights: dict[str, int] | None = None,
) -> list[Example]:
    """``n`` examples, balanced over families x efforts (round robin), in a seeded shuffled order.

    ``weights`` gives a family that many turns of the round robin (1 when absent).
    """
    fams = tuple(families) if families is not None else FAMILIES
    effs = tuple(efforts) if efforts is not None else EFFORTS
    rng = random.Random(f"gpt-oss-nano-v2/{split}/{seed}")  # str seeds are stable across runs and hash seeds
    combos = [(f, e) for e in effs for f in fams for _ in range((weights or {}).get(f, 1))]
    out = [make_example(rng, *combos[i % len(combos)], split=split, slips=slips, layout=layout) for i in range(n)]
    rng.shuffle(out)
    return out


def paraphrases(ex: Example, k: int, *, seed: int) -> list[Example]:
    """``k`` examples of the same problem (same values, target, effort and instruction), each worded
    differently, from ``ex``'s split (held-out wordings for an eval example)."""
    split = "eval" if held_out_value(ex.family, ex.meta) or ex.meta["dev"] in _HELD_DEVS else "train"
    values = {key: v for key, v in ex.meta.items() if key not in _EXTRA_KEYS}
    rng = random.Random(f"gpt-oss-nano-v2/paraphrase/{seed}")
    out: list[Example] = []
    seen: set[str] = set()
    for _ in range(50 * k):
        other = make_example(rng, ex.family, ex.effort, split, slips=False, values=values)
        if other.meta["question"] in seen:
            continue
        seen.add(other.meta["question"])
        messages = ([{"role": "developer", "content": ex.meta["dev"]}] if ex.meta["dev"] else []) + other.messages[-1:]
        out.append(Example(ex.family, ex.effort, messages, other.analysis, ex.answer, ex.target,
                           {**other.meta, "dev": ex.meta["dev"], "style": ex.meta["style"]}))  # fmt: skip
        if len(out) == k:
            break
    return out


_HELD_DEVS = {d.text.format(what=w) for d in DEV_INSTRUCTIONS if d.held_out for w in ("number", "list", "word")}


def completion_text(ex: Example) -> str:
    """The assistant's harmony completion: analysis, then final, ending with ``<|return|>``."""
    return f"{_ANALYSIS_HEAD}{ex.analysis}<|end|><|start|>assistant<|channel|>final<|message|>{ex.answer}<|return|>"


_ANALYSIS_HEAD = "<|channel|>analysis<|message|>"


def completion_spans(ex: Example) -> tuple[tuple[int, int], ...]:
    """``ex.masked`` shifted into :func:`completion_text`'s characters."""
    return tuple((a + len(_ANALYSIS_HEAD), b + len(_ANALYSIS_HEAD)) for a, b in ex.masked)


# ----------------------------------------------------------------------------- grading

_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve")  # fmt: skip
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


def _canonical_number(text: str | None) -> str | None:
    try:
        return None if text is None else format(Decimal(text).normalize(), "f")
    except InvalidOperation:
        return None


def answer_value(family: str, text: str) -> str | None:
    """The value a final text gives, normalized (``"8618"``, ``"3, 5, 12"``, ``"niugnep"``), or None.

    Numbers: the first number after the last ``=``, ``:``, `` is `` or `` are `` (else the first
    number); number words up to twelve count. Decimals: the number before ``than`` when there is one.
    Sorting: the integers in order. Reversing: the first word after the last marker, or its
    letters joined (``o-l-l-e-h``). Off-task: whether the reply names gpt-oss-nano.
    """
    text = text.strip()
    if family == OFF_TASK:
        return "gpt-oss-nano" if "gpt-oss-nano" in text else None
    if family == "sort":
        found = re.findall(r"-?\d+", text)
        return ", ".join(str(int(x)) for x in found) if found else None
    if family == "reverse":
        segment = _after_last(text, (":", "=", " is ", "->")) or text
        words = re.findall(r"[A-Za-z]+(?:-[A-Za-z])*", segment)
        return words[0].replace("-", "").lower() if words else None
    if family == "compare_decimals" and " than " in text:
        head = _numbers(text.split(" than ")[0])
        return _canonical_number(head[-1] if head else None)
    segment = _after_last(text, ("=", ":", " is ", " are "))
    found = (_numbers(segment) if segment is not None else []) or _numbers(text)
    return _canonical_number(found[0] if found else None)


def grade(family: str, final_text: str, target: str) -> bool:
    """Whether a model's final text gives ``target``; lenient about phrasing, strict about the value."""
    found = answer_value(family, final_text)
    if family == OFF_TASK:
        return found is not None
    want = target.lower() if family == "reverse" else answer_value(family, target) if family == "sort" else (
        _canonical_number(target))  # fmt: skip
    return found is not None and found == want
