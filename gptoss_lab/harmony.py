"""The harmony response format: render conversations, parse completions.

gpt-oss reads and writes *harmony*: every message is
``<|start|>{header}<|message|>{content}<|end|>``, where the header names the author,
an optional recipient (``to=functions.get_weather``), the channel (``analysis`` for
reasoning, ``commentary`` for tool calls, ``final`` for the answer) and an optional
content type. The model ends its turn with ``<|return|>`` (answer done) or ``<|call|>``
(a tool call); ``<|end|>`` only closes one message.

This module has two halves and imports neither torch nor transformers:

* :func:`render_prompt` turns chat dicts into the exact prompt text openai-harmony
  renders for completion (tests compare the two byte for byte). The text is a
  :class:`Prompt`, which remembers which parts are structure: message text is encoded
  as text, so a literal ``<|end|>`` typed by a user never becomes a control token.
* :class:`StreamParser` reads a completion one **token id** at a time and emits events
  (message start, content delta, message end). It never raises on model output and
  loses no character: every message keeps its header as written, a header that does not
  parse is flagged ``malformed``, and text outside any header becomes a message's
  content. :func:`parse_completion` is the batch form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .detok import byte_level_reader, make_decoder
from .options import DEFAULT_EFFORT, EFFORTS, check_effort

__all__ = [
    "EFFORTS",
    "SPECIAL_TOKENS",
    "STOP_TOKENS",
    "ContentDelta",
    "Event",
    "Message",
    "MessageEnd",
    "MessageStart",
    "Prompt",
    "StreamParser",
    "TokenCodec",
    "parse_completion",
    "render_prompt",
]

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
#: The model's own tools that a conversation may name (the python tool; the browser is not offered here)
BUILTIN_TOOLS = ("python",)


# ----------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Message:
    """One harmony message. ``name`` is the author's name (``functions.x`` for a tool).

    Parsed messages also keep ``header``, the characters the model wrote between
    ``<|start|>`` and ``<|message|>`` (special tokens as their literal text; the role the
    prompt wrote is not included). ``malformed`` is True when that header did not parse
    cleanly (the fields are then a best guess) or when the message had no header at all.
    """

    role: str
    content: str
    channel: str | None = None
    recipient: str | None = None
    content_type: str | None = None
    name: str | None = None
    header: str = ""
    malformed: bool = False


#: ``(text, special)``: a special piece is one control token, any other piece is text.
Piece = tuple[str, bool]


class Prompt(str):
    """Harmony prompt text that remembers which parts are control tokens.

    It is its text (compare, print and slice it as a ``str``); ``pieces`` say which parts
    the renderer wrote as structure. :meth:`token_ids` encodes the text pieces as ordinary
    text, so a message holding ``<|end|><|start|>assistant`` stays that text to the model.
    A plain string (and anything built by ``+`` or slicing) has no pieces: a tokenizer
    reads its literal special tokens as control.
    """

    pieces: tuple[Piece, ...]

    def __new__(cls, pieces: Iterable[Piece]) -> Prompt:
        merged: list[Piece] = []
        for text, special in pieces:
            if merged and not special and not merged[-1][1]:
                merged[-1] = (merged[-1][0] + text, False)  # adjacent text: one piece, tokenized as one
            elif text:
                merged.append((text, special))
        self = super().__new__(cls, "".join(text for text, _ in merged))
        self.pieces = tuple(merged)
        return self

    def __getnewargs__(self) -> tuple[tuple[Piece, ...]]:  # type: ignore[override]
        return (self.pieces,)

    def token_ids(self, encode_text: Callable[[str], list[int]], special_ids: Mapping[str, int]) -> list[int]:
        """Ids: each special piece by ``special_ids``, each text piece by ``encode_text``.

        ``encode_text`` must encode with special-token parsing off (transformers:
        ``tokenizer.encode(t, add_special_tokens=False, split_special_tokens=True)``;
        tiktoken / openai-harmony: ``enc.encode(t, disallowed_special=())``).
        """
        ids: list[int] = []
        for text, special in self.pieces:
            if special:
                ids.append(special_ids[text])
            else:
                ids.extend(encode_text(text))
        return ids


def render_prompt(
    messages: Sequence[Mapping[str, Any]],
    *,
    effort: str = DEFAULT_EFFORT,
    date: str | None = None,
    model_identity: str | None = None,
    knowledge_cutoff: str = "2024-06",
    tools: Sequence[Mapping[str, Any]] | None = None,
    builtin_tools: Mapping[str, str] | None = None,
) -> Prompt:
    """Render chat dicts as a harmony prompt that ends with ``<|start|>assistant``.

    ``messages`` are dicts with ``role`` (system | developer | user | assistant | tool) and
    ``content``. The first system/developer message becomes the developer message's
    ``# Instructions``. An assistant dict may carry ``thinking`` (past analysis), ``preamble``
    (commentary to the user before its calls) and ``tool_calls``
    (``{"name", "arguments"}`` or OpenAI's ``{"function": {...}}``); a tool
    dict carries the function ``name``. ``tools`` are OpenAI function tools; ``builtin_tools`` names the
    model's own tools (``{"python": description}``), which the system message describes and whose calls
    and results go in the analysis channel (a call or tool dict named ``python`` is one).

    The text equals openai-harmony's ``render_conversation_for_completion``: past analysis
    is dropped once the conversation's last assistant message is a final answer (harmony
    drops the analysis that precedes the first final message), and past turns end in
    ``<|end|>`` (or ``<|call|>`` for tool calls), never ``<|return|>``. The result is a
    :class:`Prompt`: every message's text, header fields included, is text, never structure.
    """
    check_effort(effort)
    instructions, rest = _split_instructions(messages)
    has_tools = bool(tools)
    system = _system_text(effort, date, model_identity, knowledge_cutoff, has_tools, builtin_tools or {})
    messages_out = [Message("system", system)]
    if instructions is not None or has_tools:
        messages_out.append(Message("developer", _developer_text(instructions, tools)))
    messages_out += _drop_past_analysis(_to_messages(rest))
    pieces = [piece for m in messages_out for piece in _render_message(m)]
    return Prompt([*pieces, ("<|start|>", True), ("assistant", False)])


def _system_text(
    effort: str, date: str | None, identity: str | None, cutoff: str, has_tools: bool, builtin: Mapping[str, str]
) -> str:
    lines = [identity if identity is not None else DEFAULT_IDENTITY, f"Knowledge cutoff: {cutoff}"]
    if date is not None:
        lines.append(f"Current date: {date}")
    lines += ["", f"Reasoning: {effort}", ""]
    if builtin:
        lines += ["# Tools", ""]
        for name, description in builtin.items():
            lines += [f"## {name}", "", description, ""]
    lines.append(_CHANNELS_LINE)
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
            if name in BUILTIN_TOOLS:  # the model's own tool answers in the analysis channel
                out.append(Message("tool", text, "analysis", "assistant", name=name))
            else:
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
    if m.get("preamble"):  # what it told the user before its calls (commentary, to no tool)
        out.append(Message("assistant", str(m["preamble"]), "commentary"))
    calls = m.get("tool_calls") or []
    for call in calls:
        fn = call.get("function", call)
        args = fn.get("arguments", "")
        args = args if isinstance(args, str) else json.dumps(args)
        if fn["name"] in BUILTIN_TOOLS:  # code to the model's own tool, in the analysis channel
            out.append(Message("assistant", args, "analysis", fn["name"], "code"))
        else:
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


def _render_message(m: Message) -> list[Piece]:
    """``<|start|>{header}<|message|>{content}<|end|>`` as pieces: only the structure is special."""
    author = m.name if m.role == "tool" and m.name else m.role
    pieces: list[Piece] = [("<|start|>", True), (author, False)]
    if m.recipient:
        pieces.append((f" to={m.recipient}", False))
    if m.channel:
        pieces += [("<|channel|>", True), (m.channel, False)]
    if m.content_type:
        kind = m.content_type.removeprefix("<|constrain|>")  # the renderer's own "<|constrain|>json"
        pieces += [(" ", False), ("<|constrain|>", True)] if kind != m.content_type else [(" ", False)]
        pieces.append((kind, False))
    end = "<|call|>" if m.role == "assistant" and m.recipient else "<|end|>"
    return [*pieces, ("<|message|>", True), (m.content, False), (end, True)]


# ----------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class TokenCodec:
    """What the parser needs from a tokenizer: ids of the harmony specials and a decoder.

    ``token_bytes`` (one id -> its bytes), when known, lets the parser decode UTF-8 exactly:
    only invalid bytes become U+FFFD. Without it the parser decodes windows of ids with
    ``decode``: every valid character is still kept, but a run of invalid bytes may come out
    as more or fewer U+FFFD. Build one with :meth:`from_tokenizer` (Hugging Face tokenizers;
    byte-level ones, as gpt-oss's, get ``token_bytes``) or directly (openai-harmony's
    encoding: ``TokenCodec(decode=enc.decode, special_ids={...})``).
    """

    decode: Callable[[list[int]], str]
    special_ids: Mapping[str, int]
    token_bytes: Callable[[int], bytes] | None = None

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
        return cls(decode=decode, special_ids=ids, token_bytes=byte_level_reader(tokenizer, decode))


@dataclass(frozen=True)
class MessageStart:
    """A message's header is complete: its content follows. ``header``: as written."""

    role: str
    channel: str | None
    recipient: str | None
    content_type: str | None
    name: str | None = None
    header: str = ""
    malformed: bool = False


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
_TERMINATORS = ("<|end|>", "<|return|>", "<|call|>")


