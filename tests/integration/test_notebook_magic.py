"""%%gptoss in a real kernel: the reply streams through a display handle and is saved in the notebook."""

from __future__ import annotations

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

CELLS = [
    "%load_ext gptoss_lab",
    '%%gptoss --max-tokens 40 --seed 1 --out r\nWhat is {x} in JSON {"a": [1, 2]}?',
    "print(r.stopped, len(r.completion_ids), repr(r.prompt))",
    "%gptoss status",
]


def test_gptoss_cell_streams_and_saves_html(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}})
    client.execute()
    magic_outputs = nb.cells[1].outputs
    html = [o for o in magic_outputs if o.output_type == "display_data" and "text/html" in o.data]
    assert len(html) == 1, magic_outputs  # one display, updated in place (updates rewrite it)
    final = html[0].data["text/html"]
    assert 'class="gptoss-reply"' in final
    assert "gpt-oss-nano" in final
    assert "streaming…" not in final  # the saved output is the final state, not a streaming frame
    stopped, _n_tokens, _ = nb.cells[2].outputs[0].text.split(" ", 2)
    assert stopped in ("max_tokens", "return", "call")
    assert "stopped at" in final or "finished" in final
    printed = nb.cells[2].outputs[0].text
    assert "{x}" in printed and '{"a": [1, 2]}' in printed  # braces untouched without --vars
    assert "gpt-oss-nano" in nb.cells[3].outputs[0].text
