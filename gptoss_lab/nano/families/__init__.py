"""gpt-oss-nano's task families: one :class:`Family` object each, in :data:`REGISTRY`.

A family draws a problem's values, says what its answer is, restates it as a task line, and
writes the reasoning at each effort (:mod:`..scratch` holds the shared scratchpad pieces). Its
question wording lives in :mod:`..frames`. Adding a family is one class here and one grammar
there.
"""

from .arithmetic import Add, Mul, Sub
from .base import EVAL_WORDS, TRAIN_WORDS, Family, held_out_hash, made_up_word
from .letters import CountLetter, Reverse
from .lists import CompareDecimals, Sort
from .story import IDENTITY_REPLY, OffTask, WordProblem

__all__ = ["EVAL_WORDS", "IDENTITY_REPLY", "REGISTRY", "TRAIN_WORDS", "Family", "held_out_hash", "made_up_word"]

REGISTRY: dict[str, Family] = {
    f.name: f
    for f in (Add(), Sub(), Mul(), CountLetter(), CompareDecimals(), Sort(), Reverse(), WordProblem(), OffTask())
}
