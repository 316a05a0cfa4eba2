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
