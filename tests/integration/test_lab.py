"""The Lab end to end on CPU: the scripted fake model for exact behaviour, nano for the real path."""

from __future__ import annotations

import gc
import threading

import pytest

COMPLETION = "<|channel|>analysis<|message|>Add 2 and 2.<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>"


def test_reply_separates_reasoning_from_answer(scripted_lab):
    lab, fake = scripted_lab(COMPLETION)
    reply = lab.ask("What is 2+2?", effort="low", temperature=0)
    assert reply.reasoning == "Add 2 and 2."
    assert reply.answer == "4"
    assert reply.stopped == "return"
    assert [m.channel for m in reply.messages] == ["analysis", "final"]
    assert reply.completion_ids == fake.script
    assert fake.calls[0] == len(reply.prompt_ids) and set(fake.calls[1:]) == {1}  # prompt once, then the KV cache


def test_stats_count_tokens_by_channel(scripted_lab):
    lab, fake = scripted_lab(COMPLETION)
    reply = lab.ask("What is 2+2?", temperature=0)
    s = reply.stats
    assert s.prompt_tokens == len(reply.prompt_ids)
    assert s.completion_tokens == len(fake.script)
    assert s.reasoning_tokens + s.answer_tokens == s.completion_tokens
    analysis_part = COMPLETION.split("<|start|>")[0]
    assert s.reasoning_tokens == len(lab.handle.load().encode(analysis_part))
    assert 0 <= s.seconds_to_first_token <= s.reasoning_seconds <= s.total_seconds
    assert s.tokens_per_second is not None and s.tokens_per_second > 0


def test_end_is_not_a_stop_but_call_is(scripted_lab):
    completion = (
        "<|channel|>analysis<|message|>Need weather.<|end|>"
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
        '<|message|>{"city":"Oslo"}<|call|>'
        "<|start|>assistant<|channel|>final<|message|>never reached<|return|>"
    )
    lab, _ = scripted_lab(completion)
    reply = lab.ask("Weather in Oslo?", temperature=0)
    assert reply.stopped == "call"
    assert reply.answer == ""
    assert [(m.recipient, m.content) for m in reply.tool_calls] == [("functions.get_weather", '{"city":"Oslo"}')]
    # the turn is remembered with its analysis and call, as harmony renders history
    follow = lab.prompt_text("thanks")
    assert "<|start|>assistant<|channel|>analysis<|message|>Need weather.<|end|>" in follow
    assert 'to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"city":"Oslo"}<|call|>' in follow


def test_max_tokens_truncates_and_keeps_text(scripted_lab):
    lab, _ = scripted_lab(COMPLETION)
    reply = lab.ask("What is 2+2?", temperature=0, max_new_tokens=14)
    assert reply.stopped == "max_tokens"
    assert len(reply.completion_ids) == 14
    assert reply.reasoning and "Add 2 and 2.".startswith(reply.reasoning)


def _our_threads() -> set[str]:
    # tqdm's progress-bar monitor comes and goes with model loading; it is not ours
    return {t.name for t in threading.enumerate() if type(t).__name__ != "TMonitor"}


@pytest.mark.parametrize("interrupt_at", [0, 5, 12])
def test_interrupt_keeps_partial_reply_and_next_prompt_works(scripted_lab, interrupt_at):
    lab, fake = scripted_lab(COMPLETION, interrupt_at=interrupt_at)
    threads = _our_threads()
    reply = lab.ask("What is 2+2?", temperature=0)
    assert reply.stopped == "interrupted"
    assert len(reply.completion_ids) == interrupt_at
    full = lab.handle.load().encode(COMPLETION)
    assert reply.completion_ids == full[:interrupt_at]
    fake.interrupt_at = None
    fake.calls.clear()
    again = lab.ask("And 3+3?", temperature=0)
    assert again.stopped == "return" and again.answer == "4"
    assert _our_threads() <= threads  # nothing new is left running (loader threads from before may finish)
    assert len(lab.replies) == 2


def test_interrupt_from_display_callback_is_caught(scripted_lab):
    lab, _ = scripted_lab(COMPLETION)
    seen = []

    def on_update(reply):
        seen.append(len(reply.completion_ids))
        if len(seen) == 3:
            raise KeyboardInterrupt

    reply = lab.ask("What is 2+2?", temperature=0, on_update=on_update)
    assert reply.stopped == "interrupted"
    assert len(reply.completion_ids) == 3


