"""gpt-oss's ``python`` tool: the model's code runs in a Jupyter kernel of its own, never in yours.

>>> reply = lab.ask("What is 2**100? Use python.", tools=["python"])

gpt-oss was trained to send code to ``python`` in its analysis channel and to read the output
back there (harmony renders the tool in the system message). :class:`PythonTool` starts a
separate kernel for it on the first call (``jupyter_client`` and ``ipykernel``, which a notebook
has) and keeps it, so the model's variables persist from call to call, as the model expects of a
"stateful Jupyter notebook environment". Each call runs for at most ``timeout`` seconds (then it
is interrupted, the kernel's state kept); its output is cut at ``max_output`` characters.
``lab.python.restart()`` gives it a fresh kernel; ``close()`` ends it.

What that kernel is and is not: it is another process, so the model cannot see or change your
notebook's variables, and a crash or a hang there leaves your kernel alone. It runs as you, on
this machine, in the working directory you give it: it can read and write your files, use the
network and start programs, as any code you run can. It is isolation from the notebook's state,
not a security sandbox; run untrusted models' code in a container or VM of its own.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .errors import GptOssLabError
from .tools import MAX_RESULT_CHARS, Tool

__all__ = ["DEFAULT_TIMEOUT", "PythonTool", "description"]

#: Seconds one call may run before the kernel is interrupted.
DEFAULT_TIMEOUT = 30.0
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def description(timeout: float) -> str:
    """The tool's text in the system message: gpt-oss's own wording of its python tool, with this tool's
    timeout, and no promise of a ``/mnt/data`` drive (there is none here)."""
    return (
        "Use this tool to execute Python code in your chain of thought. The code will not be shown to the user. "
        "This tool should be used for internal reasoning, but not for code that is intended to be visible to the "
        "user (e.g. when creating plots, tables, or files).\n\n"
        "When you send a message containing Python code to python, it will be executed in a stateful Jupyter "
        f"notebook environment. python will respond with the output of the execution or time out after {timeout} "
        "seconds. Internet access for this session is UNKNOWN."
    )


class PythonToolError(GptOssLabError, RuntimeError):
    """The python tool's kernel could not start (what to install, or why it died)."""


class PythonTool:
    """A Jupyter kernel for the model's code, started on first use. ``cwd``: its working directory."""

    name = "python"

    def __init__(
        self, *, timeout: float = DEFAULT_TIMEOUT, max_output: int = MAX_RESULT_CHARS, cwd: str | Path | None = None
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        self.timeout = float(timeout)
        self.max_output = max_output
        self.cwd = str(cwd) if cwd is not None else None
        self._manager: Any = None
        self._client: Any = None
        self._sockets: str | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "not started"
        return f"PythonTool({state}, timeout {self.timeout:g} s, output cut at {self.max_output:,} characters)"

    @property
    def running(self) -> bool:
        return self._manager is not None and self._manager.is_alive()

    def tool(self) -> Tool:
        """This tool as a :class:`~gptoss_lab.tools.Tool`: its arguments are code, not JSON."""
        return Tool(self.name, description(self.timeout), None, self.run, raw=True, limit=self.max_output)

    # -- the kernel

    def start(self) -> PythonTool:
        """Start the kernel now (the first call does it otherwise)."""
        if self.running:
            return self
        try:
            from jupyter_client.manager import KernelManager
        except ImportError:
            raise PythonToolError(
                "the python tool runs code in a Jupyter kernel of its own: pip install jupyter_client ipykernel"
            ) from None
        # unix sockets where there are any (no TCP port, which jupyter_client also warns about); TCP elsewhere
        if os.name == "posix":  # its sockets in a folder of their own, not in the notebook's folder
            self._sockets = tempfile.mkdtemp(prefix="gptoss-python-")
            where = {"transport": "ipc", "ip": str(Path(self._sockets) / "kernel")}
        else:
            where = {"transport": "tcp"}
        manager = KernelManager(kernel_name="python3", **where)
        try:
            manager.start_kernel(cwd=self.cwd) if self.cwd else manager.start_kernel()
            client = manager.client()
            client.start_channels()
            client.wait_for_ready(timeout=60)
        except Exception as err:
            manager.shutdown_kernel(now=True) if manager.has_kernel else None
            raise PythonToolError(f"the python tool's kernel did not start: {err}") from None
        self._manager, self._client = manager, client
        return self

    def restart(self) -> None:
        """A fresh kernel: everything the model defined is gone."""
        self.close()
        self.start()

    def close(self) -> None:
        """End the kernel (a later call starts a new one)."""
        if self._client is not None:
            self._client.stop_channels()
        if self._manager is not None and self._manager.has_kernel:
            self._manager.shutdown_kernel(now=True)
        self._manager = self._client = None
        if self._sockets is not None:
            shutil.rmtree(self._sockets, ignore_errors=True)
            self._sockets = None

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        with contextlib.suppress(Exception):
            self.close()

    # -- one call

    def run(self, code: str) -> str:
        """Run ``code``; return what it printed, its last value and any traceback, as the model reads it."""
        self.start()
        client = self._client
        msg_id = client.execute(code, store_history=False, allow_stdin=False)
        out: list[str] = []
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._manager.interrupt_kernel()
                self._drain(msg_id, out, grace=5.0)
                out.append(f"\n[timed out after {self.timeout:g} s: interrupted; the kernel's variables are kept]")
                break
            try:
                msg = client.get_iopub_msg(timeout=min(left, 0.5))
            except queue.Empty:
                if not self._manager.is_alive():
                    self._manager = self._client = None
                    out.append("\n[the kernel died; the next call starts a fresh one]")
                    break
                continue
            if self._take(msg, msg_id, out):
                break
        return "".join(out).strip("\n")

    def _drain(self, msg_id: str, out: list[str], grace: float) -> None:
        """After an interrupt: read what the kernel still sends for this call, for at most ``grace`` seconds."""
        end = time.monotonic() + grace
        while time.monotonic() < end:
            try:
                if self._take(self._client.get_iopub_msg(timeout=0.2), msg_id, out):
                    return
            except queue.Empty:
                continue

    @staticmethod
    def _take(msg: dict[str, Any], msg_id: str, out: list[str]) -> bool:
        """Add one iopub message's text to ``out``; True when the call is over (the kernel idle again)."""
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            return False
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            data = content.get("data", {})
            text = data.get("text/plain")
            out.append((text if text is not None else f"[{', '.join(data)} output]") + "\n")
        elif kind == "error":
            out.append(_ANSI.sub("", "\n".join(content.get("traceback", []))) + "\n")
        elif kind == "status" and content.get("execution_state") == "idle":
            return True
        return False
