"""Reply -> HTML and plain text, and a throttled live display for streaming.

The HTML is self-contained (inline styles, no script, no network) so a saved notebook shows
the final reply without a kernel. Every piece of model or user text goes through
:func:`escape`: a reply that contains ``<script>`` shows as text, and one with a right-to-left
override shows a marker (⟨U+202E⟩) instead of reversing what follows. The widgets build their
panels from the same parts (labels, answer text, stats line, malformed headers, :class:`Throttle`).
"""

from __future__ import annotations

import html
import re
import time
from typing import Any

from .reply import Reply

__all__ = [
    "MORE_TOKENS",
    "NO_ANSWER",
    "REDRAW_INTERVAL",
    "LiveDisplay",
    "Throttle",
    "answer_text",
    "escape",
    "intervention_line",
    "malformed_html",
    "malformed_text",
    "reply_html",
    "reply_text",
    "result_html",
    "rounds_html",
    "show_bidi",
    "stats_line",
    "steps_html",
    "stop_words",
    "tool_calls_text",
    "tool_limit_line",
]

#: Seconds between redraws of a streaming reply: each sends the whole reply to the browser, and ~15 a
#: second keeps the front end responsive without looking jerky (streaming calls back on every token).
REDRAW_INTERVAL = 1 / 15
NO_ANSWER = "(no final answer)"

_STOP_WORDS = {
    "return": "finished",
    "call": "stopped at a tool call",
    "max_tokens": "stopped at the token limit (raise --max-tokens)",
    "interrupted": "interrupted - partial reply kept",
    "error": "broke off - partial reply kept",
    "incomplete": "the stream ended without a finish reason - the reply may be cut short",
}

#: What to type for a longer reply; a shell with another way to say it passes its own (the Playground's box).
MORE_TOKENS = "run again with --max-tokens {n}"

_BOX = "font-family:var(--jp-ui-font-family,system-ui,sans-serif);max-width:100%;margin:2px 0"
_SUMMARY = "cursor:pointer;color:var(--jp-ui-font-color1,#4a4a4a);font-size:0.95em;user-select:none"
_REASONING = (
    "white-space:pre-wrap;word-break:break-word;color:var(--jp-content-font-color2,#555);font-size:0.92em;"
    "border-left:3px solid var(--jp-border-color1,#c9c9d6);margin:4px 0 8px 4px;padding:2px 10px;font-style:italic"
)
_ANSWER = "white-space:pre-wrap;word-break:break-word;font-size:1.05em;line-height:1.45;margin:6px 0"
_STATS = "color:var(--jp-ui-font-color2,#6e6e6e);font-size:0.85em;margin-top:4px"
_STEP_LABEL = "display:block;font-size:0.8em;color:var(--jp-ui-font-color2,#6e6e6e);font-family:inherit"
_PREAMBLE = (
    "white-space:pre-wrap;word-break:break-word;margin:4px 0;padding:2px 10px;"
    "border-left:3px solid var(--jp-warn-color1,#e0a030)"
)
_CALL = (
    "white-space:pre-wrap;word-break:break-word;margin:4px 0;padding:2px 10px;"
    "font-family:var(--jp-code-font-family,monospace);font-size:0.92em;"
    "border-left:3px solid var(--jp-brand-color1,#1f77b4)"
)
_RESULT = (
    "white-space:pre-wrap;word-break:break-word;margin:4px 0 4px 14px;padding:2px 10px;"
    "font-family:var(--jp-code-font-family,monospace);font-size:0.92em;"
    "border-left:3px solid var(--jp-success-color1,#2ca02c)"
)
_RESULT_ERROR = _RESULT.replace("var(--jp-success-color1,#2ca02c)", "var(--jp-error-color1,#d62728)")
_WARN = "color:var(--jp-warn-color0,#a15c00);font-size:0.85em"


