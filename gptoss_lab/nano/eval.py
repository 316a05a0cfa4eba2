"""Evaluate a model on nano's task families, on held-out phrasings and numbers.

``gptoss-lab eval --model nano --effort high --n 50 --json`` reports per family: accuracy
(the final answer graded against the true value), format validity (the completion parses
into an analysis message then a final message and ends with ``<|return|>``), the mean
number of reasoning tokens (tokens of the analysis message), and how the self-check in the
reasoning behaved (:class:`FamilyScore`). ``--paraphrase K`` asks each question in K wordings
and reports whether the answers agree (:func:`paraphrase_agreement`). Decoding is greedy and batched.

The counting is pure: :func:`summarize`, :func:`pooled` and :func:`agreement_scores` take plain
records, so their arithmetic is tested without a model.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..harmony import parse_completion, render_prompt
from . import tasks

__all__ = [
    "Agreement",
    "Conversation",
    "FamilyScore",
    "ForcedScore",
    "Graded",
    "agreement_scores",
    "answer_eval_set",
    "count_scores",
    "evaluate",
    "expert_load",
    "format_agreement",
    "format_table",
    "grade_conversation",
    "graded",
    "paraphrase_agreement",
    "pooled",
    "pooled_agreement",
    "score",
    "scores_to_dict",
    "summarize",
    "teacher_forced",
]


# ----------------------------------------------------------------------------- pure counting


@dataclass(frozen=True)
class Graded:
    """One answered conversation, reduced to what :class:`FamilyScore` counts."""

    family: str
    right: bool  # the final message gives the target
    valid: bool  # analysis then final, ending with <|return|>
    reasoning_tokens: int
    checked: bool  # the analysis ran a check
    fired: bool  # the check found a mismatch (a Redo: line)
    first_right: bool  # the analysis's first Answer: line gives the target


@dataclass
class FamilyScore:
    """One family's scores at one effort.

    ``accuracy``, ``format_valid``, ``mean_reasoning_tokens``: see the module's docstring. The
    self-check, read from the analysis text (:func:`tasks.read_reasoning`): ``check_rate``, share of
    conversations that ran a check; ``fire_rate``, share of those where the check found a mismatch;
    ``fix_rate``, share of fired ones whose first ``Answer:`` was wrong and whose final answer is
    right; ``false_pass``, share of checked conversations with a wrong final answer where the check
    did not fire (it passed the wrong answer). A rate is None when its denominator (``n_checked``,
    ``n_fired``, ``n_wrong_checked``) is 0: low effort never checks, and "0% of nothing" would read
    as a finding.
    """

    family: str
    n: int
    accuracy: float
    format_valid: float
    mean_reasoning_tokens: float
    check_rate: float
    fire_rate: float | None
    fix_rate: float | None
    false_pass: float | None
    n_checked: int
    n_fired: int
    n_wrong_checked: int


def _share(hits: float, total: float) -> float | None:
    return hits / total if total else None


def summarize(family: str, records: Sequence[Graded]) -> FamilyScore:
    """The scores of ``records`` (any families) under the name ``family``."""
    n = len(records)
    checked = [r for r in records if r.checked]
    fired = [r for r in checked if r.fired]
    wrong_checked = [r for r in checked if not r.right]
    return FamilyScore(
        family,
        n,
        accuracy=_share(sum(r.right for r in records), n) or 0.0,
        format_valid=_share(sum(r.valid for r in records), n) or 0.0,
        mean_reasoning_tokens=_share(sum(r.reasoning_tokens for r in records), n) or 0.0,
        check_rate=_share(len(checked), n) or 0.0,
        fire_rate=_share(len(fired), len(checked)),
        fix_rate=_share(sum(r.right and not r.first_right for r in fired), len(fired)),
        false_pass=_share(sum(not r.fired for r in wrong_checked), len(wrong_checked)),
        n_checked=len(checked),
        n_fired=len(fired),
        n_wrong_checked=len(wrong_checked),
    )


def count_scores(records: Sequence[Graded]) -> list[FamilyScore]:
    """Per-family scores, in :data:`tasks.ALL_FAMILIES` order."""
    by_family: dict[str, list[Graded]] = {}
    for r in records:
        by_family.setdefault(r.family, []).append(r)
    order = sorted(by_family, key=tasks.ALL_FAMILIES.index)
    return [summarize(family, by_family[family]) for family in order]


def _hits(rate: float | None, total: int) -> int:
    """Back from a rate to the count it was made of (exact: rates are ratios of small ints)."""
    return round(rate * total) if rate is not None and total else 0


def pooled(scores: Sequence[FamilyScore], family: str = "all") -> FamilyScore:
    """One score over every conversation behind ``scores``: what :func:`summarize` gives on them all."""
    n = sum(s.n for s in scores)
    checked = sum(s.n_checked for s in scores)
    fired = sum(s.n_fired for s in scores)
    wrong_checked = sum(s.n_wrong_checked for s in scores)
    return FamilyScore(
        family,
        n,
        accuracy=_share(sum(_hits(s.accuracy, s.n) for s in scores), n) or 0.0,
        format_valid=_share(sum(_hits(s.format_valid, s.n) for s in scores), n) or 0.0,
        mean_reasoning_tokens=_share(sum(s.mean_reasoning_tokens * s.n for s in scores), n) or 0.0,
        check_rate=_share(checked, n) or 0.0,
        fire_rate=_share(fired, checked),
        fix_rate=_share(sum(_hits(s.fix_rate, s.n_fired) for s in scores), fired),
        false_pass=_share(sum(_hits(s.false_pass, s.n_wrong_checked) for s in scores), wrong_checked),
        n_checked=checked,
        n_fired=fired,
        n_wrong_checked=wrong_checked,
    )


@dataclass
class Agreement:
    """Whether the model gives one answer to one question asked in ``k`` wordings.

    ``agreement``: share of the ``n`` questions whose ``k`` final answers all give the same value
    (:func:`tasks.answer_value`; an answer with no value disagrees with every other); ``accuracy``:
    share of the ``k * n`` answers graded right. A model that reads the problem, not the phrasing,
    agrees even where it is wrong.
    """

    family: str
    n: int
    k: int
    agreement: float
    accuracy: float


def _agree(values: Sequence[str | None]) -> bool:
    return None not in values and len(set(values)) == 1


def agreement_scores(questions: Sequence[tuple[str, Sequence[tuple[str | None, bool]]]]) -> list[Agreement]:
    """Per family, from ``(family, [(answer value, graded right) for each wording])`` per question."""
    by_family: dict[str, list[Sequence[tuple[str | None, bool]]]] = {}
    for family, answers in questions:
        by_family.setdefault(family, []).append(answers)
    rows = []
    for family in sorted(by_family, key=tasks.ALL_FAMILIES.index):
        groups = by_family[family]
        k = len(groups[0])
        agree = sum(_agree([value for value, _ in g]) for g in groups)
        right = sum(ok for g in groups for _, ok in g)
        rows.append(Agreement(family, len(groups), k, agree / len(groups), right / sum(map(len, groups))))
    return rows


def pooled_agreement(rows: Sequence[Agreement], family: str = "all") -> Agreement:
    """One row over every question behind ``rows``."""
    n = sum(r.n for r in rows)
    answers = sum(r.n * r.k for r in rows)
    agree = sum(_hits(r.agreement, r.n) for r in rows)
    right = sum(_hits(r.accuracy, r.n * r.k) for r in rows)
    k = rows[0].k if rows else 0
    return Agreement(family, n, k, _share(agree, n) or 0.0, _share(right, answers) or 0.0)


# ----------------------------------------------------------------------------- answering


def _valid(messages: list[Any], ids: list[int], return_id: int) -> bool:
    channels = [m.channel for m in messages]
    return channels == ["analysis", "final"] and bool(ids) and ids[-1] == return_id


def _text(messages: list[Any], channel: str) -> str:
    return "".join(m.content for m in messages if m.channel == channel)


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


def _progress_bar(total: int, desc: str, show: bool) -> Any:
    """A tqdm bar on stderr (stdout may carry JSON); with ``show`` off, one that prints nothing."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="conv", file=sys.stderr, disable=not show, leave=False)


