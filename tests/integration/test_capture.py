"""Routing capture: equal to independent recomputes, on every router-output shape, hooks always removed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gptoss_lab.capture import (
    AttentionSummaryCapture,
    LensCapture,
    RoutingCapture,
    build_trace,
    collect_all,
    moe_layers,
    routing_from_hidden,
    routing_from_router_call,
)
from gptoss_lab.trace import AXES


def _all_hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture
def nano(nano_lab_factory):
    lab = nano_lab_factory()
    return lab, lab.handle.load()


def test_captured_topk_equals_recompute_from_norm_output(nano):
    """Independent path: hook the post-attention norm ourselves and apply the router's math."""
    lab, loaded = nano
    reply = lab.ask("What is 12 + 30?", temperature=0, max_new_tokens=10)
    trace = reply.trace
    model = loaded.model
    normed: list[torch.Tensor] = []
    hooks = [
        layer.post_attention_layernorm.register_forward_hook(lambda m, a, out: normed.append(out[0].detach()))
        for layer in model.model.layers
    ]
    try:
        with torch.inference_mode():
            model(input_ids=torch.tensor([trace.token_ids.tolist()]))
    finally:
        for h in hooks:
            h.remove()
    for i, (hidden, mlp) in enumerate(zip(normed, moe_layers(model), strict=True)):
        with torch.no_grad():
            logits = hidden @ mlp.router.weight.T + mlp.router.bias  # (T, E)
            top, experts = torch.topk(logits, mlp.router.top_k, dim=-1)
        np.testing.assert_array_equal(trace.topk_experts[:, i], experts.numpy())
        np.testing.assert_allclose(trace.topk_weights[:, i], torch.softmax(top, -1).numpy(), atol=1e-5)
        np.testing.assert_allclose(trace.routing_logits[:, i].astype(np.float32), logits.numpy(), atol=2e-3, rtol=2e-3)


def test_cached_generation_routing_equals_teacher_forced_pass(nano):
    lab, loaded = nano
    reply = lab.ask("Sort 5, 3, 9.", temperature=0, max_new_tokens=16)
    trace = reply.trace
    assert trace.n_tokens == len(reply.prompt_ids) + len(reply.completion_ids) - 1  # last token never fed back
    with RoutingCapture(loaded.model) as cap, torch.inference_mode():
        loaded.model(input_ids=torch.tensor([trace.token_ids.tolist()]))
    got = cap.collect()
    np.testing.assert_array_equal(trace.topk_experts, got["topk_experts"])
    np.testing.assert_allclose(trace.topk_weights, got["topk_weights"], atol=1e-5)
    np.testing.assert_allclose(
        trace.routing_logits.astype(np.float32), got["routing_logits"].astype(np.float32), atol=2e-3
    )


def test_bypassed_router_is_recomputed_from_the_layer_input(nano):
    """The MXFP4 GPU kernel path never calls mlp.router: capture must still see the routing."""
    _, loaded = nano
    model = loaded.model
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with RoutingCapture(model) as cap, torch.inference_mode():
        model(input_ids=ids)
    reference = cap.collect()
    originals = {}
    for mlp in moe_layers(model):
        originals[mlp] = mlp.forward

        def bypass(hidden_states, mlp=mlp):  # the kernel's job: route and mix without the router module
            B, S, H = hidden_states.shape
            flat = hidden_states.reshape(-1, H)
            _, experts, weights = routing_from_hidden(flat, mlp.router.weight, mlp.router.bias, mlp.router.top_k)
            out = mlp.experts(flat, experts, weights)
            return out.reshape(B, S, H), weights

        mlp.forward = bypass
    try:
        with RoutingCapture(model) as cap, torch.inference_mode():
            model(input_ids=ids)
        bypassed = cap.collect()
    finally:
        for mlp, forward in originals.items():
            mlp.forward = forward
    np.testing.assert_array_equal(reference["topk_experts"], bypassed["topk_experts"])
    np.testing.assert_allclose(reference["topk_weights"], bypassed["topk_weights"], atol=1e-6)


@pytest.mark.parametrize("shape", ["v5-logits-scores-indices", "v4-sparse-scores-indices", "v4-dense-topk-scores"])
def test_router_output_shapes_normalise_the_same(shape):
    torch.manual_seed(0)
    N, H, E, k = 5, 8, 6, 2
    hidden, weight, bias = torch.randn(N, H), torch.randn(E, H), torch.randn(E)
    logits = hidden @ weight.T + bias
    top, experts = torch.topk(logits, k, dim=-1)
    scores = torch.softmax(top, dim=-1)
    if shape == "v5-logits-scores-indices":
        output = (logits, scores, experts)
    elif shape == "v4-sparse-scores-indices":
        output = (torch.zeros(N, E).scatter(1, experts, scores), experts)
    else:
        output = (scores, experts)
    got_logits, got_experts, got_weights = routing_from_router_call(hidden, output, weight, bias, k)
    torch.testing.assert_close(got_logits, logits)
    torch.testing.assert_close(got_experts, experts)
    torch.testing.assert_close(got_weights, scores)


def test_unknown_router_output_names_the_problem():
    with pytest.raises(TypeError, match="router output"):
        routing_from_router_call(torch.zeros(1, 2), torch.zeros(3), torch.zeros(4, 2), torch.zeros(4), 2)


