"""Reply: one assistant turn, its reasoning apart from its answer, with timings.

A Reply is filled token by token while the model streams (``done`` is False until it
stops) and displays itself in a notebook through :mod:`gptoss_lab.render`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .harmony import ContentDelta, Event, Message, MessageEnd, MessageStart

__all__ = ["Reply", "Stats"]

#: why a reply ended; "error" (a broken stream, ``Reply.error`` says how) and "incomplete" (a stream that
#: ended without saying it was done) keep what arrived
STOP_REASONS = ("return", "call", "max_tokens", "interrupted", "error", "incomplete")


@dataclass
class Stats:
    """Token counts and timings of one reply (seconds measured from the request).

    ``reasoning_tokens`` / ``answer_tokens`` count every token of the analysis / final
    messages, headers and terminators included. ``tokens_per_second`` is the decode rate:
    tokens after the first, over the time after the first.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    seconds_to_first_token: float | None = None
    reasoning_seconds: float | None = None
    total_seconds: float = 0.0
    tokens_per_second: float | None = None
    #: seconds spent loading the weights before this reply (the first reply of a lazily loaded model)
    load_seconds: float | None = None

    def __repr__(self) -> str:  # seconds to the millisecond, not 16 digits
        parts = [
            f"{f.name}={round(v, 3) if isinstance(v, float) else v!r}"
            for f in fields(self)
            if (v := getattr(self, f.name)) is not None
        ]
        return f"Stats({', '.join(parts)})"


