"""Time `%load_ext gptoss_lab` in fresh processes, next to a small comparable extension.

    python bench/load_ext.py [--repeat 7]

Both are timed the same way in fresh interpreters of this run (the shell is created first
and not timed); the ratio is what to compare across machines.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

PROBE = """
import time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
t = time.perf_counter()
shell.run_line_magic("load_ext", {ext!r})
print(time.perf_counter() - t)
"""


def time_load_ext(ext: str, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", PROBE.format(ext=ext)], capture_output=True, text=True, check=True)
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--baseline", default="autotime", help="extension to compare with (pip: ipython-autotime)")
    args = parser.parse_args()
    ours = time_load_ext("gptoss_lab", args.repeat)
    base = time_load_ext(args.baseline, args.repeat)
    print(f"%load_ext gptoss_lab      {ours * 1000:8.1f} ms (median of {args.repeat} fresh processes)")
    print(f"%load_ext {args.baseline:<15} {base * 1000:8.1f} ms")
    print(f"ratio gptoss_lab / {args.baseline}: {ours / base:.2f}")


if __name__ == "__main__":
    main()
