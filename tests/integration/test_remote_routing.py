"""Routing over a server: a replayed vLLM (harmony-exact, nano's tokenizer) that sends ``routed_experts`` the way
vLLM 0.32 writes them (numpy's .npy, base64), read into a weightless Trace that the routing views draw.

vLLM's CPU build cannot capture routing (its second model runner needs Triton), so no engine-tier test runs
this against a real server; ``bench/gpu_vllm_routing.py`` does where a GPU is lent.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np
import pytest

from gptoss_lab import Lab
from gptoss_lab.nano import CHECKPOINT_DIR
from gptoss_lab.remote_routing import NOT_SENT, decode_routed_experts
from tests.integration.test_harmony_exact import COMPLETION, vllm_lists
from tests.unit._replay_server import ReplayServer, Route

pytest.importorskip("plotly")

L, K, E = 4, 2, 8  # nano's layers, top-k and experts


def npy_base64(array: np.ndarray) -> str:
    """What vLLM's ``numpy2base64`` sends: ``np.save`` into a buffer, base64."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def answer_whole(server: ReplayServer, completion: list[int], routed: np.ndarray | None) -> None:
    """POST /v1/completions answers with one JSON body (what vLLM sends for ``stream: false``)."""

    def route(request: Any) -> Route:
        n_prompt = len(request.body["prompt"])
        choice = {"index": 0, "text": "", "finish_reason": "stop", "token_ids": completion}
        if routed is not None:
            choice["routed_experts"] = npy_base64(routed[: n_prompt + len(completion) - 1])
        usage = {"prompt_tokens": n_prompt, "completion_tokens": len(completion)}
        body = {"object": "text_completion", "choices": [choice], "usage": usage}
        return Route(content_type="application/json", body=json.dumps(body).encode())

    server.dynamic["POST", "/v1/completions"] = route


