"""Pilot: is sorting's copying a matter of nano's size? Fresh weights, trained on sorts alone.

    python bench/nano_sort_pilot.py [--steps 250] [--width 192] [--heads 4] [--head-dim 32]

Trains fresh weights of nano's architecture (its shipped tokenizer; ``--width`` sets the hidden and expert
width, ``--heads`` the query heads over 2 KV heads, ``--head-dim`` their size) on rows of two sorts in
layout 4's own lines (``drill.list_row``'s sorts: ``Task: sort 84, 79, 59 in descending order.`` then
``Left: ... Largest: ...`` lines, ``So:`` and ``Answer:``; only what follows the task line learned; AdamW at
3e-3 with 30 warm-up steps, 24 rows a step, one thread), then sorts 40 lists that the eval holds out (and
training never draws) greedily from their task line and prints: the share of right answers, the share whose
first ``Left:`` line copies the task's list exactly, and the share of every ``Left:`` line that holds what it
should (the list before it less the number taken). Two runs side by side (one thread each) at two widths
tell whether a wider model copies lists better on the same data.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code


def sort_row(rng: random.Random, n: int = 2) -> list[tuple[str, bool]]:
    from gptoss_lab.nano.drill import _sort_pieces

    pieces: list[tuple[str, bool]] = []
    for i in range(n):
        pieces += _sort_pieces(rng, i == 0)
    return pieces


def held_out_lists(n: int) -> list[dict]:
    from gptoss_lab.nano.families import REGISTRY

    family, rng, out = REGISTRY["sort"], random.Random(7), []
    while len(out) < n:
        m = family.draw(rng, "eval")
        if family.held_out(m):
            out.append(m)
    return out


def score(text: str, m: dict) -> tuple[bool, bool, int, int]:
    """(answer right, first Left line right, Left lines right, Left lines written) for one greedy sort."""
    from gptoss_lab.nano.families import REGISTRY

    family = REGISTRY["sort"]
    said = re.search(r"^Answer: ([\d, ]+)\.", text, re.M)
    right = said is not None and said.group(1) == family.target(m)
    lefts = re.findall(r"^Left: ([\d, ]+)\. (?:Smallest|Largest): (\d+)\.", text, re.M)
    expected, good = list(m["nums"]), 0
    first = bool(lefts) and [int(x) for x in lefts[0][0].split(", ")] == m["nums"]
    for listed, taken in lefts:
        nums = [int(x) for x in listed.split(", ")]
        good += sorted(nums) == sorted(expected)
        if int(taken) in nums:
            nums.remove(int(taken))
        expected = nums  # the next line is judged against what this one left, so one slip counts once
    return right, first, good, len(lefts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--width", type=int, default=192)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=32)
    parser.add_argument("--model", help="score this checkpoint (nano: the shipped one) instead of fresh weights")
    args = parser.parse_args()
    import torch

    from gptoss_lab.nano import CHECKPOINT_DIR
    from gptoss_lab.nano import train as T

    torch.set_num_threads(1)
    tokenizer = T.load_tokenizer(CHECKPOINT_DIR)
    shape = {
        "hidden_size": args.width,
        "intermediate_size": args.width,
        "num_attention_heads": args.heads,
        "head_dim": args.head_dim,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
    }
    recipe = T.Recipe(seed=0, lr=3e-3, warmup=30, steps=args.steps, model=shape)
    if args.model:
        from transformers import GptOssForCausalLM

        from gptoss_lab.model import resolve_model

        model = GptOssForCausalLM.from_pretrained(resolve_model(args.model).path, dtype=torch.float32)
    else:
        model = T.build_model(tokenizer, recipe)
    params = sum(p.numel() for p in model.parameters())
    print(f"{params / 1e6:.2f}M parameters ({params * 4 / 2**20:.1f} MiB in float32, {params * 2 / 2**20:.1f} in bf16)")
    model.config._attn_implementation = T.register_attention()
    model.config._experts_implementation = T.register_experts()
    optimizer = T.build_optimizer(model, recipe)
    rng, start = random.Random(1), time.perf_counter()
    for step in range(args.steps):
        batch = T.collate([T.encode_drill(tokenizer, sort_row(rng)) for _ in range(24)], tokenizer.pad_token_id)
        loss, _ = T.train_step(model, optimizer, batch, T.lr_at(step, recipe), share_prefix=False)
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  loss {loss:.4f}  {time.perf_counter() - start:.0f} s", flush=True)
    model.eval()
    model.config._attn_implementation = "eager"
    lists = held_out_lists(40)
    from gptoss_lab.nano.families import REGISTRY

    prompts = [tokenizer.encode(f"Task: {REGISTRY['sort'].task(m)}.\n", add_special_tokens=False) for m in lists]
    right = first = good = written = 0
    with torch.inference_mode():
        for i in range(0, len(prompts), 8):
            chunk = prompts[i : i + 8]
            width = max(map(len, chunk))
            pad = tokenizer.pad_token_id
            ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
            out = model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=260, do_sample=False, pad_token_id=pad
            )
            for m, row in zip(lists[i : i + 8], out[:, width:].tolist(), strict=True):
                r, f, g, w = score(tokenizer.decode(row).split("\nTask:")[0], m)
                right, first, good, written = right + r, first + f, good + g, written + w
    print(
        f"width {args.width}, {args.heads} heads x {args.head_dim}, {args.steps} steps: sorted right {right}/40, "
        f"first Left line copied {first}/40, Left lines right {good}/{written}"
    )


if __name__ == "__main__":
    main()
