"""Playground: a prompt box, effort and sampling controls, Generate and Stop, the reply streaming in.

>>> pg = Playground()            # talks to %%gptoss's Lab, or a new Lab on the bundled nano
>>> pg                           # in a notebook: type a prompt, click Generate
>>> pg.reply.reasoning, pg.reply.answer

Generation runs in a background thread, so the kernel stays free to handle a click on Stop,
which sets the ``threading.Event`` that :meth:`gptoss_lab.Lab.ask` checks between tokens: the
reply ends ``stopped="interrupted"`` with what was written kept. Panels redraw at most
``1 / min_interval`` times a second, and always once more when the reply is done.

Each Generate is a new conversation unless "follow up" is ticked; then the earlier turns are sent,
shown (collapsed) with their count and tokens, and a warning appears as they near the model's context
(:class:`~gptoss_lab.widgets.conversation.ConversationView`). **New conversation** forgets them, as
``%gptoss reset`` does. Ctrl+Enter in the prompt box generates (:class:`~gptoss_lab.widgets.keys.SubmitKeys`).

"Compare efforts" answers one prompt at low, medium and high, one after another, side by side,
each from the same stated state (a new conversation, or with follow up the conversation as it is; the
line above the columns says which): the three replies land in ``pg.replies`` and the conversation is
left as it was (a comparison is not a turn).
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as widgets
from traitlets import Any as AnyTrait
from traitlets import Bool, Dict, Unicode, observe

from ..errors import GptOssLabError, OptionError
from ..options import DEFAULT_EFFORT, EFFORTS, check_effort, check_generation
from ..render import REDRAW_INTERVAL, Throttle, rounds_html, stats_line, stop_words
from ._common import (
    PLAYGROUNDS,
    answer_html,
    default_lab,
    error_html,
    labelled,
    muted_html,
    one_line,
    reasoning_html,
    require_widgets,
    switch,
    traceback_text,
)
from .conversation import ConversationView

__all__ = ["Playground"]

_FULL = widgets.Layout(width="100%")
#: what to do for a longer reply, in this widget's words (see :func:`gptoss_lab.render.stop_words`)
MORE_TOKENS = "set max tokens to {n} and Generate again"


class _Panel(widgets.VBox):
    """One reply: a title (compare mode), the reasoning, the answer, a stats line."""

    def __init__(self, title: str = "") -> None:
        self.title = widgets.HTML(f"<b>{title}</b>" if title else "")
        self.rounds = widgets.HTML("", layout=_FULL)  # with tools: the rounds before the last, in order
        self.reasoning = widgets.HTML(reasoning_html(None), layout=_FULL)
        self.answer = widgets.HTML(answer_html(None), layout=_FULL)
        self.stats = widgets.HTML("", layout=_FULL)
        self.reasoning.add_class("gptoss-reasoning")
        self.answer.add_class("gptoss-answer")
        self.stats.add_class("gptoss-stats")
        self.compact = bool(title)
        self.redraws = 0
        self.final_drawn = False
        parts = [self.title, self.rounds, self.reasoning, self.answer, self.stats]
        super().__init__(parts, layout=widgets.Layout(flex="1 1 0%"))

    def show(self, reply: Any) -> None:
        self.redraws += 1
        self.final_drawn = reply.done
        self.rounds.value = rounds_html(reply)
        self.reasoning.value = reasoning_html(reply)
        self.answer.value = answer_html(reply)
        self.stats.value = muted_html(_short_stats(reply) if self.compact else stats_line(reply, MORE_TOKENS))

    def skipped(self) -> None:
        self.stats.value = muted_html("not run: stopped before this effort")


def _short_stats(reply: Any) -> str:
    """Compare mode: what differs between the efforts, reasoning length and time, and an ending other than
    a plain finish (in the words of the full stats line)."""
    ending = "" if reply.stopped == "return" else f" · {stop_words(reply, MORE_TOKENS)}"
    return f"{reply.reasoning_tokens} reasoning tokens · {reply.stats.total_seconds:.1f} s{ending}"


class Playground(widgets.VBox):
    """A prompt box with effort, temperature, max tokens and seed; Generate, Stop; the reply as it streams.

    ``lab``: the :class:`gptoss_lab.Lab` to ask (default: ``%%gptoss``'s Lab, else a new nano Lab), local or
    on a server. ``tools``: functions the model may call (see :mod:`gptoss_lab.tools`); each round's
    reasoning, preamble, call and result show above the answer. Bad input and a busy Lab are one line in
    ``error``; a bug also leaves its ``traceback``.
    Replies are kept in the Lab's ``replies``; they are turns of its conversation only with "follow up".
    """

    reply = AnyTrait(None, allow_none=True, help="The last Reply (compare mode: the last effort that ran).")
    replies = Dict(help="effort -> Reply of the last run (three in compare mode).")
    running = Bool(False, help="True while a reply is generated in the background thread.")
    error = Unicode("", help="The last run's error as one line; empty when it went well.")
    traceback = Unicode("", help="The traceback when the last run failed on a bug (not on bad input).")

    def __init__(
        self,
        lab: Any = None,
        *,
        prompt: str = "",
        effort: str = DEFAULT_EFFORT,
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        compare: bool = False,
        routing: bool = False,
        tools: Any = None,
        min_interval: float = REDRAW_INTERVAL,
        **kwargs: Any,
    ) -> None:
        check_effort(effort)
        self.lab = lab if lab is not None else default_lab()
        #: what the model may call (as ``Lab.ask``'s ``tools``); None: the Lab's own (``lab.tools``)
        self.tools = tools
        self.min_interval = min_interval
        self.prompt = widgets.Textarea(value=prompt, placeholder="Ask the model…", rows=3, layout=_FULL)
        self.submit_keys = _submit_keys(self._submit)  # Ctrl+Enter in the prompt box generates (None without anywidget)
        if self.submit_keys is not None:
            self.prompt.placeholder = "Ask the model… (Ctrl+Enter generates)"
        self.effort = widgets.ToggleButtons(options=list(EFFORTS), value=effort)
        self.effort.style.button_width = "80px"  # the three fit on one line beside the switches
        # labels in HTML widgets and toggle buttons, never descriptions, which JupyterLab typesets as LaTeX
        # (the first one on a page loads MathJax: :func:`._common.labelled`)
        self.compare = switch("compare efforts (low, medium, high)", compare)
        self.live_routing = switch("live routing (local model)", routing)
        # off: every Generate is a new conversation, as the same question pressed twice should be
        self.follow_up = switch("follow up", False)
        # comparing runs every effort: the effort buttons would do nothing, so they say so by greying out
        self.effort.disabled = bool(compare)
        self.compare.observe(lambda change: setattr(self.effort, "disabled", bool(change.new)), names="value")
        self.routing_strip: Any = None  # built on first use: it needs plotly
        self.temperature = widgets.Text(_text(temperature))
        self.temperature.placeholder = "model's default"
        # empty: the Lab's default for the model and effort, which the placeholder shows
        self.max_tokens = widgets.Text(_text(max_tokens))
        self.seed = widgets.Text(_text(seed), placeholder="random")
        self.generate_button = widgets.Button(description="Generate", button_style="primary", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="warning", icon="stop", disabled=True)
        self.status = widgets.HTML("", layout=_FULL)
        self.conversation = ConversationView(self.lab)
        # what every effort answers from; a Layout of its own, as it is hidden outside compare mode
        self.compare_state = widgets.HTML("", layout=widgets.Layout(width="100%"))
        self.panels: list[_Panel] = [_Panel()]
        self.columns = widgets.HBox(self.panels, layout=_FULL)
        for widget, name in (
            (self.prompt, "gptoss-prompt"),
            (self.generate_button, "gptoss-generate"),
            (self.stop_button, "gptoss-stop"),
            (self.status, "gptoss-error"),
            (self.columns, "gptoss-columns"),
            (self.compare_state, "gptoss-compare-state"),
        ):
            widget.add_class(name)
        self.generate_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.conversation.button.on_click(lambda _: self.new_conversation())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        controls = [
            self.prompt,
            widgets.HBox([labelled("effort", self.effort, "auto"), self.compare, self.live_routing]),
            widgets.HBox(
                [
                    labelled("temperature", self.temperature, "10em"),
                    labelled("max tokens", self.max_tokens, "15em"),  # "auto: 4096 / 16384 / 32768" whole
                    labelled("seed", self.seed, "10em"),
                ]
            ),
            widgets.HBox(
                [self.generate_button, self.stop_button, self.follow_up, self.conversation.button],
                layout=widgets.Layout(flex_flow="row wrap"),  # on a narrow page a label wraps, never cut short
            ),
            self.conversation,
            self.status,
            self.compare_state,
            self.columns,
            *([self.submit_keys] if self.submit_keys is not None else []),
        ]
        super().__init__(controls, **kwargs)
        self.add_class("gptoss-playground")
        for control in (self.effort, self.compare, self.follow_up, self.max_tokens):
            control.observe(lambda _: self._refresh(), names="value")
        self._refresh()
        PLAYGROUNDS.add(self)

    # -- what the buttons do

    def start(self) -> bool:
        """Generate from the controls' values in a background thread (the Generate button).

        Returns False, with the reason in ``error``, when the input is invalid or a run is going on.
        """
        if self.running:
            return False
        try:
            prompt, options = self._read_controls()
        except GptOssLabError as err:
            self.error = str(err)
            return False
        efforts = tuple(EFFORTS) if self.compare.value else (self.effort.value,)
        self.panels = [_Panel(e if len(efforts) > 1 else "") for e in efforts]
        self.columns.children = self.panels
        self._stop = threading.Event()
        self.traceback = ""
        self.error = ""
        self.running = True
        self._thread = threading.Thread(
            target=self._run, args=(prompt, efforts, options), name="gptoss-playground", daemon=True
        )
        self._thread.start()
        return True

    def new_conversation(self) -> bool:
        """Forget the Lab's conversation, as ``%gptoss reset`` does, and clear the panels (the New conversation
        button). Returns False, doing nothing, while a reply is being written."""
        if self.running:
            return False
        self.lab.reset()
        self.panels = [_Panel()]
        self.columns.children = self.panels
        self.traceback = self.error = ""
        self._refresh()
        return True

    def _submit(self, text: str) -> None:
        """Ctrl+Enter in the prompt box: Generate, with the box's text as the browser has it."""
        self.prompt.value = text
        self.start()

    def stop(self) -> None:
        """End the reply being generated; its partial text is kept (the Stop button)."""
        self._stop.set()
        self.stop_button.disabled = True

    def join(self, timeout: float | None = None) -> Any:
        """Wait for the background run to end (scripts and tests); returns ``reply``."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.reply

    # -- the background thread

    def _run(self, prompt: str, efforts: tuple[str, ...], options: dict[str, Any]) -> None:
        done: dict[str, Any] = {}
        try:
            for effort, panel in zip(efforts, self.panels, strict=True):
                if self._stop.is_set():
                    panel.skipped()
                    continue
                if len(efforts) > 1:
                    reply = self._ask_in_place(prompt, effort, panel, options)
                else:
                    reply = self._ask(prompt, effort, panel, options, live=self.live_routing.value)
                done[effort] = reply
                self.replies = dict(done)
                self.reply = reply
        except GptOssLabError as err:  # bad input, a model that won't fit, a busy Lab: one line
            self.error = str(err)
        except Exception as err:  # a bug: no cell to raise into from this thread, so the widget shows its traceback
            self.traceback = traceback_text(err)
            self.error = one_line(err)
        finally:
            self.running = False
            self._refresh()

    def _ask(self, prompt: str, effort: str, panel: _Panel, options: dict[str, Any], live: bool = False) -> Any:
        throttle = Throttle(self.min_interval)
        strip = self._strip() if live else None
        attached = strip is not None and strip.attach(self.lab)

        def update(reply: Any) -> None:
            if throttle.ready(reply.done):
                panel.show(reply)
                if attached:
                    strip.show(len(reply.prompt_ids))

        try:
            reply = self.lab.ask(
                prompt, effort=effort, on_update=update, stop=self._stop, follow_up=self.follow_up.value, **options
            )
        finally:
            if attached:
                strip.detach()
        if not panel.final_drawn:  # a Lab that does not call back with the finished reply
            panel.show(reply)
        return reply

    def _strip(self) -> Any:
        """The live routing strip, added below the panels the first time it is asked for."""
        if self.routing_strip is None:
            require_widgets("plotly", "anywidget")
            from .routing_strip import RoutingStrip

            self.routing_strip = RoutingStrip()
            self.children = (*self.children, self.routing_strip)
        return self.routing_strip

    def _ask_in_place(self, prompt: str, effort: str, panel: _Panel, options: dict[str, Any]) -> Any:
        """Ask without moving the conversation on, so every effort answers from the same history."""
        history, replies = getattr(self.lab, "history", None), getattr(self.lab, "replies", None)
        marks = (len(history) if history is not None else 0, len(replies) if replies is not None else 0)
        try:
            return self._ask(prompt, effort, panel, options)
        finally:
            if history is not None:
                del history[marks[0] :]
            if replies is not None:
                del replies[marks[1] :]

    def _read_controls(self) -> tuple[str, dict[str, Any]]:
        prompt = self.prompt.value.strip()
        if not prompt:
            raise OptionError("the prompt is empty: type a question in the box, then click Generate")
        temperature = _parse(self.temperature.value, float, "temperature", "a number: 0 (greedy), or e.g. 0.7")
        seed = _parse(self.seed.value, int, "seed", "a whole number")
        options = {"max_new_tokens": self._limit(), "temperature": temperature, "seed": seed}
        check_generation(**options)  # the rules the Lab applies, said before the run starts
        if self.tools is not None:
            options["tools"] = self.tools
        return prompt, options

    def _limit(self) -> int | None:
        return _parse(self.max_tokens.value, int, "max tokens", "a whole number such as 2048")

    # -- keeping the controls in step

    def _refresh(self) -> None:
        """Say what the next Generate sends: the follow-up box's count of earlier turns, the conversation
        (while following up), what Compare answers from, the max tokens box's default."""
        n = self.conversation.n_turns
        turns = f"sends {n} earlier turn{'' if n == 1 else 's'}" if n else "no earlier turns yet"
        self.follow_up.description = f"follow up ({turns})"
        self.conversation.button.disabled = self.running
        try:
            limit = self._limit()
        except OptionError:  # said when Generate is clicked
            limit = None
        self.conversation.refresh(self.effort.value, limit, shown=self.follow_up.value)
        self.compare_state.layout.display = None if self.compare.value else "none"
        self.compare_state.value = muted_html(self._compare_state()) if self.compare.value else ""
        self._show_default_limit()

    def _compare_state(self) -> str:
        if not self.follow_up.value:
            state = "as a new conversation (no earlier turns sent: tick follow up to send them)"
        elif not self.conversation.n_turns:
            state = "from the same conversation, empty so far"
        else:
            state = f"after the same conversation: {self.conversation.count_text(self.effort.value)}"
        return f"Each effort answers {state}; the comparison is not added to the conversation."

    def _show_default_limit(self) -> None:
        """The max tokens box, left empty, says what limit the model and effort get."""
        if self.compare.value:
            limits = " / ".join(str(self.lab.default_max_new_tokens(e)) for e in EFFORTS)
            self.max_tokens.placeholder = f"auto: {limits}"  # low / medium / high, as the columns
        else:
            default = self.lab.default_max_new_tokens(self.effort.value)
            self.max_tokens.placeholder = f"auto: {default} at {self.effort.value}"

    @observe("running")
    def _running_changed(self, change: Any) -> None:
        self.generate_button.disabled = change.new
        self.stop_button.disabled = not change.new
        self.conversation.button.disabled = change.new

    @observe("error")
    def _error_changed(self, change: Any) -> None:
        self.status.value = error_html(change.new, self.traceback)


def _submit_keys(on_submit: Any) -> Any:
    """The hidden Ctrl+Enter listener, or None where anywidget is not installed (Generate still works)."""
    try:
        from .keys import SubmitKeys
    except ImportError:
        return None
    return SubmitKeys(on_submit)


def _text(value: float | None) -> str:
    return "" if value is None else str(value)


def _parse(text: str, kind: type, name: str, rule: str) -> Any:
    """An optional number typed in a box: empty -> None (the default), else ``kind(text)`` or a one-line error."""
    text = text.strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise OptionError(f"{name} must be {rule}, got {text!r}: or leave it empty for the default") from None
