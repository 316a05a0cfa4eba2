"""Lab: a conversation with one gpt-oss model, the API that the magics and the CLI share.

>>> lab = Lab()                      # names the model; loads nothing
>>> reply = lab.ask("What is 17 + 25?", effort="low")   # loads on first use, then streams
>>> reply.reasoning, reply.answer
>>> lab.ask("And times 2?")          # follow-up: harmony's multi-turn rules apply
>>> lab.reset()
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from .harmony import EFFORTS, StreamParser, render_prompt
from .model import ModelHandle
from .remote import RemoteClient, local_model_needed
from .reply import Reply

__all__ = ["Lab", "LabBusy"]

DEFAULT_MAX_NEW_TOKENS = 1024


class LabBusy(RuntimeError):
    """The Lab is already writing a reply (another thread, e.g. a Playground, asked first)."""


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
    ``api`` "auto" | "chat" | "responses" | "ollama" (see :mod:`gptoss_lab.remote`).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api: str = "auto",
        device: str | None = None,
        dtype: str | None = None,
        quant: str | None = None,
        device_map: str | dict[str, Any] | None = None,
        date: str | None = None,
        preflight: bool = True,
    ) -> None:
        self.remote: RemoteClient | None = None
        self.handle: ModelHandle | Any = None
        if base_url is not None:
            self.remote = RemoteClient(base_url, model, api_key=api_key, api=api)
        else:
            self.handle = ModelHandle(
                model or "nano", device=device, dtype=dtype, quant=quant, device_map=device_map, preflight=preflight
            )
        self.date = date
        self.developer: str | None = None
        self.history: list[dict[str, Any]] = []
        self.replies: list[Reply] = []
        self._busy = threading.Lock()

    def __repr__(self) -> str:
        turns = len(self.replies)
        what = f"{self.remote!r}\n  {local_model_needed()}" if self.remote else self.handle.describe()
        return f"Lab: {what}\n  conversation: {turns} turn{'s' * (turns != 1)}"

    @property
    def model_name(self) -> str:
        if self.remote is not None:
            return str(self.remote.model)
        return self.handle.source.name

    def load(self) -> Lab:
        """Load the model now instead of at the first prompt (a server: check that it answers)."""
        if self.remote is not None:
            self.remote.check()
        else:
            self.handle.load()
        return self

    def reset(self) -> None:
        """Forget the conversation (the model stays loaded)."""
        self.history.clear()
        self.replies.clear()
        self.developer = None

    def prompt_text(self, prompt: str, *, effort: str = "medium", developer: str | None = None) -> str:
        """The exact harmony text the model would see for ``prompt`` as the next turn."""
        identity = self.handle.source.identity if self.handle is not None else None
        dev = developer if developer is not None else self.developer
        messages = ([{"role": "developer", "content": dev}] if dev is not None else []) + self.history
        messages.append({"role": "user", "content": prompt})
        return render_prompt(messages, effort=effort, date=self.date, model_identity=identity)

    def ask(
        self,
        prompt: str,
        *,
        effort: str = "medium",
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        developer: str | None = None,
        capture: bool | None = None,
        on_update: Callable[[Reply], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Reply:
        """Send ``prompt`` as the next user turn and return the model's reply.

        ``temperature``/``top_p`` default to the model's recommendation (gpt-oss: 1.0 and 1.0;
        the bundled nano: greedy). ``developer`` sets instructions for this and later turns.
        ``capture`` records expert routing and attention summaries (sink mass, entropy) into
        ``reply.trace`` (default: on for the bundled model; off for others, whose traces are
        large). ``on_update`` is called with the growing Reply after each token. Ctrl-C (the
        notebook's stop button) ends the reply early: the partial reply is returned with
        ``stopped == "interrupted"``; so does setting ``stop`` (a ``threading.Event``) from
        another thread, which is how a widget's Stop button ends a reply generated in the background.
        With ``base_url`` the server generates: sampling options it does not take are its to ignore,
        and ``capture`` has nothing to record (``reply.trace`` is None).
        """
        if effort not in EFFORTS:
            raise ValueError(f"effort must be low, medium or high, got {effort!r}: use --effort low|medium|high")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        # one reply at a time: a Playground's background thread and a cell must not interleave their turns
        if not self._busy.acquire(blocking=False):
            raise LabBusy("this Lab is already writing a reply (in a Playground?): press Stop or wait, then ask")
        try:
            if developer is not None:
                self.developer = developer
            options = dict(
                effort=effort, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
            )
            if self.remote is not None:
                reply = self.remote.ask(
                    prompt, self.history, developer=self.developer, on_update=on_update, stop=stop, **options
                )
            else:
                reply = self._ask_local(prompt, capture=capture, on_update=on_update, stop=stop, **options)
            return self._finish(prompt, reply, on_update)
        finally:
            self._busy.release()

    def _ask_local(
        self,
        prompt: str,
        *,
        effort: str,
        max_new_tokens: int,
        temperature: float | None,
        top_p: float | None,
        seed: int | None,
        capture: bool | None,
        on_update: Callable[[Reply], None] | None,
        stop: threading.Event | None,
    ) -> Reply:
        from .generate import Sampling

        loaded = self.handle.load()
        sampling = Sampling(
            temperature=loaded.sampling["temperature"] if temperature is None else temperature,
            top_p=loaded.sampling["top_p"] if top_p is None else top_p,
            seed=seed,
        )
        prompt_ids = loaded.encode(self.prompt_text(prompt, effort=effort))
        reply = Reply(prompt, loaded.source.label, effort, prompt_ids=prompt_ids, untrained=not loaded.source.trained)
        reply.stats.prompt_tokens = len(prompt_ids)
        recorders = self._captures(loaded, capture)
        self._stream(loaded, reply, sampling, max_new_tokens, recorders, on_update, stop)
        if recorders and recorders[0].complete_calls > 0:
            from .capture import build_trace

            ids = prompt_ids + reply.completion_ids
            reply.trace = build_trace(recorders[0], loaded, ids, len(prompt_ids), attention=recorders[1])
        return reply

    def _finish(self, prompt: str, reply: Reply, on_update: Callable[[Reply], None] | None) -> Reply:
        self._remember(prompt, reply)
        if on_update is not None:
            with contextlib.suppress(KeyboardInterrupt):  # the reply is complete: a late stop click loses nothing
                on_update(reply)  # the final frame
        return reply

    @staticmethod
    def _stream(
        loaded: Any,
        reply: Reply,
        sampling: Any,
        max_new_tokens: int,
        recorders: list[Any],
        on_update: Any,
        stop: threading.Event | None,
    ) -> None:
        """Generate into ``reply`` token by token; Ctrl-C or ``stop`` ends it "interrupted". Hooks always come off."""
        from .generate import generate_ids

        parser = StreamParser(loaded.codec)
        call_id = loaded.codec.special_ids.get("<|call|>")
        stopped = "max_tokens"
        start = time.perf_counter()
        tokens = generate_ids(
            loaded.model,
            reply.prompt_ids,
            max_new_tokens=max_new_tokens,
            stop_ids=loaded.stop_ids,
            sampling=sampling,
            threads=loaded.threads,
        )
        try:
            for recorder in recorders:
                recorder.__enter__()
            for token in tokens:
                if stop is not None and stop.is_set():
                    stopped = "interrupted"
                    break
                reply.record(token, parser.feed(token), time.perf_counter() - start, parser.current)
                if token in loaded.stop_ids:
                    stopped = "call" if token == call_id else "return"
                if on_update is not None:
                    on_update(reply)
        except KeyboardInterrupt:
            stopped = "interrupted"
        finally:
            tokens.close()
            for recorder in recorders:
                recorder.remove()
        reply.close(stopped, parser.finish(), time.perf_counter() - start)

    @staticmethod
    def _captures(loaded: Any, capture: bool | None) -> list[Any]:
        """[routing, attention summaries] when asked for (or by default on the bundled model), else []."""
        from .capture import AttentionSummaryCapture, RoutingCapture, moe_layers

        if capture is False or (capture is None and loaded.source.kind != "nano"):
            return []
        if capture is None and not moe_layers(loaded.model):
            return []
        return [RoutingCapture(loaded.model), AttentionSummaryCapture(loaded.model)]

    def _remember(self, prompt: str, reply: Reply) -> None:
        """Append the turn to the conversation, as harmony's multi-turn rules expect.

        A turn that ended in a tool call keeps its analysis and calls; any other keeps its
        analysis as ``thinking`` (harmony drops it once a later final answer exists) and its
        final answer, partial if it was cut short.
        """
        turn: dict[str, Any] = {"role": "assistant", "content": reply.answer}
        if reply.reasoning and reply.stopped != "interrupted":
            turn["thinking"] = reply.reasoning
        calls = [{"name": m.recipient, "arguments": m.content} for m in reply.tool_calls]
        if calls:
            turn["tool_calls"] = calls
        self.history += [{"role": "user", "content": prompt}, turn]
        self.replies.append(reply)
