"""Digit-fact drills: the one-column steps of nano's scratchpads, many to a row, as plain text.

Every sum, difference and product nano writes is built from one-column steps (``7+8+1=16``,
``3-1-5 is below 0, so 13-1-5=7``, ``4*6+4=28``). In conversations they are a few tokens in a
hundred, and a model trained on conversations alone learned them badly (teacher-forced, the
token after ``=`` was right 89% of the time for sums, 65% for differences and 68% for products,
on the third run's checkpoint). A drill row is nothing but such steps, in the exact text the
scratchpads use, so a share of training batches can teach the tables directly (as pretraining
text teaches a large model its arithmetic). Only the part after the operands is learned: the
operands are random, what follows them is the fact.

A letter row (:func:`letter_row`) drills counting's verdicts in layout 2's own words (``Each: 1 c = n no,
2 n = n yes 1, ...``) on made-up letter strings where about half the letters are the one sought: in real
words most letters are not, and a constant ``no`` is what conversations alone taught
(``bench/nano_verdict_pilot.py``: a verdict on two letters side by side is learnable when both answers are
common).

A comparison row (:func:`compare_row`) drills the verdict of the high-effort check instead:
``6221 vs 6211: differ.`` The third stage's checks wrote two different numbers on that line and
then ``same`` on 98.5% of its wrong answers, so the verdict, not the recomputation, is what a
check that can fail needs first. Half the pairs are equal; the others differ in one digit, two
neighbouring digits swapped, or one digit more or less, as a slip leaves them.

A list row (:func:`list_row`) drills the two steps of layout 4 that copy numbers along a line: sorting's
selection (``Left: 84, 79, 59, 86, 85. Largest: 86.`` then the list again without it), whose copies dropped
or doubled numbers on three sorts in four at stage 7, and a share counted up
(``63/7: 1*7=7, ..., 9*7=63, so 9.``), which stopped a multiple early or late (or taken away, in layout 8:
``24/6: 1: 24-6=18, ..., 4: 6-6=0, so 4.``). Everything after the restated task (or after ``63/7:``) is
learned; lists whose numbers the eval holds out are never drawn.
"""

from __future__ import annotations

import random

from .scratch import Pad, compare_digits

__all__ = ["compare_row", "drill_row", "fact", "letter_row", "list_row", "near_miss"]


def _add(rng: random.Random) -> tuple[str, str]:
    x, y, carry = rng.randrange(10), rng.randrange(10), rng.random() < 0.4
    return (f"{x}+{y}+1=", str(x + y + 1)) if carry else (f"{x}+{y}=", str(x + y))


def _sub(rng: random.Random) -> tuple[str, str]:
    t, d, borrow = rng.randrange(10), rng.randrange(10), rng.random() < 0.4
    expr = f"{t}-1-{d}" if borrow else f"{t}-{d}"
    value = t - int(borrow) - d
    return (expr, f" is below 0, so 1{expr}={value + 10}") if value < 0 else (expr, f"={value}")  # "=" a fact too


def _mul(rng: random.Random) -> tuple[str, str]:
    x, k = rng.randrange(10), rng.randrange(1, 10)
    carry = rng.randrange(k) if rng.random() < 0.6 else 0  # a carry from x*k is at most k-1
    return (f"{x}*{k}+{carry}=", str(x * k + carry)) if carry else (f"{x}*{k}=", str(x * k))


_KINDS = {"add": _add, "sub": _sub, "mul": _mul}


def fact(rng: random.Random, kind: str) -> tuple[str, str]:
    """One step of ``kind`` ("add", "sub", "mul"): (its operands, the fact that follows them)."""
    return _KINDS[kind](rng)


def drill_row(rng: random.Random, n_facts: int = 28) -> list[tuple[str, bool]]:
    """A drill row as (text, learned) pieces: steps of one kind, joined as the scratchpads join them.

    Rows keep to one kind (a column addition never meets a product mid-line) and join their
    steps one to a line (``.\\n``, the main pass) or inline (``, ``, the checks).
    """
    kind = rng.choice(tuple(_KINDS))
    joiner = rng.choice((".\n", ", "))
    pieces: list[tuple[str, bool]] = []
    for i in range(n_facts):
        operands, result = fact(rng, kind)
        pieces += [(operands if i == 0 else joiner + operands, False), (result, True)]
    pieces.append((".", False))
    return pieces


