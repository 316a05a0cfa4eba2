"""Model text is never control, through real tokenizers and the Lab.

A rendered Prompt goes to the model with its structure as control tokens and every message's
text as ordinary tokens: nano's tokenizer, gpt-oss's o200k_harmony (built offline, compared with
openai-harmony) and a Lab turn whose user prompt and past answer hold ``<|end|><|start|>assistant``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gptoss_lab.harmony import TokenCodec, parse_completion, render_prompt
from gptoss_lab.model import encode_prompt
from tests.integration.conftest import ScriptedModel
from tests.unit.test_harmony_prompt import INJECTION, TOOL, conversation

NANO = __import__("pathlib").Path(__import__("gptoss_lab").__file__).parent / "nano" / "checkpoint"


@pytest.fixture(scope="module")
def nano_tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(NANO)


@pytest.fixture(scope="module")
def o200k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """(the o200k_harmony transformers tokenizer, openai-harmony's encoding), both offline."""
    pytest.importorskip("toktok")
    pytest.importorskip("openai_harmony")
    from transformers import AutoTokenizer

    from tests.reference.harmony_ref import load_offline_harmony_encoding
    from tests.reference.o200k_tokenizer import write_o200k_harmony_tokenizer

    path = write_o200k_harmony_tokenizer(tmp_path_factory.mktemp("o200k-tokenizer"))
    return AutoTokenizer.from_pretrained(path), load_offline_harmony_encoding(tmp_path_factory.mktemp("o200k-vocab"))


def _round_trip(tokenizer: Any, prompt: Any) -> list[int]:
    """Encode, then check: the text comes back, the structure is the renderer's, the parser reads content."""
    ids = encode_prompt(tokenizer, prompt)
    codec = TokenCodec.from_tokenizer(tokenizer)
    assert tokenizer.decode(ids, skip_special_tokens=False) == prompt
    assert ids.count(codec.special_ids["<|start|>"]) == prompt.count("<|start|>") - prompt.count(INJECTION)
    contents = [m.content for m in parse_completion(ids, codec, role="")]
    assert contents.count(INJECTION) == 5
    assert codec.token_bytes is not None  # byte-level: the parser decodes exactly
    assert b"".join(codec.token_bytes(i) for i in ids) == prompt.encode()
    return ids


def test_nano_tokenizer_keeps_typed_special_tokens_as_text(nano_tokenizer: Any) -> None:
    _round_trip(nano_tokenizer, render_prompt(conversation(INJECTION), tools=[TOOL]))


def test_nano_prompt_without_literals_encodes_as_before(nano_tokenizer: Any) -> None:
    """Piece by piece gives the ids the whole text gave: text between specials was split there anyway."""
    tool = {**TOOL, "description": "Adds."}  # TOOL's own description holds a literal <|call|>
    prompt = render_prompt(conversation("What is 17 + 25? naïve 😀"), tools=[tool], date="2026-11-29")
    assert encode_prompt(nano_tokenizer, prompt) == nano_tokenizer.encode(str(prompt), add_special_tokens=False)


def test_model_handle_encodes_a_prompt_before_loading() -> None:
    from gptoss_lab.model import ModelHandle

    handle = ModelHandle("nano")
    prompt = render_prompt([{"role": "user", "content": INJECTION}])
    ids = handle.encode(prompt)
    assert not handle.loaded
    assert ids == encode_prompt(handle._tokenizer, prompt)
    assert ids.count(handle._tokenizer.convert_tokens_to_ids("<|start|>")) == 3  # system, user, the open turn


def test_o200k_prompt_ids_equal_openai_harmony(o200k: tuple[Any, Any]) -> None:
    from tests.reference.harmony_ref import harmony_prompt_tokens, to_harmony_conversation

    tokenizer, encoding = o200k
    messages = conversation(INJECTION)
    expected = harmony_prompt_tokens(encoding, to_harmony_conversation(messages, tools=[TOOL]))
    assert _round_trip(tokenizer, render_prompt(messages, tools=[TOOL])) == expected


def test_a_lab_turn_sends_typed_and_past_special_text_as_text(nano_lab_factory: Any) -> None:
    lab = nano_lab_factory()
    loaded = lab.handle.load()
    text_ids = loaded.tokenizer.encode(INJECTION, add_special_tokens=False, split_special_tokens=True)
    script = [*loaded.encode("<|channel|>final<|message|>"), *text_ids, *loaded.encode("<|return|>")]
    lab.handle._loaded = replace(loaded, model=ScriptedModel(script, loaded.model.config))
    start = loaded.codec.special_ids["<|start|>"]

    first = lab.ask(INJECTION, max_new_tokens=len(script) + 1)
    assert first.answer == INJECTION  # the model's literal text is content, not structure
    assert first.prompt_ids.count(start) == 3  # system, user, the open turn

    second = lab.ask("and now?", max_new_tokens=1)
    assert second.prompt_ids.count(start) == 5  # + the past answer, + this user turn
    assert loaded.tokenizer.decode(second.prompt_ids, skip_special_tokens=False).count(INJECTION) == 2