@dataclass
class Conversation:
    """One held-out example with the model's greedy answer: prompt and completion token ids."""

    example: tasks.Example
    prompt_ids: list[int]
    completion_ids: list[int]


#: Room for the longest reference reasoning at each effort (a high-effort product with its check and
#: a redo runs to about 800 tokens), so that a long but right answer is never cut off.
MAX_NEW_TOKENS = {"low": 160, "medium": 320, "high": 1100}


def _answer(
    loaded: Any,
    examples: list[tasks.Example],
    *,
    effort: str,
    batch_size: int,
    max_new_tokens: int | None,
    progress: bool,
) -> list[Conversation]:
    prompts = [
        loaded.encode(render_prompt(ex.messages, effort=effort, model_identity=loaded.identity)) for ex in examples
    ]
    limit = max_new_tokens or MAX_NEW_TOKENS[effort]
    # a batch runs until its longest reply ends: batch a family with itself (long products with long products)
    order = sorted(range(len(examples)), key=lambda i: (tasks.ALL_FAMILIES.index(examples[i].family), i))
    completions: dict[int, list[int]] = {}
    with _progress_bar(len(prompts), f"answering ({effort})", progress) as bar:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            for i, ids in zip(rows, _generate_batch(loaded, [prompts[i] for i in rows], limit), strict=True):
                completions[i] = ids
            bar.update(len(rows))
    return [Conversation(ex, prompts[i], completions[i]) for i, ex in enumerate(examples)]


