"""gpt-oss-nano's recipe: tokenizer, chat template, training attention, a few training steps."""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
import torch

from gptoss_lab.harmony import SPECIAL_TOKENS, render_prompt
from gptoss_lab.nano import nano_checkpoint, tasks
from gptoss_lab.nano.train import IDENTITY, MODEL_CONFIG, Recipe, register_attention, train


@pytest.fixture(scope="module")
def tokenizer():
    from gptoss_lab.nano.train import build_tokenizer

    return build_tokenizer(Recipe(tokenizer_examples=300, vocab_size=600))  # room for every frequent word


def test_tokenizer_encodes_anything_and_keeps_specials_whole(tokenizer):
    text = "<|start|>user<|message|>Ünïcödé 🦀 {json} 12345<|end|>"
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids) == text
    for name in ("<|start|>", "<|channel|>", "<|message|>", "<|end|>", "<|return|>", "<|call|>"):
        assert len(tokenizer.encode(name, add_special_tokens=False)) == 1
    digits = tokenizer.convert_ids_to_tokens(tokenizer.encode("12345", add_special_tokens=False))
    assert digits == ["1", "2", "3", "4", "5"]  # one token per digit
    spaced = tokenizer.convert_ids_to_tokens(tokenizer.encode(" 47 and 5 6 9", add_special_tokens=False))
    assert spaced == ["\u01204", "7", "\u0120and", "\u01205", "\u01206", "\u01209"]  # a space goes with a digit


def test_frequent_words_stay_whole_and_the_rest_is_spelled_letter_by_letter():
    from gptoss_lab.nano.tokenizer import SPACE, train_tokenizer

    texts = ["Count the apples, then count the pears. " * 12, "zq once"]
    tok = train_tokenizer(texts, 400, spelled=["apples"])
    assert tok.tokenize(" Count the pears") == [SPACE + "Count", SPACE + "the", SPACE + "pears"]
    assert tok.tokenize(" Count the apples") == [SPACE + "Count", SPACE + "the", SPACE, *"apples"]  # to be spelled
    assert tok.tokenize(" selppa zq") == [SPACE, *"selppa", SPACE, "z", "q"]  # its reversal; a rare word
    # specials, bytes, a letter or digit after a space, then " Count", " the", " then", " count", " pears"
    assert len(tok) == len(SPECIAL_TOKENS) + 256 + 52 + 10 + 5


def test_task_words_and_unseen_words_reach_the_model_letter_by_letter(tokenizer):
    from gptoss_lab.nano.tokenizer import SPACE

    for word in ("strawberry", "yrrebwarts", "raspberry", "zorblax"):
        tokens = tokenizer.tokenize(f"How many r in {word}?")
        assert tokens[-len(word) - 2 :] == [SPACE, *word, "?"]
        assert SPACE + "many" in tokens  # a template word is one token


@pytest.mark.parametrize("seed", range(40))
def test_chat_template_renders_what_harmony_renders(tokenizer, seed):
    rng = random.Random(seed)
    examples = tasks.generate(6, seed=seed, families=tasks.ALL_FAMILIES)
    messages: list[dict] = []
    if rng.random() < 0.5:
        messages.append({"role": rng.choice(["system", "developer"]), "content": "Be brief."})
    for ex in examples[: rng.randint(1, 3)]:
        messages += [m for m in ex.messages if m["role"] == "user"]
        messages.append({"role": "assistant", "content": ex.answer, "thinking": ex.analysis})
    messages.append({"role": "user", "content": examples[-1].messages[-1]["content"]})
    effort = rng.choice(["low", "medium", "high"])
    date = rng.choice([None, "2026-11-29"])
    options = {"current_date": date} if date else {}
    ours = render_prompt(messages, effort=effort, model_identity=IDENTITY, date=date)
    theirs = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, reasoning_effort=effort, **options
    )
    assert theirs == ours


def test_training_attention_equals_eager_with_sinks_padding_and_windows():
    from transformers import GptOssConfig, GptOssForCausalLM

    torch.manual_seed(0)
    model = GptOssForCausalLM(GptOssConfig(vocab_size=97, **{**MODEL_CONFIG, "sliding_window": 8})).train()
    for layer in model.model.layers:
        torch.nn.init.normal_(layer.self_attn.sinks, std=2.0)  # sinks that matter
    ids = torch.randint(0, 97, (3, 30))
    mask = torch.ones_like(ids)
    mask[1, 20:] = 0
    mask[2, 9:] = 0
    labels = ids.masked_fill(mask == 0, -100)
    results = []
    for impl in ("eager", register_attention()):
        model.config._attn_implementation = impl
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        grads = torch.autograd.grad(out.loss, [model.model.layers[0].self_attn.sinks, model.lm_head.weight])
        results.append((out.logits[mask.bool()], out.loss, grads))
    (la, lossa, ga), (lb, lossb, gb) = results
    torch.testing.assert_close(la, lb, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lossa, lossb)
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)


