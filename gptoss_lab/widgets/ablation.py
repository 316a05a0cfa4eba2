"""AblationPane: switch the Explorer's expert off, regenerate the same prompt, and see where the replies part.

>>> ex = reply.explore(lab=lab)
>>> ex.ablation.start(); ex.ablation.join()      # what its button does, for the selected layer and expert
>>> ex.ablation.parted, ex.ablation.reply        # the first completion token that differs; the new Reply

The new reply answers the same prompt after the same conversation as the original (the prefix of the Lab's
history whose harmony rendering gives the original's prompt token ids exactly), at the same effort, token
limit and sampling (temperature, top_p and seed as the original resolved them: greedy for nano), with the
original's own interventions kept and this expert switched off besides. It is not a turn of the conversation:
the Lab's history and replies are put back as they were, as the Playground's Compare leaves them, and the
interventions come off when it ends (``Lab.ask(intervene=...)``), errors included.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
from traitlets import Any as AnyTrait
from traitlets import Bool, Int, Unicode, observe

from ..errors import GptOssLabError
from ..interventions import summary
from ..render import REDRAW_INTERVAL, Throttle
from ._common import error_html, escape, failure, muted_html
from .token_strip import TokenStrip, shown

__all__ = ["AblationPane", "conversation_of", "first_difference", "regenerate"]

NO_LAB = "Regenerating needs the model that wrote this reply, and none was found: pass it, Explorer(reply, lab=lab)."
GONE = (
    "this reply's conversation is no longer the Lab's (it was reset, or the reply came from another Lab), so it "
    "cannot be asked again as it was: regenerate before resetting, or ask the question again and explore that reply"
)
_COLUMN = widgets.Layout(flex="1 1 0%", min_width="0", margin="0 4px")
_VERDICT = "font-weight:600;line-height:1.45;padding:2px 0"
_ANSWER_CHARS = 200  # the strips above show it all; this line only says what the answer came to


def first_difference(a: Sequence[int], b: Sequence[int]) -> int | None:
    """The first position where two token sequences differ (one ending before the other counts); None if equal."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def conversation_of(lab: Any, reply: Any) -> list[dict[str, Any]]:
    """The prefix of ``lab.history`` that ``reply`` answered: the one whose rendering gives its prompt ids."""
    from ..backends import Turn

    want = list(reply.prompt_ids)
    for n in range(len(lab.history), -1, -1):  # the longest first: a reply usually answers the latest state
        turn = Turn(reply.prompt, lab.history[:n], lab.developer, lab.date)
        if lab.handle.encode(turn.harmony(reply.effort, lab.backend.identity)) == want:
            return lab.history[:n]
    raise GptOssLabError(GONE)


def regenerate(lab: Any, reply: Any, layer: int, expert: int, on_update: Callable[[Any], None] | None = None) -> Any:
    """``reply``'s prompt asked again as it was (see the module docstring) with ``expert`` of ``layer`` off."""
    history = conversation_of(lab, reply)
    cut = len(history) if history else len(lab.history)  # no history: asked as a new conversation, nothing cut
    kept = lab.history[cut:]
    del lab.history[cut:]
    new = None
    try:
        new = lab.ask(
            reply.prompt,
            effort=reply.effort,
            max_new_tokens=reply.max_new_tokens,
            capture=True,
            follow_up=bool(history),
            intervene=_spec(reply.interventions, layer, expert),
            on_update=on_update,
            **{k: reply.sampling.get(k) for k in ("temperature", "top_p", "seed")},
        )
        return new
    finally:  # put back what was cut, in place of the turn this run added (anything appended later stays)
        added = 2 if new is not None and history else 0
        lab.history[cut : cut + added] = kept
        lab.replies[:] = [r for r in lab.replies if r is not new]


def _spec(described: list[dict[str, Any]], layer: int, expert: int) -> dict[str, Any]:
    """The original reply's interventions (``Reply.interventions``' dicts) with ``expert`` of ``layer`` also off."""
    spec: dict[str, Any] = {"ablate_experts": {layer: [expert]}}
    for item in described:
        kind, at = item["kind"], int(item["layer"])
        if kind == "sinks":
            spec.setdefault("sinks", {})[at] = item["scale"]
        else:
            spec.setdefault(kind, {}).setdefault(at, []).extend(item["heads" if kind == "heads_off" else "experts"])
    return spec


