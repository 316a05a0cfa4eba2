"""gpt-oss-nano's scratchpads: the analysis-channel reasoning for each task family and effort.

Every analysis has the same shape, so that a student can read it and :func:`read_reasoning` can:

* ``Task: ...`` restates the question in a fixed form (the operands, word or list copied out);
* ``low``: then a one-line guess, ``Answer: X.``;
* ``medium``: the key steps on one or two lines, then ``Answer: X.``;
* ``high``: every step on its own line (digits ones first, one column per line, letters and list
  items numbered), ``Answer: X.``, then a check that can fail: it copies the values from the
  question again beside the task line's copy and compares them, then recomputes another way
  (the other order, the inverse operation, reading the reversal back) and compares the two
  results. When either differs it says ``differ``, writes ``Redo:`` and works the task again from
  the question, and a second ``Answer: Y.`` follows the redo.

Why these formats (small transformers and arithmetic: Lee et al. 2023, Zhou et al. 2024,
McLeish et al. 2024): digits written ones first let each column's sum depend only on the line
above, a one-step-per-line scratchpad keeps every prediction local, and numbered letters and
place-tagged digits act as index hints for copying. The comparison is written next to the
things compared, because a model this small cannot compare with a line far above.

Training injects slips (:class:`Pad` marks them ``masked``, so the loss never teaches the slip
itself): a miscopied task line, a wrong step in the first pass, or a wrong step inside the
check. The reasoning after a slip is what a careful solver writes, so "catch and fix" is learned.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["SLIPS", "Pad", "Reading", "compare_digits", "compare_line", "read_reasoning"]

#: Kinds of injected slip: a miscopied task line, a slip in the first pass, a slip inside the check.
SLIPS: tuple[str, ...] = ("copy", "work", "check")


@dataclass
class Pad:
    """A scratchpad under construction: text pieces, some of them masked (injected slips)."""

    parts: list[tuple[str, bool]] = field(default_factory=list)

    def say(self, *pieces: str | tuple[str]) -> None:
        """One line; a piece given as a 1-tuple is a slip (masked from the loss)."""
        for p in pieces:
            self.parts.append((p[0], True) if isinstance(p, tuple) else (p, False))
        self.parts.append(("\n", False))

    def extend(self, other: Pad) -> None:
        self.parts.extend(other.parts)

    def done(self) -> tuple[str, tuple[tuple[int, int], ...]]:
        text, spans, at = "", [], 0
        parts = self.parts[:-1] if self.parts and self.parts[-1] == ("\n", False) else self.parts
        for piece, masked in parts:
            if masked:
                spans.append((at, at + len(piece)))
            text += piece
            at += len(piece)
        return text, tuple(spans)


@dataclass(frozen=True)
class Reading:
    """What an analysis says, read back: its first and last ``Answer:``, whether a check ran and fired."""

    first_answer: str | None
    final_answer: str | None
    checked: bool
    fired: bool


def read_reasoning(analysis: str) -> Reading:
    answers = [ln[len("Answer: ") :].rstrip(".") for ln in analysis.splitlines() if ln.startswith("Answer: ")]
    lines = analysis.splitlines()
    return Reading(
        answers[0] if answers else None,
        answers[-1] if answers else None,
        any(ln.startswith("Check") for ln in lines),
        any(ln.startswith("Redo:") for ln in lines),
    )


# ----------------------------------------------------------------------------- helpers


def ones_first(n: int | str, width: int = 0) -> str:
    """``3475`` -> ``5 7 4 3`` (padded with zeros to ``width`` digits)."""
    return " ".join(reversed(str(n).rjust(width, "0")))


def _off_by_one(rng: random.Random, value: int, lo: int = 0, hi: int = 10**9) -> int:
    options = [v for v in (value - 1, value + 1) if lo <= v <= hi]
    return rng.choice(options)


def miscopy(rng: random.Random, text: str) -> str:
    """A plausible copying error of a number or word: a digit or letter changed, dropped, doubled or swapped."""
    alphabet = "0123456789" if text.isdigit() else "abcdefghijklmnopqrstuvwxyz"
    while True:
        i = rng.randrange(len(text))
        kind = rng.choice(("change", "drop", "double", "swap") if len(text) > 2 else ("change", "double"))
        if kind == "change":
            out = text[:i] + rng.choice(alphabet.replace(text[i], "")) + text[i + 1 :]
        elif kind == "drop":
            out = text[:i] + text[i + 1 :]
        elif kind == "double":
            out = text[: i + 1] + text[i:]
        else:
            i = min(i, len(text) - 2)
            out = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        if out != text and out and not (out.isdigit() and len(out) > 1 and out[0] == "0"):
            return out


def _digits_value(digits: list[int]) -> int:
    return int("".join(map(str, reversed(digits))) or "0")


def _add_steps(a: int, b: int, slip_at: int | None, rng: random.Random | None) -> list[tuple[str, int, bool]]:
    """Column addition ones first: (``x+y`` or ``x+y+carry``, the sum written, whether it is the slip) per
    column; the slipped sum is one off, and the columns after it carry what it wrote."""
    width = max(len(str(a)), len(str(b)))
    carry, steps = 0, []
    for i in range(width):
        x, y = (a // 10**i) % 10, (b // 10**i) % 10
        s = x + y + carry
        slipped = i == slip_at and rng is not None
        if slipped:
            s = _off_by_one(rng, s, 0, 19)
        steps.append((f"{x}+{y}+{carry}" if carry else f"{x}+{y}", s, slipped))
        carry = s // 10
    return steps


def _written(steps: list[tuple[str, int, bool]]) -> list[int]:
    """The digits the steps write, ones first, the last carry included."""
    out = [s % 10 for _, s, _ in steps]
    return [*out, steps[-1][1] // 10] if steps[-1][1] >= 10 else out


def add_columns(a: int, b: int, pad: Pad, *, slip_at: int | None = None, rng: random.Random | None = None) -> int:
    """Column addition, one column per line, ones first; returns the sum written (wrong if slipped)."""
    width = max(len(str(a)), len(str(b)))
    pad.say(f"Ones first: {ones_first(a, width)} and {ones_first(b, width)}.")
    steps = _add_steps(a, b, slip_at, rng)
    for expr, s, slipped in steps:  # the sum's ones digit is written, its tens digit carried
        pad.say(f"{expr}=", (str(s),) if slipped else str(s), ".")
    out = _written(steps)
    total = _digits_value(out)
    pad.say(f"Written ones first: {' '.join(map(str, out))}, so {total}.")
    return total


def add_inline(a: int, b: int, *, slip: bool = False, rng: random.Random | None = None) -> tuple[list, int]:
    """Compact column addition on one line: ``282+1410, ones first: 2 8 2 0 and 0 1 4 1: 2+0=2, ...``."""
    width = max(len(str(a)), len(str(b)))
    at = rng.randrange(width) if slip and rng else None
    pieces: list[Any] = [f"{a}+{b}, ones first: {ones_first(a, width)} and {ones_first(b, width)}: "]
    steps = _add_steps(a, b, at, rng)
    for i, (expr, s, slipped) in enumerate(steps):
        pieces += [f"{expr}=", (str(s),) if slipped else str(s), ", " if i < width - 1 else ""]
    out = _written(steps)
    total = _digits_value(out)
    pieces.append(f". Written {' '.join(map(str, out))}, so {total}.")
    return pieces, total


def sub_columns(a: int, b: int, pad: Pad, *, slip_at: int | None = None, rng: random.Random | None = None) -> int:
    """Column subtraction with borrows, one column per line, ones first; returns the difference written."""
    width = len(str(a))
    pad.say(f"Ones first: {ones_first(a, width)} and {ones_first(b, width)}.")
    borrow, out = 0, []
    for i in range(width):
        t, d = (a // 10**i) % 10, (b // 10**i) % 10
        v = t - borrow - d
        expr = f"{t}-{borrow}-{d}" if borrow else f"{t}-{d}"
        low = v < 0
        value = v + 10 if low else v
        shown = _off_by_one(rng, value, 0, 9) if (i == slip_at and rng is not None) else value
        head = f"{expr} is below 0, so 1{expr}=" if low else f"{expr}="
        tail = ", borrow 1." if low else "."
        pad.say(head, (str(shown),), tail) if shown != value else pad.say(f"{head}{value}{tail}")
        out.append(shown)
        borrow = int(low)
    total = _digits_value(out)
    pad.say(f"Written ones first: {' '.join(map(str, out))}, so {total}.")
    return total


def sub_inline(a: int, b: int, *, slip: bool = False, rng: random.Random | None = None) -> tuple[list, int]:
    """Compact column subtraction on one line: ``52-17, ones first: 2 5 and 7 1: 2-7 is below 0, so 12-7=5,
    5-1-1=3. Written 5 3, so 35.`` (``a >= b``)."""
    width = len(str(a))
    at = rng.randrange(width) if slip and rng else None
    pieces: list[Any] = [f"{a}-{b}, ones first: {ones_first(a, width)} and {ones_first(b, width)}: "]
    borrow, out = 0, []
    for i in range(width):
        t, d = (a // 10**i) % 10, (b // 10**i) % 10
        expr = f"{t}-{borrow}-{d}" if borrow else f"{t}-{d}"
        low = t - borrow - d < 0
        value = t - borrow - d + 10 * low
        shown = _off_by_one(rng, value, 0, 9) if (i == at and rng is not None) else value
        pieces.append(f"{expr} is below 0, so 1{expr}=" if low else f"{expr}=")
        pieces.append((str(shown),) if shown != value else str(shown))
        pieces.append(", " if i < width - 1 else "")
        out.append(shown)
        borrow = int(low)
    total = _digits_value(out)
    pieces.append(f". Written {' '.join(map(str, out))}, so {total}.")
    return pieces, total


def times_digit(a: int, k: int, *, slip: bool = False, rng: random.Random | None = None) -> tuple[list, int]:
    """``47*6, ones first: 7*6=42, 4*6+4=28. Written 2 8 2, so 282.`` (each product's tens carried)"""
    digits = [int(c) for c in reversed(str(a))]
    at = rng.randrange(len(digits)) if slip and rng else None
    pieces: list[Any] = [f"{a}*{k}, ones first: "]
    carry, out = 0, []
    for i, x in enumerate(digits):
        p = x * k + carry
        expr = f"{x}*{k}+{carry}=" if carry else f"{x}*{k}="
        if i == at and rng is not None:
            p = _off_by_one(rng, p, 0, 89)
            pieces += [expr, (str(p),)]
        else:
            pieces.append(f"{expr}{p}")
        pieces.append(", " if i < len(digits) - 1 else "")
        out.append(p % 10)
        carry = p // 10
    if carry:
        out.append(carry)
    total = _digits_value(out)
    pieces.append(f". Written {' '.join(map(str, out))}, so {total}.")
    return pieces, total


def multiply(a: int, b: int, pad: Pad, *, slip: bool = False, rng: random.Random | None = None) -> int:
    """``a*b`` by the digits of ``b`` (at most two): partial products, then their sum; returns the product."""
    if b < 10:
        pieces, total = times_digit(a, b, slip=slip, rng=rng)
        pad.say(*pieces)
        return total
    tens, ones = divmod(b, 10)
    where = rng.choice(("ones", "tens", "sum") if ones else ("tens",)) if slip and rng else None
    pad.say(f"{b} is {tens * 10} and {ones}." if ones else f"{b} is {tens}*10.")
    low = 0
    if ones:
        pieces, low = times_digit(a, ones, slip=where == "ones", rng=rng)
        pad.say(*pieces)
    pieces, high = times_digit(a, tens, slip=where == "tens", rng=rng)
    pad.say(*pieces[:-1], pieces[-1][:-1] + f", times 10 is {high * 10}.")
    if not ones:
        return high * 10
    pieces, total = add_inline(low, high * 10, slip=where == "sum", rng=rng)
    pad.say("Add ", *pieces)
    return total


def compare_line(mine: str, other: str) -> tuple[str, bool]:
    """Layouts 1 and 2: ``6046 vs 6219: differ.``, the verdict on the whole values at once."""
    same = mine == other
    return f"{mine} vs {other}: {'same. Correct.' if same else 'differ.'}", same


def compare_digits(mine: str, other: str) -> tuple[str, bool]:
    """Layout 3: the values compared a character at a time, left to right, up to the first mismatch:
    ``6046 vs 6219: 6=6 yes, 0=2 no: differ.``; ``-`` stands for a character one value lacks.

    A verdict on two whole numbers is what a model this small does not learn (``bench/nano_verdict_pilot.py``:
    51% on whole numbers, 91% per digit), so the check spells the comparison out, one local step at a time.
    """
    steps = []
    for i in range(max(len(mine), len(other))):
        x, y = mine[i] if i < len(mine) else "-", other[i] if i < len(other) else "-"
        steps.append(f"{x}={y} {'yes' if x == y else 'no'}")
        if x != y:
            break
    same = mine == other
    return f"{mine} vs {other}: {', '.join(steps)}: {'same. Correct.' if same else 'differ.'}", same


def decimal_str(d: Decimal) -> str:
    return format(d.normalize(), "f") if d != d.to_integral() else str(int(d))