def test_training_experts_equal_eager():
    from transformers import GptOssConfig, GptOssForCausalLM

    from gptoss_lab.nano.train import register_experts

    torch.manual_seed(0)
    model = GptOssForCausalLM(GptOssConfig(vocab_size=97, **MODEL_CONFIG)).train()
    for layer in model.model.layers:
        torch.nn.init.normal_(layer.mlp.router.weight, std=1.0)  # spread the tokens over the experts
    ids = torch.randint(0, 97, (3, 30))
    experts = model.model.layers[0].mlp.experts
    params = [experts.gate_up_proj, experts.down_proj_bias, model.model.layers[0].mlp.router.weight]
    results = []
    for impl in ("eager", register_experts()):
        model.config._experts_implementation = impl
        out = model(input_ids=ids, labels=ids, output_router_logits=True)
        results.append((out.logits, torch.autograd.grad(out.loss, params)))
    (la, ga), (lb, gb) = results
    torch.testing.assert_close(la, lb, atol=1e-6, rtol=1e-5)
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)
    chosen = out.router_logits[0].topk(MODEL_CONFIG["num_experts_per_tok"]).indices
    assert chosen.unique().numel() == MODEL_CONFIG["num_local_experts"]  # every expert's slice was exercised


def test_loss_only_on_the_completion():
    from gptoss_lab.nano.train import batches, build_tokenizer

    recipe = Recipe(batch_size=4, pool=16, vocab_size=300, tokenizer_examples=100)
    tok = build_tokenizer(recipe)
    ids, labels, _mask = next(batches(tok, recipe))
    return_id = tok.convert_tokens_to_ids("<|return|>")
    for row in range(ids.shape[0]):
        supervised = ids[row][labels[row] != -100].tolist()
        text = tok.decode(supervised)
        assert text.startswith("<|channel|>analysis<|message|>")
        assert supervised[-1] == return_id
        assert "<|start|>system" not in text


def test_masked_slips_are_in_the_input_but_not_in_the_labels(tokenizer):
    from gptoss_lab.nano.train import conversation, encode

    ex = tasks.generate(1, seed=3, families=("add",), efforts=("high",))[0]
    number = next(m for m in re.finditer(r"\d\d+", ex.analysis))  # a slip of a few digit tokens
    slip = replace(ex, masked=((number.start(), number.end()),))
    plain_ids, plain_labels = encode(tokenizer, replace(ex, masked=()), None)
    ids, labels = encode(tokenizer, slip, None)
    assert ids == plain_ids  # the model still reads the slip
    n_prompt = len(tokenizer.encode(conversation(ex, None)[0], add_special_tokens=False))
    assert labels[:n_prompt] == [-100] * n_prompt  # the prompt is never learned
    assert plain_labels[n_prompt:] == ids[n_prompt:]  # without a slip, all of the completion is
    dropped = [i for i in range(n_prompt, len(ids)) if labels[i] == -100]
    assert tokenizer.decode([ids[i] for i in dropped]).strip() == number.group()  # " 6" is one token
    assert dropped == list(range(dropped[0], dropped[0] + len(number.group())))  # one digit per token
    assert all(labels[i] == ids[i] for i in range(n_prompt, len(ids)) if i not in dropped)


def test_the_data_stream_restarts_at_any_step(tokenizer):
    from gptoss_lab.nano.train import batches

    recipe = Recipe(batch_size=4, pool=16)  # 4 batches a pool
    stream = batches(tokenizer, recipe)
    expected = [next(stream) for _ in range(7)]
    for start in (0, 3, 4, 6):
        got = next(batches(tokenizer, recipe, start=start))
        for a, b in zip(expected[start], got, strict=True):
            assert torch.equal(a, b)


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, capsys):
    from safetensors.torch import load_file

    # one thread: with two, CPU reductions vary in order and even two straight runs differ by ~1e-8
    recipe = Recipe(steps=6, warmup=2, batch_size=4, pool=16, vocab_size=300, tokenizer_examples=100, threads=1)
    straight = train(tmp_path / "straight", recipe, log_every=1)
    stopped = train(tmp_path / "resumed", recipe, stop_at=3, log_every=1)
    assert torch.load(stopped / "resume" / "state.pt", weights_only=True)["step"] == 3
    assert json.loads((stopped / "gptoss_lab.json").read_text())["step"] == 3
    with pytest.raises(ValueError, match="batch_size"):
        train(stopped, replace(recipe, batch_size=8), resume=True)
    capsys.readouterr()
    train(stopped, resume=True, log_every=1)
    printed = capsys.readouterr().out
    assert f"resumed {stopped} at step 3 of 6" in printed
    assert [int(line.split()[1]) for line in printed.splitlines() if line.startswith("step")] == [3, 4, 5]
    a, b = load_file(straight / "model.safetensors"), load_file(stopped / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)


