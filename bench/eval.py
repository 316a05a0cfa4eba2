"""Batched evaluation against one question at a time, in one process: the ratio is the speedup.

    python bench/eval.py [MODEL] [--n 3] [--effort medium] [--batch-size 32] [--threads 2]

Answers the same held-out questions (``n`` per family, greedy) twice with ``gptoss-lab eval``'s
code: once with ``batch_size=1`` (the baseline, one ``generate`` per question) and once batched;
prints both times, questions per second and their ratio, and checks that both runs gave the
same answers (left padding must change nothing). MODEL defaults to the bundled nano.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="nano")
    parser.add_argument("--n", type=int, default=3, help="questions per family")
    parser.add_argument("--effort", default="medium")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from gptoss_lab.model import ModelHandle
    from gptoss_lab.nano import eval as E

    torch.set_num_threads(args.threads)
    loaded = ModelHandle(args.model).load()
    runs = {}
    for name, batch in (("one at a time", 1), (f"batched ({args.batch_size})", args.batch_size)):
        start = time.perf_counter()
        conversations = E.answer_eval_set(loaded, effort=args.effort, n=args.n, batch_size=batch)
        runs[name] = (time.perf_counter() - start, conversations)
    (base, one), (fast, many) = runs.values()
    count = len(one)
    for name, (seconds, _) in runs.items():
        print(f"{name:16s} {seconds:7.1f} s   {count / seconds:6.2f} questions/s")
    same = sum(a.completion_ids == b.completion_ids for a, b in zip(one, many, strict=True))
    print(f"speedup x{base / fast:.2f} on {count} questions at {args.effort} effort; same completions {same}/{count}")


if __name__ == "__main__":
    main()
