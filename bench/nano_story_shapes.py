"""nano's word problems at high effort, split by the story's shape (plain, groups, share, more).

    python bench/nano_story_shapes.py MODEL_DIR [N] [SHOW]     # e.g. nano 40 2

Answers the same held-out stories as ``gptoss-lab eval --n N`` (seed 1234, batched greedy, high effort, graded by
``tasks.grade``) and counts them by ``Example.meta["shape"]``: which kind of story a checkpoint cannot do, where
the eval's one word-problem row cannot say. With SHOW > 0 it prints that many wrong replies of each shape, the
question and the reasoning, so the reader sees how it went wrong. ``nano`` names the bundled checkpoint.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code

from gptoss_lab.harmony import parse_completion
from gptoss_lab.model import ModelHandle
from gptoss_lab.nano import eval as E
from gptoss_lab.nano import tasks

SHAPES = ("plain", "groups", "share", "more")


def main() -> None:
    model = sys.argv[1] if len(sys.argv) > 1 else "nano"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    show = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    loaded = ModelHandle(model).load()
    # the eval's own draw over every family, its stories kept: drawn alone, the stories would be other ones
    drawn = tasks.generate(n * len(tasks.FAMILIES), seed=1234, split="eval", efforts=("high",))
    stories = [ex for ex in drawn if ex.family == "word_problem"]
    conversations = E._answer(loaded, stories, effort="high", batch_size=n, max_new_tokens=None, progress=False)
    records = E.graded(loaded, conversations)
    total, right, shown = Counter(), Counter(), Counter()
    for c, g in zip(conversations, records, strict=True):
        shape = c.example.meta["shape"]
        total[shape] += 1
        right[shape] += g.right
        if not g.right and shown[shape] < show:
            shown[shape] += 1
            analysis = E._text(parse_completion(c.completion_ids, loaded.codec), "analysis")
            print(f"--- {shape} (target {c.example.target})\n{c.example.messages[-1]['content']}\n{analysis}\n")
    print(f"{'shape':8s} {'right':>6s} {'of':>4s}   (word problems, high effort, {model})")
    for shape in SHAPES:
        print(f"{shape:8s} {right[shape]:6d} {total[shape]:4d}")
    print(f"{'all':8s} {sum(right.values()):6d} {sum(total.values()):4d}")


if __name__ == "__main__":
    main()
