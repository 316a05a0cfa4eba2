"""The teaching notebooks run top to bottom on the bundled model, in a real kernel.

Each notebook is executed once, in a fresh kernel (module-scoped fixture), with one extra cell at
the end that reports the kernel's peak resident memory: Binder gives a notebook 1-2 GB, so the
notebooks must stay under 1.5 GB each.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("plotly")

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))
PEAK_RSS_LIMIT = 1.5e9  # bytes: Binder's smallest allowance is 2 GB for the server and the kernel together
PLOTLY = "application/vnd.plotly.v1+json"
# a hang guard, not a speed target: on a quiet 2-core machine the slowest cell (03's eval) takes ~10 s,
# but beside another CPU-bound job torch's two threads slowed it 50 to 90 times here
CELL_TIMEOUT_S = 600

# The kernel's own peak: on Linux, VmHWM (kB) of its process image; ru_maxrss would also count the peak of
# the pytest process it was forked from. Elsewhere ru_maxrss (bytes on macOS).
_PEAK_CELL = (
    "import resource, sys\n"
    "try:\n"
    "    _peak = next(int(line.split()[1]) * 1024 for line in open('/proc/self/status') if line.startswith('VmHWM:'))\n"
    "except OSError:\n"
    "    _peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == 'darwin' else 1024)\n"
    "print('PEAK_RSS_BYTES', _peak)"
)


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=lambda p: p.name)
def executed(request, tmp_path_factory) -> tuple[Path, Any, int]:
    """(path, the executed notebook without the probe cell, the kernel's peak RSS in bytes)."""
    path = request.param
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_PEAK_CELL))
    cwd = tmp_path_factory.mktemp(path.stem)
    resources = {"metadata": {"path": cwd}}
    nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources=resources).execute()
    probe = nb.cells.pop()
    text = "".join(o.get("text", "") for o in probe.outputs)
    match = re.search(r"PEAK_RSS_BYTES (\d+)", text)
    assert match, f"the peak-memory cell printed no number: {probe.outputs}"
    return path, nb, int(match.group(1))


def _outputs(nb: Any) -> list[Any]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


def _text(nb: Any) -> str:
    return "".join(o.get("text", "") for o in _outputs(nb))


def _figures(nb: Any) -> list[dict[str, Any]]:
    return [o.data[PLOTLY] for o in _outputs(nb) if PLOTLY in o.get("data", {})]


