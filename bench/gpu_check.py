"""GPU check: a random-weight model with gpt-oss-20b's full shape on one GPU, in under 5 minutes.

    python bench/gpu_check.py             # CUDA: the 20b's config, bf16 (and MXFP4 where its kernels run)
    python bench/gpu_check.py --tiny      # CPU: the same code on a tiny config (a test runs this)
    python bench/gpu_check.py --nano      # CPU: the capture and intervention ratios on the bundled nano

Prints, in one process: generation tokens/s without capture, with routing capture
(``gptoss_lab.capture.RoutingCapture``) and with routing plus attention summaries (what
``Lab.ask(capture=True)`` records), each as a ratio of the uncaptured run; then with each
intervention on (``gptoss_lab.interventions``: expert 0 ablated in every layer, experts forced in
every layer, sinks off, head 0 off in every layer), each as a ratio of the same plain run and with
the most any last-position logit moved under it over the prompt (0 would mean it never reached the
model on this path); then the time to recompute one head's exact attention over a long trace
(``gptoss_lab.attention``) against one plain forward pass over the same tokens. Runs alternate so
machine noise hits every variant.

The MXFP4 variant writes a checkpoint with random packed experts (``*_blocks``/``*_scales``)
and loads it through ``Lab(path, quant="mxfp4")``, the path the published checkpoints take (the
kernels compute the router's logits from its weight and bias themselves, so the interventions'
lines there say whether the bias reaches them); it runs only where ``gptoss_lab.quant.mxfp4_missing``
finds the kernels, and says why not otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
import types
from pathlib import Path
from typing import Any

#: what the published checkpoints leave unquantized (their config.json)
NOT_CONVERTED = ("model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head")
TINY = {
    "vocab_size": 1024,
    "hidden_size": 64,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
    "sliding_window": 8,
    "layer_types": ["sliding_attention", "full_attention"],
}


def model_config(tiny: bool) -> Any:
    from transformers import GptOssConfig

    from gptoss_lab.memory import KNOWN_CONFIGS

    shape = {k: v for k, v in KNOWN_CONFIGS["openai/gpt-oss-20b"].items() if k not in ("quantization_config",)}
    shape.pop("model_type")
    if tiny:
        shape |= TINY
    return GptOssConfig(**shape, attn_implementation="eager")


def random_model(config: Any, device: str, dtype: Any) -> Any:
    import torch
    from transformers import GptOssForCausalLM

    torch.manual_seed(0)
    with torch.device(device):  # initialised where it runs: the 20b never passes through CPU memory
        return GptOssForCausalLM._from_config(config, dtype=dtype).eval()


#: the capture modes timed, "none" the plain run every other variant is a ratio of
CAPTURES = ("none", "routing", "routing+summaries")


def intervention_specs(config: Any) -> dict[str, dict[str, Any]]:
    """The interventions timed against the plain run, by the name their lines print, for ``config``'s shape."""
    layers = range(config.num_hidden_layers)
    forced = tuple(range(config.num_experts_per_tok))
    return {
        "expert 0 ablated in every layer": {"ablate_experts": {layer: (0,) for layer in layers}},
        f"experts {', '.join(map(str, forced))} forced in every layer": {
            "force_experts": {layer: forced for layer in layers}
        },
        "sinks off in every layer": {"sinks": 0},
        "head 0 off in every layer": {"heads_off": {layer: (0,) for layer in layers}},
    }


def tokens_per_s(
    model: Any, prompt_ids: list[int], n_tokens: int, capture: str, intervention: dict[str, Any] | None = None
) -> float:
    """One greedy generation of ``n_tokens``; ``capture``: "none" | "routing" | "routing+summaries";
    ``intervention``: a spec for ``gptoss_lab.interventions.apply``, put on and taken off inside the timing
    (as ``Lab.ask(intervene=...)`` does for each reply)."""
    import torch

    from gptoss_lab import interventions
    from gptoss_lab.capture import AttentionSummaryCapture, RoutingCapture
    from gptoss_lab.generate import Sampling, generate_ids

    def generate() -> None:
        for _ in generate_ids(model, prompt_ids, max_new_tokens=n_tokens, stop_ids=(), sampling=Sampling(0)):
            pass

    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if intervention is not None:
            stack.enter_context(interventions.apply(model, intervention))
        recorders = []
        if capture != "none":
            recorders.append(stack.enter_context(RoutingCapture(model)))
        if capture == "routing+summaries":
            recorders.append(stack.enter_context(AttentionSummaryCapture(model)))
        generate()
        for recorder in recorders:
            recorder.collect()  # moving the capture to numpy is part of its cost
    sync()
    return n_tokens / (time.perf_counter() - start)


