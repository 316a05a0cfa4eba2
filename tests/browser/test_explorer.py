"""The Explorer in JupyterLab: the token strip wraps inside its box, the attention plot is readable, and it
shows on a ~500-token reply within seconds."""

from __future__ import annotations

import pytest

from .notebook_page import ENTRIES_JS, SCRIPTS_SINCE_JS, NotebookPage, errors_of, write_notebook

pytestmark = pytest.mark.browser

_ASK = """from gptoss_lab import Lab
lab = Lab()
r = lab.ask("Please add 4,158 and 57 for me, I need it for class.", effort="high", max_new_tokens=260)
len(r.prompt_ids) + len(r.completion_ids)"""

# The strip: no token past its right edge; the plots: the painted area of each, in px.
_GEOMETRY_JS = """() => {
  const strip = document.querySelector('.gptoss-token-strip');
  const plots = [...document.querySelectorAll('.gptoss-explorer .js-plotly-plot')].map(p => {
    const drag = p.querySelector('.nsewdrag');
    const box = drag ? drag.getBoundingClientRect() : {height: 0, width: 0};
    return {height: box.height, width: box.width, title: (p.querySelector('.gtitle') || {}).textContent || ''};
  });
  return {scrollWidth: strip.scrollWidth, clientWidth: strip.clientWidth, tokens: strip.children.length, plots};
}"""


def _explorer_on_a_reply(notebook, name: str):
    """A notebook that asks nano one question and opens the Explorer on it, run; (saved notebook, Explorer)."""
    notebook.page.set_viewport_size({"width": 1280, "height": 1000})
    write_notebook(notebook.server.root / name, [_ASK, "r.explore()"])
    notebook.open(name)
    notebook.run_all(timeout_s=240)
    saved = notebook.save()
    explorer = notebook.cell(1).locator(".gptoss-explorer")
    explorer.locator(".js-plotly-plot .nsewdrag").nth(1).wait_for(timeout=60_000)
    return saved, explorer


def test_explorer_strip_wraps_and_attention_is_tall_enough(notebook):
    page = notebook.page
    saved, explorer = _explorer_on_a_reply(notebook, "explorer.ipynb")
    assert errors_of(saved) == []
    page.wait_for_timeout(1000)
    notebook.shots.take(explorer, "explorer")
    geometry = page.evaluate(_GEOMETRY_JS)
    assert geometry["tokens"] > 150, geometry
    assert geometry["scrollWidth"] <= geometry["clientWidth"] + 1, geometry  # wrapped, nothing cut off
    titles = [p["title"] for p in geometry["plots"]]
    attention = next(p for p in geometry["plots"] if p["title"].startswith("What token"))
    assert attention["height"] >= 150, (attention, titles)  # every head a readable row


# Three follow-ups at high effort: a 462-token trace (prompt included, as the strip shows it).
_ASK_LONG = """from gptoss_lab import Lab
lab = Lab()
for q in ["What is 4738 + 2596?", "What is 6385 + 2947?", "What is 5827 + 3496?"]:
    r = lab.ask(q, effort="high", seed=0)
print("tokens:", r.trace.n_tokens)"""
_TIMED_OPEN = """import time
_start = time.time()
e = r.explore()
print(f"opening at {_start}, built in {time.time() - _start:.3f} s")
e"""
# A figure as a bare plotly mime bundle: nothing for the kernel to import or build, only the page's drawing.
_PLAIN_FIGURE = """import time
from IPython.display import display
_start = time.time()
print(f"opening at {_start}")
figure = {"data": [{"type": "heatmap", "z": [[0, 1], [1, 0]]}], "layout": {"height": 300}}
display({"application/vnd.plotly.v1+json": figure}, raw=True)"""
_FIGURE_IN_WIDGET = """import time
import ipywidgets
_start = time.time()
print(f"opening at {_start}")
figure = {"data": [{"type": "heatmap", "z": [[0, 1], [1, 0]]}], "layout": {"height": 300}}
pane = ipywidgets.Output()
pane.outputs = ({"output_type": "display_data", "data": {"application/vnd.plotly.v1+json": figure}, "metadata": {}},)
pane"""
# Explorers on the page with all three figures drawn and every token in their strip.
_SHOWN_JS = """(tokens) => [...document.querySelectorAll('.gptoss-explorer')].filter(e =>
  [...e.querySelectorAll('.js-plotly-plot')].filter(p => p.querySelector('.main-svg')).length === 3
  && e.querySelectorAll('.gptoss-token').length === tokens).length"""