def test_captures_are_named_and_return_trace_arrays_by_name(nano):
    _, loaded = nano
    model = loaded.model
    with RoutingCapture(model) as routing, AttentionSummaryCapture(model) as summaries, LensCapture(model, 3) as lens:
        assert routing.collect() == {} and summaries.collect() == {} and lens.collect() == {}  # nothing ran yet
        with torch.inference_mode():
            model(input_ids=torch.tensor([[5, 6, 7, 8]]))
    assert (routing.name, summaries.name, lens.name) == ("routing", "attention summaries", "logit lens")
    named = {**routing.collect(), **summaries.collect(), **lens.collect()}
    assert sorted(named) == sorted(AXES)
    L, E, k, H = len(model.model.layers), model.config.num_local_experts, 2, model.config.num_attention_heads
    sizes = {"T": 4, "L": L, "E": E, "k": k, "H": H, "K": 3}
    for name, value in named.items():
        assert value.shape == tuple(sizes[a] for a in AXES[name]), name
    dtypes = {n: v.dtype for n, v in named.items()}
    assert dtypes == {
        "routing_logits": np.float16,
        "topk_experts": np.int16,
        "topk_weights": np.float32,
        "sink_mass": np.float16,
        "attention_entropy": np.float16,
        "lens_ids": np.int32,
        "lens_probs": np.float32,
    }
    positional = routing.arrays()  # the positional form, kept for callers not yet on collect()
    for value, name in zip(positional, ["routing_logits", "topk_experts", "topk_weights"], strict=True):
        np.testing.assert_array_equal(value, named[name])


def test_two_captures_returning_one_name_is_an_error(nano):
    _, loaded = nano
    with RoutingCapture(loaded.model) as first, RoutingCapture(loaded.model) as second, torch.inference_mode():
        loaded.model(input_ids=torch.tensor([[5, 6, 7]]))
    with pytest.raises(ValueError, match="'routing' and 'routing' both return 'routing_logits'"):
        collect_all([first, second])


def test_no_routing_captured_means_no_trace(nano):
    _, loaded = nano
    with AttentionSummaryCapture(loaded.model) as summaries, torch.inference_mode():
        loaded.model(input_ids=torch.tensor([[5, 6, 7]]))
    assert summaries.collect()  # summaries alone came
    assert build_trace([summaries], loaded, [5, 6, 7], 3) is None
    assert build_trace([RoutingCapture(loaded.model)], loaded, [5, 6, 7], 3) is None  # never entered


class _Fixed:
    """A capture that returns fixed arrays."""

    def __init__(self, name, **arrays):
        self.name, self.arrays = name, arrays

    def collect(self):
        return self.arrays


def test_build_trace_cuts_longer_summaries_and_drops_shorter_ones(nano):
    """Ctrl-C between a layer's attention and its MLP leaves one more summary step than routing steps."""
    _, loaded = nano
    L = len(loaded.model.model.layers)
    routing = _Fixed(
        "routing",
        routing_logits=np.zeros((3, L, 8), np.float16),
        topk_experts=np.zeros((3, L, 2), np.int16),
        topk_weights=np.full((3, L, 2), 0.5, np.float32),
    )
    longer = _Fixed("summaries", sink_mass=np.arange(4 * L * 4, dtype=np.float16).reshape(4, L, 4))
    trace = build_trace([routing, longer], loaded, [5, 6, 7, 8], 2)
    np.testing.assert_array_equal(trace.sink_mass, longer.arrays["sink_mass"][:3])
    shorter = _Fixed("summaries", sink_mass=np.zeros((2, L, 4), np.float16))
    assert build_trace([routing, shorter], loaded, [5, 6, 7, 8], 2).sink_mass is None


def test_hooks_removed_after_interrupt_and_error(nano):
    lab, loaded = nano
    before = _all_hooks(loaded.model)

    def stop(reply):
        if len(reply.completion_ids) == 3 and not reply.done:
            raise KeyboardInterrupt

    reply = lab.ask("hi", max_new_tokens=20, on_update=stop)
    assert reply.stopped == "interrupted"
    assert reply.trace is not None
    assert reply.trace.n_tokens == len(reply.prompt_ids) + 2
    assert _all_hooks(loaded.model) == before

    def boom(reply):
        raise RuntimeError("display failed")

    with pytest.raises(RuntimeError, match="display failed"):
        lab.ask("hi", max_new_tokens=5, on_update=boom)
    assert _all_hooks(loaded.model) == before


def test_capture_default_on_for_nano_and_optional(nano):
    lab, _ = nano
    assert lab.ask("hi", max_new_tokens=3).trace is not None
    assert lab.ask("hi", max_new_tokens=3, capture=False).trace is None


def test_trace_sources_follow_the_harmony_messages(scripted_lab):
    from gptoss_lab.harmony import token_sources

    lab, _ = scripted_lab(
        "<|channel|>analysis<|message|>Add.<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>"
    )
    loaded = lab.handle.load()
    prompt = lab.prompt_text("hi", developer="Be brief.")
    ids = loaded.encode(
        prompt + "<|channel|>analysis<|message|>Add.<|end|><|start|>assistant<|channel|>final<|message|>4"
    )
    sources = token_sources(ids, loaded.codec)
    order = [s for i, s in enumerate(sources) if i == 0 or sources[i - 1] != s]
    assert order == ["system", "developer", "user", "analysis", "final"]
    n_final = len(loaded.encode("<|start|>assistant<|channel|>final<|message|>4"))
    assert sources[-n_final:] == ["final"] * n_final
