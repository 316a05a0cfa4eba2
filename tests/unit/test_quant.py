"""Which quantization loads on which machine, decided from config alone (no torch)."""

from __future__ import annotations

import pytest

from gptoss_lab.memory import KNOWN_CONFIGS
from gptoss_lab.model import ModelHandle
from gptoss_lab.quant import mxfp4_missing, plan_quant, require_packages

MXFP4 = KNOWN_CONFIGS["openai/gpt-oss-20b"]  # ships MXFP4 experts
PLAIN = {k: v for k, v in MXFP4.items() if k != "quantization_config"}  # a bf16 copy


@pytest.fixture
def kernels_present(monkeypatch):
    """A CUDA machine with triton >= 3.4 and the kernels package."""
    monkeypatch.setattr("gptoss_lab.quant.mxfp4_missing", lambda device: None if device.startswith("cuda") else "x")


def test_mxfp4_needs_cuda_triton_and_kernels(monkeypatch):
    assert mxfp4_missing("cpu") == "MXFP4 kernels need a CUDA GPU"
    monkeypatch.setattr("gptoss_lab.quant._version_at_least", lambda package, minimum: False)
    assert "triton >= 3.4" in mxfp4_missing("cuda")
    monkeypatch.setattr("gptoss_lab.quant._version_at_least", lambda package, minimum: True)
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert "pip install 'gptoss-lab[gpu]'" in mxfp4_missing("cuda")


def test_auto_keeps_mxfp4_where_kernels_run(kernels_present):
    plan = plan_quant("auto", MXFP4, "cuda", "bfloat16")
    assert (plan.quant, plan.dequantize, plan.note) == ("mxfp4", False, None)
    assert plan_quant(None, MXFP4, "cuda", "bfloat16") == plan


def test_auto_dequantizes_elsewhere_and_says_so():
    plan = plan_quant("auto", MXFP4, "cpu", "bfloat16")
    assert (plan.quant, plan.dequantize) == ("bf16", True)
    assert plan.why == "MXFP4 experts dequantized to bf16 at load (MXFP4 kernels need a CUDA GPU)"
    assert plan.note.startswith("note: MXFP4 experts dequantized")
    assert "3.8x the memory" in plan.note


def test_mxfp4_is_for_mxfp4_checkpoints(kernels_present):
    assert plan_quant("mxfp4", MXFP4, "cuda", "bfloat16").quant == "mxfp4"
    with pytest.raises(ValueError, match="this one does not: use quant='auto'"):
        plan_quant("mxfp4", PLAIN, "cuda", "bfloat16")


def test_bf16_dequantizes_even_where_kernels_run(kernels_present):
    plan = plan_quant("bf16", MXFP4, "cuda", "bfloat16")
    assert plan.dequantize and "you asked for quant='bf16'" in plan.why


def test_mxfp4_without_kernels_is_refused_in_one_line():
    with pytest.raises(
        ValueError, match=r"quant='mxfp4' cannot run here: MXFP4 kernels need a CUDA GPU; use quant='auto'"
    ):
        plan_quant("mxfp4", MXFP4, "cpu", "bfloat16")


def test_bnb_says_the_experts_stay_bf16_and_refuses_mxfp4_checkpoints():
    plan = plan_quant("bnb-4bit", PLAIN, "cpu", "bfloat16")
    assert plan.quant == "bnb-4bit"
    assert "experts are fused parameters, not nn.Linear" in plan.why and plan.why.endswith("stay bf16")
    with pytest.raises(ValueError, match="ships MXFP4 experts"):
        plan_quant("bnb-8bit", MXFP4, "cuda", "bfloat16")


def test_plain_checkpoints_load_as_they_are():
    assert plan_quant("auto", PLAIN, "cpu", "float32").quant == "none"
    assert plan_quant("auto", None, "cpu", "float32").quant == "none"  # config unknown (hub id not cached)


def test_missing_packages_name_the_extra(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"quant='bnb-8bit' needs bitsandbytes.*pip install 'gptoss-lab\[bnb\]'"):
        require_packages(plan_quant("bnb-8bit", PLAIN, "cpu", "bfloat16"), None)
    with pytest.raises(ImportError, match=r"device_map='auto' needs accelerate.*pip install 'gptoss-lab\[gpu\]'"):
        require_packages(plan_quant("auto", PLAIN, "cpu", "bfloat16"), "auto")
    require_packages(plan_quant("auto", PLAIN, "cpu", "bfloat16"), None)  # the default path needs neither


def test_handle_describes_quant_and_prices_it(monkeypatch):
    monkeypatch.setattr("gptoss_lab.model._cuda_visible", lambda: False)
    handle = ModelHandle("openai/gpt-oss-20b")
    assert (
        "quant:  bf16 (MXFP4 experts dequantized to bf16 at load (MXFP4 kernels need a CUDA GPU))" in handle.describe()
    )
    assert "quant='bf16'" in repr(handle)
    assert ModelHandle("nano", quant="bnb-4bit").dtype == "bfloat16"  # bnb computes around bf16 experts
    with pytest.raises(ValueError, match="ships MXFP4 experts"):
        ModelHandle("openai/gpt-oss-120b", quant="bnb-4bit")
