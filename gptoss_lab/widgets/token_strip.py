"""TokenStrip: a transcript as clickable tokens, coloured by where each comes from (prompt role or channel).

The Explorer's strip of the whole transcript, and its ablation pane's two strips of the replies compared.
Spans are built with ``textContent`` (never ``innerHTML``), so model text stays text; the front end ships
inline with the package: nothing is fetched from a CDN.
"""

from __future__ import annotations

from typing import Any

import anywidget
from traitlets import Bool, Dict, Int, List, Unicode

from ..render import show_bidi
from ..viz._common import SOURCE_COLORS

__all__ = ["TokenStrip", "shown"]

_STRIP_ESM = """
function render({ model, el }) {
  el.classList.add("gptoss-token-strip");
  let spans = [], current = -1, parted = -1;
  const draw = () => {
    const tokens = model.get("tokens"), sources = model.get("sources");
    const specials = model.get("specials"), colors = model.get("colors");
    el.replaceChildren();
    spans = tokens.map((text, i) => {
      const span = document.createElement("span");
      const color = colors[sources[i]] || "#c7c7c7";
      span.textContent = text;
      span.title = `${i} · ${sources[i]}${specials[i] ? " · special token" : ""}`;
      span.className = "gptoss-token" + (specials[i] ? " gptoss-special" : "");
      span.style.background = color + "26";
      span.style.borderBottom = `2px ${specials[i] ? "dotted" : "solid"} ${color}`;
      span.addEventListener("click", () => { model.set("selected", i); model.save_changes(); });
      el.appendChild(span);
      return span;
    });
    current = parted = -1;
    mark(model.get("selected"));
    part(model.get("marked"));
  };
  const mark = (now) => {
    if (spans[current]) spans[current].classList.remove("gptoss-selected");
    if (spans[now]) spans[now].classList.add("gptoss-selected");
    current = now;
  };
  // the token where two replies part: outlined, and scrolled to the middle of the strip's box
  const part = (now) => {
    if (spans[parted]) spans[parted].classList.remove("gptoss-parted");
    parted = now;
    const span = spans[now];
    if (!span) return;
    span.classList.add("gptoss-parted");
    const later = globalThis.requestAnimationFrame || ((f) => f());
    later(() => { if (span.offsetTop >= 0) el.scrollTop = Math.max(0, span.offsetTop - el.clientHeight / 2); });
  };
  model.on("change:tokens", draw);
  model.on("change:selected", () => mark(model.get("selected")));
  model.on("change:marked", () => part(model.get("marked")));
  draw();
}
export default { render };
"""
_STRIP_CSS = """
.gptoss-token-strip { line-height: 1.9; max-height: 14em; overflow: auto; font-family: monospace;
  position: relative; }
/* inline-block: a line may break between two tokens (spans of pre text give it no other place to) */
.gptoss-token { display: inline-block; white-space: pre; cursor: pointer; margin: 0 1px; padding: 0 1px;
  border-radius: 2px; line-height: 1.5; }
.gptoss-special { font-style: italic; opacity: 0.75; }
.gptoss-selected { outline: 2px solid var(--jp-ui-font-color0, #222); }
.gptoss-parted { outline: 2px solid #d62728; outline-offset: 1px; font-weight: bold; }
"""


class TokenStrip(anywidget.AnyWidget):
    """Tokens in a row that wraps, coloured by source; a click sets ``selected``; ``marked`` is outlined red."""

    _esm = _STRIP_ESM
    _css = _STRIP_CSS
    tokens = List(Unicode(), help="Each token as shown (newlines as ↵, bidi controls as ⟨U+202E⟩).").tag(sync=True)
    sources = List(Unicode(), help="Each token's source: a prompt role or the assistant's channel.").tag(sync=True)
    specials = List(Bool(), help="True for harmony's special tokens (<|start|>, <|channel|>, ...).").tag(sync=True)
    colors = Dict(help="source -> CSS colour.").tag(sync=True)
    selected = Int(-1, help="The clicked token's position; -1 before any click.").tag(sync=True)
    marked = Int(-1, help="A position outlined in red (where two replies part); -1 for none.").tag(sync=True)

    @classmethod
    def of(cls, strings: list[str], sources: list[str], **kwargs: Any) -> TokenStrip:
        """A strip of these token strings (as decoded) and their sources."""
        return cls(
            tokens=[shown(s) for s in strings],
            sources=list(sources),
            specials=[s.startswith("<|") and s.endswith("|>") for s in strings],
            colors=dict(SOURCE_COLORS),
            **kwargs,
        )


def shown(token: str) -> str:
    """A token as the strip shows it: newlines, tabs and bidirectional controls visible (see render.show_bidi)."""
    return show_bidi(token.replace("\n", "↵").replace("\t", "⇥")) or "∅"
