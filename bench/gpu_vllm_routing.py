"""GPU check of routing over a server: vLLM serving the bundled nano sends its routed experts, and they
are the experts nano chooses here, on the same tokens.

    python bench/gpu_vllm_routing.py [--vllm-python PATH] [--questions 4]

Needs a CUDA GPU and a Python with vLLM (default: ``build/vllm-venv/bin/python``, what
``tests/engines/vllm_venv.sh`` builds; a GPU machine needs a CUDA build of vLLM instead). Starts
``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1 with ``--enable-return-routed-experts`` and
``VLLM_USE_V2_MODEL_RUNNER=1`` (vLLM 0.32 captures routing only in its second model runner, which needs
Triton: on a GPU), serving nano from its own directory in float32. Then, per question at high effort:

* ``Lab(base_url, api="completions").ask(question, capture=True)``: the reply and its served trace;
* nano here, on CPU, one forward pass over the same prompt and reply ids with routing captured;
* the share of (token, layer) cells whose chosen experts agree as sets, and whose top-1 agrees.

Prints those shares (near-ties may flip between a GPU's kernels and the CPU's; a real mismatch shows as
agreement near chance, 2/8 for the top-1) and the time of an unstreamed capture request against a
streamed plain one, as a ratio, in the same process. Says why not, in one line, where it cannot run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's code, and tests.engines' server helper

QUESTIONS = [
    "What is 4738 + 2596?",
    "Sort 31, 7, 19 in ascending order.",
    "Reverse the word lantern.",
    "What is 56 * 7?",
]


def local_routing(ids: list[int]):
    """nano's chosen experts on ``ids`` here: (T - 1, L, k), the last token not fed, as a server's."""
    import torch

    from gptoss_lab import Lab
    from gptoss_lab.capture import RoutingCapture

    with Lab("nano").local_model() as loaded, torch.inference_mode():
        with RoutingCapture(loaded.model) as capture:
            loaded.model(input_ids=torch.tensor([ids[:-1]]))
        return capture.collect()["topk_experts"]


def agreement(served, local) -> tuple[float, float]:
    """Share of (token, layer) cells with the same set of experts, and with the same top-1."""
    import numpy as np

    same_set = np.sort(served, axis=-1) == np.sort(local, axis=-1)
    return float(same_set.all(-1).mean()), float((served[..., 0] == local[..., 0]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vllm-python", default=str(ROOT / "build" / "vllm-venv" / "bin" / "python"))
    parser.add_argument("--questions", type=int, default=len(QUESTIONS))
    args = parser.parse_args()
    import os

    import torch

    if not torch.cuda.is_available():
        raise SystemExit("not run: no CUDA GPU here (vLLM captures routing only on a GPU)")
    python = Path(args.vllm_python)
    if not python.is_file():
        raise SystemExit(f"not run: no vLLM Python at {python}: pass --vllm-python PATH (a Python with vLLM)")
    os.environ["VLLM_USE_V2_MODEL_RUNNER"] = "1"  # the server inherits it

    from gptoss_lab import Lab
    from gptoss_lab.nano import CHECKPOINT_DIR
    from tests.engines.vllm_server import vllm_server
    from tests.reference.harmony_ref import write_o200k_base_vocab

    work = Path(os.environ.get("TMPDIR", "/tmp")) / "gpu-vllm-routing"
    vocab = write_o200k_base_vocab(work / "vocab").parent
    start = time.perf_counter()
    flags = ("--enable-return-routed-experts",)
    with vllm_server(python, CHECKPOINT_DIR, work / "server", name="nano", vocab_dir=vocab, dtype="float32",
                     args=flags) as server:  # fmt: skip
        print(f"vLLM up in {time.perf_counter() - start:.0f} s at {server.base_url}")
        lab = Lab(base_url=server.base_url, api="completions")
        times = {"capture": 0.0, "plain": 0.0}
        for question in QUESTIONS[: args.questions]:
            for mode in ("plain", "capture"):  # alternating, so machine noise hits both
                lab.reset()
                began = time.perf_counter()
                reply = lab.ask(question, effort="high", capture=mode == "capture")
                times[mode] += time.perf_counter() - began
            trace = reply.trace
            if trace is None:
                raise SystemExit(f"failed: no routing came back: {reply.routing_note}")
            ids = list(reply.prompt_ids) + list(reply.completion_ids)
            local = local_routing(ids)
            sets, top1 = agreement(trace.topk_experts, local)
            print(f"{question!r}: {trace.n_tokens} tokens x {trace.n_layers} layers; same experts {sets:.1%}, "
                  f"same top-1 {top1:.1%}; answer {reply.answer!r}")  # fmt: skip
        ratio = times["capture"] / times["plain"]
        print(
            f"unstreamed capture {times['capture']:.2f} s vs streamed plain {times['plain']:.2f} s: ratio {ratio:.3f}"
        )


if __name__ == "__main__":
    main()
