"""Counting a letter and spelling a word backwards: letters numbered, then recounted or read back."""

from __future__ import annotations

import random
from typing import Any

from .. import scratch
from ..scratch import Pad
from .base import EVAL_WORDS, Family, _word


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
        line, same = self.compare(str(count), answer)
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


class CountByMatch(CountLetter):
    """Layout 2: the letters spelled out, then each one, by its number, beside the letter sought.

    Layout 1 marked a hit only after the letters (``6 a yes 1``), which asked the model to compare
    each letter with one written far above; it missed hits (the eval's ``e in bee`` counted 1). Here
    every letter gets a verdict with both sides of the comparison the same kind of token, side by
    side (``Each: 1 e = a no, ...``), and each keeps its number, the index hint that lets the copy
    follow the letters line: a first try without the numbers lost its place in the word.
    """

    def work(self, pad: Pad, m: dict[str, Any], slip: bool, rng: random.Random) -> str:
        word, letter = m["word"], m["letter"]
        pad.say("Letters: " + ", ".join(f"{i + 1} {ch}" for i, ch in enumerate(word)) + ".")
        at = rng.randrange(len(word)) if slip else None
        seen, pieces = 0, ["Each: "]
        for i, ch in enumerate(word):
            sep = ", " if i < len(word) - 1 else "."
            hit = (ch == letter) != (i == at)  # a slip: a miss, or a false hit
            seen += hit
            verdict = f"yes {seen}" if hit else "no"
            pieces += [f"{i + 1} {ch} = {letter} ", (verdict,) if i == at else verdict, sep]
        pad.say(*pieces)
        return str(seen)


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
        line, same = self.compare(word, m["word"])
        pad.say(line)
        return same

    def medium(self, pad: Pad, m: dict[str, Any]) -> None:
        word = m["word"]
        pad.say(f"{'-'.join(word)} backwards is {'-'.join(word[::-1])}.")

    def sentence(self, m: dict[str, Any]) -> str:
        return f"{m['word']} backwards is {self.target(m)}."
