"""The harmony response format: render conversations, parse completions.

gpt-oss reads and writes *harmony*: every message is
``<|start|>{header}<|message|>{content}<|end|>``, where the header names the author,
an optional recipient (``to=functions.get_weather``), the channel (``analysis`` for
reasoning, ``commentary`` for tool calls, ``final`` for the answer) and an optional
content type. The model ends its turn with ``<|return|>`` (answer done) or ``<|call|>``
(a tool call); ``<|end|>`` only closes one message.

This module has two halves and imports neither torch nor transformers:

* :func:`render_prompt` turns chat dicts into the exact prompt text openai-harmony
  renders for completion (tests compare the two byte for byte).
* :class:`StreamParser` reads a completion one **token id** at a time and emits events
  (message start, content delta, message end). It never raises on model output: a
  malformed or truncated stream degrades to text of the current message, and no
  character is lost. :func:`parse_completion` is the batch form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "EFFORTS",
    "SPECIAL_TOKENS",
    "STOP_TOKENS",
    "ContentDelta",
    "Event",
    "Message",
    "MessageEnd",
    "MessageStart",
    "StreamParser",
    "TokenCodec",
    "parse_completion",
    "render_prompt",
]

Effort = Literal["low", "medium", "high"]
EFFORTS: tuple[str, ...] = ("low", "medium", "high")

#: The harmony special tokens and their ids in o200k_harmony (gpt-oss's vocabulary).
#: Other tokenizers (the bundled nano model) use other ids: look them up by name.
SPECIAL_TOKENS: dict[str, int] = {
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
#: The tokens that end an assistant turn. ``<|end|>`` is deliberately not one of them.
STOP_TOKENS: tuple[str, ...] = ("<|return|>", "<|call|>")

DEFAULT_IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."
_CHANNELS_LINE = "# Valid channels: analysis, commentary, final. Channel must be included for every message."
_TOOLS_CHANNEL_LINE = "Calls to these tools must go to the commentary channel: 'functions'."


# ----------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Message:
    """One harmony message. ``name`` is the author's name (``functions.x`` for a tool)."""

    role: str
    content: str
    channel: str | None = None
    recipient: str | None = None
    content_type: str | None = None
    name: str | None = None


