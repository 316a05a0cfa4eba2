"""Interventions change exactly what they say (against reference computations), and always come off."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gptoss_lab import interventions
from gptoss_lab.capture import RoutingCapture
from gptoss_lab.errors import NeedsLocalModel, OptionError
from gptoss_lab.interventions import Interventions, apply
from gptoss_lab.render import reply_html, reply_text
from gptoss_lab.reply import Reply
from gptoss_lab.trace import Trace

IDS = torch.tensor([[3, 17, 4, 29, 8, 41, 5, 12, 33, 7, 19, 2]])


@pytest.fixture(scope="module")
def tiny(tiny_gpt_oss):
    """A tiny random gpt-oss (float32) whose routing differs per token and whose sinks are big."""
    model = tiny_gpt_oss(max_position_embeddings=64)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.mlp.router.weight.normal_(std=1.0)
            layer.self_attn.sinks.normal_(std=2.0)
    return model


def _hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _bits(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone().view(torch.int32) for name, p in model.named_parameters()}


def _same_bits(model, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(p.detach().view(torch.int32), before[name]) for name, p in model.named_parameters())


def _run(model, **kwargs):
    with torch.inference_mode():
        return model(input_ids=IDS, **kwargs)


def _routing(model) -> dict[str, np.ndarray]:
    with RoutingCapture(model) as cap:
        _run(model)
    return cap.collect()


def _router_inputs(model) -> list[torch.Tensor]:
    """Each layer's router input (the post-attention norm's output), (T, H), from a plain run."""
    seen: list[torch.Tensor] = []
    handles = [
        layer.post_attention_layernorm.register_forward_hook(lambda m, a, out: seen.append(out[0].detach()))
        for layer in model.model.layers
    ]
    try:
        _run(model)
    finally:
        for h in handles:
            h.remove()
    return seen


def test_an_ablated_expert_is_never_chosen_and_the_next_best_take_its_place(tiny):
    base = _routing(tiny)
    expert = int(np.bincount(base["topk_experts"][:, 1].ravel()).argmax())  # layer 1's busiest expert
    hidden = _router_inputs(tiny)[1]  # layer 0 is untouched, so layer 1's input is the plain run's
    router = tiny.model.layers[1].mlp.router
    with torch.no_grad():
        logits = hidden @ router.weight.T + router.bias  # (T, E)
        logits[:, expert] = float("-inf")
        top, want = torch.topk(logits, router.top_k, dim=-1)  # the next best, by the router's own logits
    plain_logits = _run(tiny).logits
    with apply(tiny, ablate_experts={1: [expert]}):
        got = _routing(tiny)
        ablated_logits = _run(tiny).logits
    assert not (got["topk_experts"][:, 1] == expert).any()
    shares = Trace(IDS[0], ["x"] * IDS.shape[1], ["user"] * IDS.shape[1], 0, layer_types=["a", "b"], arrays=got)
    assert shares.router_probs()[:, 1, expert].max() == 0.0  # its routing share is zero
    np.testing.assert_array_equal(got["topk_experts"][:, 1], want.numpy())
    np.testing.assert_allclose(got["topk_weights"][:, 1], torch.softmax(top, -1).numpy(), atol=1e-6)
    np.testing.assert_array_equal(got["topk_experts"][:, 0], base["topk_experts"][:, 0])  # layer 0 untouched
    assert (base["topk_experts"][:, 1] == expert).any() and not torch.allclose(plain_logits, ablated_logits)


def test_the_bias_reaches_a_forward_that_bypasses_the_router_module(tiny):
    """Transformers' MXFP4 GPU path computes linear(hidden, router.weight, router.bias) and routes itself."""
    with apply(tiny, ablate_experts={0: [1, 4]}):
        via_module = _run(tiny).logits
    originals = {}
    for layer in tiny.model.layers:
        mlp = layer.mlp
        originals[mlp] = mlp.forward

        def kernel_like(hidden_states, mlp=mlp):  # as Mxfp4GptOssMLP.forward: no call to mlp.router
            B, S, H = hidden_states.shape
            flat = hidden_states.reshape(-1, H)
            logits = torch.nn.functional.linear(flat, mlp.router.weight, mlp.router.bias)
            top, experts = torch.topk(logits, mlp.router.top_k, dim=-1)
            return mlp.experts(flat, experts, torch.softmax(top, -1)).reshape(B, S, H), logits

        mlp.forward = kernel_like
    try:
        with apply(tiny, ablate_experts={0: [1, 4]}):
            got = _routing(tiny)  # the capture's fallback recomputes from weight and bias
            via_kernel = _run(tiny).logits
    finally:
        for mlp, forward in originals.items():
            mlp.forward = forward
    assert not np.isin(got["topk_experts"][:, 0], [1, 4]).any()
    torch.testing.assert_close(via_kernel, via_module)


