"""The figures' template: the page's background, text and grid colours of JupyterLab's Light or Dark theme.

Plotly paints its own colours into the SVG (no CSS variable reaches them), and JupyterLab's plotly
renderer does not tell a figure which theme the page has. So every figure is drawn for the theme chosen
when it is made, on that theme's page colour, with its ink:

* ``GPTOSS_LAB_THEME`` = ``light``, ``dark`` or ``neutral`` when set;
* else the theme chosen in JupyterLab (Settings > Theme), read from its settings file
  (``$JUPYTERLAB_SETTINGS_DIR`` or ``~/.jupyter/lab/user-settings``): dark ink-on-light for
  JupyterLab Light or no choice saved (JupyterLab's default), light-on-dark for a dark theme;
* ``neutral`` (a grey that reads on white and on JupyterLab Dark's #111, on a transparent background)
  where the page's colour cannot be known: a theme that follows the system, or one whose name says
  neither light nor dark.

A figure keeps the colours it was made with (a readable card on the other theme's page): after switching
the theme, run the cell again to blend it in.
``gptoss-lab export-notebooks`` writes light pages, so it draws with ``light``.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any

__all__ = ["INK", "THEMES", "current_theme", "ink", "template"]

#: Text, axis and grid colours per theme. Contrast of the text on the page (WCAG): light 12.6:1 on
#: white, dark 13.4:1 on #111111 (JupyterLab Dark's page), neutral 4.3:1 on white and 4.4:1 on #111111.
#: The paper is the page's own colour (JupyterLab Light's white, Dark's #111111), so a figure blends into
#: the page it was drawn for and stays a readable card on the other one (a notebook saved in one theme and
#: opened in the other); the neutral one is transparent.
THEMES: dict[str, dict[str, str]] = {
    "light": {"ink": "#333333", "paper": "#ffffff", "grid": "rgba(0,0,0,0.10)", "line": "rgba(0,0,0,0.45)"},
    "dark": {"ink": "#d9d9d9", "paper": "#111111", "grid": "rgba(255,255,255,0.14)", "line": "rgba(255,255,255,0.5)"},
    "neutral": {
        "ink": "#7a7a7a",
        "paper": "rgba(0,0,0,0)",
        "grid": "rgba(128,128,128,0.25)",
        "line": "rgba(128,128,128,0.6)",
    },
}
INK = {name: colors["ink"] for name, colors in THEMES.items()}
_THEME_FILE = Path("@jupyterlab") / "apputils-extension" / "themes.jupyterlab-settings"


def _settings_dir() -> Path:
    given = os.environ.get("JUPYTERLAB_SETTINGS_DIR")
    return Path(given).expanduser() if given else Path.home() / ".jupyter" / "lab" / "user-settings"


def _jupyterlab_theme() -> str:
    """light, dark or neutral, from JupyterLab's saved theme choice (light when none is saved)."""
    path = _settings_dir() / _THEME_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return "light"
    # the file is JSON with // comments (JupyterLab writes them above each key)
    try:
        saved = json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M) or "{}")
    except ValueError:
        return "neutral"
    if not isinstance(saved, dict):
        return "neutral"
    if saved.get("adaptive-theme"):
        return "neutral"  # follows the operating system's setting, which the kernel cannot see
    name = str(saved.get("theme", "JupyterLab Light")).lower()
    if "dark" in name:
        return "dark"
    return "light" if "light" in name else "neutral"


def current_theme() -> str:
    """The theme the next figure is drawn for: light, dark or neutral (see the module's docstring)."""
    given = os.environ.get("GPTOSS_LAB_THEME", "").strip().lower()
    if given:
        if given not in THEMES:
            raise ValueError(f"GPTOSS_LAB_THEME must be one of {', '.join(THEMES)}; got {given!r}")
        return given
    return _jupyterlab_theme()


def ink(theme: str | None = None) -> str:
    """The text colour of ``theme`` (default: the current one), for lines and marks that must stand out."""
    return INK[theme or current_theme()]


def template(theme: str | None = None) -> Any:
    """Plotly's own template with ``theme``'s page colour, ink, grid and axis lines (built once per theme)."""
    return _template(theme or current_theme())


_KINDS = ("bar", "contour", "heatmap", "histogram", "histogram2d", "pie", "scatter", "scattergl", "table")


@functools.cache
def _template(theme: str) -> Any:
    import plotly.graph_objects as go
    import plotly.io as pio

    colors = THEMES[theme]
    # plotly's template as plain data: its layout, and its trace defaults for the 2-D kinds a notebook draws
    # (building the defaults of all 24 kinds it holds, maps, 3-D and carpets, imports their validators, a tenth
    # of a second on a first figure). Read from its JSON, not its child objects: handing those to a new
    # template looks each up in its parent, which failed once in a notebook's kernel ("Invalid value")
    plotly = pio.templates["plotly"].to_plotly_json()
    data = {kind: plotly["data"][kind] for kind in _KINDS if kind in plotly["data"]}
    base = go.layout.Template(layout=plotly["layout"], data=data)
    axis = {"gridcolor": colors["grid"], "linecolor": colors["line"], "zerolinecolor": colors["line"]}
    axis |= {"tickcolor": colors["line"], "title": {"font": {"color": colors["ink"]}}}
    base.layout.update(
        paper_bgcolor=colors["paper"],
        plot_bgcolor=colors["paper"],
        font={"color": colors["ink"]},
        title={"font": {"color": colors["ink"]}},
        xaxis=axis,
        yaxis=axis,
        legend={"font": {"color": colors["ink"]}},
        coloraxis={"colorbar": {"outlinewidth": 0, "tickfont": {"color": colors["ink"]}}},
    )
    return base
