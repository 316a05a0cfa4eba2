"""gpt-oss-nano's task families: one :class:`Family` object each, in :data:`REGISTRY`.

A family draws a problem's values, says what its answer is, restates it as a task line, and
writes the reasoning at each effort (:mod:`..scratch` holds the shared scratchpad pieces). Its
question wording lives in :mod:`..frames`. Adding a family is one class here and one grammar
there.
"""

import copy

from .arithmetic import Add, AddTakeBack, Mul, Sub
from .base import EVAL_WORDS, TRAIN_WORDS, Family, held_out_hash, made_up_word
from .letters import CountByMatch, CountLetter, Reverse
from .lists import CompareDecimals, Sort, SortInOneLine
from .story import IDENTITY_REPLY, OffTask, WordProblem, WordProblemInColumns, WordProblemTakeAway

__all__ = [
    "DIGITWISE",
    "EVAL_WORDS",
    "IDENTITY_REPLY",
    "LAYOUT",
    "LAYOUTS",
    "REGISTRY",
    "TRAIN_WORDS",
    "Family",
    "held_out_hash",
    "made_up_word",
]

REGISTRY: dict[str, Family] = {
    f.name: f
    for f in (Add(), Sub(), Mul(), CountLetter(), CompareDecimals(), Sort(), Reverse(), WordProblem(), OffTask())
}


#: Scratchpad layouts: the families whose high-effort steps a layout rewrites. Layout 1 trained the
#: shipped checkpoint's first four stages; layout 2 (its fifth) matches letters one by one
#: (:class:`CountByMatch`); layout 3 (its sixth) is layout 2 with the whole-number checks (:data:`DIGITWISE`) comparing
#: their two numbers a digit at a time (:func:`..scratch.compare_digits`). A training recipe
#: names its own (``Recipe.layout``); :data:`LAYOUT` is the shipped checkpoint's (its ninth stage's), which
#: :data:`REGISTRY` and every default here follow.
LAYOUTS: dict[int, dict[str, Family]] = {
    1: dict(REGISTRY),
    2: {**REGISTRY, "count_letter": CountByMatch()},
}


def _digitwise(family: Family) -> Family:
    out = copy.copy(family)
    out.digitwise = True
    return out


#: The families whose check compares two whole numbers. Words and decimals keep the whole-value verdict:
#: spelled out a letter at a time, a reversed word's check lost its place (a pilot run: reverse 80% -> 8%).
DIGITWISE = ("add", "sub", "mul", "count_letter", "word_problem")
LAYOUTS[3] = {name: _digitwise(f) if name in DIGITWISE else f for name, f in LAYOUTS[2].items()}
#: Layout 4: layout 3 with addition checked by taking the second number back off the sum
#: (:class:`AddTakeBack`) and word problems worked a step at a time in columns (:class:`WordProblemInColumns`).
LAYOUTS[4] = {
    **LAYOUTS[3],
    "add": _digitwise(AddTakeBack()),
    "word_problem": _digitwise(WordProblemInColumns()),
}
#: Layouts 5, 6 and 7 were pilots on stage 8 that sorted worse than layout 4 and are gone (their code: commits
#: 2506837, ffd4601 and 4343757; the model card's "How it got here" has their numbers). Layout 8: layout 4 with a
#: story's shares worked by taking the divisor away until none is left (:class:`WordProblemTakeAway`).
LAYOUTS[8] = {**LAYOUTS[4], "word_problem": _digitwise(WordProblemTakeAway())}
#: Layout 9 (a pilot, not shipped: the model card has its numbers): layout 8 with a list sorted in one line and
#: then checked (:class:`SortInOneLine`).
LAYOUTS[9] = {**LAYOUTS[8], "sort": SortInOneLine()}
LAYOUT = 8
REGISTRY = LAYOUTS[LAYOUT]
