"""ConversationView: the Lab's conversation as the Playground shows it, and its New conversation button.

The earlier turns (collapsed), how many and how many tokens of the model's context they take, and a warning
when a reply would have little room left; the Playground shows it while "follow up" is ticked (only then is
the conversation sent). **New conversation** clears it, as ``%gptoss reset`` does. Tokens are counted with
the model's own tokenizer on the exact prompt the next turn sends (past reasoning dropped, as harmony does);
a server counts its own, so there only the turns are counted.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from ..render import escape

__all__ = ["NEAR_CONTEXT", "ConversationView"]

#: The share of the context past which the conversation is said to be near its end.
NEAR_CONTEXT = 0.75

_BOX = (
    "font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:0.9em;line-height:1.45;margin:2px 0;"
    "padding:2px 8px;border-left:3px solid var(--jp-border-color1,#c9c9d6)"
)
_SUMMARY = "cursor:pointer;color:var(--jp-ui-font-color1,#4a4a4a)"
_TURN = "white-space:pre-wrap;word-break:break-word;margin:2px 0 2px 12px"
_WHO = "color:var(--jp-ui-font-color2,#6e6e6e);font-size:0.9em"
_WARN = "color:var(--jp-warn-color0,#a15c00);font-size:0.9em;line-height:1.45;margin:2px 0"
_AFRESH = "Click New conversation to start afresh."


class ConversationView(widgets.VBox):
    """The earlier turns of ``lab``'s conversation (collapsed), their count and tokens, and a warning near
    the model's context; ``button`` (New conversation) is for the Playground to place beside Generate."""

    def __init__(self, lab: Any) -> None:
        self.lab = lab
        self.turns = widgets.HTML("", layout=widgets.Layout(width="100%"))
        self.warning = widgets.HTML("", layout=widgets.Layout(width="100%"))
        self.button = widgets.Button(
            description="New conversation", icon="plus", tooltip="forget the earlier turns (as %gptoss reset does)"
        )
        self.button.layout.width = "auto"  # its label in full, not "New conversat..."
        self.button.layout.flex = "0 0 auto"  # nor squeezed by the buttons beside it
        self.turns.add_class("gptoss-conversation")
        self.warning.add_class("gptoss-context-warning")
        self.button.add_class("gptoss-new-conversation")
        self._counted: tuple[Any, int | None] = (None, None)
        super().__init__([self.turns, self.warning], layout=widgets.Layout(width="100%"))

    @property
    def n_turns(self) -> int:
        return len(getattr(self.lab, "history", ())) // 2

    def tokens(self, effort: str) -> int | None:
        """Tokens the next prompt spends before its question (None: a server's to count); counted once per
        state of the conversation."""
        history = getattr(self.lab, "history", [])
        key = (len(history), effort, getattr(self.lab, "model_name", None), getattr(self.lab, "developer", None))
        if self._counted[0] != key:
            self._counted = (key, self.lab.conversation_tokens(effort))
        return self._counted[1]

    def count_text(self, effort: str) -> str:
        """ "2 earlier turns · 345 of the 2,048 tokens gpt-oss-nano reads" (turns alone on a server)."""
        n = self.n_turns
        turns = f"{n} earlier turn{'' if n == 1 else 's'}" if n else "no earlier turns"
        used, context = (self.tokens(effort), self.lab.context_length) if n else (None, None)
        if used is None:
            return turns
        of = f" of the {context:,} tokens {self.lab.backend.label} reads" if context else ""
        return f"{turns} · {used:,} tokens{of}"

    def refresh(self, effort: str, limit: int | None, shown: bool) -> None:
        """Redraw for the next reply at ``effort`` with ``limit`` (None: the default); hidden unless ``shown``."""
        self.layout.display = None if shown else "none"
        history = list(getattr(self.lab, "history", ()))
        if not shown:
            self.turns.value = self.warning.value = ""
            return
        rows = [f'<div style="{_TURN}"><span style="{_WHO}">{_who(t)}</span> {_said(t)}</div>' for t in history]
        body = "".join(rows) or f'<div style="{_TURN}"><span style="{_WHO}">nothing yet</span></div>'
        self.turns.value = (
            f'<details style="{_BOX}"><summary style="{_SUMMARY}">Conversation: {escape(self.count_text(effort))}'
            f"</summary>{body}</details>"
        )
        warning = self.warning_text(effort, limit)
        self.warning.value = f'<div style="{_WARN}">{escape(warning)}</div>' if warning else ""

    def warning_text(self, effort: str, limit: int | None) -> str:
        """What to do when the conversation nears the model's context ("" while there is room)."""
        context = self.lab.context_length
        used = self.tokens(effort) if self.n_turns else None
        if not context or used is None:
            return ""
        model, room = self.lab.backend.label, context - used
        said = f"The conversation takes {used:,} of the {context:,} tokens {model} reads"
        if room <= 0:
            return f"{said}: no room is left for a reply. Click New conversation, or untick follow up."
        if limit is not None and limit > room:
            return f"{said}: max tokens {limit:,} will not fit. Use {room:,} or less, or click New conversation."
        default = self.lab.default_max_new_tokens(effort)
        if room < default:
            return f"{said}: a reply has {room:,} tokens left ({effort} effort's default is {default:,}). {_AFRESH}"
        if used >= NEAR_CONTEXT * context:
            return f"{said}: a reply has {room:,} tokens left. {_AFRESH}"
        return ""


def _who(turn: dict[str, Any]) -> str:
    return {"user": "you:", "assistant": "model:"}.get(str(turn.get("role")), f"{escape(str(turn.get('role')))}:")


def _said(turn: dict[str, Any]) -> str:
    """A turn's text, escaped, then any tool calls it made."""
    text = escape(str(turn.get("content") or ""))
    calls = "".join(
        f"<br>→ {escape(str(c['name']))}({escape(str(c['arguments']))})" for c in turn.get("tool_calls", [])
    )
    return text + calls
