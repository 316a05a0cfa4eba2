"""Trace: named arrays with axes written once, checked on construction, saved and loaded by name (no torch)."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from gptoss_lab import trace as trace_module
from gptoss_lab.trace import AXES, REQUIRED, WEIGHTED, Trace

T, L, E, K, H, KL = 6, 2, 4, 2, 3, 5  # KL: the logit lens's K


def named_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "routing_logits": rng.normal(size=(T, L, E)).astype(np.float16),
        "topk_experts": rng.integers(0, E, size=(T, L, K)).astype(np.int16),
        "topk_weights": rng.random((T, L, K)).astype(np.float32),
        "sink_mass": rng.random((T, L, H)).astype(np.float16),
        "attention_entropy": rng.random((T, L, H)).astype(np.float16),
        "lens_ids": rng.integers(0, 50, size=(T, L, KL)).astype(np.int32),
        "lens_probs": rng.random((T, L, KL)).astype(np.float32),
    }


def make(config: dict | None = None, **arrays: np.ndarray | None) -> Trace:
    return Trace(
        token_ids=np.arange(T, dtype=np.int64),
        token_strings=[f"t{i}" for i in range(T)],
        sources=["user"] * 2 + ["final"] * (T - 2),
        n_prompt=2,
        layer_types=["sliding_attention", "full_attention"],
        config={"model": "test", **(config or {})},
        arrays={**named_arrays(), **arrays},
        lens_strings={i: f"w{i}" for i in range(50)},
    )


def test_axes_are_the_ones_the_docstring_writes():
    doc = trace_module.__doc__
    written = dict(re.findall(r"``(\w+)`` \(([TLEkKH, ]+)\)", doc))
    assert written == {name: ", ".join(axes) for name, axes in AXES.items()}
    assert set(REQUIRED) <= set(AXES)


def test_properties_read_the_arrays_by_name():
    trace = make()
    for name in AXES:
        assert getattr(trace, name) is trace.arrays[name]
    assert (trace.n_tokens, trace.n_layers, trace.n_experts, trace.top_k) == (T, L, E, K)


def test_keywords_and_arrays_dict_build_the_same_trace():
    arrays = named_arrays()
    by_keyword = Trace(
        token_ids=np.arange(T),
        token_strings=["x"] * T,
        sources=["user"] * T,
        n_prompt=T,
        layer_types=["full_attention"] * L,
        **arrays,
    )
    assert sorted(by_keyword.arrays) == sorted(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(by_keyword.arrays[name], value)


def test_optional_arrays_left_out_and_replaced_by_name():
    trace = make(sink_mass=None, attention_entropy=None)
    assert trace.sink_mass is None and "sink_mass" not in trace.arrays
    again = dataclasses.replace(trace, sink_mass=named_arrays(1)["sink_mass"], config={"model": "other"})
    assert again.sink_mass is not None and again.attention_entropy is None
    assert again.config == {"model": "other"} and trace.sink_mass is None


def test_unknown_and_missing_arrays_are_refused():
    with pytest.raises(ValueError, match=r"unknown trace arrays \['lens'\]"):
        make(lens=np.zeros((T, L, 5)))
    with pytest.raises(ValueError, match=r"routing arrays \['topk_experts'\]: \['topk_experts'\] missing"):
        make(topk_experts=None)
    with pytest.raises(ValueError, match=r"both of \['routing_logits', 'topk_weights'\] or neither: topk_weights"):
        make(topk_weights=None)
    with pytest.raises(ValueError, match=r"without routing_logits needs config\['num_experts'\]"):
        make(topk_weights=None, routing_logits=None)


def test_a_served_trace_holds_the_chosen_experts_and_says_what_it_lacks():
    trace = make(
        topk_weights=None, routing_logits=None, config={"num_experts": E, "server": "http://127.0.0.1:8000/v1"}
    )
    assert not trace.weighted and trace.n_experts == E and (trace.n_tokens, trace.n_layers, trace.top_k) == (T, L, K)
    for name in ("topk_weights", "routing_logits"):
        with pytest.raises(ValueError, match=f"trace from http://127.0.0.1:8000/v1 holds only the chosen .* so {name}"):
            getattr(trace, name)
    assert make().weighted


def test_a_served_trace_saves_and_loads_without_weights(tmp_path):
    served = make(topk_weights=None, routing_logits=None, config={"num_experts": E})
    back = Trace.load(served.save(tmp_path / "served.npz"))
    assert not back.weighted and back.n_experts == E and set(back.arrays) == set(served.arrays)
    np.testing.assert_array_equal(back.topk_experts, served.topk_experts)


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("sink_mass", (T + 1, L, H)),
        ("attention_entropy", (T, L + 1, H)),
        ("topk_weights", (T, L, K + 1)),
        ("lens_probs", (T, L, KL + 1)),
    ],
)
def test_an_axis_that_disagrees_names_the_array(name, shape):
    with pytest.raises(ValueError, match=rf"Trace\.{name} has shape {re.escape(str(shape))}"):
        make(**{name: np.zeros(shape, dtype=np.float16)})


def test_saved_file_holds_each_array_under_its_name(tmp_path):
    trace = make()
    path = trace.save(tmp_path / "t.npz")
    with np.load(path) as data:
        assert sorted(data.files) == sorted([*AXES, "token_ids", "meta"])
    again = Trace.load(path)
    assert sorted(again.arrays) == sorted(trace.arrays)
    for name, value in trace.arrays.items():
        assert again.arrays[name].dtype == value.dtype
        np.testing.assert_array_equal(again.arrays[name], value)
    assert (again.token_strings, again.sources, again.n_prompt) == (trace.token_strings, trace.sources, 2)
    assert again.layer_types == trace.layer_types and again.config == trace.config
    assert again.lens_strings == trace.lens_strings and all(isinstance(i, int) for i in again.lens_strings)


def _old_file(path, arrays, version=1):
    """A trace as gptoss_lab wrote it before captures were named (the same .npz layout)."""
    meta = {
        "format_version": version,
        "token_strings": ["a"] * T,
        "sources": ["user"] * T,
        "n_prompt": 1,
        "layer_types": ["full_attention"] * L,
        "config": {},
    }
    np.savez_compressed(
        path, token_ids=np.arange(T), meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays
    )
    return path


def test_a_trace_saved_by_the_earlier_version_loads(tmp_path):
    arrays = {n: a for n, a in named_arrays().items() if n in (*REQUIRED, *WEIGHTED)}  # routing only: no summaries
    loaded = Trace.load(_old_file(tmp_path / "old.npz", arrays))
    assert loaded.sink_mass is None and loaded.lens_ids is None and loaded.lens_strings == {}
    np.testing.assert_array_equal(loaded.topk_experts, arrays["topk_experts"])


def test_another_format_version_is_refused(tmp_path):
    with pytest.raises(ValueError, match="format 2"):
        Trace.load(_old_file(tmp_path / "new.npz", named_arrays(), version=2))