def speed(model: Any, n_tokens: int, rounds: int, prompt_len: int) -> dict[str, float]:
    """Median tokens/s per capture mode and per intervention, every variant alternating within each round."""
    specs = intervention_specs(model.config)
    variants = {**{mode: (mode, None) for mode in CAPTURES}, **{name: ("none", spec) for name, spec in specs.items()}}
    prompt_ids = _prompt(model, prompt_len)
    for capture, spec in variants.values():  # warm-up: kernels, allocator, hooks
        tokens_per_s(model, prompt_ids, 4, capture, spec)
    runs: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (capture, spec) in variants.items():
            runs[name].append(tokens_per_s(model, prompt_ids, n_tokens, capture, spec))
    return {name: statistics.median(values) for name, values in runs.items()}


def logit_moves(model: Any, prompt_len: int) -> dict[str, float]:
    """Per intervention, the most any last-position logit moves under it, one forward over the prompt."""
    import torch

    from gptoss_lab import interventions

    device = next(model.parameters()).device
    ids = torch.tensor([_prompt(model, prompt_len)], device=device)
    with torch.inference_mode():
        plain = model(input_ids=ids, use_cache=False).logits[0, -1].float()
        moves = {}
        for name, spec in intervention_specs(model.config).items():
            with interventions.apply(model, spec):
                moved = model(input_ids=ids, use_cache=False).logits[0, -1].float()
            moves[name] = float((moved - plain).abs().max())
    return moves


def _prompt(model: Any, length: int) -> list[int]:
    return [(17 * i + 3) % model.config.vocab_size for i in range(length)]


def recompute(model: Any, length: int) -> dict[str, float]:
    """Seconds for one head's exact attention in the last layer over ``length`` tokens, and for one forward."""
    import numpy as np
    import torch

    from gptoss_lab.attention import attention_of

    ids = np.asarray([(31 * i + 7) % model.config.vocab_size for i in range(length)], dtype=np.int64)
    trace = types.SimpleNamespace(
        token_ids=ids,
        token_strings=[""] * length,
        sources=["user"] * length,
        layer_types=list(model.config.layer_types),
    )
    device = next(model.parameters()).device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        sync()
        start = time.perf_counter()
        model(input_ids=torch.tensor([ids.tolist()], device=device), use_cache=False)
        sync()
        forward = time.perf_counter() - start
    start = time.perf_counter()
    weights = attention_of(model, trace, len(model.model.layers) - 1, heads=[0])
    sync()
    seconds = time.perf_counter() - start
    assert weights.weights.shape[-1] == length
    return {"forward_s": forward, "recompute_s": seconds}


def report(
    label: str, tps: dict[str, float], moves: dict[str, float], attn: dict[str, float] | None, length: int
) -> None:
    base = tps["none"]
    print(f"[{label}] tokens/s without capture: {base:.2f}")
    for mode in CAPTURES[1:]:
        print(f"[{label}] tokens/s with {mode} capture: {tps[mode]:.2f}  ratio {tps[mode] / base:.3f}")
    for name, moved in moves.items():
        print(
            f"[{label}] tokens/s with {name}: {tps[name]:.2f}  ratio {tps[name] / base:.3f}  "
            f"(max logit change {moved:.1e})"
        )
    if attn is not None:
        ratio = attn["recompute_s"] / attn["forward_s"]
        print(
            f"[{label}] attention recompute, 1 head of the last layer over {length} tokens: "
            f"{attn['recompute_s']:.3f} s (one forward over them: {attn['forward_s']:.3f} s, ratio {ratio:.2f})"
        )


