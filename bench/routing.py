"""Time the routing figures on synthetic traces of gpt-oss-20b's shape, next to a bare heatmap.

    python bench/routing.py [--repeat 5] [--tokens 256 1024 4096]

For each trace length T (24 layers, 32 experts, top-4), each figure is built ``--repeat`` times; the
median build time is printed with its ratio to the baseline, ``go.Figure(go.Heatmap(z=...))`` on a
(L, T) array, timed the same way in this process: the ratio is what to compare across machines.
The JSON size is ``len(fig.to_json())``, which is what a notebook stores and a browser parses.
Targets: build under 0.5 s and JSON under 5 MB at T = 4096.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gptoss_lab import viz
from gptoss_lab.trace import Trace

LAYERS, EXPERTS, TOP_K = 24, 32, 4  # gpt-oss-20b


def synthetic_trace(T: int, seed: int = 0) -> Trace:
    """Random router logits, their top-k and softmax-over-top-k weights; a quarter prompt, then analysis, final."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(T, LAYERS, EXPERTS)).astype(np.float16)
    z = logits.astype(np.float32)
    order = np.argsort(-z, axis=-1)[..., :TOP_K]  # (T, L, k)
    top = np.take_along_axis(z, order, axis=-1)
    weights = np.exp(top - top.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    n_prompt = T // 4
    n_system = min(8, n_prompt)
    sources = ["system"] * n_system + ["user"] * (n_prompt - n_system) + ["analysis"] * ((T - n_prompt) * 3 // 4)
    sources += ["final"] * (T - len(sources))
    words = ["The", " answer", " is", " 42", ".", "\n", " Let", " me", " think", " about", " it"]
    return Trace(
        token_ids=np.arange(T, dtype=np.int64),
        token_strings=[words[i % len(words)] for i in range(T)],
        sources=sources,
        n_prompt=n_prompt,
        routing_logits=logits,
        topk_experts=order.astype(np.int16),
        topk_weights=weights.astype(np.float32),
        layer_types=["sliding_attention", "full_attention"] * (LAYERS // 2),
    )


def figures(trace: Trace) -> dict[str, Callable[[], Any]]:
    """Each figure with its defaults, as a user would first draw it."""
    return {
        "routing_map": lambda: viz.routing_map(trace),
        "routing_map(highlight)": lambda: viz.routing_map(trace, highlight=0),
        "expert_load": lambda: viz.expert_load(trace),
        "coactivation": lambda: viz.coactivation(trace, 0),
        "routing_stats": lambda: viz.routing_stats(trace),
        "token_path": lambda: viz.token_path(trace, trace.n_tokens // 2),
    }


def median_time(build: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    runs, fig = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        fig = build()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tokens", type=int, nargs="+", default=[256, 1024, 4096])
    args = parser.parse_args()
    import plotly.graph_objects as go

    viz.routing_map(synthetic_trace(16))  # first use pays plotly's imports; keep them out of the timings
    print(f"gpt-oss-20b shape: {LAYERS} layers, {EXPERTS} experts, top-{TOP_K}; median of {args.repeat} builds")
    for T in args.tokens:
        trace = synthetic_trace(T)
        z = np.random.default_rng(1).random((LAYERS, T), dtype=np.float32)
        base, fig = median_time(lambda z=z: go.Figure(go.Heatmap(z=z)), args.repeat)
        print(f"\nT = {T}: baseline go.Figure(go.Heatmap(z=({LAYERS}, {T}))) {base * 1000:.1f} ms")
        print(f"  {'figure':<24}{'build ms':>10}{'x baseline':>12}{'JSON MB':>10}{'to_json ms':>12}")
        for name, build in figures(trace).items():
            seconds, fig = median_time(build, args.repeat)
            start = time.perf_counter()
            size = len(fig.to_json())
            dump = time.perf_counter() - start
            row = f"{seconds * 1000:10.1f}{seconds / base:12.1f}{size / 1e6:10.2f}{dump * 1000:12.1f}"
            print(f"  {name:<24}{row}")


if __name__ == "__main__":
    main()