def test_a_checkpoint_and_resume_state_every_save_minutes(tmp_path, monkeypatch):
    import gptoss_lab.nano.train as T

    saved = []
    real = T.save_state
    monkeypatch.setattr(
        T, "save_state", lambda out, *a, step, **kw: (saved.append(step), real(out, *a, step=step, **kw))
    )
    recipe = Recipe(steps=3, batch_size=4, pool=16, vocab_size=300, tokenizer_examples=100, save_minutes=1e-9)
    out = train(tmp_path / "nano", recipe)
    assert saved == [1, 2, 3]  # after every step here, and at the end
    assert sorted(p.name for p in (out / "resume").iterdir()) == ["state.pt"]  # no temporary left behind


def test_command_line_flags_make_the_recipe(tmp_path, monkeypatch):
    import gptoss_lab.nano.train as T

    calls = []
    monkeypatch.setattr(T, "train", lambda out, recipe, **kw: calls.append((out, recipe, kw)))
    T.main(["--out", str(tmp_path), "--steps", "7", "--seed", "3", "--batch-size", "5", "--save-minutes", "0.5",
            "--config", "hidden_size=256", "--config", "router_aux_loss_coef=0.1"])  # fmt: skip
    recipe = Recipe(
        steps=7, seed=3, batch_size=5, save_minutes=0.5, model={"hidden_size": 256, "router_aux_loss_coef": 0.1}
    )
    assert calls[-1] == (tmp_path, recipe, {"stop_at": None})
    for wrong in (["--config", "hidden=256"], ["--config", "hidden_size"]):
        with pytest.raises(SystemExit):
            T.main(["--out", str(tmp_path), *wrong])
    (tmp_path / "gptoss_lab.json").write_text(json.dumps({"recipe": asdict(recipe)}))
    with pytest.raises(SystemExit):
        T.main(["--resume", str(tmp_path)])  # no resume state yet
    (tmp_path / "resume").mkdir()
    (tmp_path / "resume" / "state.pt").touch()  # train is stubbed: it is never read
    T.main(["--resume", str(tmp_path), "--steps", "9"])  # the saved recipe, run longer
    assert calls[-1] == (tmp_path, replace(recipe, steps=9), {"resume": True, "stop_at": None})
    T.main(["--resume", str(tmp_path), "--steps", "9", "--stop-at", "4"])  # a run in pieces
    assert calls[-1] == (tmp_path, replace(recipe, steps=9), {"resume": True, "stop_at": 4})
    for wrong in (["--seed", "1"], ["--config", "hidden_size=64"], ["--out", str(tmp_path / "elsewhere")]):
        with pytest.raises(SystemExit):
            T.main(["--resume", str(tmp_path), *wrong])


def test_model_overrides_reach_the_model(tokenizer):
    from gptoss_lab.nano.train import build_model

    model = build_model(tokenizer, Recipe(model={"num_hidden_layers": 2, "hidden_size": 64}))
    assert len(model.model.layers) == 2
    assert model.config.hidden_size == 64
    assert model.config.num_local_experts == MODEL_CONFIG["num_local_experts"]


def test_a_few_training_steps_reduce_the_loss_and_save_a_loadable_checkpoint(tmp_path, capsys):
    recipe = Recipe(steps=12, warmup=2, batch_size=8, pool=64, vocab_size=300, tokenizer_examples=200)
    out = train(tmp_path / "nano", recipe, log_every=1)
    losses = [float(line.split()[3]) for line in capsys.readouterr().out.splitlines() if line.startswith("step")]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    from gptoss_lab import Lab

    lab = Lab(str(out))
    reply = lab.ask("What is 2 + 3?", max_new_tokens=8, capture=True)
    assert lab.handle.load().identity == IDENTITY
    assert lab.handle.load().sampling["temperature"] == 0.0
    assert reply.trace is not None
    assert lab.handle.load().model.config._attn_implementation == "eager"


@pytest.mark.parametrize("seed", range(10))
def test_shipped_tokenizer_template_matches_harmony(seed):
    from transformers import AutoTokenizer

    from gptoss_lab.nano import CHECKPOINT_DIR

    shipped = AutoTokenizer.from_pretrained(CHECKPOINT_DIR)
    examples = tasks.generate(3, seed=seed, families=tasks.ALL_FAMILIES)
    messages = [*examples[0].messages, {"role": "assistant", "content": examples[0].answer, "thinking": "x"}]
    messages += [m for m in examples[1].messages if m["role"] == "user"]
    effort = ("low", "medium", "high")[seed % 3]
    ours = render_prompt(messages, effort=effort, model_identity=IDENTITY)
    assert (
        shipped.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, reasoning_effort=effort)
        == ours
    )