#: Unicode's invisible controls of text direction: the embeddings, overrides and isolates (U+202A-U+202E,
#: U+2066-U+2069) and the marks (U+200E, U+200F, U+061C). Any of them in model text would silently reorder
#: what follows on screen ("abc\u202edef" shows "abcfed"), so the HTML shows each as a marker, ⟨U+202E⟩.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def show_bidi(text: str) -> str:
    """``text`` with each bidirectional control replaced by a visible marker such as ⟨U+202E⟩."""
    return BIDI_CONTROLS.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", text)


def escape(text: str) -> str:
    """``text`` for HTML: escaped (markup shows as text) and its bidirectional controls made visible."""
    return html.escape(show_bidi(text), quote=True)


def reasoning_label(reply: Reply) -> str:
    """ "Thinking…" while the model reasons, then "Thought for 2.1 s · 57 tokens"."""
    n = reply.reasoning_tokens
    if reply.thinking or (not reply.done and not reply.answer):
        return f"Thinking… {n} tokens" if n else "Thinking…"
    seconds = reply.stats.reasoning_seconds
    if seconds is None:
        return f"Thought · {n} tokens"
    return f"Thought for {seconds:.1f} s · {n} tokens"


def stats_line(reply: Reply, more: str = MORE_TOKENS) -> str:
    """One line: model, effort, token counts, timings, how it ended (``more``: see :func:`stop_words`)."""
    s = reply.stats
    parts = [reply.model, f"effort {reply.effort}", f"{s.prompt_tokens} prompt tokens"]
    if reply.tool_rounds:  # the counts below are the last round's
        calls = sum(len(r.results) for r in reply.tool_rounds)
        parts.append(f"round {len(reply.tool_rounds) + 1}, after {calls} tool call{'s' * (calls != 1)}")
    parts.append(f"{reply.reasoning_tokens} reasoning + {reply.answer_tokens} answer tokens")  # live while streaming
    if s.seconds_to_first_token is not None:
        parts.append(f"first token {s.seconds_to_first_token:.2f} s")
    parts.append(f"{s.total_seconds:.1f} s")
    if s.load_seconds is not None:
        parts.append(f"loaded in {s.load_seconds:.1f} s first")
    if s.tokens_per_second:
        parts.append(f"{s.tokens_per_second:.1f} tok/s")
    parts.append(reply.status if reply.status and not reply.completion_ids else stop_words(reply, more))
    if reply.error:
        parts.append(reply.error)
    note = getattr(reply, "token_note", "")  # a server's reply: where its token counts come from
    if note:
        parts.append(note)
    return " · ".join(parts)


def stop_words(reply: Reply, more: str = MORE_TOKENS) -> str:
    """How the reply ended, in words ("finished", "interrupted - partial reply kept", ...), or "streaming…".

    A reply the token limit cut off while it was still reasoning says so, with a limit to try: four times
    this one, within what the context leaves (``more`` says how to ask for it, ``{n}`` the number).
    """
    if not reply.stopped_while_reasoning:
        return _STOP_WORDS.get(reply.stopped or "", "streaming…")
    n = reply.max_new_tokens or reply.stats.completion_tokens
    larger = 4 * n if reply.room is None else min(4 * n, reply.room)
    said = f"stopped at {n} tokens while still reasoning (no answer yet)"
    if larger <= n:
        return f"{said}; the context has no room for more: try a lower effort, a shorter prompt or a new conversation"
    return f"{said}: {more.format(n=larger)}"


def tool_calls_text(reply: Reply) -> str:
    return "\n".join(f"→ {m.recipient}({m.content})" for m in reply.tool_calls)


def answer_text(reply: Reply) -> str:
    """The final channel's text ("" when there is none)."""
    return reply.answer


