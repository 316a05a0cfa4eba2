"""Offline openai-harmony reference helpers for the harmony tests.

openai-harmony reads ``o200k_base.tiktoken`` (``base64(token bytes) rank`` per
line) from the directory named by ``TIKTOKEN_ENCODINGS_BASE`` and checks its
SHA-256; otherwise it downloads the file. toktok-rs ships the same vocabulary
compiled in, so the file is rebuilt from it here and no network is needed.

``to_harmony_conversation`` expresses this project's chat-dict format with
openai-harmony's own builder API, independently of ``gptoss_lab.harmony``.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openai_harmony import Conversation, HarmonyEncoding, ToolDescription

VOCAB_FILE_NAME = "o200k_base.tiktoken"
ENCODINGS_BASE_VAR = "TIKTOKEN_ENCODINGS_BASE"

# The nine harmony control tokens and their o200k_harmony ids.
HARMONY_SPECIAL_IDS: dict[str, int] = {
    "<|startoftext|>": 199998,
    "<|endoftext|>": 199999,
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|call|>": 200012,
}


def write_o200k_base_vocab(directory: Path) -> Path:
    """Write ``o200k_base.tiktoken`` into ``directory`` (reused if present)."""
    import toktok

    directory.mkdir(parents=True, exist_ok=True)
    target = directory / VOCAB_FILE_NAME
    if target.is_file() and target.stat().st_size > 0:
        return target

    tokenizer = toktok._encoding("o200k_base")
    lines: list[bytes] = []
    for rank in range(tokenizer.n_vocab):
        if tokenizer.is_special_token(rank):
            continue
        try:
            token_bytes = tokenizer.decode_single_token_bytes(rank)
        except KeyError:  # unused ranks between the vocabulary and the specials
            continue
        lines.append(base64.b64encode(token_bytes) + b" " + str(rank).encode() + b"\n")

    partial = target.with_suffix(".partial")
    partial.write_bytes(b"".join(lines))
    partial.replace(target)
    return target


def load_offline_harmony_encoding(directory: Path) -> HarmonyEncoding:
    """Build the vocabulary under ``directory`` and load the gpt-oss encoding from it."""
    from openai_harmony import HarmonyEncodingName, load_harmony_encoding

    vocab = write_o200k_base_vocab(directory)
    os.environ[ENCODINGS_BASE_VAR] = str(vocab.parent)
    return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)


# --- chat dicts -> openai_harmony.Conversation ------------------------------


def _function_fields(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    """Accept both the OpenAI ``{"type": "function", "function": {...}}`` form and a plain dict."""
    inner = entry.get("function")
    return inner if isinstance(inner, Mapping) else entry


def _tool_descriptions(tools: Sequence[Mapping[str, Any]]) -> list[ToolDescription]:
    from openai_harmony import ToolDescription

    out = []
    for entry in tools:
        fields = _function_fields(entry)
        out.append(
            ToolDescription.new(
                fields["name"],
                fields.get("description") or "",
                parameters=fields.get("parameters"),
            )
        )
    return out


def _call_arguments(arguments: str | Mapping[str, Any]) -> str:
    """A string is sent as is; a dict is serialised with ``json.dumps`` defaults."""
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def to_harmony_conversation(
    messages: Sequence[Mapping[str, Any]],
    *,
    effort: str = "medium",
    date: str | None = None,
    model_identity: str | None = None,
    knowledge_cutoff: str = "2024-06",
    tools: Sequence[Mapping[str, Any]] | None = None,
    builtin_tools: Mapping[str, str] | None = None,
) -> Conversation:
    """Express a chat-dict conversation as an ``openai_harmony.Conversation``.

    Analysis dropping is left to openai-harmony's renderer (its default
    ``auto_drop_analysis``), so every ``thinking`` is passed through here.
    """
    from openai_harmony import (
        Author,
        DeveloperContent,
        Message,
        ReasoningEffort,
        Role,
        SystemContent,
    )

    system = (
        SystemContent.new()
        .with_reasoning_effort(ReasoningEffort(effort.capitalize()))
        .with_knowledge_cutoff(knowledge_cutoff)
    )
    if model_identity is not None:
        system = system.with_model_identity(model_identity)
    if date is not None:
        system = system.with_conversation_start_date(date)
    for name, description in (builtin_tools or {}).items():  # the model's own tools: python
        from openai_harmony import ToolNamespaceConfig

        system = system.with_tools(ToolNamespaceConfig(name=name, description=description, tools=[]))
    out = [Message.from_role_and_content(Role.SYSTEM, system)]

    instructions: str | None = None
    rest: list[Mapping[str, Any]] = []
    for message in messages:
        if message["role"] in ("system", "developer") and instructions is None:
            instructions = message["content"]
        else:
            rest.append(message)

    if instructions is not None or tools:
        developer = DeveloperContent.new()
        if instructions is not None:
            developer = developer.with_instructions(instructions)
        if tools:
            developer = developer.with_function_tools(_tool_descriptions(tools))
        out.append(Message.from_role_and_content(Role.DEVELOPER, developer))

    for message in rest:
        role = message["role"]
        content = message.get("content") or ""
        if role == "user":
            out.append(Message.from_role_and_content(Role.USER, content))
        elif role == "assistant":
            thinking = message.get("thinking")
            calls = message.get("tool_calls") or []
            if thinking:
                out.append(Message.from_role_and_content(Role.ASSISTANT, thinking).with_channel("analysis"))
            if message.get("preamble"):
                out.append(
                    Message.from_role_and_content(Role.ASSISTANT, message["preamble"]).with_channel("commentary")
                )
            for call in calls:
                fields = _function_fields(call)
                if fields["name"] == "python":
                    out.append(
                        Message.from_role_and_content(Role.ASSISTANT, fields["arguments"])
                        .with_channel("analysis")
                        .with_recipient("python")
                        .with_content_type("code")
                    )
                    continue
                out.append(
                    Message.from_role_and_content(Role.ASSISTANT, _call_arguments(fields["arguments"]))
                    .with_channel("commentary")
                    .with_recipient(f"functions.{fields['name']}")
                    .with_content_type("<|constrain|>json")
                )
            if content or not calls:
                out.append(Message.from_role_and_content(Role.ASSISTANT, content).with_channel("final"))
        elif role == "tool" and message["name"] == "python":
            author = Author.new(Role.TOOL, "python")
            out.append(
                Message.from_author_and_content(author, content).with_recipient("assistant").with_channel("analysis")
            )
        elif role == "tool":
            author = Author.new(Role.TOOL, f"functions.{message['name']}")
            out.append(
                Message.from_author_and_content(author, content).with_recipient("assistant").with_channel("commentary")
            )
        else:
            raise ValueError(f"unsupported role in reference converter: {role!r}")
    from openai_harmony import Conversation

    return Conversation.from_messages(out)


def harmony_prompt_tokens(encoding: HarmonyEncoding, conversation: Conversation) -> list[int]:
    """openai-harmony's prompt for the next assistant turn (default render config)."""
    from openai_harmony import Role

    return list(encoding.render_conversation_for_completion(conversation, Role.ASSISTANT))