# The old Explorer (three FigureWidgets, each shipping its own plotly.js) took 8.6-10 s here on a page that
# had drawn an Explorer before, 14-15 s as the page's first (2 cores busy with other work); now 1.1-1.5 s and
# 3.6-4 s (most of it the page loading its plotly renderer, once: the test times a bare figure as a page's first).


def _on_screen_after(notebook, index: int, shown_js: str, arg=None) -> tuple[float, list]:
    """Run code cell ``index`` (it prints ``opening at <time>`` first); (seconds until ``shown_js`` holds, the
    scripts the page fetched meanwhile: JupyterLab loads an extension's code on its first use)."""
    import re

    before = notebook.page.evaluate(ENTRIES_JS)
    notebook.cell(index).locator(".jp-InputArea-editor").click()
    notebook.page.keyboard.press("Shift+Enter")
    notebook.page.wait_for_function(shown_js, arg=arg, timeout=120_000, polling=50)
    shown = notebook.page.evaluate("() => Date.now() / 1000")
    scripts = notebook.page.evaluate(SCRIPTS_SINCE_JS, before)
    print(f"cell {index}: {len(scripts)} scripts fetched, {sum(kb for _, kb, _ in scripts)} kB:", scripts)
    notebook.wait_idle(60)
    said = re.search(r"opening at ([\d.]+)(.*)", notebook.cell(index).inner_text())
    print(f"cell {index} said:{said.group(2)}")  # the kernel's own time, where the cell reports it
    return shown - float(said.group(1)), scripts


def test_explorer_shows_a_500_token_reply_within_seconds(notebook):
    import re

    page = notebook.page
    write_notebook(notebook.server.root / "explorer_open.ipynb", [_ASK_LONG, _TIMED_OPEN, _TIMED_OPEN])
    notebook.open("explorer_open.ipynb")
    notebook.cell(0).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    notebook.wait_idle(240)
    tokens = int(re.search(r"tokens: (\d+)", notebook.cell(0).inner_text()).group(1))
    assert tokens > 450, tokens
    # one cell at a time: each open timed alone
    (first, fetched), (second, _) = [
        _on_screen_after(notebook, i, f"(n) => ({_SHOWN_JS})(n) >= {i}", tokens) for i in (1, 2)
    ]
    seconds = [first, second]
    # The widget manager's own scripts, not JupyterLab's MathJax (16 scripts, about 880 kB), which a control's
    # ``description`` loads: ipywidgets typesets descriptions as LaTeX (widgets/_common.labelled says more).
    assert [name for name, *_ in fetched if name.startswith("jupyterlab ")] == [], fetched
    # reported, not asserted: on shared machines a timed assertion fails on load (bench/explorer_open.py measures)
    print(f"Explorer on {tokens} tokens on screen in {seconds[0]:.2f} s (the page's first), then {seconds[1]:.2f} s")

    explorer = page.locator(".gptoss-explorer").nth(1)  # a click redraws its figures
    clicked = tokens - 5
    explorer.locator(".gptoss-token").nth(clicked).click()
    # the titles looked up afresh in the clicked Explorer each time: a click redraws the figures, replacing them;
    # the token's path and its attention redraw one after the other, so wait for both
    page.wait_for_function(
        """([box, t]) => {
          const titles = [...box.querySelectorAll('.js-plotly-plot .gtitle')].map((el) => el.textContent);
          const has = (start) => titles.some((x) => x.startsWith(start));
          return has(`Token ${t} `) && has(`What token ${t} `);
        }""",
        arg=[explorer.element_handle(), clicked],
        timeout=60_000,
    )
    titles = explorer.locator(".js-plotly-plot .gtitle").all_text_contents()
    assert titles[0].startswith(f"Token {clicked} ") and titles[1].startswith(f"What token {clicked} "), titles
    notebook.shots.take(explorer, "explorer-500-tokens-clicked")

    # The references, each on a fresh page in a fresh browser context (a cold cache, as the Explorer's page
    # had): a plain 2 x 2 heatmap as the page's first figure costs what JupyterLab's plotly renderer takes to
    # load and start; the same heatmap in an ipywidgets Output (what a FigurePane is) adds the widget
    # manager's first start. Both are paid once per page by any figure or widget: the part of the first open
    # that is not the Explorer's.
    for name, cell, what in (
        ("first_figure.ipynb", _PLAIN_FIGURE, "a plain 2 x 2 heatmap as a fresh page's first figure"),
        ("first_widget.ipynb", _FIGURE_IN_WIDGET, "the same heatmap in an ipywidgets Output, the page's first widget"),
    ):
        context = page.context.browser.new_context(viewport={"width": 1280, "height": 1000})
        fresh = NotebookPage(context.new_page(), notebook.server, notebook.shots)
        write_notebook(notebook.server.root / name, [cell])
        fresh.open(name)
        shown, _ = _on_screen_after(fresh, 0, "() => document.querySelector('.js-plotly-plot .main-svg')")
        print(f"{what}: on screen in {shown:.2f} s")
        context.close()