def write_mxfp4_checkpoint(model: Any, directory: Path) -> Path:
    """``model``'s weights with random MXFP4 experts (blocks: two e2m1 codes a byte; scales: E8M0), nano's tokenizer."""
    import torch
    from safetensors.torch import save_file

    from gptoss_lab.nano import nano_checkpoint

    config = model.config
    generator = torch.Generator().manual_seed(0)
    tensors = {}
    for key, value in model.state_dict().items():
        if ".mlp.experts." in key and key.endswith(("gate_up_proj", "down_proj")):
            n_exp, n_in, n_out = value.shape  # (E, in, out); packed as (E, out, in/32, 16)
            blocks = torch.randint(0, 256, (n_exp, n_out, n_in // 32, 16), dtype=torch.uint8, generator=generator)
            scales = torch.randint(118, 122, (n_exp, n_out, n_in // 32), dtype=torch.uint8, generator=generator)
            tensors[f"{key}_blocks"], tensors[f"{key}_scales"] = blocks, scales
        else:
            tensors[key] = value.to("cpu", torch.bfloat16).contiguous()
    save_file(tensors, directory / "model.safetensors", metadata={"format": "pt"})
    saved = config.to_dict() | {"dtype": "bfloat16"}
    saved["quantization_config"] = {
        "quant_method": "mxfp4",
        "modules_to_not_convert": list(NOT_CONVERTED),
    }
    (directory / "config.json").write_text(json.dumps(saved))
    for file in Path(nano_checkpoint().path).glob("tokenizer*"):
        (directory / file.name).write_bytes(file.read_bytes())
    return directory


def mxfp4_variant(model: Any, device: str, args: argparse.Namespace) -> None:
    """Load a random MXFP4 checkpoint the way the published ones load; say why not where it cannot run.

    With ``--tiny`` it loads dequantized on CPU, so the checkpoint writer and the loader cannot rot.
    """
    from gptoss_lab import Lab
    from gptoss_lab.quant import mxfp4_missing

    missing = mxfp4_missing(device)
    if missing is not None and not args.tiny:
        print(f"[mxfp4] not run: {missing}")
        return
    with tempfile.TemporaryDirectory(prefix="gpu-check-mxfp4-") as tmp:
        path = write_mxfp4_checkpoint(model, Path(tmp))
        quant, label = ("mxfp4", "mxfp4") if missing is None else ("auto", "mxfp4 dequantized")
        try:
            loaded = Lab(str(path), device=device, quant=quant).handle.load()
        except Exception as err:  # e.g. transformers fetches its triton kernels from the hub at load
            print(f"[mxfp4] failed to load: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
            return
        sizes = _sizes(args)
        report(label, speed(loaded.model, *sizes), logit_moves(loaded.model, sizes[2]), None, 0)


def _sizes(args: argparse.Namespace) -> tuple[int, int, int]:
    return (8, 1, 16) if args.tiny else (args.tokens, args.rounds, 64)  # new tokens, rounds, prompt length


def nano(args: argparse.Namespace) -> None:
    """The same timings on the bundled gpt-oss-nano, on CPU with its own threads (1): what a lesson pays."""
    import torch

    from gptoss_lab import Lab

    with Lab("nano").local_model() as loaded:
        torch.set_num_threads(loaded.threads or torch.get_num_threads())
        n_tokens, rounds = (args.tokens, args.rounds) if args.tokens != 48 or args.rounds != 2 else (128, 5)
        print(f"gpt-oss-nano, trained weights, float32, on CPU, {torch.get_num_threads()} thread(s)")
        print(f"{rounds} rounds of {n_tokens} new tokens after a 64-token prompt, every variant in each round")
        report("nano", speed(loaded.model, n_tokens, rounds, 64), logit_moves(loaded.model, 64), None, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny config on CPU: checks the code, not the GPU")
    parser.add_argument("--tokens", type=int, default=48, help="new tokens per generation (default 48)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of the capture modes and interventions (default 2)"
    )
    parser.add_argument("--length", type=int, default=4096, help="trace length for the attention recompute")
    parser.add_argument("--nano", action="store_true", help="the bundled nano on CPU, its own threads: real speeds")
    args = parser.parse_args()
    import torch

    start = time.perf_counter()
    if args.nano:
        nano(args)
        print(f"whole run: {time.perf_counter() - start:.1f} s")
        return
    if not args.tiny and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: run python bench/gpu_check.py --tiny to check the code on CPU")
    device, dtype = ("cpu", torch.float32) if args.tiny else ("cuda", torch.bfloat16)
    config = model_config(args.tiny)
    model = random_model(config, device, dtype)
    length = 64 if args.tiny else args.length
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"gpt-oss {'tiny' if args.tiny else '20b'} shape, random weights, {dtype}, on {name}")
    tiny_note = " (tiny: these numbers check the code, not the speed)" if args.tiny else ""
    print(f"built in {time.perf_counter() - start:.1f} s{tiny_note}")
    sizes = _sizes(args)
    label = "bf16" if not args.tiny else "float32"
    report(label, speed(model, *sizes), logit_moves(model, sizes[2]), recompute(model, length), length)
    mxfp4_variant(model, device, args)
    print(f"whole run: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
