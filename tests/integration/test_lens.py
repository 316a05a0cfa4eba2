"""The logit lens: its last layer is the model's own next-token distribution, captured equals recomputed,
earlier layers equal an independent readout, and no more than one chunk of logits is alive at a time."""

from __future__ import annotations

import dataclasses
import gc
import weakref
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gptoss_lab import lens as lens_module
from gptoss_lab.capture import LensCapture, lens_is_cheap
from gptoss_lab.errors import OptionError
from gptoss_lab.lens import lens_of, logit_lens, logit_lens_of
from gptoss_lab.trace import Trace


@pytest.fixture(scope="module")
def nano_reply(nano_lab_factory):
    lab = nano_lab_factory()
    reply = lab.ask("What is 47 + 38?", temperature=0, max_new_tokens=48)
    return lab, lab.handle.load(), reply


def _all_hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _readout(model, hidden, k):
    """The top-k of softmax(lm_head(norm(hidden))) for hidden (T, H), computed whole: the reference."""
    with torch.inference_mode():
        p = torch.softmax(model.lm_head(model.model.norm(hidden)).float(), dim=-1)  # (T, V)
        return torch.topk(p, k, dim=-1)


def test_last_layer_is_the_models_own_next_token_distribution(nano_reply):
    lab, loaded, reply = nano_reply
    lens = logit_lens(lab, reply, k=5)
    ids = torch.tensor([lens.token_ids.tolist()])
    with torch.inference_mode():
        p = torch.softmax(loaded.model(input_ids=ids).logits[0].float(), dim=-1)  # (T, V): the real output
    top, idx = torch.topk(p, 5, dim=-1)
    np.testing.assert_array_equal(lens.ids[:, -1], idx.numpy())
    np.testing.assert_allclose(lens.probs[:, -1], top.numpy(), atol=1e-5)
    # greedy decoding: every completion token is the last layer's top-1 where it was chosen
    n = len(reply.prompt_ids)
    np.testing.assert_array_equal(lens.ids[n - 1 :, -1, 0], reply.completion_ids[: len(lens.ids) - n + 1])
    assert (lens.known_from()[n - 1 :] >= 0).all()


def test_every_layer_equals_an_independent_readout_of_the_hidden_states(nano_reply):
    lab, loaded, reply = nano_reply
    lens = logit_lens(lab, reply, k=4)
    with torch.inference_mode():
        out = loaded.model(input_ids=torch.tensor([lens.token_ids.tolist()]), output_hidden_states=True)
    L = len(loaded.model.model.layers)
    assert lens.shape == (len(reply.prompt_ids) + len(reply.completion_ids) - 1, L, 4)
    for layer in range(L - 1):  # hidden_states[l + 1] is layer l's output; the last entry is already normed
        top, idx = _readout(loaded.model, out.hidden_states[layer + 1][0], 4)
        np.testing.assert_array_equal(lens.ids[:, layer], idx.numpy(), err_msg=f"layer {layer}")
        np.testing.assert_allclose(lens.probs[:, layer], top.numpy(), atol=1e-5)
    assert (lens.ids[:, 0, 0] != lens.ids[:, -1, 0]).any()  # the layers do differ: a lens of one layer would fail


def test_captured_during_generation_equals_recomputed(nano_reply):
    lab, _, reply = nano_reply
    captured, recomputed = lens_of(reply), logit_lens(lab, reply)
    assert reply.trace.lens_ids.shape == (reply.trace.n_tokens, reply.trace.n_layers, 5)
    np.testing.assert_array_equal(captured.ids, recomputed.ids)
    np.testing.assert_allclose(captured.probs, recomputed.probs, atol=1e-5)
    np.testing.assert_array_equal(captured.next_ids, recomputed.next_ids)
    assert captured.sources == recomputed.sources and captured.n_prompt == recomputed.n_prompt
    assert captured.layer_types == recomputed.layer_types
    assert all(captured.text(i) == recomputed.text(i) for i in np.unique(captured.ids))


def test_shapes_dtypes_and_order(nano_reply):
    _, loaded, reply = nano_reply
    trace = reply.trace
    assert trace.lens_ids.dtype == np.int32 and trace.lens_probs.dtype == np.float32
    assert (np.diff(trace.lens_probs, axis=-1) <= 0).all()  # best first
    assert (trace.lens_probs.sum(-1) <= 1 + 1e-5).all() and (trace.lens_ids < loaded.model.config.vocab_size).all()
    assert set(np.unique(trace.lens_ids).tolist()) <= set(trace.lens_strings)
    for k in (1, 12):
        lens = logit_lens_of(loaded.model, trace.token_ids[:8], k)
        assert lens.ids.shape == lens.probs.shape == (8, trace.n_layers, k)
        np.testing.assert_array_equal(lens.ids[..., :1], trace.lens_ids[:8, :, :1])  # the same top-1 at any k


@pytest.mark.parametrize("k", [0, -1, 10**9, 2.5])
def test_bad_k_states_the_rule(nano_reply, k):
    _, loaded, reply = nano_reply
    with pytest.raises(OptionError, match="k must be a whole number"):
        logit_lens_of(loaded.model, reply.trace.token_ids, k)


