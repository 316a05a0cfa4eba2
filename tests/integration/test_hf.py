"""The transformers seams in gptoss_lab._hf: one test per shape each function knows.

Hand-built tuples and stub modules stand for the shapes of other versions; the tiny model checks
the installed version's shape end to end.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import GptOssConfig, GptOssForCausalLM

from gptoss_lab import _hf

N, E, K = 5, 6, 2


@pytest.fixture(scope="module")
def tiny():
    """A random gpt-oss small enough for any transformers version this project supports (window 4)."""
    torch.manual_seed(0)
    config = GptOssConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        num_local_experts=E,
        num_experts_per_tok=K,
        sliding_window=4,
        attn_implementation="eager",
    )
    return GptOssForCausalLM(config).eval()


def _routing():
    torch.manual_seed(1)
    logits = torch.randn(N, E)
    top, experts = torch.topk(logits, K, dim=-1)
    return logits, experts, torch.softmax(top, dim=-1)


# -- router_output


def test_router_output_v5_logits_scores_indices():
    logits, experts, weights = _routing()
    got = _hf.router_output((logits, weights, experts), E)
    assert got[0] is logits
    torch.testing.assert_close(got[1], experts)
    torch.testing.assert_close(got[2], weights)


def test_router_output_v4_sparse_scores_indices():
    _, experts, weights = _routing()
    sparse = torch.zeros(N, E).scatter(1, experts, weights)  # (N, E), zeros off the chosen experts
    got_logits, got_experts, got_weights = _hf.router_output((sparse, experts), E)
    assert got_logits is None  # not returned by 4.55-4.57: the caller recomputes them
    torch.testing.assert_close(got_experts, experts)
    torch.testing.assert_close(got_weights, weights)  # gathered back into best-first order


def test_router_output_v4_dense_topk_scores():
    _, experts, weights = _routing()
    got_logits, got_experts, got_weights = _hf.router_output((weights, experts), E)
    assert got_logits is None
    torch.testing.assert_close(got_experts, experts)
    torch.testing.assert_close(got_weights, weights)


@pytest.mark.parametrize("output", [torch.zeros(N, E), (torch.zeros(N, E),), (1, 2, 3, 4)])
def test_router_output_unknown_shape_names_it(output):
    with pytest.raises(TypeError, match="router output"):
        _hf.router_output(output, E)


def test_router_output_of_the_installed_version(tiny):
    router = tiny.model.layers[0].mlp.router
    hidden = torch.randn(N, 32)
    with torch.no_grad():
        logits, experts, weights = _hf.router_output(router(hidden), E)
        want = hidden @ router.weight.T + router.bias
    top, want_experts = torch.topk(want, K, dim=-1)
    torch.testing.assert_close(experts, want_experts)
    torch.testing.assert_close(weights, torch.softmax(top, dim=-1))
    if logits is not None:
        torch.testing.assert_close(logits, want)


# -- cache


def test_cache_keyword_v5_cache():
    def forward(input_ids, cache=None, use_cache=None, **kwargs): ...

    assert _hf.cache_keyword(forward) == "cache"


def test_cache_keyword_v4_past_key_values():
    def forward(input_ids, past_key_values=None, use_cache=None, **kwargs): ...

    assert _hf.cache_keyword(forward) == "past_key_values"


def test_cache_keyword_and_new_cache_drive_the_installed_model(tiny):
    """The keyword found is the one the model fills; sliding layers keep at most their window of keys."""
    cache = _hf.new_cache(tiny.config)
    ids = torch.arange(10).unsqueeze(0)  # (1, 10), longer than the window of 4
    with torch.inference_mode():
        tiny(input_ids=ids, use_cache=True, **{_hf.cache_keyword(tiny.forward): cache})
    assert cache.get_seq_length() == 10
    kept = [layer.keys.shape[-2] for layer in cache.layers]
    assert kept[1] == 10  # layer 1: full attention
    assert kept[0] < 10  # layer 0: sliding window


def test_new_cache_without_a_config_parameter(monkeypatch):
    class OldDynamicCache:  # transformers before 4.56: DynamicCache() and nothing else
        def __init__(self) -> None:
            self.made = True

    monkeypatch.setattr("transformers.DynamicCache", OldDynamicCache)
    assert isinstance(_hf.new_cache(SimpleNamespace()), OldDynamicCache)


# -- attention: calls, weights, rotary, implementation


class _Attention(torch.nn.Module):
    """The signature of GptOssAttention.forward in 4.57 and 5.24."""

    def forward(self, hidden_states, position_embeddings, attention_mask, cache=None, **kwargs):
        return hidden_states, None


def test_attention_call_by_keyword():
    hidden, cos, sin = torch.ones(1, 3, 8), torch.zeros(1, 3, 4), torch.ones(1, 3, 4)
    kwargs = {"hidden_states": hidden, "attention_mask": None, "position_embeddings": (cos, sin), "use_cache": False}
    got_hidden, (got_cos, got_sin) = _hf.attention_call(_Attention(), (), kwargs)
    assert got_hidden is hidden and got_cos is cos and got_sin is sin


def test_attention_call_by_position():
    hidden, cos, sin = torch.ones(1, 3, 8), torch.zeros(1, 3, 4), torch.ones(1, 3, 4)
    got_hidden, (got_cos, got_sin) = _hf.attention_call(_Attention(), (hidden, (cos, sin), None), {})
    assert got_hidden is hidden and got_cos is cos and got_sin is sin


def test_attention_call_without_position_embeddings_names_them():
    with pytest.raises(TypeError, match="position_embeddings"):
        _hf.attention_call(_Attention(), (), {"hidden_states": torch.ones(1, 3, 8), "attention_mask": None})


@pytest.mark.parametrize(
    ("output", "has_weights"),
    [((torch.ones(1, 2), torch.ones(1, 4, 2, 2)), True), ((torch.ones(1, 2), None), False), (torch.ones(1, 2), False)],
    ids=["output-weights", "output-none", "bare-tensor"],
)
def test_attention_weights_shapes(output, has_weights):
    got = _hf.attention_weights(output)
    assert (got is output[1]) if has_weights else got is None


def test_attention_implementation_through_set_attn_implementation(tiny, monkeypatch):
    calls = []
    real = tiny.set_attn_implementation
    monkeypatch.setattr(tiny, "set_attn_implementation", lambda name: calls.append(name) or real(name))
    _hf.register_attention("gptoss_lab_test_named", lambda *args, **kwargs: None)
    with _hf.attention_implementation(tiny, "gptoss_lab_test_named"):
        assert tiny.config._attn_implementation == "gptoss_lab_test_named"
    assert tiny.config._attn_implementation == "eager"
    assert calls == ["gptoss_lab_test_named"]
    # checked, unlike a bare config write
    with pytest.raises(ValueError, match="scaled_dot_product_attention"), _hf.attention_implementation(tiny, "sdpa"):
        pass
    assert tiny.config._attn_implementation == "eager"


def test_attention_implementation_writes_the_config_without_the_method():
    model = SimpleNamespace(config=SimpleNamespace(_attn_implementation="eager"))
    seen = []

    def interrupted():
        with _hf.attention_implementation(model, "mine"):
            seen.append(model.config._attn_implementation)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert seen == ["mine"]
    assert model.config._attn_implementation == "eager"  # restored on the way out, also on Ctrl-C


def test_registered_attention_sees_the_rotated_queries_and_keys(tiny):
    """Run the installed model on a registered spy attention: the spy gets no mask, and the q, k it
    receives equal those rebuilt from the attention's inputs with attention_call + rotate."""
    seen = {}

    def spy(module, query, key, value, attention_mask, **kwargs):
        if module.layer_idx == 1:
            seen.update(query=query, key=key, mask=attention_mask)
        return torch.zeros_like(query).transpose(1, 2), None  # (B, T, H, D)

    def grab(module, args, kwargs):
        hidden, (cos, sin) = _hf.attention_call(module, args, kwargs)
        shape = (*hidden.shape[:-1], -1, module.head_dim)
        q = module.q_proj(hidden).view(shape).transpose(1, 2)  # (1, H, T, D)
        k = module.k_proj(hidden).view(shape).transpose(1, 2)  # (1, Hkv, T, D)
        seen["rebuilt"] = _hf.rotate(q, k, cos, sin)

    _hf.register_attention("gptoss_lab_test_spy", spy)
    handle = tiny.model.layers[1].self_attn.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with _hf.attention_implementation(tiny, "gptoss_lab_test_spy"), torch.inference_mode():
            tiny(input_ids=torch.arange(7).unsqueeze(0), use_cache=False)
    finally:
        handle.remove()
    assert seen["mask"] is None
    q, k = seen["rebuilt"]
    torch.testing.assert_close(q, seen["query"])
    torch.testing.assert_close(k, seen["key"])


# -- decoder_layer_output


def test_decoder_layer_output_v456_tensor():
    hidden = torch.randn(1, 3, 8)
    assert _hf.decoder_layer_output(hidden) is hidden


def test_decoder_layer_output_v455_tuple():
    hidden = torch.randn(1, 3, 8)
    assert _hf.decoder_layer_output((hidden, torch.zeros(3, E))) is hidden


def test_decoder_layer_output_of_the_installed_version(tiny):
    seen = []
    hook = tiny.model.layers[-1].register_forward_hook(lambda m, a, out: seen.append(_hf.decoder_layer_output(out)))
    try:
        with torch.inference_mode():
            out = tiny(input_ids=torch.tensor([[1, 2, 3]]), output_hidden_states=True)
    finally:
        hook.remove()
    assert seen[0].shape == (1, 3, 32)
    # the model's own last hidden state is the final norm of the last layer's output
    torch.testing.assert_close(tiny.model.norm(seen[0]), out.hidden_states[-1])
