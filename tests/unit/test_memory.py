"""Memory estimates from config alone, and the preflight that refuses a load that cannot fit."""

from __future__ import annotations

import pytest

from gptoss_lab.memory import (
    KNOWN_CONFIGS,
    NotEnoughMemory,
    count_parameters,
    estimate,
    preflight,
)

GB = 10**9


@pytest.mark.parametrize(
    ("name", "total", "active"), [("openai/gpt-oss-20b", 20.91, 3.61), ("openai/gpt-oss-120b", 116.83, 5.13)]
)
def test_parameter_counts_match_the_published_ones(name, total, active):
    p = count_parameters(KNOWN_CONFIGS[name])
    assert p.total / 1e9 == pytest.approx(total, abs=0.005)
    assert p.active / 1e9 == pytest.approx(active, abs=0.005)


def test_estimates_by_quantization():
    c = KNOWN_CONFIGS["openai/gpt-oss-20b"]
    mxfp4, bf16 = estimate(c, "mxfp4"), estimate(c, "bf16")
    assert 13 * GB < mxfp4.total_bytes < 16 * GB  # "fits a 16 GB GPU"
    assert 41 * GB < bf16.total_bytes < 43 * GB
    # bitsandbytes leaves the experts (19.1B parameters) in bf16: it saves little
    assert estimate(c, "bnb-4bit").total_bytes > 0.9 * bf16.total_bytes
    assert 60 * GB < estimate(KNOWN_CONFIGS["openai/gpt-oss-120b"], "mxfp4").total_bytes < 66 * GB


def test_kv_cache_grows_with_context_and_sliding_layers_cap_it():
    c = KNOWN_CONFIGS["openai/gpt-oss-20b"]
    small, large = estimate(c, "mxfp4", context=1024).kv_bytes, estimate(c, "mxfp4", context=8192).kv_bytes
    per_token_full_layer = 2 * 8 * 64 * 2
    assert large - small == 12 * (8192 - 1024) * per_token_full_layer  # only the 12 full layers keep growing


@pytest.fixture
def kernels_present(monkeypatch):
    """A CUDA machine with triton >= 3.4 and the kernels package (what quant.plan_quant asks)."""
    monkeypatch.setattr("gptoss_lab.quant.mxfp4_missing", lambda device: None if device.startswith("cuda") else "x")


def test_preflight_prices_what_plan_quant_decides(monkeypatch, kernels_present):
    """MXFP4 only where its kernels run: the preflight asks quant.plan_quant, it does not decide again."""
    monkeypatch.setattr("gptoss_lab.memory.available_bytes", lambda device: 24 * 2**30)
    c = KNOWN_CONFIGS["openai/gpt-oss-20b"]
    preflight("openai/gpt-oss-20b", c, "cuda", "bfloat16")  # 13.8 GB in MXFP4 fits 24 GB
    monkeypatch.setattr("gptoss_lab.quant.mxfp4_missing", lambda device: "MXFP4 kernels need triton >= 3.4")
    with pytest.raises(NotEnoughMemory, match=r"41\.9 GB on cuda \(MXFP4 experts dequantized to bf16 .*triton"):
        preflight("openai/gpt-oss-20b", c, "cuda", "bfloat16")  # a GPU without the kernels: bf16


def test_preflight_refuses_in_one_line_with_what_fits(monkeypatch):
    monkeypatch.setattr("gptoss_lab.memory.available_bytes", lambda device: 24 * 2**30)
    with pytest.raises(NotEnoughMemory) as err:
        preflight("openai/gpt-oss-120b", KNOWN_CONFIGS["openai/gpt-oss-120b"], "cpu", "bfloat16")
    message = str(err.value)
    assert "\n" not in message
    assert "233.8 GB" in message
    assert "65.3 GB" in message  # what it needs on a GPU with MXFP4
    assert "preflight=False" in message


def test_preflight_lets_a_fitting_load_through(monkeypatch, kernels_present):
    monkeypatch.setattr("gptoss_lab.memory.available_bytes", lambda device: 80 * 2**30)
    preflight("openai/gpt-oss-120b", KNOWN_CONFIGS["openai/gpt-oss-120b"], "cuda", "bfloat16")  # 65 GB < 80 GB


def test_preflight_ignores_other_architectures(monkeypatch):
    monkeypatch.setattr("gptoss_lab.memory.available_bytes", lambda device: 1)
    preflight("some/llama", {"model_type": "llama", "hidden_size": 4096}, "cpu", "bfloat16")


def test_lab_refuses_before_touching_any_weights(monkeypatch):
    from gptoss_lab import Lab

    monkeypatch.setattr("gptoss_lab.memory.available_bytes", lambda device: 24 * 2**30)
    monkeypatch.setattr("gptoss_lab.model._load", lambda *a: pytest.fail("weights were touched"))
    monkeypatch.setattr("gptoss_lab.model._cuda_visible", lambda: False)
    with pytest.raises(NotEnoughMemory, match=r"gpt-oss-20b needs about 41\.9 GB on cpu"):
        Lab("openai/gpt-oss-20b").ask("hi")


# -- a reply's own memory: the KV cache and eager attention's scores over the prompt


def test_reply_memory_is_the_kv_cache_plus_the_prompts_attention_scores():
    from gptoss_lab.memory import reply_bytes

    c = KNOWN_CONFIGS["openai/gpt-oss-20b"]
    scores = 3 * 64 * 4096 * 4097 * 2  # three live (heads, T, T + 1) bf16 tensors at the peak
    masks = 2 * 4096 * 4096 * 2
    activations = 4096 * (8 * 2880 + 4 * 2880) * 2
    kv = (12 * 128 + 12 * 5120) * 2 * 8 * 64 * 2  # sliding layers keep 128 tokens, full ones all 4096 + 1024
    assert reply_bytes(c, 4096, 1024, "bfloat16") == scores + masks + activations + kv
    assert reply_bytes(c, 4096, 1024, "float32") == 2 * reply_bytes(c, 4096, 1024, "bfloat16")
    # new tokens cost only KV cache, in the 12 full layers; the prompt's cost grows with its square
    assert reply_bytes(c, 4096, 2024, "bfloat16") - reply_bytes(c, 4096, 1024, "bfloat16") == 12 * 1000 * 2048
    assert reply_bytes(c, 8192, 0, "bfloat16") > 24 * GB  # an 8k-token prompt alone overflows a 24 GB GPU


def test_free_gpu_memory_counts_what_torchs_allocator_holds_unused(monkeypatch):
    import sys
    import types

    from gptoss_lab.memory import available_bytes

    cuda = types.SimpleNamespace(
        mem_get_info=lambda i: (10 * GB, 80 * GB),  # what the driver sees free
        memory_reserved=lambda i: 30 * GB,  # torch's cache, of which 4 GB hold no tensor
        memory_allocated=lambda i: 26 * GB,
        device_count=lambda: 2,
    )
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    assert available_bytes("cuda") == available_bytes("cuda:1") == 14 * GB
    gpus = available_bytes("auto") - (available_bytes("cpu") or 0)  # device_map="auto": every GPU, plus the RAM
    assert gpus == pytest.approx(2 * 14 * GB, abs=GB)  # (the RAM read twice may drift a little)
