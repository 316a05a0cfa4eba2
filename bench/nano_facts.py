"""How well nano knows its one-column facts, teacher-forced: in conversations and in drill rows.

    python bench/nano_facts.py MODEL_DIR [MODEL_DIR ...] [--n 40] [--effort high]

For each model: the share of column facts (``7+8+1=16``, ``3-1-5 is below 0, so 13-1-5=7``,
``4*6+4=28``) whose whole result the model predicts right given the reference text before it, in the
first pass of the reasoning (before ``Check:``), on ``n`` conversations per family from the training
distribution and as many held out (new wordings, numbers and words); and the token accuracy of the
learned part of 24 drill rows (:mod:`gptoss_lab.nano.drill`). A fact that is right on training wordings
and wrong on held-out ones is computed from the question's wording, not from the line it is on.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code


def column_facts(model, tokenizer, examples) -> tuple[int, int]:
    """(right, total) whole results after ``=`` in the first pass, teacher-forced."""
    import torch

    from gptoss_lab.nano.train import encode

    equals = tokenizer.convert_tokens_to_ids("=")
    right = total = 0
    for ex in examples:
        ids, labels = encode(tokenizer, ex, None)
        with torch.inference_mode():
            pred = model(input_ids=torch.tensor([ids])).logits[0].argmax(-1).tolist()
        text = [tokenizer.decode([t]) for t in ids]
        check = next((i for i, t in enumerate(text) if t.strip() == "Check" and labels[i] != -100), len(ids))
        for i in range(1, check):
            if labels[i] == -100 or ids[i - 1] != equals:
                continue
            j, good = i, True
            while j < len(ids) and text[j].strip().isdigit():
                good = good and pred[j - 1] == ids[j]
                j += 1
            right, total = right + good, total + 1
    return right, total


def drill_accuracy(model, tokenizer, rows: int = 24) -> dict[str, float]:
    """Token accuracy on the learned part of drill rows, by kind."""
    import torch

    from gptoss_lab.nano import drill
    from gptoss_lab.nano.train import encode_drill

    rng, scores = random.Random(99), {}
    for _ in range(rows):
        pieces = drill.drill_row(rng)
        kind = next(c for c in "+-*" if c in pieces[0][0])
        ids, labels = encode_drill(tokenizer, pieces)
        with torch.inference_mode():
            pred = model(input_ids=torch.tensor([ids])).logits[0].argmax(-1).tolist()
        hits = [pred[i - 1] == ids[i] for i in range(1, len(ids)) if labels[i] != -100]
        a, b = scores.get(kind, (0, 0))
        scores[kind] = (a + sum(hits), b + len(hits))
    return {k: a / b for k, (a, b) in sorted(scores.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--effort", default="high")
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gptoss_lab.nano import tasks

    print(f"column facts right (whole result, teacher-forced, first pass, {args.effort}): train split / held out")
    for path in args.models:
        tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()
        cells = []
        for family in ("add", "sub", "mul"):
            shares = []
            for split in ("train", "eval"):
                examples = tasks.generate(args.n, seed=7, split=split, families=(family,), efforts=(args.effort,))
                right, total = column_facts(model, tokenizer, examples)
                shares.append(f"{right / max(total, 1):4.0%} of {total}")
            cells.append(f"{family} {' / '.join(shares)}")
        drills = ", ".join(f"{k} {v:.0%}" for k, v in drill_accuracy(model, tokenizer).items())
        print(f"{path}\n  {';  '.join(cells)}\n  drill tokens right: {drills}")


if __name__ == "__main__":
    main()