def near_miss(rng: random.Random, value: int) -> int:
    """A number a slip could have left in place of ``value``: never ``value`` itself."""
    digits = list(str(value))
    roll = rng.random()
    if roll < 0.15 and len(digits) > 1 and len(set(digits)) > 1:  # two neighbours swapped
        while True:
            i = rng.randrange(len(digits) - 1)
            if digits[i] != digits[i + 1]:
                digits[i], digits[i + 1] = digits[i + 1], digits[i]
                break
    elif roll < 0.3:  # a digit more, or one fewer
        i = rng.randrange(len(digits) + 1)
        if len(digits) > 1 and rng.random() < 0.5:
            del digits[min(i, len(digits) - 1)]
        else:
            digits.insert(i, str(rng.randrange(10)))
    else:  # one digit changed
        i = rng.randrange(len(digits))
        digits[i] = rng.choice([d for d in "0123456789" if d != digits[i]])
    miss = int("".join(digits))
    return miss if miss != value else near_miss(rng, value)  # a leading 0 dropped can give it back


def compare_row(rng: random.Random, n_pairs: int = 12, *, digitwise: bool = False) -> list[tuple[str, bool]]:
    """A comparison row as (text, learned) pieces: ``A vs B: same.`` lines, only the verdict learned.

    ``digitwise`` (layout 3): the check's own line, ``A vs B: 6=6 yes, 0=2 no: differ.``, everything after
    ``A vs B:`` learned (the digits it pairs, their verdicts, the line's verdict)."""
    pieces: list[tuple[str, bool]] = []
    for i in range(n_pairs):
        width = rng.randint(1, 5)  # digits, as sums, differences and products run
        a = rng.randrange(10 ** (width - 1) if width > 1 else 0, 10**width)
        b = a if rng.random() < 0.5 else near_miss(rng, a)
        head = f"{'' if i == 0 else chr(10)}{a} vs {b}:"
        if digitwise:
            line, _ = compare_digits(str(a), str(b))
            pieces += [(head, False), (line[len(head.lstrip(chr(10))) :], True)]
            continue
        pieces += [(head, False), (" same" if a == b else " differ", True)]
        pieces.append((".", False))
    return pieces


def letter_row(rng: random.Random, n_lines: int = 4) -> list[tuple[str, bool]]:
    """A letter row as (text, learned) pieces: ``Each:`` lines as counting writes them, only the verdicts
    (``no``, ``yes 2``) learned; each line a string of 4-9 letters about half of which are the one sought."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces: list[tuple[str, bool]] = []
    for line in range(n_lines):
        sought = rng.choice(letters)
        others = [c for c in letters if c != sought]
        word = [sought if rng.random() < 0.5 else rng.choice(others) for _ in range(rng.randint(4, 9))]
        pieces.append((("" if line == 0 else "\n") + "Each: ", False))
        seen = 0
        for i, ch in enumerate(word):
            seen += ch == sought
            pieces += [(f"{i + 1} {ch} = {sought} ", False), (f"yes {seen}" if ch == sought else "no", True)]
            pieces.append((", " if i < len(word) - 1 else ".", False))
    return pieces


def _sort_pieces(rng: random.Random, first: bool, layout: int) -> list[tuple[str, bool]]:
    from .families import LAYOUTS

    family = LAYOUTS[layout]["sort"]
    m = family.draw(rng, "train")
    while family.held_out(m):
        m = family.draw(rng, "train")
    pad = Pad()
    answer = family.work(pad, m, False, rng)
    text, _ = pad.done()
    return [(f"{'' if first else chr(10)}Task: {family.task(m)}.\n", False), (f"{text}\nAnswer: {answer}.", True)]


def _share_pieces(rng: random.Random, first: bool, layout: int) -> list[tuple[str, bool]]:
    from .families import LAYOUTS

    x, q = rng.randint(2, 12), rng.randint(1, 12)
    share = getattr(LAYOUTS[layout]["word_problem"], "share", LAYOUTS[4]["word_problem"].share)  # layouts 1-3: 4's
    pieces, _ = share(x * q, x, slip=False, rng=rng)
    head, rest = "".join(pieces).split(":", 1)
    return [(f"{'' if first else chr(10)}{head}:", False), (rest, True)]


def list_row(rng: random.Random, n_items: int = 3, layout: int = 4) -> list[tuple[str, bool]]:
    """A list row as (text, learned) pieces: sorts worked by selection, or shares counted up, ``n_items`` of
    them one after another, in ``layout``'s own lines (only what follows each restated task is learned)."""
    kind = _sort_pieces if rng.random() < 0.7 else _share_pieces
    pieces: list[tuple[str, bool]] = []
    for i in range(n_items if kind is _sort_pieces else 2 * n_items):
        pieces += kind(rng, i == 0, layout)
    return pieces
