"""The logit lens figure, asserted on what a reader sees, from a synthetic Trace (no torch, no model)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("plotly")

from gptoss_lab import viz
from gptoss_lab.errors import OptionError
from gptoss_lab.lens import LogitLens, lens_of
from gptoss_lab.reply import Reply
from gptoss_lab.viz._common import SOURCE_COLORS, token_label
from gptoss_lab.viz.logit_lens import cell_label
from tests.unit.test_viz_routing import by_name
from tests.unit.test_viz_routing import make_trace as make_routing_trace

VOCAB = {100: " 4", 101: "2", 102: "<b>x</b>", 103: "\u202e7", 104: "\n", 105: " and"}
RLO = "\u202e"


def make_trace(T=12, L=4, K=3, n_prompt=4, seed=0):
    """The routing tests' Trace (tokens " t1" ...), with a lens over VOCAB: position 6 is known from layer 2,
    position 3 only at the last layer, the rest random."""
    rng = np.random.default_rng(seed)
    base = make_routing_trace(T=T, L=L, n_prompt=n_prompt, seed=seed)
    token_ids = rng.choice(list(VOCAB), size=T).astype(np.int64)
    strings = [VOCAB[i] for i in token_ids]
    ids = np.stack([rng.permutation(list(VOCAB))[:K] for _ in range(T * L)]).reshape(T, L, K)  # (T, L, K)
    for t, layers in ((6, [2, 3]), (3, [3])):
        for layer in range(L):  # make the next token the top-1 in ``layers`` and nowhere else
            row = [i for i in VOCAB if i != token_ids[t + 1]][:K]
            ids[t, layer] = [token_ids[t + 1], *row[: K - 1]] if layer in layers else row
    probs = np.sort(rng.dirichlet(np.ones(K + 2), size=(T, L))[..., :K], axis=-1)[..., ::-1]  # best first
    return dataclasses.replace(
        base,
        token_ids=token_ids,
        token_strings=strings,
        lens_ids=ids.astype(np.int32),
        lens_probs=np.ascontiguousarray(probs, dtype=np.float32),
        lens_strings=dict(VOCAB),
    )


def test_cells_are_the_top1_probability_labelled_with_the_predicted_token():
    trace = make_trace()
    heat = by_name(viz.logit_lens(trace), "prediction")
    np.testing.assert_allclose(np.asarray(heat.z), trace.lens_probs[..., 0].T, atol=1e-3)  # (L, T)
    want = [[cell_label(VOCAB[i]) for i in row] for row in trace.lens_ids[..., 0].T]
    assert [list(row) for row in heat.text] == want
    assert heat.texttemplate == "%{text}"  # the text is drawn in the cells, not only in the tooltip


def test_axes_tokens_read_along_x_and_layers_up_y():
    trace = make_trace()
    fig = viz.logit_lens(trace)
    assert list(fig.layout.xaxis.tickvals) == list(range(12))
    assert list(fig.layout.xaxis.ticktext) == [token_label(s, 10) for s in trace.token_strings]
    assert fig.layout.xaxis.title.text.startswith("token read")
    assert list(fig.layout.yaxis.tickvals) == [0, 1, 2, 3] and list(fig.layout.yaxis.ticktext) == ["0", "1", "2", "3"]
    assert fig.layout.yaxis.title.text == "after decoder layer"
    assert tuple(fig.layout.yaxis.range) == (-0.5, 3.5)


def test_colour_scale_is_probability_from_0_to_1():
    heat = by_name(viz.logit_lens(make_trace()), "prediction")
    assert (heat.zmin, heat.zmax) == (0.0, 1.0)
    assert heat.colorbar.title.text == "probability"


def test_model_text_is_escaped_and_bidi_controls_visible():
    fig = viz.logit_lens(make_trace())
    heat = by_name(fig, "prediction")
    cells = {c for row in heat.text for c in row}
    assert {"&lt;b&gt;x&lt;…", "\\u202…", "\\n", "␣4", "␣and", "2"} <= cells  # escaped, visible, quotes dropped
    assert cell_label("\u202e7") == "\\u202…" and cell_label("<|end|>") == "&lt;|end…"
    shown = json.dumps(fig.to_plotly_json(), ensure_ascii=False)
    assert RLO not in shown and "<b>x</b>" not in shown


def test_triangles_mark_the_layer_from_which_the_next_token_is_known():
    trace = make_trace()
    fig = viz.logit_lens(trace)
    marks = by_name(fig, "known from")
    cells = list(zip(np.asarray(marks.x).tolist(), np.rint(np.asarray(marks.y)).astype(int).tolist(), strict=True))
    nxt = trace.token_ids[1:]
    want = []  # by brute force: the lowest layer whose top-1, and every later layer's, is the next token
    for t in range(11):
        runs = [layer for layer in range(4) if all(trace.lens_ids[t, m, 0] == nxt[t] for m in range(layer, 4))]
        want += [(t, runs[0])] if runs else []
    assert cells == want and (6, 2) in cells and (3, 3) in cells
    assert "from this layer up, the top-1 is the token that came next" in fig.layout.title.text


def test_tooltip_lists_the_top_k_with_probabilities_and_what_came_next():
    trace = make_trace()
    tip = by_name(viz.logit_lens(trace), "prediction").customdata[2][6]  # layer 2, position 6
    ids, probs = trace.lens_ids[6, 2], trace.lens_probs[6, 2]
    for rank, (i, p) in enumerate(zip(ids, probs, strict=True)):
        assert f"{rank + 1}. {token_label(VOCAB[i], 24)} {p:.1%}" in tip
    assert f"came next: {token_label(VOCAB[trace.token_ids[7]], 24)} (top-1 from layer 2 on) ✓ top-1" in tip
    assert "✓" not in by_name(viz.logit_lens(trace), "prediction").customdata[1][6]  # layer 1: not yet
    assert "layer 2 (sliding attention)" in tip


def test_known_from_is_the_first_layer_of_the_last_run_of_hits():
    lens = lens_of(make_trace())
    known = lens.known_from()
    assert known[6] == 2 and known[3] == 3
    assert known[-1] == -1  # a bare trace does not know the token after its last position


def test_a_reply_gives_the_token_after_the_last_position():
    trace = make_trace()
    reply = Reply("hi", "gpt-oss-nano", "low", prompt_ids=trace.token_ids[:4].tolist())
    reply.completion_ids = [*trace.token_ids[4:].tolist(), int(trace.lens_ids[-1, -1, 0])]
    reply.trace = trace
    lens = lens_of(reply)
    assert lens.next_ids[-1] == reply.completion_ids[-1] and lens.known_from()[-1] == 3
    np.testing.assert_array_equal(
        by_name(viz.logit_lens(reply), "prediction").z, by_name(viz.logit_lens(trace), "prediction").z
    )


def test_channel_ribbon_like_the_routing_map():
    trace = make_trace()
    fig = viz.logit_lens(trace)
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(b.x0, b.x1, b.fillcolor) for b in bands] == [
        (-0.5, 2.5, SOURCE_COLORS["system"]),
        (2.5, 3.5, SOURCE_COLORS["user"]),
        (3.5, 7.5, SOURCE_COLORS["analysis"]),
        (7.5, 11.5, SOURCE_COLORS["final"]),
    ]
    lines = sorted(s.x0 for s in fig.layout.shapes if s.type == "line")
    assert lines == [3.5, 7.5]  # prompt | analysis | final
    key = [a for a in fig.layout.annotations if a.name == "key"]
    assert len(key) == 1 and "by token source" in key[0].text


def test_long_traces_draw_the_last_max_tokens_and_say_so():
    trace = make_trace(T=12)
    fig = viz.logit_lens(trace, max_tokens=5)
    assert list(by_name(fig, "prediction").x) == [7, 8, 9, 10, 11]
    assert "the last 5 of 12 tokens" in fig.layout.title.text
    assert tuple(fig.layout.xaxis.range) == (6.5, 11.5)
    window = viz.logit_lens(trace, tokens=range(2, 6))
    assert list(by_name(window, "prediction").x) == [2, 3, 4, 5] and "tokens 2–5 of 12" in window.layout.title.text
    bands = [(s.x0, s.x1) for s in window.layout.shapes if s.type == "rect"]
    assert bands[0] == (1.5, 2.5) and bands[-1] == (3.5, 5.5)  # the ribbon of the window only


@pytest.mark.parametrize("tokens", [range(5, 3), range(0, 12, 2), range(10, 13), "all"])
def test_bad_windows_state_the_rule(tokens):
    with pytest.raises(ValueError, match=r"consecutive positions within 0\.\.11"):
        viz.logit_lens(make_trace(), tokens=tokens)


def test_a_trace_without_a_lens_says_how_to_recompute_it():
    with pytest.raises(OptionError, match=r"gptoss_lab.lens.logit_lens\(lab, reply\)"):
        viz.logit_lens(make_routing_trace())
    with pytest.raises(OptionError, match=r"no captured logit lens.*logit_lens\(lab, reply\)"):
        viz.logit_lens(Reply("hi", "gpt-oss-20b", "low"))  # no trace at all (capture off, or a server)
    with pytest.raises(OptionError, match="got str"):
        viz.logit_lens("reply")


def test_common_keywords_and_methods():
    trace = make_trace()
    fig = viz.logit_lens(trace, title="When is 42 known?", height=300, width=700, template="plotly_dark")
    assert fig.layout.title.text.startswith("When is 42 known?")
    assert (fig.layout.height, fig.layout.width) == (300, 700)
    lens = lens_of(trace)
    assert isinstance(lens, LogitLens) and lens_of(lens) is lens and repr(lens).startswith("LogitLens(12 tokens")
    np.testing.assert_array_equal(trace.logit_lens().data[0].z, lens.figure().data[0].z)


def test_drawing_a_lens_imports_no_torch():
    code = (
        "import sys; from tests.unit.test_viz_lens import make_trace; from gptoss_lab import viz; "
        "viz.logit_lens(make_trace()); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
