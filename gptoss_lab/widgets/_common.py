"""What the widgets share: the optional-import check, the default Lab, escaped panels.

The panels are styled for widgets but built from :mod:`gptoss_lab.render`'s parts (the reasoning label,
the answer text, the malformed headers), so a widget shows what ``%%gptoss`` shows. Model text reaches
the browser only through :func:`gptoss_lab.render.escape` (panels) or ``textContent`` (the explorer's
token strip): a reply that writes ``<script>`` shows it as text, and its bidirectional controls (a
right-to-left override would reverse what follows) show as markers such as ⟨U+202E⟩ in both.
"""

from __future__ import annotations

import weakref
from typing import Any

from ..errors import GptOssLabError, MissingPackageError
from ..render import (
    NO_ANSWER,
    answer_text,
    escape,
    malformed_html,
    reasoning_label,
    result_html,
    steps_html,
    tool_limit_line,
)

PIP_HINT = "pip install 'gptoss-lab[widgets]'"

#: Live Playgrounds, so an Explorer can find the Lab (the model) that wrote a reply.
PLAYGROUNDS: weakref.WeakSet[Any] = weakref.WeakSet()

_PANEL = (
    "white-space:pre-wrap;word-break:break-word;max-height:22em;overflow-y:auto;"
    "font-family:var(--jp-ui-font-family,system-ui,sans-serif);padding:4px 8px;margin:2px 0;"
    "line-height:1.45"  # ipywidgets' HTML sets a 28 px line height meant for one-line labels
)
_REASONING = (
    _PANEL + ";color:var(--jp-content-font-color2,#555);font-size:0.92em;font-style:italic;"
    "border-left:3px solid var(--jp-border-color1,#c9c9d6)"
)
_ANSWER = _PANEL + ";font-size:1.05em;border-left:3px solid #2ca02c"
_LABEL = "color:var(--jp-ui-font-color1,#4a4a4a);font-size:0.85em;font-style:normal;display:block;margin-bottom:2px"
_MUTED = "color:var(--jp-ui-font-color2,#6e6e6e);font-size:0.85em"
_ERROR = "color:var(--jp-error-color1,#b00020);font-size:0.9em"


def require_widgets(*modules: str) -> None:
    """Import-check ipywidgets (and any extra ``modules``); one line saying what to install if missing."""
    from importlib import import_module

    for name in ("ipywidgets", *modules):
        try:
            import_module(name)
        except ImportError as err:
            raise MissingPackageError(f"gptoss_lab's widgets need {name}, which is not installed: {PIP_HINT}") from err


def magic_lab() -> Any:
    """The Lab that ``%%gptoss`` talks to in this IPython session, or None (no IPython, no extension)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a core dependency
        return None
    shell = get_ipython()
    for configurable in getattr(shell, "configurables", None) or []:
        if type(configurable).__name__ == "GptOssMagics":
            return configurable.lab
    return None


def default_lab() -> Any:
    """The magic's current Lab if ``%load_ext gptoss_lab`` ran, else a new Lab on the bundled nano."""
    lab = magic_lab()
    if lab is not None:
        return lab
    from ..lab import Lab

    return Lab("nano")


def reasoning_html(reply: Any) -> str:
    """The reasoning panel: a label ("Thinking…", "Thought for 2.1 s · 57 tokens") and the escaped text."""
    if reply is None:
        return f'<div style="{_REASONING}"><span style="{_LABEL}">reasoning (analysis channel)</span></div>'
    label = reasoning_label(reply) if (reply.reasoning or reply.thinking) else "no reasoning"
    if reply.tool_rounds:  # with tools: this is the last round's; the earlier ones are drawn above it
        label = f"round {len(reply.tool_rounds) + 1} · {label}"
    return f'<div style="{_REASONING}"><span style="{_LABEL}">{escape(label)}</span>{escape(reply.reasoning)}</div>'


def answer_html(reply: Any) -> str:
    """The answer panel: the preamble and tool calls (labelled), then the final channel's escaped text or
    why there is none; then any malformed headers, as written."""
    if reply is None:
        return f'<div style="{_ANSWER}"><span style="{_LABEL}">answer (final channel)</span></div>'
    text = answer_text(reply)
    steps = steps_html(reply) + "".join(result_html(x) for x in reply.tool_results)  # (earlier rounds: above)
    if tool_limit_line(reply):
        steps += f'<div style="{_MUTED}">{escape(tool_limit_line(reply))}</div>'

    if not text:
        note = NO_ANSWER if reply.done else "…"
        return f'{steps}<div style="{_ANSWER}"><span style="{_MUTED}">{note}</span></div>{malformed_html(reply)}'
    return f'{steps}<div style="{_ANSWER}">{escape(text)}</div>{malformed_html(reply)}'


def muted_html(text: str) -> str:
    return f'<div style="{_MUTED}">{escape(text)}</div>'


def error_html(text: str, traceback: str = "") -> str:
    """The error line; a bug's traceback folded below it (bad input has none)."""
    if not text:
        return ""
    folded = f"<details><summary>traceback</summary><pre>{escape(traceback)}</pre></details>" if traceback else ""
    return f'<div style="{_ERROR}">{escape(text)}{folded}</div>'


def traceback_text(err: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(err))


def failure(err: Exception) -> tuple[str, str]:
    """(traceback, line) for a widget to show: bad input (a GptOssLabError) is its message alone; a bug is one
    line with its traceback folded below (no cell to raise into from a background thread or a comm callback)."""
    if isinstance(err, GptOssLabError):
        return "", str(err)
    return traceback_text(err), one_line(err)


def one_line(err: BaseException) -> str:
    """An exception as one line: its first line, named by its type when the message alone is vague."""
    message = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def labelled(text: str, control: Any, width: str = "9em") -> Any:
    """``control`` (made ``width`` wide) with ``text`` as its label on its left, an HTML widget of its own.

    Not ``description``: ipywidgets typesets every control's description as LaTeX, so the first one on a
    page makes JupyterLab load MathJax (about 860 kB of scripts, a second or more on a slow machine) for a
    word such as "layer" (``pytest -s tests/browser/test_explorer.py -k 500_token`` lists what a page fetches).
    """
    import ipywidgets as widgets

    control.layout.width = width
    label = widgets.HTML(f"<span style='padding:0 6px 0 10px'>{escape(text)}</span>")
    return widgets.HBox([label, control], layout=widgets.Layout(align_items="center", flex="1 1 auto"))


def switch(text: str, value: bool = False, tooltip: str = "") -> Any:
    """An on/off control that does not typeset its label: a toggle button whose icon is a ticked or an
    empty box, so it reads as a check box (a ``Checkbox``'s label is typeset like a description)."""
    import ipywidgets as widgets

    button = widgets.ToggleButton(value=bool(value), description=text, tooltip=tooltip or text)
    button.layout.width = "auto"
    button.layout.flex = "0 0 auto"  # as wide as its label: a flex box would cut it to "follow up (send t…"

    def show(_: Any = None) -> None:
        button.icon = "check-square-o" if button.value else "square-o"

    button.observe(show, names="value")
    show()
    button.add_class("gptoss-switch")
    return button
