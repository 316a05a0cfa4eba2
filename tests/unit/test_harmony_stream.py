"""The streaming parser on malformed, truncated and split streams: never raises, loses nothing."""

from __future__ import annotations

import random

import pytest

from gptoss_lab.harmony import (
    SPECIAL_TOKENS,
    ContentDelta,
    MessageEnd,
    MessageStart,
    StreamParser,
    TokenCodec,
    parse_completion,
    render_prompt,
)


def _toy_codec() -> TokenCodec:
    """Ids: 0..255 are bytes, specials use their o200k_harmony ids."""
    names = {i: n for n, i in SPECIAL_TOKENS.items()}

    def decode(ids: list[int]) -> str:
        out, buf = [], bytearray()
        for i in ids:
            if i in names:
                out.append(buf.decode("utf-8", "replace"))
                buf = bytearray()
                out.append(names[i])
            else:
                buf.append(i)
        out.append(buf.decode("utf-8", "replace"))
        return "".join(out)

    return TokenCodec(decode=decode, special_ids=SPECIAL_TOKENS)


CODEC = _toy_codec()
_SPLIT = __import__("re").compile("(" + "|".join(__import__("re").escape(s) for s in SPECIAL_TOKENS) + ")")


def encode(text: str) -> list[int]:
    ids: list[int] = []
    for piece in _SPLIT.split(text):
        if piece in SPECIAL_TOKENS:
            ids.append(SPECIAL_TOKENS[piece])
        else:
            ids.extend(piece.encode())
    return ids


def stream(text: str) -> tuple[list, StreamParser]:
    parser = StreamParser(CODEC)
    events = [e for i in encode(text) for e in parser.feed(i)]
    return events + parser.finish(), parser


def test_well_formed_stream_events_in_order():
    events, parser = stream(
        "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>"
    )
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "MessageStart" and kinds[-1] == "MessageEnd"
    starts = [e for e in events if isinstance(e, MessageStart)]
    assert [(s.role, s.channel) for s in starts] == [("assistant", "analysis"), ("assistant", "final")]
    ends = [e for e in events if isinstance(e, MessageEnd)]
    assert [e.stop for e in ends] == ["<|end|>", "<|return|>"]
    assert "".join(e.text for e in events if isinstance(e, ContentDelta) and e.channel == "analysis") == "Think."
    assert parser.state == "done"


def test_multibyte_characters_split_across_tokens_come_out_whole():
    text = "<|channel|>final<|message|>héllo 🦀 日本<|return|>"
    events, _ = stream(text)
    deltas = [e.text for e in events if isinstance(e, ContentDelta)]
    assert "".join(deltas) == "héllo 🦀 日本"
    assert not any("\ufffd" in d for d in deltas)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        # truncated inside content: the text so far is kept
        ("<|channel|>analysis<|message|>half a thou", [("analysis", "half a thou")]),
        # truncated inside the header: the header characters become text, not lost
        ("<|channel|>fin", [(None, "<|channel|>fin")]),
        # special token out of place inside content: kept literally
        ("<|channel|>final<|message|>a<|channel|>b<|return|>", [("final", "a<|channel|>b")]),
        # text after <|end|> with no <|start|>: opens a header
        (
            "<|channel|>analysis<|message|>x<|end|>assistant<|channel|>final<|message|>y<|return|>",
            [("analysis", "x"), ("final", "y")],
        ),
        # <|start|> inside content closes the message first
        (
            "<|channel|>analysis<|message|>x<|start|>assistant<|channel|>final<|message|>y<|return|>",
            [("analysis", "x"), ("final", "y")],
        ),
        # no header at all
        ("just text", [(None, "just text")]),
    ],
)
def test_malformed_streams_degrade_to_text(completion, expected):
    _, parser = stream(completion)
    assert [(m.channel, m.content) for m in parser.messages] == expected
    assert parse_completion(completion) == parser.messages  # text and ids agree


def test_headerless_babble_streams_as_text_instead_of_waiting():
    parser = StreamParser(CODEC)
    deltas = []
    for i in encode("x" * 400):
        deltas += [e.text for e in parser.feed(i) if isinstance(e, ContentDelta)]
    assert deltas, "text without a header should stream before the end"
    parser.finish()
    assert "".join(m.content for m in parser.messages) == "x" * 400


