"""SubmitKeys: Ctrl+Enter (Cmd+Enter on a Mac) in a widget's text box runs the widget's main action.

ipywidgets' Textarea sends Python no key events (ipywidgets 8.1: its front end stops every keydown in the
box, so that typing never runs a notebook shortcut). This hidden anywidget listens on the page instead, in
the capture phase, so it sees the key before the box and JupyterLab do: Ctrl+Enter in a box matching
``box`` inside its own ``container`` (the nearest one around it) is taken from JupyterLab (the cell does not
run) and the box's text is sent to Python. Two widgets on one page each answer only their own box.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import ipywidgets as widgets
from traitlets import Unicode

__all__ = ["SubmitKeys"]

# Shipped inline with the package: nothing is fetched from a CDN.
_ESM = """
function render({ model, el }) {
  const onKey = (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || event.isComposing) return;
    const target = event.target;
    const box = target instanceof Element ? target.closest(model.get("box")) : null;
    const home = el.closest(model.get("container"));
    if (!box || !home || box.closest(model.get("container")) !== home) return;
    event.preventDefault();
    event.stopPropagation();
    model.send({ event: "submit", text: typeof target.value === "string" ? target.value : "" });
  };
  window.addEventListener("keydown", onKey, true);
  return () => window.removeEventListener("keydown", onKey, true);
}
export default { render };
"""


class SubmitKeys(anywidget.AnyWidget):
    """Calls ``on_submit(text)`` when Ctrl+Enter is pressed in the ``box`` of this widget's ``container``."""

    _esm = _ESM
    box = Unicode(".gptoss-prompt", help="CSS selector of the text box whose Ctrl+Enter submits.").tag(sync=True)
    container = Unicode(".gptoss-playground", help="CSS selector of the widget around both this one and its box.").tag(
        sync=True
    )

    def __init__(self, on_submit: Callable[[str], Any], **kwargs: Any) -> None:
        super().__init__(layout=widgets.Layout(display="none"), **kwargs)
        self.on_submit = on_submit
        self.on_msg(self._message)

    def _message(self, widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "submit":
            self.on_submit(str(content.get("text", "")))
