"""Mutated harmony streams and the parser's conservation property (tests/unit and bench/fuzz.py).

A stream is a list of token ids in a toy vocabulary: ids 0..255 are single bytes, ids from
256 up are multi-byte chunks (registered as text is encoded, so they split characters at
odd places), and the harmony special tokens keep their o200k_harmony ids. Well-formed
completions are generated, then mutated: special tokens inserted, deleted or duplicated,
random bytes inserted (invalid UTF-8 included), tokens swapped, the stream truncated.

**Conservation.** Let E be the input's text: each maximal run of non-special ids decoded
as UTF-8 with ``errors="replace"``, the runs joined in order (special tokens contribute
nothing). Let O be what the parser returns: ``header + content`` of every message, in order.

1. E is a subsequence of O: every character is kept, in order.
2. If E holds no ``<``, deleting every special-token name from O gives exactly E: the
   parser adds nothing but the literal names of special tokens it kept as text, and
   drops, duplicates and reorders nothing. (With a ``<`` in E, text could itself spell a
   token name and the deletion would be ambiguous; 1 still holds.)

Both hold for the ids path with an exact codec (``token_bytes``) and for the text path
(``feed_text``, where E is the text between the literal token names). With a decode-only
codec (lossy, or strict like openai-harmony's ``decode_utf8``) U+FFFD is left out of both
sides, as a run of invalid bytes may come out as more or fewer of them; every other
character is held to 1 and 2. The strict codec is fuzzed with single-byte tokens only: a
decoder that refuses a token cannot say which of its bytes were valid.

Also checked: events nest (start, deltas, end), deltas add up to each content, every
message ends by :meth:`finish`, and an unmutated stream has no malformed message.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from gptoss_lab.harmony import (
    _SPECIAL_TEXT_RE,
    SPECIAL_TOKENS,
    ContentDelta,
    Message,
    MessageEnd,
    MessageStart,
    StreamParser,
    TokenCodec,
    _header_words,
    parse_completion,
)

SPECIAL_NAMES = {i: n for n, i in SPECIAL_TOKENS.items()}
SPECIAL_IDS = list(SPECIAL_NAMES)
REPLACEMENT = "\ufffd"


class ToyVocab:
    """Bytes 0..255 and multi-byte chunks (ids from 256, added as text is encoded)."""

    def __init__(self) -> None:
        self.table: list[bytes] = [bytes([b]) for b in range(256)]  # id -> bytes
        self._ids: dict[bytes, int] = {}

    def token_bytes(self, token_id: int) -> bytes:
        return self.table[token_id]

    def encode_text(self, text: str, rng: random.Random | None) -> list[int]:
        data = text.encode()
        if rng is None:
            return list(data)
        ids, at = [], 0
        while at < len(data):
            piece = data[at : at + rng.randint(1, 4)]
            at += len(piece)
            if len(piece) == 1:
                ids.append(piece[0])
                continue
            if piece not in self._ids:
                self._ids[piece] = len(self.table)
                self.table.append(piece)
            ids.append(self._ids[piece])
        return ids

    def decode(self, ids: list[int], errors: str = "replace") -> str:
        table = self.table
        try:  # no special token among them (their ids are far past the table): one run
            return b"".join([table[i] for i in ids]).decode("utf-8", errors)
        except IndexError:
            pass
        out, run = [], bytearray()
        for i in ids:
            if i in SPECIAL_NAMES:
                out += [run.decode("utf-8", errors), SPECIAL_NAMES[i]]
                run = bytearray()
            else:
                run += table[i]
        out.append(run.decode("utf-8", errors))
        return "".join(out)

    def codecs(self) -> dict[str, TokenCodec]:
        return {
            "bytes": TokenCodec(self.decode, SPECIAL_TOKENS, token_bytes=self.token_bytes),
            "lossy": TokenCodec(self.decode, SPECIAL_TOKENS),
            "strict": TokenCodec(lambda ids: self.decode(ids, "strict"), SPECIAL_TOKENS),
        }


WORDS = [
    "2 + 2",
    "strawberry",
    "Ünïcödé",
    "日本語",
    "🦀",
    "👨‍👩‍👧",
    "{",
    '{"a": [1, 2]}',
    "\n",
    "  ",
    "def f(x):",
    "42",
]
RARE_WORDS = ["<|end|>", "<|start|>assistant", "a < b", "<|"]  # literal token names as text, and "<"


def _text(rng: random.Random) -> str:
    words = [rng.choice(RARE_WORDS if rng.random() < 0.03 else WORDS) for _ in range(rng.randint(1, 6))]
    return " ".join(words)


def well_formed(rng: random.Random) -> list[tuple[str, bool]]:
    """A completion as (text, special) pieces: the model's side of one or more messages."""
    S = True  # a special piece
    out: list[tuple[str, bool]] = []

    def message(header: list[tuple[str, bool]], body: str, end: str) -> None:
        if out:
            out.extend([("<|start|>", S), ("assistant", False)])
        out.extend([*header, ("<|message|>", S), (body, False), (end, S)])

    for _ in range(rng.randint(0, 2)):
        message([("<|channel|>", S), (rng.choice(["analysis", "commentary"]), False)], _text(rng), "<|end|>")
    if rng.random() < 0.3:
        if rng.random() < 0.5:
            head = [(" to=functions.add", False), ("<|channel|>", S), ("commentary", False)]
        else:
            head = [("<|channel|>", S), ("commentary to=functions.add", False)]
        kind = rng.choice([[(" ", False), ("<|constrain|>", S), ("json", False)], [(" json", False)], []])
        message(head + kind, '{"a": 1}', "<|call|>")
        out.extend([("<|start|>", S), ("functions.add to=assistant", False), ("<|channel|>", S)])
        out.extend([("commentary", False), ("<|message|>", S), (_text(rng), False), ("<|end|>", S)])
    message([("<|channel|>", S), ("final", False)], _text(rng), rng.choice(["<|return|>", "<|end|>"]))
    return out


