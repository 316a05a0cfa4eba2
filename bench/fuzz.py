"""Fuzz the streaming harmony parser: mutated streams must keep every character.

    python bench/fuzz.py [--n 1000000] [--seed 0] [--show 5]

Runs the checks of tests/unit/test_harmony_fuzz.py (defined in tests/reference/harmony_fuzz.py:
conservation of every character, in order, nothing added but kept token names; well-nested
events; no malformed message on an unmutated stream) on ``--n`` seeded streams, the exact
byte codec, a lossy and a strict decode-only codec in turn. Prints streams/s, the failures
(the first ``--show`` in full, with their ids) and exits 1 if there were any.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.reference

from tests.reference.harmony_fuzz import fuzz


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--n", type=int, default=1_000_000, help="streams to check")
    args.add_argument("--seed", type=int, default=0)
    args.add_argument("--show", type=int, default=5, help="failures to print in full")
    opts = args.parse_args()

    shown = 0

    def report(k: int, ids: list[int], why: str) -> None:
        nonlocal shown
        if shown < opts.show:
            print(f"stream {k}: {why}\n  ids: {ids}", flush=True)
        shown += 1

    start = time.perf_counter()
    failures = fuzz(opts.n, opts.seed, on_failure=report)
    seconds = time.perf_counter() - start
    print(f"{opts.n} streams in {seconds:.1f} s: {opts.n / seconds:,.0f} streams/s, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
