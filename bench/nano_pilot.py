"""Pilot for the next nano recipe: train on the spelling families only, then score train vs held-out words.

    python bench/nano_pilot.py OUT_DIR [STEPS]     # from the checkout whose recipe you want to try

Runs the current checkout's recipe on ``reverse`` and ``count_letter`` alone (so a few hundred steps give
those families about the exposure a full run gives them), then prints teacher-forced scores on
training and held-out examples and greedy held-out accuracy. Compare two checkouts' recipes by running
it in each.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's recipe, not an installed one

from gptoss_lab.model import ModelHandle
from gptoss_lab.nano import tasks
from gptoss_lab.nano import train as T
from gptoss_lab.nano.eval import evaluate, teacher_forced

FAMILIES = ("reverse", "count_letter")


def main() -> None:
    out, steps = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 800
    tasks.ALL_FAMILIES = FAMILIES  # train.batches and build_tokenizer read it when called
    T.tasks.ALL_FAMILIES = FAMILIES
    T.train(out, T.Recipe(steps=steps, warmup=50, tokenizer_examples=1500))
    loaded = ModelHandle(str(out)).load()
    for split in ("train", "eval"):
        for s in teacher_forced(loaded, split=split, effort="high", n=24, families=FAMILIES):
            print(f"teacher-forced {split:5s} {s.family:13s} tokens {s.token_accuracy:.3f}  exact {s.exact:.0%}")
    for s in evaluate(loaded, effort="high", n=24, families=FAMILIES):
        print(f"greedy held-out {s.family:13s} accuracy {s.accuracy:.0%}  format {s.format_valid:.0%}")


if __name__ == "__main__":
    main()