def steps_html(reply: Reply) -> str:
    """What the model did between reasoning and answer, each step labelled: its preamble to the user
    (commentary channel) and each tool call, escaped and never typeset ("" when there is neither)."""
    out = []
    if reply.preamble:
        out.append(
            f'<div class="gptoss-preamble" style="{_PREAMBLE}"><span style="{_STEP_LABEL}">'
            f"preamble (commentary channel, for the user)</span>{escape(reply.preamble)}</div>"
        )
    for m in reply.tool_calls:
        out.append(
            f'<div class="gptoss-tool-call" style="{_CALL}"><span style="{_STEP_LABEL}">tool call (commentary '
            f"channel)</span>→ {escape(m.recipient or '')}({escape(m.content)})</div>"
        )
    return "".join(out)


def result_html(result: Any) -> str:
    """One tool result (:class:`~gptoss_lab.tools.ToolResult`), labelled, escaped, never typeset."""
    style = _RESULT if result.ok else _RESULT_ERROR
    label = f"tool result · {result.source} · {result.seconds:.2f} s" + (" · cut" if result.truncated else "")
    return (
        f'<div class="gptoss-tool-result" style="{style}"><span style="{_STEP_LABEL}">{escape(label)}</span>'
        f"{escape(result.output)}</div>"
    )


def rounds_html(reply: Reply) -> str:
    """The earlier rounds of a turn with tools, in order: each round's reasoning (collapsed), preamble,
    calls and their results ("" without tools)."""
    out = []
    for number, r in enumerate(reply.tool_rounds, 1):
        out.append(f'<div class="gptoss-tool-round" data-round="{number}">')
        out.append(_reasoning_html(r.reply, label=f"round {number} · "))
        out.append(steps_html(r.reply))
        out += [result_html(x) for x in r.results]
        out.append("</div>")
    return "".join(out)


def _reasoning_html(reply: Reply, label: str = "") -> str:
    if not (reply.reasoning or reply.thinking):
        return ""
    is_open = " open" if not reply.done else ""
    return (
        f'<details class="gptoss-reasoning"{is_open}><summary style="{_SUMMARY}">'
        f'<span title="the analysis channel: the model\'s reasoning, not its answer">'
        f"{escape(label + reasoning_label(reply))}</span></summary>"
        f'<div class="gptoss-reasoning-text" style="{_REASONING}">{escape(reply.reasoning)}</div></details>'
    )


def tool_limit_line(reply: Reply) -> str:
    """What to type when the round limit ended an exchange with tools ("" when it did not)."""
    if reply.tool_limit is None:
        return ""
    return (
        f"stopped after {reply.tool_limit} rounds of tool calls with a call unanswered: "
        f"ask again with max_tool_rounds={2 * reply.tool_limit} (--tool-rounds {2 * reply.tool_limit})"
    )


def malformed_text(reply: Reply) -> str:
    """The headers the parser could not read, one per line, exactly as written."""
    return "\n".join(reply.malformed)


def intervention_line(reply: Reply) -> str:
    """ "intervention: expert 3 off in layer 1" when experts, sinks or heads were switched off, else ""."""
    from .interventions import summary

    said = summary(reply.interventions) if reply.interventions else ""
    return f"intervention: {said}" if said else ""


def reply_html(reply: Reply) -> str:
    """The reply as HTML: the reasoning collapsible and labelled, the answer prominent below."""
    out = [f'<div class="gptoss-reply mathjax_ignore tex2jax_ignore" style="{_BOX}">']
    if reply.untrained:
        out.append(f'<div style="{_WARN}">untrained model: random weights, the text is noise</div>')
    if intervention_line(reply):
        out.append(f'<div class="gptoss-intervention" style="{_WARN}">{escape(intervention_line(reply))}</div>')
    out.append(rounds_html(reply))
    label = f"round {len(reply.tool_rounds) + 1} · " if reply.tool_rounds else ""
    out.append(_reasoning_html(reply, label=label))
    out.append(steps_html(reply))
    out += [result_html(x) for x in reply.tool_results]  # its calls that ran before a Stop
    if tool_limit_line(reply):
        out.append(f'<div class="gptoss-tool-limit" style="{_WARN}">{escape(tool_limit_line(reply))}</div>')
    answer = answer_text(reply)
    if answer:
        out.append(f'<div class="gptoss-answer" style="{_ANSWER}">{escape(answer)}</div>')
    elif reply.done:
        out.append(f'<div class="gptoss-answer" style="{_STATS}">{NO_ANSWER}</div>')
    out.append(malformed_html(reply))
    out.append(f'<div class="gptoss-stats" style="{_STATS}">{escape(stats_line(reply))}</div></div>')
    return "".join(out)


