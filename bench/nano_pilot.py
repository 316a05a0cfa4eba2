"""Pilot a nano recipe on a few families: train briefly, then score held-out questions at high effort.

    python bench/nano_pilot.py OUT_DIR [STEPS] [FAMILIES]     # e.g. 600 add,sub,mul,sort

Runs this checkout's recipe (:mod:`gptoss_lab.nano.train`) on the given families alone (default: the
hard ones, addition, subtraction, multiplication and sorting), so a few hundred steps give them
about the exposure a full run gives them; then prints the eval table at high effort (accuracy,
format, how often the check fires and fixes, how often it passes a wrong answer) on 16 held-out
questions per family. Compare two recipes by running it in each checkout.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's recipe, not an installed one

from gptoss_lab.model import ModelHandle
from gptoss_lab.nano import tasks
from gptoss_lab.nano import train as T
from gptoss_lab.nano.eval import answer_eval_set, count_scores, format_table, graded


def main() -> None:
    out = Path(sys.argv[1])
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    families = tuple(sys.argv[3].split(",")) if len(sys.argv) > 3 else ("add", "sub", "mul", "sort")
    tasks.ALL_FAMILIES = families  # train.pool_chunks and build_tokenizer read it when called
    T.train(out, T.Recipe(steps=steps, warmup=50, tokenizer_examples=1500))
    loaded = ModelHandle(str(out)).load()
    conversations = answer_eval_set(loaded, effort="high", n=16, families=families)
    print(format_table(count_scores(graded(loaded, conversations)), effort="high"))


if __name__ == "__main__":
    main()
