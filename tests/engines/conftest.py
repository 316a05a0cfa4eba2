"""Fixtures of the engine tier: the vLLM venv, the tiny real-vocabulary gpt-oss it serves, the servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engines.vllm_server import (
    TINY_SERVER_ARGS,
    VllmServer,
    group_alive,
    vllm_python,
    vllm_server,
    write_tiny_gpt_oss,
)


@pytest.fixture(scope="session")
def vllm_py() -> Path:
    """The vLLM venv's python (built on first use: about 4 minutes), or a one-line skip."""
    return vllm_python()


@pytest.fixture(scope="session")
def o200k_vocab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding o200k_base.tiktoken, for vLLM's harmony renderer (TIKTOKEN_ENCODINGS_BASE)."""
    pytest.importorskip("toktok")
    from tests.reference.harmony_ref import write_o200k_base_vocab

    return write_o200k_base_vocab(tmp_path_factory.mktemp("o200k-vocab")).parent


@pytest.fixture(scope="session")
def tiny_gpt_oss(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random gpt-oss checkpoint with the real o200k_harmony tokenizer."""
    pytest.importorskip("toktok")
    pytest.importorskip("torch")
    return write_tiny_gpt_oss(tmp_path_factory.mktemp("gpt-oss-tiny"))


def serve(vllm_py: Path, model_dir: Path, vocab: Path, workdir: Path, name: str, **options: Any) -> Iterator[Any]:
    """Yield a running :class:`VllmServer`; afterwards check that none of its processes is left."""
    with vllm_server(vllm_py, model_dir, workdir, name=name, vocab_dir=vocab, **options) as server:
        pgid = server.proc.pid
        yield server
    assert not group_alive(pgid), f"vLLM's process group {pgid} outlived its server"


@pytest.fixture(scope="module")
def tiny_server(vllm_py, tiny_gpt_oss, o200k_vocab, tmp_path_factory) -> Iterator[VllmServer]:
    """vLLM serving the tiny gpt-oss as ``gpt-oss-tiny``, its replies scripted by ``scripted_logits``."""
    workdir = tmp_path_factory.mktemp("vllm-tiny")
    yield from serve(vllm_py, tiny_gpt_oss, o200k_vocab, workdir, "gpt-oss-tiny", args=TINY_SERVER_ARGS)


@pytest.fixture(scope="module")
def nano_server(vllm_py, o200k_vocab, tmp_path_factory) -> Iterator[VllmServer]:
    """vLLM serving the bundled gpt-oss-nano from its own directory, in float32 as nano runs on CPU here
    (``scripted_logits`` only logs the prompts the engine ran: nothing is scripted for nano)."""
    from gptoss_lab.nano import CHECKPOINT_DIR

    workdir, args = tmp_path_factory.mktemp("vllm-nano"), ("--logits-processors", "scripted_logits:ScriptedLogits")
    yield from serve(vllm_py, CHECKPOINT_DIR, o200k_vocab, workdir, "gpt-oss-nano", dtype="float32", args=args)
