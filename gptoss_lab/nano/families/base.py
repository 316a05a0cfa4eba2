"""What every task family shares: the word lists, the held-out rule for numbers, and :class:`Family`."""

from __future__ import annotations

import random
from typing import Any, ClassVar

from ..scratch import Pad, compare_digits, compare_line


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
    digitwise: bool = False  # the check compares a character at a time (layout 3), not whole values

    def compare(self, mine: str, other: str) -> tuple[str, bool]:
        """The check's comparison line and whether the two agree (:func:`..scratch.compare_digits` in layout 3)."""
        return compare_digits(mine, other) if self.digitwise else compare_line(mine, other)

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
