"""Effect measurements: switch each expert, head or sink off in turn and measure what changes.

>>> result = expert_importance(lab, n=20, effort="low")   # every single-expert ablation, per task family
>>> result                                                 # the five most damaging, with per-family deltas
>>> viz.expert_importance(result)                          # layer x expert heatmap of the accuracy drop
>>> head_effects(lab), sink_effects(lab)                   # each head off; the sinks off per layer and in all

Each condition answers the same held-out questions (:func:`~gptoss_lab.nano.eval.answer_eval_set`, same seed)
as the unablated baseline, greedily, and is graded as ``gptoss-lab eval`` grades: accuracy per family, and the
share of answers (completion token ids) that changed against the baseline.

One batched eval per condition, on torch's threads (all cores: a batch of 32 conversations runs 1.45x faster
on 2 threads than on 1 here, though a single reply of nano's runs fastest on one, ``LoadedModel.threads``);
``bench/expert_importance.py`` times it. (Reading the baseline's completions back
under each ablation and regenerating only those that change was tried and measured slower on nano: a single
expert off changes nearly every answer, so all are regenerated anyway, after an extra forward pass.)

Ctrl-C (the notebook's stop button) during the conditions returns what was measured so far (the rest NaN,
``result.interrupted`` set); the interventions are always off again. No torch at import time.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CHANCE", "Effects", "expert_importance", "head_effects", "sink_effects"]

#: Accuracy of guessing, where one is meaningful: compare_decimals answers one of the two numbers it names.
CHANCE: dict[str, float] = {"compare_decimals": 0.5}


@dataclass
class Effects:
    """What switching things off did, per condition and task family.

    ``kind`` is "expert", "head" or "sink". Axes: ``accuracy`` and ``changed`` are ``grid + (F,)``:
    (L, E, F) for experts (layer, expert, family), (L, H, F) for heads, (L + 1, F) for sinks (layers 0..L-1
    each alone, then every layer at once: ``rows``). ``accuracy``: share of the ``n`` questions per family
    graded right; ``changed``: share whose answer differs from the baseline's, token for token; NaN where a
    condition was not measured (not asked for, or interrupted). ``baseline`` (F,): the unablated accuracy.
    """

    kind: str
    families: tuple[str, ...]
    n: int
    effort: str
    seed: int
    baseline: np.ndarray  # (F,)
    accuracy: np.ndarray  # grid + (F,)
    changed: np.ndarray  # grid + (F,)
    rows: tuple[str, ...] = ()  # sinks only: the label of each row
    interrupted: bool = False
    seconds: float = 0.0
    planned: int = 0  # conditions asked for (0: every one of the grid)

    @property
    def measured(self) -> np.ndarray:
        """bool, ``grid``: which conditions were measured."""
        return ~np.isnan(self.accuracy).any(axis=-1)

    def drop(self, family: str | None = None) -> np.ndarray:
        """``grid`` (or ``grid + (F,)`` with ``family="each"``): baseline minus ablated accuracy; positive hurts.

        ``family=None`` pools the families (each has ``n`` questions, so the mean).
        """
        per_family = self.baseline - self.accuracy  # grid + (F,)
        if family == "each":
            return per_family
        if family is None:
            return per_family.mean(axis=-1)
        return per_family[..., self.family_index(family)]

    def family_index(self, family: str) -> int:
        """The position of ``family`` on the last axis, or a ValueError naming the families measured."""
        if family not in self.families:
            raise ValueError(f"family must be one of {', '.join(self.families)} (measured here), got {family!r}")
        return self.families.index(family)

    def label(self, index: tuple[int, ...]) -> str:
        """ "layer 1, expert 3", "layer 2, head 0", "sinks off in layer 1" / "sinks off in every layer"."""
        if self.kind == "sink":
            return self.rows[index[0]]
        return f"layer {index[0]}, {self.kind} {index[1]}"

    def ranked(self, k: int = 5) -> list[tuple[int, ...]]:
        """The grid indices of the ``k`` most damaging measured conditions, by pooled drop."""
        pooled = np.nan_to_num(self.drop(), nan=-np.inf)
        flat = [i for i in np.argsort(-pooled, axis=None, kind="stable") if np.isfinite(pooled.flat[i])][:k]
        return [tuple(int(x) for x in np.unravel_index(i, pooled.shape)) for i in flat]

    def top(self, k: int = 5) -> list[tuple[str, float, dict[str, float]]]:
        """The ``k`` most damaging conditions: (label, pooled drop, {family: drop})."""
        pooled, each = self.drop(), self.drop("each")
        return [
            (self.label(i), float(pooled[i]), dict(zip(self.families, map(float, each[i]), strict=True)))
            for i in self.ranked(k)
        ]

    def summary(self, k: int = 5) -> str:
        """A few lines: what was measured, the baseline, and the ``k`` most damaging conditions."""
        done, total = int(self.measured.sum()), self.planned or self.measured.size
        state = f"interrupted after {done} of {total}" if self.interrupted else f"{done} of {total} measured"
        lines = [
            f"{self.kind} ablations ({state}), {self.n} questions per family at {self.effort} effort, "
            f"{self.seconds:.0f} s",
            "baseline accuracy: "
            + ", ".join(f"{f} {a:.0%}" for f, a in zip(self.families, self.baseline, strict=True)),
            "most damaging (accuracy change in points, all families, then per family; changed: answers that differ):",
        ]
        changed = self.changed.mean(axis=-1)  # grid
        for (name, pooled, per_family), index in zip(self.top(k), self.ranked(k), strict=True):
            deltas = " ".join(f"{f} {0.0 - 100 * d:+.0f}" for f, d in per_family.items())
            lines.append(f"  {name:26s} {0.0 - 100 * pooled:+6.1f}   changed {changed[index]:4.0%}   {deltas}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Effects {self.summary()}>"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, arrays as nested lists (NaN as None)."""
        out = dataclasses.asdict(self)
        for key in ("baseline", "accuracy", "changed"):
            array = getattr(self, key)
            out[key] = np.where(np.isnan(array), None, array).tolist()
        return out


