"""``gptoss-lab export-notebooks``: a short notebook (a %%gptoss reply and two figures) run in a real kernel and
written as one page that holds every figure, plotly.js once, and no address on another host."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("nbconvert")
pytest.importorskip("plotly")

from gptoss_lab.cli import main  # noqa: E402
from gptoss_lab.export import draw_figures, export, figure_outputs, settle_streams, to_html  # noqa: E402

# the tests marked slow start a kernel: the short notebook takes 10-20 s on 2 busy cores (nano's load, one reply)

CELLS = [
    ("markdown", "# A short notebook\nA reply, then where its tokens went."),
    ("code", "%load_ext gptoss_lab"),
    ("code", "%%gptoss --effort low --max-tokens 48 --seed 0 --out reply\nWhat is 2 + 3?"),
    ("code", "reply.trace.routing_map()"),
    ("code", "reply.trace.expert_load()"),
]
# Attributes that make a browser fetch what they name.
_FETCHING = {"src", "href", "srcset", "data", "poster", "action", "formaction", "background"}


class _Page(HTMLParser):
    """What a page loads: its fetching attributes, inline styles and style sheets, script bodies; its figures."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.addresses: list[str] = []
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self.figure_divs: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in _FETCHING and value:
                self.addresses.append(value)
            if name == "style" and value:
                self.styles.append(value)
            if name == "class" and value and "plotly-graph-div" in value.split():
                self.figure_divs.append(dict(attrs).get("id") or "")
        if tag in ("script", "style"):
            self._in = tag
            (self.scripts if tag == "script" else self.styles).append("")

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts[-1] += data
        elif self._in == "style":
            self.styles[-1] += data


def _remote(address: str) -> bool:
    """An address on another host: http(s)://, protocol-relative //host."""
    return bool(re.match(r"\s*(https?:)?//", address, re.I))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str]:
    """(the executed notebook, its page)."""
    folder = tmp_path_factory.mktemp("export")
    source = folder / "short.ipynb"
    cells = [getattr(nbformat.v4, f"new_{kind}_cell")(text) for kind, text in CELLS]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), source)
    (done,) = export([source], folder / "html")
    assert done.html == folder / "html" / "short.html"
    return done.executed, done.html.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_page_holds_every_figure_of_the_notebook(exported):
    nb, page = exported
    parsed = _Page()
    parsed.feed(page)
    figures = figure_outputs(nb)
    assert len(figures) == 2
    assert len(parsed.figure_divs) == len(figures)
    for div in parsed.figure_divs:  # each drawn by a script of its own, from the figure's JSON
        drawn = [s for s in parsed.scripts if re.search(rf'Plotly\.newPlot\(\s*"{div}"', s)]
        assert len(drawn) == 1, div


@pytest.mark.slow
def _plotly_js_sample() -> str:
    """300 characters from the middle of the installed plotly.js bundle."""
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    return js[len(js) // 2 : len(js) // 2 + 300]


@pytest.mark.slow
def test_plotly_js_is_inline_once(exported):
    _, page = exported
    assert page.count(_plotly_js_sample()) == 1  # the bundle, once, in the page itself


@pytest.mark.slow
def test_nothing_is_fetched_from_another_host(exported):
    _, page = exported
    middle = _plotly_js_sample()
    parsed = _Page()
    parsed.feed(page)
    assert [a for a in parsed.addresses if _remote(a)] == []
    css_urls = [u for s in parsed.styles for u in re.findall(r"url\(\s*['\"]?([^'\")]+)", s)]
    assert [u for u in css_urls if _remote(u)] == []
    assert not any(re.search(r"@import\s+(url\()?\s*['\"]?(https?:)?//", s) for s in parsed.styles)
    # the page's own scripts (all but plotly.js, whose map styles name tile servers it never loads here)
    # name no address at all
    own = [s for s in parsed.scripts if middle not in s]
    assert [m for s in own for m in re.findall(r"(?:https?:)?//[\w.-]+\.\w+", s)] == []


@pytest.mark.slow
def test_the_reply_shows_its_reasoning_apart_from_its_answer(exported):
    nb, page = exported
    reply = next(o for o in nb.cells[2].outputs if "text/html" in o.get("data", {}))
    assert "text/plain" in reply.data  # the fallback of viewers that show no HTML
    assert page.count('class="gptoss-reply') == 1
    assert '<details class="gptoss-reasoning">' in page
    assert 'class="gptoss-answer"' in page
    assert "gpt-oss-nano · effort low" in page


def test_figures_get_html_and_widgets_their_text():
    nb = nbformat.v4.new_notebook()
    figure = {"data": [{"type": "bar", "y": [1, 2]}], "layout": {}, "config": {"displaylogo": False}}
    widget = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [
        nbformat.v4.new_output("display_data", {"application/vnd.plotly.v1+json": figure, "text/plain": "Figure"}),
        nbformat.v4.new_output(
            "display_data", {"application/vnd.jupyter.widget-view+json": widget, "text/plain": "50%|##### | 1/2"}
        ),
    ]
    nb.cells = [cell]
    assert draw_figures(nb) == 1
    html = cell.outputs[0].data["text/html"]
    assert 'id="gptoss-figure-0"' in html and '"displaylogo": false' in html
    assert list(cell.outputs[1].data) == ["text/plain"]
    page = to_html(nb, title="t")
    assert "50%|##### | 1/2" in page
    assert page.count('class="plotly-graph-div"') == 1


def test_progress_bars_keep_their_last_frame_and_erased_ones_go():
    cell = nbformat.v4.new_code_cell("")
    stream = nbformat.v4.new_output
    cell.outputs = [
        stream("stream", name="stderr", text="low:   0%|  | 0/2\rlow:  50%|# | 1/2"),
        stream("stream", name="stderr", text="\rlow: 100%|##| 2/2\n"),
        stream("stream", name="stdout", text="6 questions in 1.0 s\n"),
        stream("stream", name="stderr", text="high:   0%|  | 0/2\r          \r"),
        stream("stream", name="stdout", text="a\r\nb\n"),
    ]
    nb = nbformat.v4.new_notebook(cells=[cell])
    settle_streams(nb)
    assert [(o.name, o.text) for o in cell.outputs] == [
        ("stderr", "low: 100%|##| 2/2\n"),
        ("stdout", "6 questions in 1.0 s\n"),
        ("stdout", "a\nb\n"),
    ]


def test_no_figures_no_plotly_js():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("text only")])
    page = to_html(nb, title="t")
    assert "plotly" not in page.lower()
    assert len(page) < 1_000_000


@pytest.mark.slow
def test_a_failing_cell_names_the_notebook(tmp_path, capsys):
    source = tmp_path / "broken.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")]), source)
    assert main(["export-notebooks", str(tmp_path / "html"), str(source)]) == 1
    err = capsys.readouterr().err
    assert f"{source}: a cell failed" in err and "ZeroDivisionError" in err
    assert not (tmp_path / "html" / "broken.html").exists()


def test_a_missing_notebook_is_one_line(tmp_path, capsys):
    assert main(["export-notebooks", str(tmp_path / "html"), str(tmp_path / "nope.ipynb")]) == 2
    assert "no notebook at" in capsys.readouterr().err
