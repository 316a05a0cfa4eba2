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

__all__ = ["FamilyScore", "ForcedScore", "evaluate", "teacher_forced"]


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


def _generate_batch(loaded: Any, prompts: list[str], max_new_tokens: int) -> list[list[int]]:
    """Greedy completions for a batch of prompts (left-padded), cut after the first stop token."""
    import torch

    tok = loaded.tokenizer
    encoded = [loaded.encode(p) for p in prompts]
    width = max(map(len, encoded))
    pad = tok.pad_token_id
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


def evaluate(
    loaded: Any,
    *,
    effort: str,
    n: int,
    families: tuple[str, ...] = tasks.FAMILIES,
    seed: int = 1234,
    batch_size: int = 32,
    max_new_tokens: int = 320,
) -> list[FamilyScore]:
    """Score ``loaded`` (a :class:`gptoss_lab.model.LoadedModel`) on ``n`` held-out examples per family."""
    identity = loaded.identity
    examples = tasks.generate(n * len(families), seed=seed, split="eval", families=families, efforts=(effort,))
    prompts = [render_prompt(ex.messages, effort=effort, model_identity=identity) for ex in examples]
    completions: list[list[int]] = []
    for i in range(0, len(prompts), batch_size):
        completions += _generate_batch(loaded, prompts[i : i + batch_size], max_new_tokens)
    return_id = loaded.codec.special_ids["<|return|>"]
    by_family: dict[str, list[tuple[bool, bool, int]]] = {f: [] for f in families}
    for ex, ids in zip(examples, completions, strict=True):
        messages = parse_completion(ids, loaded.codec)
        final = "".join(m.content for m in messages if m.channel == "final")
        analysis_tokens = sum(len(loaded.encode(m.content)) for m in messages if m.channel == "analysis")
        by_family[ex.family].append(
            (tasks.grade(ex.family, final, ex.target), _valid(messages, ids, return_id), analysis_tokens)
        )
    scores = []
    for family, rows in by_family.items():
        k = max(1, len(rows))
        scores.append(
            FamilyScore(
                family,
                len(rows),
                sum(r[0] for r in rows) / k,
                sum(r[1] for r in rows) / k,
                sum(r[2] for r in rows) / k,
            )
        )
    return scores


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


def scores_to_dict(scores: list[FamilyScore], *, model: str, effort: str) -> dict[str, Any]:
    overall = {
        "accuracy": sum(s.accuracy * s.n for s in scores) / max(1, sum(s.n for s in scores)),
        "format_valid": sum(s.format_valid * s.n for s in scores) / max(1, sum(s.n for s in scores)),
    }
    return {"model": model, "effort": effort, "families": [asdict(s) for s in scores], "overall": overall}


def format_table(scores: list[FamilyScore], *, effort: str) -> str:
    lines = [f"effort {effort}", f"{'family':18s} {'n':>4s} {'accuracy':>9s} {'format':>7s} {'reasoning tok':>14s}"]
    for s in scores:
        lines.append(f"{s.family:18s} {s.n:4d} {s.accuracy:9.1%} {s.format_valid:7.1%} {s.mean_reasoning_tokens:14.1f}")
    return "\n".join(lines)
