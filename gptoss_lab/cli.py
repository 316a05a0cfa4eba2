"""The ``gptoss-lab`` command.

gptoss-lab ask "What is 17 + 25?" --effort low
gptoss-lab ask "What is 2+2?" --json
gptoss-lab ask "What is 2+2?" --base-url http://127.0.0.1:8000/v1 --model openai/gpt-oss-20b
gptoss-lab ask "Weather in Oslo?" --tools mytools:get_weather --base-url ... (functions the model may call)
gptoss-lab export-notebooks build/notebooks-html
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .dialects import api_names
from .errors import GptOssLabError, OptionError
from .export import CELL_TIMEOUT_S
from .options import DEFAULT_EFFORT, DEFAULT_MAX_NEW_TOKENS, DEFAULT_TIMEOUT, DTYPES, EFFORTS
from .quant import QUANT_CHOICES

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gptoss-lab", description="Talk to gpt-oss models, reasoning shown apart.")
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="ask one question; stream the reasoning, then the answer")
    ask.add_argument("prompt", help="the question (use quotes)")
    ask.add_argument(
        "--effort", "-e", choices=EFFORTS, default=DEFAULT_EFFORT, help="reasoning effort (default: %(default)s)"
    )
    ask.add_argument("--model", "-m", default=None, help="nano (default), a local directory, a hub id; or a server's")
    ask.add_argument("--base-url", default=None, help="ask a server instead: http://HOST:PORT/v1 (vLLM, Ollama...)")
    ask.add_argument("--api", choices=api_names(), default="auto", help="server API")
    ask.add_argument("--api-key", default=None, help="the server's key (default: $OPENAI_API_KEY)")
    ask.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait for the server (default: %(default)g)"
    )
    ask.add_argument(
        "--max-tokens",
        "-n",
        type=int,
        default=None,
        help=f"most tokens to generate (default, low/medium/high: {_limits('nano')} for nano, {_limits('gpt-oss')} "
        "otherwise, at most what the context leaves)",
    )
    ask.add_argument("--temperature", "-t", type=float, default=None, help="0 is greedy (default: the model's)")
    ask.add_argument("--top-p", type=float, default=None, help="nucleus sampling mass (default: the model's)")
    ask.add_argument("--seed", "-s", type=int, default=None, help="random seed for a reproducible reply")
    ask.add_argument("--developer", "-d", default=None, help="developer instructions")
    ask.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: what is there)")
    ask.add_argument("--dtype", default=None, help=f"{'|'.join(DTYPES)} (default: what suits the device)")
    ask.add_argument("--quant", choices=QUANT_CHOICES, default="auto", help="weights format (default: auto)")
    ask.add_argument("--device-map", default=None, help="auto: spread the model over every GPU (accelerate)")
    ask.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")
    ask.add_argument(
        "--tools",
        default=None,
        metavar="MODULE:FUNCTION,...",
        help="Python functions the model may call, imported from modules here (mytools:get_weather); "
        "python: the model's python tool, its code run in a Jupyter kernel of its own",
    )
    ask.add_argument("--tool-rounds", type=int, default=None, help="most rounds of tool calls (default: 8)")
    ev = sub.add_parser("eval", help="score a model on nano's task families (held-out phrasings and numbers)")
    ev.add_argument("--model", "-m", default="nano", help="nano (bundled), a local directory, or a hub id")
    ev.add_argument("--effort", "-e", choices=EFFORTS, action="append", help="effort(s) to score (default: all three)")
    ev.add_argument("--n", type=int, default=50, help="examples per task family (default: 50)")
    ev.add_argument("--seed", type=int, default=1234, help="which held-out examples (default: 1234)")
    ev.add_argument(
        "--families",
        help="comma-separated task families to score (default: every one); drawn on their own, their questions "
        "are other ones than those of the full run's rows",
    )
    ev.add_argument("--device", default=None, help="cpu, cuda ... (default: what is there)")
    ev.add_argument("--json", action="store_true", help="print one JSON object per effort")
    ev.add_argument(
        "--paraphrase",
        type=int,
        default=0,
        metavar="K",
        help="also ask each question in K wordings: do the answers agree? (default: 0, off)",
    )
    ev.add_argument(
        "--teacher-forced",
        action="store_true",
        help="instead: how well the model predicts the reference reasoning on training vs held-out examples",
    )
    ex = sub.add_parser(
        "export-notebooks",
        help="run notebooks and write each as a self-contained HTML page (figures interactive, no network)",
    )
    ex.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder for the pages (NAME.html per notebook)")
    ex.add_argument("notebooks", type=Path, nargs="*", metavar="NOTEBOOK", help="default: notebooks/*.ipynb here")
    ex.add_argument(
        "--timeout",
        type=int,
        default=CELL_TIMEOUT_S,
        help="seconds a cell may run before the export fails (default: %(default)s)",
    )
    return parser


def _limits(family: str) -> str:
    return "/".join(str(DEFAULT_MAX_NEW_TOKENS[family][e]) for e in EFFORTS)


class _TerminalStream:
    """Prints the reasoning (dim, labelled) then the answer as the reply grows; with tools, each round's
    preamble, calls and results as they happen."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.color = out.isatty() and os.environ.get("NO_COLOR") is None
        self._reasoning = 0
        self._answer = 0
        self._steps = 0  # calls and results printed so far, across rounds

    def _style(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def _tool_steps(self, reply: Any) -> None:
        """Print the rounds' calls and results not printed yet (a new round starts a new reply)."""
        steps = []
        for r in reply.tool_rounds:
            if r.reply.preamble:
                steps.append(self._style("\n\nPreamble (commentary channel):\n", "1") + r.reply.preamble)
            steps += [self._style("\n\nTool call: ", "1") + f"{m.recipient}({m.content})" for m in r.reply.tool_calls]
            steps += [
                self._style(f"\nTool result ({'ok' if x.ok else 'error'}, {x.seconds:.2f} s): ", "1") + x.output
                for x in r.results
            ]
        if len(steps) > self._steps:
            self.out.write("".join(steps[self._steps :]) + "\n\n")
            self._steps = len(steps)
            self._reasoning = self._answer = 0  # the next round's reasoning and answer start afresh

    def update(self, reply: Any) -> None:
        self._tool_steps(reply)
        reasoning, answer = reply.reasoning, reply.answer
        if len(reasoning) > self._reasoning:
            if self._reasoning == 0:
                self.out.write(self._style("Reasoning (analysis channel):\n", "2;1"))
            self.out.write(self._style(reasoning[self._reasoning :], "2"))
            self._reasoning = len(reasoning)
        if len(answer) > self._answer:
            if self._answer == 0:
                label = "\n\nAnswer:\n" if self._reasoning else "Answer:\n"
                self.out.write(self._style(label, "1"))
            self.out.write(answer[self._answer :])
            self._answer = len(answer)
        self.out.flush()

    def close(self, reply: Any) -> None:
        from .render import stats_line

        self.update(reply)
        self.out.write("\n" + self._style(f"({stats_line(reply)})", "2") + "\n")


def _ask(args: argparse.Namespace) -> int:
    from .lab import Lab

    if args.base_url:
        lab = Lab(args.model, base_url=args.base_url, api_key=args.api_key, api=args.api, timeout=args.timeout)
    else:
        lab = Lab(args.model, device=args.device, dtype=args.dtype, quant=args.quant, device_map=args.device_map)
    stream = None if args.json else _TerminalStream(sys.stdout)
    tooling: dict[str, Any] = {"tools": _import_tools(args.tools)} if args.tools else {}
    if args.tool_rounds is not None:
        tooling["max_tool_rounds"] = args.tool_rounds
    reply = lab.ask(
        args.prompt,
        effort=args.effort,
        max_new_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        developer=args.developer,
        on_update=stream.update if stream else None,
        **tooling,
    )
    if stream is None:
        data = reply.to_dict()
        keys = ("model", "effort", "reasoning", "answer", "stats", "stopped", "error")
        keys += ("tool_rounds", "tool_results", "tool_limit") * bool(args.tools)
        print(json.dumps({k: data[k] for k in keys}))
    else:
        stream.close(reply)
    if reply.stopped == "error":  # what arrived is printed above; the reason goes to stderr too
        print(f"gptoss-lab: error: {reply.error}", file=sys.stderr)
        return 1
    return 130 if reply.stopped == "interrupted" else 0


def _import_tools(spec: str) -> list[Any]:
    """``mod:fn,pkg.mod:other`` -> the functions, imported as ``python -c`` would (this folder first)."""
    import importlib

    if "" not in sys.path:
        sys.path.insert(0, "")
    found = []
    for item in (p.strip() for p in spec.split(",") if p.strip()):
        if item == "python":  # the model's own tool: its code runs in a kernel of its own
            found.append(item)
            continue
        module, _, name = item.partition(":")
        if not module or not name:
            raise OptionError(f"--tools {item}: name each function as MODULE:FUNCTION (mytools:get_weather), or python")
        try:
            found.append(getattr(importlib.import_module(module), name))
        except ModuleNotFoundError as err:
            raise OptionError(f"--tools {item}: no module named {err.name} here ({os.getcwd()})") from None
        except AttributeError:
            raise OptionError(f"--tools {item}: module {module} has no {name}") from None
    return found


def _eval(args: argparse.Namespace) -> int:
    from .capture import moe_layers
    from .model import ModelHandle
    from .nano import eval as nano_eval

    if args.paraphrase and args.paraphrase < 2:
        raise OptionError(f"--paraphrase K needs K >= 2 wordings per question (or 0 for off), got {args.paraphrase}")
    families = _families(args.families)
    loaded = ModelHandle(args.model, device=args.device).load()
    if args.teacher_forced:
        return _teacher_forced(loaded, args)
    progress = sys.stderr.isatty()  # a bar only where someone watches; logs and pipes stay clean
    for effort in args.effort or list(EFFORTS):
        options = {"effort": effort, "n": args.n, "seed": args.seed, "progress": progress, "families": families}
        conversations = nano_eval.answer_eval_set(loaded, **options)
        scores = nano_eval.score(loaded, conversations)
        load = nano_eval.expert_load(loaded, conversations, progress=progress) if moe_layers(loaded.model) else None
        agreement = nano_eval.paraphrase_agreement(loaded, k=args.paraphrase, **options) if args.paraphrase else None
        if args.json:
            report = nano_eval.scores_to_dict(
                scores, model=loaded.source.label, effort=effort, load=load, agreement=agreement
            )
            print(json.dumps(report))
            continue
        print(nano_eval.format_table(scores, effort=effort))
        if load is not None:
            print(nano_eval.load_line(load))
        if agreement is not None:
            print("\n" + nano_eval.format_agreement(agreement, effort=effort))
        print()
    return 0


def _families(given: str | None) -> tuple[str, ...]:
    """``--families add,sort`` as a tuple; every family when not given; a name not known is one line."""
    from .nano import tasks

    if given is None:
        return tasks.FAMILIES
    names = tuple(name.strip() for name in given.split(",") if name.strip())
    unknown = [name for name in names if name not in tasks.FAMILIES]
    if unknown or not names:
        raise OptionError(f"--families takes some of {','.join(tasks.FAMILIES)}; got {given!r}")
    return names


def _teacher_forced(loaded: object, args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .nano.eval import teacher_forced

    for effort in args.effort or ["high"]:
        train, held = (teacher_forced(loaded, split=s, effort=effort, n=args.n) for s in ("train", "eval"))
        if args.json:
            print(json.dumps({"effort": effort, "scores": [asdict(s) for s in train + held]}))
            continue
        print(f"effort {effort}, teacher-forced: token accuracy / whole completions right")
        print(f"{'family':18s} {'training examples':>20s} {'held-out examples':>20s}")
        for a, b in zip(train, held, strict=True):
            row = f"{a.token_accuracy:10.3f} / {a.exact:5.0%}   {b.token_accuracy:10.3f} / {b.exact:5.0%}"
            print(f"{a.family:18s} {row}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .export import NotebookFailed, export

    notebooks = args.notebooks or sorted(Path("notebooks").glob("*.ipynb"))
    if not notebooks:
        raise OptionError("no notebooks/*.ipynb in this folder: run it from the repository, or name the notebooks")
    try:
        export(notebooks, args.out_dir, timeout=args.timeout, progress=sys.stdout)
    except NotebookFailed as err:  # the notebook's own error: its cell's traceback is in the message
        print(f"gptoss-lab: error: {err}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"ask": _ask, "eval": _eval, "export-notebooks": _export}[args.command](args)
    except GptOssLabError as err:  # bad input: one line; anything else is a bug and keeps its traceback
        print(f"gptoss-lab: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