def answer_eval_set(
    loaded: Any,
    *,
    effort: str,
    n: int,
    families: tuple[str, ...] = tasks.FAMILIES,
    seed: int = 1234,
    batch_size: int = 32,
    max_new_tokens: int | None = None,
    progress: bool = False,
    split: str = "eval",
) -> list[Conversation]:
    """``n`` held-out examples per family at ``effort``, answered greedily by ``loaded``.

    ``progress`` shows a bar on stderr (the CLI turns it on when stderr is a terminal). ``split="train"``
    draws them from the training distribution instead (bench/nano_split_gap.py compares the two).
    """
    examples = tasks.generate(n * len(families), seed=seed, split=split, families=families, efforts=(effort,))
    return _answer(
        loaded, examples, effort=effort, batch_size=batch_size, max_new_tokens=max_new_tokens, progress=progress
    )


def grade_conversation(
    family: str, target: str, analysis: str, final: str, *, valid: bool, reasoning_tokens: int
) -> Graded:
    """Grade the final text and the reasoning's first ``Answer:`` line; read whether a check ran and fired."""
    reading = tasks.read_reasoning(analysis)
    first = reading.first_answer
    return Graded(
        family,
        right=tasks.grade(family, final, target),
        valid=valid,
        reasoning_tokens=reasoning_tokens,
        checked=reading.checked,
        fired=reading.fired,
        first_right=first is not None and tasks.grade(family, first, target),
    )


def graded(loaded: Any, conversations: list[Conversation]) -> list[Graded]:
    """Each conversation's :class:`Graded` record (parses the completions; no forward pass)."""
    return_id = loaded.codec.special_ids["<|return|>"]
    records = []
    for c in conversations:
        messages = parse_completion(c.completion_ids, loaded.codec)
        record = grade_conversation(
            c.example.family,
            c.example.target,
            _text(messages, "analysis"),
            _text(messages, "final"),
            valid=_valid(messages, c.completion_ids, return_id),
            reasoning_tokens=sum(len(loaded.encode(m.content)) for m in messages if m.channel == "analysis"),
        )
        records.append(record)
    return records


def score(loaded: Any, conversations: list[Conversation]) -> list[FamilyScore]:
    """Per-family :class:`FamilyScore`, in :data:`tasks.ALL_FAMILIES` order; :func:`pooled` makes the "all" row."""
    return count_scores(graded(loaded, conversations))


def evaluate(loaded: Any, **options: Any) -> list[FamilyScore]:
    """Score ``loaded`` (a :class:`gptoss_lab.model.LoadedModel`) on ``n`` held-out examples per family.

    Takes :func:`answer_eval_set`'s keyword arguments (``effort``, ``n``, ``families``, ``seed``...).
    """
    return score(loaded, answer_eval_set(loaded, **options))


def paraphrase_agreement(
    loaded: Any,
    *,
    effort: str,
    n: int,
    families: tuple[str, ...] = tasks.FAMILIES,
    seed: int = 1234,
    k: int = 5,
    batch_size: int = 32,
    max_new_tokens: int | None = None,
    progress: bool = False,
) -> list[Agreement]:
    """``n`` held-out questions per family, each asked in ``k`` wordings (:func:`tasks.paraphrases`)
    and answered greedily: per family, how often the ``k`` answers agree, and their accuracy."""
    if k < 2:
        raise ValueError(f"paraphrase agreement needs at least 2 wordings per question, got k={k}")
    questions = tasks.generate(n * len(families), seed=seed, split="eval", families=families, efforts=(effort,))
    wordings = [tasks.paraphrases(ex, k, seed=seed + i) for i, ex in enumerate(questions)]
    conversations = _answer(
        loaded,
        [w for group in wordings for w in group],
        effort=effort,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        progress=progress,
    )
    answers = []
    for c in conversations:
        final = _text(parse_completion(c.completion_ids, loaded.codec), "final")
        family = c.example.family
        answers.append((tasks.answer_value(family, final), tasks.grade(family, final, c.example.target)))
    each = iter(answers)  # in the order asked: question by question, wording by wording
    return agreement_scores(
        [(ex.family, [next(each) for _ in group]) for ex, group in zip(questions, wordings, strict=True)]
    )


