"""Figures take their ink from the theme chosen in JupyterLab (its settings file) or GPTOSS_LAB_THEME."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("plotly")

from gptoss_lab.viz import _theme

THEME_FILE = ("@jupyterlab", "apputils-extension", "themes.jupyterlab-settings")


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """A JupyterLab settings folder of the test's own; returns a writer of its theme file."""
    monkeypatch.setenv("JUPYTERLAB_SETTINGS_DIR", str(tmp_path))
    monkeypatch.delenv("GPTOSS_LAB_THEME", raising=False)

    def write(text: str) -> None:
        path = tmp_path.joinpath(*THEME_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    return write


@pytest.mark.parametrize(
    ("saved", "theme"),
    [
        (None, "light"),  # nothing saved: JupyterLab's default theme is Light
        ('{\n    // Theme\n    // Application-level visual styling theme\n    "theme": "JupyterLab Dark"\n}', "dark"),
        (json.dumps({"theme": "JupyterLab Light"}), "light"),
        (json.dumps({"theme": "JupyterLab Dark", "adaptive-theme": True}), "neutral"),  # follows the system
        (json.dumps({"theme": "Solarized"}), "neutral"),  # a name that says neither
        ("{not json", "neutral"),
    ],
)
def test_the_theme_is_read_from_jupyterlabs_settings(settings, saved, theme):
    if saved is not None:
        settings(saved)
    assert _theme.current_theme() == theme


def test_the_environment_overrides_the_settings_and_a_bad_value_says_what_to_type(settings, monkeypatch):
    settings(json.dumps({"theme": "JupyterLab Dark"}))
    monkeypatch.setenv("GPTOSS_LAB_THEME", "Light")
    assert _theme.current_theme() == "light"
    monkeypatch.setenv("GPTOSS_LAB_THEME", "sepia")
    with pytest.raises(ValueError, match="GPTOSS_LAB_THEME must be one of light, dark, neutral; got 'sepia'"):
        _theme.current_theme()


def _contrast(a: str, b: str) -> float:
    def lum(h: str) -> float:
        c = [int(h[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    hi, lo = sorted([lum(a), lum(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_each_themes_ink_reads_on_its_page():
    white, dark_page = "#ffffff", "#111111"  # JupyterLab Light's and Dark's notebook background
    assert _contrast(_theme.INK["light"], white) >= 7 and _contrast(_theme.INK["dark"], dark_page) >= 7
    assert min(_contrast(_theme.INK["neutral"], page) for page in (white, dark_page)) >= 4.25


def test_a_figure_is_made_on_the_pages_colour_with_the_current_ink(settings):
    from gptoss_lab.viz._common import new_figure

    settings(json.dumps({"theme": "JupyterLab Dark"}))
    layout = new_figure().layout.template.layout
    assert layout.paper_bgcolor == layout.plot_bgcolor == "#111111"  # JupyterLab Dark's page
    assert layout.font.color == _theme.INK["dark"] and layout.xaxis.gridcolor == _theme.THEMES["dark"]["grid"]
    assert _contrast(_theme.INK["dark"], layout.paper_bgcolor) >= 7  # its own card, whatever page it is shown on
    settings(json.dumps({"theme": "JupyterLab Light"}))
    light = new_figure().layout.template.layout
    assert light.font.color == _theme.INK["light"] and light.paper_bgcolor == "#ffffff"
    settings(json.dumps({"theme": "JupyterLab Dark", "adaptive-theme": True}))
    assert new_figure().layout.template.layout.paper_bgcolor == "rgba(0,0,0,0)"  # neutral: the page shows through
    # plotly's own template underneath: its colourway stays
    assert list(new_figure().layout.template.layout.colorway)[:2] == ["#636efa", "#EF553B"]


def test_a_notebooks_own_figure_takes_the_theme_unless_given_a_template(settings):
    from gptoss_lab import viz

    settings(json.dumps({"theme": "JupyterLab Dark"}))
    mine = viz.Figure()
    assert mine.layout.template.layout.paper_bgcolor == "#111111"
    assert viz.Figure(layout={"template": "plotly_white"}).layout.template.layout.paper_bgcolor == "white"
    settings(json.dumps({"theme": "JupyterLab Light"}))
    assert viz.Figure(mine.to_dict()).layout.template.layout.paper_bgcolor == "#111111"  # a copy keeps its own
    assert viz.Figure().layout.template.layout.paper_bgcolor == "#ffffff"