def render_prompt(
    messages: Sequence[Mapping[str, Any]],
    *,
    effort: str = "medium",
    date: str | None = None,
    model_identity: str | None = None,
    knowledge_cutoff: str = "2024-06",
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """Render chat dicts as a harmony prompt that ends with ``<|start|>assistant``.

    ``messages`` are dicts with ``role`` (system | developer | user | assistant | tool) and
    ``content``. The first system/developer message becomes the developer message's
    ``# Instructions``. An assistant dict may carry ``thinking`` (past analysis) and
    ``tool_calls`` (``{"name", "arguments"}`` or OpenAI's ``{"function": {...}}``); a tool
    dict carries the function ``name``. ``tools`` are OpenAI function tools.

    The text equals openai-harmony's ``render_conversation_for_completion``: past analysis
    is dropped once the conversation's last assistant message is a final answer (harmony
    drops the analysis that precedes the first final message), and past turns end in
    ``<|end|>`` (or ``<|call|>`` for tool calls), never ``<|return|>``.
    """
    if effort not in EFFORTS:
        raise ValueError(f"effort must be one of low|medium|high, got {effort!r}: use effort='medium'")
    instructions, rest = _split_instructions(messages)
    has_tools = bool(tools)
    parts = [
        _render_message(Message("system", _system_text(effort, date, model_identity, knowledge_cutoff, has_tools)))
    ]
    if instructions is not None or has_tools:
        parts.append(_render_message(Message("developer", _developer_text(instructions, tools))))
    parts.extend(_render_message(m) for m in _drop_past_analysis(_to_messages(rest)))
    parts.append("<|start|>assistant")
    return "".join(parts)


def _system_text(effort: str, date: str | None, identity: str | None, cutoff: str, has_tools: bool) -> str:
    lines = [identity if identity is not None else DEFAULT_IDENTITY, f"Knowledge cutoff: {cutoff}"]
    if date is not None:
        lines.append(f"Current date: {date}")
    lines += ["", f"Reasoning: {effort}", "", _CHANNELS_LINE]
    if has_tools:
        lines.append(_TOOLS_CHANNEL_LINE)
    return "\n".join(lines)


def _developer_text(instructions: str | None, tools: Sequence[Mapping[str, Any]] | None) -> str:
    sections = []
    if instructions is not None:
        sections.append(f"# Instructions\n\n{instructions}")
    if tools:
        from ._tools import render_functions_namespace  # only conversations with tools need it

        sections.append(f"# Tools\n\n{render_functions_namespace(tools)}")
    return "\n\n".join(sections)


def _split_instructions(messages: Sequence[Mapping[str, Any]]) -> tuple[str | None, list[Mapping[str, Any]]]:
    """The first system/developer message is the instructions; later ones stay in place."""
    for i, m in enumerate(messages):
        if m.get("role") in ("system", "developer"):
            return str(m.get("content") or ""), [*messages[:i], *messages[i + 1 :]]
    return None, list(messages)


def _to_messages(chat: Iterable[Mapping[str, Any]]) -> list[Message]:
    out: list[Message] = []
    for m in chat:
        role = m.get("role")
        content = m.get("content")
        text = "" if content is None else str(content)
        if role == "user":
            out.append(Message("user", text))
        elif role in ("system", "developer"):
            out.append(Message("developer", f"# Instructions\n\n{text}"))
        elif role == "tool":
            name = str(m.get("name") or m.get("tool_name") or "tool")
            out.append(Message("tool", text, "commentary", "assistant", name=_function_recipient(name)))
        elif role == "assistant":
            out.extend(_assistant_messages(m, text))
        else:
            raise ValueError(f"message role must be system|developer|user|assistant|tool, got {role!r}")
    return out


def _assistant_messages(m: Mapping[str, Any], text: str) -> list[Message]:
    out = []
    if m.get("thinking"):
        out.append(Message("assistant", str(m["thinking"]), "analysis"))
    calls = m.get("tool_calls") or []
    for call in calls:
        fn = call.get("function", call)
        args = fn.get("arguments", "")
        args = args if isinstance(args, str) else json.dumps(args)
        out.append(Message("assistant", args, "commentary", _function_recipient(fn["name"]), "<|constrain|>json"))
    if text or not calls:
        out.append(Message("assistant", text, str(m.get("channel") or "final")))
    return out


def _function_recipient(name: str) -> str:
    return name if name.startswith("functions.") else f"functions.{name}"


def _drop_past_analysis(messages: list[Message]) -> list[Message]:
    # openai-harmony's rule, kept exactly: only when the last assistant message is final,
    # drop the analysis messages that come before the first final message.
    assistant = [m for m in messages if m.role == "assistant"]
    if not assistant or assistant[-1].channel != "final":
        return messages
    first_final = next(i for i, m in enumerate(messages) if m.channel == "final")
    return [m for i, m in enumerate(messages) if not (i < first_final and m.channel == "analysis")]


def _render_message(m: Message) -> str:
    author = m.name if m.role == "tool" and m.name else m.role
    header = author
    if m.recipient:
        header += f" to={m.recipient}"
    if m.channel:
        header += f"<|channel|>{m.channel}"
    if m.content_type:
        header += f" {m.content_type}"
    end = "<|call|>" if m.role == "assistant" and m.recipient else "<|end|>"
    return f"<|start|>{header}<|message|>{m.content}{end}"


# ----------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class TokenCodec:
    """What the parser needs from a tokenizer: ids of the harmony specials and a decoder.

    Any tokenizer with the harmony special tokens works; build one with
    :meth:`from_tokenizer` (Hugging Face tokenizers) or directly (openai-harmony's
    encoding: ``TokenCodec(decode=enc.decode, special_ids={...})``).
    """

    decode: Callable[[list[int]], str]
    special_ids: Mapping[str, int]

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> TokenCodec:
        if isinstance(tokenizer, TokenCodec):
            return tokenizer
        if hasattr(tokenizer, "convert_tokens_to_ids"):  # transformers tokenizers
            lookup = tokenizer.convert_tokens_to_ids
            unk = getattr(tokenizer, "unk_token_id", None)
            decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=False)  # noqa: E731
        elif hasattr(tokenizer, "token_to_id"):  # a bare `tokenizers.Tokenizer`
            lookup, unk = tokenizer.token_to_id, None
            decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=False)  # noqa: E731
        else:
            raise TypeError(
                f"cannot read harmony tokens from {type(tokenizer).__name__}: pass a transformers "
                "tokenizer or gptoss_lab.harmony.TokenCodec(decode=..., special_ids=...)"
            )
        ids = {}
        for name in SPECIAL_TOKENS:
            i = lookup(name)
            if i is not None and i != unk:
                ids[name] = int(i)
        missing = [n for n in ("<|start|>", "<|channel|>", "<|message|>", "<|end|>") if n not in ids]
        if missing:
            raise ValueError(f"tokenizer lacks the harmony special tokens {missing}: it is not a gpt-oss tokenizer")
        return cls(decode=decode, special_ids=ids)