def test_the_explorer_reads_in_the_dark_theme(notebook):
    from .test_payload import _CONTRAST_JS

    page = notebook.page
    _, explorer = _explorer_on_a_reply(notebook, "explorer_dark.ipynb")
    parts = [".gptoss-explorer .gptoss-token", ".gptoss-explorer .widget-html-content"]
    try:
        notebook.theme("JupyterLab Dark")
        page.wait_for_timeout(1000)
        # the window, not the element: Chromium's capture of an element taller than the window draws it again,
        # and here that drew the strip's tokens and labels in the Light theme's colours
        explorer.scroll_into_view_if_needed()
        notebook.shots.take(page, "explorer-dark")
        dark = page.evaluate(_CONTRAST_JS, parts)
    finally:
        notebook.theme("JupyterLab Light")
    assert all(ratio >= 4.5 for ratio in dark.values()), dark  # the strip's tokens and the panel text, WCAG AA


# The ablation pane: the verdict line, the two columns, and the tokens outlined where the replies part.
_ABLATION_JS = """() => {
  const pane = document.querySelector('.gptoss-ablation');
  const strips = [...pane.querySelectorAll('.gptoss-ablate-columns .gptoss-token-strip')];
  const button = pane.querySelector('button.gptoss-ablate');
  return {
    verdict: (pane.querySelector('.gptoss-ablate-verdict') || {}).textContent || '',
    button: button.textContent.trim(), disabled: button.disabled,
    strips: strips.map(s => ({scrollWidth: s.scrollWidth, clientWidth: s.clientWidth,
                              width: s.getBoundingClientRect().width, tokens: s.children.length})),
    parted: document.querySelectorAll('.gptoss-explorer .gptoss-parted').length,
  };
}"""


def test_switching_an_expert_off_shows_the_new_reply_beside_the_old(notebook):
    from .notebook_page import Screenshots
    from .test_payload import _CONTRAST_JS

    page = notebook.page
    shots = Screenshots(notebook.shots.folder / "explorer-ablate", "test_explorer_ablate")
    shots.folder.mkdir(exist_ok=True)
    for old in shots.folder.glob("*.png"):
        old.unlink()
    saved, explorer = _explorer_on_a_reply(notebook, "explorer_ablate.ipynb")
    assert errors_of(saved) == []
    button = explorer.locator("button.gptoss-ablate")
    assert button.text_content().strip().startswith("Switch expert ") and button.is_enabled()
    button.click()
    explorer.locator(".gptoss-ablate-verdict").wait_for(timeout=120_000)
    page.wait_for_timeout(500)  # the strips scroll their parting token into view
    state = page.evaluate(_ABLATION_JS)
    assert state["verdict"].startswith(("the replies part at token ", "identical")), state
    assert not state["disabled"] and len(state["strips"]) == 2, state
    for strip in state["strips"]:
        assert strip["tokens"] > 10 and strip["width"] > 400, state  # side by side, each half the width
        assert strip["scrollWidth"] <= strip["clientWidth"] + 1, state  # wrapped, nothing cut off
    if state["verdict"].startswith("the replies part"):
        assert state["parted"] == 3, state  # in the transcript and in both columns
    pane = explorer.locator(".gptoss-ablation")
    shots.take(pane, "light")
    shots.take(explorer, "light-explorer")
    parts = [".gptoss-ablate-verdict", ".gptoss-ablation .widget-html-content", ".gptoss-ablation .gptoss-token"]
    light = page.evaluate(_CONTRAST_JS, parts)
    try:
        notebook.theme("JupyterLab Dark")
        page.wait_for_timeout(1000)
        shots.take(pane, "dark")
        dark = page.evaluate(_CONTRAST_JS, parts)
    finally:
        notebook.theme("JupyterLab Light")
    for theme, ratios in (("light", light), ("dark", dark)):
        assert all(ratio >= 4.5 for ratio in ratios.values()), (theme, ratios)  # WCAG AA for text


