"""Word problems composed from parts (who, what, which verbs, which question), and off-task prompts.

A story's values and operations come from :class:`.families.WordProblem`; here they are told:
a start sentence for the story's shape, one sentence per further step (a verb phrase that adds or
takes away), and a question, or the whole one-step story as one "If ..., how many ...?"
sentence. Names and objects of the eval are never used in training; every verb is, in other
combinations (a fifth of the composed frames are held out by :func:`.frames.held_out`).
"""

from __future__ import annotations

import random
from typing import Any

from .families import made_up_word
from .frames import _pick, held_out

__all__ = ["cast", "off_task", "story"]

# fmt: off
_NAMES = {
    "train": ("Tom", "Ana", "Sam", "Mia", "Leo", "Zoe", "Ben", "Eva", "Max", "Ivy", "Omar", "Lena", "Raj", "Kim",
              "Noah", "Sara", "Luca", "Emma", "Yuki", "Ali"),
    "eval": ("Priya", "Mateo", "Chloe", "Dmitri", "Amara", "Kenji", "Fatima", "Oscar"),
}
_OBJECTS = {
    "train": ("apples", "coins", "marbles", "stickers", "books", "cards", "pencils", "cookies", "shells", "stamps",
              "balloons", "flowers", "eggs", "toys", "cups", "buttons", "rocks", "candies", "beads", "blocks"),
    "eval": ("oranges", "crayons", "tickets", "seeds", "cupcakes", "feathers", "paperclips", "lemons"),
}
_CONTAINERS = ("boxes", "bags", "packs", "baskets", "jars", "rows", "plates", "tins")
_PLACES = ("box", "basket", "jar", "garden", "classroom", "shop", "bag", "drawer")

_STARTS = (
    "{n} has {a} {o}.", "{n} had {a} {o}.", "There are {a} {o} in the {p}.", "{n} owns {a} {o}.",
    "At first, {n} has {a} {o}.", "{n} starts with {a} {o}.", "{n} collected {a} {o}.",
    "In the morning {n} had {a} {o}.", "{n} keeps {a} {o} in a {p}.",
)
# Verb phrases without their subject: "{n} " + phrase is a sentence, and so is the "If" form.
_ADD = ("buys {x} more", "gets {x} more {o}", "finds {x} more", "picks up {x} more {o}", "wins {x} more",
        "receives {x} more {o}", "is given {x} more", "adds {x} more {o}", "makes {x} more")
_SUB = ("gives {x} to {m}", "eats {x} of them", "loses {x}", "sells {x} {o}", "uses {x} {o}", "gives away {x}",
        "drops {x} of them", "spends {x}", "throws away {x}")
_ADD_OTHER = ("Then {x} more {o} arrive.", "{m} gives {n} {x} more {o}.", "{m} brings {x} more.")
_SUB_OTHER = ("{x} of them break.", "Then {x} {o} are taken away.", "{m} takes {x} of them.")
_QUESTIONS = ("How many {o} does {n} have now?", "How many {o} are there now?", "How many does {n} have in the end?",
              "What is the number of {o} now?", "How many {o} now?", "How many {o} are there at the end?")
_LEFT = ("How many {o} are left?", "How many are left?", "How many {o} remain?")
_GROUPS = ("{n} has {a} {c} with {b} {o} in each.", "There are {a} {c} of {b} {o}.", "{n} buys {a} {c} of {b} {o}.",
           "Each of {a} {c} holds {b} {o}.", "{n} makes {a} {c}, and each has {b} {o}.",
           "{n} fills {a} {c} with {b} {o} each.")
_GROUP_QUESTIONS = ("How many {o} are there in all?", "How many {o} is that?", "How many {o} does {n} have?",
                    "How many {o} in total?", "How many {o} altogether?")
_SHARES = (
    ("{n} shares {a} {o} equally among {b} friends.", "How many {o} does each friend get?"),
    ("{a} {o} are split evenly into {b} groups.", "How many {o} are in each group?"),
    ("{n} puts {a} {o} into {b} equal piles.", "How many are in each pile?"),
    ("{n} gives {a} {o} to {b} kids, the same number to each.", "How many {o} does each kid get?"),
    ("{n} packs {a} {o} into {b} {c} with the same number in each.", "How many {o} go in each?"),
)
_MORE = (
    ("{n} has {a} {o} and {m} has {b}.", "How many more {o} does {n} have than {m}?"),
    ("{n} has {a} {o}. {m} has {b} {o}.", "How many fewer {o} does {m} have?"),
    ("{n} scored {a} points and {m} scored {b}.", "By how many points did {n} win?"),
    ("{n} is {a} years old and {m} is {b}.", "How much older is {n}?"),
    ("{n} read {a} pages, {m} read {b}.", "How many more pages did {n} read?"),
)
_SHARE_QUESTIONS = ("How many {o} does each get?", "How many is that for each?", "How many {o} each?",
                    "What is each share?")