def test_stop_event_ends_reply_and_keeps_partial(scripted_lab):
    lab, _ = scripted_lab(COMPLETION)
    stop = threading.Event()

    def on_update(reply):
        if len(reply.completion_ids) == 4:
            stop.set()  # what a widget's Stop button does from the kernel's main thread

    reply = lab.ask("What is 2+2?", temperature=0, on_update=on_update, stop=stop)
    assert reply.stopped == "interrupted"
    assert len(reply.completion_ids) == 4
    stop.clear()
    again = lab.ask("And 3+3?", temperature=0, stop=stop)
    assert again.stopped == "return"


def test_stop_event_from_another_thread(scripted_lab):
    lab, _ = scripted_lab(COMPLETION)
    stop = threading.Event()
    started = threading.Event()
    result = {}

    def on_update(reply):
        started.set()
        stop.wait(timeout=5)  # hold the stream until the other thread has pressed Stop

    worker = threading.Thread(
        target=lambda: result.setdefault("reply", lab.ask("Hi", temperature=0, on_update=on_update, stop=stop))
    )
    worker.start()
    assert started.wait(timeout=30)
    stop.set()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert result["reply"].stopped == "interrupted"
    assert len(result["reply"].completion_ids) == 1


def test_a_second_ask_while_one_streams_is_refused_and_history_stays_whole(scripted_lab):
    from gptoss_lab.lab import LabBusy

    lab, _ = scripted_lab(COMPLETION)
    streaming, release = threading.Event(), threading.Event()
    result = {}

    def on_update(reply):
        streaming.set()
        release.wait(timeout=30)

    worker = threading.Thread(target=lambda: result.setdefault("r", lab.ask("Hi", temperature=0, on_update=on_update)))
    worker.start()
    assert streaming.wait(timeout=30)
    with pytest.raises(LabBusy, match="already writing a reply"):
        lab.ask("Another", temperature=0)
    release.set()
    worker.join(timeout=30)
    assert result["r"].stopped == "return"
    assert [t["content"] for t in lab.history if t["role"] == "user"] == ["Hi"]
    assert lab.ask("Next", temperature=0).stopped == "return"  # free again once the first reply is done


def test_multi_turn_follows_harmony_rules(scripted_lab):
    lab, _ = scripted_lab(COMPLETION)
    lab.ask("What is 2+2?", temperature=0, developer="Answer briefly.")
    text = lab.prompt_text("And 3+3?")
    assert text.count("# Instructions\n\nAnswer briefly.") == 1
    # past answer written back ending in <|end|>, its analysis dropped after the final answer
    assert "<|channel|>final<|message|>4<|end|>" in text
    assert "Add 2 and 2." not in text and "<|return|>" not in text
    assert text.endswith("<|start|>user<|message|>And 3+3?<|end|><|start|>assistant")
    lab.reset()
    assert "What is 2+2?" not in lab.prompt_text("x") and lab.developer is None


def test_effort_reaches_the_system_message(scripted_lab):
    lab, _ = scripted_lab(COMPLETION)
    for effort in ("low", "medium", "high"):
        assert f"Reasoning: {effort}\n" in lab.prompt_text("hi", effort=effort)
    with pytest.raises(ValueError, match=r"low\|medium\|high"):
        lab.ask("hi", effort="max")


def test_nano_generation_is_reproducible_with_a_seed(nano_lab_factory):
    # sampling at temperature 1 (nano's own default is greedy, where seeds play no part)
    def sample(seed):
        return nano_lab_factory().ask("hmm", seed=seed, max_new_tokens=24, temperature=2.0).completion_ids

    assert sample(7) == sample(7)
    # nano is sure of itself: at temperature 1 five seeds gave one reply to "Count to three." and to "hmm";
    # at 2, two seeds may agree, five should not all
    assert len({tuple(sample(seed)) for seed in range(7, 12)}) > 1


def test_cached_greedy_generation_equals_full_forward(nano_lab_factory):
    """Each greedy token from the KV-cache loop is the argmax of a fresh full forward pass."""
    import torch

    lab = nano_lab_factory()
    reply = lab.ask("Hello there", temperature=0, max_new_tokens=12)
    model = lab.handle.load().model
    ids = list(reply.prompt_ids)
    with torch.inference_mode():
        for token in reply.completion_ids:
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
            assert int(torch.argmax(logits)) == token
            ids.append(token)


def test_lab_repr_before_loading_names_model_device_dtype():
    from gptoss_lab import Lab

    lab = Lab()
    text = repr(lab)
    assert "gpt-oss-nano" in text and "device: cpu" in text and "dtype:  float32" in text
    assert "not loaded yet" in text
    assert not lab.handle.loaded
    gc.collect()