def encode(pieces: list[tuple[str, bool]], vocab: ToyVocab, rng: random.Random | None) -> list[int]:
    ids: list[int] = []
    for text, special in pieces:
        ids += [SPECIAL_TOKENS[text]] if special else vocab.encode_text(text, rng)
    return ids


def mutate(ids: list[int], rng: random.Random) -> list[int]:
    ids = list(ids)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(ids))
        kind = rng.randrange(6)
        if kind == 0:
            ids.insert(at, rng.choice(SPECIAL_IDS))
        elif kind == 1 and ids:
            del ids[min(at, len(ids) - 1)]
        elif kind == 2 and ids:
            specials = [i for i, t in enumerate(ids) if t in SPECIAL_NAMES] or [min(at, len(ids) - 1)]
            j = rng.choice(specials)
            ids.insert(j, ids[j])
        elif kind == 3:
            ids[at:at] = [
                rng.choice([0x80, 0xBF, 0xC3, 0xE6, 0xF0, 0xFF, rng.randrange(256)]) for _ in range(rng.randint(1, 4))
            ]
        elif kind == 4 and len(ids) > 1:
            j = min(at, len(ids) - 2)
            ids[j], ids[j + 1] = ids[j + 1], ids[j]
        else:
            ids = ids[:at]
    return ids


def stream(ids: list[int], codec: TokenCodec) -> tuple[list, StreamParser]:
    parser = StreamParser(codec)
    events = [e for i in ids for e in parser.feed(i)]
    return events + parser.finish(), parser


def expected_text(ids: list[int], vocab: ToyVocab) -> str:
    """E: the runs of non-special ids, decoded with U+FFFD for invalid bytes; specials give nothing."""
    return "".join(run.decode("utf-8", "replace") for run in _runs(ids, vocab))


def _runs(ids: list[int], vocab: ToyVocab) -> list[bytes]:
    runs, run = [], bytearray()
    for i in ids:
        if i in SPECIAL_NAMES:
            runs.append(bytes(run))
            run = bytearray()
        else:
            run += vocab.token_bytes(i)
    return [*runs, bytes(run)]


