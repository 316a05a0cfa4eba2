"""The teaching notebooks run top to bottom on the bundled model, in a real kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("plotly")

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    if path.name.startswith("01"):  # the quickstart shows replies (reasoning apart from answer) and a figure
        html = [o.data["text/html"] for o in outputs if o.output_type == "display_data" and "text/html" in o.data]
        assert any('class="gptoss-reasoning"' in h and 'class="gptoss-answer"' in h for h in html)
        assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)
    if path.name.startswith("02"):  # the harmony notebook shows the raw channels and the parsed messages
        text = "".join(o.get("text", "") for o in outputs)
        assert "<|channel|>analysis<|message|>" in text
        assert "final: " in text