def expert_load(loaded: Any, conversations: list[Conversation], *, progress: bool = False) -> Any:
    """numpy (L, E): each expert's share of its layer's token-slots over the conversations'
    tokens, prompts and completions (each token fills top-k slots in every layer)."""
    import numpy as np
    import torch

    from ..capture import RoutingCapture

    n_experts = loaded.model.config.num_local_experts
    counts = None
    with _progress_bar(len(conversations), "expert load", progress) as bar:
        for c in conversations:
            ids = torch.tensor([c.prompt_ids + c.completion_ids], device=loaded.device)
            with RoutingCapture(loaded.model) as cap, torch.inference_mode():
                loaded.model(input_ids=ids)
            _logits, experts, _weights = cap.arrays()  # experts (T, L, k)
            one = np.stack(
                [np.bincount(experts[:, layer].ravel(), minlength=n_experts) for layer in range(experts.shape[1])]
            )
            counts = one if counts is None else counts + one
            bar.update()
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


def _without_family(row: Any) -> dict[str, Any]:
    return {key: value for key, value in asdict(row).items() if key != "family"}


def scores_to_dict(
    scores: list[FamilyScore],
    *,
    model: str,
    effort: str,
    load: Any = None,
    agreement: Sequence[Agreement] | None = None,
) -> dict[str, Any]:
    """The ``--json`` report for one effort: per family, ``overall`` (every conversation pooled),
    and, when given, expert load and paraphrase agreement. Rates without a denominator are null."""
    out: dict[str, Any] = {
        "model": model,
        "effort": effort,
        "families": [asdict(s) for s in scores],
        "overall": _without_family(pooled(scores)),
    }
    if load is not None:
        out["expert_load"] = {"min": float(load.min()), "max": float(load.max()), "per_layer": load.round(4).tolist()}
    if agreement is not None:
        out["paraphrase"] = {
            "families": [asdict(a) for a in agreement],
            "overall": _without_family(pooled_agreement(agreement)),
        }
    return out


def load_line(load: Any) -> str:
    """``expert load: 4.1%-22.0% of a layer's token-slots (lowest: layer 2, expert 5)``."""
    layer, expert = divmod(int(load.argmin()), load.shape[1])
    return (
        f"expert load: {load.min():.1%}-{load.max():.1%} of a layer's token-slots "
        f"(lowest: layer {layer}, expert {expert})"
    )


def _rate(value: float | None, width: int) -> str:
    return f"{'-' if value is None else format(value, '.1%'):>{width}s}"


def _score_row(s: FamilyScore) -> str:
    cells = [f"{s.family:18s}", f"{s.n:4d}", _rate(s.accuracy, 8), _rate(s.format_valid, 7)]
    cells += [f"{s.mean_reasoning_tokens:10.1f}", *(_rate(v, 6) for v in (s.check_rate, s.fire_rate, s.fix_rate))]
    return " ".join([*cells, _rate(s.false_pass, 10)])


def format_table(scores: list[FamilyScore], *, effort: str) -> str:
    """The terminal table for one effort, an "all" row (every conversation pooled) and a legend; 83 columns."""
    header = f"{'family':18s} {'n':>4s} {'accuracy':>8s} {'format':>7s} {'reason tok':>10s} "
    header += f"{'check':>6s} {'fires':>6s} {'fixes':>6s} {'false pass':>10s}"
    lines = [f"effort {effort}", header, *map(_score_row, scores), "-" * len(header), _score_row(pooled(scores))]
    lines.append("check: ran one; fires: of checked, found a mismatch; fixes: of fired, wrong first answer")
    lines.append("made right; false pass: of checked with a wrong final answer, the check passed it; -: none")
    return "\n".join(lines)


def format_agreement(rows: Sequence[Agreement], *, effort: str) -> str:
    """The paraphrase table for one effort, with an "all" row."""
    k = rows[0].k if rows else 0
    header = f"{'family':18s} {'questions':>9s} {'agree':>7s} {'accuracy':>8s}"
    lines = [f"effort {effort}, each question in {k} wordings: all answers agree / answers right", header]
    every = [*rows, pooled_agreement(rows)]
    for i, r in enumerate(every):
        if i == len(rows):
            lines.append("-" * len(header))
        lines.append(f"{r.family:18s} {r.n:9d} {_rate(r.agreement, 7)} {_rate(r.accuracy, 8)}")
    return "\n".join(lines)
