"""gpt-oss-nano's greedy tokens/s on one torch thread against two, on an idle machine and beside a busy core.

    python bench/threads.py [--tokens 200] [--rounds 3]

Why gptoss_lab generates tiny CPU models on one thread (``LoadedModel.threads``): their matmuls
are too small to split, and a two-thread team waits at every operation for a thread that another
process (a second kernel, a test run, a training job) has pushed off its core. Each round times both
settings back to back in this process; the "busy" rows run with a spinning process beside them.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time


def _spin(stop: mp.Event) -> None:  # type: ignore[valid-type]
    while not stop.is_set():
        pass


def _tokens_per_second(loaded: object, prompt_ids: list[int], tokens: int, threads: int) -> float:
    from gptoss_lab.generate import Sampling, generate_ids

    model = loaded.model  # type: ignore[attr-defined]
    start = time.perf_counter()
    n = sum(1 for _ in generate_ids(model, prompt_ids, max_new_tokens=tokens, stop_ids=(), threads=threads,
                                    sampling=Sampling(temperature=0)))  # fmt: skip
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from gptoss_lab import Lab

    lab = Lab()
    loaded = lab.handle.load()
    prompt_ids = loaded.encode(lab.prompt_text("What is 4721 + 389?", effort="high"))
    _tokens_per_second(loaded, prompt_ids, 20, 1)  # warm up
    for label, busy in (("idle machine", False), ("one core busy", True)):
        stop = mp.Event()
        spinner = mp.Process(target=_spin, args=(stop,), daemon=True) if busy else None
        if spinner is not None:
            spinner.start()
        try:
            rates = {1: [], 2: []}
            for _ in range(args.rounds):
                for threads in (1, 2):
                    rates[threads].append(_tokens_per_second(loaded, prompt_ids, args.tokens, threads))
        finally:
            stop.set()
            if spinner is not None:
                spinner.join()
        one, two = statistics.median(rates[1]), statistics.median(rates[2])
        print(f"{label:14s} 1 thread: {one:6.1f} tokens/s  2 threads: {two:6.1f} tokens/s  ratio 1/2: {one / two:.2f}")


if __name__ == "__main__":
    main()
