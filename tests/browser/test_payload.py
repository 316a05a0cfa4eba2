"""A reply that writes HTML and JavaScript shows it as text in JupyterLab; nothing of it runs."""

from __future__ import annotations

import pytest

from .notebook_page import errors_of, write_notebook

pytestmark = pytest.mark.browser

IMG = '<img src=x onerror="window.__pwned=1">'
SCRIPT = "<script>window.__pwned=2</script>"

# The model is nano's tokenizer and Lab, with the generation loop replaced by a script: the reply
# streams through the real parser, Reply, %%gptoss, LiveDisplay and renderer into the real page.
_SCRIPTED = f"""
import gptoss_lab.generate
from gptoss_lab import Lab

PAYLOAD = {IMG + " " + SCRIPT!r}
completion = (
    "<|channel|>analysis<|message|>I will answer with " + PAYLOAD + "<|end|>"
    "<|start|>assistant<|channel|>final<|message|>Here: " + PAYLOAD + "<|return|>"
)
script = Lab().handle.load().encode(completion)

def scripted_generate(*args, **kwargs):
    yield from script

gptoss_lab.generate.generate_ids = scripted_generate
"""

# The control: the same kind of markup, unescaped, does run in this JupyterLab, so the check can fail.
_CONTROL = """from IPython.display import HTML
HTML('<img src=x onerror="window.__control=1">')"""


def _run_scripted(notebook, name: str, scripted: str, question: str, control: str) -> None:
    """A notebook: the extension, the scripted model, one %%gptoss cell, the control cell; run and saved."""
    write_notebook(
        notebook.server.root / name, ["%load_ext gptoss_lab", scripted, f"%%gptoss --effort low\n{question}", control]
    )
    notebook.open(name)
    notebook.run_all()
    assert errors_of(notebook.save()) == []


def test_reply_with_html_and_script_shows_as_text(notebook):
    page = notebook.page
    _run_scripted(notebook, "payload.ipynb", _SCRIPTED, "Show me some HTML.", _CONTROL)

    page.wait_for_function("() => window.__control === 1", timeout=10_000)  # raw HTML does run here
    reply = notebook.cell(2).locator(".gptoss-reply")
    notebook.shots.take(reply, "payload-reply")
    assert page.evaluate("() => typeof window.__pwned") == "undefined", "the reply's markup ran in the page"
    assert reply.locator("img, script").count() == 0
    answer = reply.locator(".gptoss-answer").inner_text()
    assert IMG in answer and SCRIPT in answer, answer
    reply.locator("details.gptoss-reasoning summary").click()
    assert IMG in reply.locator(".gptoss-reasoning-text").inner_text()
    notebook.shots.take(reply, "payload-reasoning-open")
    page.wait_for_timeout(500)  # a late onerror would land now
    assert page.evaluate("() => typeof window.__pwned") == "undefined"


MATH = r"It costs $5 for one and $10 for two; \(x^2\) and $$y$$ stay as written."

_SCRIPTED_MATH = _SCRIPTED.replace(f"PAYLOAD = {IMG + ' ' + SCRIPT!r}", f"PAYLOAD = {MATH!r}")

# The control: the same dollars in ordinary HTML output are typeset by this JupyterLab's MathJax.
_MATH_CONTROL = r"""from IPython.display import HTML
HTML('<div class="math-control">It costs $5 for one and $10 for two.</div>')"""


def test_dollars_and_latex_in_a_reply_are_not_typeset(notebook):
    page = notebook.page
    assert repr(MATH) in _SCRIPTED_MATH
    _run_scripted(notebook, "math.ipynb", _SCRIPTED_MATH, "How much?", _MATH_CONTROL)
    control = notebook.cell(3).locator(".math-control")
    control.locator("mjx-container").first.wait_for(timeout=20_000)  # MathJax runs on HTML output here
    reply = notebook.cell(2).locator(".gptoss-reply")
    page.wait_for_timeout(500)
    notebook.shots.take(reply, "math-reply")
    assert reply.locator("mjx-container").count() == 0
    assert reply.locator(".gptoss-answer").inner_text().strip() == "Here: " + MATH


