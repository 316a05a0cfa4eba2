"""Several notebooks asking one server at once, against one at a time: every reply intact, and the ratio.

    python bench/serve_load.py --base-url http://127.0.0.1:8000/v1 [--clients 8] [--effort low]

Each client is its own ``Lab(base_url=...)``, as each notebook of a workshop is, asking a different
question (greedy, so a reply depends on its question alone). The questions are asked once one at a
time (the baseline), then all at once from ``--clients`` threads; the script checks that every
concurrent reply equals its one-at-a-time reply token for token (nothing lost, nothing mixed up
between clients) and prints both wall times and their ratio. Run it against your own server to size
a workshop: the ratio is what continuous batching buys over taking turns.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code

QUESTIONS = [f"What is {a} + {b}?" for a, b in ((17, 25), (305, 48), (66, 77), (1234, 999), (8, 5), (450, 450))]
QUESTIONS += ["Spell lantern backwards.", "Which is bigger, 3.14 or 3.9?", "Sort 42, 7, 19.", "What is 23 * 4?"]


def ask_all(base_url: str, questions: list[str], *, clients: int, effort: str, max_new_tokens: int) -> list:
    """The replies to ``questions``, asked by ``clients`` threads at once (1: one after another)."""
    from gptoss_lab import Lab

    def ask(question: str):
        return Lab(base_url=base_url).ask(question, effort=effort, temperature=0, max_new_tokens=max_new_tokens)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(ask, questions))


def compare(alone: list, together: list) -> list[str]:
    """What differs between one-at-a-time and concurrent replies (empty when every reply is intact)."""
    problems = []
    for i, (a, b) in enumerate(zip(alone, together, strict=True)):
        if a.completion_ids != b.completion_ids or (a.reasoning, a.answer) != (b.reasoning, b.answer):
            problems.append(f"question {i}: concurrent reply differs from its one-at-a-time reply")
        if b.stopped not in ("return", "length"):
            problems.append(f"question {i}: stopped by {b.stopped!r}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the server, http://HOST:PORT/v1")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--effort", default="low")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    args = parser.parse_args()
    questions = (QUESTIONS * args.clients)[: args.clients]
    options = dict(effort=args.effort, max_new_tokens=args.max_new_tokens)
    ask_all(args.base_url, questions[:1], clients=1, **options)  # warm up: the first request compiles and caches
    start = time.perf_counter()
    alone = ask_all(args.base_url, questions, clients=1, **options)
    one_at_a_time = time.perf_counter() - start
    start = time.perf_counter()
    together = ask_all(args.base_url, questions, clients=args.clients, **options)
    concurrent = time.perf_counter() - start
    tokens = sum(len(r.completion_ids) for r in together)
    for problem in compare(alone, together):
        print(problem)
    print(f"{len(questions)} questions, {tokens} completion tokens, effort {args.effort}, greedy")
    print(f"one at a time:        {one_at_a_time:6.2f} s   {tokens / one_at_a_time:7.1f} tokens/s")
    print(f"{args.clients} clients at once: {concurrent:6.2f} s   {tokens / concurrent:7.1f} tokens/s")
    print(f"ratio one-at-a-time / concurrent: {one_at_a_time / concurrent:.2f}")


if __name__ == "__main__":
    main()