def test_shipped_tokenizer_spells_every_task_word_and_keeps_the_scaffolding_short():
    from transformers import AutoTokenizer

    from gptoss_lab.nano import CHECKPOINT_DIR
    from gptoss_lab.nano.tokenizer import SPACE

    shipped = AutoTokenizer.from_pretrained(CHECKPOINT_DIR)
    for word in (*tasks.TRAIN_WORDS, *tasks.EVAL_WORDS):
        assert shipped.tokenize(" " + word) == [SPACE, *word]
        assert shipped.tokenize(" " + word[::-1]) == [SPACE, *word[::-1]]
    prompt = render_prompt([{"role": "user", "content": "What is 17 + 25?"}], effort="high", model_identity=IDENTITY)
    assert len(shipped.encode(prompt, add_special_tokens=False)) <= 80  # of 305 characters: whole words


def test_balance_loss_is_counted_per_layer():
    from transformers.models.gpt_oss.modeling_gpt_oss import load_balancing_loss_func

    from gptoss_lab.nano.train import balance_loss

    torch.manual_seed(0)
    mask = torch.ones(4, 25, dtype=torch.long)
    one = torch.randn(100, 8)
    torch.testing.assert_close(balance_loss((one,), mask, 2), load_balancing_loss_func((one,), 8, 2, mask))
    # layer 0 sends every token to experts 0-1, layer 1 to experts 2-7: pooled, all 8 are used
    busy = torch.full((100, 8), -10.0)
    busy[:, :2] = 10.0
    rest = torch.zeros(100, 8)
    rest[:, :2] = -10.0
    rest[torch.arange(100), 2 + torch.arange(100) % 6] = 10.0
    rest[torch.arange(100), 2 + (torch.arange(100) + 1) % 6] = 10.0
    pooled = float(load_balancing_loss_func((busy, rest), 8, 2, mask))
    ours = float(balance_loss((busy, rest), mask, 2))
    assert ours > 1.5 * pooled  # an idle expert in a layer costs here, not in the pooled loss


def test_lm_loss_is_the_models_own_loss_on_the_labels():
    from transformers import GptOssConfig, GptOssForCausalLM

    from gptoss_lab.nano.train import lm_loss

    torch.manual_seed(0)
    model = GptOssForCausalLM(GptOssConfig(vocab_size=97, **MODEL_CONFIG))
    ids = torch.randint(0, 97, (2, 12))
    labels = ids.masked_fill(torch.arange(12) < 5, -100)
    with torch.no_grad():
        hidden = model.model(input_ids=ids).last_hidden_state
        ours, theirs = lm_loss(hidden, model.lm_head, labels), model(input_ids=ids, labels=labels).loss
    torch.testing.assert_close(ours, theirs)


def test_the_shared_system_prefix_runs_once_and_changes_neither_loss_nor_gradients(tokenizer):
    """forward_shared_prefix: the batch's common prefix as one cached row gives the whole batch's loss."""
    import copy

    from gptoss_lab.nano.train import (
        batches,
        build_model,
        forward_shared_prefix,
        lm_loss,
        register_experts,
        shared_prefix,
    )

    # a window shorter than the prefix, so the sliding layers' cache is cut and must still be right
    recipe = Recipe(pool=64, batch_size=8, model={"hidden_size": 64, "intermediate_size": 64, "sliding_window": 16})
    stream = batches(tokenizer, recipe)
    pool = [next(stream) for _ in range(8)]
    system = tokenizer.encode(render_prompt([{"role": "user", "content": "x"}], effort="low", model_identity=IDENTITY))
    end = system.index(tokenizer.convert_tokens_to_ids("<|end|>"))
    effort_at = system.index(tokenizer.convert_tokens_to_ids("Reasoning"))
    shared = [shared_prefix(ids, labels) for ids, labels, _ in pool]
    assert all(n > effort_at for n in shared)  # every batch shares the system message up to its effort
    assert sum(n > end for n in shared) >= 6  # batches are bucketed by effort: most share all of it
    assert all((labels[:, :n] == -100).all() for (_, labels, _), n in zip(pool, shared, strict=True))
    ids, labels, mask = pool[0]
    n = shared[0]
    model = build_model(tokenizer, recipe)
    model.config._attn_implementation, model.config._experts_implementation = register_attention(), register_experts()
    model.train()

    def loss_and_grads(shared: bool) -> tuple[torch.Tensor, torch.Tensor]:
        m = copy.deepcopy(model)
        if shared:
            out, rest_labels, _ = forward_shared_prefix(m, ids, labels, mask)
            assert out.last_hidden_state.shape[1] == ids.shape[1] - n  # the prefix really ran apart
        else:
            out, rest_labels = m.model(input_ids=ids, attention_mask=mask), labels
        loss = lm_loss(out.last_hidden_state, m.lm_head, rest_labels)
        loss.backward()
        return loss.detach(), torch.cat([p.grad.flatten() for p in m.parameters() if p.grad is not None])

    (whole, g_whole), (shared, g_shared) = loss_and_grads(False), loss_and_grads(True)
    torch.testing.assert_close(shared, whole)
    torch.testing.assert_close(g_shared, g_whole, atol=1e-6, rtol=1e-4)


