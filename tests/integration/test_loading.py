"""Model resolution and loading: local checkpoints, hub ids offline, sampling details."""

from __future__ import annotations

import pytest


def test_local_checkpoint_loads_through_from_pretrained(tmp_path, nano_lab_factory):
    from gptoss_lab import Lab

    loaded = nano_lab_factory().handle.load()
    loaded.model.save_pretrained(tmp_path)
    loaded.tokenizer.save_pretrained(tmp_path)
    lab = Lab(str(tmp_path), dtype="bfloat16")  # the dtype of real checkpoints
    assert Lab(str(tmp_path)).handle.dtype == "float32"
    assert lab.handle.source.kind == "local"
    assert f"from:   {tmp_path}" in repr(lab)
    assert "dtype:  bfloat16 (you asked for it)" in repr(lab)
    assert "dtype:  float32 (small checkpoint" in repr(Lab(str(tmp_path)))  # tiny: float32 on CPU
    assert lab.ask("hi", max_new_tokens=2).trace is None  # capture is opt-in beyond the bundled model
    reply = lab.ask("hi", max_new_tokens=5, temperature=0, capture=True)
    assert len(reply.completion_ids) >= 1
    # bf16 weights: routing is still captured; the weights are the ones the model used, at bf16 precision
    assert reply.trace is not None
    assert reply.trace.topk_weights.sum(axis=-1) == pytest.approx(1.0, abs=1e-2)
    model = lab.handle.load().model
    assert model.config._attn_implementation == "eager"
    assert str(model.dtype) == "torch.bfloat16"


def test_hub_id_offline_fails_with_what_to_type():
    from gptoss_lab import Lab

    lab = Lab("openai/gpt-oss-20b", preflight=False)  # builds fine: nothing is fetched until the first prompt
    assert lab.handle.source.kind == "hub"
    with pytest.raises(OSError, match="hf download openai/gpt-oss-20b"):
        lab.ask("hi")


def test_directory_without_config_is_refused(tmp_path):
    from gptoss_lab import Lab

    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        Lab(str(tmp_path))


def test_top_p_keeps_only_the_nucleus():
    import torch

    from gptoss_lab.generate import Sampling, sample_next

    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    gen = torch.Generator().manual_seed(0)
    picks = {sample_next(logits, Sampling(temperature=1.0, top_p=0.7), gen) for _ in range(400)}
    assert picks == {0, 1}  # 0.5 + 0.3 reaches 0.7; tokens 2 and 3 are cut
    picks = {sample_next(logits, Sampling(temperature=1.0, top_p=1.0), gen) for _ in range(400)}
    assert picks == {0, 1, 2, 3}
    assert sample_next(logits, Sampling(temperature=0), gen) == 0


@pytest.mark.parametrize(("kwargs", "match"), [({"temperature": -1}, "temperature"), ({"top_p": 0}, "top_p")])
def test_sampling_rejects_bad_values(kwargs, match):
    from gptoss_lab.generate import Sampling

    with pytest.raises(ValueError, match=match):
        Sampling(**kwargs)
