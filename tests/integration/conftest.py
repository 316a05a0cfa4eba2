from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.integration


class ScriptedModel(torch.nn.Module):
    """A fake causal LM that emits a fixed script of token ids, one per forward call.

    ``interrupt_at`` raises KeyboardInterrupt on that call (0 = the prompt step), as the
    notebook's stop button does in the middle of a forward pass.
    """

    def __init__(self, script: Sequence[int], config: Any, interrupt_at: int | None = None) -> None:
        super().__init__()
        self.script = list(script)
        self.vocab_size = config.vocab_size
        self.interrupt_at = interrupt_at
        self.calls: list[int] = []  # input length of each call
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.config = config

    def forward(self, input_ids: Any, cache: Any = None, **kwargs: Any) -> Any:
        step = len(self.calls)
        self.calls.append(int(input_ids.shape[1]))
        if self.interrupt_at is not None and step == self.interrupt_at:
            raise KeyboardInterrupt
        logits = torch.full((1, 1, self.vocab_size), -1e9)
        logits[0, 0, self.script[min(step, len(self.script) - 1)]] = 0.0
        return SimpleNamespace(logits=logits)


@pytest.fixture(scope="session")
def tiny_gpt_oss():
    """Build tiny random gpt-oss models: 2 layers, 4 heads of 8 (2 KV heads), 6 experts top-2, eager attention."""
    from transformers import GptOssConfig, GptOssForCausalLM

    def make(seed: int = 0, **overrides: Any) -> Any:
        torch.manual_seed(seed)
        shape: dict[str, Any] = dict(vocab_size=64, hidden_size=32, intermediate_size=32, num_hidden_layers=2)
        shape |= dict(num_attention_heads=4, num_key_value_heads=2, head_dim=8, num_local_experts=6)
        shape |= dict(num_experts_per_tok=2, sliding_window=8, attn_implementation="eager")
        return GptOssForCausalLM(GptOssConfig(**(shape | overrides))).eval()

    return make


@pytest.fixture(scope="session")
def nano_lab_factory():
    """Build Labs over the bundled model (loaded once first, so later loads hit a warm file cache)."""
    from gptoss_lab import Lab

    def make(**kwargs: Any) -> Any:
        return Lab("nano", **kwargs)

    make().load()
    return make


@pytest.fixture
def scripted_lab(nano_lab_factory):
    """A Lab whose model is a ScriptedModel speaking harmony through nano's tokenizer."""
    from dataclasses import replace

    def make(completion: str, interrupt_at: int | None = None) -> tuple[Any, ScriptedModel]:
        lab = nano_lab_factory()
        loaded = lab.handle.load()
        script = loaded.encode(completion)
        fake = ScriptedModel(script, loaded.model.config, interrupt_at)
        lab.handle._loaded = replace(loaded, model=fake)
        return lab, fake

    return make


@pytest.fixture
def server():
    """A replayed HTTP server (tests/unit/_replay_server.py), for the harmony-exact and routing tests."""
    from tests.unit._replay_server import serve

    yield from serve()


@pytest.fixture(scope="module")
def handle() -> Any:
    """The bundled model's handle (its tokenizer is what the replayed-server tests read)."""
    from gptoss_lab import Lab

    return Lab("nano").handle
