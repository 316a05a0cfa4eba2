"""gpt-oss-nano's training tokens/s: the current recipe's step against the previous one, in one process.

    python bench/nano_train_speed.py [--batches 2] [--rounds 2] [--threads 1]

"before" is the previous step: attention with the sink as a 33-wide query and key but a 32-wide
value (which sends ``scaled_dot_product_attention`` to its unfused math path), transformers'
default experts (``grouped_mm``, a slow fallback on CPU), and the vocabulary head over every
position. Each next path adds one change of :mod:`gptoss_lab.nano.train`: "+attention"
(:func:`sdpa_with_sinks`: one head size, the fused CPU kernel, shared KV heads), "+experts"
(:func:`experts_by_expert`), "+head" (:func:`lm_loss` projects only the labelled positions),
"+prefix" (the batch's shared system-message prefix runs once, :func:`forward_shared_prefix`; the
current ``train_step``). Every path trains a copy of the same model on the same batches (bucketed
as in training), rounds alternate, and the first step's losses are printed side by side: the
paths compute the same thing. One thread by default: on a machine whose other core is busy, two
threads wait for each other at every operation (bench/threads.py).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's recipe


def before_sdpa_with_sinks(module, query, key, value, attention_mask, scaling, dropout=0.0, **_):
    """The previous ``sdpa_with_sinks``, kept as the baseline."""
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
    mask = F.pad(mask, (0, 1), value=0.0 if mask.dtype.is_floating_point else True)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, scale=scaling)
    return out.transpose(1, 2).contiguous(), None  # (B, S, H, D)


def before_train_step(model, optimizer, batch, lr):
    """The previous ``train_step``: logits at every position, then the loss on the labelled ones."""
    import torch
    import torch.nn.functional as F

    from gptoss_lab.nano.train import balance_loss

    ids, labels, mask = batch
    for group in optimizer.param_groups:
        group["lr"] = lr
    out = model(input_ids=ids, attention_mask=mask, output_router_logits=True)
    aux = balance_loss(out.router_logits, mask, model.config.num_experts_per_tok)
    loss = F.cross_entropy(out.logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100)
    (loss + model.config.router_aux_loss_coef * aux).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach()), float(aux.detach())


def head_train_step(model, optimizer, batch, lr):
    """The step before the shared prefix: the whole batch through the model, the head on labelled positions."""
    from gptoss_lab.nano.train import train_step

    return train_step(model, optimizer, batch, lr, share_prefix=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import eager_mask

    from gptoss_lab.nano import train as T

    torch.set_num_threads(args.threads)
    recipe = T.Recipe(pool=48 * 8, tokenizer_examples=600)
    tokenizer = T.build_tokenizer(recipe)
    data = T.batches(tokenizer, recipe)
    batches = [next(data) for _ in range(args.batches)]
    AttentionInterface.register("before_sdpa_with_sinks", before_sdpa_with_sinks)
    AttentionMaskInterface.register("before_sdpa_with_sinks", eager_mask)
    ours, by_expert = T.register_attention(), T.register_experts()
    paths = {  # name: (attention, experts, step)
        "before": ("before_sdpa_with_sinks", "grouped_mm", before_train_step),
        "+attention": (ours, "grouped_mm", before_train_step),
        "+experts": (ours, by_expert, before_train_step),
        "+head": (ours, by_expert, head_train_step),
        "+prefix": (ours, by_expert, T.train_step),
    }
    start = T.build_model(tokenizer, recipe).train()
    runs = {}
    for name, (attention, experts, step) in paths.items():
        model = copy.deepcopy(start)
        model.config._attn_implementation, model.config._experts_implementation = attention, experts
        runs[name] = (step, model, T.build_optimizer(model, recipe))
    first = {name: step(model, opt, batches[0], recipe.lr)[0] for name, (step, model, opt) in runs.items()}  # warm-up
    print("first-step loss  " + "  ".join(f"{name} {loss:.6f}" for name, loss in first.items()))
    tokens = sum(int(mask.sum()) for _, _, mask in batches)
    rates: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.rounds):
        for name, (step, model, opt) in runs.items():
            t0 = time.perf_counter()
            for batch in batches:
                step(model, opt, batch, recipe.lr)
            rates[name].append(tokens / (time.perf_counter() - t0))
    widths = [b[0].shape[1] for b in batches]
    print(
        f"{len(batches)} batches of {recipe.batch_size}, widths {widths}; {args.rounds} rounds, {args.threads} threads"
    )
    base = statistics.median(rates["before"])
    for name in paths:
        rate = statistics.median(rates[name])
        print(f"{name:11s} {rate:8.0f} tok/s   x{rate / base:.2f} of before")


if __name__ == "__main__":
    main()
