"""gpt-oss's real vocabulary end to end, without real weights.

A tokenizer.json for o200k_harmony (201088 ids) is built from toktok-rs's vocabulary and saved
beside a tiny random gpt-oss of vocab_size 201088. ``Lab(path).ask`` must then send exactly the
prompt ids openai-harmony renders, and read the real special ids (<|channel|> 200005,
<|message|> 200008, <|end|> 200007, <|start|> 200006, <|return|> 200002) in a completion
forced through the model's logits, reasoning and answer apart.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.integration.test_real_formats import tiny_config
from tests.reference.harmony_ref import (
    HARMONY_SPECIAL_IDS,
    harmony_prompt_tokens,
    load_offline_harmony_encoding,
    to_harmony_conversation,
)
from tests.reference.o200k_tokenizer import write_o200k_harmony_tokenizer

pytest.importorskip("toktok")
pytest.importorskip("openai_harmony")

VOCAB = 201088
FINAL = "<|end|><|start|>assistant<|channel|>final<|message|>"
COMPLETIONS = [
    f"<|channel|>analysis<|message|>User asks 2+2. Simple: 4.{FINAL}4<|return|>",
    f"<|channel|>analysis<|message|>Now 3+3 = 6.{FINAL}6<|return|>",
]
TEXTS = ["What is 17 + 25?\n\nAnswer briefly.  ", "naïve café — 東京 😀 don't I'LL", "def f(x):\n\treturn x**2\r\n"]


class ScriptedLogits:
    """A forward hook on lm_head: each call makes the next token of a script the only choice."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.step = 0

    def reset(self, script: list[int]) -> None:
        self.script, self.step = script, 0

    def __call__(self, module: Any, args: Any, logits: torch.Tensor) -> torch.Tensor:
        forced = torch.full_like(logits[:, -1], float("-inf"))
        forced[:, self.script[min(self.step, len(self.script) - 1)]] = 0.0
        self.step += 1
        return torch.cat([logits[:, :-1], forced[:, None]], dim=1)  # (1, T, V): only the last row is read


@pytest.fixture(scope="module")
def real_vocab(tmp_path_factory):
    """(checkpoint dir, openai-harmony encoding): the o200k_harmony tokenizer with a tiny random model."""
    from transformers import GptOssForCausalLM

    path = write_o200k_harmony_tokenizer(tmp_path_factory.mktemp("o200k-model"))
    torch.manual_seed(0)
    model = GptOssForCausalLM(tiny_config(VOCAB, hidden_size=32, intermediate_size=32, head_dim=8))
    model.to(torch.bfloat16).save_pretrained(path)
    return path, load_offline_harmony_encoding(tmp_path_factory.mktemp("o200k-vocab"))


def test_tokenizer_has_the_real_ids(real_vocab):
    import toktok
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(real_vocab[0])
    reference = toktok._encoding("o200k_harmony")
    assert len(tokenizer) == VOCAB == reference.n_vocab
    for name, rank in HARMONY_SPECIAL_IDS.items():
        assert tokenizer.convert_tokens_to_ids(name) == rank == reference.encode_single_token(name)
    for text in [
        "What is 17 + 25?\n\nAnswer briefly.  ",
        "naïve café — 東京 😀 don't I'LL",
        "def f(x):\n\treturn x**2\r\n",
    ]:
        assert tokenizer.encode(text, add_special_tokens=False) == list(reference.encode_ordinary(text))