def output_text(messages: list[Message]) -> str:
    """O: every message's header and content, in order."""
    return "".join(m.header + m.content for m in messages)


def is_subsequence(needle: str, haystack: str) -> bool:
    it = iter(haystack)
    return all(c in it for c in needle)


def conservation(expected: str, output: str, *, exact_fffd: bool = True) -> str | None:
    """None when ``output`` keeps every character of ``expected`` (properties 1 and 2), else why not."""
    if not exact_fffd:
        expected, output = expected.replace(REPLACEMENT, ""), output.replace(REPLACEMENT, "")
    if not is_subsequence(expected, output):
        return f"lost characters: E={expected!r} O={output!r}"
    if "<" not in expected and _SPECIAL_TEXT_RE.sub("", output) != expected:
        return f"added characters: E={expected!r} O minus token names={_SPECIAL_TEXT_RE.sub('', output)!r}"
    return None


def unflagged_junk(messages: list[Message]) -> str | None:
    """A message not flagged malformed must account for every word of its header with a field."""
    for m in messages:
        if m.malformed:
            continue
        written = Counter(_header_words(m.header.replace("<|channel|>", " <|channel|> ")))
        fields = [f"to={m.recipient}" if m.recipient else "", m.content_type or ""]
        fields += ["<|channel|>", m.channel] if m.channel is not None else []
        fields = Counter(w for w in fields if w)
        author = Counter([m.name if m.role == "tool" else m.role])
        if written not in (fields, fields + author):
            return f"header {m.header!r} has words outside its fields, yet is not flagged malformed"
    return None


def events_nest(events: list, messages: list[Message]) -> str | None:
    ended, deltas, open_start = [], [], None
    for e in events:
        if isinstance(e, MessageStart):
            if open_start is not None:
                return "MessageStart inside an open message"
            open_start, deltas = e, []
        elif isinstance(e, ContentDelta):
            if open_start is None:
                return "ContentDelta outside a message"
            deltas.append(e.text)
        elif isinstance(e, MessageEnd):
            if open_start is None or (open_start.header, open_start.malformed) != (
                e.message.header,
                e.message.malformed,
            ):
                return "MessageEnd without its MessageStart"
            if "".join(deltas) != e.message.content:
                return "deltas do not add up to the content"
            ended.append(e.message)
            open_start = None
    if open_start is not None:
        return "a message is still open after finish()"
    return None if ended == messages else "MessageEnd messages differ from parser.messages"


def check(ids: list[int], vocab: ToyVocab, codec_name: str, codec: TokenCodec, mutated: bool) -> str | None:
    """Every property for one stream: None when all hold, else a one-line reason."""
    events, parser = stream(ids, codec)
    why = events_nest(events, parser.messages)
    if why is None and parser.current is not None:
        why = "parser.current is not None after finish()"
    if why is None:
        why = unflagged_junk(parser.messages)
    if why is None:
        why = conservation(expected_text(ids, vocab), output_text(parser.messages), exact_fffd=codec_name == "bytes")
    if why is None and not mutated and any(m.malformed for m in parser.messages):
        why = "a well-formed stream gave a malformed message"
    if why is None:
        text = vocab.decode(ids)
        why = conservation("".join(_SPECIAL_TEXT_RE.split(text)), output_text(parse_completion(text)))
        why = None if why is None else f"text path: {why}"
    return None if why is None else f"[{codec_name}] {why}"


def fuzz(n: int, seed: int = 0, on_failure: Callable[[int, list[int], str], None] | None = None) -> int:
    """Check ``n`` streams (codecs in turn); return how many failed."""
    rng, vocab = random.Random(seed), ToyVocab()
    codecs = list(vocab.codecs().items())
    failures = 0
    for k in range(n):
        name, codec = codecs[k % len(codecs)]
        base = encode(well_formed(rng), vocab, None if name == "strict" else rng)
        mutated = rng.random() < 0.9
        ids = mutate(base, rng) if mutated else base
        why = check(ids, vocab, name, codec, mutated)
        if why is not None:
            failures += 1
            if on_failure is not None:
                on_failure(k, ids, why)
    return failures
