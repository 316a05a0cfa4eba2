"""Every single-expert ablation on nano against one plain eval, in one process: the ratio is the cost per ablation.

    python bench/expert_importance.py [--n 20] [--effort low] [--families add,sub]

Times, on the same held-out questions (``n`` per family, greedy, batched): one unablated ``gptoss-lab eval``
pass (``answer_eval_set``), the baseline; then :func:`gptoss_lab.experiments.expert_importance` over every
(layer, expert), which runs that baseline again and one such eval per ablation. Prints both times, the time
of plain evals for the baseline and each ablation (one eval x (ablations + 1)) and the ratio (the harness's
own cost: interventions on and off, grading), and the machine's load (``uptime``) before and after: the
issue's target is every ablation at 20 per family in under 3 minutes on 2 idle cores. Both run on torch's
threads (all cores).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="questions per family")
    parser.add_argument("--effort", default="low")
    parser.add_argument("--families", help="comma-separated (default: every family)")
    args = parser.parse_args()

    import torch

    from gptoss_lab import Lab
    from gptoss_lab.experiments import expert_importance
    from gptoss_lab.nano import eval as E
    from gptoss_lab.nano import tasks

    families = tuple(args.families.split(",")) if args.families else tasks.FAMILIES
    lab = Lab("nano")
    with lab.local_model() as loaded:
        threads = torch.get_num_threads()  # what expert_importance measures with: torch's own (all cores)
        print(f"load before: {_load()}  ({os.cpu_count()} cores, torch threads {threads})", flush=True)
        start = time.perf_counter()
        E.answer_eval_set(loaded, effort=args.effort, n=args.n, families=families)
        one = time.perf_counter() - start
    print(f"one plain eval: {one:.1f} s ({args.n * len(families)} questions, {args.effort} effort)", flush=True)
    start = time.perf_counter()
    result = expert_importance(lab, families, n=args.n, effort=args.effort, progress=sys.stderr.isatty())
    every = time.perf_counter() - start
    count = int(result.measured.sum())
    print(f"load after:  {_load()}")
    print(f"every single-expert ablation ({count}) + its baseline: {every:.1f} s")
    plain = one * (count + 1)
    print(f"plain evals for the baseline and each ablation: {plain:.1f} s; ratio {every / plain:.3f}")
    print(result.summary())


if __name__ == "__main__":
    main()