def test_there_are_notebooks():
    assert [p.name[:3] for p in NOTEBOOKS] == [f"{i:02d}_" for i in range(1, len(NOTEBOOKS) + 1)]
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs(path):
    """Saved notebooks carry no outputs: what a reader sees comes from running them on the shipped model."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    stale = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not stale, f"{path.name}: cells {stale} hold outputs; clear them (Edit > Clear Outputs of All Cells)"


def test_notebook_runs_top_to_bottom(executed):
    path, nb, _ = executed
    errors = [o for o in _outputs(nb) if o.output_type == "error"]
    assert not errors, "\n".join("\n".join(o.traceback) for o in errors)
    for figure in _figures(nb):  # the notebooks' own figures too: no Plotly logo, no upload button
        assert figure.get("config", {}).get("displaylogo") is False, figure["layout"].get("title")
    check = CHECKS.get(path.name[:2])
    if check is not None:
        check(nb)


def test_notebook_peak_memory(executed):
    path, _, peak = executed
    print(f"{path.name}: kernel peak RSS {peak / 2**20:.0f} MiB")
    sys.stdout.flush()
    assert peak <= PEAK_RSS_LIMIT, f"{path.name} peaked at {peak / 1e9:.2f} GB, over {PEAK_RSS_LIMIT / 1e9} GB"


# -- what each notebook must show


def _check_quickstart(nb: Any) -> None:
    """Replies with the reasoning apart from the answer, and a figure."""
    outputs = _outputs(nb)
    html = [o.data["text/html"] for o in outputs if o.output_type == "display_data" and "text/html" in o.data]
    assert any('class="gptoss-reasoning"' in h and 'class="gptoss-answer"' in h for h in html)
    assert _figures(nb)


def _check_harmony(nb: Any) -> None:
    """The raw channels and the parsed messages."""
    text = _text(nb)
    assert "<|channel|>analysis<|message|>" in text
    assert "final: " in text


def _check_effort(nb: Any) -> None:
    """The eval ran at three efforts, the prose's claim holds (reasoning grows with effort in every family), and the
    check catches a slip in the first pass and the redo fixes it."""
    text = _text(nb)
    assert re.search(r"192 questions in [\d.]+ s", text)
    tokens, accuracy = _figures(nb)
    assert len(tokens["data"]) == 8  # one line per task family
    for line in tokens["data"]:
        assert list(line["x"]) == ["low", "medium", "high"]
        y = _numbers(line["y"])
        assert y[0] < y[1] < y[2], f"{line['name']}: reasoning tokens {y} do not grow with effort"
    assert all(0 <= v <= 1 for line in accuracy["data"] for v in _numbers(line["y"]))
    # the check at work: the first pass slips, adding the difference back does not give 797 again, the comparison
    # says so digit by digit to the first that differs, and the redo puts the answer right
    check = (
        r"^Answer: (\d+)\.\nCheck: the question says 797 and 168, the task says 797 and 168: same\.\n"
        r"Add back: \1\+168, ones first: .* so (\d+)\.\n\2 vs 797: (?:\d=\d yes, )*[\d-]=[\d-] no: differ\.\n"
        r"Redo: subtract 168 from 797\.\n(?:.*\n)*?Answer: (\d+)\.$"
    )
    slip = re.search(check, text, re.M)
    assert slip, text
    first, back, final = slip.groups()
    assert first != "629" and back != "797" and final == "629", slip.groups()
    assert re.search(r"^answer '[^']*629[^']*' \(right\)$", text, re.M), text


def _check_experts(nb: Any) -> None:
    """Routing figures, the chance levels and a specialization line per layer."""
    text = _text(nb)
    assert re.search(r"an expert is among a token's top-k \(k/E\)\s+25\.0%\s+12\.5%\s+3\.1%", text)
    assert len(re.findall(r"^layer \d: digit -> \d", text, re.M)) == 4
    figures = _figures(nb)
    assert len(figures) >= 7
    kinds = next(f for f in figures if "by kind of token" in f["layout"]["title"]["text"])
    for heat in kinds["data"]:  # the colour scale's white sits at chance (k/E), as the prose says
        assert (heat["zmin"], heat["zmax"]) == (0, 1)
        white = [stop for stop, colour in heat["colorscale"] if colour == "#f7f7f7"]
        assert white == [0.25], heat["colorscale"]


def _check_attention(nb: Any) -> None:
    """Sink and attention figures; the recomputed weights respect the sink and the sliding window."""
    text = _text(nb)
    sums = re.findall(r"keys \+ sink sum to ([\d.]+)\.\.([\d.]+)", text)
    assert sums and all(abs(float(v) - 1) < 1e-4 for pair in sums for v in pair)
    farthest = dict(re.findall(r"layer (\d) \(\w+\): keys.*farthest key read: (\d+) tokens back", text))
    assert int(farthest["0"]) < 512 < int(farthest["1"])  # nano's window is 512; layer 1 is full
    assert len(_figures(nb)) >= 5


def _check_real_models(nb: Any) -> None:
    """The memory table, the preflight's verdict on both models, every quant choice, and no surprise load."""
    import torch

    text = _text(nb)
    assert re.search(r"openai/gpt-oss-20b\s+41\.9 GB\s+13\.9 GB", text)  # bf16, mxfp4: gptoss_lab.memory
    verdicts = re.findall(r"preflight (refuses: openai/gpt-oss-\d+b needs|: it fits)", text)
    assert len(verdicts) == 2, text
    assert len(re.findall(r"^quant='[\w-]+'\s+-> (?:loads as|refused)", text, re.M)) == 5
    if not torch.cuda.is_available():  # no GPU: the loading cell explains instead of loading
        assert "Not loading openai/gpt-oss-20b" in text and "pip install 'gptoss-lab[gpu]'" in text
    assert "No server set" in text
    assert _figures(nb)


