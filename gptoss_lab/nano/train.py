"""Train gpt-oss-nano on CPU: ``python -m gptoss_lab.nano.train --out DIR`` (one stage).

The shipped checkpoint is nine such stages (:data:`gptoss_lab.nano.stages.SHIPPED`), each from the one before:
``--shipped`` runs them all (:mod:`gptoss_lab.nano.stages`). One stage, all fixed and seeded:

1. Generate harmony conversations from :mod:`gptoss_lab.nano.tasks` (train split only).
2. Build the tokenizer's vocabulary from a sample of them (:mod:`gptoss_lab.nano.tokenizer`).
3. Train transformers' ``GptOssForCausalLM`` (the unchanged architecture) with AdamW, loss on
   the assistant's completion tokens only, less the deliberate slips the reasoning catches
   (:func:`encode`), plus gpt-oss's load-balancing loss counted in each layer
   (:func:`balance_loss`) so no expert idles. Batches are bucketed by length to waste little
   on padding.
4. Save config, weights, tokenizer and ``gptoss_lab.json`` (identity, recipe, seed), and every
   ``save_minutes`` a resume state in ``resume/``: ``--resume DIR`` continues the run and ends
   with the weights an uninterrupted run would have (the data stream is a function of seed
   and step).

Training attends through :func:`sdpa_with_sinks`: PyTorch's fused attention with the learned
sink appended as one extra key, which computes exactly what the eager implementation does
(tests compare them) at about twice the speed on CPU. Its experts run through
:func:`experts_by_expert` (eager's arithmetic, one gather and one scatter), and the vocabulary
head sees only the labelled positions (:func:`lm_loss`); ``bench/nano_train_speed.py`` times
all three against the previous step. The saved model runs with eager attention like any gpt-oss.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..harmony import render_prompt
from . import drill, tasks
from .tokenizer import IDENTITY

__all__ = ["MODEL_CONFIG", "Recipe", "experts_by_expert", "sdpa_with_sinks", "train"]


#: gpt-oss at toy scale: the 20b has 24 layers, hidden 2880, 64/8 heads, 32 experts top-4, window 128.
MODEL_CONFIG: dict[str, Any] = dict(
    hidden_size=192,
    intermediate_size=192,
    num_hidden_layers=4,  # sliding, full, sliding, full
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=32,
    num_local_experts=8,
    num_experts_per_tok=2,
    sliding_window=128,  # as on the real models; nano's high-effort chains run to ~850 tokens
    max_position_embeddings=2048,
    router_aux_loss_coef=0.05,  # weight of balance_loss (per layer)
    rope_parameters={
        "rope_type": "yarn",
        "factor": 4.0,
        "beta_fast": 32.0,
        "beta_slow": 1.0,
        "truncate": False,
        "original_max_position_embeddings": 512,
        "rope_theta": 150000.0,
    },
)


@dataclass(frozen=True)
class Recipe:
    """Every knob of a training run; saved next to the weights."""

    seed: int = 0
    steps: int = 2800  # the first of the shipped stages (nano/stages.py)
    batch_size: int = 48
    lr: float = 3e-3
    min_lr: float = 1e-4
    warmup: int = 150
    weight_decay: float = 0.05
    vocab_size: int = 1024
    tokenizer_examples: int = 6000
    follow_up_share: float = 0.15  # conversations with an earlier question and answer in the history
    pool: int = 4096  # examples generated at a time, then bucketed by length
    threads: int = 2
    save_minutes: float = 4.0  # wall time between checkpoints (with resume state); 0: only at the end
    drill_share: float = 0.0  # share of batches that are digit-fact drills (:mod:`.drill`), not conversations
    compare_share: float = 0.0  # share of drill rows that drill the check's verdict (``A vs B: same.``) instead
    letter_share: float = 0.0  # share of drill rows that drill counting's verdicts (:func:`.drill.letter_row`)
    list_share: float = 0.0  # share of drill rows that drill sorting's and sharing's lines (:func:`.drill.list_row`)
    layout: int = 1  # the scratchpads (nano.families.LAYOUTS); 1 for recipes saved before layouts existed
    weights: dict[str, int] = field(default_factory=dict)  # round-robin turns per family (1 when absent)
    init: str = ""  # a checkpoint directory to start from (its weights, tokenizer and optimizer moments)
    model: dict[str, Any] = field(default_factory=dict)  # overrides of MODEL_CONFIG

    @classmethod
    def saved(cls, out: Path) -> Recipe:
        """The recipe a checkpoint directory was trained with (its ``gptoss_lab.json``)."""
        return cls(**json.loads((out / "gptoss_lab.json").read_text())["recipe"])


#: What a resumed run may change: how long it runs and how often it saves, not what it learns.
RESUMABLE_CHANGES = ("steps", "save_minutes", "threads")


def sdpa_with_sinks(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float, dropout: float = 0.0, **_: Any
) -> tuple[Any, None]:
    """gpt-oss attention (learned sink per head) through ``scaled_dot_product_attention``.

    The sink is one more key that every query sees: q' = [q, sink / scale], k' = [k, 0],
    k_sink = [0, 1], v_sink = 0, so its logit is exactly ``sink`` and its value adds nothing,
    which is what the eager implementation's extra softmax column does. The sink rides in the
    query, so the key-value heads stay shared (``enable_gqa``), and the values get the same
    extra (zero) column as queries and keys: PyTorch's fused CPU kernel wants one head size.
    """
    import torch
    import torch.nn.functional as F

    B, H, S, D = query.shape  # (B, H, S, D)
    kv_heads = key.shape[1]
    sink = (module.sinks.to(query.dtype) / scaling).view(1, H, 1, 1).expand(B, H, S, 1)
    q = torch.cat([query, sink], dim=-1)  # (B, H, S, D+1)
    sink_key = F.pad(key.new_ones(B, kv_heads, 1, 1), (D, 0))  # (B, Hkv, 1, D+1): [0, ..., 0, 1]
    k = torch.cat([F.pad(key, (0, 1)), sink_key], dim=2)  # (B, Hkv, Sk+1, D+1)
    v = F.pad(value, (0, 1, 0, 1))  # (B, Hkv, Sk+1, D+1)
    mask = attention_mask[..., : key.shape[2]]
    mask = F.pad(mask, (0, 1), value=0.0 if mask.dtype.is_floating_point else True)  # the sink is always visible
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, dropout_p=dropout, scale=scaling, enable_gqa=kv_heads != H
    )  # (B, H, S, D+1)
    return out[..., :D].transpose(1, 2).contiguous(), None  # (B, S, H, D)


def register_attention() -> str:
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import eager_mask

    AttentionInterface.register("sdpa_with_sinks", sdpa_with_sinks)
    AttentionMaskInterface.register("sdpa_with_sinks", eager_mask)  # always a full additive mask
    return "sdpa_with_sinks"


def experts_by_expert(module: Any, hidden_states: Any, top_k_index: Any, top_k_weights: Any) -> Any:
    """gpt-oss's experts (``GptOssExperts``), computed as eager does, with one gather and one scatter.

    transformers' eager loop gathers each expert's tokens by index, whose backward is a slow
    accumulating ``index_put``; its default ``grouped_mm`` is slower still on CPU. Sorting the
    (token, slot) pairs by expert once makes each expert's rows one contiguous slice.
    """
    import torch

    experts = top_k_index.reshape(-1)  # (T*k,)
    order = experts.argsort(stable=True)  # slots grouped by expert
    token = order // top_k_index.shape[1]  # (T*k,) the token of each sorted slot
    rows = hidden_states.index_select(0, token)  # (T*k, hidden)
    outs = []
    for e, part in enumerate(rows.split(torch.bincount(experts, minlength=module.num_experts).tolist())):
        gate_up = part @ module.gate_up_proj[e] + module.gate_up_proj_bias[e]
        outs.append(module._apply_gate(gate_up) @ module.down_proj[e] + module.down_proj_bias[e])
    weighted = torch.cat(outs) * top_k_weights.reshape(-1, 1).index_select(0, order)  # (T*k, hidden)
    return torch.zeros_like(hidden_states).index_add_(0, token, weighted.to(hidden_states.dtype))


def register_experts() -> str:
    from transformers.integrations.moe import ExpertsInterface

    ExpertsInterface.register("experts_by_expert", experts_by_expert)
    return "experts_by_expert"


def conversation(ex: tasks.Example, earlier: tasks.Example | None) -> tuple[str, str]:
    """(prompt, completion) text; ``earlier`` adds a past turn to the history."""
    messages = list(ex.messages)
    if earlier is not None:
        dev = [m for m in messages if m["role"] in ("system", "developer")]
        rest = [m for m in messages if m["role"] not in ("system", "developer")]
        past = [m for m in earlier.messages if m["role"] == "user"]
        turn = {"role": "assistant", "content": earlier.answer, "thinking": earlier.analysis}
        messages = [*dev, *past, turn, *rest]
    return render_prompt(messages, effort=ex.effort, model_identity=IDENTITY), tasks.completion_text(ex)


def encode(tokenizer: Any, ex: tasks.Example, earlier: tasks.Example | None) -> tuple[list[int], list[int]]:
    """Token ids of one conversation and their labels: the completion, less its masked spans.

    A masked span is a deliberate slip in the reasoning that the model should learn to catch:
    its tokens stay in the input (the model sees the slip and the correction after it) but
    get label -100, so training never teaches the model to make it.
    """
    prompt, completion = conversation(ex, earlier)
    p_ids = tokenizer.encode(prompt, add_special_tokens=False)
    enc = tokenizer(completion, add_special_tokens=False, return_offsets_mapping=True)
    spans = tasks.completion_spans(ex)
    labels = [
        -100 if any(start < m_end and m_start < end for m_start, m_end in spans) else token
        for token, (start, end) in zip(enc["input_ids"], enc["offset_mapping"], strict=True)
    ]
    return p_ids + enc["input_ids"], [-100] * len(p_ids) + labels


def encode_drill(tokenizer: Any, pieces: list[tuple[str, bool]]) -> tuple[list[int], list[int]]:
    """Token ids of a drill row (:func:`.drill.drill_row`) and their labels: the learned pieces only."""
    text, spans, at = "", [], 0
    for piece, learned in pieces:
        if learned:
            spans.append((at, at + len(piece)))
        text, at = text + piece, at + len(piece)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = [
        token if any(start < s_end and s_start < end for s_start, s_end in spans) else -100
        for token, (start, end) in zip(enc["input_ids"], enc["offset_mapping"], strict=True)
    ]
    return enc["input_ids"], labels


def drill_row(rng: random.Random, recipe: Recipe) -> list[tuple[str, bool]]:
    """One drill row: a list row with ``list_share`` chance, a letter row with ``letter_share``, a comparison
    row with ``compare_share``, else digit facts (no draw for a share of 0: older streams unchanged)."""
    if recipe.list_share > 0 and rng.random() < recipe.list_share:
        return drill.list_row(rng, layout=recipe.layout)
    if recipe.letter_share > 0 and rng.random() < recipe.letter_share:
        return drill.letter_row(rng)
    if recipe.compare_share > 0 and rng.random() < recipe.compare_share:  # no draw at 0: older streams unchanged
        return drill.compare_row(rng, 8, digitwise=True) if recipe.layout >= 3 else drill.compare_row(rng)
    return drill.drill_row(rng)


def pool_chunks(tokenizer: Any, recipe: Recipe, index: int) -> list[list[tuple[list[int], list[int]]]]:
    """Pool ``index`` of the data stream as batches of (ids, labels) rows, in training order.

    Each pool is a function of (seed, index) alone, so a resumed run rebuilds exactly the
    batches an uninterrupted one would have seen. With ``drill_share``, that share of the
    batches are digit-fact drills, shuffled in among the conversations.
    """
    rng = random.Random(f"gpt-oss-nano/train-data/{recipe.seed}/{index}")  # str seeds: stable across runs
    examples = tasks.generate(
        recipe.pool,
        seed=rng.randrange(2**31),
        families=tasks.ALL_FAMILIES,
        layout=recipe.layout,
        weights=recipe.weights,
    )
    rows = []
    for ex in examples:
        earlier = rng.choice(examples) if rng.random() < recipe.follow_up_share else None
        rows.append((ex.effort, encode(tokenizer, ex, earlier)))
    # bucket by effort, then length: little padding, and a batch shares its whole system message
    rows.sort(key=lambda r: (r[0], len(r[1][0])))
    chunks = [[row for _, row in rows[i : i + recipe.batch_size]] for i in range(0, len(rows), recipe.batch_size)]
    if recipe.drill_share > 0:
        n_drill = round(len(chunks) * recipe.drill_share / (1 - recipe.drill_share))
        chunks += [
            [encode_drill(tokenizer, drill_row(rng, recipe)) for _ in range(recipe.batch_size)] for _ in range(n_drill)
        ]
    rng.shuffle(chunks)
    return chunks


def collate(chunk: list[tuple[list[int], list[int]]], pad: int) -> tuple[Any, Any, Any]:
    import torch

    width = max(len(ids) for ids, _ in chunk)
    ids = torch.full((len(chunk), width), pad, dtype=torch.long)  # (B, T)
    labels = torch.full((len(chunk), width), -100, dtype=torch.long)
    mask = torch.zeros((len(chunk), width), dtype=torch.long)
    for row, (seq, seq_labels) in enumerate(chunk):
        ids[row, : len(seq)] = torch.tensor(seq)
        labels[row, : len(seq)] = torch.tensor(seq_labels)
        mask[row, : len(seq)] = 1
    return ids, labels, mask


def batches(tokenizer: Any, recipe: Recipe, start: int = 0) -> Any:
    """Endless (input_ids, labels, attention_mask) batches, bucketed by length, from step ``start``."""
    per_pool = math.ceil(recipe.pool / recipe.batch_size)
    index, skip = divmod(start, per_pool)
    while True:
        for chunk in pool_chunks(tokenizer, recipe, index)[skip:]:
            yield collate(chunk, tokenizer.pad_token_id)
        index, skip = index + 1, 0


def build_tokenizer(recipe: Recipe) -> Any:
    from .tokenizer import train_tokenizer

    examples = tasks.generate(
        recipe.tokenizer_examples, seed=recipe.seed + 1, families=tasks.ALL_FAMILIES, layout=recipe.layout
    )
    spelled = {*tasks.TRAIN_WORDS, *tasks.EVAL_WORDS, *(ex.meta["word"] for ex in examples if "word" in ex.meta)}
    return train_tokenizer(["".join(conversation(ex, None)) for ex in examples], recipe.vocab_size, spelled)


def build_model(tokenizer: Any, recipe: Recipe) -> Any:
    import torch
    from transformers import GptOssConfig, GptOssForCausalLM

    ids = tokenizer.convert_tokens_to_ids
    config = GptOssConfig(
        vocab_size=len(tokenizer),
        eos_token_id=[ids("<|return|>"), ids("<|call|>")],
        pad_token_id=ids("<|endoftext|>"),
        bos_token_id=ids("<|startoftext|>"),
        **{**MODEL_CONFIG, **recipe.model},
    )
    torch.manual_seed(recipe.seed)
    return GptOssForCausalLM(config)


def balance_loss(router_logits: Any, mask: Any, top_k: int) -> Any:
    """gpt-oss's load-balancing loss ``E * sum_e f_e * P_e``, for each MoE layer, then averaged.

    ``f_e``: share of the (unpadded) tokens' top-k slots that go to expert e; ``P_e``: the router's
    mean softmax probability for e. Each layer's loss is ``top_k`` when its load is even, larger
    otherwise. transformers' ``load_balancing_loss_func`` pools the layers before counting, so an
    expert idle in one layer and busy in another looks balanced to it: trained that way, nano had
    experts with under 1% of a layer's tokens while the pooled loss sat at its minimum.
    """
    import torch

    valid = mask.reshape(-1).bool()
    losses = []
    for logits in router_logits:  # per layer: (B*T, E)
        probs = logits[valid].float().softmax(dim=-1)
        chosen = torch.zeros_like(probs).scatter_(1, probs.topk(top_k, dim=-1).indices, 1.0)
        losses.append(probs.shape[1] * (chosen.mean(0) * probs.mean(0)).sum())
    return torch.stack(losses).mean()


def lm_loss(hidden: Any, lm_head: Any, labels: Any) -> Any:
    """Next-token cross-entropy on the labelled positions (the completion).

    ``hidden``: the final hidden states (B, T, hidden). The head projects only the labelled
    positions: prompt and padding are over half of a batch, and the vocabulary projection and
    its softmax are the step's largest matmul.
    """
    import torch.nn.functional as F

    targets = labels[:, 1:].flatten()  # (B*(T-1),) the next token at each position
    where = (targets != -100).nonzero().squeeze(1)
    rows = hidden[:, :-1].flatten(0, 1).index_select(0, where)  # (N, hidden)
    return F.cross_entropy(lm_head(rows).float(), targets.index_select(0, where))


def lr_at(step: int, recipe: Recipe) -> float:
    if step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    progress = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
    return recipe.min_lr + 0.5 * (recipe.lr - recipe.min_lr) * (1 + math.cos(math.pi * progress))


def build_optimizer(model: Any, recipe: Recipe) -> Any:
    import torch

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    other = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": other, "weight_decay": 0.0}],
        lr=recipe.lr,
        betas=(0.9, 0.95),
    )


def shared_prefix(ids: Any, labels: Any) -> int:
    """Length of the token prefix every row of the batch shares, up to its first labelled token.

    Every conversation starts with the same system message (and, in a batch of one effort, all of
    it is the same): it is a third of an average conversation, so it is worth running once.
    """
    same = (ids == ids[:1]).all(0).int().cumprod(0)  # (T,) 1 while every row agrees
    first_label = int((labels != -100).int().argmax(1).min())  # the loss starts there in some row
    return min(int(same.sum()), first_label)


def forward_shared_prefix(model: Any, ids: Any, labels: Any, mask: Any) -> tuple[Any, Any, Any]:
    """The base model's forward (router logits too, no head) with the shared prefix run once.

    The prefix runs as one row into a KV cache, which is repeated for every row; the rest of each
    row attends to it as to its own past, and gradients flow through the repeated cache into the
    one prefix pass. Returns the output for the rest of the rows and their labels and mask (the
    prefix holds no labelled token, so the loss is the one the whole batch would give).
    """
    from .._hf import cache_keyword, new_cache

    n = shared_prefix(ids, labels)
    if n < 8 or n >= ids.shape[1] - 1:
        out = model.model(input_ids=ids, attention_mask=mask, output_router_logits=True)
        return out, labels, mask
    cache = new_cache(model.config)
    keyword = cache_keyword(model.model.forward)
    model.model(input_ids=ids[:1, :n], use_cache=True, **{keyword: cache})
    cache.batch_repeat_interleave(ids.shape[0])
    out = model.model(
        input_ids=ids[:, n:], attention_mask=mask, use_cache=True, output_router_logits=True, **{keyword: cache}
    )
    return out, labels[:, n:], mask[:, n:]


def train_step(
    model: Any, optimizer: Any, batch: tuple[Any, Any, Any], lr: float, *, share_prefix: bool = True
) -> tuple[float, float]:
    """One AdamW step on a batch; returns (lm loss, balance loss). ``share_prefix``: run the common prefix once."""
    import torch

    ids, labels, mask = batch
    for group in optimizer.param_groups:
        group["lr"] = lr
    if share_prefix:
        out, labels, mask = forward_shared_prefix(model, ids, labels, mask)
    else:
        out = model.model(input_ids=ids, attention_mask=mask, output_router_logits=True)
    aux = balance_loss(out.router_logits, mask, model.config.num_experts_per_tok)
    loss = lm_loss(out.last_hidden_state, model.lm_head, labels)
    (loss + model.config.router_aux_loss_coef * aux).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach()), float(aux.detach())


def train(
    out: Path, recipe: Recipe | None = None, *, resume: bool = False, stop_at: int | None = None, log_every: int = 100
) -> Path:
    """Run the recipe; writes the checkpoint and its resume state to ``out`` as it goes.

    ``resume``: continue the run saved in ``out`` (its recipe unless ``recipe`` is given, which
    may differ only in :data:`RESUMABLE_CHANGES`). ``stop_at``: stop after that step, saved for
    a later resume, as a run killed there would have been.
    """
    import torch

    state = load_state(out) if resume else None
    recipe = resumed_recipe(out, recipe) if resume else recipe or Recipe()
    torch.set_num_threads(recipe.threads)
    random.seed(recipe.seed)
    start_from = Path(recipe.init) if recipe.init and not resume else None
    tokenizer = load_tokenizer(out) if resume else load_tokenizer(start_from) if start_from else build_tokenizer(recipe)
    model = build_model(tokenizer, recipe)
    model.config._attn_implementation = register_attention()
    model.config._experts_implementation = register_experts()
    model.train()
    optimizer = build_optimizer(model, recipe)
    first, seen, elapsed = 0, 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        first, seen, elapsed = state["step"], state["seen"], state["elapsed"]
        print(f"resumed {out} at step {first} of {recipe.steps}", flush=True)
    elif start_from is not None:
        initialise(model, optimizer, start_from)
    last = recipe.steps if stop_at is None else min(stop_at, recipe.steps)
    data = batches(tokenizer, recipe, start=first)
    start = time.perf_counter() - elapsed  # minutes and tokens/s continue across resumes
    saved_at = time.perf_counter()
    for step in range(first, last):
        batch = next(data)
        loss, aux = train_step(model, optimizer, batch, lr_at(step, recipe))
        seen += int(batch[2].sum())
        now = time.perf_counter()
        if step % log_every == 0 or step == recipe.steps - 1:
            print(
                f"step {step:5d}  loss {loss:.4f}  aux {aux:.3f}  lr {lr_at(step, recipe):.2e}  "
                f"{seen / (now - start):7.0f} tok/s  {(now - start) / 60:5.1f} min",
                flush=True,
            )
        if recipe.save_minutes and now - saved_at >= 60 * recipe.save_minutes and step + 1 < last:
            checkpoint(model, tokenizer, optimizer, recipe, out, step=step + 1, seen=seen, elapsed=now - start)
            saved_at = time.perf_counter()
    elapsed = time.perf_counter() - start
    return checkpoint(model, tokenizer, optimizer, recipe, out, step=max(first, last), seen=seen, elapsed=elapsed)


def initialise(model: Any, optimizer: Any, start_from: Path) -> None:
    """Start from another run's checkpoint: its weights, and its optimizer's moments when it saved them.

    Keeping the moments matters: a fresh AdamW's first steps are full-size in every direction,
    which undid a fifth of a trained model's digit facts in a pilot.
    """
    from safetensors.torch import load_file

    path = start_from / "resume" / "state.pt"
    state = load_state(start_from) if path.is_file() else {"model": load_file(start_from / "model.safetensors")}
    own = model.state_dict()
    if any(own[name].shape != value.shape for name, value in state["model"].items()):
        model.load_state_dict(grown(state["model"], own))
        print(f"started from {start_from}, its attention heads grown (new heads off until trained)", flush=True)
        return  # the moments have the old shapes: a fresh optimizer, warmed up by the schedule
    model.load_state_dict(state["model"])
    if "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
        for group in optimizer.param_groups:
            group["lr"] = 0.0  # set by the schedule at every step
    print(f"started from {start_from}", flush=True)


#: The attention tensors that grow with the number of heads, and the axis each grows along.
_HEAD_AXES = {"q_proj.weight": 0, "q_proj.bias": 0, "k_proj.weight": 0, "k_proj.bias": 0, "v_proj.weight": 0}
_HEAD_AXES |= {"v_proj.bias": 0, "o_proj.weight": 1, "sinks": 0}


def grown(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's weights laid into a model with more attention heads, computing the same function.

    ``new`` is the bigger model's own (randomly initialised) state. The checkpoint's heads keep their
    places, so query head h still reads key/value head h // (heads per key/value head), which is why that
    ratio must stay; the new heads keep their random weights but write through columns of ``o_proj``
    set to zero, so they change nothing until training moves them.
    """
    for name in old:
        if name.endswith("self_attn.q_proj.weight"):
            kv = name.replace("q_proj", "k_proj")
            if old[name].shape[0] * new[kv].shape[0] != new[name].shape[0] * old[kv].shape[0]:
                raise ValueError(f"{name}: grow query and key/value heads in the same ratio")
    out = {}
    for name, value in old.items():
        target = new[name]
        if target.shape == value.shape:
            out[name] = value
            continue
        axis = next((a for suffix, a in _HEAD_AXES.items() if name.endswith("self_attn." + suffix)), None)
        if axis is None or target.dim() != value.dim() or target.shape[axis] < value.shape[axis]:
            raise ValueError(f"{name}: cannot grow {tuple(value.shape)} into {tuple(target.shape)} (only heads grow)")
        piece = target.clone()
        if name.endswith("o_proj.weight"):
            piece.zero_()
        piece.narrow(axis, 0, value.shape[axis]).copy_(value)
        out[name] = piece
    return out


