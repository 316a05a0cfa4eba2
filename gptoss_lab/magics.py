"""``%%gptoss`` (a prompt per cell) and ``%gptoss`` (load, reset, history, status).

Thin shell over :class:`gptoss_lab.Lab`: parse the options, ask, stream into a display
handle. Defaults are traitlets, so ``%config GptOssMagics.effort = "high"`` works.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import re
import shlex
from collections.abc import Iterator
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, CaselessStrEnum, Float, Int, Unicode

from .dialects import DIALECTS
from .errors import GptOssLabError
from .options import DEFAULT_EFFORT, DEFAULT_TIMEOUT, EFFORTS, check_generation
from .remote import local_model_needed

__all__ = ["GptOssMagics", "load_ipython_extension", "unload_ipython_extension"]

_VAR_RE = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")  # {name}, but not {{name}}
_COMMANDS = "load | reset | history | status | connect | playground"
#: --show names -> Trace methods
_FIGURES = {"routing": "routing_map", "load": "expert_load", "stats": "routing_stats"}


@magics_class
class GptOssMagics(Magics):
    """Talk to a gpt-oss model from a notebook cell."""

    model = Unicode("nano", help="Model: 'nano' (bundled), a local checkpoint directory, or a hub id.").tag(config=True)
    effort = CaselessStrEnum(EFFORTS, default_value=DEFAULT_EFFORT, help="Reasoning effort: low, medium or high.").tag(
        config=True
    )
    max_tokens = Int(
        None,
        allow_none=True,
        help="Most tokens to generate per reply (reasoning + answer); None: by model and effort (see Lab.ask).",
    ).tag(config=True)
    temperature = Float(
        None, allow_none=True, help="Sampling temperature; 0 is greedy; None uses the model's recommendation."
    ).tag(config=True)
    top_p = Float(None, allow_none=True, help="Nucleus sampling mass; None uses the model's recommendation.").tag(
        config=True
    )
    interpolate = Bool(False, help="Replace {name} in prompts with the value of variable `name`.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._lab: Any = None
        self.last: Any = None

    @property
    def lab(self) -> Any:
        """The Lab the magics talk to (created on first use; loads nothing by itself)."""
        if self._lab is None:
            from .lab import Lab

            self._lab = Lab(self.model)
        return self._lab

    @magic_arguments()
    @argument("--effort", "-e", choices=EFFORTS, help="Reasoning effort (default: %%config GptOssMagics.effort).")
    @argument("--max-tokens", "-n", type=int, help="Most tokens to generate (default: by model and effort).")
    @argument("--temperature", "-t", type=float, help="Sampling temperature; 0 is greedy.")
    @argument("--top-p", type=float, help="Nucleus sampling mass in (0, 1].")
    @argument("--seed", "-s", type=int, help="Random seed, for a reproducible reply.")
    @argument("--model", "-m", help="Switch to this model: nano, a local directory, or a hub id.")
    @argument("--developer", "-d", help="Developer instructions for this and later turns.")
    @argument("--new", action="store_true", help="Start a new conversation before this prompt.")
    @argument("--out", "-o", help="Store the Reply in this variable.")
    @argument("--vars", action="store_true", help="Replace {name} in the prompt with variable values.")
    @argument("--capture", action="store_true", help="Record expert routing (always on for the bundled model).")
    @argument("--show", help=f"Figures to show after the reply, comma-separated: {', '.join(_FIGURES)}.")
    @argument(
        "--tools", help="Functions the model may call, by their names in the notebook, comma-separated; python too."
    )
    @argument("--tool-rounds", type=int, help="Most rounds of tool calls in one reply (default: 8).")
    @no_var_expand  # the option line is taken as typed: IPython would turn "costs $x" into "costs 5"
    @line_cell_magic
    def gptoss(self, line: str, cell: str | None = None) -> Any:
        """Ask the model the cell's text; or, as a line magic, manage the model.

        Cell: ``%%gptoss [--effort low|medium|high] [--max-tokens N] ...`` then the prompt.
        Line: ``%gptoss load MODEL [--device D] [--dtype T]``, ``%gptoss connect URL [--model NAME]
        [--timeout S]`` (a server: vLLM, Ollama, LM Studio, transformers serve), ``%gptoss reset``,
        ``%gptoss history``, ``%gptoss status``. A failed load or connect keeps the current model
        and the conversation. Bad input is one line; anything else keeps its traceback. The options
        line is read as typed: ``$name`` and ``{name}`` stay literal (``--vars`` fills ``{name}`` in the prompt).
        """
        if cell is None:
            return self._command(line)
        return self._ask(self._parse_options(line), cell)

    def _parse_options(self, line: str) -> argparse.Namespace:
        parser = self.gptoss.parser
        try:
            return parser.parse_args(_split(line))
        except UsageError as err:
            options = [o for o in parser._option_string_actions if o.startswith("--")]
            typos = [w for w in _split(line) if w.startswith("--") and w not in options]
            hints = [m for w in typos for m in difflib.get_close_matches(w, options, n=1)]
            fix = f"did you mean {hints[0]}?" if hints else "see %%gptoss? for the options"
            raise UsageError(f"{err}: {fix}") from None

    # -- the cell magic

    def _ask(self, args: argparse.Namespace, cell: str) -> None:
        from .render import LiveDisplay

        prompt = cell.strip()
        if not prompt:
            raise UsageError("the cell is empty: write your prompt on the lines below %%gptoss")
        if args.vars or self.interpolate:
            prompt = self._interpolate(prompt)
        options = {
            "effort": args.effort or self.effort,
            "max_new_tokens": args.max_tokens if args.max_tokens is not None else self.max_tokens,
            "temperature": args.temperature if args.temperature is not None else self.temperature,
            "top_p": args.top_p if args.top_p is not None else self.top_p,
            "seed": args.seed,
        }
        shows = _figure_names(args.show)
        tooling = {"tools": self._tools(args.tools)} if args.tools is not None else {}
        if args.tool_rounds is not None:
            tooling["max_tool_rounds"] = args.tool_rounds
        with one_line():
            check_generation(**options)  # before a --model switch loads anything
            if args.model and args.model != self.lab.model_name:
                self.lab.switch_model(args.model)  # on a server: another model there
                if "token_ids" in self.lab.capabilities:
                    self.model = args.model  # the default of later Labs is a local model's name
            if args.new:
                self.lab.reset()
            live = LiveDisplay()
            reply = self.lab.ask(
                prompt,
                developer=args.developer,
                capture=True if (args.capture or shows) else None,
                on_update=live.update,
                **tooling,
                **options,
            )
        self.last = reply
        if args.out:
            self.shell.user_ns[args.out] = reply
        self._show(reply, shows)

    @staticmethod
    def _show(reply: Any, names: list[str]) -> None:
        from IPython.display import display

        if names and reply.trace is None and getattr(reply, "server", ""):
            print(getattr(reply, "routing_note", "") or local_model_needed(reply.server))
            return
        if names and reply.trace is None:
            print("no routing was captured for this reply, so there is nothing to draw: add --capture")
            return
        for name in names:
            try:
                display(getattr(reply.trace, _FIGURES[name])())
            except ValueError as err:  # a served trace has no weights or logits: that figure says so, the rest draw
                print(f"--show {name}: {err}")

    def _tools(self, names: str) -> list[Any]:
        """``--tools a,b``: the notebook's objects of those names (functions, Tools, OpenAI dicts, or lists of
        them), and ``python`` for the model's python tool; ``--tools ""`` takes the tools away."""
        ns = self.shell.user_ns
        found: list[Any] = []
        for name in (n.strip() for n in names.split(",")):
            if not name:
                continue
            if name == "python":  # the model's own tool: its code runs in a kernel of its own
                found.append("python")
                continue
            if name not in ns:
                close = difflib.get_close_matches(name, [k for k in ns if callable(ns[k])], n=1)
                hint = f": did you mean {close[0]}?" if close else ": define the function in a cell above first"
                raise UsageError(f"--tools {name}: the notebook has no variable named {name}{hint}")
            value = ns[name]
            found += list(value) if isinstance(value, (list, tuple)) else [value]
        return found

    def _interpolate(self, prompt: str) -> str:
        """{name} -> str(value) for names defined in the notebook; anything else stays as written."""
        ns = self.shell.user_ns

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            return str(ns[name]) if name in ns else match.group(0)

        return _VAR_RE.sub(sub, prompt)

    # -- the line magic

    def _command(self, line: str) -> Any:
        words = _split(line)
        if not words:
            raise UsageError(f"%gptoss needs a command: {_COMMANDS} (or use %%gptoss with a prompt)")
        handler = getattr(self, f"_cmd_{words[0]}", None)
        if handler is None:
            raise UsageError(f"unknown command {words[0]!r}: use %gptoss {_COMMANDS}, or %%gptoss for a prompt")
        return handler(words[1:])

    def _cmd_load(self, words: list[str]) -> None:
        """``%gptoss load MODEL ...``: load it, then switch; on failure the current model and conversation stay."""
        parser = _LineParser("%gptoss load")
        parser.add_argument("model")
        parser.add_argument("--device")
        parser.add_argument("--dtype")
        parser.add_argument("--quant")
        parser.add_argument("--device-map")
        usage = (
            "%gptoss load MODEL [--device cpu|cuda] [--dtype float32|bfloat16] "
            "[--quant auto|mxfp4|bf16|bnb-4bit|bnb-8bit] [--device-map auto]"
        )
        opts = _command_options(parser, words, usage)
        with one_line():
            self.lab.load(
                opts.model, device=opts.device, dtype=opts.dtype, quant=opts.quant, device_map=opts.device_map
            )
        self.model = opts.model
        print(self._switched())

    def _cmd_connect(self, words: list[str]) -> None:
        """``%gptoss connect URL [--model NAME] [--api-key KEY] [--api chat|responses|ollama|completions]
        [--tokenizer DIR] [--timeout S]``."""
        usage = (
            f"%gptoss connect http://HOST:PORT/v1 [--model NAME] [--api-key KEY] [--api {'|'.join(DIALECTS)}] "
            "[--tokenizer DIR] [--timeout SECONDS]"
        )
        parser = _LineParser("%gptoss connect")
        parser.add_argument("url")
        parser.add_argument("--model")
        parser.add_argument("--api-key")
        parser.add_argument("--api", choices=list(DIALECTS))
        parser.add_argument("--tokenizer")
        parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
        opts = _command_options(parser, words, usage)
        options = {"api_key": opts.api_key, "api": opts.api or "auto", "timeout": opts.timeout}
        with one_line():  # the server is reached now: a wrong URL or model is said here, not at the first prompt
            self.lab.connect(opts.url, opts.model, tokenizer=opts.tokenizer, **options)
        print(self._switched())

    def _switched(self) -> str:
        turns = len(self.lab.replies)
        kept = "\n  (the conversation carries over: %gptoss reset starts a new one)" if turns else ""
        return f"{self.lab!r}{kept}"

    def _cmd_reset(self, words: list[str]) -> None:
        self.lab.reset()
        print("conversation cleared; the model stays loaded")

    def _cmd_history(self, words: list[str]) -> None:
        if not self.lab.history:
            print("no conversation yet")
        for turn in self.lab.history:
            print(f"{turn['role']}: {turn.get('content') or ''}")

    def _cmd_playground(self, words: list[str]) -> Any:
        """``%gptoss playground [--compare] [--effort E] [--tools NAMES] [--out NAME]``: the Playground over this Lab
        (``--out pg`` also stores it as ``pg``, for ``pg.reply`` and ``pg.replies`` later)."""
        parser = _LineParser("%gptoss playground")
        parser.add_argument("--compare", action="store_true")
        parser.add_argument("--effort", choices=EFFORTS)
        parser.add_argument("--out", "-o")
        parser.add_argument("--tools")
        usage = "%gptoss playground [--compare] [--effort low|medium|high] [--tools NAMES] [--out NAME]"
        opts = _command_options(parser, words, usage)
        tools = self._tools(opts.tools) if opts.tools is not None else None
        if opts.out is not None and not opts.out.isidentifier():
            raise UsageError(f"--out takes a variable name, got {opts.out!r}: for example --out pg")
        with one_line():
            from .widgets import Playground
        effort = opts.effort or self.effort
        playground = Playground(self.lab, effort=effort, compare=opts.compare, max_tokens=self.max_tokens, tools=tools)
        if opts.out is not None:
            self.shell.user_ns[opts.out] = playground
            print(
                f"the Playground is {opts.out}: {opts.out}.reply is its last reply, {opts.out}.replies every effort's"
            )
        else:
            print("to use it from code: pg = _ in the next cell, or %gptoss playground --out pg")
        return playground

    def _cmd_status(self, words: list[str]) -> None:
        print(repr(self.lab))
        print(
            f"  defaults: effort={self.effort} max_tokens={self._max_tokens_now()} "
            f"temperature={self.temperature} top_p={self.top_p}"
        )

    def _max_tokens_now(self) -> str:
        if self.max_tokens is not None:
            return str(self.max_tokens)
        return f"{self.lab.default_max_new_tokens(self.effort)} (by model and effort; at most the context's room)"