class AblationPane(widgets.VBox):
    """A button "Switch expert E of layer L off and regenerate", a status line, and the two replies side by side.

    ``reply``: the reply explored (it must have a trace); ``lab_of``: returns the Lab that wrote it (or None),
    asked when the pane is aimed, so the Explorer finds it once. :meth:`aim` picks the layer and expert.
    """

    running = Bool(False, help="True while the reply is regenerated in the background thread.")
    message = Unicode("", help="The last run's error as one line; empty when it went well.")
    traceback = Unicode("", help="The traceback when the last run failed on a bug (not on bad input).")
    reply = AnyTrait(None, allow_none=True, help="The regenerated Reply (None before the first run).")
    parted = Int(-1, help="The first completion token where the replies differ; -1: identical, or no run yet.")
    verdict = Unicode("", help="The line saying where the replies part, or that they are identical.")

    def __init__(self, reply: Any, lab_of: Callable[[], Any], **kwargs: Any) -> None:
        self.original = reply
        self._lab_of = lab_of
        self.layer = self.expert = 0
        # its own width: the description names the expert and layer, and must not be cut to "... an…"
        self.button = widgets.Button(icon="power-off", layout=widgets.Layout(width="auto", flex="0 0 auto"))
        self.button.add_class("gptoss-ablate")
        self.button.on_click(lambda _: self.start())
        self.hint = widgets.HTML("", layout=widgets.Layout(flex="1 1 auto"))
        self.status = widgets.HTML("", layout=widgets.Layout(width="100%"))
        self.status.add_class("gptoss-ablate-status")
        self.columns = widgets.HBox([], layout=widgets.Layout(width="100%", display="none"))
        self.columns.add_class("gptoss-ablate-columns")
        self._thread: threading.Thread | None = None
        super().__init__([widgets.HBox([self.button, self.hint]), self.status, self.columns], **kwargs)
        self.add_class("gptoss-ablation")

    # -- what the user picks and presses

    def aim(self, layer: int, expert: int) -> None:
        """Point the button at ``expert`` of ``layer``; say how often the reply routes there, or why it cannot run."""
        self.layer, self.expert = int(layer), int(expert)
        self.button.description = f"Switch expert {expert} of layer {layer} off and regenerate"
        reason = self.unavailable()
        self.button.disabled = self.running or bool(reason)
        self.hint.value = muted_html(reason or self._routed())

    def unavailable(self) -> str:
        """Why the button cannot run (no model found, or one whose weights are not here to change); "" if it can."""
        lab = self._lab_of()
        if lab is None:
            return NO_LAB
        if "interventions" not in lab.capabilities:
            return (
                f"Switching an expert off needs a local model: {lab.model_name} runs elsewhere (no 'interventions' "
                "in lab.capabilities), so explore a reply of Lab('nano') or Lab('openai/gpt-oss-20b')."
            )
        return ""

    def _routed(self) -> str:
        """How many of the reply's own tokens the router sent to the aimed expert: one it never chose changes little."""
        trace = self.original.trace
        chosen = (trace.topk_experts[trace.n_prompt :, self.layer] == self.expert).any(axis=-1)  # (T_reply,)
        return (
            f"layer {self.layer} chose expert {self.expert} for {int(chosen.sum())} of this reply's {len(chosen)} "
            "tokens · the conversation is left as it is"
        )

    def start(self) -> bool:
        """Regenerate in a background thread (the button); False, doing nothing, while running or unable to."""
        if self.running or self.unavailable():
            return False
        self.message = self.traceback = ""
        self.reply = None
        self.running = True
        self._thread = threading.Thread(
            target=self._run, args=(self._lab_of(), self.layer, self.expert), name="gptoss-ablate", daemon=True
        )
        self._thread.start()
        return True

    def join(self, timeout: float | None = None) -> Any:
        """Wait for the regeneration to end (scripts and tests); returns the new reply."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.reply

    # -- the background thread

    def _run(self, lab: Any, layer: int, expert: int) -> None:
        throttle = Throttle(REDRAW_INTERVAL)

        def progress(reply: Any) -> None:
            if throttle.ready(reply.done):
                self.status.value = muted_html(f"regenerating… {len(reply.completion_ids)} tokens")

        try:
            new = regenerate(lab, self.original, layer, expert, on_update=progress)
            self._show(lab, new, layer, expert)
        except Exception as err:  # a busy Lab, a conversation gone: one line; a bug: its traceback too
            self.traceback, self.message = failure(err)
        finally:
            self.running = False

    def _show(self, lab: Any, new: Any, layer: int, expert: int) -> None:
        old = self.original
        at = first_difference(old.completion_ids, new.completion_ids)
        old_tokens, new_tokens = completion_tokens(lab, old), completion_tokens(lab, new)
        self.parted = -1 if at is None else at
        self.verdict = _verdict(old, old_tokens, new_tokens, at, f"expert {expert} of layer {layer} off")
        marked = -1 if at is None else at
        self.columns.children = [
            _column(old, old_tokens, "as written", marked),
            _column(new, new_tokens, "regenerated", marked),
        ]
        self.columns.layout.display = None
        self.reply = new

    @observe("running")
    def _running_changed(self, change: Any) -> None:
        self.button.disabled = change.new or bool(self.unavailable())
        if change.new:
            self.status.value = muted_html("regenerating…")
        elif not self.message:
            self.status.value = f'<div class="gptoss-ablate-verdict" style="{_VERDICT}">{escape(self.verdict)}</div>'

    @observe("message")
    def _message_changed(self, change: Any) -> None:
        if change.new:
            self.status.value = error_html(change.new, self.traceback)


def completion_tokens(lab: Any, reply: Any) -> tuple[list[str], list[str]]:
    """Each completion token's text and source (its channel), the last one included (a trace stops before it)."""
    from ..harmony import token_sources

    loaded = lab.handle.load()  # loaded already (it just wrote a reply): only its tokenizer is read
    strings = [loaded.tokenizer.decode([i], skip_special_tokens=False) for i in reply.completion_ids]
    sources = token_sources(list(reply.prompt_ids) + list(reply.completion_ids), loaded.codec)
    return strings, sources[len(reply.prompt_ids) :]