def test_no_more_than_one_chunk_of_logits_is_alive(nano_reply, monkeypatch):
    """lm_head runs only on the lens's chunks (never on all T positions, so not the model's own), and each
    chunk's logits are gone before the next is made; the result equals the unchunked one."""
    _, loaded, reply = nano_reply
    model, ids = loaded.model, reply.trace.token_ids
    whole = logit_lens_of(model, ids)
    V = model.config.vocab_size
    monkeypatch.setattr(lens_module, "BUDGET_BYTES", 7 * V * 8)  # 7 positions a chunk
    rows, alive = [], []

    def watch(module, args, output):
        gc.collect()
        alive.append(sum(ref() is not None for ref in refs))  # earlier chunks' logits still referenced
        refs.append(weakref.ref(output))
        rows.append(output.shape[0])

    refs: list[weakref.ref] = []
    hook = model.lm_head.register_forward_hook(watch)
    try:
        chunked = logit_lens_of(model, ids)
    finally:
        hook.remove()
    T, L = len(ids), len(model.model.layers)
    assert max(rows) == 7 and sum(rows) == T * L  # every row read once, in chunks; the model's own lm_head never ran
    assert alive == [0] * len(rows)
    np.testing.assert_array_equal(chunked.ids, whole.ids)
    np.testing.assert_allclose(chunked.probs, whole.probs, atol=1e-5)


def test_hooks_are_removed_after_a_recompute_and_an_error(nano_reply):
    _, loaded, reply = nano_reply
    model = loaded.model
    before, implementation = _all_hooks(model), model.config._attn_implementation
    logit_lens_of(model, reply.trace.token_ids)
    assert (_all_hooks(model), model.config._attn_implementation) == (before, implementation)
    with pytest.raises(IndexError):
        logit_lens_of(model, [0, 10**6, 3])  # a token id beyond the vocabulary fails inside the pass
    assert (_all_hooks(model), model.config._attn_implementation) == (before, implementation)


def test_save_and_load_keep_the_lens(nano_reply, tmp_path):
    _, _, reply = nano_reply
    again = Trace.load(reply.trace.save(tmp_path / "lens.npz"))
    np.testing.assert_array_equal(again.lens_ids, reply.trace.lens_ids)
    np.testing.assert_array_equal(again.lens_probs, reply.trace.lens_probs)
    assert again.lens_strings == reply.trace.lens_strings
    a, b = lens_of(again), lens_of(reply.trace)
    assert [a.text(i) for i in a.ids[..., 0].ravel()] == [b.text(i) for i in b.ids[..., 0].ravel()]


def test_a_trace_of_another_model_is_refused(nano_reply):
    lab, _, reply = nano_reply
    other = dataclasses.replace(reply.trace, config={**reply.trace.config, "model": "gpt-oss-20b"})
    with pytest.raises(OptionError, match="written by gpt-oss-20b"):
        logit_lens(lab, other)
    lens = logit_lens(lab, reply.trace)  # a bare trace: every position but the last knows what came next
    assert lens.shape[0] == reply.trace.n_tokens and lens.next_ids[-1] == -1


def test_captured_on_small_models_only():
    from transformers import GptOssConfig

    small = GptOssConfig(vocab_size=921, hidden_size=192, num_hidden_layers=4)
    large = GptOssConfig(vocab_size=201088, hidden_size=2880, num_hidden_layers=24)  # the 20b's shape
    decoder = SimpleNamespace(norm=torch.nn.Identity(), layers=[])
    assert lens_is_cheap(SimpleNamespace(config=small, model=decoder))
    assert not lens_is_cheap(SimpleNamespace(config=large, model=decoder))
    assert not lens_is_cheap(SimpleNamespace(config=small))  # no final norm to read through (a test's fake model)


def test_capture_reads_each_layers_output(nano_reply):
    """One forward call under LensCapture gives the same arrays as the recompute for the same tokens."""
    _, loaded, reply = nano_reply
    ids = reply.trace.token_ids[:10]
    with LensCapture(loaded.model, 3) as cap, torch.inference_mode():
        loaded.model(input_ids=torch.tensor([ids.tolist()]))
    lens = logit_lens_of(loaded.model, ids, 3)
    np.testing.assert_array_equal(cap.collect()["lens_ids"], lens.ids)


def test_a_reply_written_under_an_intervention_is_recomputed_under_it(nano_lab_factory):
    lab = nano_lab_factory()
    spec = {"ablate_experts": {layer: [0, 1, 2] for layer in range(4)}}
    with lab.intervene(**spec):
        reply = lab.ask("What is 47 + 38?", temperature=0, max_new_tokens=24)
        recomputed = logit_lens(lab, reply)
    captured = lens_of(reply)
    np.testing.assert_array_equal(captured.ids, recomputed.ids)
    np.testing.assert_allclose(captured.probs, recomputed.probs, atol=5e-5)  # cached steps vs one pass: rounding
    with pytest.raises(OptionError, match=r"written under the interventions experts 0, 1, 2 off .* lab\.intervene"):
        logit_lens(lab, reply)  # without them the lens would be another model's
    plain = logit_lens_of(lab.handle.load().model, captured.token_ids)
    assert (plain.ids[..., 0] != captured.ids[..., 0]).any()  # the ablation did change what the layers predict