def test_drill_rows_learn_only_the_facts_and_every_fact_is_true(tokenizer):
    from gptoss_lab.nano import drill
    from gptoss_lab.nano.train import encode_drill

    rng = random.Random(5)
    kinds = set()
    for _ in range(60):
        pieces = drill.drill_row(rng, 6)
        text = "".join(p for p, _ in pieces)
        steps = re.findall(r"(\d(?:[-+*]\d)+)(?: is below 0, so 1(\d(?:[-+*]\d)+))?=(\d+)", text)
        assert len(steps) == 6, text
        for expr, borrowed, value in steps:
            whole = eval(expr) if not borrowed else 10 + eval(borrowed)  # digits and + - * only
            assert borrowed in ("", expr) and whole == int(value) and whole >= 0, text
            kinds.add(next(c for c in "+-*" if c in expr))
        ids, labels = encode_drill(tokenizer, pieces)
        learned = "".join(tokenizer.decode([t]) for t, lab in zip(ids, labels, strict=True) if lab != -100)
        assert learned == "".join(p for p, keep in pieces if keep)  # the facts, and no operand
    assert kinds == {"+", "-", "*"}


def test_drill_batches_take_their_share_of_the_stream(tokenizer):
    from gptoss_lab.nano.train import pool_chunks

    recipe = Recipe(batch_size=4, pool=64, drill_share=0.25)
    chunks = pool_chunks(tokenizer, recipe, 0)
    start = tokenizer.convert_tokens_to_ids("<|start|>")
    drills = [c for c in chunks if all(start not in ids for ids, _ in c)]
    assert len(chunks) == 16 + 5 and len(drills) == 5  # 16 batches of conversations, a quarter more of drill
    assert chunks == pool_chunks(tokenizer, recipe, 0)  # still a function of (seed, index)


def test_a_second_stage_starts_from_the_first_stages_weights_and_moments(tmp_path, capsys):
    from safetensors.torch import load_file

    first = Recipe(steps=3, warmup=1, batch_size=4, pool=16, vocab_size=300, tokenizer_examples=100, threads=1)
    stage1 = train(tmp_path / "one", first, log_every=1)
    second = replace(first, steps=2, lr=1e-9, min_lr=1e-9, drill_share=0.5, init=str(stage1))
    stage2 = train(tmp_path / "two", second, log_every=1)
    assert f"started from {stage1}" in capsys.readouterr().out
    a, b = load_file(stage1 / "model.safetensors"), load_file(stage2 / "model.safetensors")
    for name in a:  # a learning rate of 1e-9 leaves the weights where the first stage left them
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6, msg=name)
    assert (stage2 / "tokenizer.json").read_text() == (stage1 / "tokenizer.json").read_text()
    moments = torch.load(stage2 / "resume" / "state.pt", weights_only=True)["optimizer"]["state"]
    assert min(int(s["step"]) for s in moments.values()) == 3 + 2  # AdamW's count went on from the first stage


def test_a_second_stage_may_grow_the_attention_heads_and_starts_out_computing_the_same(tmp_path, capsys):
    from transformers import GptOssForCausalLM

    from gptoss_lab.nano.train import grown

    small = {"hidden_size": 64, "head_dim": 16, "num_attention_heads": 2, "num_key_value_heads": 1}
    first = Recipe(steps=2, warmup=1, batch_size=4, pool=16, vocab_size=300, tokenizer_examples=100, threads=1)
    stage1 = train(tmp_path / "one", replace(first, model=small), log_every=1)
    wide = {**small, "num_attention_heads": 4, "num_key_value_heads": 2}
    second = replace(first, steps=1, lr=1e-9, min_lr=1e-9, model=wide, init=str(stage1))
    stage2 = train(tmp_path / "two", second, log_every=1)
    assert "attention heads grown" in capsys.readouterr().out
    a, b = (GptOssForCausalLM.from_pretrained(d, dtype=torch.float32).eval() for d in (stage1, stage2))
    assert (b.config.num_attention_heads, b.config.num_key_value_heads) == (4, 2)
    assert b.model.layers[0].self_attn.o_proj.weight[:, 32:].abs().max() < 1e-6  # the new heads write nothing yet
    ids = torch.randint(3, a.config.vocab_size, (2, 40))
    torch.testing.assert_close(a(ids).logits, b(ids).logits, rtol=0, atol=1e-4)
    state = a.state_dict()
    with pytest.raises(ValueError, match="same ratio"):  # query head h must keep reading key/value head h // 2
        grown(state, _fresh(a.config.vocab_size, {**small, "num_attention_heads": 4}))
    with pytest.raises(ValueError, match="only heads grow"):
        grown(state, _fresh(a.config.vocab_size, {**small, "intermediate_size": 96}))


