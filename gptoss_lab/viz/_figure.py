"""The figure every viz function returns, and the FigureWidgets the widgets show: Plotly's chrome without
its logo (a link to Plotly's site) or its "Share chart" button (an upload), which have no place in an
offline toolkit.

A ``go.Figure`` keeps no display config, so :class:`Figure` passes :data:`CONFIG` wherever it is shown:
the notebook's mime bundle (what a saved notebook keeps and exports), ``show``, ``to_html`` and
``write_html``. The layout removes the share button too (``modebar.remove``, set by ``finish``), and the
layout travels with the figure's JSON into any FigureWidget, export or copy.

Imported only once plotly is known to be there (``_common.require_plotly``).
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

__all__ = ["CONFIG", "MODEBAR_REMOVE", "PLOTLY_MIME", "Figure", "figure_widget", "mime_bundle"]

#: Plotly.js's config for every figure of the toolkit.
CONFIG: dict[str, Any] = {"displaylogo": False, "showSendToCloud": False}
#: Modebar buttons no figure shows: the upload, under its current and its older name.
MODEBAR_REMOVE = ("sendChartToCloud", "sendDataToCloud")
#: The notebook output type of a plotly figure, which JupyterLab's plotly extension draws.
PLOTLY_MIME = "application/vnd.plotly.v1+json"
#: What a front end without a plotly renderer shows instead.
NO_RENDERER = (
    "(a plotly figure: this front end has no plotly renderer; JupyterLab and Jupyter Notebook 7 draw it with "
    "the extension that the plotly package installs)"
)


def _with_config(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with ``config`` = CONFIG, updated by the caller's own config if given."""
    return {**kwargs, "config": {**CONFIG, **(kwargs.get("config") or {})}}


def _has_template(data: Any, layout: Any) -> bool:
    """Whether a template comes with the arguments (a figure's dict or a layout that names one)."""
    for source in (layout, data.get("layout") if isinstance(data, dict) else getattr(data, "layout", None)):
        if isinstance(source, dict) and source.get("template") is not None:
            return True
        if isinstance(source, go.Layout) and source.to_plotly_json().get("template") is not None:
            return True
    return False


class Figure(go.Figure):
    """A ``plotly.graph_objects.Figure`` that shows with :data:`CONFIG` (no logo, no share button), drawn for
    the page's theme (:mod:`._theme`) unless it is given a template."""

    def __init__(self, data: Any = None, layout: Any = None, *args: Any, **kwargs: Any) -> None:
        given = _has_template(data, layout) or "layout_template" in kwargs
        super().__init__(data, layout, *args, **kwargs)
        if not given:
            from ._theme import template

            self.update_layout(template=template())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, validate: bool = True, **kwargs: Any) -> Any:
        return super()._repr_mimebundle_(include, exclude, validate, **_with_config(kwargs))

    def _ipython_display_(self) -> None:
        import plotly.io as pio

        if pio.renderers.render_on_display and pio.renderers.default:
            pio.show(self, **_with_config({}))
        else:
            print(repr(self))

    def show(self, *args: Any, **kwargs: Any) -> Any:
        return super().show(*args, **_with_config(kwargs))

    def to_html(self, *args: Any, **kwargs: Any) -> Any:
        return super().to_html(*args, **(kwargs if args else _with_config(kwargs)))  # config is 1st positional

    def write_html(self, *args: Any, **kwargs: Any) -> Any:
        return super().write_html(*args, **(kwargs if len(args) > 1 else _with_config(kwargs)))  # 2nd positional


def mime_bundle(figure: Any) -> dict[str, Any]:
    """``figure``'s notebook output: its Plotly JSON with :data:`CONFIG`, and a line of text.

    What ``Figure._repr_mimebundle_`` gives, built without plotly.io's renderers, whose first import brings
    nbformat and jsonschema (seconds in a fresh kernel) only to pick a renderer that is known here.
    """
    import json

    from plotly.io.json import to_json_plotly

    spec = json.loads(to_json_plotly(figure.to_dict()))  # numpy arrays as plotly's typed arrays
    spec["config"] = dict(CONFIG)
    return {PLOTLY_MIME: spec, "text/plain": NO_RENDERER}


def figure_widget(figure: Any = None) -> Any:
    """A ``go.FigureWidget`` of ``figure`` (or empty) that draws with :data:`CONFIG`.

    FigureWidget has no public config; its ``_config`` trait is what its front end hands to plotly.js.
    """
    widget = go.FigureWidget(figure)
    widget._config = dict(CONFIG)
    widget.update_layout(modebar_remove=list(MODEBAR_REMOVE))
    return widget