@dataclass(frozen=True)
class MessageStart:
    """A message's header is complete: its content follows."""

    role: str
    channel: str | None
    recipient: str | None
    content_type: str | None
    name: str | None = None


@dataclass(frozen=True)
class ContentDelta:
    """New text of the current message's content."""

    text: str
    channel: str | None


@dataclass(frozen=True)
class MessageEnd:
    """A message is complete. ``stop``: the token that closed it, or ``"truncated"``."""

    message: Message
    stop: str


Event = MessageStart | ContentDelta | MessageEnd

_HEADER, _CONTENT, _DONE = "header", "content", "done"
_MAX_HEADER_CHARS = 256
_SPECIAL_TEXT_RE = re.compile("|".join(re.escape(s) for s in SPECIAL_TOKENS))


class _Decoder:
    """Incremental detokenizer: emits text once it no longer ends mid-character.

    Decodes a short window behind the read position (like an offset streamer), so byte-level
    tokens that split one UTF-8 character come out as that character, once. A decoder that
    marks an incomplete character with U+FFFD (Hugging Face) and one that raises
    (openai-harmony's ``decode_utf8``) are both handled.
    """

    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self._decode = decode
        self._ids: list[int] = []
        self._prefix = 0  # ids before this index are already emitted and context only
        self._read = 0

    def _text(self, ids: list[int]) -> str | None:
        try:
            return self._decode(ids)
        except Exception:  # a strict decoder refusing an incomplete character
            return None

    def push(self, token_id: int) -> str:
        self._ids.append(token_id)
        text = self._text(self._ids[self._prefix :])
        incomplete = text is None or text.endswith("\ufffd")
        if incomplete and len(self._ids) - self._read < 4:
            return ""  # wait for the rest of the character
        return self._emit(text)

    def flush(self) -> str:
        """Whatever is held back, even an incomplete character (as U+FFFD)."""
        if self._read == len(self._ids):
            return ""
        return self._emit(self._text(self._ids[self._prefix :]))

    def _emit(self, text: str | None) -> str:
        prefix_text = self._text(self._ids[self._prefix : self._read]) or ""
        if text is None:  # still undecodable after 4 tokens: the bytes are invalid
            text = prefix_text + "\ufffd"
        self._prefix, self._read = self._read, len(self._ids)
        return text[len(prefix_text) :]