def resumed_recipe(out: Path, recipe: Recipe | None) -> Recipe:
    saved = Recipe.saved(out)
    if recipe is None:
        return saved
    kept = [f.name for f in fields(Recipe) if f.name not in RESUMABLE_CHANGES]
    changed = [name for name in kept if getattr(recipe, name) != getattr(saved, name)]
    if changed:
        raise ValueError(
            f"a resumed run keeps the recipe saved in {out}; {', '.join(changed)} differ from it. "
            f"Change only {', '.join(RESUMABLE_CHANGES)}, or train afresh into another directory."
        )
    return recipe


def load_tokenizer(out: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(out)


def load_state(out: Path) -> dict[str, Any]:
    import torch

    path = out / "resume" / "state.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no resume state at {path}: train afresh (without --resume) into {out}")
    return torch.load(path, weights_only=True)


def save_state(out: Path, model: Any, optimizer: Any, *, step: int, seen: int, elapsed: float) -> None:
    """Everything a resume needs, in ``out/resume/state.pt``, replaced atomically.

    The data stream needs no state of its own: it is a function of (seed, step) (:func:`batches`).
    """
    import torch

    state = {
        "step": step,  # the next step to run
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
        "seen": seen,
        "elapsed": elapsed,
    }
    folder = out / "resume"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "state.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, folder / "state.pt")  # a kill mid-save leaves the previous state whole


