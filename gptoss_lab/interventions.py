"""Interventions: switch experts, attention sinks and heads off (or force experts) while the model runs.

>>> with lab.intervene(ablate_experts={1: [3]}, heads_off={2: [0]}):   # around any call
...     lab.ask("What is 17 + 25?")
>>> lab.ask("What is 17 + 25?", intervene={"sinks": 0})                 # or for one reply
>>> with interventions.apply(model, Interventions(force_experts={0: [2, 5]})):   # a bare transformers model
...     model(input_ids)

One spec, :class:`Interventions`, four kinds (layers, experts and heads count from 0, as in a Trace):

* ``ablate_experts={layer: [expert, ...]}``: the router may not choose them; each token gets the next-best
  experts instead, mixed by the softmax over the chosen logits as always. Path: the router's ``bias``
  entries are set to the dtype's most negative finite value (minus infinity in effect, finite so no kernel
  meets ``inf - inf``). Every path computes its logits as ``hidden @ router.weight.T + router.bias``: the
  router module on the eager/grouped-mm path, and transformers' MXFP4 GPU kernel path
  (``integrations/mxfp4.py``: ``Mxfp4GptOssMLP.forward`` calls ``linear(hidden, router.weight, router.bias)``
  and hands the logits to the Triton ``routing`` kernel, never calling the router module), so the bias
  reaches both, and the routing capture (which reads the router's output, or recomputes it from weight and
  bias on the kernel path) records what was chosen: an ablated expert never appears, its logit is -inf.
* ``force_experts={layer: [expert, ...]}``: exactly ``top_k`` experts, the set every token is routed to.
  Path: the router's bias, as above, on every other expert; the weights among the forced ones are the
  softmax over their own logits, exactly.
* ``sinks=scale`` (every layer) or ``{layer: scale}``: each head's learned sink logit gets ``log(scale)``
  added, so the sink's ``exp`` is multiplied by ``scale``; ``0`` switches the sink off (no sink mass: each
  attention row sums to 1 over the keys). Path: the ``self_attn.sinks`` parameter, which eager, flex and
  flash attention all read when they run.
* ``heads_off={layer: [head, ...]}``: those heads' outputs are zeroed before ``o_proj`` (a forward pre-hook
  on ``self_attn.o_proj``, which every attention implementation calls, the MXFP4 path included: only the
  experts are quantized), so the head contributes nothing to the residual stream.

Every loading path takes all four: bf16 or float32, MXFP4 experts dequantized or on the kernels (as above),
bitsandbytes 4/8-bit (it quantizes the attention projections, never the router or the sinks) and ``device_map``
with every layer on a device (the CPU ones on tiny checkpoints: ``tests/integration/test_interventions_formats.py``;
their cost: ``bench/gpu_check.py``). A layer that ``device_map``
offloads (to disk, or to the CPU behind a GPU) is the exception: its parameters sit on the meta device and
accelerate reads the stored values in for every forward, so an edit in place would never reach the model, and
``ablate_experts``, ``force_experts`` and ``sinks`` on it are refused before anything changes (an OptionError,
one line, naming the layers kept on a device); ``heads_off``, a hook, reaches offloaded layers too.

Parameters are edited in place and restored bit for bit, and hooks removed, on exit, errors and Ctrl-C
included. Nested interventions stack (and unwind in order). :func:`active` says which are on for a model:
the local backend writes that into ``Reply.interventions`` and the trace's ``config["interventions"]``,
a list of small dicts (:func:`summary` turns it into the line a reply's display shows).

No torch at import time: torch is imported inside the functions that touch the model.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

from .errors import OptionError

__all__ = ["KINDS", "Applied", "Interventions", "Shape", "active", "apply", "summary"]

#: The keywords of :class:`Interventions` (and of ``lab.intervene``).
KINDS = ("ablate_experts", "force_experts", "sinks", "heads_off")
_EXAMPLES = {
    "ablate_experts": "ablate_experts={1: [3]}",
    "force_experts": "force_experts={1: [0, 3]}",
    "sinks": "sinks=0 (every layer) or sinks={1: 0.5}",
    "heads_off": "heads_off={2: [0]}",
}


@dataclass(frozen=True)
class Shape:
    """What an intervention may name: layers, experts per layer, experts chosen per token, heads per layer."""

    layers: int
    experts: int
    top_k: int
    heads: int

    @classmethod
    def of_config(cls, config: Mapping[str, Any] | Any) -> Shape | None:
        """From a config.json dict or a transformers config; None when it lacks a gpt-oss MoE's sizes."""
        get = config.get if isinstance(config, Mapping) else lambda name: getattr(config, name, None)
        values = [
            get("num_hidden_layers"),
            get("num_local_experts"),
            get("num_experts_per_tok") or get("experts_per_token"),
            get("num_attention_heads"),
        ]
        return cls(*map(int, values)) if all(isinstance(v, int) for v in values) else None