def _check_experiments(nb: Any) -> None:
    """The three experiments' printed numbers agree with each other and with what the prose says of them."""
    text = _text(nb)
    # 1. the digit expert: picked from routing, measured against a control of the same layer
    chosen = r"^(digit|control) expert: layer (\d), expert (\d): chosen for (\d+)% of digits, (\d+)% of other"
    shares = {name: tuple(map(int, numbers)) for name, *numbers in re.findall(chosen, text, re.M)}
    assert set(shares) == {"digit", "control"}, text
    (layer, digit, d_digit, d_other), (control_layer, control, c_digit, _) = shares["digit"], shares["control"]
    assert d_digit > d_other and c_digit < d_digit and control_layer == layer and control != digit
    plain = _family_numbers(re.search(r"^plain eval, accuracy: (.*)$", text, re.M).group(1), "format")
    baselines = [_family_numbers(line, None) for line in re.findall(r"^baseline accuracy: (.*)$", text, re.M)]
    assert len(baselines) == 2 and len(plain) == 4  # expert_importance's and sink_effects's, 4 families
    assert all(_first(b) == _first(plain) for b in baselines)
    ablated = {
        name: _family_numbers(rest, "changed")
        for name, rest in re.findall(rf"^(digit|control) expert \d of layer {layer} off: (.*)$", text, re.M)
    }
    assert set(ablated) == {"digit", "control"}
    assert all(0 <= v <= 100 for row in ablated.values() for pair in row.values() for v in pair)
    # the prose: routing share and importance do not line up. The digit expert off leaves addition alone, changes
    # subtraction answers and costs a reversal (the family without digits); the control off leaves addition and
    # reversal alone, changes subtraction answers and costs a decimal comparison
    d_off, c_off = ablated["digit"], ablated["control"]
    assert d_off["add"] == (plain["add"][0], 0) and d_off["reverse"][0] < plain["reverse"][0] and d_off["sub"][1] > 0
    assert c_off["compare_decimals"][0] < plain["compare_decimals"][0] and c_off["sub"][1] > 0
    assert all(c_off[f] == (plain[f][0], 0) for f in ("add", "reverse"))
    formats = dict(re.findall(r"^(digit|control) expert \d off, accuracy: (.*)$", text, re.M))
    for name, rest in formats.items():  # the same accuracy under lab.intervene, and the format intact
        row = _family_numbers(rest, "format")
        assert _first(row) == _first(ablated[name])
        assert all(v == 100 for _, v in row.values()), rest
    assert set(formats) == {"digit", "control"}
    # the one reply: unchanged under both ablations
    one = re.findall(r"^  (What is 58 \+ 67\?) -> '(.*)'; reasoning", text, re.M)
    plain_reply = re.search(r"^nothing off: What is 58 \+ 67\? -> '(.*)'$", text, re.M).group(1)
    assert "125" in plain_reply and len(one) == 2, (one, plain_reply)
    assert one[0][1] == plain_reply == one[1][1], (one, plain_reply)
    # 2. the sinks: same reply, entropy falls in every layer, no sink mass left; one layer's off changes no answer,
    # every layer's changes some but no accuracy
    assert re.search(r"same tokens: True$", text, re.M)
    layers = re.findall(
        r"^layer (\d) \(\w+\): entropy ([\d.]+) -> ([\d.]+) nats; sink mass ([\d.]+)% -> ([\d.]+)%; "
        r"first 4 tokens ([\d.]+)% -> ([\d.]+)% \(pro rata ([\d.]+)%\)$",
        text,
        re.M,
    )
    assert [int(row[0]) for row in layers] == [0, 1, 2, 3], text
    for _, e_on, e_off, s_on, s_off, *_ in layers:
        assert float(e_off) < float(e_on) and float(s_off) == 0 < float(s_on)
    rows = re.findall(r"^sinks off in (?:layer \d|every layer): (.*)$", text, re.M)
    assert len(rows) == 5 and all(c == 0 for row in rows[:4] for _, c in _family_numbers(row, "changed").values())
    every = _family_numbers(rows[4], "changed")
    assert any(c > 0 for _, c in every.values()) and _first(every) == _first(plain), rows[4]
    # 3. the logit lens: each digit of the answer has a layer; the sums' ones digits form last
    answer = re.search(r"^answer: .*?(\d+)\.$", text, re.M).group(1)
    digits = re.findall(r"^answer digit \d '(\d)': known from layer (-?\d)", text, re.M)
    assert "".join(d for d, _ in digits) == answer and all(0 <= int(at) <= 3 for _, at in digits), text
    ones = {}  # each column sum's last digit, the one the addition makes: where it forms
    for total, at in re.findall(r"^column sum (\S+): digit '\d' known from layer (-?\d)", text, re.M):
        ones[total] = int(at)
    assert ones and set(ones.values()) == {3} and max(int(at) for _, at in digits) < 3, ones
    # the figures: expert importance on a scale centred at 0, the sink effects, the lens with 4 layer rows
    figures = _figures(nb)
    importance = next(f for f in figures if "one expert is switched off" in f["layout"]["title"]["text"])
    axis = importance["layout"]["coloraxis"]
    assert axis["cmin"] == -axis["cmax"] < 0 and [0.5, "#f7f7f7"] in [list(stop) for stop in axis["colorscale"]]
    assert any("sinks off" in f["layout"]["title"]["text"] for f in figures)
    lens = next(f for f in figures if f["layout"]["title"]["text"].startswith("Logit lens"))
    heat = next(t for t in lens["data"] if t.get("name") == "prediction")
    rows = int(str(heat["z"]["shape"]).split(",")[0]) if isinstance(heat["z"], dict) else len(heat["z"])
    assert _numbers(heat["y"]) == [0, 1, 2, 3] and rows == 4, heat["y"]


