"""The shipped checkpoint's recipe: training stages run one after another, each one resumable.

``python -m gptoss_lab.nano.train --out DIR --shipped`` trains stage 1 into ``DIR/stage1``, starts
stage 2 from it (``Recipe.init``: its weights, tokenizer and AdamW moments) in ``DIR/stage2``, and
so on; then it copies the last stage's checkpoint (without its resume state) into ``DIR``, with
every stage's recipe in ``gptoss_lab.json``. Run the same command again after an interruption: a
finished stage is skipped, a stage with a resume state continues where it stopped.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from gptoss_lab.nano.train import Recipe, train

__all__ = ["SHIPPED", "finished", "run_stages"]

_DEFAULT_ROPE = {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}

#: What the last stages share: 1000 steps on two threads, 40% drills (30% letter drills, half the rest comparisons).
_LATE: dict[str, Any] = dict(
    steps=1000, lr=4e-4, warmup=20, drill_share=0.4, compare_share=0.5, letter_share=0.3, threads=2
)

#: The stages of the shipped checkpoint: ``Recipe`` fields each; ``init`` is the stage before.
SHIPPED: tuple[dict[str, Any], ...] = (
    dict(model=_DEFAULT_ROPE),  # 2800 steps from scratch, lr 3e-3
    dict(steps=700, lr=6e-4, warmup=20, drill_share=0.25),  # digit-fact drills
    dict(steps=500, lr=4e-4, warmup=20, drill_share=0.4),  # more of them, a lower rate
    dict(steps=600, lr=4e-4, warmup=20, drill_share=0.4, compare_share=0.35, seed=7),  # the check's verdict too
    dict(  # counting by a verdict per letter (layout 2), those verdicts drilled on balanced rows
        steps=700,
        lr=4e-4,
        warmup=20,
        drill_share=0.4,
        compare_share=0.35,
        letter_share=0.5,
        layout=2,
        weights={"count_letter": 3},
        seed=13,
        threads=2,
    ),
    # whole-number checks compared digit by digit (layout 3), those lines drilled; harder families weighted
    dict(_LATE, layout=3, weights={"count_letter": 2, "mul": 2, "word_problem": 2, "sort": 2}, seed=19),
    # addition checked by taking the second number back off, stories worked in columns (layout 4)
    dict(_LATE, layout=4, weights={"add": 3, "count_letter": 2, "mul": 2, "word_problem": 3, "sort": 2}, seed=23),
    # the sliding layers' window widened from 128 to 512 tokens, so that they too reach the question from the check
    dict(
        _LATE,
        layout=4,
        weights={"add": 3, "count_letter": 2, "mul": 2, "word_problem": 3, "sort": 2},
        model={**_DEFAULT_ROPE, "sliding_window": 512},
        seed=31,
        threads=1,
    ),
    # a story's share taken away one subtraction per line (layout 8); list drills, stories and sorts weighted up
    dict(
        _LATE,
        drill_share=0.45,
        list_share=0.3,
        layout=8,
        weights={"add": 3, "count_letter": 2, "mul": 2, "word_problem": 4, "sort": 3},
        model={**_DEFAULT_ROPE, "sliding_window": 512},
        seed=37,
    ),
)


def finished(folder: Path) -> bool:
    """Whether ``folder`` holds a checkpoint trained to its recipe's last step."""
    meta = folder / "gptoss_lab.json"
    if not meta.is_file():
        return False
    saved = json.loads(meta.read_text())
    return saved.get("step") == saved.get("recipe", {}).get("steps")


def run_stages(
    out: Path, stages: tuple[dict[str, Any], ...] = SHIPPED, *, threads: int | None = None, save_minutes=None
) -> Path:
    """Train ``stages`` in order under ``out`` (resuming or skipping what is there); the last lands in ``out``."""
    control = {k: v for k, v in (("threads", threads), ("save_minutes", save_minutes)) if v is not None}
    previous: Path | None = None
    recipes = []
    for number, fields in enumerate(stages, 1):
        folder = out / f"stage{number}"
        if finished(folder):
            print(f"stage {number} of {len(stages)}: done already ({folder})", flush=True)
        elif (folder / "resume" / "state.pt").is_file():
            print(f"stage {number} of {len(stages)}: resuming {folder}", flush=True)
            train(folder, replace(Recipe.saved(folder), **control), resume=True)
        else:
            print(f"stage {number} of {len(stages)}: training {folder}", flush=True)
            model = {**(Recipe.saved(previous).model if previous else {}), **fields.get("model", {})}
            init = {"init": str(previous)} if previous else {}
            train(folder, Recipe(**{**fields, "model": model, **init, **control}))
        recipes.append(asdict(Recipe.saved(folder)))
        previous = folder
    assert previous is not None, "no stages to train"
    for item in previous.iterdir():
        if item.is_file():
            shutil.copy2(item, out / item.name)
    meta = json.loads((out / "gptoss_lab.json").read_text())
    meta["stages"] = recipes
    (out / "gptoss_lab.json").write_text(json.dumps(meta, indent=1))
    return out
