"""binder/ stays in step with pyproject.toml and the notebooks: what mybinder.org installs is enough
to run every notebook, torch is the CPU-only build, and the README's launch link opens a notebook
that exists."""

from __future__ import annotations

import ast
import os
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

yaml = pytest.importorskip("yaml")
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).parents[2]
BINDER = ROOT / "binder"
#: conda-forge packages that provide a distribution under another name
CONDA_PROVIDES = {"pytorch-cpu": "torch"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment() -> dict:
    return yaml.safe_load((BINDER / "environment.yml").read_text())


def _conda_specs(env: dict) -> dict[str, str]:
    """{conda package: its version spec as written} for the conda (non-pip) dependencies."""
    specs = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, spec = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", dep).groups()
            specs[name] = spec
    return specs


def _pip_requirements(env: dict) -> list[Requirement]:
    pips = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    return [Requirement(line) for block in pips for line in block]


def _installed(env: dict) -> dict[str, str]:
    """{canonical distribution name: version spec} of everything Binder installs."""
    out = {canonicalize_name(CONDA_PROVIDES.get(n, n)): s for n, s in _conda_specs(env).items()}
    out.update({canonicalize_name(r.name): str(r.specifier) for r in _pip_requirements(env)})
    return out


def test_only_conda_forge_and_cpu_torch():
    env = _environment()
    assert env["channels"] == ["conda-forge"]
    conda = _conda_specs(env)
    assert "pytorch-cpu" in conda, "torch must come from conda-forge's CPU-only build: pytorch-cpu"
    gpu = [n for n in conda if n in ("pytorch", "pytorch-gpu") or n.startswith("cuda")]
    assert not gpu, f"{gpu}: Binder has no GPU; list pytorch-cpu only"
    pip_names = {canonicalize_name(r.name) for r in _pip_requirements(env)}
    assert not pip_names & {"torch", "pytorch"}, "a pip torch is the multi-GB CUDA build: torch comes from conda"


def test_runtime_dependencies_match_pyproject():
    """Every runtime dependency, the figures' and the widgets' extras, with the same version range as pyproject.toml."""
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    wanted = [Requirement(r) for r in project["dependencies"] + extras["viz"] + extras["widgets"]]
    wanted = list({canonicalize_name(r.name): r for r in wanted}.values())  # plotly is in both extras
    installed = _installed(_environment())
    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in installed, f"binder/environment.yml lacks {req}: add it (pip section, or conda for torch)"
        assert SpecifierSet(installed[name]) == req.specifier, (
            f"binder/environment.yml pins {name}{installed[name]} but pyproject.toml says {req}: make them match"
        )


def test_python_version_is_supported():
    pin = _conda_specs(_environment())["python"]
    version = re.fullmatch(r"=?=?(\d+\.\d+)(?:\.\*)?", pin).group(1)
    requires = SpecifierSet(_pyproject()["project"]["requires-python"])
    assert requires.contains(f"{version}.0"), f"binder pins python {version}; pyproject requires {requires}"


def _notebook_imports() -> dict[str, set[str]]:
    """{top-level module imported by a notebook's code: notebooks importing it}."""
    import json

    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            if source.startswith("%%"):
                continue  # a cell magic's body is not Python
            code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
            for node in ast.walk(ast.parse(code)):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(path.name)
    return found


def _with_dependencies(names: set[str]) -> set[str]:
    """``names`` and everything they require (as installed here), without extras."""
    from importlib.metadata import PackageNotFoundError, requires

    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = [Requirement(r) for r in requires(name) or []]
        except PackageNotFoundError:
            continue
        todo += [canonicalize_name(r.name) for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]
    return seen


def test_every_notebook_import_is_installed_on_binder():
    imports = _notebook_imports()
    assert "gptoss_lab" in imports  # the parser sees the notebooks' imports at all
    installed = _with_dependencies(set(_installed(_environment())))
    providers = packages_distributions()
    for module, notebooks in sorted(imports.items()):
        if module in sys.stdlib_module_names or module == "gptoss_lab":
            continue
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        assert dists, f"{sorted(notebooks)} import {module}, which no installed distribution provides"
        assert dists & installed, f"{sorted(notebooks)} import {module}: add {sorted(dists)} to binder/"


def test_postbuild_installs_the_package_without_dependencies():
    script = BINDER / "postBuild"
    text = script.read_text()
    assert os.access(script, os.X_OK), "repo2docker runs postBuild only if executable: chmod +x binder/postBuild"
    assert text.startswith("#!/bin/bash\n") and "set -e" in text
    install = [line for line in text.splitlines() if "pip install" in line]
    assert install and all("--no-deps" in line for line in install), "pip must not resolve torch again"
    assert any(line.rstrip().endswith((" .", " -e .")) for line in install)


def test_binder_files_name_no_index_or_host():
    for path in BINDER.iterdir():
        text = path.read_text()
        assert "://" not in text and "index-url" not in text and "--find-links" not in text, path.name


def test_readme_launch_link_opens_a_notebook_that_exists():
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"mybinder\.org/v2/gh/[^\s)`]*?urlpath=lab/tree/([^\s)`&]+\.ipynb)", readme)
    assert targets, "README.md has no Binder launch link to a notebook"
    for target in targets:
        assert (ROOT / target).is_file(), f"the README's Binder link opens {target}, which does not exist"