_DIFFERENCE_QUESTIONS = ("What is the difference?", "What is the difference between them?",
                         "By how much do they differ?")
# fmt: on


def cast(rng: random.Random, split: str) -> dict[str, str]:
    """Who and what a story is about: eval names and objects are never in training."""

    def name() -> str:
        if split == "train" and rng.random() < 0.3:
            return made_up_word(rng, 3, 7).capitalize()  # a name the tokenizer spells out
        return rng.choice(_NAMES[split])

    first = name()
    second = name()
    while second == first:
        second = name()
    return {"n": first, "m": second, "o": rng.choice(_OBJECTS[split]), "c": rng.choice(_CONTAINERS),
            "p": rng.choice(_PLACES)}  # fmt: skip


def _step(rng: random.Random, op: str, as_phrase: bool) -> str:
    """One further step of a story: a verb phrase (for "If") or a sentence."""
    phrases, others = (_ADD, _ADD_OTHER) if op == "+" else (_SUB, _SUB_OTHER)
    if as_phrase or rng.random() < 0.75:
        return rng.choice(phrases) if as_phrase else "{n} " + rng.choice(phrases) + "."
    return rng.choice(others)


def _template(rng: random.Random, m: dict[str, Any]) -> str:
    shape, ops = m["shape"], m["ops"]
    if shape in ("share", "more"):
        statement, question = rng.choice(_SHARES if shape == "share" else _MORE)
        generic = _SHARE_QUESTIONS if shape == "share" else _DIFFERENCE_QUESTIONS
        return f"{statement} {rng.choice((question, *generic))}"
    if shape == "plain" and len(ops) == 1 and rng.random() < 0.3:
        return f"If {{n}} has {{a}} {{o}} and {_step(rng, ops[0], True)}, how many {{o}} does {{n}} have?"
    first = rng.choice(_GROUPS) if shape == "groups" else rng.choice(_STARTS)
    rest = ops[1:] if shape == "groups" else ops
    steps = [_step(rng, op, False) for op in rest]
    if shape == "groups" and not rest:
        question = rng.choice(_GROUP_QUESTIONS)
    else:
        question = rng.choice(_LEFT + _QUESTIONS if ops[-1] == "-" else _QUESTIONS)
    return " ".join([first, *steps, question])


def story(rng: random.Random, m: dict[str, Any], split: str) -> str:
    """A word problem for ``m`` (a :class:`.families.WordProblem` draw) in a frame of ``split``."""
    people = m.get("cast") or cast(rng, split)
    values = m["values"]
    later = values[2:] if m["shape"] == "groups" else values[1:]
    for _ in range(2000):
        template = _template(rng, m)
        if held_out(template) == (split == "eval"):
            break
    else:  # pragma: no cover - a grammar change that leaves a shape without wordings for a split
        raise RuntimeError(f"no {split} wording for a {m['shape']} story with steps {m['ops']}")
    text = template.format(a=values[0], b=values[1] if len(values) > 1 else "", x="{x}", **people)
    for x in later:
        text = text.replace("{x}", str(x), 1)
    return text


# ----------------------------------------------------------------------------- off-task

# fmt: off
_GREETINGS = ("hello", "hi", "hey", "good morning", "good evening", "hi there", "howdy", "hello there", "hey you",
              "greetings", "how are you", "thanks", "thank you", "good night", "what's up")
_SELF = ("who are you?", "what is your name?", "what can you do?", "who made you?", "what are you?",
         "are you a robot?", "tell me about yourself", "what are you good at?", "are you smart?",
         "what model are you?")
_OTHER = ("write a poem about {t}", "tell me a joke about {t}", "what is the capital of {c}?",
          "translate 'cat' into French", "explain {t} to me", "what's the weather today?", "help me with my essay",
          "write a story about {t}", "what time is it?", "who won the game last night?", "recommend a movie",
          "what is the meaning of life?", "how do I cook rice?", "draw a picture of {t}", "what do you think of {t}?")
_TOPICS = ("dragons", "the sea", "cats", "space", "history", "quantum physics", "music", "football", "robots")
_COUNTRIES = ("France", "Japan", "Peru", "Kenya", "Canada", "Norway")
# fmt: on


def off_task(rng: random.Random, m: dict[str, Any], split: str) -> str:
    if m["kind"] == "greet":
        text = _pick(rng, _GREETINGS, split) + rng.choice(("", "!", ".", "!!"))
    elif m["kind"] == "self":
        text = _pick(rng, _SELF, split)
    elif rng.random() < 0.1:
        text = " ".join(made_up_word(rng, 2, 7) for _ in range(rng.randint(1, 4)))  # gibberish
    else:
        text = _pick(rng, _OTHER, split).format(t=rng.choice(_TOPICS), c=rng.choice(_COUNTRIES))
    return text[0].upper() + text[1:] if rng.random() < 0.6 else text
