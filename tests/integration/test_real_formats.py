"""The real checkpoint formats, on tiny checkpoints built here: bf16, MXFP4-packed experts,
bitsandbytes 4/8-bit, accelerate's device_map, and the 120b refused before any weight is read.

The MXFP4 checkpoint is packed by this file's own packer (two e2m1 codes per byte, low nibble
first; one E8M0 exponent per 32 values), from expert weights chosen to be exactly representable
in MXFP4, so transformers' MXFP4 loader, dequantizing, must give back the very same weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

FP4_VALUES = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0])
#: what the published checkpoints leave unquantized (their config.json)
NOT_CONVERTED = ["model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]


def pack_mxfp4(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., N) values -> blocks (..., N/32, 16) uint8 and scales (..., N/32) uint8 (exponent + 127)."""
    groups = w.float().reshape(*w.shape[:-1], -1, 32)  # (..., G, 32)
    amax = groups.abs().amax(-1)
    exponent = torch.where(amax > 0, torch.ceil(torch.log2(amax / 6)), torch.zeros_like(amax))  # largest -> <= 6
    scaled = groups / torch.exp2(exponent)[..., None]
    codes = (scaled[..., None] - FP4_VALUES).abs().argmin(-1).to(torch.uint8)  # (..., G, 32) nearest e2m1
    return codes[..., 0::2] | (codes[..., 1::2] << 4), (exponent + 127).to(torch.uint8)