def test_forcing_makes_every_token_route_to_the_forced_set_with_its_own_weights(tiny):
    forced = [2, 5]
    hidden = _router_inputs(tiny)[0]
    router = tiny.model.layers[0].mlp.router
    with torch.no_grad():
        own = (hidden @ router.weight.T + router.bias)[:, forced]  # (T, 2)
    with apply(tiny, force_experts={0: forced}):
        got = _routing(tiny)
    chosen = np.sort(got["topk_experts"][:, 0], axis=-1)
    np.testing.assert_array_equal(chosen, np.tile(forced, (IDS.shape[1], 1)))
    order = np.argsort(got["topk_experts"][:, 0], axis=-1)
    weights = np.take_along_axis(got["topk_weights"][:, 0], order, axis=-1)
    np.testing.assert_allclose(weights, torch.softmax(own, -1).numpy(), atol=1e-6)


def test_sinks_off_leaves_no_sink_mass_and_scaling_multiplies_the_sinks_exp(tiny):
    plain = _run(tiny, output_attentions=True).attentions  # L x (1, H, T, T), the sink column dropped
    mass = 1 - plain[0][0].sum(-1)  # (H, T): the sink's probability
    assert mass.min() > 1e-3  # the sinks matter in this model
    with apply(tiny, sinks=0):
        off = _run(tiny, output_attentions=True).attentions
    for weights in off:
        torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)), atol=1e-6, rtol=0)
    scale = 0.25
    with apply(tiny, sinks={0: scale}):
        scaled = _run(tiny, output_attentions=True).attentions
    # sink mass m = e^s / (Z + e^s); with the sink's exp times c: c m / (1 - m + c m)
    want = scale * mass / (1 - mass + scale * mass)
    torch.testing.assert_close(1 - scaled[0][0].sum(-1), want, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(scaled[0][0] / scaled[0][0].sum(-1, keepdim=True), plain[0][0] / (1 - mass)[..., None])


def test_a_head_switched_off_contributes_nothing(tiny):
    layer, head = 0, 2
    attn = tiny.model.layers[layer].self_attn
    seen: dict[str, torch.Tensor] = {}
    handle = attn.o_proj.register_forward_hook(lambda m, a, out: seen.update(x=a[0].detach(), out=out.detach()))
    try:
        _run(tiny)
        plain_in, plain_out = seen["x"], seen["out"]
        with apply(tiny, heads_off={layer: [head]}):
            _run(tiny)
    finally:
        handle.remove()
    D = attn.head_dim
    cols = slice(head * D, (head + 1) * D)
    with torch.no_grad():
        contribution = plain_in[..., cols] @ attn.o_proj.weight[:, cols].T  # what head 2 added through o_proj
    torch.testing.assert_close(seen["out"], plain_out - contribution, atol=1e-5, rtol=1e-5)
    assert seen["x"][..., cols].abs().max() == 0 and contribution.abs().max() > 1e-3
    torch.testing.assert_close(seen["x"][..., : head * D], plain_in[..., : head * D])


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_hooks_and_parameters_are_restored_bit_for_bit_after_an_error(tiny, error):
    hooks, bits = _hooks(tiny), _bits(tiny)
    spec = Interventions(ablate_experts={1: [0, 3]}, force_experts={0: [1, 2]}, sinks={1: 3.0}, heads_off={0: [1, 3]})

    def fails_inside() -> None:
        with apply(tiny, spec):
            assert _hooks(tiny) > hooks and not _same_bits(tiny, bits)
            _run(tiny)
            raise error

    with pytest.raises(error):
        fails_inside()
    assert _hooks(tiny) == hooks and _same_bits(tiny, bits) and interventions.active(tiny) == []


def test_interventions_nest_and_unwind_in_order(tiny):
    bits = _bits(tiny)
    with apply(tiny, ablate_experts={1: [0]}):
        with apply(tiny, ablate_experts={1: [3]}):
            inner = _routing(tiny)["topk_experts"][:, 1]
            assert [i["experts"] for i in interventions.active(tiny)] == [[0], [3]]
        outer = _routing(tiny)["topk_experts"][:, 1]
        with pytest.raises(OptionError, match="already changed"), apply(tiny, force_experts={1: [1, 2]}):
            pass
        with (
            pytest.raises(OptionError, match="more than the 4 a layer can lose"),
            apply(tiny, ablate_experts={1: range(1, 5)}),
        ):
            pass
    assert not np.isin(inner, [0, 3]).any() and not (outer == 0).any() and (outer == 3).any()
    assert _same_bits(tiny, bits) and interventions.active(tiny) == []


def test_an_intervention_inside_inference_mode_is_undone(tiny):
    bits = _bits(tiny)
    with torch.inference_mode(), apply(tiny, sinks=0, ablate_experts={0: [0]}):
        tiny(input_ids=IDS)
    assert _same_bits(tiny, bits)


# -- through the Lab, on the bundled model


@pytest.fixture
def nano(nano_lab_factory):
    return nano_lab_factory()


def test_ask_records_the_routing_that_happened_and_what_was_on(nano, tmp_path):
    plain = nano.ask("What is 12 + 30?", temperature=0, max_new_tokens=24, follow_up=False)
    expert = int(np.bincount(plain.trace.topk_experts[:, 1].ravel()).argmax())
    model = nano.handle.load().model
    hooks, bits = _hooks(model), _bits(model)
    reply = nano.ask("What is 12 + 30?", temperature=0, max_new_tokens=24, follow_up=False,
                     intervene={"ablate_experts": {1: [expert]}})  # fmt: skip
    assert _hooks(model) == hooks and _same_bits(model, bits)
    assert not (reply.trace.topk_experts[:, 1] == expert).any()
    assert reply.trace.router_probs()[:, 1, expert].max() == 0.0
    described = [{"kind": "ablate_experts", "layer": 1, "experts": [expert]}]
    assert reply.interventions == described and reply.to_dict()["interventions"] == described
    assert Trace.load(reply.trace.save(tmp_path / "t.npz")).interventions == described
    assert f"intervention: expert {expert} off in layer 1" in reply_html(reply)
    assert f"[intervention: expert {expert} off in layer 1]" in reply_text(reply)
    assert plain.interventions == [] and "intervention" not in reply_html(plain)
    ids = torch.tensor([plain.trace.token_ids.tolist()])
    with torch.inference_mode():
        before = model(input_ids=ids).logits
        with nano.intervene(ablate_experts={1: [expert]}):
            after = model(input_ids=ids).logits
    assert not torch.allclose(before, after)
    again = nano.ask("What is 12 + 30?", temperature=0, max_new_tokens=24, follow_up=False)
    assert again.completion_ids == plain.completion_ids  # token for token once it is off


def test_lab_intervene_covers_every_call_and_comes_off_after_ctrl_c(nano):
    model = nano.handle.load().model
    hooks, bits = _hooks(model), _bits(model)

    def ctrl_c_inside() -> None:
        with nano.intervene(heads_off={2: [0]}, sinks={0: 0}):
            reply = nano.ask("Sort 5, 3, 9.", temperature=0, max_new_tokens=8, follow_up=False)
            assert "head 0 off in layer 2; sinks off in layer 0" in reply_text(reply)
            assert reply.trace.interventions == reply.interventions
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ctrl_c_inside()
    assert _hooks(model) == hooks and _same_bits(model, bits) and interventions.active(model) == []


def test_a_reply_broken_by_ctrl_c_or_an_error_takes_its_intervention_off(nano):
    model = nano.handle.load().model
    hooks, bits = _hooks(model), _bits(model)

    def ctrl_c(reply):
        raise KeyboardInterrupt

    reply = nano.ask("Hi", max_new_tokens=8, on_update=ctrl_c, intervene={"sinks": 0.5}, follow_up=False)
    assert reply.stopped == "interrupted" and reply.interventions[0]["scale"] == 0.5
    assert _hooks(model) == hooks and _same_bits(model, bits)

    def broken(reply):
        raise RuntimeError("display broke")

    with pytest.raises(RuntimeError, match="display broke"):
        nano.ask("Hi", max_new_tokens=8, on_update=broken, intervene={"heads_off": {0: [1]}}, follow_up=False)
    assert _hooks(model) == hooks and _same_bits(model, bits)


def test_no_intervention_and_a_neutral_one_equal_the_plain_run(nano):
    plain = nano.ask("What is 4 + 5?", temperature=0, max_new_tokens=20, follow_up=False)
    with nano.intervene():
        empty = nano.ask("What is 4 + 5?", temperature=0, max_new_tokens=20, follow_up=False)
    neutral = nano.ask("What is 4 + 5?", temperature=0, max_new_tokens=20, follow_up=False, intervene={"sinks": 1})
    assert empty.completion_ids == plain.completion_ids == neutral.completion_ids
    np.testing.assert_array_equal(neutral.trace.topk_experts, plain.trace.topk_experts)


@pytest.mark.parametrize(
    ("kinds", "match"),
    [
        ({"ablate_experts": {4: [0]}}, r"layer 4 does not exist: layers are 0 to 3"),
        ({"ablate_experts": {1: [8]}}, r"expert 8 in layer 1 does not exist: experts are 0 to 7"),
        ({"ablate_experts": {1: range(7)}}, r"switch at most 6 off"),
        ({"ablate_experts": {1: range(8)}}, r"switch at most 6 off"),
        ({"ablate_experts": {1: "3"}}, r"not a list of experts: e\.g\. ablate_experts=\{1: \[3\]\}"),
        ({"force_experts": {0: [1]}}, r"exactly the 2 experts .*force_experts=\{0: \[0, 1\]\}"),
        ({"force_experts": {0: [1, 2]}, "ablate_experts": {0: [3]}}, r"layer 0 is in both"),
        ({"heads_off": {2: [4]}}, r"head 4 in layer 2 does not exist: heads are 0 to 3"),
        ({"heads_off": {-1: [0]}}, r"layer -1 does not exist: layers are 0 to 3"),
        ({"sinks": -1}, r"0 or above \(0 switches the sink off"),
        ({"sinks": {0: float("nan")}}, r"0 or above"),
        ({"experts_off": {1: [3]}}, r"unknown intervention 'experts_off': use ablate_experts, force_experts"),
    ],
)
def test_bad_interventions_say_what_to_type_before_anything_loads(nano, kinds, match):
    with pytest.raises(OptionError, match=match), nano.intervene(**kinds):
        pass
    with pytest.raises(OptionError, match=match):
        nano.ask("Hi", intervene=kinds)
    assert not nano.handle.loaded  # refused from config.json alone


def test_a_server_has_no_weights_to_change():
    from gptoss_lab import Lab

    lab = Lab(base_url="http://127.0.0.1:9", model="gpt-oss-20b")
    assert "interventions" not in lab.capabilities
    with pytest.raises(NeedsLocalModel, match=r"use a local model, Lab\('nano'\)"), lab.intervene(sinks=0):
        pass
    with pytest.raises(NeedsLocalModel, match="runs elsewhere"):
        lab.ask("Hi", intervene={"sinks": 0})


def test_the_display_line_is_escaped():
    reply = Reply("Hi", "nano", "low", stopped="return")
    reply.interventions = [{"kind": "<script>alert(1)</script>", "layer": 0}]
    html = reply_html(reply)
    assert "<script>" not in html and "&lt;script&gt;" in html
    reply.interventions = [{"kind": "sinks", "layer": n, "scale": 0.5} for n in (0, 1, 2, 5)]
    assert "intervention: sinks ×0.5 in layers 0-2, 5" in reply_text(reply)


def test_gpu_checks_nano_mode_times_every_intervention_on_the_bundled_model():
    """bench/gpu_check.py --nano: the overhead ratios on nano itself (README, "Experiments"), short here."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, str(root / "bench" / "gpu_check.py"), "--nano", "--tokens", "8", "--rounds", "1"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True).stdout
    assert "gpt-oss-nano, trained weights, float32, on CPU" in out
    for name in ("expert 0 ablated in every layer", "experts 0, 1 forced in every layer", "sinks off in every layer",
                 "head 0 off in every layer"):  # fmt: skip
        line = re.search(
            rf"\[nano\] tokens/s with {name}: [\d.]+  ratio ([\d.]+)  \(max logit change ([\d.e+-]+)\)", out
        )
        assert line and float(line.group(1)) > 0 and float(line.group(2)) > 0, (name, out)
