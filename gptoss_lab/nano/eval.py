"""Evaluate a model on nano's task families, on held-out phrasings and numbers.

``gptoss-lab eval --model nano --effort high --n 50 --json`` reports per family: accuracy
(the final answer graded against the true value), format validity (the completion parses
into an analysis message then a final message and ends with ``<|return|>``) and the mean
number of reasoning tokens (tokens of the analysis message). Decoding is greedy and batched.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..harmony import parse_completion, render_prompt
from . import tasks

__all__ = [
    "Conversation",
    "FamilyScore",
    "ForcedScore",
    "answer_eval_set",
    "evaluate",
    "expert_load",
    "score",
    "teacher_forced",
]


@dataclass
class FamilyScore:
    family: str
    n: int
    accuracy: float
    format_valid: float
    mean_reasoning_tokens: float


def _valid(messages: list[Any], ids: list[int], return_id: int) -> bool:
    channels = [m.channel for m in messages]
    return channels == ["analysis", "final"] and bool(ids) and ids[-1] == return_id


def _generate_batch(loaded: Any, encoded: list[list[int]], max_new_tokens: int) -> list[list[int]]:
    """Greedy completions for a batch of encoded prompts (left-padded), cut after the first stop token."""
    import torch

    width = max(map(len, encoded))
    pad = loaded.tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(e)) + e for e in encoded])
    mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in encoded])
    with torch.inference_mode():
        out = loaded.model.generate(
            input_ids=ids.to(loaded.device),
            attention_mask=mask.to(loaded.device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=list(loaded.stop_ids),
            pad_token_id=pad,
        )
    completions = []
    for row in out[:, width:].tolist():
        stop = next((i for i, t in enumerate(row) if t in loaded.stop_ids), None)
        completions.append(row if stop is None else row[: stop + 1])
    return completions


@dataclass
class Conversation:
    """One held-out example with the model's greedy answer: prompt and completion token ids."""

    example: tasks.Example
    prompt_ids: list[int]
    completion_ids: list[int]


def answer_eval_set(
    loaded: Any,
    *,
    effort: str,
    n: int,
    families: tuple[str, ...] = tasks.FAMILIES,
    seed: int = 1234,
    batch_size: int = 32,
    max_new_tokens: int = 320,
) -> list[Conversation]:
    """``n`` held-out examples per family at ``effort``, answered greedily by ``loaded``."""
    examples = tasks.generate(n * len(families), seed=seed, split="eval", families=families, efforts=(effort,))
    prompts = [
        loaded.encode(render_prompt(ex.messages, effort=effort, model_identity=loaded.identity)) for ex in examples
    ]
    completions: list[list[int]] = []
    for i in range(0, len(prompts), batch_size):
        completions += _generate_batch(loaded, prompts[i : i + batch_size], max_new_tokens)
    return [Conversation(*row) for row in zip(examples, prompts, completions, strict=True)]


def score(loaded: Any, conversations: list[Conversation]) -> list[FamilyScore]:
    """Accuracy, format validity and mean reasoning tokens per family, in :data:`tasks.ALL_FAMILIES` order."""
    return_id = loaded.codec.special_ids["<|return|>"]
    by_family: dict[str, list[tuple[bool, bool, int]]] = {}
    for c in conversations:
        messages = parse_completion(c.completion_ids, loaded.codec)
        final = "".join(m.content for m in messages if m.channel == "final")
        analysis_tokens = sum(len(loaded.encode(m.content)) for m in messages if m.channel == "analysis")
        by_family.setdefault(c.example.family, []).append(
            (
                tasks.grade(c.example.family, final, c.example.target),
                _valid(messages, c.completion_ids, return_id),
                analysis_tokens,
            )
        )
    return [
        FamilyScore(family, len(rows), *(sum(r[i] for r in rows) / len(rows) for i in range(3)))
        for family, rows in sorted(by_family.items(), key=lambda item: tasks.ALL_FAMILIES.index(item[0]))
    ]


def evaluate(loaded: Any, **options: Any) -> list[FamilyScore]:
    """Score ``loaded`` (a :class:`gptoss_lab.model.LoadedModel`) on ``n`` held-out examples per family.

    Takes :func:`answer_eval_set`'s keyword arguments (``effort``, ``n``, ``families``, ``seed``...).
    """
    return score(loaded, answer_eval_set(loaded, **options))


