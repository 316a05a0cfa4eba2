"""A real server on localhost: ``transformers serve`` serving the bundled gpt-oss-nano, offline.

What transformers 5.24 really sends for gpt-oss (checked by hand, recorded in
tests/data/remote/transformers_serve_*.sse): no reasoning field. It has no response parser
for gpt-oss, so it decodes with ``skip_special_tokens=True`` and ``content`` carries the harmony
text with its special tokens stripped (``analysis...assistantfinal...``); it ignores
``reasoning_effort`` (a warning in its log) and takes effort through
``chat_template_kwargs.reasoning_effort``. These tests hold the client to that.

Runtime: one server start shared by the module, its first (slow, warming) reply, a kernel start, a few
short replies: 44 s for the module on this 2-core machine at load average 4-5, 81 s at load 6-7
(other agents' test runs sharing the cores; ``python -m pytest tests/integration/test_serve.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from gptoss_lab import Lab
from gptoss_lab.nano import CHECKPOINT_DIR

pytest.importorskip("torch")
pytestmark = [pytest.mark.integration, pytest.mark.slow]  # the module: under a minute on 2 shared cores

HARMONY_WORDS = ("<|", "analysis", "assistant", "final")
START_TIMEOUT_S = 90


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """``transformers serve`` on 127.0.0.1 and a free port; yields its base URL once /health answers."""
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cli = "from transformers.cli.transformers import main; import sys; sys.exit(main())"
    args = ["serve", str(CHECKPOINT_DIR), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    proc = subprocess.Popen(
        [sys.executable, "-c", cli, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait_ready(proc, f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(proc: subprocess.Popen[str], health: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"transformers serve exited with {proc.returncode}:\n{log[-3000:]}")
        try:
            with urllib.request.urlopen(health, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"transformers serve did not answer {health} within {START_TIMEOUT_S} s")


def assert_apart(reply: Any) -> None:
    assert reply.stopped == "return"
    assert reply.reasoning.strip() and reply.answer.strip()
    for word in HARMONY_WORDS:
        assert word not in reply.answer and word not in reply.reasoning
    assert reply.reasoning not in reply.answer and reply.answer not in reply.reasoning


def test_reasoning_and_answer_apart_and_effort_reaches_the_model(served: str) -> None:
    lab = Lab(base_url=served)
    lab.load()
    assert lab.model_name == str(CHECKPOINT_DIR)  # the one model the server lists
    high = lab.ask("What is 17 + 25?", effort="high")
    assert_apart(high)
    assert high.answer == "17 + 25 = 42."
    assert high.stats.prompt_tokens > 0 and high.stats.completion_tokens > 0
    assert high.token_note  # the server's totals, the reasoning/answer split estimated
    local = Lab("nano").ask("What is 17 + 25?", effort="high", temperature=0)
    assert (high.reasoning, high.answer) == (local.reasoning, local.answer)  # the same greedy reply
    low = Lab(base_url=served).ask("What is 17 + 25?", effort="low")
    assert_apart(low)
    assert len(low.reasoning) < len(high.reasoning)  # effort went through the chat template


def test_responses_api(served: str) -> None:
    reply = Lab(base_url=served, api="responses").ask("What is 17 + 25?")
    assert_apart(reply)


def magic_in_a_kernel(connect: str, cell: str, tmp_path: Any) -> dict[str, str]:
    """Run ``%load_ext gptoss_lab``, ``connect`` and the ``%%gptoss`` ``cell`` in a real kernel; what they showed:
    the connect line's text, the reply's HTML, its reasoning and answer parts, and the cell's printed text."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in ["%load_ext gptoss_lab", connect, cell]])
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}})
    client.execute()
    outputs = nb.cells[2].outputs
    [html] = [o.data["text/html"] for o in outputs if o.output_type == "display_data"]
    return {
        "connected": nb.cells[1].outputs[0].text,
        "html": html,
        "reasoning": html.split('class="gptoss-reasoning-text"', 1)[1].split("</div>", 1)[0],
        "answer": html.split('class="gptoss-answer"', 1)[1].split("</div>", 1)[0],
        "printed": "".join(o.text for o in outputs if o.output_type == "stream"),
    }


def test_magic_in_a_real_kernel_shows_reasoning_and_answer_apart(served: str, tmp_path: Any) -> None:
    """Done means: a prompt through `transformers serve` shows reasoning and answer apart in the notebook."""
    shown = magic_in_a_kernel(
        f"%gptoss connect {served}", "%%gptoss --effort high --show routing\nWhat is 17 + 25?", tmp_path
    )
    assert f"remote server {served}" in shown["connected"]
    reasoning, answer = shown["reasoning"], shown["answer"]
    assert "Task: add 17 and 25." in reasoning and "17 + 25 = 42." not in reasoning
    assert answer.endswith(">17 + 25 = 42.") and "digit" not in answer
    assert "finished" in shown["html"]
    assert f"routing and attention views need a local model (this reply came from {served})" in shown["printed"]
