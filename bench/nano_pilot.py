"""Pilot a nano recipe on a few families: train briefly, then score held-out questions at high effort.

    python bench/nano_pilot.py OUT_DIR [STEPS] [FAMILIES] [--stop-at N] [--lr X] [--threads T]
                               [--config KEY=VALUE ...] [--no-eval]
    # e.g. 600 add,sub,mul,sort
    #      500 add --stop-at 300 --config 'rope_parameters={"rope_theta": 10000.0, "rope_type": "default"}'

Runs this checkout's recipe (:mod:`gptoss_lab.nano.train`) on the given families alone (default: the
hard ones, addition, subtraction, multiplication and sorting), so a few hundred steps give them
about the exposure a full run gives them; then prints the eval table at high effort (accuracy,
format, how often the check fires and fixes, how often it passes a wrong answer) on 16 held-out
questions per family. ``--stop-at`` ends the run early on the full run's schedule, so two recipes'
loss logs compare step for step; ``--config`` overrides the model (as ``train --config`` does).
Compare two recipes by running them side by side with ``--threads 1``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's recipe, not an installed one

from gptoss_lab.model import ModelHandle
from gptoss_lab.nano import tasks
from gptoss_lab.nano import train as T
from gptoss_lab.nano.eval import answer_eval_set, count_scores, format_table, graded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("steps", type=int, nargs="?", default=600)
    parser.add_argument("families", nargs="?", default="add,sub,mul,sort")
    parser.add_argument("--stop-at", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-eval", action="store_true")
    args = parser.parse_args()
    families = tuple(args.families.split(","))
    tasks.ALL_FAMILIES = families  # train.pool_chunks and build_tokenizer read it when called
    recipe = T.Recipe(
        steps=args.steps, warmup=50, tokenizer_examples=1500, threads=args.threads, model=T.parse_config(args.config)
    )
    if args.lr is not None:
        recipe = replace(recipe, lr=args.lr)
    T.train(args.out, recipe, stop_at=args.stop_at, log_every=args.log_every)
    if args.no_eval:
        return
    loaded = ModelHandle(str(args.out)).load()
    conversations = answer_eval_set(loaded, effort="high", n=16, families=families)
    print(format_table(count_scores(graded(loaded, conversations)), effort="high"))


if __name__ == "__main__":
    main()
