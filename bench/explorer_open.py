"""The Explorer opening on a ~500-token nano reply, against the previous Explorer, in one process.

    python bench/explorer_open.py [--tokens 500] [--rounds 5] [--threads 1]

"before" is the previous Explorer, kept here: its three figures were plotly ``FigureWidget`` s restyled in
place, and its routing map and attention strips added one shape per run of tokens. Each FigureWidget's state
carries its own front end, plotly.js (about 5 MB), which the browser receives, compiles and starts once per
widget, and the first one imports plotly's renderers, which import nbformat and jsonschema. Each next path
adds one change: "+panes" shows each figure in a :class:`~gptoss_lab.widgets.figure_pane.FigurePane` (its
Plotly JSON, drawn by the plotly.js the notebook page already has); "+shapes" adds a figure's shapes in one
step (``viz._common.add_shapes``: one by one, each validated every shape before it again); it is the current
Explorer. Printed for each path:

* open: ``Explorer(reply, lab=lab)`` in this process, imports done (median of rounds, the paths alternating);
* sent: the bytes of widget state the browser receives for it (what it must parse and start);
* click: selecting another token (the token path, the attention recompute and the map's mark redrawn);
* first open in a fresh process: imports included, with the model already loaded, as in a notebook after
  its first reply (one child process per path and round); for the current Explorer also after
  ``widgets.prewarm_explorer`` (what a Lab starts in a kernel once a reply with a trace is done), joined
  first: what is left of a first open when the student opens it after reading the reply.

The browser's own drawing is not timed here: tests/browser/test_explorer.py times an open on screen. The
reply: follow-up questions at high effort until its trace holds ``--tokens`` tokens (prompt included, as
the Explorer's token strip shows them).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's Explorer

QUESTIONS = ("What is 4738 + 2596?", "What is 6385 + 2947?", "What is 5827 + 3496?", "What is 7319 - 2864?")


def before_add_shapes(fig: Any, shapes: Any) -> None:
    """The previous ribbons and strips: one ``add_shape`` per run (each validates every shape before it again)."""
    for shape in shapes:
        fig.add_shape(shape)


@contextlib.contextmanager
def shapes_one_by_one() -> Iterator[None]:
    """While it lasts, the figures add their shapes as before."""
    from gptoss_lab.viz import _common, attention

    saved = _common.add_shapes, attention.add_shapes  # the routing map's ribbon is _common's
    _common.add_shapes = attention.add_shapes = before_add_shapes
    try:
        yield
    finally:
        _common.add_shapes, attention.add_shapes = saved


def with_shapes_one_by_one(explorer: Any) -> Any:
    """``explorer`` (a class) drawing its routing map and attention with shapes added as before."""

    class OneByOne(explorer):
        def _expert_figure(self) -> Any:
            with shapes_one_by_one():
                return super()._expert_figure()

        def _attention_figure(self) -> Any:
            with shapes_one_by_one():
                return super()._attention_figure()

    return OneByOne


def figure_widget_explorer() -> Any:
    """The Explorer with each figure a FigureWidget, a redraw restyling its traces and layout in place."""
    import plotly.graph_objects as go

    from gptoss_lab.viz._figure import CONFIG, MODEBAR_REMOVE
    from gptoss_lab.widgets.explorer import Explorer

    class BeforePane(go.FigureWidget):
        @property
        def figure(self) -> Any:
            return self

        def show(self, figure: Any) -> None:  # the previous Explorer._refresh
            if figure is self:  # a mark moved on the widget itself: already drawn
                return
            with self.batch_update():
                if [t.type for t in self.data] != [t.type for t in figure.data]:
                    self.data = ()
                    self.add_traces(list(figure.data))
                else:
                    for old, new in zip(self.data, figure.data, strict=True):
                        old.update(new.to_plotly_json(), overwrite=True)
                self.layout.update(figure.layout.to_plotly_json(), overwrite=True)

    class FigureWidgetExplorer(Explorer):
        @staticmethod
        def _pane(figure: Any = None) -> Any:
            pane = BeforePane(figure)
            pane._config = dict(CONFIG)
            pane.update_layout(modebar_remove=list(MODEBAR_REMOVE))
            return pane

    return FigureWidgetExplorer


def pane_explorer() -> Any:
    from gptoss_lab.widgets.explorer import Explorer

    return Explorer


#: Each path adds one change: "+panes" the figure panes, "+shapes" shapes added at once (the current Explorer).
PATHS = {
    "before": lambda: with_shapes_one_by_one(figure_widget_explorer()),
    "+panes": lambda: with_shapes_one_by_one(pane_explorer()),
    "+shapes": pane_explorer,
}


def make_reply(lab: Any, tokens: int) -> Any:
    """A reply whose trace holds at least ``tokens`` tokens: follow-ups on one conversation."""
    for question in itertools.cycle(QUESTIONS):
        reply = lab.ask(question, effort="high", seed=0, capture=True)
        if reply.trace.n_tokens >= tokens:
            return reply
    raise AssertionError("unreachable")


def sent_bytes(root: Any) -> int:
    """Bytes of widget state the front end receives for ``root`` and every widget under it."""
    from ipywidgets import Widget
    from ipywidgets.widgets.widget import _remove_buffers

    total, seen, todo = 0, set(), [root]
    while todo:
        widget = todo.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        state, _, buffers = _remove_buffers(widget.get_state())
        total += len(json.dumps(state, default=str)) + sum(len(b) for b in buffers)
        todo += [w for w in state_widgets(widget) if isinstance(w, Widget)]
    return total


def state_widgets(widget: Any) -> list[Any]:
    """The widgets ``widget`` holds: its children, layout and style."""
    held = list(getattr(widget, "children", ()))
    return held + [getattr(widget, name, None) for name in ("layout", "style")]


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def child(path: str, trace_file: str, threads: int, prewarm: bool) -> None:
    """A first open in this fresh process, the model loaded first (and the prewarm run); prints the seconds."""
    import torch

    from gptoss_lab import Lab
    from gptoss_lab.trace import Trace

    torch.set_num_threads(threads)
    lab = Lab("nano")
    lab.handle.load()
    if prewarm:
        from gptoss_lab.widgets import prewarm_explorer

        prewarm_explorer().join()
    reply = SimpleNamespace(trace=Trace.load(trace_file), model="gpt-oss-nano", effort="high")
    print(timed(lambda: PATHS[path]()(reply, lab=lab)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=500, help="tokens in the reply's trace (default: 500)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: see bench/threads.py)")
    parser.add_argument("--child", choices=list(PATHS), help=argparse.SUPPRESS)
    parser.add_argument("--trace", help=argparse.SUPPRESS)
    parser.add_argument("--prewarm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.trace, args.threads, args.prewarm)

    import torch

    from gptoss_lab import Lab

    torch.set_num_threads(args.threads)
    lab = Lab("nano")
    reply = make_reply(lab, args.tokens)
    trace = reply.trace
    print(f"reply: {trace.n_tokens} tokens ({trace.n_prompt} prompt), {args.rounds} rounds, paths alternating")
    classes = {name: make() for name, make in PATHS.items()}
    for cls in classes.values():
        cls(reply, lab=lab)  # warm: imports and the first attention recompute
    opens: dict[str, list[float]] = {name: [] for name in PATHS}
    clicks: dict[str, list[float]] = {name: [] for name in PATHS}
    sent = {}
    for _ in range(args.rounds):
        for name, cls in classes.items():
            start = time.perf_counter()
            explorer = cls(reply, lab=lab)
            opens[name].append(time.perf_counter() - start)
            clicks[name].append(timed(lambda e=explorer: setattr(e, "selected", trace.n_tokens - 2)))
            sent[name] = sent_bytes(explorer)
    fresh: dict[str, list[float]] = {name: [] for name in [*PATHS, "+prewarm"]}
    with tempfile.TemporaryDirectory() as folder:
        saved = str(trace.save(Path(folder) / "reply.npz"))
        for _ in range(max(1, args.rounds // 2)):
            for name in fresh:
                path, extra = ("+shapes", ["--prewarm"]) if name == "+prewarm" else (name, [])
                cmd = [sys.executable, __file__, "--child", path, "--trace", saved, "--threads", str(args.threads)]
                out = subprocess.run(cmd + extra, capture_output=True, text=True, check=True).stdout
                fresh[name].append(float(out.strip().splitlines()[-1]))
    medians = {name: [statistics.median(d[name]) for d in (opens, clicks, fresh)] for name in PATHS}
    for name, (o, c, f) in medians.items():
        b_open, _, b_fresh = medians["before"]
        vs = "" if name == "before" else f" ({b_open / o:.2f}x faster)"
        vs_fresh = "" if name == "before" else f" ({b_fresh / f:.2f}x faster)"
        print(
            f"{name:7s}  open {o:6.3f} s{vs:16s}  sent {sent[name] / 1e6:6.2f} MB  click {c:6.3f} s  "
            f"first open in a fresh process {f:5.2f} s{vs_fresh}"
        )
    now, warmed = statistics.median(fresh["+shapes"]), statistics.median(fresh["+prewarm"])
    print(f"+prewarm first open in a fresh process {warmed:5.2f} s ({now / warmed:.2f}x faster than +shapes)")


if __name__ == "__main__":
    main()
