"""Lab: a conversation with one gpt-oss model, the API that the magics and the CLI share.

>>> lab = Lab()                      # names the model; loads nothing
>>> reply = lab.ask("What is 17 + 25?", effort="low")   # loads on first use, then streams
>>> reply.reasoning, reply.answer
>>> lab.ask("And times 2?")          # follow-up: harmony's multi-turn rules apply
>>> lab.load("openai/gpt-oss-20b")   # switch models: on failure the old one and the conversation stay
>>> lab.reset()

The Lab holds the conversation and one :class:`~gptoss_lab.backends.Backend` (a local model or a
server) and never asks which kind it is: what a backend can do is in ``lab.capabilities``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .backends import Backend, Turn
from .backends.local import LocalBackend
from .backends.server import ServerBackend
from .errors import ContextTooLongError, GptOssLabError, LabBusy, NeedsLocalModel, WontFitError, with_note
from .model import ModelHandle
from .options import DEFAULT_EFFORT, DEFAULT_TIMEOUT, DEFAULT_TOOL_ROUNDS, check_generation, check_text
from .python_tool import PythonTool
from .remote import RemoteClient
from .reply import Reply
from .tools import Tool, ToolRound, as_tools, run_call

__all__ = ["Lab", "LabBusy"]


class Lab:
    """A lazily loaded gpt-oss model and the conversation held with it.

    ``model``: ``"nano"`` (the bundled model), a local checkpoint directory, or a hub id such
    as ``"openai/gpt-oss-20b"``. ``device``/``dtype`` default to what fits (see ``repr``).
    ``date`` writes a ``Current date:`` line into the system message (None writes none).
    ``preflight`` refuses, before loading, a gpt-oss checkpoint that cannot fit in free memory.
    ``quant`` ("auto" | "mxfp4" | "bf16" | "bnb-4bit" | "bnb-8bit") and ``device_map`` ("auto":
    accelerate spreads the model over every GPU) go to the model handle; ``repr`` says what they resolve to.
    ``base_url`` talks to a server instead (vLLM, Ollama, LM Studio, ``transformers serve``):
    ``model`` is then the server's name for it (None: the one it serves), ``api_key`` its key,
    ``api`` "auto" | "chat" | "responses" | "ollama" | "completions" (harmony-exact: the prompt rendered
    here with the model's tokenizer, sent and read back as token ids; see :mod:`gptoss_lab.dialects`),
    ``tokenizer`` where harmony-exact mode reads that tokenizer (default: found on this disk if it can be),
    ``timeout`` the seconds to wait for any byte from it.
    Every option is checked here, before anything loads.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api: str = "auto",
        timeout: float = DEFAULT_TIMEOUT,
        tokenizer: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        quant: str | None = None,
        device_map: str | dict[str, Any] | None = None,
        date: str | None = None,
        preflight: bool = True,
    ) -> None:
        if base_url is not None:
            self.backend: Backend = ServerBackend(
                RemoteClient(base_url, model, api_key=api_key, api=api, timeout=timeout, tokenizer=tokenizer)
            )
        else:
            handle = ModelHandle(
                model or "nano", device=device, dtype=dtype, quant=quant, device_map=device_map, preflight=preflight
            )
            self.backend = LocalBackend(handle)
        self.date = date
        self.developer: str | None = None
        #: the tools the model may call (``ask(tools=...)`` sets them for later turns too)
        self.tools: list[Tool] = []
        self._python: PythonTool | None = None
        self.history: list[dict[str, Any]] = []
        self.replies: list[Reply] = []
        self._busy = threading.Lock()

    def __repr__(self) -> str:
        turns = len(self.replies)
        return f"Lab: {self.backend.describe()}\n  conversation: {turns} turn{'s' * (turns != 1)}"

    @property
    def model_name(self) -> str:
        return self.backend.name

    @property
    def capabilities(self) -> frozenset[str]:
        """What this Lab's backend can do: "routing", "attention", "token_ids" (none on a server)."""
        return self.backend.capabilities

    @property
    def context_length(self) -> int | None:
        """Tokens the model reads at most, prompt and reply together (None: not known)."""
        return self.backend.context_length

    @property
    def handle(self) -> ModelHandle | None:
        """The local model's handle (None when a server answers)."""
        return self.backend.handle

    # -- choosing the model: each switch is a transaction

    def load(self, model: str | None = None, **options: Any) -> Lab:
        """Load the model now (a server: check that it answers); or, given ``model``, switch to it.

        ``options``: ``device``, ``dtype``, ``quant``, ``device_map``, ``preflight`` as for :class:`Lab`.
        A switch checks and loads the new model first; only then does it replace the old one. On failure
        the old model and the conversation stay, and the error says so. The conversation carries over.
        """
        if model is None and not options:
            with self._exclusive(", so it cannot load a model now", "wait for the reply, then load"):
                self.backend.load()
            return self
        name = model if model is not None else self.backend.name  # options alone: the same model, loaded anew
        return self._switch(lambda: LocalBackend(ModelHandle(name, **options)))

    def connect(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        api: str = "auto",
        timeout: float = DEFAULT_TIMEOUT,
        tokenizer: str | None = None,
    ) -> Lab:
        """Switch to a server (see :class:`Lab`), after reaching it and reading its model list; a failure keeps
        the old model and the conversation."""
        client = (base_url, model)
        options = {"api_key": api_key, "api": api, "timeout": timeout, "tokenizer": tokenizer}
        return self._switch(lambda: ServerBackend(RemoteClient(*client, **options)))

    def switch_model(self, name: str) -> Lab:
        """Another model of the same kind: the same server for a server, a local model otherwise."""
        return self._switch(lambda: self.backend.with_model(name))

    def _switch(self, build: Callable[[], Backend]) -> Lab:
        with self._exclusive(", so it cannot switch models now", "wait for the reply, then switch"):
            kept = self._kept()
            try:
                backend = build()
                backend.load()  # config, files, memory preflight and weights; a server's model list
            except GptOssLabError as err:
                raise with_note(err, kept) from None
            except Exception as err:  # a bug keeps its traceback, with what was kept beside it
                if sys.version_info >= (3, 11):
                    err.add_note(kept)
                raise
            self.backend = backend
        return self

    def _kept(self) -> str:
        turns = len(self.replies)
        said = f"your {turns} earlier turn{'s' * (turns != 1)}" if turns else "the (empty) conversation"
        return f"kept {self.backend.label} and {said}"

    @property
    def python(self) -> PythonTool:
        """The kernel that runs the model's code when ``tools=["python"]`` (:mod:`gptoss_lab.python_tool`):
        ``lab.python.restart()`` for a fresh one, ``lab.python.timeout = 60`` for longer calls."""
        if self._python is None:
            self._python = PythonTool()
        return self._python

    def reset(self) -> None:
        """Forget the conversation (the model stays loaded)."""
        self.history.clear()
        self.replies.clear()
        self.developer = None
        self.tools = []
        if self._python is not None:
            self._python.close()  # a new conversation, a fresh kernel for the model's code

    # -- asking

    def default_max_new_tokens(self, effort: str = DEFAULT_EFFORT) -> int:
        """The token limit :meth:`ask` uses when given none: for nano 256 / 512 / 1280 at low / medium /
        high, for gpt-oss 4096 / 16384 / 32768 (``options.DEFAULT_MAX_NEW_TOKENS``); a reply is also kept
        within the context (a server's: half of it). This is the figure before the prompt is counted."""
        return self.backend.default_max_new_tokens(effort)

    def conversation_tokens(self, effort: str = DEFAULT_EFFORT) -> int | None:
        """Tokens the next prompt spends before its question: the system message and the conversation so far
        (past reasoning dropped, as harmony does), by the model's tokenizer; None on a server (it counts them)."""
        if "token_ids" not in self.capabilities:
            return None
        return len(self.backend.handle.encode(self.prompt_text("", effort=effort)))

    def prompt_text(self, prompt: str, *, effort: str = DEFAULT_EFFORT, developer: str | None = None) -> str:
        """The exact harmony text the model would see for ``prompt`` as the next turn."""
        return self._turn(prompt, developer).harmony(effort, self.backend.identity)

    def _turn(self, prompt: str, developer: str | None, tools: list[Tool] | None = None) -> Turn:
        dev = developer if developer is not None else self.developer
        offered = self.tools if tools is None else tools
        specs = tuple(t.spec() for t in offered if not t.raw)
        builtin = tuple((t.name, t.description) for t in offered if t.raw)
        return Turn(prompt, list(self.history), dev, self.date, specs, builtin)

    def ask(
        self,
        prompt: str,
        *,
        effort: str = DEFAULT_EFFORT,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        developer: str | None = None,
        capture: bool | None = None,
        on_update: Callable[[Reply], None] | None = None,
        stop: threading.Event | None = None,
        follow_up: bool = True,
        intervene: Any = None,
        tools: Sequence[Any] | None = None,
        max_tool_rounds: int = DEFAULT_TOOL_ROUNDS,
    ) -> Reply:
        """Send ``prompt`` as the next user turn and return the model's reply.

        ``follow_up=False`` asks it as a new conversation: the history is not sent, and the turn is
        not added to it (the reply is still in ``replies`` and ``last``).

        ``max_new_tokens`` (reasoning + answer) defaults to :meth:`default_max_new_tokens`: by model and
        effort, lowered to what the context leaves after the prompt.

        ``temperature``/``top_p`` default to the model's recommendation (gpt-oss: 1.0 and 1.0;
        the bundled nano: greedy). ``developer`` sets instructions for this and later turns.
        ``capture`` records expert routing and attention summaries (sink mass, entropy) into
        ``reply.trace`` (default: on for the bundled model; off for others, whose traces are
        large). ``on_update`` is called with the growing Reply after each token. Ctrl-C (the
        notebook's stop button) ends the reply early: the partial reply is returned with
        ``stopped == "interrupted"``; so does setting ``stop`` (a ``threading.Event``) from
        another thread, which is how a widget's Stop button ends a reply generated in the background.
        With ``base_url`` the server generates: sampling options it does not take are its to ignore,
        and ``capture`` has nothing to record (``reply.trace`` is None); a stream that breaks keeps what
        arrived (``stopped == "error"``, ``reply.error`` says why).
        ``intervene`` (a dict such as ``{"ablate_experts": {1: [3]}}``, or an
        :class:`~gptoss_lab.interventions.Interventions`) switches experts, sinks or heads off for this reply
        only (see :meth:`intervene`); ``reply.interventions`` and its display say what was on.
        ``tools`` (Python functions, :class:`~gptoss_lab.tools.Tool` or OpenAI tool dicts; see
        :mod:`gptoss_lab.tools`) are described to the model for this and later turns (``tools=[]`` takes them
        away): each call it makes is checked, run and answered, and it writes on, up to ``max_tool_rounds``
        rounds of calls; the reply returned is the last round's, the earlier ones in ``reply.tool_rounds``.
        A call to a tool given as a dict (nothing to run), Stop or Ctrl-C end the exchange with all of it kept.
        Options are checked before anything loads; a prompt that with ``max_new_tokens`` would not fit
        the model's context (ContextTooLongError) or, on a local model, the free memory (WontFitError) is
        refused before prefill, the conversation unchanged. Ctrl-C and ``stop`` end a long prompt pass too.
        """
        check_text("prompt", prompt)
        check_text("developer", developer, optional=True)
        options = check_generation(
            effort=effort, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
        )
        if intervene is not None:
            options = dataclasses.replace(options, interventions=self._interventions(intervene, {}))
        given = (
            as_tools([self.python.tool() if t == "python" else t for t in tools]) if tools is not None else self.tools
        )
        if not isinstance(max_tool_rounds, int) or isinstance(max_tool_rounds, bool) or max_tool_rounds < 1:
            raise ValueError(f"max_tool_rounds must be a whole number >= 1, got {max_tool_rounds!r}")
        # one reply at a time: a Playground's background thread and a cell must not interleave their turns
        with self._exclusive("", "press Stop or wait, then ask"):
            turn = self._turn(prompt, developer, given)
            if not follow_up:
                turn = dataclasses.replace(turn, history=[])
            reply = self._exchange(turn, options, given, max_tool_rounds, capture, on_update, stop)
            self.developer = turn.developer
            if tools is not None:
                self.tools = given
            return self._finish(prompt, reply, on_update, remember=follow_up)

    def _exchange(
        self,
        turn: Turn,
        options: Any,
        tools: list[Tool],
        max_rounds: int,
        capture: bool | None,
        on_update: Callable[[Reply], None] | None,
        stop: threading.Event | None,
    ) -> Reply:
        """Stream replies to ``turn``, running the tools each one calls and answering them, until one ends
        otherwise (an answer, Stop, the token limit, a call with nothing to run) or ``max_rounds`` have run.

        A round after the first that cannot start (the results made the prompt too long for the context or
        the memory) ends the exchange at the reply before it, its results kept and the reason in its error.
        """
        rounds: list[ToolRound] = []

        def shown(reply: Reply) -> None:  # every frame shows the rounds before it
            reply.tool_rounds = rounds
            if on_update is not None:
                on_update(reply)

        reply = self.backend.stream(turn, options, capture=capture, on_update=shown, stop=stop)
        while True:
            reply.tool_rounds = rounds
            calls = reply.tool_calls
            declared_only = {t.name for t in tools if t.function is None}  # an OpenAI dict: nothing to run
            named = [(c.recipient or "").removeprefix("functions.") for c in calls]
            if reply.stopped != "call" or not calls or not tools or declared_only.intersection(named):
                return reply
            if len(rounds) == max_rounds:
                reply.tool_limit = max_rounds
                return reply
            try:
                for call in calls:
                    if stop is not None and stop.is_set():
                        raise KeyboardInterrupt
                    if on_update is not None:  # between rounds: what has happened, and what runs now
                        on_update(_running(reply, rounds, call.recipient or ""))
                    reply.tool_results.append(run_call(tools, call.recipient or "", call.content))
            except KeyboardInterrupt:  # Stop or Ctrl-C while a tool ran: keep what came back, stop here
                reply.stopped = "interrupted"
                return reply
            done = ToolRound(reply, reply.tool_results)
            turn = dataclasses.replace(turn, tail=(*turn.tail, *_round_messages(done)))
            rounds.append(done)  # before the next round streams: its frames show this one
            try:
                reply = self.backend.stream(turn, options, capture=capture, on_update=shown, stop=stop)
            except (ContextTooLongError, WontFitError) as err:
                rounds.pop()
                reply.tool_rounds = rounds
                reply.stopped, reply.error = "error", f"the next round did not start: {err}"
                return reply

    @contextlib.contextmanager
    def intervene(self, spec: Any = None, /, **kinds: Any) -> Iterator[Any]:
        """Switch experts, sinks or heads off around any call: every reply (``ask``, ``eval``, a Playground's)
        and model run inside the block sees them, and they are undone on leaving it (errors and Ctrl-C too).

        >>> with lab.intervene(ablate_experts={1: [3]}, heads_off={2: [0]}):
        ...     lab.ask("What is 17 + 25?")

        Keywords (or a dict / :class:`~gptoss_lab.interventions.Interventions` as ``spec``):
        ``ablate_experts={layer: [expert, ...]}``, ``force_experts={layer: [top_k experts]}``,
        ``sinks=scale`` or ``{layer: scale}`` (0: off), ``heads_off={layer: [head, ...]}``; which path each
        takes is in :mod:`gptoss_lab.interventions`. Checked against the model's config before it loads;
        a server has no weights to change (NeedsLocalModel). Yields the applied intervention.
        """
        from .interventions import apply

        checked = self._interventions(spec, kinds)
        applied = None
        try:
            with self.local_model("switch an intervention on") as loaded:  # not while a reply is being written
                applied = apply(loaded.model, checked)
                applied.__enter__()
            yield applied
        finally:
            if applied is not None:
                applied.remove()

    def _interventions(self, spec: Any, kinds: dict[str, Any]) -> Any:
        """``spec`` and ``kinds`` as one Interventions, checked against the config when it is known."""
        from .interventions import Interventions, Shape

        if "interventions" not in self.capabilities:
            raise NeedsLocalModel(
                f"interventions change the model's weights and hooks, and {self.backend.label} runs elsewhere: "
                "use a local model, Lab('nano') or Lab('openai/gpt-oss-20b')"
            )
        checked = Interventions.of(spec, **kinds)
        config = self.handle.config if self.handle is not None else None
        shape = Shape.of_config(config) if config else None
        return checked.check(shape) if shape is not None and checked else checked

    @contextlib.contextmanager
    def local_model(self, purpose: str = "read the model") -> Iterator[Any]:
        """The loaded local model, held while no reply is written (a server: NeedsLocalModel).

        For views that run the model themselves (attention recompute, the logit lens): they take the
        same lock as :meth:`ask`, so a click never runs the model that a Playground is generating with.
        """
        with self._exclusive(f", so it cannot {purpose} now", "wait for the reply or press Stop, then try again"):
            yield self.backend.local_model()

    @contextlib.contextmanager
    def _exclusive(self, what: str, fix: str) -> Iterator[None]:
        """Hold the Lab's lock for one reply, switch or model read; refuse at once (LabBusy) if it is held."""
        if not self._busy.acquire(blocking=False):
            raise LabBusy(f"this Lab is already writing a reply (in a Playground?){what}: {fix}")
        try:
            yield
        finally:
            self._busy.release()

    def _finish(
        self, prompt: str, reply: Reply, on_update: Callable[[Reply], None] | None, *, remember: bool = True
    ) -> Reply:
        if remember:
            self._remember(prompt, reply)
        else:
            self.replies.append(reply)
        if on_update is not None:
            with contextlib.suppress(KeyboardInterrupt):  # the reply is complete: a late stop click loses nothing
                on_update(reply)  # the final frame
        if reply.trace is not None and _in_kernel():
            from .widgets import prewarm_explorer

            prewarm_explorer()  # a notebook's next step may be reply.explore()
        return reply

    def _remember(self, prompt: str, reply: Reply) -> None:
        """Append the turn to the conversation, as harmony's multi-turn rules expect.

        A turn that ended in a tool call keeps its analysis and calls; any other keeps its
        analysis as ``thinking`` (harmony drops it once a later final answer exists) and its
        final answer, partial if it was cut short.
        """
        rounds = [m for r in reply.tool_rounds for m in _round_messages(r)]
        answered = [r.message() for r in reply.tool_results]  # calls that ran before a Stop
        self.history += [{"role": "user", "content": prompt}, *rounds, _assistant_turn(reply), *answered]
        self.replies.append(reply)


