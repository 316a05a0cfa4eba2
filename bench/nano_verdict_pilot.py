"""Pilot: can nano's architecture learn the check's equality verdict from scratch, and in which format?

    python bench/nano_verdict_pilot.py KIND [--steps 300]

KIND is the format of the rows it trains on (12 comparisons a row, half of them equal, only the verdicts
learned; nano's shipped tokenizer and architecture, fresh weights, AdamW at 3e-3 with 30 warm-up steps,
32 rows a step, one thread):

* ``multi``: whole numbers of 1-4 digits, ``6221 vs 6211: differ.`` (the shipped check's comparison line);
* ``digit``: one digit each, ``6 vs 1: differ.``;
* ``digits``: digit by digit, ``6221 vs 6211: 6=6 yes, 2=2 yes, 2=1 no, 1=1 yes, so differ.``;
* ``letter``: one letter each, ``c = n no.`` (what counting needs).

``--model nano --steps 0`` scores the shipped checkpoint as it is. Prints the training loss every 50 steps,
then, on 25 fresh rows (teacher-forced), the share of verdict tokens
predicted right, and for ``digits`` the final verdict apart. A constant verdict scores 50% on balanced rows
(its loss stays at ln 2 = 0.69).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code

KINDS = ("multi", "digit", "digits", "letter")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def pair(rng: random.Random, kind: str) -> tuple[object, object]:
    """Two things to compare, equal half the time; unequal ones as a slip leaves them."""
    from gptoss_lab.nano.drill import near_miss

    if kind == "letter":
        a = rng.choice(LETTERS)
        return a, a if rng.random() < 0.5 else rng.choice([c for c in LETTERS if c != a])
    if kind == "digit":
        a = rng.randrange(10)
        return a, a if rng.random() < 0.5 else rng.choice([d for d in range(10) if d != a])
    width = rng.randint(1, 4)
    a = rng.randrange(10 ** (width - 1) if width > 1 else 0, 10**width)
    b = a if rng.random() < 0.5 else near_miss(rng, a)
    if kind == "digits" and len(str(b)) != len(str(a)):  # digit by digit needs one width: change a digit
        digits = list(str(a))
        i = rng.randrange(len(digits))
        digits[i] = rng.choice([d for d in "0123456789" if d != digits[i]])
        b = int("".join(digits))
    return a, b


def row(rng: random.Random, kind: str, n: int = 12) -> list[tuple[str, bool]]:
    """(text, learned) pieces, as the trainer's drill rows: only the verdicts are learned."""
    pieces: list[tuple[str, bool]] = []
    for i in range(n):
        a, b = pair(rng, kind)
        start = "" if i == 0 else "\n"
        if kind == "letter":
            pieces += [(f"{start}{a} = {b}", False), (" yes" if a == b else " no", True), (".", False)]
        elif kind == "digits":
            sa, sb = str(a), str(b)
            pieces.append((f"{start}{sa} vs {sb}: ", False))
            for j, (x, y) in enumerate(zip(sa, sb, strict=True)):
                sep = ", " if j < len(sa) - 1 else ""
                pieces += [(f"{x}={y}", False), (" yes" if x == y else " no", True), (sep, False)]
            pieces += [(", so", False), (" same" if a == b else " differ", True), (".", False)]
        else:
            pieces += [(f"{start}{a} vs {b}:", False), (" same" if a == b else " differ", True), (".", False)]
    return pieces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--model", help="start from this checkpoint (nano: the shipped one) instead of fresh weights")
    args = parser.parse_args()
    import torch

    from gptoss_lab.nano import CHECKPOINT_DIR
    from gptoss_lab.nano import train as T

    torch.set_num_threads(1)
    tokenizer = T.load_tokenizer(CHECKPOINT_DIR)
    recipe = T.Recipe(seed=0, lr=3e-3, warmup=30, steps=args.steps)
    if args.model:
        from transformers import GptOssForCausalLM

        from gptoss_lab.model import resolve_model

        model = GptOssForCausalLM.from_pretrained(resolve_model(args.model).path, dtype=torch.float32)
    else:
        model = T.build_model(tokenizer, recipe)
    model.config._attn_implementation = T.register_attention()
    model.config._experts_implementation = T.register_experts()
    optimizer = T.build_optimizer(model, recipe)
    rng, start = random.Random(1), time.perf_counter()
    for step in range(args.steps):
        batch = T.collate([T.encode_drill(tokenizer, row(rng, args.kind)) for _ in range(32)], tokenizer.pad_token_id)
        loss, _ = T.train_step(model, optimizer, batch, T.lr_at(step, recipe), share_prefix=False)
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  loss {loss:.4f}  {time.perf_counter() - start:.0f} s", flush=True)
    model.eval()
    held_out = random.Random(99)
    right = total = final_right = final_total = 0
    with torch.inference_mode():
        for _ in range(25):
            ids, labels = T.encode_drill(tokenizer, row(held_out, args.kind))
            logits = model(input_ids=torch.tensor([ids])).logits[0]
            for t, label in enumerate(labels):
                if label == -100 or t == 0:
                    continue
                hit = int(logits[t - 1].argmax()) == label
                right, total = right + hit, total + 1
                if tokenizer.decode([label]).strip() in ("same", "differ") and args.kind == "digits":
                    final_right, final_total = final_right + hit, final_total + 1
    line = f"{args.kind}, {args.steps} steps: verdict tokens right {right}/{total} = {right / total:.1%}"
    if final_total:
        per_digit = (right - final_right) / (total - final_total)
        line += f" (per digit {per_digit:.1%}; the final same/differ {final_right}/{final_total})"
    print(line)


if __name__ == "__main__":
    main()