def expert_load(loaded: Any, conversations: list[Conversation]) -> Any:
    """numpy (L, E): each expert's share of its layer's token-slots over the conversations'
    tokens, prompts and completions (each token fills top-k slots in every layer)."""
    import numpy as np
    import torch

    from ..capture import RoutingCapture

    n_experts = loaded.model.config.num_local_experts
    counts = None
    for c in conversations:
        ids = torch.tensor([c.prompt_ids + c.completion_ids], device=loaded.device)
        with RoutingCapture(loaded.model) as cap, torch.inference_mode():
            loaded.model(input_ids=ids)
        _logits, experts, _weights = cap.arrays()  # experts (T, L, k)
        one = np.stack(
            [np.bincount(experts[:, layer].ravel(), minlength=n_experts) for layer in range(experts.shape[1])]
        )
        counts = one if counts is None else counts + one
    if counts is None:
        raise ValueError("no conversations to measure")
    return counts / counts.sum(axis=1, keepdims=True)


@dataclass
class ForcedScore:
    """How well a model predicts the reference completions, token by token (teacher forcing).

    ``token_accuracy``: share of completion tokens that are the model's top choice given the reference
    before them; ``exact``: share of completions it gets wholly right, which greedy decoding would then
    reproduce. Comparing ``split="train"`` with ``"eval"`` separates what a model learned by heart
    (right on training words and phrasings only) from what it can carry to new ones.
    """

    family: str
    split: str
    n: int
    token_accuracy: float
    exact: float


def teacher_forced(
    loaded: Any,
    *,
    split: str,
    effort: str = "high",
    n: int = 24,
    families: tuple[str, ...] = tasks.FAMILIES,
    seed: int = 7,
) -> list[ForcedScore]:
    """Teacher-forced scores of ``loaded`` on ``n`` examples per family of ``split`` ("train" or "eval")."""
    import torch

    scores = []
    for family in families:
        examples = tasks.generate(n, seed=seed, split=split, families=(family,), efforts=(effort,))
        right = total = exact = 0
        for ex in examples:
            prompt = loaded.encode(render_prompt(ex.messages, effort=effort, model_identity=loaded.identity))
            target = loaded.encode(tasks.completion_text(ex))
            ids = torch.tensor([prompt + target], device=loaded.device)  # (1, T)
            with torch.inference_mode():
                logits = loaded.model(input_ids=ids).logits[0, len(prompt) - 1 : -1]  # (len(target), V)
            hits = (logits.argmax(-1).cpu() == torch.tensor(target)).tolist()
            right, total, exact = right + sum(hits), total + len(hits), exact + all(hits)
        scores.append(ForcedScore(family, split, len(examples), right / max(1, total), exact / max(1, len(examples))))
    return scores


def scores_to_dict(scores: list[FamilyScore], *, model: str, effort: str, load: Any = None) -> dict[str, Any]:
    overall = {
        "accuracy": sum(s.accuracy * s.n for s in scores) / max(1, sum(s.n for s in scores)),
        "format_valid": sum(s.format_valid * s.n for s in scores) / max(1, sum(s.n for s in scores)),
    }
    out = {"model": model, "effort": effort, "families": [asdict(s) for s in scores], "overall": overall}
    if load is not None:
        out["expert_load"] = {"min": float(load.min()), "max": float(load.max()), "per_layer": load.round(4).tolist()}
    return out


def load_line(load: Any) -> str:
    """``expert load: 4.1%-22.0% of a layer's token-slots (lowest: layer 2, expert 5)``."""
    layer, expert = divmod(int(load.argmin()), load.shape[1])
    return (
        f"expert load: {load.min():.1%}-{load.max():.1%} of a layer's token-slots "
        f"(lowest: layer {layer}, expert {expert})"
    )


def format_table(scores: list[FamilyScore], *, effort: str) -> str:
    lines = [f"effort {effort}", f"{'family':18s} {'n':>4s} {'accuracy':>9s} {'format':>7s} {'reasoning tok':>14s}"]
    for s in scores:
        lines.append(f"{s.family:18s} {s.n:4d} {s.accuracy:9.1%} {s.format_valid:7.1%} {s.mean_reasoning_tokens:14.1f}")
    return "\n".join(lines)
