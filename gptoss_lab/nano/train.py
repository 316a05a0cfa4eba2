"""Train gpt-oss-nano from scratch on CPU: ``python -m gptoss_lab.nano.train --out DIR``.

The recipe (all fixed, all seeded, so one command reproduces the shipped checkpoint):

1. Generate harmony conversations from :mod:`gptoss_lab.nano.tasks` (train split only).
2. Build the tokenizer's vocabulary from a sample of them (:mod:`gptoss_lab.nano.tokenizer`).
3. Train transformers' ``GptOssForCausalLM`` (the unchanged architecture) with AdamW, loss on
   the assistant's completion tokens only, plus gpt-oss's load-balancing loss counted in each
   layer (:func:`balance_loss`) so no expert idles. Batches are bucketed by length to waste
   little on padding.
4. Save config, weights, tokenizer and ``gptoss_lab.json`` (identity, recipe, seed).

Training attends through :func:`sdpa_with_sinks`: PyTorch's fused attention with the learned
sink appended as one extra key, which computes exactly what the eager implementation does
(tests compare them) at about twice the speed on CPU. The saved model runs with eager
attention like any gpt-oss.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..harmony import render_prompt
from . import tasks
from .tokenizer import IDENTITY

__all__ = ["MODEL_CONFIG", "Recipe", "sdpa_with_sinks", "train"]


#: gpt-oss at toy scale: the 20b has 24 layers, hidden 2880, 64/8 heads, 32 experts top-4, window 128.
MODEL_CONFIG: dict[str, Any] = dict(
    hidden_size=128,
    intermediate_size=128,
    num_hidden_layers=4,  # sliding, full, sliding, full
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=32,
    num_local_experts=8,
    num_experts_per_tok=2,
    sliding_window=64,
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
    steps: int = 5000
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


def sdpa_with_sinks(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float, dropout: float = 0.0, **_: Any
) -> tuple[Any, None]:
    """gpt-oss attention (learned sink per head) through ``scaled_dot_product_attention``.

    The sink is one more key that every query sees: q' = [q, 1], k_sink = [0, sink / scale],
    v_sink = 0, so its logit is exactly ``sink`` and its value adds nothing, which is what the
    eager implementation's extra softmax column does.
    """
    import torch
    import torch.nn.functional as F

    B, H, S, D = query.shape  # (B, H, S, D)
    groups = H // key.shape[1]
    key = key.repeat_interleave(groups, dim=1)  # (B, H, Sk, D)
    value = value.repeat_interleave(groups, dim=1)
    sink = (module.sinks.to(query.dtype) / scaling).view(1, H, 1, 1).expand(B, H, 1, 1)
    q = torch.cat([query, query.new_ones(B, H, S, 1)], dim=-1)  # (B, H, S, D+1)
    k = torch.cat(
        [
            torch.cat([key, key.new_zeros(B, H, key.shape[2], 1)], dim=-1),
            torch.cat([key.new_zeros(B, H, 1, D), sink], dim=-1),
        ],
        dim=2,
    )  # (B, H, Sk+1, D+1)
    v = torch.cat([value, value.new_zeros(B, H, 1, D)], dim=2)  # (B, H, Sk+1, D)
    mask = attention_mask[..., : key.shape[2]]
    mask = F.pad(mask, (0, 1), value=0.0 if mask.dtype.is_floating_point else True)  # the sink is always visible
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, scale=scaling)
    return out.transpose(1, 2).contiguous(), None  # (B, S, H, D)


def register_attention() -> str:
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import eager_mask

    AttentionInterface.register("sdpa_with_sinks", sdpa_with_sinks)
    AttentionMaskInterface.register("sdpa_with_sinks", eager_mask)  # always a full additive mask
    return "sdpa_with_sinks"


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


def batches(tokenizer: Any, recipe: Recipe, rng: random.Random) -> Any:
    """Endless (input_ids, labels, attention_mask) batches, bucketed by length."""
    import torch

    pad = tokenizer.pad_token_id
    while True:
        examples = tasks.generate(recipe.pool, seed=rng.randrange(2**31), families=tasks.ALL_FAMILIES)
        rows = []
        for ex in examples:
            earlier = rng.choice(examples) if rng.random() < recipe.follow_up_share else None
            prompt, completion = conversation(ex, earlier)
            p_ids = tokenizer.encode(prompt, add_special_tokens=False)
            c_ids = tokenizer.encode(completion, add_special_tokens=False)
            rows.append((p_ids + c_ids, len(p_ids)))
        rows.sort(key=lambda r: len(r[0]))
        chunks = [rows[i : i + recipe.batch_size] for i in range(0, len(rows), recipe.batch_size)]
        rng.shuffle(chunks)
        for chunk in chunks:
            width = max(len(ids) for ids, _ in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            labels = torch.full((len(chunk), width), -100, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (seq, n_prompt) in enumerate(chunk):
                ids[row, : len(seq)] = torch.tensor(seq)
                labels[row, n_prompt : len(seq)] = torch.tensor(seq[n_prompt:])  # loss on the completion only
                mask[row, : len(seq)] = 1
            yield ids, labels, mask


def build_tokenizer(recipe: Recipe) -> Any:
    from .tokenizer import train_tokenizer

    examples = tasks.generate(recipe.tokenizer_examples, seed=recipe.seed + 1, families=tasks.ALL_FAMILIES)
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
        **MODEL_CONFIG,
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


def lm_loss(logits: Any, labels: Any) -> Any:
    """Next-token cross-entropy on the labelled positions (the completion)."""
    import torch.nn.functional as F

    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100)


def lr_at(step: int, recipe: Recipe) -> float:
    if step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    progress = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
    return recipe.min_lr + 0.5 * (recipe.lr - recipe.min_lr) * (1 + math.cos(math.pi * progress))


def train(out: Path, recipe: Recipe = Recipe(), *, log_every: int = 100, save_every: int = 500) -> Path:
    """Run the recipe; writes the checkpoint to ``out`` (and intermediate ones as it goes)."""
    import torch

    torch.set_num_threads(recipe.threads)
    random.seed(recipe.seed)
    rng = random.Random(recipe.seed)
    tokenizer = build_tokenizer(recipe)
    model = build_model(tokenizer, recipe)
    model.config._attn_implementation = register_attention()
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    other = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": other, "weight_decay": 0.0}],
        lr=recipe.lr,
        betas=(0.9, 0.95),
    )
    data = batches(tokenizer, recipe, rng)
    start, seen = time.perf_counter(), 0
    for step in range(recipe.steps):
        ids, labels, mask = next(data)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, recipe)
        out_ = model(input_ids=ids, attention_mask=mask, output_router_logits=True)
        aux = balance_loss(out_.router_logits, mask, model.config.num_experts_per_tok)
        loss = lm_loss(out_.logits, labels)
        (loss + model.config.router_aux_loss_coef * aux).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seen += int(mask.sum())
        if step % log_every == 0 or step == recipe.steps - 1:
            elapsed = time.perf_counter() - start
            print(
                f"step {step:5d}  loss {float(loss.detach()):.4f}  aux {float(aux.detach()):.3f}  "
                f"lr {lr_at(step, recipe):.2e}  "
                f"{seen / elapsed:7.0f} tok/s  {elapsed / 60:5.1f} min",
                flush=True,
            )
        if save_every and step and step % save_every == 0:
            save(model, tokenizer, recipe, out, step=step)
    return save(model, tokenizer, recipe, out, step=recipe.steps)


def save(model: Any, tokenizer: Any, recipe: Recipe, out: Path, *, step: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    model.config._attn_implementation = "eager"  # what every user of the checkpoint runs
    model.save_pretrained(out)
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train gpt-oss-nano on CPU (the shipped recipe by default).")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    parser.add_argument("--steps", type=int, default=Recipe.steps)
    parser.add_argument("--seed", type=int, default=Recipe.seed)
    parser.add_argument("--batch-size", type=int, default=Recipe.batch_size)
    args = parser.parse_args(argv)
    train(args.out, Recipe(seed=args.seed, steps=args.steps, batch_size=args.batch_size))


if __name__ == "__main__":
    main()