class StreamParser:
    """Parse a harmony completion one token id at a time.

    >>> parser = StreamParser(tokenizer)           # doctest: +SKIP
    >>> for token_id in stream: events = parser.feed(token_id)

    The completion is assumed to follow a prompt ending in ``<|start|>{role}``, so parsing
    starts inside the header of a ``role`` message. Rules for malformed output (the parser
    never raises): a special token out of place is kept as its literal text in the
    current message; text where a ``<|start|>`` was expected opens a header; a
    ``<|start|>`` inside content closes that message first; a "header" longer than 256
    characters is text written without a header and becomes a channel-less message; at
    :meth:`finish` an unterminated message ends with ``stop="truncated"`` and an
    unfinished header becomes the content of a message, so no character is lost.
    """

    def __init__(self, tokenizer: Any = None, *, role: str = "assistant") -> None:
        self._codec = TokenCodec.from_tokenizer(tokenizer) if tokenizer is not None else None
        self._special = {i: n for n, i in self._codec.special_ids.items()} if self._codec else {}
        self._decoder = _Decoder(self._codec.decode) if self._codec else None
        self.messages: list[Message] = []
        self._role = role
        self._implicit = role  # the prompt wrote `<|start|>{role}`; the model did not
        self._state = _HEADER
        self._header = role
        self._head: Message | None = None
        self._content: list[str] = []

    @property
    def current(self) -> Message | None:
        """The message being written (content so far), or None between messages."""
        if self._state != _CONTENT or self._head is None:
            return None
        return _with_content(self._head, "".join(self._content))

    @property
    def state(self) -> str:
        """``"header"``, ``"content"`` or ``"done"`` (after a stop token)."""
        return self._state

    def feed(self, token_id: int) -> list[Event]:
        """Take one token id; return the events it completes."""
        if self._codec is None or self._decoder is None:
            raise TypeError("StreamParser.feed needs a tokenizer: StreamParser(tokenizer) or use feed_text")
        name = self._special.get(token_id)
        if name is not None:
            return self._on_text(self._decoder.flush()) + self._on_special(name)
        return self._on_text(self._decoder.push(token_id))

    def feed_text(self, text: str) -> list[Event]:
        """Take completion text in which special tokens appear literally (``<|end|>``)."""
        events: list[Event] = []
        pos = 0
        for match in _SPECIAL_TEXT_RE.finditer(text):
            events += self._on_text(text[pos : match.start()])
            events += self._on_special(match.group())
            pos = match.end()
        return events + self._on_text(text[pos:])

    def finish(self) -> list[Event]:
        """End of stream: close whatever is open (``stop="truncated"``)."""
        events = self._on_text(self._decoder.flush()) if self._decoder else []
        if self._state == _CONTENT:
            events += self._end("truncated")
        elif self._state == _HEADER and self._header:
            # The header never finished: keep its characters as a message's text.
            header = self._model_text(self._header)
            events += self._start(Message(self._role, ""))
            events += self._on_text(header)
            events += self._end("truncated")
        self._state, self._header = _DONE, ""
        return events

    # -- internals

    def _on_text(self, text: str) -> list[Event]:
        if not text:
            return []
        if self._state == _CONTENT:
            self._content.append(text)
            return [ContentDelta(text, self._head.channel if self._head else None)]
        self._state = _HEADER  # text between messages (or after a stop) opens a header
        self._header += text
        if len(self._header) > _MAX_HEADER_CHARS:
            # No real header is this long: the model is writing text without a header.
            # Show it as the content of a channel-less message rather than hold it back.
            header, self._header = self._model_text(self._header), ""
            return self._start(Message(self._role, "")) + self._on_text(header)
        return []

    def _on_special(self, name: str) -> list[Event]:
        state = self._state
        if name == "<|start|>":
            events = self._end("truncated") if state == _CONTENT else []
            if state == _HEADER and self._header:
                return self._on_text(name)  # a second <|start|> inside a header: keep it as text
            self._state, self._header, self._implicit = _HEADER, "", ""
            return events
        if state == _HEADER and name in ("<|channel|>", "<|constrain|>"):
            self._header += name
            return []
        if state == _HEADER and name == "<|message|>":
            return self._start(_parse_header(self._header))
        if state == _CONTENT and name in ("<|end|>", "<|return|>", "<|call|>"):
            return self._end(name)
        if state != _CONTENT and name in ("<|end|>", "<|return|>", "<|call|>", "<|endoftext|>") and not self._header:
            return []  # a stray terminator between messages carries no text
        if state == _CONTENT:
            return self._on_text(name)
        self._state = _HEADER
        self._header += name
        return []

    def _model_text(self, header: str) -> str:
        """The header's characters minus the role the prompt wrote for the model."""
        return header[len(self._implicit) :] if header.startswith(self._implicit) else header

    def _start(self, head: Message) -> list[Event]:
        self._implicit = ""
        self._head, self._content, self._state, self._header = head, [], _CONTENT, ""
        return [MessageStart(head.role, head.channel, head.recipient, head.content_type, head.name)]

    def _end(self, stop: str) -> list[Event]:
        assert self._head is not None
        message = _with_content(self._head, "".join(self._content))
        self.messages.append(message)
        self._head, self._content = None, []
        self._state = _DONE if stop in ("<|return|>", "<|call|>") else _HEADER
        self._header = ""
        return [MessageEnd(message, stop)]


