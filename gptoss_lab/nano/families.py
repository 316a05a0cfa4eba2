"""gpt-oss-nano's task families: one :class:`Family` object each, in :data:`REGISTRY`.

A family draws a problem's values, says what its answer is, restates it as a task line, and
writes the reasoning at each effort (:mod:`.scratch` holds the shared scratchpad pieces). Its
question wording lives in :mod:`.frames`. Adding a family is one class here and one grammar
there.
"""

from __future__ import annotations

import itertools
import random
from decimal import Decimal
from typing import Any, ClassVar

from . import scratch
from .scratch import Pad, compare_line, ones_first

__all__ = ["EVAL_WORDS", "REGISTRY", "TRAIN_WORDS", "Family", "held_out_hash", "made_up_word"]


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

_CONSONANTS, _VOWELS = "bcdfghjklmnprstvwz", "aeiouy"


def made_up_word(rng: random.Random, lo: int = 3, hi: int = 10) -> str:
    """A pronounceable letter string that is no eval word (``"tobrelan"``).

    Half of the training words are made up: with only a list of real words, a small model learns
    each word's letters by heart; made-up words, which the tokenizer spells one letter per token,
    make it read letter by letter, which carries over to new words.
    """
    while True:
        n = rng.randint(lo, hi)
        word = "".join(rng.choice(_VOWELS if (i % 2 == 1) != (rng.random() < 0.25) else _CONSONANTS) for i in range(n))
        if word not in EVAL_WORDS:
            return word


def held_out_hash(values: list[int]) -> bool:
    """The eval-only rule for numbers: a hash of the sorted values is 0 mod 5 (about 1 in 5)."""
    h = 0
    for v in sorted(values):
        h = (h * 31 + v) % 1_000_003
    return h % 5 == 0


def _number(rng: random.Random, lo_digits: int, hi_digits: int) -> int:
    d = rng.randint(lo_digits, hi_digits)
    return rng.randint(10 ** (d - 1) if d > 1 else 0, 10**d - 1)


def _word(rng: random.Random, split: str) -> str:
    if split == "eval":
        return rng.choice(EVAL_WORDS)
    return made_up_word(rng) if rng.random() < 0.5 else rng.choice(TRAIN_WORDS)