Tokens = tuple[list[str], list[str]]  # (strings, sources) of a completion


def _verdict(old: Any, old_tokens: Tokens, new_tokens: Tokens, at: int | None, what: str) -> str:
    """ "the replies part at token 12 of the reply (analysis): '5' → '7'", or "identical: ...", and a caveat."""
    if at is None:
        line = f"identical: with {what} the reply writes the same {len(old.completion_ids)} tokens"
    else:
        (old_strings, sources), (new_strings, _) = old_tokens, new_tokens
        where = sources[at] if at < len(sources) else "after its end"
        line = f"the replies part at token {at} of the reply ({where}): {_token(old_strings, at)} → "
        line += _token(new_strings, at)
    sampling = old.sampling or {}
    if (sampling.get("temperature") or 0) > 0 and sampling.get("seed") is None:
        line += " (both sampled without a seed: some of the difference may be chance; ask with a seed to compare)"
    return line


def _token(strings: list[str], at: int) -> str:
    return f"'{shown(strings[at])}'" if at < len(strings) else "(its end)"


def _column(reply: Any, tokens: Tokens, title: str, marked: int) -> widgets.VBox:
    """One reply: a title (and what was switched off), its completion as a token strip, its answer."""
    strip = TokenStrip.of(*tokens)
    strip.marked = marked if marked < len(reply.completion_ids) else -1
    off = summary(reply.interventions)
    head = f"<b>{escape(title)}</b>" + (f' <span style="opacity:0.8">({escape(off)})</span>' if off else "")
    text = reply.answer if len(reply.answer) <= _ANSWER_CHARS else reply.answer[: _ANSWER_CHARS - 1] + "…"
    line = muted_html(f"answer: {text or '(none)'} · {len(reply.completion_ids)} tokens")
    answer = f'<div style="line-height:1.45">{line}</div>'
    return widgets.VBox([widgets.HTML(head), strip, widgets.HTML(answer)], layout=_COLUMN)