# --------------------------------------------------------------------------------------------- the runs


def expert_importance(
    lab: Any,
    families: Sequence[str] | None = None,
    n: int = 20,
    *,
    effort: str = "low",
    seed: int = 1234,
    experts: Mapping[int, Iterable[int]] | None = None,
    progress: bool = True,
    batch_size: int = 32,
) -> Effects:
    """Switch each expert off alone (``ablate_experts={layer: [expert]}``) and measure, per task family.

    ``experts={layer: [expert, ...]}`` measures only those (the rest NaN); default every (layer, expert).
    ``families`` defaults to nano's task families; ``n`` questions each, at ``effort``, drawn with ``seed``.
    """
    shape = _shape(lab)
    chosen = _subset("ablate_experts", experts, shape.layers, shape.experts, "expert")
    cells = [((layer, e), {"ablate_experts": {layer: [e]}}) for layer, es in chosen.items() for e in es]
    return _measure(
        lab, "expert", (shape.layers, shape.experts), cells, families, n, effort, seed, progress, batch_size
    )


def head_effects(
    lab: Any,
    families: Sequence[str] | None = None,
    n: int = 20,
    *,
    effort: str = "low",
    seed: int = 1234,
    heads: Mapping[int, Iterable[int]] | None = None,
    progress: bool = True,
    batch_size: int = 32,
) -> Effects:
    """Switch each attention head off alone (``heads_off={layer: [head]}``); ``heads`` a subset, as ``experts``."""
    shape = _shape(lab)
    chosen = _subset("heads_off", heads, shape.layers, shape.heads, "head")
    cells = [((layer, h), {"heads_off": {layer: [h]}}) for layer, hs in chosen.items() for h in hs]
    return _measure(lab, "head", (shape.layers, shape.heads), cells, families, n, effort, seed, progress, batch_size)


def sink_effects(
    lab: Any,
    families: Sequence[str] | None = None,
    n: int = 20,
    *,
    effort: str = "low",
    seed: int = 1234,
    scale: float = 0.0,
    progress: bool = True,
    batch_size: int = 32,
) -> Effects:
    """The sinks off (``scale`` 0; or scaled) in each layer alone, then in every layer at once."""
    shape = _shape(lab)
    verb = "off" if scale == 0 else f"×{scale:g}"
    rows = (*(f"sinks {verb} in layer {layer}" for layer in range(shape.layers)), f"sinks {verb} in every layer")
    cells = [((layer,), {"sinks": {layer: scale}}) for layer in range(shape.layers)]
    cells.append(((shape.layers,), {"sinks": scale}))
    result = _measure(lab, "sink", (shape.layers + 1,), cells, families, n, effort, seed, progress, batch_size)
    return dataclasses.replace(result, rows=rows)