class Family:
    """One task family. Subclasses fill in the values, the task line and the steps."""

    name: ClassVar[str]
    kind: ClassVar[str]  # what a bare answer is: number | list | word | answer

    def draw(self, rng: random.Random, split: str) -> dict[str, Any]:
        raise NotImplementedError

    def held_out(self, m: dict[str, Any]) -> bool:
        raise NotImplementedError

    def target(self, m: dict[str, Any]) -> str:
        raise NotImplementedError

    def task(self, m: dict[str, Any]) -> str:
        """The restated task, without ``Task: `` (``add 3475 and 5143``)."""
        raise NotImplementedError

    def values(self, m: dict[str, Any]) -> str:
        """The values the check copies from the question again (``3475 and 5143``)."""
        raise NotImplementedError

    def miscopied(self, m: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
        """``m`` with one value miscopied, as a slip in the task line; None when no valid one exists."""
        return None

    def work(self, pad: Pad, m: dict[str, Any], slip: bool, rng: random.Random) -> str:
        """The high-effort steps; returns the answer they reach (wrong when ``slip`` made them slip)."""
        raise NotImplementedError

    def verify(self, pad: Pad, m: dict[str, Any], answer: str, slip: bool, rng: random.Random) -> bool:
        """The check's independent recomputation, ending in a comparison line; whether it agrees."""
        raise NotImplementedError

    def medium(self, pad: Pad, m: dict[str, Any]) -> None:
        raise NotImplementedError

    def sentence(self, m: dict[str, Any]) -> str:
        raise NotImplementedError

    # --------------------------------------------------------------- shared by every family

    def bare(self, m: dict[str, Any]) -> str:
        return self.target(m)

    def reason(self, m: dict[str, Any], effort: str, slip: str | None, rng: random.Random) -> Pad:
        pad = Pad()
        if effort != "high":
            pad.say(f"Task: {self.task(m)}.")
            if effort == "medium":
                self.medium(pad, m)
            pad.say(f"Answer: {self.target(m)}.")
            return pad
        copied = self.miscopied(m, rng) if slip == "copy" else None
        if copied is not None:
            pad.say("Task: ", (self.task(copied),), ".")
        else:
            pad.say(f"Task: {self.task(m)}.")
        first = self.work(pad, copied or m, slip == "work", rng)
        pad.say(f"Answer: {first}.")
        question, line = self.values(m), self.values(copied or m)
        same = question == line
        pad.say(f"Check: the question says {question}, the task says {line}: {'same' if same else 'differ'}.")
        if same and self.verify(pad, m, first, slip == "check", rng):
            return pad
        pad.say(f"Redo: {self.task(m)}.")
        pad.say(f"Answer: {self.work(pad, m, False, rng)}.")
        return pad


# ----------------------------------------------------------------------------- arithmetic


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
        line, same = compare_line(str(total), answer)
        pad.say(line)
        return same

    def medium(self, pad: Pad, m: dict[str, Any]) -> None:
        pieces, _ = scratch.add_inline(m["a"], m["b"])
        pad.say(*pieces)


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
        line, same = compare_line(str(total), str(m["a"]))
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
        line, same = compare_line(str(total), answer)
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


# ----------------------------------------------------------------------------- letters


class CountLetter(Family):
    name, kind = "count_letter", "number"

    def draw(self, rng: random.Random, split: str) -> dict[str, Any]:
        word = _word(rng, split)
        absent = [c for c in "abcdefghijklmnopqrstuvwxyz" if c not in word]
        return {"word": word, "letter": rng.choice(absent) if rng.random() < 0.12 else rng.choice(word)}

    def held_out(self, m: dict[str, Any]) -> bool:
        return m["word"] in EVAL_WORDS

    def target(self, m: dict[str, Any]) -> str:
        return str(m["word"].count(m["letter"]))

    def task(self, m: dict[str, Any]) -> str:
        return f"count the letter {m['letter']} in {m['word']}"

    def values(self, m: dict[str, Any]) -> str:
        return f"{m['letter']} in {m['word']}"

    def miscopied(self, m: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
        return {**m, "word": scratch.miscopy(rng, m["word"])}

    def work(self, pad: Pad, m: dict[str, Any], slip: bool, rng: random.Random) -> str:
        word, letter = m["word"], m["letter"]
        at = rng.randrange(len(word)) if slip else None
        seen, pieces = 0, ["Letters: "]
        for i, ch in enumerate(word):
            sep = ", " if i < len(word) - 1 else "."
            hit = ch == letter
            if i == at:  # a slip: a letter miscounted (a miss, or a false hit)
                seen += 0 if hit else 1
                pieces += [f"{i + 1} {ch}", (sep,) if hit else (f" yes {seen}",)]
                pieces += [] if hit else [sep]
                continue
            seen += hit
            pieces.append(f"{i + 1} {ch} yes {seen}{sep}" if hit else f"{i + 1} {ch}{sep}")
        pad.say(*pieces)
        return str(seen)

    def verify(self, pad: Pad, m: dict[str, Any], answer: str, slip: bool, rng: random.Random) -> bool:
        word, letter = m["word"], m["letter"]
        places = [i + 1 for i, ch in enumerate(word) if ch == letter]
        count = len(places)
        if slip:
            extra = [i + 1 for i in range(len(word)) if i + 1 not in places]
            if places and (not extra or rng.random() < 0.5):
                places = [p for p in places if p != rng.choice(places)]
            else:
                places = sorted([*places, rng.choice(extra)])
            count = len(places)
            pad.say(f"The {letter}'s are at: ", (", ".join(map(str, places)) or "none",), f", that is {count}.")
        else:
            pad.say(f"The {letter}'s are at: {', '.join(map(str, places)) or 'none'}, that is {count}.")
        line, same = compare_line(str(count), answer)
        pad.say(line)
        return same

    def medium(self, pad: Pad, m: dict[str, Any]) -> None:
        word, letter = m["word"], m["letter"]
        n = word.count(letter)
        found = ", ".join([letter] * n) if n else "none"
        pad.say(f"Spelled: {' '.join(word)}. The {letter}'s: {found}, that is {n}.")

    def sentence(self, m: dict[str, Any]) -> str:
        n = int(self.target(m))
        return f"There {'is' if n == 1 else 'are'} {n} {m['letter']}{'' if n == 1 else chr(39) + 's'} in {m['word']}."


class Reverse(Family):
    name, kind = "reverse", "word"

    def draw(self, rng: random.Random, split: str) -> dict[str, Any]:
        return {"word": _word(rng, split)}

    def held_out(self, m: dict[str, Any]) -> bool:
        return m["word"] in EVAL_WORDS

    def target(self, m: dict[str, Any]) -> str:
        return m["word"][::-1]

    def task(self, m: dict[str, Any]) -> str:
        return f"reverse the word {m['word']}"

    def values(self, m: dict[str, Any]) -> str:
        return m["word"]

    def miscopied(self, m: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
        return {**m, "word": scratch.miscopy(rng, m["word"])}

    def work(self, pad: Pad, m: dict[str, Any], slip: bool, rng: random.Random) -> str:
        word = m["word"]
        n = len(word)
        pad.say("Letters: " + ", ".join(f"{i + 1} {ch}" for i, ch in enumerate(word)) + ".")
        at = rng.randrange(n) if slip else None
        back = list(word[::-1])
        pieces: list[Any] = ["Backwards: "]
        for j, ch in enumerate(back):
            sep = ", " if j < n - 1 else "."
            if j == at:
                back[j] = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c != ch])
                pieces += [f"{n - j} ", (back[j],), sep]
            else:
                pieces.append(f"{n - j} {ch}{sep}")
        pad.say(*pieces)
        joined = "".join(back)
        pad.say(f"Joined: {joined}.")
        return joined

    def verify(self, pad: Pad, m: dict[str, Any], answer: str, slip: bool, rng: random.Random) -> bool:
        back = list(answer[::-1])
        pieces: list[Any] = [f"{answer} read backwards: "]
        at = rng.randrange(len(back)) if slip else None
        for j, ch in enumerate(back):
            if j == at:
                back[j] = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c != ch])
                pieces.append((back[j],))
            else:
                pieces.append(ch)
            pieces.append(" " if j < len(back) - 1 else "")
        word = "".join(back)
        pad.say(*pieces, f", that is {word}.")
        line, same = compare_line(word, m["word"])
        pad.say(line)
        return same

    def medium(self, pad: Pad, m: dict[str, Any]) -> None:
        word = m["word"]
        pad.say(f"{'-'.join(word)} backwards is {'-'.join(word[::-1])}.")

    def sentence(self, m: dict[str, Any]) -> str:
        return f"{m['word']} backwards is {self.target(m)}."


# ----------------------------------------------------------------------------- decimals and lists


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
        line, same = compare_line(pick, answer)
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
            pieces += [f"{x} {rel} {y} ", (verdict,) if j == at else verdict, ", " if j < len(oks) - 1 else "."]
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


# ----------------------------------------------------------------------------- stories

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
                from .stories import cast  # who and what the story is about: kept across its wordings

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
        cur = m["values"][0]
        at = rng.randrange(len(m["ops"])) if slip else None
        for j, (op, x) in enumerate(zip(m["ops"], m["values"][1:], strict=True)):
            new = _apply(cur, op, x)
            assert new is not None
            rest = list(zip(m["ops"][j + 1 :], m["values"][j + 2 :], strict=True))
            wrong = [v for v in (new - 1, new + 1) if v >= 0 and self._whole_from(v, rest)] if j == at else []
            if wrong:  # a slip the later steps can still carry (never below zero, never a fraction)
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
        line, same = compare_line(str(cur), str(m["values"][0]))
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


REGISTRY: dict[str, Family] = {
    f.name: f
    for f in (Add(), Sub(), Mul(), CountLetter(), CompareDecimals(), Sort(), Reverse(), WordProblem(), OffTask())
}
