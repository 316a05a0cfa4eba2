"""Drive one notebook in JupyterLab as a student would: open it, Run > Run All Cells, File > Save.

Screenshots are numbered per test and land in one folder, which the test log names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat

# Done: the kernel is idle and no cell waits in the queue ("[*]:"), and at least one cell ran.
_DONE_JS = """() => {
  const status = [...document.querySelectorAll('.jp-Notebook-ExecutionIndicator')].map(e => e.dataset.status);
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);
  return status.length > 0 && status.every(s => s === 'idle')
    && prompts.some(p => /\\[\\d+\\]/.test(p)) && !prompts.some(p => p.includes('*'));
}"""

# The page starts "idle" with no kernel at all: ready means a kernel is named and idle.
_KERNEL_READY_JS = """() => {
  const name = document.querySelector('.jp-Toolbar-kernelName');
  const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
  return !!name && !!status && !name.textContent.includes('No Kernel') && status.dataset.status === 'idle';
}"""

# What the page shows of the kernel and the cells, for a timeout's message.
_STATE_JS = """() => {
  const name = document.querySelector('.jp-Toolbar-kernelName');
  const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim());
  const dialog = document.querySelector('.jp-Dialog');
  return `kernel ${name ? name.textContent : 'none'} (${status ? status.dataset.status : 'no status'}), `
    + `cell prompts ${prompts.join(' ')}` + (dialog ? `, a dialog is open: ${dialog.innerText}` : '');
}"""


# The scripts the page fetched since entry ``from`` of its resource timings: [name, kB, ms] each.
SCRIPTS_SINCE_JS = """(from) => performance.getEntriesByType('resource').slice(from)
  .filter((r) => r.initiatorType === 'script' || r.name.endsWith('.js'))
  .map((r) => [(r.name.match(/extensions\\/([^/]+(\\/[^/]+)?)\\/static/) || [, 'jupyterlab'])[1] + ' ' +
    r.name.split('/').pop().split('?')[0], Math.round(r.encodedBodySize / 1024), Math.round(r.duration)])"""


# How many resource timings the page holds, with room made for every later one (the page's own load can
# fill the default buffer of 250, after which none is recorded).
ENTRIES_JS = """() => { performance.setResourceTimingBufferSize(100000);
  return performance.getEntriesByType('resource').length; }"""


class Screenshots:
    """Numbered screenshots of one test: ``<test>-01-<step>.png``, ... in ``folder``."""

    def __init__(self, folder: Path, test: str) -> None:
        self.folder, self.test = folder, re.sub(r"[^A-Za-z0-9_.-]+", "_", test)
        self.taken: list[Path] = []

    def path(self, step: str, suffix: str = ".png") -> Path:
        return self.folder / f"{self.test}-{len(self.taken) + 1:02d}-{step}{suffix}"

    def take(self, target: Any, step: str) -> Path:
        """Screenshot a page (the window) or a locator (just that element, scrolled into view)."""
        path = self.path(step)
        target.screenshot(path=str(path))
        self.taken.append(path)
        return path


class NotebookPage:
    """One JupyterLab tab showing one notebook of the server's root."""

    def __init__(self, page: Any, server: Any, shots: Screenshots) -> None:
        self.page, self.server, self.shots = page, server, shots
        self.name = ""

    def open(self, name: str, timeout_s: float = 90) -> None:
        """Open ``name`` in a fresh workspace and wait until its kernel is idle."""
        self.name = name
        # a workspace per notebook, reset: no tab of an earlier test comes back
        workspace = re.sub(r"\W+", "-", name)
        self.page.goto(self.server.url(f"lab/workspaces/{workspace}/tree/{name}", reset=""))
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout_s * 1000)
        self._wait(_KERNEL_READY_JS, timeout_s, f"{name}'s kernel was not idle")

    def menu(self, menu: str, command: str) -> None:
        """Click ``menu`` in the menu bar, then its item that runs ``command`` (labels vary by version)."""
        self.page.get_by_role("menuitem", name=menu, exact=True).click()
        self.page.locator(f'.lm-Menu-item[data-command="{command}"]').click()

    def theme(self, name: str) -> None:
        """Settings > Theme > ``name`` ("JupyterLab Dark", "JupyterLab Light"); waits until it applies."""
        self.page.get_by_role("menuitem", name="Settings", exact=True).click()
        self.page.locator(".lm-Menu-item", has_text="Theme").first.hover()
        self.page.locator('.lm-Menu-item[data-command="apputils:change-theme"]', has_text=name).first.click()
        self.page.wait_for_function(f"() => document.body.dataset.jpThemeName === {name!r}", timeout=30_000)
        self.page.wait_for_timeout(300)  # the theme's CSS variables settle

    def run_all(self, timeout_s: float = 150) -> None:
        """Run > Run All Cells, then wait until every queued cell has run (or the run stopped at an error)."""
        self.menu("Run", "runmenu:run-all")
        self.wait_idle(timeout_s)

    def wait_idle(self, timeout_s: float) -> None:
        self._wait(_DONE_JS, timeout_s, f"{self.name} was still running")

    def _wait(self, predicate_js: str, timeout_s: float, what: str) -> None:
        """Wait for ``predicate_js``; on timeout fail with one line saying what the page showed."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(predicate_js, timeout=timeout_s * 1000, polling=250)
        except PlaywrightTimeout:
            state = self.page.evaluate(_STATE_JS)
            raise AssertionError(f"{what} after {timeout_s:.0f} s: {state}") from None

    def save(self) -> Any:
        """File > Save Notebook; returns the saved notebook (nbformat), outputs as the browser got them."""
        self.menu("File", "docmanager:save")
        self.page.wait_for_selector(".lm-TabBar-tab.jp-mod-current:not(.jp-mod-dirty)", timeout=30_000)
        return nbformat.read(self.server.root / self.name, as_version=4)

    def cell(self, index: int) -> Any:
        """The ``index``-th code cell (0-based) as a locator."""
        return self.page.locator(".jp-CodeCell").nth(index)


def errors_of(nb: Any) -> list[str]:
    """Every error output of a saved notebook, as 'EName: evalue'."""
    return [
        f"{out.ename}: {out.evalue}"
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.output_type == "error"
    ]


def unexecuted(nb: Any) -> list[int]:
    """Indices of code cells that never ran."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    return [i for i, c in enumerate(code) if c.execution_count is None]


def write_notebook(path: Path, sources: list[str]) -> None:
    """A notebook of code cells on the python3 kernel (the server's own interpreter)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    nbformat.write(nb, path)