def _fresh(vocab_size: int, model: dict[str, Any]) -> dict[str, Any]:
    """A randomly initialised nano state of ``MODEL_CONFIG`` with ``model``'s overrides."""
    from transformers import GptOssConfig, GptOssForCausalLM

    return GptOssForCausalLM(GptOssConfig(vocab_size=vocab_size, **{**MODEL_CONFIG, **model})).state_dict()


def test_the_second_stage_command_line(tmp_path, monkeypatch):
    import gptoss_lab.nano.train as T

    calls = []
    monkeypatch.setattr(T, "train", lambda out, recipe, **kw: calls.append((out, recipe)))
    stage1 = tmp_path / "one"
    stage1.mkdir()
    (stage1 / "gptoss_lab.json").write_text(json.dumps({"recipe": asdict(Recipe(model={"hidden_size": 64}))}))
    T.main(["--out", str(tmp_path / "two"), "--init", str(stage1), "--steps", "700", "--lr", "6e-4", "--warmup",
            "20", "--drill-share", "0.25"])  # fmt: skip
    recipe = Recipe(steps=700, lr=6e-4, warmup=20, drill_share=0.25, init=str(stage1), model={"hidden_size": 64})
    assert calls == [(tmp_path / "two", recipe)]  # the first stage's architecture, this stage's schedule
    for wrong in (["--init", str(tmp_path / "nowhere")], ["--resume", str(stage1), "--drill-share", "0.1"]):
        with pytest.raises(SystemExit):
            T.main(["--out", str(tmp_path / "three"), *wrong] if "--init" in wrong else wrong)


@pytest.mark.parametrize(
    ("wrong", "said"),
    [
        (["--drill-share", "1"], "--drill-share 1: a share from 0 to below 1 (0.95: one batch in 20 is conversations)"),
        (["--drill-share", "-0.1"], "--drill-share -0.1: a share from 0 to below 1"),
        (["--compare-share", "1.5"], "--compare-share 1.5: a share from 0 to 1"),
    ],
)
def test_a_share_out_of_range_is_one_line_before_anything_runs(tmp_path, monkeypatch, capsys, wrong, said):
    import gptoss_lab.nano.train as T

    monkeypatch.setattr(T, "train", lambda *a, **kw: pytest.fail("trained with a share out of range"))
    with pytest.raises(SystemExit):
        T.main(["--out", str(tmp_path), *wrong])
    assert said in capsys.readouterr().err


def test_staged_training_resumes_a_stopped_stage_chains_the_rest_and_skips_what_is_done(tmp_path, capsys):
    from gptoss_lab.nano.stages import SHIPPED, finished, run_stages

    small = dict(warmup=1, batch_size=4, pool=16, vocab_size=300, tokenizer_examples=100, threads=1, save_minutes=0)
    stages = (dict(steps=2, **small), dict(steps=2, lr=1e-3, drill_share=0.5, **small))
    train(tmp_path / "stage1", Recipe(**stages[0]), stop_at=1)  # a session ended in the middle of stage 1
    assert not finished(tmp_path / "stage1")
    run_stages(tmp_path, stages)
    out = capsys.readouterr().out
    assert "stage 1 of 2: resuming" in out and "stage 2 of 2: training" in out
    assert f"started from {tmp_path / 'stage1'}" in out  # stage 2 starts from stage 1's checkpoint
    meta = json.loads((tmp_path / "gptoss_lab.json").read_text())
    assert [s["drill_share"] for s in meta["stages"]] == [0.0, 0.5] and meta["stages"][1]["init"].endswith("stage1")
    assert (tmp_path / "model.safetensors").read_bytes() == (tmp_path / "stage2" / "model.safetensors").read_bytes()
    assert not (tmp_path / "resume").exists()  # the shipped folder holds the checkpoint, not the resume state
    run_stages(tmp_path, stages)
    assert capsys.readouterr().out.count("done already") == 2
    shipped = json.loads((Path(nano_checkpoint().path) / "gptoss_lab.json").read_text())["stages"]
    assert SHIPPED[0]["model"]["rope_parameters"]["rope_type"] == "default" and len(SHIPPED) == len(shipped) == 9
    for recipe, stage in zip(SHIPPED, shipped, strict=True):  # the recipes here are the checkpoint's own
        assert all(stage[key] == value for key, value in recipe.items() if key != "model"), (recipe, stage)