class _LineParser(argparse.ArgumentParser):
    """argparse for a line command: a bad line raises (argparse would exit the kernel's cell instead)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog=prog, add_help=False, exit_on_error=False)

    def error(self, message: str) -> NoReturn:  # e.g. a missing positional, which exit_on_error=False still exits on
        raise argparse.ArgumentError(None, message)


def _command_options(parser: argparse.ArgumentParser, words: list[str], usage: str) -> argparse.Namespace:
    """A line command's options, or a UsageError naming the bad option and the usage."""
    try:
        opts, extra = parser.parse_known_args(words)
    except argparse.ArgumentError as err:
        raise UsageError(f"{err}: use {usage}") from None
    if extra:
        raise UsageError(f"unknown options {extra}: use {usage}")
    return opts


@contextlib.contextmanager
def one_line() -> Iterator[None]:
    """A GptOssLabError (bad input, said in one line) becomes a UsageError; anything else keeps its traceback."""
    try:
        yield
    except GptOssLabError as err:
        raise UsageError(" ".join(str(err).split("\n"))) from None


def _figure_names(show: str | None) -> list[str]:
    names = [n.strip() for n in (show or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in _FIGURES]
    if unknown:
        raise UsageError(f"--show {','.join(unknown)} is not a figure: use --show {','.join(_FIGURES)}")
    return names


def _split(line: str) -> list[str]:
    """Shell-like split of the option line; an unclosed quote is a usage error, not a traceback."""
    try:
        return shlex.split(line)
    except ValueError as err:
        raise UsageError(f"{err} in the %gptoss options: close the quote") from None


def load_ipython_extension(ipython: Any) -> None:
    magics = GptOssMagics(shell=ipython)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)  # lets %config GptOssMagics.effort = "high" find it


def unload_ipython_extension(ipython: Any) -> None:
    ipython.configurables[:] = [c for c in ipython.configurables if not isinstance(c, GptOssMagics)]