def routing_for(n: int, seed: int = 0) -> np.ndarray:
    """(n, L, K) distinct experts per token and layer, as uint8 (vLLM's narrowest dtype for 8 experts)."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(E)[:K] for _ in range(n * L)]).reshape(n, L, K).astype(np.uint8)


def test_a_capture_over_vllm_reads_its_routed_experts_into_a_trace(server: ReplayServer, handle: Any) -> None:
    vllm_lists(server, str(CHECKPOINT_DIR))
    completion = handle.encode(COMPLETION)
    routed = routing_for(400)
    answer_whole(server, completion, routed)
    lab = Lab(base_url=server.url, api="completions")
    reply = lab.ask("What is 17 + 25?", effort="high", capture=True)
    [body] = server.posted()
    assert body["stream"] is False and "stream_options" not in body  # vLLM sends routing in whole bodies only
    assert (reply.reasoning, reply.answer) == ("Add the ones: 7+5=12.", "17 + 25 = 42.")
    trace = reply.trace
    n = len(body["prompt"]) + len(completion) - 1  # the last token is never fed back
    assert trace is not None and not trace.weighted and (trace.n_tokens, trace.n_layers, trace.top_k) == (n, L, K)
    np.testing.assert_array_equal(trace.topk_experts, routed[:n])
    assert trace.n_experts == E and trace.layer_types == ["sliding_attention", "full_attention"] * 2  # nano's config
    assert trace.sources[: trace.n_prompt].count("user") > 0 and trace.sources[-1] == "final"
    assert trace.n_prompt == len(body["prompt"]) and trace.config["server"] == server.url
    assert list(trace.token_ids) == (body["prompt"] + completion)[:n]

    # the views that need only the chosen experts draw; the ones that need weights or logits say so in one line
    fig = trace.routing_map()
    assert [d.name for d in fig.data] == ["routing"]  # no weight veil without weights
    assert "the server sent the chosen experts only, no weights" in fig.layout.title.text
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), routed[:n, :, 0].T)
    assert "weight" not in fig.data[0].hovertemplate
    chosen = trace.routing_map(highlight=3).data[0]
    np.testing.assert_array_equal(np.asarray(chosen.z), (routed[:n] == 3).any(-1).T.astype(np.float32))
    assert chosen.colorbar.title.text == "expert 3<br>chosen" and (chosen.zmin, chosen.zmax) == (0.0, 1.0)
    load = trace.expert_load()
    assert np.allclose(np.asarray(load.data[0].z).sum(axis=1), 1, atol=1e-3)  # each layer's shares sum to 1
    path = trace.token_path(-1)
    assert [d.name for d in path.data] == ["top-1 path", "chosen"] and "no weights" in path.layout.title.text
    with pytest.raises(ValueError, match=r"holds only the chosen experts .* so routing_logits is not here"):
        trace.routing_stats()


def test_a_long_served_trace_draws_in_blocks(server: ReplayServer, handle: Any) -> None:
    vllm_lists(server, str(CHECKPOINT_DIR))
    completion = handle.encode(COMPLETION)
    answer_whole(server, completion, routing_for(400, seed=1))
    trace = Lab(base_url=server.url, api="completions").ask("What is 17 + 25?", capture=True).trace
    fig = trace.routing_map(max_tokens=16)
    assert "in blocks of" in fig.layout.title.text and np.asarray(fig.data[0].z).shape[0] == L


def test_without_routed_experts_the_reply_stands_and_says_how_to_get_them(server: ReplayServer, handle: Any) -> None:
    vllm_lists(server, str(CHECKPOINT_DIR))
    answer_whole(server, handle.encode(COMPLETION), None)
    reply = Lab(base_url=server.url, api="completions").ask("What is 17 + 25?", capture=True)
    assert reply.answer == "17 + 25 = 42." and reply.trace is None
    assert reply.routing_note == NOT_SENT and "--enable-return-routed-experts" in NOT_SENT


def test_a_plain_ask_streams_and_asks_for_no_routing(server: ReplayServer, handle: Any) -> None:
    from tests.integration.test_harmony_exact import stream_ids

    vllm_lists(server, str(CHECKPOINT_DIR))
    stream_ids(server, handle.encode(COMPLETION))
    reply = Lab(base_url=server.url, api="completions").ask("What is 17 + 25?")
    [body] = server.posted()
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True} and reply.trace is None


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not base64!", "not a base64 .npy array"),
        (npy_base64(np.zeros((3, 4), dtype=np.int32)), r"shape \(3, 4\) of int32; expected \(tokens, layers, top_k\)"),
        (npy_base64(np.zeros((3, 4, 2), dtype=np.float32)), "of float32"),
    ],
)
def test_a_malformed_routing_is_named(text: str, match: str) -> None:
    from gptoss_lab.errors import ServerError

    with pytest.raises(ServerError, match=match):
        decode_routed_experts(text)


def test_a_routing_that_does_not_fit_the_tokens_keeps_the_reply_and_says_why(server: ReplayServer, handle: Any) -> None:
    vllm_lists(server, str(CHECKPOINT_DIR))
    completion = handle.encode(COMPLETION)

    def route(request: Any) -> Route:
        choice = {"index": 0, "text": "", "finish_reason": "stop", "token_ids": completion}
        choice["routed_experts"] = npy_base64(routing_for(5))  # far fewer tokens than prompt + reply
        return Route(content_type="application/json", body=json.dumps({"choices": [choice]}).encode())

    server.dynamic["POST", "/v1/completions"] = route
    reply = Lab(base_url=server.url, api="completions").ask("What is 17 + 25?", capture=True)
    assert reply.answer == "17 + 25 = 42." and reply.trace is None
    assert "routed_experts covers 5 tokens, but the prompt and reply are" in reply.routing_note


def test_the_gpu_checks_own_comparison_runs_here(tmp_path) -> None:
    """bench/gpu_vllm_routing.py's local side, on CPU (so it cannot rot between GPU runs): nano's routing
    recomputed from a reply's ids equals what its capture recorded; a swapped top-1 is seen; and without a
    GPU the script says so in one line."""
    import subprocess
    import sys
    from pathlib import Path

    import torch

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "bench"))
    try:
        import gpu_vllm_routing as check
    finally:
        sys.path.remove(str(root / "bench"))
    reply = Lab("nano").ask("What is 47 + 38?", effort="medium")
    local = check.local_routing(list(reply.prompt_ids) + list(reply.completion_ids))
    assert check.agreement(reply.trace.topk_experts, local) == (1.0, 1.0)
    swapped = local[..., ::-1]  # same sets, other top-1
    same_sets, same_top1 = check.agreement(swapped, local)
    assert same_sets == 1.0 and same_top1 < 0.05
    if not torch.cuda.is_available():
        done = subprocess.run(
            [sys.executable, str(root / "bench" / "gpu_vllm_routing.py")], capture_output=True, text=True
        )
        assert (
            done.returncode == 1
            and done.stderr.strip() == "not run: no CUDA GPU here (vLLM captures routing only on a GPU)"
        )
