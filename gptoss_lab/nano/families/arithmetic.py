"""Addition, subtraction and multiplication: digits ones first, one column per line, checked another way."""

from __future__ import annotations

import random
from typing import Any, ClassVar

from .. import scratch
from ..scratch import Pad, ones_first
from .base import Family, _number, held_out_hash


class _Arithmetic(Family):
    kind = "number"
    sign: ClassVar[str]

    def held_out(self, m: dict[str, Any]) -> bool:
        return held_out_hash([m["a"], m["b"]])

    def values(self, m: dict[str, Any]) -> str:
        return f"{m['a']} and {m['b']}"

    def valid(self, m: dict[str, Any]) -> bool:
        return True

    def miscopied(self, m: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
        for _ in range(20):
            key = rng.choice("ab")
            out = {**m, key: int(scratch.miscopy(rng, str(m[key])))}
            if self.valid(out):
                return out
        return None

    def sentence(self, m: dict[str, Any]) -> str:
        return f"{m['a']} {self.sign} {m['b']} = {self.target(m)}."


class Add(_Arithmetic):
    name, sign = "add", "+"

    def draw(self, rng: random.Random, split: str) -> dict[str, Any]:
        return {"a": _number(rng, 2, 4), "b": _number(rng, 1, 4)}

    def target(self, m: dict[str, Any]) -> str:
        return str(m["a"] + m["b"])

    def task(self, m: dict[str, Any]) -> str:
        return f"add {m['a']} and {m['b']}"

    def work(self, pad: Pad, m: dict[str, Any], slip: bool, rng: random.Random) -> str:
        width = max(len(str(m["a"])), len(str(m["b"])))
        return str(scratch.add_columns(m["a"], m["b"], pad, slip_at=rng.randrange(width) if slip else None, rng=rng))

    def verify(self, pad: Pad, m: dict[str, Any], answer: str, slip: bool, rng: random.Random) -> bool:
        pieces, total = scratch.add_inline(m["b"], m["a"], slip=slip, rng=rng)
        pad.say("Other order: ", *pieces)
        line, same = self.compare(str(total), answer)
        pad.say(line)
        return same

    def medium(self, pad: Pad, m: dict[str, Any]) -> None:
        pieces, _ = scratch.add_inline(m["a"], m["b"])
        pad.say(*pieces)


class AddTakeBack(Add):
    """Layout 4: the check undoes the sum, taking the second number back off (``Undo: 6912-1234, ones first: ...``) and
    compares with the first, an inverse operation with facts of its own; the other order repeats the
    first pass's facts and agrees with its slips (stage 6: false pass 7 of 7 on addition)."""

    def verify(self, pad: Pad, m: dict[str, Any], answer: str, slip: bool, rng: random.Random) -> bool:
        total = int(answer)
        if total < m["b"]:
            pad.say(f"Undo: {total} is below {m['b']}: differ.")
            return False
        pieces, back = scratch.sub_inline(total, m["b"], slip=slip, rng=rng)
        pad.say("Undo: ", *pieces)
        line, same = self.compare(str(back), str(m["a"]))
        pad.say(line)
        return same


class Sub(_Arithmetic):
    name, sign = "sub", "-"

    def draw(self, rng: random.Random, split: str) -> dict[str, Any]:
        a, b = _number(rng, 2, 4), _number(rng, 1, 4)
        while a == b:
            b = _number(rng, 1, 4)
        return {"a": max(a, b), "b": min(a, b)}

    def valid(self, m: dict[str, Any]) -> bool:
        return m["a"] > m["b"]

    def target(self, m: dict[str, Any]) -> str:
        return str(m["a"] - m["b"])

    def task(self, m: dict[str, Any]) -> str:
        return f"subtract {m['b']} from {m['a']}"

    def work(self, pad: Pad, m: dict[str, Any], slip: bool, rng: random.Random) -> str:
        at = rng.randrange(len(str(m["a"]))) if slip else None
        return str(scratch.sub_columns(m["a"], m["b"], pad, slip_at=at, rng=rng))

    def verify(self, pad: Pad, m: dict[str, Any], answer: str, slip: bool, rng: random.Random) -> bool:
        pieces, total = scratch.add_inline(int(answer), m["b"], slip=slip, rng=rng)
        pad.say("Add back: ", *pieces)
        line, same = self.compare(str(total), str(m["a"]))
        pad.say(line)
        return same

    def medium(self, pad: Pad, m: dict[str, Any]) -> None:
        width = len(str(m["a"]))
        pad.say(f"Ones first: {ones_first(m['a'], width)} minus {ones_first(m['b'], width)}, with borrows.")


class Mul(_Arithmetic):
    name, sign = "mul", "*"

    def draw(self, rng: random.Random, split: str) -> dict[str, Any]:
        roll = rng.random()
        if roll < 0.35:
            return {"a": rng.randint(10, 99), "b": rng.randint(2, 9)}
        if roll < 0.55:
            return {"a": rng.randint(100, 999), "b": rng.randint(2, 9)}
        return {"a": rng.randint(10, 99), "b": rng.randint(10, 99)}

    def valid(self, m: dict[str, Any]) -> bool:
        return m["b"] >= 2 and m["a"] >= 2 and m["b"] < 100 and (m["b"] < 10 or m["a"] < 100)

    def target(self, m: dict[str, Any]) -> str:
        return str(m["a"] * m["b"])

    def task(self, m: dict[str, Any]) -> str:
        return f"multiply {m['a']} by {m['b']}"

    def work(self, pad: Pad, m: dict[str, Any], slip: bool, rng: random.Random) -> str:
        return str(scratch.multiply(m["a"], m["b"], pad, slip=slip, rng=rng))

    def verify(self, pad: Pad, m: dict[str, Any], answer: str, slip: bool, rng: random.Random) -> bool:
        a, b = m["a"], m["b"]
        if b < 10 and a < 100:  # the other order: 6*47 as 6*40 + 6*7
            tens, ones = divmod(a, 10)
            at = rng.choice(("t", "o", "s")) if slip else None
            p_ones = b * ones + (_bump(rng) if at == "o" else 0)
            p_tens = b * tens * 10 + (10 * _bump(rng) if at == "t" else 0)
            pad.say(
                f"Other order: {b}*{ones}=",
                *_maybe(p_ones, at == "o"),
                f", {b}*{tens * 10}=",
                *_maybe(p_tens, at == "t"),
                ".",
            )
            pieces, total = scratch.add_inline(p_ones, p_tens, slip=at == "s", rng=rng)
            pad.say("Add ", *pieces)
        else:  # the other order, by the digits of a (a 2-digit a), or a by b's tens and ones again (3-digit a)
            x, y = (b, a) if a < 100 else (a, b)
            sub = Pad()
            total = scratch.multiply(x, y, sub, slip=slip, rng=rng)
            pad.say("Other order:" if a < 100 else "Again:")
            pad.extend(sub)
        line, same = self.compare(str(total), answer)
        pad.say(line)
        return same

    def medium(self, pad: Pad, m: dict[str, Any]) -> None:
        a, b = m["a"], m["b"]
        if b < 10:
            pad.say(f"{a}*{b}: digit by digit, ones first.")
            return
        tens, ones = divmod(b, 10)
        low, high = a * ones, a * tens * 10
        pad.say(f"{a}*{b} = {a}*{ones} + {a}*{tens * 10} = {low} + {high}.")


def _bump(rng: random.Random) -> int:
    return rng.choice((-1, 1))


def _maybe(value: int, slipped: bool) -> tuple[Any, ...]:
    return ((str(value),),) if slipped else (str(value),)
