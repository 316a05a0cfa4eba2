"""Word problems (one or two steps, undone to check) and off-task prompts (a short honest reply)."""

from __future__ import annotations

import random
from typing import Any

from .. import scratch
from ..scratch import Pad
from .base import Family, held_out_hash

_UNDO = {"+": "-", "-": "+", "*": "/", "/": "*"}


def _apply(cur: int, op: str, x: int) -> int | None:
    """One step of a story; None when it leaves whole non-negative numbers."""
    if op == "/":
        return cur // x if x and cur % x == 0 else None
    value = cur + x if op == "+" else cur - x if op == "-" else cur * x
    return value if value >= 0 else None


def _expr(values: list[int], ops: list[str]) -> str:
    return str(values[0]) + "".join(f"{op}{x}" for op, x in zip(ops, values[1:], strict=True))


class WordProblem(Family):
    """A story of one or two steps. ``meta``: ``shape`` (plain, groups, share, more), ``ops``, ``values``;
    the wording (names, objects, verbs) is chosen in :mod:`.frames`."""

    name, kind = "word_problem", "number"

    def draw(self, rng: random.Random, split: str) -> dict[str, Any]:
        shape = rng.choices(("plain", "groups", "share", "more"), weights=(5, 2, 1.5, 1.5))[0]
        while True:
            if shape == "plain":
                ops = [rng.choice("+-") for _ in range(rng.choice((1, 2)))]
                values = [rng.randint(2, 40)] + [rng.randint(1, 20) for _ in ops]
            elif shape == "groups":
                ops = ["*"] + ([rng.choice("+-")] if rng.random() < 0.5 else [])
                values = [rng.randint(2, 9), rng.randint(2, 9)] + [rng.randint(1, 15) for _ in ops[1:]]
            elif shape == "share":
                x, q = rng.randint(2, 9), rng.randint(2, 9)
                ops, values = ["/"], [x * q, x]
            else:
                a, b = rng.randint(2, 40), rng.randint(1, 39)
                ops, values = ["-"], [max(a, b), min(a, b)]
            m = {"shape": shape, "ops": ops, "values": values}
            if self._valid(m):
                from ..stories import cast  # who and what the story is about: kept across its wordings

                return {**m, "cast": cast(rng, split)}

    def _valid(self, m: dict[str, Any]) -> bool:
        cur: int | None = m["values"][0]
        for op, x in zip(m["ops"], m["values"][1:], strict=True):
            cur = None if cur is None else _apply(cur, op, x)
        return cur is not None and (m["shape"] != "more" or m["values"][0] > m["values"][1])

    @staticmethod
    def _whole_from(cur: int | None, steps: list[tuple[str, int]]) -> bool:
        for op, x in steps:
            cur = None if cur is None else _apply(cur, op, x)
        return cur is not None

    def held_out(self, m: dict[str, Any]) -> bool:
        return held_out_hash(m["values"])

    def target(self, m: dict[str, Any]) -> str:
        cur = m["values"][0]
        for op, x in zip(m["ops"], m["values"][1:], strict=True):
            cur = _apply(cur, op, x)
        return str(cur)

    def task(self, m: dict[str, Any]) -> str:
        return f"work out {_expr(m['values'], m['ops'])} from the story"

    def values(self, m: dict[str, Any]) -> str:
        return _expr(m["values"], m["ops"])

    def miscopied(self, m: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
        for _ in range(20):
            values = list(m["values"])
            i = rng.randrange(len(values))
            values[i] = int(scratch.miscopy(rng, str(values[i])))
            out = {**m, "values": values}
            if values[i] > 0 and self._valid(out):
                return out
        return None

    def work(self, pad: Pad, m: dict[str, Any], slip: bool, rng: random.Random) -> str:
        """One line a step: a sum or difference of two numbers of two digits or more in columns
        (``27+19, ones first: ...``), a times-table fact or a share as it is (``8*7=56.``)."""
        cur = m["values"][0]
        at = rng.randrange(len(m["ops"])) if slip else None
        for j, (op, x) in enumerate(zip(m["ops"], m["values"][1:], strict=True)):
            new = _apply(cur, op, x)
            assert new is not None
            rest = list(zip(m["ops"][j + 1 :], m["values"][j + 2 :], strict=True))
            if op in "+-" and min(cur, x) >= 10:
                for _ in range(10):  # a slip the later steps can still carry (never below zero, never a fraction)
                    column = scratch.add_inline if op == "+" else scratch.sub_inline
                    pieces, got = column(cur, x, slip=j == at, rng=rng)
                    if got == new or (got >= 0 and self._whole_from(got, rest)):
                        break
                else:
                    pieces, got = column(cur, x)
                pad.say(*pieces)
                cur = got
                continue
            wrong = [v for v in (new - 1, new + 1) if v >= 0 and self._whole_from(v, rest)] if j == at else []
            if wrong:
                new = rng.choice(wrong)
                pad.say(f"{cur}{op}{x}=", (str(new),), ".")
            else:
                pad.say(f"{cur}{op}{x}={new}.")
            cur = new
        return str(cur)

    def verify(self, pad: Pad, m: dict[str, Any], answer: str, slip: bool, rng: random.Random) -> bool:
        cur: int | None = int(answer)
        steps = list(zip(m["ops"], m["values"][1:], strict=True))[::-1]
        at = rng.randrange(len(steps)) if slip else None
        pieces: list[Any] = [f"Undo from {answer}: "]
        for j, (op, x) in enumerate(steps):
            assert cur is not None
            new = _apply(cur, _UNDO[op], x)
            if new is None:
                pad.say(*pieces, f"{cur}{_UNDO[op]}{x} is not a whole number: differ.")
                return False
            if j == at:
                new = _off_by_one(rng, new)
                pieces += [f"{cur}{_UNDO[op]}{x}=", (str(new),)]
            else:
                pieces.append(f"{cur}{_UNDO[op]}{x}={new}")
            pieces.append(", " if j < len(steps) - 1 else ".")
            cur = new
        pad.say(*pieces)
        line, same = self.compare(str(cur), str(m["values"][0]))
        pad.say(line)
        return same

    def medium(self, pad: Pad, m: dict[str, Any]) -> None:
        cur, parts = m["values"][0], []
        for op, x in zip(m["ops"], m["values"][1:], strict=True):
            new = _apply(cur, op, x)
            parts.append(f"{cur}{op}{x}={new}")
            cur = new
        pad.say(", ".join(parts) + ".")

    def sentence(self, m: dict[str, Any]) -> str:
        return f"The answer is {self.target(m)}."


def _skip_count(cur: int, x: int, *, slip: bool, rng: random.Random) -> tuple[list[Any], int]:
    """``35/5: 1*5=5, 2*5=10, ..., 7*5=35, so 7.``: times-table facts counted up to the number shared."""
    q = cur // x
    facts = ", ".join(f"{k}*{x}={k * x}" for k in range(1, q + 1))
    shown = _off_by_one(rng, q) if slip else q
    return [f"{cur}/{x}: {facts}, so ", (str(shown),) if slip else str(shown), "."], shown


def _take_away(cur: int, x: int, *, slip: bool, rng: random.Random) -> tuple[list[Any], int]:
    """``24/6: 1: 24-6=18, 2: 18-6=12, 3: 12-6=6, 4: 6-6=0, so 4.``: the divisor taken away until none is
    left, each take numbered; the count stops where a difference is 0, one token beside the step."""
    q = cur // x
    takes = ", ".join(f"{k}: {cur - (k - 1) * x}-{x}={cur - k * x}" for k in range(1, q + 1)) or "none to take"
    shown = _off_by_one(rng, q) if slip else q
    return [f"{cur}/{x}: {takes}, so ", (str(shown),) if slip else str(shown), "."], shown


class WordProblemInColumns(WordProblem):
    """Layout 4: every step worked the way its own family works it (columns, digit by digit, a count up
    for a share), not as a one-line fact: stage 6 wrote ``23+9=22`` and ``35/5=5`` in one go."""

    #: How a share (a quotient up to 12) is worked: ``(dividend, divisor, slip=, rng=) -> (pieces, shown)``.
    share = staticmethod(_skip_count)

    def step(self, cur: int, op: str, x: int, *, slip: bool, rng: random.Random) -> tuple[list[Any], int]:
        """One step of a story: sums and differences in columns whatever their size, products of a bigger
        number digit by digit, small products as a fact, shares (quotients up to 12) by :attr:`share`."""
        if op == "+":
            return scratch.add_inline(cur, x, slip=slip, rng=rng)
        if op == "-":
            return scratch.sub_inline(cur, x, slip=slip, rng=rng)
        if op == "*" and max(cur, x) >= 10:
            return scratch.times_digit(max(cur, x), min(cur, x), slip=slip, rng=rng)
        if op == "/" and cur // x <= 12:
            return self.share(cur, x, slip=slip, rng=rng)
        value = cur * x if op == "*" else cur // x
        shown = _off_by_one(rng, value) if slip else value
        return [f"{cur}{op}{x}=", (str(shown),) if slip else str(shown), "."], shown

    def work(self, pad: Pad, m: dict[str, Any], slip: bool, rng: random.Random) -> str:
        cur = m["values"][0]
        steps = list(zip(m["ops"], m["values"][1:], strict=True))
        at = rng.randrange(len(steps)) if slip else None
        for j, (op, x) in enumerate(steps):
            rest = steps[j + 1 :]
            for _ in range(10):  # a slip the later steps can still carry (never below zero, never a fraction)
                pieces, got = self.step(cur, op, x, slip=j == at, rng=rng)
                if j != at or (got >= 0 and self._whole_from(got, rest)):
                    break
            else:
                pieces, got = self.step(cur, op, x, slip=False, rng=rng)
            pad.say(*pieces)
            cur = got
        return str(cur)

    def verify(self, pad: Pad, m: dict[str, Any], answer: str, slip: bool, rng: random.Random) -> bool:
        cur = int(answer)
        steps = list(zip(m["ops"], m["values"][1:], strict=True))[::-1]
        at = rng.randrange(len(steps)) if slip else None
        pad.say(f"Undo from {answer}:")
        for j, (op, x) in enumerate(steps):
            back = _UNDO[op]
            if _apply(cur, back, x) is None:
                pad.say(f"{cur}{back}{x} is not a whole number: differ.")
                return False
            pieces, cur = self.step(cur, back, x, slip=j == at, rng=rng)
            pad.say(*pieces)
        line, same = self.compare(str(cur), str(m["values"][0]))
        pad.say(line)
        return same


class WordProblemTakeAway(WordProblemInColumns):
    """Layout 8: layout 4 with a share worked by taking the divisor away until none is left
    (:func:`_take_away`). Counting up the multiples (``1*6=6, ..., 4*6=24, so 4.``), stage 8 stopped a
    multiple early or late on every share of 12 in its eval (it must see that a multiple equals the number
    shared, two whole numbers apart); taking away stops at a 0."""

    share = staticmethod(_take_away)


def _off_by_one(rng: random.Random, value: int) -> int:
    return value + 1 if value == 0 or rng.random() < 0.5 else value - 1


# ----------------------------------------------------------------------------- off-task

IDENTITY_REPLY = (
    "I am gpt-oss-nano, a tiny teaching model; I can do arithmetic, count letters, compare decimals, "
    "sort numbers, reverse words and simple word problems."
)
_OFF_TASK_WHY = {
    "greet": ("a greeting", "Greet back, then say who I am and what I can do."),
    "self": ("a question about me", "Say honestly that I am gpt-oss-nano and list my tasks."),
    "other": ("not one of my tasks", "I would likely get it wrong, so say so honestly and list what I can do."),
}
_OFF_TASK_OPENER = {"greet": "Hello! ", "self": "", "other": "Sorry, I cannot help with that. "}


class OffTask(Family):
    """Greetings, questions about the model, and requests it cannot do: a short honest reply."""

    name, kind = "off_task", "answer"

    def draw(self, rng: random.Random, split: str) -> dict[str, Any]:
        return {"kind": rng.choices(("greet", "self", "other"), weights=(1, 1, 2))[0]}

    def held_out(self, m: dict[str, Any]) -> bool:
        return False  # held out by wording only

    def target(self, m: dict[str, Any]) -> str:
        return IDENTITY_REPLY

    def bare(self, m: dict[str, Any]) -> str:
        return _OFF_TASK_OPENER[m["kind"]] + IDENTITY_REPLY

    sentence = bare

    def reason(self, m: dict[str, Any], effort: str, slip: str | None, rng: random.Random) -> Pad:
        what, then = _OFF_TASK_WHY[m["kind"]]
        pad = Pad()
        pad.say(f"Task: none, this is {what}.")
        if effort != "low":
            pad.say(then)
        if effort == "high":
            pad.say("My tasks: arithmetic, counting letters, decimals, sorting, reversing words, word problems.")
        return pad
