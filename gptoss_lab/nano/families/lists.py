"""Comparing decimals and sorting lists: padded digits compared one by one, selection with a recount."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal
from typing import Any

from .. import scratch
from ..scratch import Pad
from .base import Family, held_out_hash


def _decimal(rng: random.Random, whole: int) -> str:
    places = rng.randint(1, 3)
    frac = rng.randint(1, 10**places - 1)
    while frac % 10 == 0:  # no trailing zeros: 9.9, never 9.90
        frac = rng.randint(1, 10**places - 1)
    return f"{whole}.{frac:0{places}d}"


def _padded(a: str, b: str) -> tuple[str, str, int]:
    (_, fa), (_, fb) = a.split("."), b.split(".")
    places = max(len(fa), len(fb))
    return fa.ljust(places, "0"), fb.ljust(places, "0"), places


_SCALES = {1: "tenths", 2: "hundredths", 3: "thousandths"}


class CompareDecimals(Family):
    name, kind = "compare_decimals", "number"

    def draw(self, rng: random.Random, split: str) -> dict[str, Any]:
        whole = rng.randint(0, 20)
        a = _decimal(rng, whole)
        b = _decimal(rng, whole if rng.random() < 0.7 else rng.randint(0, 20))
        while Decimal(a) == Decimal(b):
            b = _decimal(rng, whole)
        return {"a": a, "b": b, "ask": "max" if rng.random() < 0.65 else "min"}

    def held_out(self, m: dict[str, Any]) -> bool:
        return held_out_hash([int(m["a"].replace(".", "")), int(m["b"].replace(".", ""))])

    def _word(self, m: dict[str, Any]) -> str:
        return "bigger" if m["ask"] == "max" else "smaller"

    def target(self, m: dict[str, Any]) -> str:
        pick = max if m["ask"] == "max" else min
        return pick(m["a"], m["b"], key=Decimal)

    def task(self, m: dict[str, Any]) -> str:
        return f"pick the {self._word(m)} of {m['a']} and {m['b']}"

    def values(self, m: dict[str, Any]) -> str:
        return f"{m['a']} and {m['b']}"

    def miscopied(self, m: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
        key = rng.choice("ab")
        whole, frac = m[key].split(".")
        wrong = (
            f"{whole}.{scratch.miscopy(rng, frac)}" if rng.random() < 0.7 else f"{scratch.miscopy(rng, whole)}.{frac}"
        )
        other = m["b" if key == "a" else "a"]
        ok = not wrong.endswith("0") and wrong.split(".")[1] and Decimal(wrong) != Decimal(other)
        return {**m, key: wrong} if ok else None

    def work(self, pad: Pad, m: dict[str, Any], slip: bool, rng: random.Random) -> str:
        a, b, word = m["a"], m["b"], self._word(m)
        wa, wb = a.split(".")[0], b.split(".")[0]
        bigger_first = Decimal(a) > Decimal(b)
        if wa != wb:
            big, small = max(wa, wb, key=int), min(wa, wb, key=int)
            pad.say(f"Whole parts: {wa} and {wb}, ", (small,) if slip else big, " is bigger.")
            bigger_first = (int(wa) > int(wb)) != slip
        else:
            pa, pb, places = _padded(a, b)
            pad.say(f"Whole parts: {wa} and {wb}, equal.")
            pad.say(f"Pad to {places} place{'s' if places > 1 else ''}: {pa} and {pb}.")
            i = next(i for i in range(places) if pa[i] != pb[i])
            line = "".join(f"digit {j + 1}: {pa[j]} vs {pb[j]}, same; " for j in range(i))
            line += f"digit {i + 1}: {pa[i]} vs {pb[i]}, "
            big, small = max(pa[i], pb[i]), min(pa[i], pb[i])
            pad.say(line[0].upper() + line[1:], (small,) if slip else big, " is bigger.")
            bigger_first = (pa[i] > pb[i]) != slip
        big_n, small_n = (a, b) if bigger_first else (b, a)
        pick = big_n if word == "bigger" else small_n
        pad.say(f"So {pick} is {word}.")
        return pick

    def verify(self, pad: Pad, m: dict[str, Any], answer: str, slip: bool, rng: random.Random) -> bool:
        a, b, word = m["a"], m["b"], self._word(m)
        pa, pb, places = _padded(a, b)
        ia, ib = int(a.split(".")[0] + pa), int(b.split(".")[0] + pb)
        first_bigger = (ia > ib) != slip
        big_i = ia if first_bigger else ib
        pick = (a if first_bigger else b) if word == "bigger" else (b if first_bigger else a)
        shown = ((str(big_i),),) if slip else (str(big_i),)
        pad.say(f"In {_SCALES[places]}: {ia} and {ib}, ", *shown, f" is bigger, so {pick} is {word}.")
        line, same = self.compare(pick, answer)
        pad.say(line)
        return same

    def medium(self, pad: Pad, m: dict[str, Any]) -> None:
        pa, pb, places = _padded(m["a"], m["b"])
        wa, wb = m["a"].split(".")[0], m["b"].split(".")[0]
        pad.say(f"Padded to {places} place{'s' if places > 1 else ''}: {wa}.{pa} and {wb}.{pb}.")

    def sentence(self, m: dict[str, Any]) -> str:
        return f"{self.target(m)} is {self._word(m)}."


class Sort(Family):
    name, kind = "sort", "list"

    def draw(self, rng: random.Random, split: str) -> dict[str, Any]:
        top = rng.choice((99, 999, 999))
        nums = [rng.randint(0, top) for _ in range(rng.randint(3, 7))]
        if rng.random() < 0.3:
            nums[rng.randrange(len(nums))] = rng.choice(nums)  # a repeat
        return {"nums": nums, "order": "desc" if rng.random() < 0.3 else "asc"}

    def held_out(self, m: dict[str, Any]) -> bool:
        return held_out_hash(m["nums"])

    def target(self, m: dict[str, Any]) -> str:
        return ", ".join(map(str, sorted(m["nums"], reverse=m["order"] == "desc")))

    def task(self, m: dict[str, Any]) -> str:
        return f"sort {', '.join(map(str, m['nums']))} in {'descending' if m['order'] == 'desc' else 'ascending'} order"

    def values(self, m: dict[str, Any]) -> str:
        return ", ".join(map(str, m["nums"]))

    def miscopied(self, m: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
        nums = list(m["nums"])
        i = rng.randrange(len(nums))
        if len(nums) > 3 and rng.random() < 0.3:
            del nums[i]
        else:
            nums[i] = int(scratch.miscopy(rng, str(nums[i])))
        return {**m, "nums": nums}

    def work(self, pad: Pad, m: dict[str, Any], slip: bool, rng: random.Random) -> str:
        desc = m["order"] == "desc"
        word = "Largest" if desc else "Smallest"
        left, out = list(m["nums"]), []
        at = rng.randrange(len(left) - 1) if slip else None
        for step in range(len(m["nums"]) - 1):
            best = max(left) if desc else min(left)
            others = [x for x in left if x != best]
            listed = f"Left: {', '.join(map(str, left))}. {word}: "
            if step == at and others:
                best = rng.choice(others)
                pad.say(listed, (str(best),), ".")
            else:
                pad.say(f"{listed}{best}.")
            left.remove(best)
            out.append(best)
        pad.say(f"Last: {left[0]}.")
        out.append(left[0])
        listed = ", ".join(map(str, out))
        pad.say(f"So: {listed}.")
        return listed

    def verify(self, pad: Pad, m: dict[str, Any], answer: str, slip: bool, rng: random.Random) -> bool:
        out = [int(x) for x in answer.split(", ")]
        rel = ">=" if m["order"] == "desc" else "<="
        oks = [(x >= y) if rel == ">=" else (x <= y) for x, y in itertools.pairwise(out)]
        at = rng.randrange(len(oks)) if slip else None
        pieces: list[Any] = ["In order: "]
        for j, (x, y) in enumerate(itertools.pairwise(out)):
            ok = oks[j] != (j == at)
            oks[j] = ok
            verdict = "yes" if ok else "no"
            pieces += [
                f"{x} {rel} {y} ",
                (verdict,) if j == at else verdict,
                ", " if j < len(oks) - 1 else ".",
            ]
        pad.say(*pieces)
        n_in, n_out = len(m["nums"]), len(out)
        good = all(oks) and n_in == n_out
        verdict = "same. Correct." if good else "differ."
        pad.say(f"Count: {n_in} in, {n_out} out. In order: {'yes' if all(oks) else 'no'}, so {verdict}")
        return good

    def medium(self, pad: Pad, m: dict[str, Any]) -> None:
        word = "Largest" if m["order"] == "desc" else "Smallest"
        pad.say(f"{word} first: {', then '.join(self.target(m).split(', '))}.")

    def sentence(self, m: dict[str, Any]) -> str:
        return f"In {'descending' if m['order'] == 'desc' else 'ascending'} order: {self.target(m)}."


class SortInOneLine(Sort):
    """Layout 9: the sorted list written in one line, as medium effort writes it, then the same check.

    Selection (layout 4) copied what was left of the list on every line and each copy could drop or double a
    number: 30% right at high effort, below low effort's one-line guess (48%). A work slip here swaps two
    neighbours that differ, so that the check's ``In order`` line meets a real ``no``.
    """

    def work(self, pad: Pad, m: dict[str, Any], slip: bool, rng: random.Random) -> str:
        desc = m["order"] == "desc"
        out = sorted(m["nums"], reverse=desc)
        shown: list[Any] = [str(x) for x in out]
        steps = [i for i in range(len(out) - 1) if out[i] != out[i + 1]]
        if slip and steps:
            i = rng.choice(steps)
            out[i], out[i + 1] = out[i + 1], out[i]
            shown[i], shown[i + 1] = (str(out[i]),), (str(out[i + 1]),)
        pieces: list[Any] = [f"{'Largest' if desc else 'Smallest'} first: "]
        for j, piece in enumerate(shown):
            pieces += [piece, ", then " if j < len(shown) - 1 else "."]
        pad.say(*pieces)
        return ", ".join(map(str, out))