# -- the context guard: refused before prefill, the conversation unchanged

LONG = "Please read this carefully, then answer the question at the end of it. " * 280  # 20,160 characters


def test_a_prompt_longer_than_the_context_is_refused_before_prefill(nano_lab_factory):
    import time

    from gptoss_lab.errors import ContextTooLongError

    lab = nano_lab_factory()
    lab.ask("What is 2 + 3?", effort="low", max_new_tokens=8)
    history, replies = [dict(t) for t in lab.history], list(lab.replies)
    calls = []
    hook = lab.handle.load().model.register_forward_pre_hook(lambda *a: calls.append(1))
    start = time.perf_counter()
    try:
        with pytest.raises(ContextTooLongError) as err:
            lab.ask(LONG[:20_000])
    finally:
        hook.remove()
    assert time.perf_counter() - start < 5 and calls == []  # no forward pass at all
    message = str(err.value)
    assert "\n" not in message and "the 2,048 tokens gpt-oss-nano" in message and "512 more" in message
    assert "%gptoss reset (or lab.reset()) drops the 1 earlier turn" in message and "a shorter prompt" in message
    assert lab.history == history and lab.replies == replies  # nothing recorded
    assert lab.ask("And 4 + 4?", effort="low", max_new_tokens=8).stopped in ("return", "max_tokens")


def test_max_new_tokens_beyond_the_context_says_how_many_fit(nano_lab_factory):
    from gptoss_lab.errors import ContextTooLongError

    lab = nano_lab_factory()
    n = len(lab.handle.load().encode(lab.prompt_text("Hi")))
    with pytest.raises(ContextTooLongError, match=f"use --max-tokens {2048 - n} or less"):
        lab.ask("Hi", max_new_tokens=2048)


# -- the memory guard: the prompt's attention scores and the KV cache priced against the free memory


def _forward_calls(model) -> tuple[list[int], object]:
    calls: list[int] = []
    return calls, model.register_forward_pre_hook(lambda module, args, kwargs: calls.append(1), with_kwargs=True)


def test_a_reply_that_cannot_fit_in_free_memory_is_refused_before_prefill(nano_lab_factory, monkeypatch):
    from gptoss_lab import memory
    from gptoss_lab.errors import WontFitError

    lab = nano_lab_factory()
    lab.ask("What is 2 + 3?", effort="low", max_new_tokens=8)
    history, replies = [dict(t) for t in lab.history], list(lab.replies)
    prompt = "Add these numbers, then say the sum. " * 60
    n = len(lab.handle.load().encode(lab.prompt_text(prompt, effort="low")))
    free = memory.reply_bytes(lab.handle.config, n, 100, "float32")  # room for exactly 100 new tokens
    monkeypatch.setattr("gptoss_lab.memory.available_bytes", lambda device: free)
    calls, hook = _forward_calls(lab.handle.load().model)
    try:
        with pytest.raises(WontFitError) as err:
            lab.ask(prompt, effort="low", max_new_tokens=1024)
    finally:
        hook.remove()
    assert calls == []  # no forward pass at all
    message = str(err.value)
    assert "\n" not in message and f"{n:,} prompt + 1,024 new tokens" in message and "4 heads x" in message
    assert f"{free / 1e6:.1f} MB is free" in message and "--max-tokens 100 or less" in message
    assert "%gptoss reset (or lab.reset()) to drop the 1 earlier turn" in message and "a shorter prompt" in message
    assert lab.history == history and lab.replies == replies  # nothing recorded
    assert lab.ask(prompt, effort="low", max_new_tokens=100).stopped in ("return", "max_tokens")  # what it said fits


def test_the_memory_guard_counts_the_weights_before_they_load(nano_lab_factory, monkeypatch):
    from gptoss_lab.errors import WontFitError

    lab = nano_lab_factory()
    monkeypatch.setattr("gptoss_lab.memory.available_bytes", lambda device: 1_000_000)  # 1 MB: not even nano
    with pytest.raises(WontFitError, match=r"its \d+\.\d MB of weights, the KV cache.* 1\.0 MB is free"):
        lab.ask("Hi", max_new_tokens=8)
    assert not lab.handle.loaded and lab.history == []
    unchecked = nano_lab_factory(preflight=False)  # the way past it that the message names
    assert unchecked.ask("Hi", max_new_tokens=4).stopped in ("return", "max_tokens")


# -- interrupting while the prompt runs: the reply ends "interrupted", the conversation whole