class StreamParser:
    """Parse a harmony completion one token id at a time.

    >>> parser = StreamParser(tokenizer)           # doctest: +SKIP
    >>> for token_id in stream: events = parser.feed(token_id)

    The completion is assumed to follow a prompt ending in ``<|start|>{role}``, so parsing
    starts inside the header of a ``role`` message. The parser never raises and keeps every
    character: a message's ``header`` is its header as written, its ``content`` the text after
    ``<|message|>``. Malformed output: a header that does not parse (extra words, text glued
    to the role, stray special tokens) gives a message flagged ``malformed`` whose fields are
    a best guess; a special token out of place in content is kept as its literal text; text
    where a ``<|start|>`` was expected opens a header; a ``<|start|>`` closes an open message,
    and makes header text before it a message of its own; a ``<|return|>``/``<|call|>`` in a
    header ends a content-less message; a "header" longer than 256 characters, and an
    unfinished one at :meth:`finish`, becomes the content of a channel-less malformed message;
    an unterminated message ends with ``stop="truncated"``.
    """

    def __init__(self, tokenizer: Any = None, *, role: str = "assistant") -> None:
        self._codec = TokenCodec.from_tokenizer(tokenizer) if tokenizer is not None else None
        self._special = {i: n for n, i in self._codec.special_ids.items()} if self._codec else {}
        self._decoder = make_decoder(self._codec.decode, self._codec.token_bytes) if self._codec else None
        self.messages: list[Message] = []
        self._role = role or "assistant"  # the author of text written without a header
        self._implicit = role  # the prompt wrote `<|start|>{role}`; the model did not
        self._state = _HEADER
        self._header = ""  # the header as the model writes it, special tokens literal
        self._head: Message | None = None
        self._content: list[str] = []

    @property
    def current(self) -> Message | None:
        """The message being written (content so far), or None between messages."""
        if self._state != _CONTENT or self._head is None:
            return None
        return replace(self._head, content="".join(self._content))

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
        elif self._header:  # the header never finished: its characters become text
            events += self._headerless() + self._end("truncated")
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
            return self._headerless()
        return []

    def _on_special(self, name: str) -> list[Event]:
        if name == "<|start|>":
            events = self._end("truncated") if self._state == _CONTENT else []
            if self._header:  # text where a header was expected: a message of its own
                events += self._headerless() + self._end("truncated")
            self._state, self._header, self._implicit = _HEADER, "", ""
            return events
        if self._state == _CONTENT:
            return self._end(name) if name in _TERMINATORS else self._on_text(name)
        if name == "<|message|>":
            return self._start(_parse_header(self._header, self._implicit, self._role))
        if not self._header and name in (*_TERMINATORS, "<|endoftext|>"):
            return []  # a stray terminator between messages carries no text
        if name in STOP_TOKENS:  # the turn ended inside a header: a message without content
            head = _parse_header(self._header, self._implicit, self._role)
            return self._start(replace(head, malformed=True)) + self._end(name)
        self._state = _HEADER
        self._header += name
        return []

    def _headerless(self) -> list[Event]:
        """The header text so far becomes the content of a channel-less, malformed message."""
        text, self._header = self._header, ""
        return self._start(Message(self._role, "", malformed=True)) + self._on_text(text)

    def _start(self, head: Message) -> list[Event]:
        self._implicit = ""
        self._head, self._content, self._state, self._header = head, [], _CONTENT, ""
        fields = (head.role, head.channel, head.recipient, head.content_type, head.name, head.header, head.malformed)
        return [MessageStart(*fields)]

    def _end(self, stop: str) -> list[Event]:
        assert self._head is not None
        message = replace(self._head, content="".join(self._content))
        self.messages.append(message)
        self._head, self._content = None, []
        self._state = _DONE if stop in STOP_TOKENS else _HEADER
        self._header = ""
        return [MessageEnd(message, stop)]