def _with_content(head: Message, content: str) -> Message:
    return Message(head.role, content, head.channel, head.recipient, head.content_type, head.name)


_ROLES = ("assistant", "user", "system", "developer", "tool")


def _parse_header(header: str) -> Message:
    """``assistant to=functions.f<|channel|>commentary <|constrain|>json`` -> a content-less Message.

    The recipient may stand before or after the channel (the model writes it after,
    openai-harmony writes history with it before). An author that is not a role
    (``functions.get_weather``) is a tool of that name.
    """
    before, _, after = header.partition("<|channel|>")
    words = before.split()
    author = words[0] if words else "assistant"
    recipient = next((w[3:] for w in words[1:] if w.startswith("to=")), None)
    channel = content_type = None
    if _ or after:
        rest = after.replace("<|constrain|>", " <|constrain|>", 1)
        fields = rest.split()
        channel = fields[0] if fields and not fields[0].startswith("<|constrain|>") else None
        others = fields[1:] if channel is not None else fields
        for w in others:
            if w.startswith("to=") and recipient is None:
                recipient = w[3:]
            elif content_type is None and not w.startswith("to="):
                content_type = w
    if author in _ROLES:
        return Message(author, "", channel, recipient, content_type)
    return Message("tool", "", channel, recipient, content_type, name=author)


def parse_completion(
    ids_or_text: Sequence[int] | str, tokenizer: Any = None, *, role: str = "assistant"
) -> list[Message]:
    """Parse a whole completion (token ids with a tokenizer, or text) into messages."""
    parser = StreamParser(tokenizer, role=role)
    if isinstance(ids_or_text, str):
        parser.feed_text(ids_or_text)
    else:
        for token_id in ids_or_text:
            parser.feed(int(token_id))
    parser.finish()
    return parser.messages


def token_sources(ids: Sequence[int], tokenizer: Any) -> list[str]:
    """Which message each token of a whole sequence (prompt + completion) belongs to.

    A token is labelled with its message's channel when the author is the assistant
    (``analysis``, ``commentary``, ``final``) and with the author's role otherwise
    (``system``, ``developer``, ``user``, ``tool``). Header and terminator tokens belong to
    their message; tokens of a header that never completed are ``header``.
    """
    parser = StreamParser(tokenizer, role="")
    labels: list[str] = []
    pending = 0  # tokens seen since the last label was known
    for token_id in ids:
        pending += 1
        for event in parser.feed(int(token_id)):
            if isinstance(event, MessageStart):
                labels += [_source(event.role, event.channel)] * pending
                pending = 0
            elif isinstance(event, MessageEnd):
                labels += [_source(event.message.role, event.message.channel)] * pending
                pending = 0
        if pending and parser.current is not None:
            labels += [_source(parser.current.role, parser.current.channel)] * pending
            pending = 0
    return labels + ["header"] * pending


def _source(role: str, channel: str | None) -> str:
    if role == "assistant":
        return channel if channel in ("analysis", "commentary", "final") else "final"
    return role if role in ("system", "developer", "user", "tool") else "tool"
