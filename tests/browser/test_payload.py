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


def test_reply_with_html_and_script_shows_as_text(notebook):
    page = notebook.page
    write_notebook(
        notebook.server.root / "payload.ipynb",
        ["%load_ext gptoss_lab", _SCRIPTED, "%%gptoss --effort low\nShow me some HTML.", _CONTROL],
    )
    notebook.open("payload.ipynb")
    notebook.run_all()
    saved = notebook.save()
    assert errors_of(saved) == []

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
