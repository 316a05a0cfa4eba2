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