def test_ctrl_c_during_prefill_ends_the_reply_interrupted(nano_lab_factory):
    lab = nano_lab_factory()
    lab.ask("What is 2 + 3?", effort="low", max_new_tokens=8)
    history = [dict(t) for t in lab.history]
    model = lab.handle.load().model
    before = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    calls = []

    def ctrl_c(module, args):
        calls.append(args[0].shape[1])  # (1, T, H): the prompt's T on the first call
        if len(calls) == 1:
            raise KeyboardInterrupt  # in the middle of the prompt's forward pass

    hook = model.model.layers[2].register_forward_pre_hook(ctrl_c)
    try:
        reply = lab.ask("And 4 + 4?", effort="low", max_new_tokens=8)
    finally:
        hook.remove()
    assert calls == [len(reply.prompt_ids)]  # it came in the prefill, and nothing ran after it
    assert reply.stopped == "interrupted" and reply.completion_ids == [] and reply.trace is None
    assert lab.history[:2] == history and len(lab.replies) == 2  # the earlier turn intact, this one kept
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()) == before
    assert lab.ask("And 5 + 5?", effort="low", max_new_tokens=8).stopped in ("return", "max_tokens")


def test_the_stop_event_ends_the_prompt_pass_at_the_next_layer(nano_lab_factory):
    lab = nano_lab_factory()
    model = lab.handle.load().model
    stop = threading.Event()
    last_layer = []
    first = model.model.layers[0].register_forward_hook(lambda *a: stop.set())  # Stop pressed mid-prompt
    last = model.model.layers[-1].register_forward_pre_hook(lambda *a: last_layer.append(1))
    try:
        reply = lab.ask("What is 2 + 3?", effort="low", max_new_tokens=8, stop=stop)
    finally:
        first.remove()
        last.remove()
    assert reply.stopped == "interrupted" and reply.completion_ids == []
    assert last_layer == []  # the rest of the prompt pass did not run
    stop.clear()
    assert lab.ask("And 4 + 4?", effort="low", max_new_tokens=8, stop=stop).stopped in ("return", "max_tokens")


# -- switching: a transaction; and the Lab's lock


def test_a_failed_switch_keeps_the_model_and_a_good_one_keeps_the_conversation(nano_lab_factory, tmp_path):
    import shutil

    from gptoss_lab.errors import CheckpointError

    lab = nano_lab_factory()
    lab.ask("What is 2 + 3?", effort="low", max_new_tokens=8)
    broken = tmp_path / "broken"
    shutil.copytree(lab.handle.source.path, broken)
    with open(broken / "model.safetensors", "r+b") as f:
        f.truncate((broken / "model.safetensors").stat().st_size // 2)
    with pytest.raises(CheckpointError, match=r"model\.safetensors is truncated.*kept gpt-oss-nano and your 1 earlier"):
        lab.load(str(broken))
    assert lab.model_name == "nano" and len(lab.ask("And 4 + 4?", effort="low", max_new_tokens=8).prompt_ids) > 0
    lab.load("nano", dtype="bfloat16")  # works: the new model answers the same conversation
    assert lab.handle.dtype == "bfloat16" and len(lab.replies) == 2
    assert "What is 2 + 3?" in lab.prompt_text("next")


def test_cuda_on_a_cpu_build_is_one_line(monkeypatch):
    import torch

    from gptoss_lab import Lab
    from gptoss_lab.errors import OptionError

    if torch.cuda.is_available():
        pytest.skip("this torch has CUDA")
    monkeypatch.setattr("gptoss_lab.model._cuda_visible", lambda: True)  # a GPU is there, the build can't use it
    lab = Lab("nano", device="cuda")
    with pytest.raises(OptionError, match=r"^--device cuda: no CUDA here \(torch .* is a CPU-only build\)"):
        lab.load()  # was an AssertionError from torch


def test_views_and_switches_take_the_lab_lock_while_a_reply_streams(scripted_lab):
    from gptoss_lab.attention import attention
    from gptoss_lab.lab import LabBusy

    lab, _ = scripted_lab(COMPLETION)
    streaming, release = threading.Event(), threading.Event()

    def on_update(reply):
        streaming.set()
        release.wait(timeout=30)

    worker = threading.Thread(target=lambda: lab.ask("Hi", temperature=0, on_update=on_update))
    worker.start()
    try:
        assert streaming.wait(timeout=30)
        with pytest.raises(LabBusy, match=r"already writing a reply .*cannot recompute attention now"):
            attention(lab, None, layer=0)
        with pytest.raises(LabBusy, match="cannot switch models now"):
            lab.load("nano")
    finally:
        release.set()
        worker.join(timeout=30)
    assert len(lab.replies) == 1
