"""Explorer: a reply's tokens coloured by channel; click one to see its routing path and its attention.

>>> reply = Lab().ask("What is 17 + 25?")      # the bundled model captures routing by default
>>> reply.explore()                             # or Explorer(reply, lab=lab)

Three :class:`~gptoss_lab.widgets.figure_pane.FigurePane` s, each showing a plotly figure (``.figure``) that a
selection redraws (the panes stay; plotly's ``FigureWidget`` would load plotly.js once per widget):

* ``path_figure``: :func:`gptoss_lab.viz.token_path` of the selected token (its experts in every layer);
  the selected layer is shaded and the selected expert drawn as a line.
* ``attention_figure``: :func:`gptoss_lab.viz.head_view` of the selected token in the selected layer, a
  row per head (or the selected head) with the learned sink as its own column, recomputed exactly by
  :func:`gptoss_lab.attention.attention` from the model that wrote the reply.
* ``expert_figure``: :func:`gptoss_lab.viz.routing_map` with ``highlight`` = the selected expert:
  where in the transcript that expert is chosen, layer by layer.

Below the selectors, ``ablation`` (:class:`~gptoss_lab.widgets.ablation.AblationPane`): a button "Switch
expert E of layer L off and regenerate" for the selected layer and expert asks the same prompt again, as it
was asked, with that expert off, and shows the new reply beside this one with the first token where they
part outlined (in the transcript too); the Lab's conversation is left as it was.

Routing needs the reply's Trace (a local model with capture on); attention also needs that model.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from traitlets import Int, Unicode, link, observe

from ..errors import GptOssLabError
from ..viz._common import SOURCE_COLORS
from ..viz._theme import ink
from ._common import PLAYGROUNDS, error_html, escape, labelled, magic_lab, muted_html, one_line, traceback_text
from .ablation import AblationPane
from .figure_pane import FigurePane
from .token_strip import TokenStrip

__all__ = ["Explorer", "TokenStrip"]

NO_TRACE = (
    "This reply has no trace, so there is no routing or attention to explore: they need a local model with "
    "capture on, e.g. Lab('nano').ask(prompt) (capture is on by default for nano), Lab(...).ask(prompt, "
    "capture=True), or %%gptoss --capture."
)
NO_MODEL = (
    "Attention is recomputed from the model that wrote this reply, and none was found: pass it, "
    "Explorer(reply, lab=lab) or reply.explore(lab=lab)."
)


class Explorer(widgets.VBox):
    """A reply's tokens (click one) with layer, head and expert selectors over three figure panes.

    ``lab``: the Lab whose model wrote ``reply``, for the attention recompute (default: the Lab of the
    Playground or ``%%gptoss`` that wrote it, or a new nano Lab for nano's replies).
    """

    selected = Int(-1, help="The selected token's position in prompt + completion.")
    message = Unicode("", help="A one-line note or error shown above the figures.")

    def __init__(self, reply: Any, lab: Any = None, **kwargs: Any) -> None:
        self.reply = reply
        self.trace = getattr(reply, "trace", None)
        self._lab = lab
        self._attention_cache: dict[tuple[int, int, int], Any] = {}
        self._traceback = ""
        self.note = widgets.HTML("")
        self.note.add_class("gptoss-explorer-note")
        super().__init__(**kwargs)
        self.add_class("gptoss-explorer")
        if self.trace is None:
            from ..render import reply_html

            self.message = _no_trace(reply)
            self.children = [widgets.HTML(reply_html(reply)), widgets.HTML(muted_html(self.message))]
            return
        self._build()

    # -- layout

    def _build(self) -> None:
        trace = self.trace
        strings = list(trace.token_strings)
        self.strip = TokenStrip.of(strings, list(trace.sources))
        T, H = trace.n_tokens, int(trace.config.get("num_attention_heads") or 0)
        self.token_select = widgets.BoundedIntText(min=0, max=T - 1)
        self.layer_select = widgets.Dropdown(options=_layer_options(trace))
        heads = [("all heads", -1)] + [(f"head {h}", h) for h in range(H)]
        self.head_select = widgets.Dropdown(options=heads)
        experts = [(f"expert {e}", e) for e in range(trace.n_experts)]
        self.expert_select = widgets.Dropdown(options=experts)
        first = min(trace.n_prompt, T - 1)  # the first completion token: something to look at before a click
        self.selected = first
        link((self, "selected"), (self.strip, "selected"))  # a click in the strip, or a number typed
        link((self, "selected"), (self.token_select, "value"))
        self.expert_select.value = int(trace.topk_experts[first, 0, 0])
        self.path_figure = self._pane(self._path_figure())
        self.attention_figure = self._pane()
        self.expert_figure = self._pane(self._expert_figure())
        for select in (self.layer_select, self.head_select):
            select.observe(lambda _: self._draw_attention(), names="value")
        self.layer_select.observe(lambda _: self.path_figure.show(self._path_figure()), names="value")
        self.expert_select.observe(lambda _: self._draw_expert(), names="value")
        self.ablation = AblationPane(self.reply, lambda: self.lab)
        for select in (self.layer_select, self.expert_select):
            select.observe(
                lambda _: self.ablation.aim(self.layer_select.value, self.expert_select.value), names="value"
            )
        # where the regenerated reply parts from this one, outlined in the transcript too
        self.ablation.observe(self._mark_parting, names="parted")
        self.children = [
            widgets.HTML(_title(self.reply, trace)),
            self.strip,
            widgets.HBox(
                [
                    labelled("token", self.token_select),
                    labelled("layer", self.layer_select),
                    labelled("head", self.head_select),
                    labelled("expert", self.expert_select),
                ]
            ),
            self.ablation,
            self.note,
            self.path_figure,
            self.attention_figure,
            self.expert_figure,
        ]
        self._draw_attention()
        self.ablation.aim(self.layer_select.value, self.expert_select.value)  # after the Lab is found

    # -- reacting to the selectors

    @observe("selected")
    def _selected_changed(self, change: Any) -> None:
        if self.trace is None or not hasattr(self, "expert_figure"):
            return
        self.path_figure.show(self._path_figure())
        expert_map = self.expert_figure.figure
        for shape in expert_map.layout.shapes:  # the map itself does not depend on the token: only its mark moves
            if shape.name == "selected token":
                shape.update(x0=change.new, x1=change.new)
        self.expert_figure.show(expert_map)
        self._draw_attention()

    def _mark_parting(self, change: Any) -> None:
        self.strip.marked = -1 if change.new < 0 else self.trace.n_prompt + change.new

    @observe("message")
    def _message_changed(self, change: Any) -> None:
        self.note.value = error_html(change.new, self._traceback)

    def _draw_expert(self) -> None:
        self.expert_figure.show(self._expert_figure())

    def _draw_attention(self) -> None:
        """Recompute the selected layer's attention for the selected token; a failure is a line, not a traceback."""
        try:
            figure = self._attention_figure()
        except GptOssLabError as err:  # e.g. LabBusy while a Playground generates: one line
            self._traceback = ""
            self.message = str(err)
            return
        except Exception as err:  # a bug: no cell to raise into from a comm callback: the widget shows its traceback
            self._traceback = traceback_text(err)
            self.message = one_line(err)
            return
        self._traceback = ""
        if figure is None:
            self.message = NO_MODEL
            return
        self.message = ""
        self.attention_figure.show(figure)

    @staticmethod
    def _pane(figure: Any = None) -> Any:
        """The widget that shows one of the figures (``.figure``, ``.show(figure)``)."""
        return FigurePane(figure)

    # -- the figures (pure viz functions; the widgets only add selection marks)

    def _path_figure(self) -> Any:
        from ..viz import token_path

        fig = token_path(self.trace, self.selected, height=380)
        layer = self.layer_select.value
        fig.add_vrect(x0=layer - 0.5, x1=layer + 0.5, fillcolor="#ffd54f", opacity=0.25, line_width=0, layer="below")
        return fig

    def _expert_figure(self) -> Any:
        from ..viz import routing_map

        fig = routing_map(self.trace, highlight=self.expert_select.value)
        fig.add_vline(x=self.selected, line={"color": ink(), "width": 1}, name="selected token")
        return fig

    def _attention_figure(self) -> Any:
        from ..viz import head_view

        aw = self.attention_weights()
        if aw is None:
            return None
        return head_view(aw, self.selected)  # its default height gives every head a readable row

    def attention_weights(self) -> Any:
        """The selected token's exact attention in the selected layer (heads: the selected one, or all)."""
        from ..attention import attention

        lab = self.lab
        if lab is None:
            return None
        layer, head, t = self.layer_select.value, self.head_select.value, self.selected
        key = (layer, head, t)
        if key not in self._attention_cache:
            heads = None if head < 0 else [head]
            self._attention_cache.clear()  # one entry: each is heads x T floats, and clicks rarely come back
            self._attention_cache[key] = attention(lab, self.trace, layer, heads=heads, queries=[t])
        return self._attention_cache[key]

    @property
    def lab(self) -> Any:
        """The Lab for the attention recompute: given, or found (see the class docstring), or None."""
        if self._lab is None:
            self._lab = _find_lab(self.reply)
        return self._lab


def _find_lab(reply: Any) -> Any:
    """The Lab that wrote ``reply``: a live Playground's or the magic's; for nano's replies a new nano Lab."""
    for playground in list(PLAYGROUNDS):
        if reply is playground.reply or any(reply is r for r in playground.replies.values()):
            return playground.lab
    lab = magic_lab()
    if lab is not None and any(reply is r for r in getattr(lab, "replies", [])):
        return lab
    if (reply.trace.config or {}).get("model") == _nano_label():
        from ..lab import Lab

        return Lab("nano")  # the bundled weights never change: the recompute is exact
    return None


def _no_trace(reply: Any) -> str:
    """Why there is nothing to explore: a server's reply says where it came from (as every view does)."""
    server = getattr(reply, "server", "")
    if server:
        from ..remote import local_model_needed

        return local_model_needed(server)
    return NO_TRACE


def _nano_label() -> str:
    from ..model import resolve_model

    return resolve_model("nano").label


def _layer_options(trace: Any) -> list[tuple[str, int]]:
    kinds = {"sliding_attention": "sliding", "full_attention": "full"}
    return [(f"{i} ({kinds.get(k, k)})", i) for i, k in enumerate(trace.layer_types)]


def _title(reply: Any, trace: Any) -> str:
    key = " ".join(
        f'<span style="border-bottom:2px solid {c};padding:0 3px">{escape(s)}</span>'
        for s, c in SOURCE_COLORS.items()
        if s in set(trace.sources)
    )
    head = f"{reply.model} · effort {reply.effort} · {trace.n_tokens} tokens ({trace.n_prompt} prompt)"
    return f"<div>{escape(head)} · click a token · {key} · dotted: special tokens</div>"