def test_lab_speaks_harmony_with_the_real_special_ids(real_vocab):
    from openai_harmony import Role

    from gptoss_lab import Lab

    path, encoding = real_vocab
    lab = Lab(str(path))
    loaded = lab.handle.load()
    assert loaded.codec.special_ids == HARMONY_SPECIAL_IDS
    assert loaded.stop_ids == (200002, 200012)
    script = ScriptedLogits()
    hook = loaded.model.lm_head.register_forward_hook(script)
    try:
        history: list[dict[str, Any]] = []
        for question, completion in zip(["What is 2+2?", "And 3+3?"], COMPLETIONS, strict=True):
            script.reset(loaded.encode(completion))
            reply = lab.ask(question, effort="low", max_new_tokens=40, temperature=0)
            history.append({"role": "user", "content": question})
            expected = harmony_prompt_tokens(encoding, to_harmony_conversation(history, effort="low"))
            assert reply.prompt_ids == expected  # openai-harmony's own rendering, past turns included
            assert reply.completion_ids == script.script
            assert {200005, 200008, 200007, 200006, 200002} <= set(reply.completion_ids)
            assert reply.stopped == "return"
            parsed = encoding.parse_messages_from_completion_tokens(reply.completion_ids, Role.ASSISTANT)
            assert [m.channel for m in parsed] == ["analysis", "final"]
            assert reply.reasoning == parsed[0].content[0].text
            assert reply.answer == parsed[1].content[0].text
            history.append({"role": "assistant", "content": reply.answer, "thinking": reply.reasoning})
    finally:
        hook.remove()
    assert [r.answer for r in lab.replies] == ["4", "6"]


def test_a_forced_tool_call_round_trips_through_openai_harmony(real_vocab):
    """A function call and a python call forced on the real vocabulary: openai-harmony's parser reads what the
    Lab read, and the next round's prompt is openai-harmony's rendering of the call and its result."""
    from openai_harmony import Role

    from gptoss_lab import Lab
    from gptoss_lab.python_tool import description
    from gptoss_lab.tools import tool

    def get_weather(city: str) -> str:
        """The weather now in a city."""
        return f"sunny in {city}"

    path, encoding = real_vocab
    lab = Lab(str(path))
    loaded = lab.handle.load()
    call = (
        "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary "
        'to=functions.get_weather <|constrain|>json<|message|>{"city":"Oslo"}<|call|>'
    )
    final = f"<|channel|>analysis<|message|>Sunny.{FINAL}Sunny in Oslo.<|return|>"
    script = ScriptedLogits()
    script.reset(loaded.encode(call) + loaded.encode(final))
    hook = loaded.model.lm_head.register_forward_hook(script)
    try:
        reply = lab.ask("Weather in Oslo?", effort="low", max_new_tokens=60, temperature=0, tools=[get_weather])
    finally:
        hook.remove()
    (done,) = reply.tool_rounds
    parsed = encoding.parse_messages_from_completion_tokens(done.reply.completion_ids, Role.ASSISTANT)
    assert [(m.channel, m.recipient, m.content_type) for m in parsed] == [
        ("analysis", None, None),
        ("commentary", "functions.get_weather", "<|constrain|>json"),
    ]
    assert [(m.recipient, m.content) for m in done.reply.tool_calls] == [
        (parsed[1].recipient, parsed[1].content[0].text)
    ]
    history = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "thinking": "Need the weather.", "tool_calls": [
            {"name": "get_weather", "arguments": '{"city":"Oslo"}'}]},
        {"role": "tool", "name": "get_weather", "content": "sunny in Oslo"},
    ]  # fmt: skip
    spec = [tool(get_weather).spec()["function"]]
    expected = harmony_prompt_tokens(encoding, to_harmony_conversation(history, effort="low", tools=spec))
    assert reply.prompt_ids == expected
    assert reply.answer == "Sunny in Oslo."

    code = "<|channel|>analysis<|message|>Compute.<|end|><|start|>assistant to=python<|channel|>analysis code"
    code += "<|message|>print(2**10)<|call|>"
    ids = loaded.encode(code)
    parsed = encoding.parse_messages_from_completion_tokens(ids, Role.ASSISTANT)
    assert [(m.channel, m.recipient, m.content_type) for m in parsed][-1] == ("analysis", "python", "code")
    python = {"python": description(30.0)}
    history = [
        {"role": "user", "content": "2**10?"},
        {"role": "assistant", "content": "", "thinking": "Compute.", "tool_calls": [
            {"name": "python", "arguments": "print(2**10)"}]},
        {"role": "tool", "name": "python", "content": "1024"},
    ]  # fmt: skip
    from gptoss_lab.harmony import render_prompt

    ours = loaded.encode(render_prompt(history, effort="low", builtin_tools=python))
    assert ours == harmony_prompt_tokens(encoding, to_harmony_conversation(history, effort="low", builtin_tools=python))
