"""Binder, checked offline: repo2docker's build plan for this repository, and what it installs.

``repo2docker --no-build`` reads binder/ and prints the Dockerfile it would build, without Docker and
without the network. The plan must be the conda buildpack (``mamba env update`` of binder/environment.yml,
then postBuild), and what environment.yml and postBuild install must cover what the notebooks import and
gptoss-lab needs, with torch as the CPU-only build (pip's default torch is a multi-GB CUDA build).

repo2docker runs from a venv of its own (``tests/binder/repo2docker_venv.sh``: its dependencies are not the
project's): ``$GPTOSS_LAB_REPO2DOCKER`` names its executable, else one on PATH; without it the test skips,
unless ``GPTOSS_LAB_REQUIRE_REPO2DOCKER=1`` (``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[2]
#: an import in a notebook -> what provides it in environment.yml (conda or pip name)
PROVIDERS = {"torch": "pytorch-cpu", "IPython": "ipython", "huggingface_hub": "transformers"}  # (a dependency of it)
STDLIB = set(sys.stdlib_module_names)


def _repo2docker() -> str:
    found = os.environ.get("GPTOSS_LAB_REPO2DOCKER") or shutil.which("repo2docker")
    if not found:
        reason = "repo2docker is not installed: tests/binder/repo2docker_venv.sh builds it (build/repo2docker-venv)"
        if os.environ.get("GPTOSS_LAB_REQUIRE_REPO2DOCKER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _environment() -> tuple[dict[str, str], dict[str, str]]:
    """binder/environment.yml's conda and pip dependencies, name -> version spec (a flat YAML list)."""
    conda, pip, section = {}, {}, None
    for line in (ROOT / "binder" / "environment.yml").read_text().splitlines():
        line = line.split("#", 1)[0].rstrip()
        if line.strip() == "dependencies:":
            section = conda
        elif line.strip() == "- pip:":
            section = pip
        elif section is not None and line.strip().startswith("- "):
            m = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", line.strip()[2:])
            section[m.group(1).lower()] = m.group(2).replace(" ", "")
    return conda, pip


def _notebook_imports() -> set[str]:
    found = set()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            lines = [ln for ln in "".join(cell["source"]).splitlines() if not ln.lstrip().startswith(("%", "!"))]
            try:
                tree = ast.parse("\n".join(lines))
            except SyntaxError:  # a cell magic's body is not Python
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split(".")[0])
    return found - STDLIB


def test_the_build_plan_is_conda_then_postbuild():
    done = subprocess.run(
        [_repo2docker(), "--no-build", "--debug", str(ROOT)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    plan = done.stdout
    update = plan.find('env update -p ${NB_PYTHON_PREFIX} --file "binder/environment.yml"')
    post = plan.find("RUN ./binder/postBuild")
    assert "${MAMBA_EXE}" in plan and 0 < update < post, plan[-3000:]  # the conda buildpack, then postBuild


def test_binder_installs_what_the_notebooks_and_the_package_need_with_cpu_torch():
    conda, pip = _environment()
    assert "pytorch-cpu" in conda and not {"pytorch", "torch", "pytorch-gpu", "cudatoolkit"} & {*conda, *pip}
    assert not [name for name in {*conda, *pip} if "cuda" in name]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["widgets"]]
    for requirement in wanted:
        name, spec = re.match(r"([A-Za-z0-9_.\-]+)(.*)", requirement).groups()
        name = "pytorch-cpu" if name == "torch" else name.lower()
        assert name in conda or name in pip, f"binder/environment.yml lacks {requirement}"
        assert {**conda, **pip}[name] == spec.replace(" ", ""), (requirement, {**conda, **pip}[name])
    imports = _notebook_imports()
    assert {"gptoss_lab", "torch", "plotly"} <= imports, imports
    for module in imports - {"gptoss_lab"}:  # gptoss_lab itself: postBuild
        assert PROVIDERS.get(module, module).lower() in {*conda, *pip}, f"the notebooks import {module}"
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post  # the package, and no resolve that could bring CUDA torch