def checkpoint(
    model: Any, tokenizer: Any, optimizer: Any, recipe: Recipe, out: Path, *, step: int, seen: int, elapsed: float
) -> Path:
    """The usable checkpoint, then the resume state (whose tokenizer and recipe it reads from ``out``)."""
    save(model, tokenizer, recipe, out, step=step)
    save_state(out, model, optimizer, step=step, seen=seen, elapsed=elapsed)
    return out


def servable_rope(config_json: Path) -> None:
    """Write default RoPE as YaRN with factor 1 (the same rotation): vLLM's gpt-oss reads YaRN's fields.

    With factor 1, YaRN's interpolated and extrapolated frequencies are both ``theta ** (-2i / d)``
    and its attention scale is 1, so transformers computes what default RoPE computes (a test checks
    the logits), and vLLM, whose gpt-oss always builds a YaRN rotary embedding, can serve the model.
    """
    config = json.loads(config_json.read_text())
    rope = config.get("rope_parameters") or {}
    if rope.get("rope_type", "default") != "default":
        return
    config["rope_parameters"] = {
        "rope_type": "yarn",
        "rope_theta": rope.get("rope_theta", 10000.0),
        "factor": 1.0,
        "beta_fast": 32.0,
        "beta_slow": 1.0,
        "original_max_position_embeddings": config["max_position_embeddings"],
        "truncate": False,
    }
    config_json.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def save(model: Any, tokenizer: Any, recipe: Recipe, out: Path, *, step: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    model.config._attn_implementation = "eager"  # what every user of the checkpoint runs
    model.save_pretrained(out)
    servable_rope(out / "config.json")
    model.config._attn_implementation = "sdpa_with_sinks"
    tokenizer.save_pretrained(out)
    meta = {
        "version": 1,
        "trained": True,
        "identity": IDENTITY,
        "sampling": {"temperature": 0.0, "top_p": 1.0},  # greedy: a tiny model's answers are best at its mode
        "step": step,
        "recipe": asdict(recipe),
    }
    (out / "gptoss_lab.json").write_text(json.dumps(meta, indent=1))
    return out


def parse_config(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` overrides of :data:`MODEL_CONFIG`; values read as JSON (ints, floats, objects) or text."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in MODEL_CONFIG:
            raise ValueError(f"--config takes KEY=VALUE with KEY one of {', '.join(MODEL_CONFIG)}; got {pair!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def parse_weights(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, int]:
    weights = {}
    for item in items:
        family, _, n = item.partition("=")
        if family not in tasks.ALL_FAMILIES or not n.isdigit() or int(n) < 1:
            names = ", ".join(tasks.ALL_FAMILIES)
            parser.error(f"--weight {item}: give FAMILY=N, N a whole number >= 1, FAMILY one of {names}")
        weights[family] = int(n)
    return weights


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train gpt-oss-nano on CPU (--shipped: the shipped stages).")
    parser.add_argument("--out", type=Path, help="checkpoint directory to write")
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue the run saved in DIR (and write there)")
    parser.add_argument("--steps", type=int, help=f"default {Recipe.steps}; with --resume, the saved run's")
    parser.add_argument("--seed", type=int, help=f"default {Recipe.seed}")
    parser.add_argument("--batch-size", type=int, help=f"default {Recipe.batch_size}")
    parser.add_argument("--save-minutes", type=float, help=f"default {Recipe.save_minutes}; 0: only at the end")
    parser.add_argument("--threads", type=int, help=f"default {Recipe.threads}; 1 when the other core is busy")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE", help="override MODEL_CONFIG")
    parser.add_argument("--stop-at", type=int, metavar="STEP", help="stop after STEP steps, saved for --resume")
    parser.add_argument("--init", type=Path, metavar="DIR", help="start from the checkpoint in DIR (a second stage)")
    parser.add_argument("--lr", type=float, help=f"peak learning rate; default {Recipe.lr}")
    parser.add_argument("--warmup", type=int, help=f"warm-up steps; default {Recipe.warmup}")
    parser.add_argument("--drill-share", type=float, help="share of batches that are digit-fact drills; default 0")
    parser.add_argument("--compare-share", type=float, help="share of drill rows that drill A vs B: same; default 0")
    parser.add_argument(
        "--letter-share", type=float, help="share of drill rows that drill counting's verdicts; default 0"
    )
    parser.add_argument(
        "--list-share", type=float, help="share of drill rows that drill sorting's and sharing's lines; default 0"
    )
    parser.add_argument("--layout", type=int, help="scratchpad layout (nano.families.LAYOUTS); default 1")
    parser.add_argument(
        "--weight", action="append", default=[], metavar="FAMILY=N", help="give FAMILY N turns of the round robin"
    )
    parser.add_argument(
        "--shipped", action="store_true", help="train the shipped checkpoint's stages into --out DIR (resumable)"
    )
    args = parser.parse_args(argv)
    learning = {
        k: v
        for k, v in (
            ("seed", args.seed),
            ("batch_size", args.batch_size),
            ("lr", args.lr),
            ("warmup", args.warmup),
            ("drill_share", args.drill_share),
            ("compare_share", args.compare_share),
            ("letter_share", args.letter_share),
            ("list_share", args.list_share),
            ("layout", args.layout),
            ("weights", parse_weights(parser, args.weight) if args.weight else None),
        )
        if v is not None
    }
    control = {
        k: v
        for k, v in (("steps", args.steps), ("save_minutes", args.save_minutes), ("threads", args.threads))
        if v is not None
    }
    if args.drill_share is not None and not 0 <= args.drill_share < 1:
        parser.error(
            f"--drill-share {args.drill_share:g}: a share from 0 to below 1 (0.95: one batch in 20 is conversations)"
        )
    for name, share in (
        ("--compare-share", args.compare_share),
        ("--letter-share", args.letter_share),
        ("--list-share", args.list_share),
    ):
        if share is not None and not 0 <= share <= 1:
            parser.error(f"{name} {share:g}: a share from 0 to 1")
    if args.shipped:
        from gptoss_lab.nano.stages import run_stages

        if args.out is None or args.resume or args.init or learning or args.config or args.steps or args.stop_at:
            parser.error("--shipped takes --out DIR (and --threads, --save-minutes); run it again to resume")
        run_stages(args.out, threads=args.threads, save_minutes=args.save_minutes)
        return
    if args.resume is not None:
        if args.out is not None and args.out.resolve() != args.resume.resolve():
            parser.error("--resume DIR continues in DIR: drop --out or give the same directory")
        if learning or args.config or args.init:
            parser.error("--resume keeps the saved recipe: only --steps, --save-minutes and --threads may change")
        if not (args.resume / "resume" / "state.pt").is_file():
            parser.error(f"no resume state in {args.resume / 'resume'}: train afresh with --out {args.resume}")
        train(args.resume, replace(Recipe.saved(args.resume), **control), resume=True, stop_at=args.stop_at)
        return
    if args.out is None:
        parser.error("give --out DIR (or --resume DIR)")
    try:
        model = parse_config(args.config)
    except ValueError as e:
        parser.error(str(e))
    if args.init is not None:
        if not (args.init / "gptoss_lab.json").is_file():
            parser.error(f"--init {args.init}: no nano checkpoint there (no gptoss_lab.json)")
        model = {**Recipe.saved(args.init).model, **model}  # the same architecture as the checkpoint
        learning["init"] = str(args.init)
    train(args.out, Recipe(**learning, **control, model=model), stop_at=args.stop_at)


if __name__ == "__main__":
    main()