def _in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (where an Explorer can be shown), not a terminal or a script."""
    shell = sys.modules.get("IPython")
    try:
        ip = shell.get_ipython() if shell is not None else None
    except Exception:  # no IPython, no kernel
        return False
    return ip is not None and getattr(ip, "kernel", None) is not None


def _running(reply: Reply, rounds: list[ToolRound], recipient: str) -> Reply:
    """A frame for the display while a tool runs: the rounds so far, this one's calls and results."""
    frame = Reply(reply.prompt, reply.model, reply.effort, status=f"running {recipient}…")
    frame.tool_rounds = [*rounds, ToolRound(reply, reply.tool_results)]
    return frame


def _assistant_turn(reply: Reply) -> dict[str, Any]:
    """One reply as a chat dict for the history: its answer, its reasoning (unless it was cut short), its
    preamble and calls."""
    turn: dict[str, Any] = {"role": "assistant", "content": reply.answer}
    if reply.reasoning and reply.stopped not in ("interrupted", "error", "incomplete"):
        turn["thinking"] = reply.reasoning
    if reply.preamble:
        turn["preamble"] = reply.preamble
    calls = [{"name": m.recipient, "arguments": m.content} for m in reply.tool_calls]
    if calls:
        turn["tool_calls"] = calls
    return turn


def _round_messages(done: ToolRound) -> list[dict[str, Any]]:
    """A round of calls as harmony's history has it: the reply that called, then each tool's answer."""
    return [_assistant_turn(done.reply), *(r.message() for r in done.results)]