def test_the_shipped_stages_command_line(tmp_path, monkeypatch):
    import gptoss_lab.nano.stages as S
    import gptoss_lab.nano.train as T

    calls = []
    monkeypatch.setattr(S, "run_stages", lambda out, **kw: calls.append((out, kw)))
    T.main(["--shipped", "--out", str(tmp_path), "--threads", "1"])
    assert calls == [(tmp_path, {"threads": 1, "save_minutes": None})]
    with pytest.raises(SystemExit):
        T.main(["--shipped", "--out", str(tmp_path), "--lr", "1e-3"])  # the stages fix their own schedules


def _text_and_learned(tokenizer: Any, pieces: list[tuple[str, bool]]) -> tuple[str, str]:
    """A drill row's whole text, and the part of it its labels teach."""
    from gptoss_lab.nano.train import encode_drill

    _, labels = encode_drill(tokenizer, pieces)
    return "".join(piece for piece, _ in pieces), tokenizer.decode([t for t in labels if t != -100])


def _rows_with_share(tokenizer: Any, recipe: Recipe, share: str) -> list[str]:
    """The rows of a pool with the drill ``share`` at 0.5, after checking that at 0 it is ``recipe``'s pool."""
    from gptoss_lab.nano.train import pool_chunks

    assert pool_chunks(tokenizer, recipe, 0) == pool_chunks(tokenizer, replace(recipe, **{share: 0.0}), 0)
    return [
        tokenizer.decode(ids)
        for chunk in pool_chunks(tokenizer, replace(recipe, **{share: 0.5}), 0)
        for ids, _ in chunk
    ]


def test_comparison_drills_learn_only_a_true_verdict_and_leave_older_streams_alone(tokenizer):
    from gptoss_lab.nano import drill

    rng = random.Random(0)
    verdicts = []
    for _ in range(200):
        text, learned = _text_and_learned(tokenizer, drill.compare_row(rng, 6))
        for a, b, verdict in re.findall(r"^(\d+) vs (\d+): (same|differ)\.$", text, re.M):
            assert (verdict == "same") == (a == b), (a, b, verdict)
            verdicts.append(verdict)
        assert len(re.findall(r" vs ", text)) == 6
        assert learned.split() == [v for v in re.findall(r": (same|differ)\.", text)]  # the verdicts alone
    assert 0.4 < verdicts.count("same") / len(verdicts) < 0.6  # a constant verdict scores half
    misses = [drill.near_miss(random.Random(i), 6221) for i in range(300)]
    assert 6221 not in misses
    one_digit = [
        m for m in misses if len(str(m)) == 4 and sum(x != y for x, y in zip(str(m), "6221", strict=True)) == 1
    ]
    swapped = [m for m in misses if sorted(str(m)) == sorted("6221") and m != 6221]
    lengths = [m for m in misses if len(str(m)) != 4]
    assert one_digit and swapped and lengths  # every kind of slip appears
    rows = _rows_with_share(tokenizer, Recipe(batch_size=4, pool=64, drill_share=0.25), "compare_share")
    assert any(" vs " in row for row in rows)


def test_letter_drills_write_countings_own_lines_learn_only_true_verdicts_and_leave_older_streams_alone(tokenizer):
    from gptoss_lab.nano import drill

    rng = random.Random(0)
    hits = total = 0
    for _ in range(100):
        text, learned = _text_and_learned(tokenizer, drill.letter_row(rng))
        for line in text.splitlines():
            assert line.startswith("Each: ") and line.endswith(".")
            seen = 0
            for i, (n, ch, sought, verdict) in enumerate(re.findall(r"(\d+) (\w) = (\w) (no|yes \d+)", line)):
                assert int(n) == i + 1
                seen += ch == sought
                assert verdict == (f"yes {seen}" if ch == sought else "no"), line  # the running count, as counting
                hits, total = hits + (ch == sought), total + 1
        assert learned.split() == " ".join(re.findall(r"= \w (no|yes \d+)", text)).split()  # the verdicts alone
    assert 0.4 < hits / total < 0.6  # both answers common: a constant verdict scores half
    rows = _rows_with_share(
        tokenizer, Recipe(batch_size=4, pool=64, drill_share=0.25, compare_share=0.3), "letter_share"
    )
    assert any("Each: 1 " in row for row in rows)