def _first(row: dict[str, tuple[int, ...]]) -> dict[str, int]:
    return {family: numbers[0] for family, numbers in row.items()}


def _family_numbers(line: str, second: str | None) -> dict[str, tuple[int, ...]]:
    """``add 40% (changed 20%), sub ...`` -> {"add": (40, 20), ...}; ``second=None``: ``add 40%, ...``."""
    if second is None:
        return {f: (int(a),) for f, a in re.findall(r"(\w+) (\d+)%", line)}
    return {f: (int(a), int(b)) for f, a, b in re.findall(rf"(\w+) (\d+)% \({second} (\d+)%\)", line)}


CHECKS = {"01": _check_quickstart, "02": _check_harmony, "03": _check_effort, "04": _check_experts}
CHECKS.update({"05": _check_attention, "06": _check_real_models, "07": _check_experiments})


def _numbers(values: Any) -> list[float]:
    """Plotly's JSON holds arrays as lists or as typed arrays ({"dtype", "bdata"}): read either."""
    if isinstance(values, dict) and "bdata" in values:
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return [float(v) for v in values]


def test_numbers_reads_plotly_arrays():
    import base64

    np = pytest.importorskip("numpy")
    typed = {"dtype": "f8", "bdata": base64.b64encode(np.array([1.5, 2.0]).tobytes()).decode()}
    assert _numbers(typed) == [1.5, 2.0]
    assert _numbers([1, 2.5]) == [1.0, 2.5]
