"""gpt-oss-nano's speed on this machine: load time and greedy tokens/s.

    python bench/nano.py [--tokens 200] [--rounds 3]

Load time is printed next to a baseline run in the same process (reading the same
safetensors file into tensors, the floor of any load); tokens/s next to transformers'
own ``generate`` on the same model and prompt (the reference loop).
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import torch
    from safetensors.torch import load_file

    from gptoss_lab.generate import Sampling, generate_ids
    from gptoss_lab.model import ModelHandle

    handle = ModelHandle("nano")
    weights = f"{handle.source.path}/model.safetensors"
    load_file(weights)  # warm the file cache for both measurements
    loads, floors = [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        load_file(weights)
        floors.append(time.perf_counter() - t)
        t = time.perf_counter()
        loaded = ModelHandle("nano").load()
        loads.append(time.perf_counter() - t)
    load, floor = statistics.median(loads), statistics.median(floors)
    print(f"{loaded.source.label}: {sum(p.numel() for p in loaded.model.parameters()):,} parameters, {loaded.dtype}")
    print(
        f"load (tokenizer + model): {load:.3f} s   baseline (read the weights file): {floor:.3f} s   "
        f"ratio {load / floor:.1f}"
    )

    from gptoss_lab import Lab

    prompt = Lab().prompt_text("What is 4721 + 389?", effort="high")
    prompt_ids = loaded.encode(prompt)
    ours, ref = [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        n = sum(
            1
            for _ in generate_ids(
                loaded.model, prompt_ids, max_new_tokens=args.tokens, stop_ids=(), sampling=Sampling(temperature=0)
            )
        )
        ours.append(n / (time.perf_counter() - t))
        t = time.perf_counter()
        with torch.inference_mode():
            out = loaded.model.generate(
                torch.tensor([prompt_ids]), max_new_tokens=args.tokens, min_new_tokens=args.tokens, do_sample=False
            )
        ref.append((out.shape[1] - len(prompt_ids)) / (time.perf_counter() - t))
    a, b = statistics.median(ours), statistics.median(ref)
    print(f"greedy, {args.tokens} tokens after a {len(prompt_ids)}-token prompt, {torch.get_num_threads()} threads:")
    print(f"gptoss_lab loop: {a:.1f} tokens/s   transformers generate: {b:.1f} tokens/s   ratio {a / b:.2f}")


if __name__ == "__main__":
    main()
