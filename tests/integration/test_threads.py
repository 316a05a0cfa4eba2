"""Tiny CPU models generate on one torch thread; torch's setting comes back afterwards."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def test_nano_on_cpu_generates_on_one_thread_and_restores_the_setting():
    from gptoss_lab import Lab

    lab = Lab()
    loaded = lab.handle.load()
    assert loaded.device == "cpu" and loaded.threads == 1
    before = torch.get_num_threads()
    seen = []
    lab.ask("What is 2 + 3?", effort="low", max_new_tokens=5, on_update=lambda r: seen.append(torch.get_num_threads()))
    assert seen and set(seen[:-1]) == {1}  # every token while the generator runs (the last frame comes after)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("stop_after", [0, 3])
def test_thread_setting_is_restored_when_the_generator_is_closed_early(stop_after):
    from gptoss_lab import Lab
    from gptoss_lab.generate import Sampling, generate_ids

    lab = Lab()
    loaded = lab.handle.load()
    before = torch.get_num_threads()
    ids = loaded.encode(lab.prompt_text("Hi"))
    tokens = generate_ids(loaded.model, ids, max_new_tokens=20, stop_ids=(), sampling=Sampling(0), threads=1)
    for i, _ in enumerate(tokens):
        assert torch.get_num_threads() == 1
        if i == stop_after:
            break
    tokens.close()  # what Lab does on Stop or Ctrl-C
    assert torch.get_num_threads() == before


def test_large_checkpoints_keep_torchs_default(tmp_path):
    from gptoss_lab.model import TINY_MODEL_BYTES, _is_tiny, resolve_model

    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 16)
    assert _is_tiny(resolve_model(str(tmp_path)))
    with open(tmp_path / "model.safetensors", "r+b") as f:
        f.truncate(TINY_MODEL_BYTES + 1)  # sparse: no real bytes written
    assert not _is_tiny(resolve_model(str(tmp_path)))
    assert not _is_tiny(resolve_model("openai/gpt-oss-20b"))  # a hub id: size unknown, torch's default