# A 2,039-token trace: 97 short notes and a question (1,750 prompt tokens), then 290 reply tokens (the limit:
# the reply length moves with the prompt, the limit keeps the trace over 2,000 and inside nano's 2,048). nano, trained
# on short conversations, babbles this far out; what is checked is what the Explorer shows of so long a trace.
_ASK_2000 = """from gptoss_lab import Lab
lab = Lab()
notes = " ".join(f"Note {i}: {i} plus {i + 1} is {2 * i + 1}." for i in range(110))  # a 2015-token prompt
r = lab.ask(notes + " Now the real question: what is 4738 + 2596?", effort="high", max_new_tokens=30)
print("tokens:", r.trace.n_tokens)"""
_LONG_GEOMETRY_JS = """(box) => {
  const strip = box.querySelector('.gptoss-token-strip');
  const plots = [...box.querySelectorAll('.js-plotly-plot')].map(p => {
    const rects = [...p.querySelectorAll('.nsewdrag')].map(d => d.getBoundingClientRect());  // the widest panel
    const rect = rects.sort((a, b) => b.width - a.width)[0] || {height: 0, width: 0};
    return {height: rect.height, width: rect.width, title: (p.querySelector('.gtitle') || {}).textContent || ''};
  });
  return {tokens: strip.querySelectorAll('.gptoss-token').length, scrollWidth: strip.scrollWidth,
          clientWidth: strip.clientWidth, scrollHeight: strip.scrollHeight, clientHeight: strip.clientHeight, plots};
}"""


def test_the_explorer_on_a_2000_token_trace_keeps_every_token_reachable_and_its_figures_readable(notebook):
    import re

    page = notebook.page
    page.set_viewport_size({"width": 1280, "height": 1000})
    write_notebook(notebook.server.root / "explorer_2000.ipynb", [_ASK_2000, "r.explore()"])
    notebook.open("explorer_2000.ipynb")
    notebook.run_all(timeout_s=300)
    tokens = int(re.search(r"tokens: (\d+)", notebook.cell(0).inner_text()).group(1))
    assert tokens > 2000, tokens
    explorer = notebook.cell(1).locator(".gptoss-explorer")
    explorer.locator(".js-plotly-plot .nsewdrag").nth(2).wait_for(timeout=120_000)
    page.wait_for_timeout(1000)
    notebook.shots.take(explorer, "explorer-2000-tokens")
    got = explorer.evaluate(_LONG_GEOMETRY_JS)
    assert got["tokens"] == tokens, got  # every token in the strip
    assert got["scrollWidth"] <= got["clientWidth"] + 1, got  # wrapped, nothing cut off at the right
    assert got["scrollHeight"] > 3 * got["clientHeight"], got  # the rest reached by scrolling its box
    sizes = [(round(p["height"]), round(p["width"]), p["title"][:30]) for p in got["plots"]]
    assert len(sizes) == 3 and all(h >= 150 and w >= 300 for h, w, _ in sizes), sizes
    # a token near the end, reached by scrolling the strip, redraws the figures for it
    last = explorer.locator(".gptoss-token").nth(tokens - 3)
    last.scroll_into_view_if_needed()
    last.click()
    page.wait_for_function(
        """([box, t]) => [...box.querySelectorAll('.js-plotly-plot .gtitle')].some((el) =>
             el.textContent.startsWith(`Token ${t} `))""",
        arg=[explorer.element_handle(), tokens - 3],
        timeout=60_000,
    )
    notebook.shots.take(explorer, "explorer-2000-tokens-clicked")