@dataclass
class Reply:
    """The model's reply to one prompt. ``reasoning`` is the analysis channel, ``answer`` the final."""

    prompt: str
    model: str
    effort: str
    prompt_ids: list[int] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    stopped: str | None = None
    #: what went wrong when ``stopped == "error"``, as one line
    error: str | None = None
    trace: Any = None
    untrained: bool = False
    #: what is happening before the first token ("loading gpt-oss-nano…"), "" once tokens flow
    status: str = ""
    #: the token limit it ran under, and the most new tokens the model's context left it (None: not known)
    max_new_tokens: int | None = None
    room: int | None = None
    #: the interventions in effect while it was written (:func:`gptoss_lab.interventions.active`), [] for none
    interventions: list[dict[str, Any]] = field(default_factory=list)
    #: what a local model sampled it with: {"temperature", "top_p", "seed"} as resolved ({} where not known)
    sampling: dict[str, Any] = field(default_factory=dict)
    #: with tools: the earlier rounds of this turn (each a reply that ended in calls, and their results)
    tool_rounds: list[Any] = field(default_factory=list)
    #: with tools: what this reply's own calls returned (:class:`~gptoss_lab.tools.ToolResult`), as they ran
    tool_results: list[Any] = field(default_factory=list)
    #: the round limit, when it ended the exchange with a call still unanswered (None otherwise)
    tool_limit: int | None = None
    _partial: Message | None = field(default=None, repr=False)
    _pending_tokens: int = field(default=0, repr=False)

    # -- what users read

    @property
    def done(self) -> bool:
        return self.stopped is not None

    @property
    def reasoning(self) -> str:
        """The analysis channel's text (the model's reasoning), so far; code it sends to its python tool,
        in that channel too, is a tool call (:attr:`tool_calls`), not reasoning."""
        return "\n\n".join(m.content for m in self._all_messages() if m.channel == "analysis" and not m.recipient)

    @property
    def answer(self) -> str:
        """The final channel's text, so far (plus any text the model wrote outside a channel)."""
        return "".join(
            m.content
            for m in self._all_messages()
            if m.channel == "final" or (m.channel is None and m.role == "assistant" and not m.recipient)
        )

    @property
    def preamble(self) -> str:
        """Commentary-channel text addressed to no tool: what the model tells the user before a tool
        call ("Let me check the weather…"); "" when there is none."""
        return "\n\n".join(
            m.content
            for m in self._all_messages()
            if m.channel == "commentary" and not m.recipient and m.role == "assistant"
        )

    @property
    def malformed(self) -> list[str]:
        """Headers that did not parse, as the model wrote them (their messages are placed by best guess)."""
        return [m.header for m in self._all_messages() if m.malformed and m.header]

    @property
    def tool_calls(self) -> list[Message]:
        """Messages addressed to a tool (``recipient`` like ``functions.get_weather``)."""
        return [m for m in self._all_messages() if m.recipient and m.role == "assistant"]

    @property
    def reasoning_tokens(self) -> int:
        """Tokens of reasoning so far, the message being written included."""
        return self.stats.reasoning_tokens + (self._pending_tokens if self.thinking else 0)

    @property
    def answer_tokens(self) -> int:
        """Tokens of the answer so far, the message being written included."""
        writing = not self.done and self._partial is not None and self._partial.channel == "final"
        return self.stats.answer_tokens + (self._pending_tokens if writing else 0)

    @property
    def stopped_while_reasoning(self) -> bool:
        """True when the token limit ended the reply during its reasoning, before any answer."""
        return self.stopped == "max_tokens" and not self.answer and bool(self.reasoning)

    @property
    def thinking(self) -> bool:
        """True while the model is writing its reasoning."""
        return not self.done and self._partial is not None and self._partial.channel == "analysis"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "effort": self.effort,
            "prompt": self.prompt,
            "reasoning": self.reasoning,
            "answer": self.answer,
            "stopped": self.stopped,
            "error": self.error,
            "stats": asdict(self.stats),
            "interventions": self.interventions,
            "messages": [asdict(m) for m in self._all_messages()],
            "tool_rounds": [
                {
                    "reasoning": r.reply.reasoning,
                    "preamble": r.reply.preamble,
                    "calls": [{"recipient": m.recipient, "arguments": m.content} for m in r.reply.tool_calls],
                    "results": [asdict(x) for x in r.results],
                }
                for r in self.tool_rounds
            ],
            "tool_results": [asdict(x) for x in self.tool_results],
            "tool_limit": self.tool_limit,
        }

    def explore(self, lab: Any = None) -> Any:
        """An Explorer widget: this reply's tokens; click one for its routing path and attention.

        ``lab``: the Lab whose model wrote the reply, for the attention recompute (found when omitted).
        Needs ``pip install 'gptoss-lab[widgets]'``.
        """
        from .widgets import Explorer

        return Explorer(self, lab=lab)

    def _all_messages(self) -> list[Message]:
        return [*self.messages, self._partial] if self._partial is not None else self.messages

    # -- display

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from .render import reply_html, reply_text

        return {"text/html": reply_html(self), "text/plain": reply_text(self)}

    def __repr__(self) -> str:
        from .render import reply_text

        return reply_text(self)

    # -- filled by the generation loop

    def record(self, token: int, events: list[Event], elapsed: float, current: Message | None) -> None:
        """Account one generated token and the parser events it produced."""
        if not self.completion_ids:
            self.stats.seconds_to_first_token = elapsed
        self.completion_ids.append(token)
        self._pending_tokens += 1
        self._apply(events, elapsed)
        self._partial = current
        self._time(elapsed)

    def close(self, stopped: str, events: list[Event], elapsed: float) -> None:
        """The stream ended: apply the parser's last events and fix the stats."""
        if stopped not in STOP_REASONS:
            raise ValueError(f"stopped must be one of {STOP_REASONS}, got {stopped!r}")
        self._apply(events, elapsed)
        self._partial = None
        self.stopped = stopped
        self._time(elapsed)

    def _apply(self, events: list[Event], elapsed: float) -> None:
        for event in events:
            if isinstance(event, MessageEnd):
                self.messages.append(event.message)
                n, self._pending_tokens = self._pending_tokens, 0
                if event.message.channel == "analysis":
                    self.stats.reasoning_tokens += n
                    self.stats.reasoning_seconds = elapsed
                elif event.message.channel == "final":
                    self.stats.answer_tokens += n
            elif not isinstance(event, (MessageStart, ContentDelta)):  # pragma: no cover - exhaustive
                raise TypeError(event)

    def _time(self, elapsed: float) -> None:
        self.stats.completion_tokens = self._completed()
        self.stats.total_seconds = elapsed
        self._rate(elapsed)

    def _completed(self) -> int:
        """Tokens generated so far (a server's reply counts what its stream stood for)."""
        return len(self.completion_ids)

    def _rate(self, elapsed: float) -> None:
        s = self.stats
        if s.seconds_to_first_token is not None and s.completion_tokens > 1 and elapsed > s.seconds_to_first_token:
            s.tokens_per_second = (s.completion_tokens - 1) / (elapsed - s.seconds_to_first_token)