def test_list_drills_sort_and_share_as_layout_4_does_never_on_held_out_lists(tokenizer):
    from gptoss_lab.nano import drill
    from gptoss_lab.nano.families import REGISTRY

    rng = random.Random(0)
    sorts = shares = 0
    for _ in range(150):
        text, learned = _text_and_learned(tokenizer, drill.list_row(rng))
        for order, listed, answer in re.findall(
            r"Task: sort ([\d, ]+) in (\w+) order\.\n(?:.*\n)*?Answer: ([\d, ]+)\.", text
        ):
            nums = [int(x) for x in order.split(", ")]
            assert answer == ", ".join(map(str, sorted(nums, reverse=listed == "descending")))
            assert not REGISTRY["sort"].held_out({"nums": nums})  # the eval's lists stay unseen
            sorts += 1
        for total, x, facts, q in re.findall(r"^(\d+)/(\d+): (.*), so (\d+)\.$", text, re.M):
            assert int(total) == int(x) * int(q) and facts.endswith(f"{q}*{x}={total}")
            shares += 1
        assert "Task:" not in learned and ("Left:" in learned or ", so " in learned)  # the work, not the task
    assert sorts > 100 and shares > 50
    # the sort a row writes is the family's own high-effort work, line for line
    row = "".join(p for p, _ in drill.list_row(random.Random(3), 1))
    assert re.search(r"^Left: .*\. (Smallest|Largest): \d+\.$", row, re.M) and "\nSo: " in row
    eighth = "".join(p for p, _ in drill.list_row(random.Random(3), 1, layout=8))  # layout 8 sorts as 4 does
    assert eighth == row
    for seed in range(40):  # and takes a share's divisor away, as its stories do
        fourth, eighth = (drill.list_row(random.Random(seed), 1, layout=n) for n in (4, 8))
        if re.match(r"\d+/\d+:", fourth[0][0]):
            assert [p for p, learned in fourth if not learned] == [p for p, learned in eighth if not learned]
            taken = "".join(p for p, _ in eighth)
            for total, x, takes, q in re.findall(r"^(\d+)/(\d+): (.*), so (\d+)\.$", taken, re.M):
                assert takes.startswith(f"1: {total}-{x}=") and takes.endswith(f"{q}: {x}-{x}=0")
                shares += 1
    assert shares > 60
    recipe = Recipe(batch_size=4, pool=64, drill_share=0.25, compare_share=0.3, letter_share=0.3)
    rows = _rows_with_share(tokenizer, recipe, "list_share")
    assert any(re.match(r"Task: sort |\d+/\d+: 1\*", row) for row in rows)  # a list row, not a conversation


def test_default_rope_is_saved_as_yarn_with_factor_1_and_computes_the_same(tmp_path):
    from transformers import AutoModelForCausalLM, GptOssConfig, GptOssForCausalLM

    from gptoss_lab.nano.train import servable_rope

    config = GptOssConfig(**{**MODEL_CONFIG, "hidden_size": 64, "intermediate_size": 64, "vocab_size": 300})
    config.rope_parameters = {"rope_type": "default", "rope_theta": 10000.0}
    torch.manual_seed(0)
    GptOssForCausalLM(config).save_pretrained(tmp_path / "default")
    (tmp_path / "yarn").mkdir()
    for item in (tmp_path / "default").iterdir():
        (tmp_path / "yarn" / item.name).write_bytes(item.read_bytes())
    servable_rope(tmp_path / "yarn" / "config.json")
    rope = json.loads((tmp_path / "yarn" / "config.json").read_text())["rope_parameters"]
    assert rope["rope_type"] == "yarn" and rope["factor"] == 1.0 and rope["rope_theta"] == 10000.0  # what vLLM reads
    assert {"beta_fast", "beta_slow", "original_max_position_embeddings"} <= set(rope)
    ids = torch.randint(0, 300, (1, 300))  # past the sliding window
    with torch.no_grad():
        a, b = (AutoModelForCausalLM.from_pretrained(tmp_path / d)(ids).logits for d in ("default", "yarn"))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    servable_rope(tmp_path / "yarn" / "config.json")  # YaRN already: left as it is
    assert json.loads((tmp_path / "yarn" / "config.json").read_text())["rope_parameters"] == rope


def test_the_shipped_checkpoint_was_trained_by_the_stages_that_shipped_runs():
    from gptoss_lab.nano import CHECKPOINT_DIR
    from gptoss_lab.nano.stages import SHIPPED

    stages = json.loads((CHECKPOINT_DIR / "gptoss_lab.json").read_text())["stages"]
    assert len(stages) == len(SHIPPED)
    for number, (fields, saved) in enumerate(zip(SHIPPED, stages, strict=True), 1):
        recipe = Recipe(**saved)
        assert {k: getattr(recipe, k) for k in fields} == fields, f"stage {number}"
        assert recipe.init == ("" if number == 1 else f"stage{number - 1}")  # each from the one before