def exact_mxfp4_(experts: torch.nn.Module, generator: torch.Generator) -> None:
    """Give the fused expert weights values MXFP4 holds exactly: e2m1 codes times 2^e, one e per 32 inputs."""
    for name in ("gate_up_proj", "down_proj"):
        param = getattr(experts, name)  # (E, in, out): the checkpoint packs 32 consecutive inputs per scale
        n_exp, n_in, n_out = param.shape
        codes = torch.randint(0, 16, param.shape, generator=generator)
        exponent = torch.randint(-9, -5, (n_exp, n_in // 32, n_out), generator=generator).repeat_interleave(32, 1)
        param.data = FP4_VALUES[codes] * torch.exp2(exponent.float())


def tiny_config(vocab_size: int, **overrides: object) -> object:
    from transformers import GptOssConfig

    shape = dict(hidden_size=64, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
    shape |= dict(num_key_value_heads=2, head_dim=16, num_local_experts=4, num_experts_per_tok=2, sliding_window=8)
    return GptOssConfig(vocab_size=vocab_size, **(shape | overrides))


def write_mxfp4_copy(bf16_dir: Path, target: Path) -> Path:
    """The checkpoint in ``bf16_dir`` with its experts packed as the published gpt-oss checkpoints are."""
    from safetensors.torch import load_file, save_file

    target.mkdir()
    tensors = {}
    for key, value in load_file(bf16_dir / "model.safetensors").items():
        if ".mlp.experts." in key and key.endswith(("gate_up_proj", "down_proj")):
            # stored (E, in, out); packed (E, out, in/32, 16): 32 consecutive inputs share a scale
            tensors[f"{key}_blocks"], tensors[f"{key}_scales"] = pack_mxfp4(value.transpose(1, 2))
        else:
            tensors[key] = value
    save_file(tensors, target / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((bf16_dir / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "mxfp4", "modules_to_not_convert": NOT_CONVERTED}
    (target / "config.json").write_text(json.dumps(config))
    for file in bf16_dir.glob("tokenizer*"):
        (target / file.name).write_bytes(file.read_bytes())
    return target


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """{"bf16": dir, "mxfp4": dir}: one tiny random gpt-oss (nano's tokenizer), saved both ways."""
    from transformers import AutoTokenizer, GptOssForCausalLM

    from gptoss_lab.nano import nano_checkpoint

    root = tmp_path_factory.mktemp("formats")
    torch.manual_seed(0)
    model = GptOssForCausalLM(tiny_config(1024))
    generator = torch.Generator().manual_seed(1)
    for layer in model.model.layers:
        exact_mxfp4_(layer.mlp.experts, generator)
    model.to(torch.bfloat16).save_pretrained(root / "bf16")  # bf16 everywhere, as the real ones outside the experts
    AutoTokenizer.from_pretrained(nano_checkpoint().path).save_pretrained(root / "bf16")
    return {"bf16": root / "bf16", "mxfp4": write_mxfp4_copy(root / "bf16", root / "mxfp4")}


def test_packer_is_exact_on_representable_weights():
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors

    experts = torch.nn.Module()
    experts.gate_up_proj = torch.nn.Parameter(torch.empty(3, 64, 128))
    experts.down_proj = torch.nn.Parameter(torch.empty(3, 64, 64))
    exact_mxfp4_(experts, torch.Generator().manual_seed(0))
    blocks, scales = pack_mxfp4(experts.gate_up_proj.data.transpose(1, 2))
    assert blocks.shape == (3, 128, 2, 16) and scales.shape == (3, 128, 2)
    back = convert_moe_packed_tensors(blocks, scales, dtype=torch.float32)  # transformers' own dequantizer
    assert torch.equal(back, experts.gate_up_proj.data)


def test_bf16_checkpoint_loads_as_bf16_and_generates(checkpoints):
    from gptoss_lab import Lab

    lab = Lab(str(checkpoints["bf16"]), quant="bf16")
    assert "quant:  bf16 (the checkpoint's weights in bf16, as you asked)" in repr(lab)
    reply = lab.ask("hi", max_new_tokens=4, temperature=0)
    assert len(reply.completion_ids) >= 1
    assert lab.handle.load().model.dtype == torch.bfloat16


def test_mxfp4_checkpoint_dequantizes_to_the_very_same_weights(checkpoints, capsys):
    from gptoss_lab import Lab

    packed = Lab(str(checkpoints["mxfp4"]))  # auto, on a CPU: dequantized
    assert packed.handle.plan.dequantize
    assert "quant:  bf16 (MXFP4 experts dequantized to float32 at load (MXFP4 kernels need a CUDA GPU))" in repr(packed)
    model = packed.handle.load().model
    assert "note: MXFP4 experts dequantized to float32 at load" in capsys.readouterr().err
    reference = Lab(str(checkpoints["bf16"])).handle.load().model
    ours, theirs = model.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    ids = torch.tensor([[5, 17, 99, 3, 250, 7]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reference(ids).logits)
    a = packed.ask("2+2?", max_new_tokens=6, temperature=0).completion_ids
    assert a == Lab(str(checkpoints["bf16"])).ask("2+2?", max_new_tokens=6, temperature=0).completion_ids


def test_mxfp4_asked_as_bf16_loads_bf16(checkpoints):
    from gptoss_lab import Lab

    lab = Lab(str(checkpoints["mxfp4"]), quant="bf16")
    experts = lab.handle.load().model.model.layers[0].mlp.experts
    assert experts.gate_up_proj.dtype == torch.bfloat16
    reference = Lab(str(checkpoints["bf16"]), quant="bf16").handle.load().model.model.layers[0].mlp.experts
    assert torch.equal(experts.gate_up_proj, reference.gate_up_proj)


def test_mxfp4_is_refused_where_its_kernels_cannot_run(checkpoints):
    from gptoss_lab import Lab

    with pytest.raises(ValueError, match="quant='mxfp4' cannot run here: MXFP4 kernels need a CUDA GPU"):
        Lab(str(checkpoints["mxfp4"]), quant="mxfp4", device="cpu")


@pytest.mark.parametrize(
    ("damage", "match"),
    [("drop", r"without model\.layers\.1\.mlp\.experts\.down_proj_scales"), ("cut", r"must be scales \+ \(16,\)")],
)
def test_a_missing_or_malformed_packed_tensor_is_named(checkpoints, tmp_path, damage, match):
    from safetensors.torch import load_file, save_file

    from gptoss_lab import Lab

    broken = tmp_path / "broken"
    broken.mkdir()
    for file in checkpoints["mxfp4"].iterdir():
        (broken / file.name).write_bytes(file.read_bytes())
    tensors = load_file(broken / "model.safetensors")
    key = "model.layers.1.mlp.experts.down_proj_scales"
    if damage == "drop":
        del tensors[key]
    else:
        tensors[key] = tensors[key][..., :1].contiguous()
    save_file(tensors, broken / "model.safetensors")
    with pytest.raises(ValueError, match=match) as err:
        Lab(str(broken)).load()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("quant", "linear"), [("bnb-4bit", "Linear4bit"), ("bnb-8bit", "Linear8bitLt")])
def test_bitsandbytes_quantizes_attention_and_leaves_the_experts_bf16(checkpoints, quant, linear):
    pytest.importorskip("bitsandbytes")
    from gptoss_lab import Lab

    lab = Lab(str(checkpoints["bf16"]), quant=quant)
    assert "experts are fused parameters, not nn.Linear" in repr(lab)
    model = lab.handle.load().model
    layer = model.model.layers[0]
    assert type(layer.self_attn.q_proj).__name__ == linear
    assert layer.mlp.experts.gate_up_proj.dtype == torch.bfloat16  # fused 3-D parameter: untouched
    assert type(model.lm_head) is torch.nn.Linear  # transformers keeps the output head unquantized
    assert len(lab.ask("hi", max_new_tokens=3, temperature=0).completion_ids) >= 1


def test_bitsandbytes_refuses_an_mxfp4_checkpoint(checkpoints):
    from gptoss_lab import Lab

    with pytest.raises(ValueError, match="ships MXFP4 experts"):
        Lab(str(checkpoints["mxfp4"]), quant="bnb-4bit")


def test_device_map_auto_loads_generates_and_reports_placement(checkpoints):
    pytest.importorskip("accelerate")
    from gptoss_lab import Lab

    lab = Lab(str(checkpoints["bf16"]), device_map="auto")
    assert "device_map='auto' (accelerate places the layers at load)" in repr(lab)
    reply = lab.ask("hi", max_new_tokens=3, temperature=0)
    assert len(reply.completion_ids) >= 1
    loaded = lab.handle.load()
    assert loaded.device_map is not None
    assert set(map(str, loaded.device_map.values())) == {"cpu"}  # no GPU here: accelerate keeps it all in RAM
    assert "device: device_map='auto' (the whole model fits on cpu)" in repr(lab)


def test_120b_is_refused_on_this_machine_before_any_weight_is_read(monkeypatch):
    from gptoss_lab import Lab
    from gptoss_lab.memory import KNOWN_CONFIGS, NotEnoughMemory, available_bytes, estimate

    need = estimate(KNOWN_CONFIGS["openai/gpt-oss-120b"], "bf16").total_bytes
    if (available_bytes("cpu") or 0) >= need:
        pytest.skip("this machine has the memory for the 120b in bf16")
    monkeypatch.setattr("gptoss_lab.model._load", lambda *a, **k: pytest.fail("weights were touched"))
    lab = Lab("openai/gpt-oss-120b", device="cpu")
    with pytest.raises(NotEnoughMemory) as err:
        lab.ask("hi")
    message = str(err.value)
    assert message.startswith("openai/gpt-oss-120b needs about 233.8 GB on cpu (MXFP4 experts dequantized to bf16")
    assert "on a GPU with MXFP4 it needs about 65.3 GB" in message and "\n" not in message


def test_magic_and_cli_take_quant(checkpoints, capsys, monkeypatch):
    import sys

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from gptoss_lab.cli import main

    assert main(["ask", "hi", "--model", str(checkpoints["mxfp4"]), "--quant", "bnb-8bit"]) == 2
    assert "ships MXFP4 experts" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    try:
        shell.run_line_magic("load_ext", "gptoss_lab")
        shell.run_line_magic("gptoss", f"load {checkpoints['mxfp4']} --quant bf16")
    finally:
        InteractiveShell.clear_instance()
    out = capsys.readouterr()
    assert "quant:  bf16 (MXFP4 experts dequantized to bf16 at load (you asked for quant='bf16'))" in out.out
    assert "note: MXFP4 experts dequantized to bf16" in out.err


def test_gpu_check_runs_tiny_on_cpu():
    """bench/gpu_check.py --tiny: the GPU check's own code, on CPU, so it cannot rot between GPU runs."""
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "bench" / "gpu_check.py"), "--tiny"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for label in ("float32", "mxfp4 dequantized"):
        assert re.search(rf"\[{label}\] tokens/s without capture: \d+\.\d\d\n", out), out
        for mode in ("routing", "routing\\+summaries"):
            assert re.search(rf"\[{label}\] tokens/s with {mode} capture: \d+\.\d\d  ratio \d+\.\d{{3}}\n", out), out
        for what in ("expert 0 ablated", "experts 0, 1 forced", "sinks off", "head 0 off"):
            line = rf"\[{label}\] tokens/s with {what} in every layer: \d+\.\d\d  ratio \d+\.\d{{3}}  "
            moved = re.search(line + r"\(max logit change (\d\.\de[-+]\d\d)\)\n", out)
            assert moved, out
            assert float(moved.group(1)) > 0, moved.group(0)  # the intervention reached the model on this path
    assert re.search(r"attention recompute, 1 head of the last layer over 64 tokens: \d+\.\d{3} s", out), out
    assert "note: MXFP4 experts dequantized to float32" in done.stderr


def test_load_keywords_follow_the_plan():
    from gptoss_lab.memory import KNOWN_CONFIGS
    from gptoss_lab.model import _load_kwargs
    from gptoss_lab.quant import plan_quant

    packed = KNOWN_CONFIGS["openai/gpt-oss-20b"]
    plain = {k: v for k, v in packed.items() if k != "quantization_config"}
    on_gpu = _load_kwargs("cuda", "bfloat16", plan_quant("bf16", packed, "cuda", "bfloat16"), None)
    assert on_gpu["quantization_config"].dequantize is True
    assert on_gpu["device_map"] == {"": "cuda"}  # straight onto the GPU, not through CPU memory
    assert _load_kwargs("cpu", "float32", plan_quant("auto", plain, "cpu", "float32"), None) == {}
    bnb = _load_kwargs("cpu", "bfloat16", plan_quant("bnb-4bit", plain, "cpu", "bfloat16"), None)["quantization_config"]
    assert bnb.load_in_4bit and bnb.bnb_4bit_compute_dtype == torch.bfloat16
    assert _load_kwargs("cpu", "bfloat16", plan_quant("auto", plain, "cpu", "bfloat16"), "auto")["device_map"] == "auto"
