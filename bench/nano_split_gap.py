"""nano's generalisation gap: greedy accuracy on training-distribution questions against held-out ones.

    python bench/nano_split_gap.py MODEL_DIR [FAMILIES] [N]     # e.g. runs/v3b/ckpt add,sort,reverse 12

Scores the same way as ``gptoss-lab eval`` (batched greedy, high effort, graded by ``tasks.grade``), once on
questions drawn from the training split (wordings, numbers and words the model was trained on) and once on the
held-out split. Right on the first and wrong on the second: the model learned its training phrasings, not
phrasing. Both splits use the same seed, so two checkpoints compare on the same questions.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code

from gptoss_lab.model import ModelHandle
from gptoss_lab.nano import eval as E


def score(loaded, split: str, families: tuple[str, ...], n: int) -> dict[str, int]:
    conversations = E.answer_eval_set(loaded, effort="high", n=n, families=families, batch_size=4 * n, split=split)
    graded = E.graded(loaded, conversations)
    return {f: sum(g.right for g in graded if g.family == f) for f in families}


def main() -> None:
    model = sys.argv[1]
    families = tuple(sys.argv[2].split(",")) if len(sys.argv) > 2 else ("add", "sort", "reverse", "word_problem")
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    loaded = ModelHandle(model).load()
    train, held = score(loaded, "train", families, n), score(loaded, "eval", families, n)
    print(f"{'family':18s} {'train split':>12s} {'held out':>10s}   (right of {n}, high effort)")
    for f in families:
        print(f"{f:18s} {train[f]:12d} {held[f]:10d}")


if __name__ == "__main__":
    main()