def test_fuzz_never_raises_and_deltas_add_up():
    rng = random.Random(0)
    pieces = [*SPECIAL_TOKENS, "analysis", "final", "commentary", " to=functions.f", "assistant", "hi", "é", "🦀", " "]
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        events, parser = stream(text)
        deltas = "".join(e.text for e in events if isinstance(e, ContentDelta))
        assert deltas == "".join(m.content for m in parser.messages)
        assert parse_completion(text) == parser.messages


def test_fuzz_content_keeps_every_character():
    """Inside a message, any text and any out-of-place special token survive verbatim."""
    rng = random.Random(1)
    inside = [
        "<|channel|>",
        "<|message|>",
        "<|constrain|>",
        "<|startoftext|>",
        "<|endoftext|>",
        "a",
        "é",
        "🦀",
        "{",
        "\n",
    ]
    for _ in range(300):
        body = "".join(rng.choice(inside) for _ in range(rng.randint(0, 30)))
        _, parser = stream(f"<|channel|>final<|message|>{body}<|return|>")
        assert [m.content for m in parser.messages] == [body]


def test_render_rejects_bad_effort_with_the_fix():
    with pytest.raises(ValueError, match="low\\|medium\\|high"):
        render_prompt([{"role": "user", "content": "hi"}], effort="extreme")


def test_render_date_line_only_when_given():
    msgs = [{"role": "user", "content": "hi"}]
    assert "Current date" not in render_prompt(msgs)
    assert "Current date: 2026-11-29\n" in render_prompt(msgs, date="2026-11-29")


def test_codec_from_tokenizer_rejects_non_harmony_tokenizer():
    class Plain:
        unk_token_id = 0

        def convert_tokens_to_ids(self, token):
            return 0

        def decode(self, ids, skip_special_tokens=False):
            return ""

    with pytest.raises(ValueError, match="not a gpt-oss tokenizer"):
        TokenCodec.from_tokenizer(Plain())


# -- nothing lost on bad input (issue 13): malformed headers, stray tokens, invalid UTF-8


def only(completion: str):
    _, parser = stream(completion)
    assert len(parser.messages) == 1, parser.messages
    return parser.messages[0]


def test_words_between_channel_and_message_are_kept_in_the_header():
    m = only("<|channel|>final answer is 42<|message|>The answer<|return|>")
    assert (m.channel, m.content, m.header, m.malformed) == (
        "final",
        "The answer",
        "<|channel|>final answer is 42",
        True,
    )


@pytest.mark.parametrize(
    ("completion", "header", "channel"),
    [
        ("The answer<|message|>42<|return|>", "The answer", None),  # glued to the prompt's "assistant"
        ("Sure!<|channel|>final<|message|>42<|return|>", "Sure!<|channel|>final", "final"),
        ("<|start|>The answer<|message|>42<|return|>", "The answer", None),  # not a tool named "The"
        ("<|start|>Sure!<|channel|>final<|message|>42<|return|>", "Sure!<|channel|>final", "final"),
    ],
)
def test_text_before_message_does_not_make_the_answer_a_tool_message(completion, header, channel):
    m = only(completion)
    assert (m.role, m.name, m.recipient, m.channel) == ("assistant", None, None, channel)
    assert (m.content, m.header, m.malformed) == ("42", header, True)


@pytest.mark.parametrize("stray", ["<|end|>", "<|startoftext|>", "<|endoftext|>", "<|constrain|>", "<|channel|>"])
def test_stray_special_tokens_in_a_header_are_kept_as_its_text(stray):
    m = only(f"<|channel|>final{stray}<|message|>x<|return|>")
    assert (m.channel, m.content, m.header, m.malformed) == ("final", "x", f"<|channel|>final{stray}", True)


def test_a_stop_token_inside_a_header_ends_a_content_less_message():
    events, parser = stream("<|channel|>final<|return|>")
    assert [(m.channel, m.content, m.header, m.malformed) for m in parser.messages] == [
        ("final", "", "<|channel|>final", True)
    ]
    assert events[-1].stop == "<|return|>" and parser.state == "done"


def test_text_between_messages_becomes_a_message_of_its_own():
    _, parser = stream("<|channel|>analysis<|message|>x<|end|>junk<|start|>assistant<|channel|>final<|message|>y")
    assert [(m.channel, m.content, m.malformed) for m in parser.messages] == [
        ("analysis", "x", False),
        (None, "junk", True),
        ("final", "y", False),
    ]


