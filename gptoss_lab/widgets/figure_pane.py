"""FigurePane: a plotly figure in a widget, drawn by the notebook's own plotly renderer; ``show`` redraws it.

Why not plotly's ``FigureWidget``: each one carries its own copy of plotly.js (its front end, about 5 MB),
which the browser receives, compiles and starts once per widget, and its Python side imports plotly's
renderers, which import nbformat and jsonschema (seconds in a fresh kernel). Three of them made the
Explorer take 10-20 s to show (``bench/explorer_open.py``). A pane is an ipywidgets ``Output`` holding the
figure's notebook output, the same Plotly JSON a cell's figure has (with :data:`~gptoss_lab.viz._figure.CONFIG`),
so the page draws it with the plotly.js it loaded once for every figure. A change redraws the figure
instead of restyling it in place: a few hundred milliseconds, for a click.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from ..viz._figure import mime_bundle

__all__ = ["FigurePane"]


class FigurePane(widgets.Output):
    """Shows one plotly figure: ``figure`` is the one shown (None before the first), to read; ``show`` another
    to change it (``layout`` stays the widget's CSS box, as on every ipywidget)."""

    def __init__(self, figure: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.figure: Any = None
        if figure is not None:
            self.show(figure)

    def show(self, figure: Any) -> None:
        """Draw ``figure`` in place of the one shown."""
        self.figure = figure
        self.outputs = ({"output_type": "display_data", "data": mime_bundle(figure), "metadata": {}},)
