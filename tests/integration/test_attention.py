"""Exact attention on demand, attention summaries during generation, and the chunked pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import GptOssConfig, GptOssForCausalLM

from gptoss_lab.attention import _CHUNKED, _register, attention


@pytest.fixture(scope="module")
def sinky(tmp_path_factory):
    """A tiny random gpt-oss with big sinks and a short window, saved and opened as a Lab."""
    from gptoss_lab import Lab
    from gptoss_lab.nano.tokenizer import train_tokenizer
    from gptoss_lab.nano.train import MODEL_CONFIG

    path = tmp_path_factory.mktemp("sinky")
    tokenizer = train_tokenizer(["<|start|>user<|message|>hi<|end|>"], 260)
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = GptOssConfig(vocab_size=len(tokenizer), **{**MODEL_CONFIG, "sliding_window": 6})
    model = GptOssForCausalLM(config)
    for layer in model.model.layers:
        torch.nn.init.normal_(layer.self_attn.sinks, std=2.0)
    model.save_pretrained(path)
    lab = Lab(str(path), dtype="float32")
    reply = lab.ask("Hello there, count to ten.", max_new_tokens=40, temperature=1.0, seed=0, capture=True)
    return lab, reply.trace


def eager_attentions(lab, trace):
    model = lab.handle.load().model
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([trace.token_ids.tolist()]), output_attentions=True)
    return [a[0].numpy() for a in out.attentions]  # L x (H, T, T)


def test_recompute_equals_eager_weights_and_sink(sinky):
    lab, trace = sinky
    reference = eager_attentions(lab, trace)
    for layer, ref in enumerate(reference):
        aw = attention(lab, trace, layer)
        np.testing.assert_allclose(aw.weights, ref, atol=1e-6)
        np.testing.assert_allclose(aw.sink, 1.0 - ref.sum(-1), atol=1e-5)
        assert aw.sink.max() > 0.1  # the sinks matter in this model: a dropped sink would fail the checks above


def test_sliding_layers_are_zero_outside_the_window(sinky):
    lab, trace = sinky
    aw = attention(lab, trace, 0)
    assert aw.layer_type == "sliding_attention"
    assert aw.window == 6
    q, k = np.meshgrid(aw.queries, aw.keys, indexing="ij")
    outside = (k > q) | (q - k >= 6)
    assert np.all(aw.weights[:, outside] == 0)
    assert np.all(aw.weights[:, ~outside] > 0)
    full = attention(lab, trace, 1)
    assert full.window is None
    assert np.all(full.weights[:, k <= q] > 0)


def test_subsets_of_heads_and_queries_match_the_whole(sinky):
    lab, trace = sinky
    whole = attention(lab, trace, 3)
    part = attention(lab, trace, 3, heads=[2, 0], queries=range(10, 20))
    np.testing.assert_allclose(part.weights, whole.weights[[2, 0]][:, 10:20], atol=1e-7)
    np.testing.assert_allclose(part.sink, whole.sink[[2, 0]][:, 10:20], atol=1e-7)


def test_summaries_captured_during_generation_match_recompute(sinky):
    lab, trace = sinky
    assert trace.sink_mass.shape == (trace.n_tokens, trace.n_layers, 4)
    for layer, ref in enumerate(eager_attentions(lab, trace)):
        sink = 1.0 - ref.sum(-1)  # (H, T)
        p = np.concatenate([ref, sink[..., None]], axis=-1)
        entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(-1)
        np.testing.assert_allclose(trace.sink_mass[:, layer].astype(np.float32), sink.T, atol=2e-3)
        np.testing.assert_allclose(trace.attention_entropy[:, layer].astype(np.float32), entropy.T, atol=5e-3)


def test_chunked_attention_pass_gives_the_eager_logits(sinky, monkeypatch):
    lab, trace = sinky
    model = lab.handle.load().model
    monkeypatch.setattr("gptoss_lab.attention._BUDGET_BYTES", 4 * 4 * trace.n_tokens * 3 * 5)  # chunks of 5 queries
    ids = torch.tensor([trace.token_ids.tolist()])
    _register()
    with torch.inference_mode():
        eager = model(input_ids=ids).logits
        model.config._attn_implementation = _CHUNKED
        try:
            chunked = model(input_ids=ids, use_cache=False).logits
        finally:
            model.config._attn_implementation = "eager"
    torch.testing.assert_close(chunked, eager, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"layer": 9}, "layer"), ({"heads": [7]}, "heads"), ({"queries": [10_000]}, "queries")]
)
def test_bad_requests_say_what_is_valid(sinky, kwargs, match):
    lab, trace = sinky
    with pytest.raises(ValueError, match=match):
        attention(lab, trace, **{"layer": 0, **kwargs})