def malformed_html(reply: Reply) -> str:
    """The headers the parser could not read, escaped, in a labelled block ("" when there are none)."""
    if not reply.malformed:
        return ""
    return (
        f'<div class="gptoss-malformed" style="{_WARN};white-space:pre-wrap" title="kept as the model wrote '
        f'them">malformed harmony headers:\n{escape(malformed_text(reply))}</div>'
    )


def reply_text(reply: Reply) -> str:
    """The reply as plain text (terminals, and notebooks that cannot show HTML)."""
    lines = []
    if reply.untrained:
        lines.append("[untrained model: random weights, the text is noise]")
    if intervention_line(reply):
        lines.append(f"[{intervention_line(reply)}]")
    for number, r in enumerate(reply.tool_rounds, 1):
        lines += _steps_text(r.reply, f"round {number} · ")
        lines += [line for x in r.results for line in _result_text(x)]
    lines += _steps_text(reply, f"round {len(reply.tool_rounds) + 1} · " if reply.tool_rounds else "")
    lines += [line for x in reply.tool_results for line in _result_text(x)]
    if tool_limit_line(reply):
        lines += [f"[{tool_limit_line(reply)}]", ""]
    lines.append("[answer]")
    lines.append(answer_text(reply) or NO_ANSWER)
    if reply.malformed:
        lines += ["[malformed harmony headers, as written]", malformed_text(reply)]
    lines.append(f"({stats_line(reply)})")
    return "\n".join(lines)


def _result_text(x: Any) -> list[str]:
    return [f"[tool result · {x.source} · {x.seconds:.2f} s{' · cut' * x.truncated}]", x.output, ""]


def _steps_text(reply: Reply, label: str) -> list[str]:
    lines = []
    if reply.reasoning:
        lines += [f"[reasoning · {label}{reasoning_label(reply)}]", reply.reasoning, ""]
    if reply.preamble:
        lines += ["[preamble · commentary channel, for the user]", reply.preamble, ""]
    if reply.tool_calls:
        lines += ["[tool call · commentary channel]", tool_calls_text(reply), ""]
    return lines


class Throttle:
    """Lets a redraw through at most once per ``min_interval`` seconds; a finished reply always passes."""

    def __init__(self, min_interval: float = REDRAW_INTERVAL) -> None:
        self.min_interval = min_interval
        self._last = float("-inf")
        self.redraws = 0

    def ready(self, done: bool) -> bool:
        now = time.monotonic()
        if not done and now - self._last < self.min_interval:
            return False
        self._last = now
        self.redraws += 1
        return True


class LiveDisplay:
    """Shows a reply in a notebook and re-renders it as tokens stream, through a :class:`Throttle`.

    ``update(reply)`` is cheap to call on every token: it redraws only when
    ``min_interval`` seconds have passed, and always when the reply is done.
    """

    def __init__(self, min_interval: float = REDRAW_INTERVAL) -> None:
        self._throttle = Throttle(min_interval)
        self._handle: Any = None

    @property
    def min_interval(self) -> float:
        return self._throttle.min_interval

    @property
    def updates(self) -> int:
        """Redraws so far."""
        return self._throttle.redraws

    def update(self, reply: Reply) -> None:
        if not self._throttle.ready(reply.done):
            return
        from IPython.display import display

        if self._handle is None:
            self._handle = display(reply, display_id=True)
        else:
            self._handle.update(reply)