def _shape(lab: Any) -> Any:
    """The model's Shape from its config (before anything loads); NeedsLocalModel for a server."""
    from .interventions import Shape

    lab._interventions(None, {})  # a server: NeedsLocalModel, saying to use a local model
    config = lab.handle.config if lab.handle is not None else None
    shape = Shape.of_config(config or {})
    if shape is None:
        return _shape_of_model(lab)
    return shape


def _subset(kind: str, value: Any, layers: int, top: int, what: str) -> dict[int, tuple[int, ...]]:
    """``{layer: [index, ...]}`` checked (an OptionError naming the valid range), or every one when None."""
    from .interventions import _index_sets

    if value is None:
        return {layer: tuple(range(top)) for layer in range(layers)}
    return _index_sets(kind, value, layers, top, what)


def _shape_of_model(lab: Any) -> Any:
    from .interventions import model_shape

    with lab.local_model("measure effects") as loaded:
        return model_shape(loaded.model)


def _check(families: Sequence[str] | None, n: int, effort: str) -> tuple[str, ...]:
    from .errors import OptionError
    from .nano import tasks

    chosen = tuple(families) if families is not None else tasks.FAMILIES
    unknown = [f for f in chosen if f not in tasks.FAMILIES]
    if unknown or not chosen:
        raise OptionError(f"families must be some of {', '.join(tasks.FAMILIES)}, got {unknown or list(chosen)!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise OptionError(f"n (questions per family) must be a whole number of at least 1, got {n!r}: e.g. n=20")
    if effort not in tasks.EFFORTS:
        raise OptionError(f"effort must be one of {', '.join(tasks.EFFORTS)}, got {effort!r}")
    return chosen


def _measure(
    lab: Any,
    kind: str,
    grid: tuple[int, ...],
    cells: list[tuple[tuple[int, ...], dict[str, Any]]],
    families: Sequence[str] | None,
    n: int,
    effort: str,
    seed: int,
    progress: bool,
    batch_size: int,
) -> Effects:
    """The baseline, then each cell's spec on, graded; Ctrl-C during the cells keeps what was measured."""
    import time

    from .interventions import apply
    from .nano import eval as nano_eval

    chosen = _check(families, n, effort)
    specs = [(index, lab._interventions(spec, {})) for index, spec in cells]  # all checked before anything runs
    F = len(chosen)
    accuracy, changed = np.full((*grid, F), np.nan), np.full((*grid, F), np.nan)
    interrupted = False
    start = time.perf_counter()
    with lab.local_model("measure effects") as loaded:
        asked = {"effort": effort, "n": n, "families": chosen, "seed": seed, "batch_size": batch_size}
        base = nano_eval.answer_eval_set(loaded, **asked, progress=progress)
        baseline = _accuracy(loaded, base, chosen)
        with _bar(len(specs), f"{kind} ablations ({effort})", progress) as bar:
            done = 0
            try:
                for index, spec in specs:
                    with apply(loaded.model, spec):
                        answers = nano_eval.answer_eval_set(loaded, **asked)
                    right, moved = _accuracy(loaded, answers, chosen), _changed(base, answers, chosen)
                    accuracy[index], changed[index] = right, moved
                    done += 1
                    bar.update()
            except KeyboardInterrupt:
                interrupted = True
                print(
                    f"interrupted: {done} of {len(specs)} {kind} ablations measured; the rest are NaN", file=sys.stderr
                )
    return Effects(
        kind,
        chosen,
        n,
        effort,
        seed,
        baseline,
        accuracy,
        changed,
        interrupted=interrupted,
        seconds=time.perf_counter() - start,
        planned=len(specs),
    )


def _bar(total: int, desc: str, show: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="run", file=sys.stderr, disable=not show, leave=False)


def _accuracy(loaded: Any, conversations: list[Any], families: tuple[str, ...]) -> np.ndarray:
    """(F,) share graded right, in ``families`` order."""
    from .nano import eval as nano_eval

    records = nano_eval.graded(loaded, conversations)
    return np.array([np.mean([r.right for r in records if r.family == f]) for f in families])


def _changed(base: list[Any], answers: list[Any], families: tuple[str, ...]) -> np.ndarray:
    """(F,) share of conversations whose completion differs from the baseline's."""
    differs = [(a.example.family, a.completion_ids != b.completion_ids) for a, b in zip(answers, base, strict=True)]
    return np.array([np.mean([d for f, d in differs if f == family]) for family in families])
