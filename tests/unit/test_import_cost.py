"""`import gptoss_lab` and `%load_ext gptoss_lab` must not import the heavy stack."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["torch", "transformers", "plotly", "ipywidgets", "numpy", "tokenizers"]

PROBE = """
import json, sys
{setup}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _loaded_after(setup: str) -> list[str]:
    code = PROBE.format(setup=setup, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_is_light():
    assert _loaded_after("import gptoss_lab") == []


def test_load_ext_is_light():
    setup = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'gptoss_lab')\n"
        "assert 'gptoss' in shell.magics_manager.magics['cell']"
    )
    assert _loaded_after(setup) == []


def test_building_a_lab_loads_nothing():
    setup = "from gptoss_lab import Lab\nlab = Lab()\nrepr(lab)\nassert not lab.handle.loaded"
    assert _loaded_after(setup) == []


def test_the_probe_can_see_heavy_imports():
    # guards the tests above against a probe that could never fail
    assert _loaded_after("import numpy") == ["numpy"]
