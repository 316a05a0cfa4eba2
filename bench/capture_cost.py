"""Cost of capture (routing + attention summaries + the logit lens, what the bundled model records by
default): tokens/s of the generation loop with and without it, same process; and the lens's own share.

    python bench/capture_cost.py [--tokens 256] [--rounds 15]

Runs alternate (without, with, without, ...) on the bundled model so machine noise hits both;
the ratio of medians is the figure to compare (issue target: capture costs at most 10%).
"""

from __future__ import annotations

import argparse
import statistics
import time


def run(model, prompt_ids, n_tokens: int, capture: bool, lens: bool = True) -> float:
    from contextlib import ExitStack

    from gptoss_lab.capture import AttentionSummaryCapture, LensCapture, RoutingCapture
    from gptoss_lab.generate import Sampling, generate_ids

    start = time.perf_counter()
    if capture:
        with ExitStack() as stack:
            kinds = (
                (RoutingCapture, AttentionSummaryCapture, LensCapture)
                if lens
                else (RoutingCapture, AttentionSummaryCapture)
            )
            captures = [stack.enter_context(kind(model)) for kind in kinds]
            for _ in generate_ids(model, prompt_ids, max_new_tokens=n_tokens, stop_ids=(), sampling=Sampling(0)):
                pass
        for c in captures:
            c.collect()  # moving what was captured to numpy is part of the cost
    else:
        for _ in generate_ids(model, prompt_ids, max_new_tokens=n_tokens, stop_ids=(), sampling=Sampling(0)):
            pass
    return n_tokens / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    from gptoss_lab import Lab

    lab = Lab("nano")
    loaded = lab.handle.load()
    prompt_ids = loaded.encode(lab.prompt_text("What is 123 + 456?"))
    run(loaded.model, prompt_ids, 16, capture=True)  # warm up
    plain, no_lens, captured = [], [], []
    for _ in range(args.rounds):
        plain.append(run(loaded.model, prompt_ids, args.tokens, capture=False))
        no_lens.append(run(loaded.model, prompt_ids, args.tokens, capture=True, lens=False))
        captured.append(run(loaded.model, prompt_ids, args.tokens, capture=True))
    p, n, c = statistics.median(plain), statistics.median(no_lens), statistics.median(captured)
    # each round's runs went back to back: the median of paired ratios resists a noisy neighbour best
    ratio = statistics.median(b / a for a, b in zip(plain, captured, strict=True))
    lens_ratio = statistics.median(b / a for a, b in zip(no_lens, captured, strict=True))
    print(f"model: {loaded.source.label}, {args.tokens} new tokens after a {len(prompt_ids)}-token prompt, greedy")
    print(f"without capture:            {p:8.1f} tokens/s (median of {args.rounds})")
    print(f"routing + attention:        {n:8.1f} tokens/s")
    print(f"routing + attention + lens: {c:8.1f} tokens/s")
    print(f"median paired ratio all/none: {ratio:.3f}  (slowdown {100 * (1 - ratio):.1f}%)")
    print(f"median paired ratio with/without the lens: {lens_ratio:.3f}")


if __name__ == "__main__":
    main()
