"""Run notebooks and write each as one self-contained HTML page: its outputs, figures that still zoom and
hover, and nothing loaded from the network.

A notebook run without a browser keeps each figure as Plotly's JSON (``application/vnd.plotly.v1+json``),
which nbconvert's HTML cannot draw: the page shows a gap. Here every figure output gains a ``text/html`` part
that draws that JSON with plotly.js, and plotly.js is written once into the page's head (from the installed
plotly package, never a CDN). The page drops what nbconvert's lab template would fetch from the network:
require.js, MathJax (the notebooks hold no math, and model text is never typeset), mermaid and the widget
manager. A widget output keeps only its text, since its state needs that manager.

``gptoss-lab export-notebooks OUT_DIR [NOTEBOOK ...]`` is the shell over :func:`export`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .errors import MissingPackageError, OptionError

__all__ = [
    "PLOTLY_MIME",
    "Exported",
    "NotebookFailed",
    "draw_figures",
    "execute",
    "export",
    "figure_outputs",
    "settle_streams",
    "to_html",
]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PIP_HINT = "pip install 'gptoss-lab[notebook]'"
#: Seconds a cell may run before the export gives up on the notebook (a hang guard, not a speed target).
CELL_TIMEOUT_S = 600
#: A figure without a height of its own is drawn this tall, as plotly's notebook renderer does.
FIGURE_HEIGHT_PX = 525

# nbconvert's lab page without the blocks that load scripts from the network; plotly.js inline instead.
_TEMPLATE_NAME = "gptoss_offline.html.j2"
_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}
{%- if resources.plotly_js -%}
<script type="text/javascript" class="gptoss-plotlyjs">{{ resources.plotly_js }}</script>
{%- endif -%}
{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


class NotebookFailed(RuntimeError):
    """A cell of the notebook raised: the message names the notebook and holds the cell's traceback."""


@dataclass(frozen=True)
class Exported:
    """One notebook written as a page: where from, where to, how many figures, how long it ran, and the
    notebook with its outputs."""

    notebook: Path
    html: Path
    figures: int
    seconds: float
    executed: Any = field(repr=False)


def _require(module: str) -> Any:
    from importlib import import_module

    try:
        return import_module(module)
    except ImportError as err:
        raise MissingPackageError(f"exporting notebooks needs {module}, which is not installed: {PIP_HINT}") from err


def execute(path: Path, *, cwd: Path, timeout: int = CELL_TIMEOUT_S) -> Any:
    """The notebook at ``path`` run top to bottom in a fresh ``python3`` kernel started in ``cwd``.

    The kernel talks over sockets in ``cwd`` where the system has them (not TCP on localhost, which any
    local user could reach, and which ipykernel warns about). Its figures are drawn for a light page (the
    exported one), whatever JupyterLab's theme (``gptoss_lab.viz._theme``)."""
    nbformat, nbclient, failed = _require("nbformat"), _require("nbclient"), _require("nbclient.exceptions")
    from traitlets.config import Config

    nb = nbformat.read(path, as_version=4)
    sockets = {"transport": "ipc", "ip": str(cwd / "kernel")} if os.name == "posix" else {}
    client = nbclient.NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": cwd}},
        config=Config({"KernelManager": sockets}),  # the client makes the manager, and shuts its kernel down
    )
    try:
        client.execute(env={**os.environ, "GPTOSS_LAB_THEME": "light"})
    except failed.CellExecutionError as err:
        raise NotebookFailed(f"{path}: a cell failed, so no page was written for it\n{err}") from None
    return nb


def _outputs(nb: Any) -> Iterator[Any]:
    for cell in nb.cells:
        if cell.cell_type == "code":
            yield from cell.outputs


def figure_outputs(nb: Any) -> list[Any]:
    """The outputs of ``nb`` that hold a Plotly figure."""
    return [o for o in _outputs(nb) if PLOTLY_MIME in o.get("data", {})]


def draw_figures(nb: Any) -> int:
    """Give every figure output of ``nb`` HTML that draws it (plotly.js not included); widget outputs keep
    only their text. Returns the number of figures."""
    pio = _require("plotly.io")
    figures = figure_outputs(nb)
    for i, output in enumerate(figures):
        spec = dict(output.data[PLOTLY_MIME])
        config = spec.pop("config", None) or {}
        output.data["text/html"] = pio.to_html(
            spec,
            config=config,
            include_plotlyjs=False,
            full_html=False,
            div_id=f"gptoss-figure-{i}",  # stable ids: exporting twice writes the same page
            default_height=FIGURE_HEIGHT_PX,
            validate=False,
        )
    for output in _outputs(nb):
        output.get("data", {}).pop(WIDGET_MIME, None)
    return len(figures)


def settle_streams(nb: Any) -> None:
    """Each cell's printed text as it last looked on screen: consecutive pieces of one stream joined, a line
    redrawn after carriage returns kept in its last state (a progress bar's last frame, not every frame),
    and a stream left blank (a bar that erased itself when done) dropped."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept: list[Any] = []
        for output in cell.outputs:
            last = kept[-1] if kept else None
            if output.output_type == "stream" and last is not None and last.get("name") == output.name:
                last.text += output.text
            else:
                kept.append(output)
        for output in kept:
            if output.output_type == "stream":
                output.text = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in output.text.split("\n"))
        cell.outputs = [o for o in kept if o.output_type != "stream" or o.text.strip()]


def to_html(nb: Any, *, title: str) -> str:
    """``nb`` (figures drawn by :func:`draw_figures`) as one page that loads nothing from the network."""
    import jinja2

    nbconvert = _require("nbconvert")
    exporter = nbconvert.HTMLExporter(
        template_name="lab",
        template_file=_TEMPLATE_NAME,
        extra_loaders=[jinja2.DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
    )
    plotly_js = _require("plotly.offline").get_plotlyjs() if figure_outputs(nb) else ""
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}, "plotly_js": plotly_js})
    return body


def export(
    notebooks: Iterable[Path], out_dir: Path, *, timeout: int = CELL_TIMEOUT_S, progress: TextIO | None = None
) -> list[Exported]:
    """Run each notebook in a fresh kernel (in an empty scratch folder, so nothing it writes lands beside it)
    and write ``out_dir/NAME.html``. A line per notebook goes to ``progress`` as it starts and ends."""
    paths = [Path(p) for p in notebooks]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise OptionError(f"no notebook at {', '.join(missing)}: give paths to .ipynb files")
    out_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for path in paths:
        if progress is not None:
            print(f"running {path} …", file=progress, flush=True)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"gptoss-export-{path.stem}-") as scratch:
            nb = execute(path, cwd=Path(scratch), timeout=timeout)
        figures = draw_figures(nb)
        settle_streams(nb)
        target = out_dir / f"{path.stem}.html"
        target.write_text(to_html(nb, title=path.stem), encoding="utf-8")
        item = Exported(path, target, figures, time.perf_counter() - start, nb)
        done.append(item)
        if progress is not None:
            size = target.stat().st_size / 2**20
            plural = "" if figures == 1 else "s"
            line = f"  {figures} figure{plural}, ran in {item.seconds:.1f} s -> {target} ({size:.1f} MiB)"
            print(line, file=progress)
    return done