def test_well_formed_headers_are_kept_and_not_flagged():
    _, parser = stream(
        "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{}<|call|>"
        "<|start|>functions.f to=assistant<|channel|>commentary<|message|>1<|end|>"
        "<|start|>assistant<|channel|>final<|message|>ok<|return|>"
    )
    assert [(m.header, m.malformed) for m in parser.messages] == [
        ("<|channel|>commentary to=functions.f <|constrain|>json", False),
        ("functions.f to=assistant<|channel|>commentary", False),
        ("assistant<|channel|>final", False),
    ]
    assert parser.messages[1].name == "functions.f"


def _codecs() -> dict[str, TokenCodec]:
    return {
        "bytes": TokenCodec(CODEC.decode, SPECIAL_TOKENS, token_bytes=lambda i: bytes([i])),
        "lossy": CODEC,
        "strict": TokenCodec(_strict_decode, SPECIAL_TOKENS),
    }


def _strict_decode(ids: list[int]) -> str:
    """Like openai-harmony's decode_utf8: raises on any invalid or incomplete character."""
    names = {i: n for n, i in SPECIAL_TOKENS.items()}
    out, buf = [], bytearray()
    for i in ids:
        if i in names:
            out += [buf.decode(), names[i]]
            buf = bytearray()
        else:
            buf.append(i)
    return "".join([*out, buf.decode()])


BAD_UTF8 = b"ok \xff\xfe caf\xc3\xa9 \xe6\x97 \xf0\x9f\xa6\x80 \xc3 end \xe6\x97\xa5"


@pytest.mark.parametrize("kind", ["bytes", "lossy", "strict"])
def test_invalid_utf8_keeps_every_valid_character_after_it(kind):
    codec = _codecs()[kind]
    ids = [*encode("<|channel|>final<|message|>"), *BAD_UTF8, *encode("<|return|>")]
    parser = StreamParser(codec)
    deltas = [e.text for i in ids for e in parser.feed(i) if isinstance(e, ContentDelta)]
    parser.finish()
    content = parser.messages[0].content
    expected = BAD_UTF8.decode("utf-8", "replace")
    assert "".join(deltas) == content
    if kind == "bytes":  # exact: only the invalid bytes became U+FFFD
        assert content == expected
    else:  # decode-only: every valid character kept, in order; the count of U+FFFD may differ
        assert content.replace("\ufffd", "") == expected.replace("\ufffd", "")
        assert "\ufffd" in content


def test_invalid_bytes_at_the_end_of_a_stream_are_marked_not_dropped():
    ids = [*encode("<|channel|>final<|message|>a"), 0xE6, 0x97]
    for kind, codec in _codecs().items():
        content = parse_completion(ids, codec)[0].content
        assert content == "a\ufffd" if kind != "strict" else content in ("a\ufffd", "a\ufffd\ufffd")


def test_a_token_id_the_tokenizer_does_not_know_is_marked():
    def token_bytes(i: int) -> bytes:
        return bytes([i])  # ValueError for ids over 255

    codec = TokenCodec(CODEC.decode, SPECIAL_TOKENS, token_bytes=token_bytes)
    ids = [*encode("<|channel|>final<|message|>a"), 0xC3, 999, *encode("b<|return|>")]
    assert parse_completion(ids, codec)[0].content == "a\ufffd\ufffdb"


def test_a_byte_level_tokenizer_gives_the_parser_exact_bytes():
    """nano's tokenizer (byte-level BPE, as gpt-oss's): every token's bytes, so decoding is exact."""
    tokenizers = pytest.importorskip("tokenizers")
    from pathlib import Path

    import gptoss_lab

    path = Path(gptoss_lab.__file__).parent / "nano" / "checkpoint" / "tokenizer.json"
    tokenizer = tokenizers.Tokenizer.from_file(str(path))
    codec = TokenCodec.from_tokenizer(tokenizer)
    assert codec.token_bytes is not None
    text = "héllo 🦀 日本 {x}\n\t 42"
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    assert b"".join(codec.token_bytes(i) for i in ids) == text.encode()
    assert codec.token_bytes(codec.special_ids["<|end|>"]) == b"<|end|>"
    head = [codec.special_ids["<|channel|>"], *tokenizer.encode("final").ids, codec.special_ids["<|message|>"]]
    message = [*head, *ids, 0xFFFFFF]  # and an id it does not know
    assert parse_completion(message, codec)[0].content == text + "\ufffd"