@dataclass(frozen=True)
class Interventions:
    """What to change, by kind (see the module docstring); an empty spec changes nothing.

    ``Interventions.of(...)`` takes a spec, a dict of these keywords, or None; :meth:`check` validates it
    against a model's :class:`Shape` and returns it normalised (sorted tuples, ``sinks`` per layer).
    """

    ablate_experts: Mapping[int, Iterable[int]] = field(default_factory=dict)
    force_experts: Mapping[int, Iterable[int]] = field(default_factory=dict)
    sinks: float | Mapping[int, float] = field(default_factory=dict)
    heads_off: Mapping[int, Iterable[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: Interventions | Mapping[str, Any] | None = None, **kinds: Any) -> Interventions:
        """A spec from a spec, a dict of :data:`KINDS` keywords, or keywords (merged; keywords win)."""
        base = {} if spec is None else (_fields(spec) if isinstance(spec, Interventions) else spec)
        if not isinstance(base, Mapping):
            raise OptionError(
                f"intervene must be a dict of {', '.join(KINDS)} (or an Interventions), got "
                f"{type(spec).__name__}: e.g. intervene={{'ablate_experts': {{1: [3]}}}}"
            )
        merged = {**base, **kinds}
        unknown = [str(k) for k in merged if k not in KINDS]
        if unknown:
            raise OptionError(
                f"unknown intervention {unknown[0]!r}: use {', '.join(KINDS)}, e.g. ablate_experts={{1: [3]}}"
            )
        return cls(**{k: v for k, v in merged.items() if v is not None})

    def __bool__(self) -> bool:
        return bool(self.ablate_experts or self.force_experts or self.heads_off or _has_sinks(self.sinks))

    def check(self, shape: Shape) -> Interventions:
        """This spec normalised, or an OptionError naming the rule, the value and the valid range."""
        ablate = _index_sets("ablate_experts", self.ablate_experts, shape.layers, shape.experts, "expert")
        force = _index_sets("force_experts", self.force_experts, shape.layers, shape.experts, "expert")
        heads = _index_sets("heads_off", self.heads_off, shape.layers, shape.heads, "head")
        for layer, experts in ablate.items():
            most = shape.experts - shape.top_k
            if len(experts) > most:
                raise OptionError(
                    f"ablate_experts: {len(experts)} of layer {layer}'s {shape.experts} experts off leaves fewer "
                    f"than the {shape.top_k} the router picks per token: switch at most {most} off in a layer"
                )
        for layer, experts in force.items():
            if len(experts) != shape.top_k:
                raise OptionError(
                    f"force_experts: layer {layer} names {len(experts)} expert{'s' * (len(experts) != 1)}; a forced "
                    f"set is exactly the {shape.top_k} experts the router picks per token: e.g. "
                    f"force_experts={{{layer}: {list(range(shape.top_k))}}}"
                )
            if layer in ablate:
                raise OptionError(
                    f"layer {layer} is in both force_experts and ablate_experts: forcing a set already decides "
                    f"every expert of the layer, so name layer {layer} in one of them"
                )
        sinks = _sink_scales(self.sinks, shape.layers)
        return Interventions(ablate, force, sinks, heads)

    def describe(self) -> list[dict[str, Any]]:
        """Small JSON-ready dicts, one per layer and kind, of a :meth:`check`-ed spec."""
        out: list[dict[str, Any]] = []
        for kind, key in (("ablate_experts", "experts"), ("force_experts", "experts"), ("heads_off", "heads")):
            for layer, items in sorted(getattr(self, kind).items()):
                out.append({"kind": kind, "layer": int(layer), key: [int(i) for i in items]})
        sinks = self.sinks if isinstance(self.sinks, Mapping) else {}
        out += [{"kind": "sinks", "layer": int(layer), "scale": float(s)} for layer, s in sorted(sinks.items())]
        return out


def _fields(spec: Interventions) -> dict[str, Any]:
    return {kind: getattr(spec, kind) for kind in KINDS}


def _has_sinks(sinks: Any) -> bool:
    return bool(sinks) if isinstance(sinks, Mapping) else sinks is not None


def _whole(kind: str, what: str, value: Any, top: int, where: str = "") -> int:
    """``value`` as an index in 0..top-1, or an OptionError naming the valid range."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise OptionError(
            f"{kind}: {what} {value!r}{where} is not a whole number: {what}s are 0 to {top - 1}, e.g. {_EXAMPLES[kind]}"
        )
    if not 0 <= int(value) < top:
        raise OptionError(
            f"{kind}: {what} {value}{where} does not exist: {what}s are 0 to {top - 1} (this model has {top})"
        )
    return int(value)


def _index_sets(kind: str, value: Any, layers: int, top: int, what: str) -> dict[int, tuple[int, ...]]:
    """{layer: sorted unique indices} from ``{layer: index or [indices]}``, every index checked."""
    if not isinstance(value, Mapping):
        raise OptionError(
            f"{kind} must be a dict of layer -> {what}s, got {type(value).__name__}: e.g. {_EXAMPLES[kind]}"
        )
    out: dict[int, tuple[int, ...]] = {}
    for layer, items in value.items():
        layer = _whole(kind, "layer", layer, layers)
        items = [items] if isinstance(items, Integral) else items
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise OptionError(f"{kind}: layer {layer} maps to {items!r}, not a list of {what}s: e.g. {_EXAMPLES[kind]}")
        chosen = tuple(sorted({_whole(kind, what, i, top, f" in layer {layer}") for i in items}))
        if chosen:
            out[layer] = chosen
    return out


def _sink_scales(value: Any, layers: int) -> dict[int, float]:
    """{layer: scale} from one scale for every layer or ``{layer: scale}``; each finite and at least 0."""
    if not isinstance(value, Mapping):
        value = dict.fromkeys(range(layers), value)
    out = {}
    for layer, scale in value.items():
        layer = _whole("sinks", "layer", layer, layers)
        if isinstance(scale, bool) or not isinstance(scale, Real) or not math.isfinite(scale) or scale < 0:
            raise OptionError(
                f"sinks: the scale for layer {layer} must be a number 0 or above (0 switches the sink off, 1 "
                f"leaves it), got {scale!r}: e.g. {_EXAMPLES['sinks']}"
            )
        out[layer] = float(scale)
    return out


def summary(described: list[dict[str, Any]]) -> str:
    """One line for a reply's display, "experts 3 off in layer 1; head 0 off in layer 2"; "" for none."""
    groups: dict[str, list[int]] = {}  # what was done -> the layers it was done in
    for item in described:
        kind, layer = item.get("kind"), int(item.get("layer", -1))
        if kind in ("ablate_experts", "force_experts", "heads_off"):
            key = "heads" if kind == "heads_off" else "experts"
            items = [int(i) for i in item.get(key, [])]
            noun = ("head" if kind == "heads_off" else "expert") + "s" * (len(items) != 1)
            verb = "forced" if kind == "force_experts" else "off"
            what = f"{noun} {', '.join(map(str, items))} {verb}"
        elif kind == "sinks":
            scale = float(item.get("scale", 1.0))
            what = "sinks off" if scale == 0 else f"sinks ×{scale:g}"
        else:
            what = f"{kind}"
        groups.setdefault(what, []).append(layer)
    return "; ".join(f"{what} in {_layers(layers)}" for what, layers in groups.items())


def _layers(layers: list[int]) -> str:
    """ "layer 1", "layers 0-3, 5"."""
    ranges: list[list[int]] = []
    for n in sorted(set(layers)):
        if ranges and n == ranges[-1][1] + 1:
            ranges[-1][1] = n
        else:
            ranges.append([n, n])
    words = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
    return f"layer{'s' * (len(set(layers)) != 1)} {words}"


# --------------------------------------------------------------------------------------------- on a model

#: The interventions in effect on each model, outermost first (weak: a dropped model drops its entry).
_ACTIVE: weakref.WeakKeyDictionary[Any, list[Applied]] = weakref.WeakKeyDictionary()


def active(model: Any) -> list[dict[str, Any]]:
    """What is in effect on ``model`` now, as :meth:`Interventions.describe` dicts ([] when nothing is)."""
    return [item for applied in _ACTIVE.get(model, []) for item in applied.spec.describe()]


def model_shape(model: Any) -> Shape:
    """The sizes an intervention may name, read from the model's own modules."""
    layers = _layers_of(model)
    first = layers[0]
    return Shape(len(layers), int(first.mlp.router.weight.shape[0]), int(first.mlp.router.top_k), _heads(first))


def _layers_of(model: Any) -> list[Any]:
    layers = list(getattr(getattr(model, "model", None), "layers", None) or [])
    if not layers or not all(hasattr(getattr(x, "mlp", None), "router") and hasattr(x, "self_attn") for x in layers):
        raise OptionError(
            f"{type(model).__name__} is not a gpt-oss model (model.model.layers[i].mlp.router and .self_attn): "
            "interventions need one, e.g. Lab('nano')"
        )
    return layers


def _heads(layer: Any) -> int:
    return int(layer.self_attn.sinks.shape[0])


def apply(model: Any, spec: Interventions | Mapping[str, Any] | None = None, **kinds: Any) -> Applied:
    """A context manager that puts ``spec`` on ``model`` (checked now, against the model) and always takes
    it off again: ``with apply(model, ablate_experts={1: [3]}): ...``. An empty spec changes nothing."""
    checked = Interventions.of(spec, **kinds)
    return Applied(model, checked.check(model_shape(model)) if checked else checked)


class Applied:
    """One checked spec on one model: parameters edited and hooks put on at enter, undone at exit."""

    def __init__(self, model: Any, spec: Interventions) -> None:
        self.model = model
        self.spec = spec
        self._saved: list[tuple[Any, Any]] = []  # (parameter, its value before), restored last-first
        self._handles: list[Any] = []
        self._on = False

    def __enter__(self) -> Applied:
        if self._on:
            raise RuntimeError("this intervention is already on: enter it once")
        if not self.spec:
            return self
        _check_reachable(self.spec, _layers_of(self.model))
        others = _ACTIVE.setdefault(self.model, [])
        _check_against(self.spec, others, model_shape(self.model))
        others.append(self)
        self._on = True
        try:
            self._put_on()
        except BaseException:  # Ctrl-C halfway: what was changed is undone
            self.remove()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def _put_on(self) -> None:
        import torch

        layers = _layers_of(self.model)
        with torch.no_grad():
            for layer, experts in self.spec.ablate_experts.items():
                self._fill(layers[layer].mlp.router.bias, list(experts))
            for layer, experts in self.spec.force_experts.items():
                bias = layers[layer].mlp.router.bias
                self._fill(bias, [e for e in range(bias.shape[0]) if e not in experts])
            sinks = self.spec.sinks if isinstance(self.spec.sinks, Mapping) else {}
            for layer, scale in sinks.items():
                param = layers[layer].self_attn.sinks
                if scale == 0:
                    self._fill(param, list(range(param.shape[0])))
                else:
                    self._save(param).add_(math.log(scale))
        for layer, heads in self.spec.heads_off.items():
            attn = layers[layer].self_attn
            hook = _zero_heads(list(heads), _heads(layers[layer]))
            self._handles.append(attn.o_proj.register_forward_pre_hook(hook))

    def _save(self, param: Any) -> Any:
        self._saved.append((param, param.detach().clone()))
        return param.data

    def _fill(self, param: Any, index: list[int]) -> None:
        """Set those entries to the most negative finite value of the parameter's dtype: -inf in effect."""
        import torch

        self._save(param)[index] = torch.finfo(param.dtype).min

    def remove(self) -> None:
        """Undo everything this intervention did (safe to call twice)."""
        import torch

        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        with torch.no_grad():
            while self._saved:
                param, before = self._saved.pop()
                param.data.copy_(before)
        if self._on:
            stack = _ACTIVE.get(self.model, [])
            if self in stack:
                stack.remove(self)
            if not stack:
                _ACTIVE.pop(self.model, None)
            self._on = False


def _check_against(spec: Interventions, others: list[Applied], shape: Shape) -> None:
    """Refuse a spec that, with the interventions already on, would leave a layer too few experts."""
    for layer, experts in spec.ablate_experts.items():
        off = set(experts).union(*(o.spec.ablate_experts.get(layer, ()) for o in others))
        if len(off) > shape.experts - shape.top_k:
            raise OptionError(
                f"ablate_experts: with the interventions already on, {len(off)} of layer {layer}'s {shape.experts} "
                f"experts would be off, more than the {shape.experts - shape.top_k} a layer can lose: switch fewer off"
            )
    touched = {layer for o in others for layer in (*o.spec.ablate_experts, *o.spec.force_experts)}
    for layer in spec.force_experts:
        if layer in touched:
            raise OptionError(
                f"force_experts: layer {layer}'s experts are already changed by an intervention in effect: "
                "leave that `with` block first"
            )
    forced = {layer for o in others for layer in o.spec.force_experts}
    for layer in spec.ablate_experts:
        if layer in forced:
            raise OptionError(
                f"ablate_experts: layer {layer}'s experts are forced by an intervention in effect: leave that `with` "
                "block first"
            )


def _check_reachable(spec: Interventions, layers: list[Any]) -> None:
    """Refuse to edit a parameter that is offloaded: device_map put its layer on disk (or on the CPU behind a
    GPU), so it sits on the meta device and accelerate reads the stored value in for every forward, and an edit
    in place would never reach the model."""
    sinks = spec.sinks if isinstance(spec.sinks, Mapping) else {}
    edits = [(kind, layer, "router") for kind in ("ablate_experts", "force_experts") for layer in getattr(spec, kind)]
    edits += [("sinks", layer, "sinks parameter") for layer in sinks]
    for kind, layer, part in edits:
        if _edited(layers[layer], part).device.type == "meta":
            kept = [i for i, x in enumerate(layers) if _edited(x, part).device.type != "meta"]
            on = f"{_layers(kept)} {'is' if len(kept) == 1 else 'are'} on one" if kept else "none is"
            raise OptionError(
                f"{kind}: layer {layer}'s {part} is offloaded by device_map (accelerate reads it in for every "
                f"forward), so an edit would not reach it: name layers kept on a device ({on}), switch heads off "
                "instead (heads_off reaches every layer), or load the model so it fits (e.g. quant='bnb-4bit')"
            )


def _edited(layer: Any, part: str) -> Any:
    """The parameter an intervention edits in place: the router's bias, or the attention sinks."""
    return layer.mlp.router.bias if part == "router" else layer.self_attn.sinks


def _zero_heads(heads: list[int], n_heads: int) -> Any:
    """A pre-hook on ``o_proj`` that zeroes those heads' slices of its input (B, S, H * D)."""

    def pre(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        x = args[0]
        per_head = x.reshape(*x.shape[:-1], n_heads, -1).clone()  # (B, S, H, D)
        per_head[..., heads, :] = 0
        return (per_head.reshape(x.shape), *args[1:])

    return pre
