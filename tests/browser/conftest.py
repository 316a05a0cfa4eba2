"""Browser tests: real JupyterLab on localhost, driven in Debian's Chromium by playwright.

Outside CI, a missing Chromium, playwright or JupyterLab skips these tests with the reason.
``.ci/run`` sets ``GPTOSS_LAB_REQUIRE_BROWSER=1``, which turns that skip into a failure.
Screenshots go to ``$GPTOSS_LAB_SCREENSHOTS`` (default ``build/browser-screenshots``); the
test log names the folder at the end, and a failing test leaves its page's screenshot and text there.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .notebook_page import NotebookPage, Screenshots
from .server import LabServer, copy_notebooks

ROOT = Path(__file__).parents[2]
CHROMIUM = Path(os.environ.get("GPTOSS_LAB_CHROMIUM", "/usr/bin/chromium"))
# This machine's network is closed: without these Chromium keeps dialling out and its connections get refused.
CHROMIUM_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_TAKEN: list[Path] = []  # every screenshot of this session, for the summary at the end
_FAILURES: list[str] = []  # what a failing test left behind, repeated in the summary


def unavailable(reason: str) -> None:
    """Skip with ``reason``; in CI (GPTOSS_LAB_REQUIRE_BROWSER=1) fail instead."""
    if os.environ.get("GPTOSS_LAB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (GPTOSS_LAB_REQUIRE_BROWSER=1: the browser tests must run here)", pytrace=False)
    pytest.skip(reason)


def screenshot_dir() -> Path:
    return Path(os.environ.get("GPTOSS_LAB_SCREENSHOTS") or ROOT / "build" / "browser-screenshots")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium under playwright (playwright's own browser download is not used)."""
    if importlib.util.find_spec("playwright") is None:
        unavailable("playwright is not installed: pip install -e '.[test]'")
    if not CHROMIUM.exists():
        unavailable(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set GPTOSS_LAB_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # playwright gives it a new empty profile and runs it headless without the sandbox (CI is root)
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, chromium_sandbox=False)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab serving a temporary folder holding copies of notebooks/*.ipynb."""
    for module in ("jupyterlab", "jupyterlab_widgets", "ipykernel"):
        if importlib.util.find_spec(module) is None:
            unavailable(f"{module} is not installed: pip install -e '.[test]'")
    home = tmp_path_factory.mktemp("jupyterlab")
    root = home / "root"
    root.mkdir()
    copy_notebooks(ROOT / "notebooks", root)
    server = LabServer(root, home)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def screenshots_folder() -> Path:
    folder = screenshot_dir()
    if folder.exists():  # this run's pictures only; the folder is ours (build/ or the one named in the env var)
        for old in [*folder.glob("test_*.png"), *folder.glob("test_*.txt")]:
            old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def notebook(browser: Any, lab_server: LabServer, screenshots_folder: Path, request: pytest.FixtureRequest) -> Any:
    """A NotebookPage in a fresh browser context; on failure its screenshot and text are kept."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    shots = Screenshots(screenshots_folder, request.node.name)
    yield NotebookPage(page, lab_server, shots)
    try:
        if request.node.stash.get(_CALL_FAILED, False):
            shots.take(page, "FAILED")
            text = shots.path("FAILED-page", ".txt")
            text.write_text(page.locator("body").inner_text(timeout=5_000))
            shots.taken.append(text)
            _FAILURES.append(f"{request.node.name}: {shots.taken[-2]} and {text}")
            print(f"jupyterlab log:\n{lab_server.log_tail()}")
    finally:
        _TAKEN.extend(shots.taken)
        context.close()
        lab_server.shutdown_kernels()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _TAKEN:
        terminalreporter.write_sep("-", "browser screenshots")
        terminalreporter.write_line(f"{len(_TAKEN)} files in {screenshot_dir()}")
        for line in _FAILURES:
            terminalreporter.write_line(f"failed, page saved: {line}")