# Contrast (WCAG formula) of each part's text against the page, the colour blended over the background.
_CONTRAST_JS = """(selectors) => {
  const rgba = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const page = getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor;
  const bg = rgba(page || 'rgb(255,255,255)');
  const linear = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => [r, g, b].map(linear).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  return Object.fromEntries(selectors.map(sel => {
    const [r, g, b, a = 1] = rgba(getComputedStyle(document.querySelector(sel)).color);
    const mixed = [r, g, b].map((v, i) => a * v + (1 - a) * bg[i]);
    const [hi, lo] = [lum(mixed), lum(bg)].sort((x, y) => y - x);
    return [sel, (hi + 0.05) / (lo + 0.05)];
  }));
}"""


def test_a_reply_reads_in_the_dark_theme(notebook):
    _run_scripted(notebook, "dark.ipynb", _SCRIPTED_MATH, "How much?", "1")
    reply = notebook.cell(2).locator(".gptoss-reply")
    reply.locator("details.gptoss-reasoning summary").click()
    parts = [".gptoss-reasoning summary", ".gptoss-reasoning-text", ".gptoss-answer", ".gptoss-stats"]
    try:
        notebook.theme("JupyterLab Dark")
        notebook.shots.take(reply, "dark-reply")
        contrast = notebook.page.evaluate(_CONTRAST_JS, parts)
    finally:
        notebook.theme("JupyterLab Light")
    notebook.shots.take(reply, "light-reply")
    light = notebook.page.evaluate(_CONTRAST_JS, parts)
    for theme, ratios in (("dark", contrast), ("light", light)):
        assert all(ratio >= 4.5 for ratio in ratios.values()), (theme, ratios)  # WCAG AA for text


BIDI = "Send 100 to \u202eACCOUNT 789\u202c now."  # a right-to-left override, then "pop directional formatting"
BIDI_SHOWN = "Send 100 to ⟨U+202E⟩ACCOUNT 789⟨U+202C⟩ now."

_SCRIPTED_BIDI = _SCRIPTED.replace(f"PAYLOAD = {IMG + ' ' + SCRIPT!r}", f"PAYLOAD = {BIDI!r}")

# The control: the same text in ordinary HTML output, where the override reverses "ACCOUNT 789" on screen.
_BIDI_CONTROL = r"""from IPython.display import HTML
HTML('<div class="bidi-control">Send 100 to \u202eACCOUNT 789\u202c now.</div>')"""

# Where each character of ``needle`` is drawn, left edge in px, in reading (logical) order.
_LEFTS_JS = """(el, needle) => {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.data.indexOf(needle);
    if (at < 0) continue;
    return [...needle].map((_, i) => {
      const range = document.createRange();
      range.setStart(node, at + i);
      range.setEnd(node, at + i + 1);
      return range.getBoundingClientRect().left;
    });
  }
  return null;
}"""


def test_a_right_to_left_override_in_a_reply_shows_as_a_marker_and_reorders_nothing(notebook):
    assert repr(BIDI) in _SCRIPTED_BIDI and "\\u202e" in repr(BIDI)  # the cell's source holds the escape
    _run_scripted(notebook, "bidi.ipynb", _SCRIPTED_BIDI, "Whom do I pay?", _BIDI_CONTROL)
    control = notebook.cell(3).locator(".bidi-control")
    drawn = control.evaluate(_LEFTS_JS, "ACCOUNT 789")
    assert drawn == sorted(drawn, reverse=True), drawn  # the override does reverse text in this browser
    reply = notebook.cell(2).locator(".gptoss-reply")
    reply.locator("details.gptoss-reasoning summary").click()
    notebook.shots.take(notebook.page.locator(".jp-Notebook"), "bidi-reply-and-control")
    answer = reply.locator(".gptoss-answer")
    assert answer.inner_text().strip() == "Here: " + BIDI_SHOWN
    assert reply.locator(".gptoss-reasoning-text").inner_text().strip() == "I will answer with " + BIDI_SHOWN
    for part in (answer, reply.locator(".gptoss-reasoning-text")):
        lefts = part.evaluate(_LEFTS_JS, "⟨U+202E⟩ACCOUNT 789⟨U+202C⟩ now.")
        assert lefts == sorted(lefts) and len(set(lefts)) == len(lefts), lefts  # left to right, as written
