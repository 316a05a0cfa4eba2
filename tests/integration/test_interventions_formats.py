"""Interventions on every loading path: bf16, MXFP4 experts dequantized on CPU, bitsandbytes 4/8-bit and
accelerate's ``device_map="auto"``, each on the tiny checkpoints of ``test_real_formats`` (its fixture).

On each path: an ablated expert is never in the recorded routing and the trace says it was off; forced
experts take every token; a head switched off changes what its ``o_proj`` writes and nothing else does;
no intervention changes nothing, token for token; and on leaving the block, by an error too, every
parameter is back bit for bit and no hook is left. A layer that device_map offloads (to disk here) refuses
the edits in place in one line, and takes a head switched off. (The MXFP4 GPU kernel path, which bypasses the router
module, is covered by ``test_interventions``'s kernel-like forward and measured by ``bench/gpu_check.py``.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from gptoss_lab import Lab, interventions
from gptoss_lab.errors import OptionError
from tests.integration.test_real_formats import checkpoints  # noqa: F401  (the module fixture, built once here)

pytestmark = pytest.mark.integration

PROMPT = "What is 2 + 2?"
#: format -> (checkpoint, Lab keywords, the package it needs)
FORMATS: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "bf16": ("bf16", {"quant": "bf16"}, None),
    "mxfp4-dequantized": ("mxfp4", {}, None),
    "bnb-4bit": ("bf16", {"quant": "bnb-4bit"}, "bitsandbytes"),
    "bnb-8bit": ("bf16", {"quant": "bnb-8bit"}, "bitsandbytes"),
    "device-map-auto": ("bf16", {"device_map": "auto"}, "accelerate"),
}


@pytest.fixture(scope="module", params=list(FORMATS))
def lab(request, checkpoints):  # noqa: F811
    """The tiny checkpoint loaded one way, checked to be loaded that way (so no test runs the wrong path)."""
    checkpoint, kwargs, needs = FORMATS[request.param]
    if needs is not None:
        pytest.importorskip(needs)
    lab = Lab(str(checkpoints[checkpoint]), **kwargs)
    loaded = lab.handle.load()
    layer = loaded.model.model.layers[0]
    o_proj = type(layer.self_attn.o_proj).__name__
    assert o_proj == {"bnb-4bit": "Linear4bit", "bnb-8bit": "Linear8bitLt"}.get(request.param, "Linear")
    if request.param == "mxfp4-dequantized":
        assert lab.handle.plan.dequantize and layer.mlp.experts.gate_up_proj.dtype == torch.float32
    assert (loaded.device_map is not None) == (request.param == "device-map-auto")
    return lab


def _ask(lab, **kwargs: Any):
    return lab.ask(PROMPT, temperature=0, max_new_tokens=6, follow_up=False, capture=True, **kwargs)


def _hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _bits(model) -> dict[str, torch.Tensor]:
    """Every parameter and buffer as raw bytes (any dtype: bf16, float32, bitsandbytes' packed uint8/int8)."""
    tensors = [(name, t) for name, t in [*model.named_parameters(), *model.named_buffers()] if t.device.type != "meta"]
    return {name: t.detach().contiguous().reshape(-1).view(torch.uint8).clone() for name, t in tensors}


def _same_bits(model, before: dict[str, torch.Tensor]) -> bool:
    now = _bits(model)
    return now.keys() == before.keys() and all(torch.equal(now[k], before[k]) for k in now)


def _o_proj_of(model, layer: int, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Layer ``layer``'s o_proj input and output, and the logits, of one forward over ``ids``."""
    seen: dict[str, torch.Tensor] = {}
    o_proj = model.model.layers[layer].self_attn.o_proj
    handle = o_proj.register_forward_hook(lambda m, a, out: seen.update(x=a[0].detach(), out=out.detach()))
    try:
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits
    finally:
        handle.remove()
    return seen["x"], seen["out"], logits


def test_an_ablated_expert_is_never_chosen_and_the_trace_says_it_was_off(lab):
    plain = _ask(lab)
    expert = int(np.bincount(plain.trace.topk_experts[:, 1].ravel()).argmax())  # layer 1's busiest expert
    reply = _ask(lab, intervene={"ablate_experts": {1: [expert]}})
    assert (plain.trace.topk_experts[:, 1] == expert).any()
    assert not (reply.trace.topk_experts[:, 1] == expert).any()
    assert reply.trace.router_probs()[:, 1, expert].max() == 0.0
    described = [{"kind": "ablate_experts", "layer": 1, "experts": [expert]}]
    assert reply.interventions == described and reply.trace.interventions == described
    assert plain.trace.interventions == []
    prompt = len(plain.prompt_ids)  # layer 0 comes before the change: its routing of the prompt is the plain one
    np.testing.assert_array_equal(reply.trace.topk_experts[:prompt, 0], plain.trace.topk_experts[:prompt, 0])


def test_forced_experts_take_every_token(lab):
    forced = {0: [1, 3], 1: [0, 2]}
    plain = _ask(lab)
    with lab.intervene(force_experts=forced):
        reply = _ask(lab)
    for layer, experts in forced.items():
        chosen = np.sort(reply.trace.topk_experts[:, layer], axis=-1)
        assert (chosen == experts).all(), (layer, chosen)
        assert not (np.sort(plain.trace.topk_experts[:, layer], axis=-1) == experts).all()  # not so already
    weights = reply.trace.topk_weights
    assert (weights > 0).all()
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-2)  # the softmax over the forced pair's own logits
    assert [i["kind"] for i in reply.trace.interventions] == ["force_experts", "force_experts"]


def test_a_head_off_changes_its_layer_and_no_intervention_changes_nothing(lab):
    model = lab.handle.load().model
    plain = _ask(lab)
    ids = plain.prompt_ids
    layer, head = 1, 2
    plain_in, plain_out, plain_logits = _o_proj_of(model, layer, ids)
    with lab.intervene(heads_off={layer: [head]}):
        off_in, off_out, off_logits = _o_proj_of(model, layer, ids)
    with lab.intervene():  # an empty spec: nothing on
        empty_in, empty_out, empty_logits = _o_proj_of(model, layer, ids)
        empty = _ask(lab)
    width = plain_in.shape[-1] // model.model.layers[layer].self_attn.sinks.shape[0]
    cols = slice(head * width, (head + 1) * width)
    assert off_in[..., cols].abs().max() == 0 and plain_in[..., cols].abs().max() > 0
    assert torch.equal(off_in[..., : cols.start], plain_in[..., : cols.start])  # the other heads as they were
    assert torch.equal(off_in[..., cols.stop :], plain_in[..., cols.stop :])
    assert not torch.equal(off_out, plain_out) and not torch.equal(off_logits, plain_logits)
    assert torch.equal(empty_in, plain_in) and torch.equal(empty_out, plain_out)
    assert torch.equal(empty_logits, plain_logits)
    again = _ask(lab)  # after the head came back on
    assert empty.completion_ids == plain.completion_ids == again.completion_ids
    np.testing.assert_array_equal(empty.trace.topk_experts, plain.trace.topk_experts)
    assert empty.interventions == [] and again.interventions == []


def test_every_parameter_comes_back_bit_for_bit_and_no_hook_stays(lab):
    model = lab.handle.load().model
    hooks, bits = _hooks(model), _bits(model)
    spec = {"ablate_experts": {1: [0]}, "force_experts": {0: [1, 2]}, "sinks": {0: 0, 1: 0.5}, "heads_off": {0: [1, 3]}}
    with lab.intervene(**spec):
        assert _hooks(model) == hooks + 1 and not _same_bits(model, bits)
        reply = _ask(lab)
    assert len(reply.interventions) == 5
    assert _hooks(model) == hooks and _same_bits(model, bits) and interventions.active(model) == []

    def fails_inside() -> None:
        with lab.intervene(**spec):
            _o_proj_of(model, 0, reply.prompt_ids)
            raise ValueError("broke inside")

    with pytest.raises(ValueError, match="broke inside"):
        fails_inside()
    assert _hooks(model) == hooks and _same_bits(model, bits) and interventions.active(model) == []

    def broken(partial) -> None:
        raise RuntimeError("display broke")

    with pytest.raises(RuntimeError, match="display broke"):
        lab.ask(PROMPT, max_new_tokens=4, on_update=broken, intervene=spec, follow_up=False)
    assert _hooks(model) == hooks and _same_bits(model, bits) and interventions.active(model) == []


@pytest.fixture(scope="module")
def offloaded(checkpoints):  # noqa: F811
    """Layer 1 offloaded to disk by device_map: its parameters on the meta device, read in for every forward."""
    pytest.importorskip("accelerate")
    placed = {"model.embed_tokens": "cpu", "model.rotary_emb": "cpu", "model.layers.0": "cpu"}
    lab = Lab(
        str(checkpoints["bf16"]), device_map=placed | {"model.layers.1": "disk", "model.norm": "cpu", "lm_head": "cpu"}
    )
    layers = lab.handle.load().model.model.layers
    assert layers[1].mlp.router.bias.device.type == "meta" and layers[0].mlp.router.bias.device.type == "cpu"
    return lab


@pytest.mark.parametrize(
    ("spec", "refused"),
    [
        ({"ablate_experts": {1: [0]}}, "ablate_experts: layer 1's router"),
        ({"force_experts": {0: [1, 2], 1: [0, 2]}}, "force_experts: layer 1's router"),
        ({"sinks": 0}, "sinks: layer 1's sinks parameter"),
    ],
)
def test_an_offloaded_layer_refuses_an_edit_it_would_never_see_in_one_line(offloaded, spec, refused):
    model = offloaded.handle.load().model
    hooks, bits = _hooks(model), _bits(model)
    said = (
        f"{refused} is offloaded by device_map (accelerate reads it in for every forward), so an edit would not "
        "reach it: name layers kept on a device (layer 0 is on one), switch heads off instead (heads_off reaches "
        "every layer), or load the model so it fits (e.g. quant='bnb-4bit')"
    )
    with pytest.raises(OptionError) as err, offloaded.intervene(spec):
        pass
    assert str(err.value) == said
    with pytest.raises(OptionError) as err:
        _ask(offloaded, intervene=spec)
    assert str(err.value) == said
    assert _hooks(model) == hooks and _same_bits(model, bits) and interventions.active(model) == []


def test_an_offloaded_model_takes_edits_on_its_device_layers_and_heads_off_everywhere(offloaded):
    model = offloaded.handle.load().model
    hooks, bits = _hooks(model), _bits(model)
    plain = _ask(offloaded)
    expert = int(np.bincount(plain.trace.topk_experts[:, 0].ravel()).argmax())
    reply = _ask(offloaded, intervene={"ablate_experts": {0: [expert]}, "sinks": {0: 0}, "heads_off": {1: [2]}})
    assert (plain.trace.topk_experts[:, 0] == expert).any() and not (reply.trace.topk_experts[:, 0] == expert).any()
    plain_in, plain_out, _ = _o_proj_of(model, 1, plain.prompt_ids)
    with offloaded.intervene(heads_off={1: [2]}):
        off_in, off_out, _ = _o_proj_of(model, 1, plain.prompt_ids)
    width = plain_in.shape[-1] // model.config.num_attention_heads
    assert off_in[..., 2 * width : 3 * width].abs().max() == 0 and plain_in[..., 2 * width : 3 * width].abs().max() > 0
    assert not torch.equal(off_out, plain_out)
    assert _hooks(model) == hooks and _same_bits(model, bits) and interventions.active(model) == []
    assert _ask(offloaded).completion_ids == plain.completion_ids