_ROLES = ("assistant", "user", "system", "developer", "tool")
_TOOL_NAME_RE = re.compile(r"[A-Za-z_][\w-]*(?:\.[\w-]+)*")


def _header_words(text: str) -> list[str]:
    """Whitespace-separated words; ``<|constrain|>`` joins the word after it, other specials stand alone."""
    spaced = _SPECIAL_TEXT_RE.sub(lambda m: f" {m.group()}" + ("" if m.group() == "<|constrain|>" else " "), text)
    return spaced.split()


def _parse_header(header: str, implicit: str, default_role: str) -> Message:
    """A header as written -> a content-less Message, ``malformed`` unless every word has a place.

    ``assistant to=functions.f<|channel|>commentary <|constrain|>json``: the recipient may
    stand before or after the channel (the model writes it after, openai-harmony writes
    history with it before). An author that is not a role (``functions.get_weather``) is a
    tool of that name. ``implicit`` is the role the prompt wrote: the header follows it.
    """
    before, marker, after = header.partition("<|channel|>")
    words, fields = _header_words(before), _header_words(after)
    glued = bool(implicit and before) and not before[0].isspace() and not _SPECIAL_TEXT_RE.match(before)
    bad = glued or "<|channel|>" in after  # text glued to the role, or a second channel
    author = implicit or (words.pop(0) if words else "")
    channel = fields.pop(0) if marker and fields and not fields[0].startswith(("<|", "to=")) else None
    bad = bad or (bool(marker) and channel is None)
    recipient = content_type = None
    for i, w in enumerate(words + fields):
        if w.startswith("to=") and len(w) > 3 and recipient is None:
            recipient = w[3:]
        elif i >= len(words) and content_type is None and _is_content_type(w):
            content_type = w
        else:
            bad = True  # a word with no place (it stays in ``header``)
    if author in _ROLES:
        return Message(author, "", channel, recipient, content_type, header=header, malformed=bad)
    if _TOOL_NAME_RE.fullmatch(author) and (not bad or "." in author):
        return Message("tool", "", channel, recipient, content_type, name=author, header=header, malformed=bad)
    return Message(default_role, "", channel, recipient, content_type, header=header, malformed=True)


def _is_content_type(word: str) -> bool:
    if word.startswith("<|constrain|>"):
        return len(word) > len("<|constrain|>")
    return not word.startswith(("to=", "<|"))


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
