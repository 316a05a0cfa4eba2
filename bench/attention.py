"""Exact attention recompute for one layer at the 20b's attention shape: time and peak extra memory.

    python bench/attention.py [--lengths 512 2048 4096] [--layers 2]

A random-weight gpt-oss with the 20b's attention (hidden 2880, 64 query heads, 8 KV heads,
head_dim 64, sliding window 128 on even layers) and small experts. For each length, in a
fresh process: ``gptoss_lab.attention.attention_of`` for one head of the last layer (all
queries), and, where it fits, transformers' eager forward with ``output_attentions=True``
(the only way transformers returns the weights) as the same-process baseline.
Peak extra memory = peak RSS during the call minus RSS just before it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

PROBE = r"""
import json, resource, time, types
import numpy as np, torch
from transformers import GptOssConfig, GptOssForCausalLM
from gptoss_lab.attention import attention_of

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

torch.manual_seed(0)
T, L, mode = {T}, {L}, {mode!r}
config = GptOssConfig(vocab_size=1024, hidden_size=2880, intermediate_size=64, num_hidden_layers=L,
                      num_attention_heads=64, num_key_value_heads=8, head_dim=64, num_local_experts=4,
                      num_experts_per_tok=2, sliding_window=128, attn_implementation="eager")
model = GptOssForCausalLM(config).eval()
ids = torch.randint(0, 1024, (T,)).numpy()
trace = types.SimpleNamespace(token_ids=ids, token_strings=[""] * T, sources=["user"] * T,
                              layer_types=list(config.layer_types))
before = rss()
start = time.perf_counter()
if mode == "recompute":
    aw = attention_of(model, trace, L - 1, heads=[0])
else:
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids.tolist()]), output_attentions=True, use_cache=False)
    weights = out.attentions[-1][0, 0]
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"seconds": seconds, "extra_bytes": max(0, peak - before)}}))
"""


def measure(T: int, layers: int, mode: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(T=T, L=layers, mode=mode)], capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 2048, 4096])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--eager-max-gib", type=float, default=12.0, help="skip eager where its weights exceed this")
    args = parser.parse_args()
    print(f"20b attention shape, {args.layers} layers, one head of layer {args.layers - 1}, all queries")
    print(f"{'T':>5} {'recompute s':>12} {'extra MiB':>10} {'eager s':>9} {'eager MiB':>10} {'time ratio':>11}")
    for T in args.lengths:
        ours = measure(T, args.layers, "recompute")
        eager_gib = args.layers * 64 * T * T * 4 / 2**30  # every layer's (H, T, T) weights are returned
        theirs = measure(T, args.layers, "eager") if eager_gib <= args.eager_max_gib else None
        row = f"{T:5d} {ours.get('seconds', float('nan')):12.2f} {ours.get('extra_bytes', 0) / 2**20:10.0f}"
        if theirs and "seconds" in theirs:
            ratio = ours["seconds"] / theirs["seconds"]
            row += f" {theirs['seconds']:9.2f} {theirs['extra_bytes'] / 2**20:10.0f} {ratio:11.2f}"
        else:
            row += f"   eager skipped: its weights alone are {eager_gib:.1f} GiB"
        print(row, flush=True)


if __name__ == "__main__":
    main()
