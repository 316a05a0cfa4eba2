"""Reply display: reasoning apart from the answer, labels, escaping, and the throttled live display.

Replies are built by hand or streamed through the real harmony parser; no model, no torch.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from gptoss_lab.harmony import Message, StreamParser
from gptoss_lab.render import LiveDisplay, reply_html, reply_text, stats_line
from gptoss_lab.reply import Reply

NASTY = "<script>alert(1)</script> <img src=x onerror=alert(1)> \"quoted\" 'single' & AT&T"
_SPECIAL = re.compile(r"(<\|[a-z]+\|>)")


class Parsed(HTMLParser):
    """Start tags with their attributes, and the text inside each element of a given class."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, str] = {}
        self._stack: list[str | None] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        self._stack.append(a.get("class"))
        if a.get("class"):
            self.text.setdefault(a["class"], "")

    def handle_endtag(self, tag: str) -> None:
        self._stack.pop()

    def handle_data(self, data: str) -> None:
        for cls in set(self._stack):
            if cls:
                self.text[cls] += data

    def attrs_of(self, cls: str) -> dict[str, str | None]:
        return next(a for _, a in self.tags if a.get("class") == cls)

    def tag_names(self) -> set[str]:
        return {t for t, _ in self.tags}


def finished(answer: str = "42", reasoning: str = "17 + 25 = 42.", *, stopped: str = "return", **kw: Any) -> Reply:
    """A done Reply built by hand: one analysis message, one final message."""
    reply = Reply(kw.pop("prompt", "What is 17 + 25?"), kw.pop("model", "nano"), "low", **kw)
    if reasoning:
        reply.messages.append(Message(role="assistant", channel="analysis", content=reasoning))
    if answer:
        reply.messages.append(Message(role="assistant", channel="final", content=answer))
    reply.stats.reasoning_tokens, reply.stats.answer_tokens = 7, 3
    reply.stats.reasoning_seconds = 2.14
    reply.close(stopped, [], 3.0)
    return reply


def streamed(text: str, *, close: str | None = None) -> Reply:
    """Feed ``text`` through the harmony parser, one "token" per word or special token, 0.1 s apart."""
    parser, reply = StreamParser(), Reply("q", "nano", "medium")
    pieces = [p for chunk in _SPECIAL.split(text) for p in re.split(r"(?<= )", chunk) if p]
    for i, piece in enumerate(pieces, 1):
        reply.record(i, parser.feed_text(piece), i / 10, parser.current)
    if close is not None:
        reply.close(close, parser.finish(), len(pieces) / 10 + 0.05)
    return reply


ANALYSIS = "<|channel|>analysis<|message|>The user asks a sum. Seventeen plus twenty-five.<|end|>"
FINAL = "<|start|>assistant<|channel|>final<|message|>It is 42.<|return|>"


# -- reasoning apart from the answer


def test_reasoning_and_answer_land_in_separate_elements() -> None:
    p = Parsed(reply_html(finished("ANSWER-TEXT", "REASONING-TEXT")))
    assert p.text["gptoss-reasoning-text"] == "REASONING-TEXT"
    assert p.text["gptoss-answer"] == "ANSWER-TEXT"
    assert "REASONING-TEXT" not in p.text["gptoss-answer"]
    assert "ANSWER-TEXT" not in p.text["gptoss-reasoning"]
    assert ("details", p.attrs_of("gptoss-reasoning")) in p.tags


def test_streamed_reply_keeps_reasoning_out_of_the_answer() -> None:
    reply = streamed(ANALYSIS + FINAL, close="return")
    p = Parsed(reply_html(reply))
    assert p.text["gptoss-reasoning-text"] == "The user asks a sum. Seventeen plus twenty-five."
    assert p.text["gptoss-answer"] == "It is 42."
    assert "Seventeen" not in p.text["gptoss-answer"]


def test_no_reasoning_no_details_and_no_answer_says_so() -> None:
    p = Parsed(reply_html(finished(answer="", reasoning="")))
    assert "details" not in p.tag_names()
    assert p.text["gptoss-answer"] == "(no final answer)"


# -- labels and the open/closed reasoning while streaming / when done


def test_thinking_label_and_open_details_while_reasoning_streams() -> None:
    reply = streamed("<|channel|>analysis<|message|>Let me think about")
    assert reply.thinking and not reply.done
    p = Parsed(reply_html(reply))
    summary = p.text["gptoss-reasoning"].removesuffix(p.text["gptoss-reasoning-text"])
    assert "Thinking…" in summary
    assert "Thought for" not in summary
    assert "open" in p.attrs_of("gptoss-reasoning")
    assert p.text["gptoss-reasoning-text"] == "Let me think about"
    assert "gptoss-answer" not in p.text  # no answer yet, and none invented
    assert "streaming…" in p.text["gptoss-stats"]
    n = reply.reasoning_tokens
    assert n > 0 and reply.stats.reasoning_tokens == 0  # the message is still open
    assert f"Thinking… {n} tokens" in summary
    assert f"{n} reasoning + 0 answer tokens" in p.text["gptoss-stats"]  # the same live count as the label


def test_stats_count_the_answer_while_it_streams() -> None:
    reply = streamed(ANALYSIS + "<|start|>assistant<|channel|>final<|message|>Forty")
    assert reply.answer_tokens > 0 and reply.stats.answer_tokens == 0
    stats = Parsed(reply_html(reply)).text["gptoss-stats"]
    assert f"{reply.reasoning_tokens} reasoning + {reply.answer_tokens} answer tokens" in stats


def test_thought_for_label_and_closed_details_when_done() -> None:
    reply = streamed(ANALYSIS + FINAL, close="return")
    p = Parsed(reply_html(reply))
    n = reply.stats.reasoning_tokens
    assert n > 0
    assert f"Thought for {reply.stats.reasoning_seconds:.1f} s · {n} tokens" in p.text["gptoss-reasoning"]
    assert re.search(r"Thought for \d+\.\d s · \d+ tokens", p.text["gptoss-reasoning"])
    assert "Thinking" not in p.text["gptoss-reasoning"]
    assert "open" not in p.attrs_of("gptoss-reasoning")


def test_still_thinking_between_the_reasoning_and_the_answer() -> None:
    reply = streamed(ANALYSIS + "<|start|>assistant<|channel|>fin")  # reasoning over, answer header unfinished
    assert not reply.thinking and not reply.done and not reply.answer
    p = Parsed(reply_html(reply))
    assert "Thinking…" in p.text["gptoss-reasoning"]
    assert "Thought for" not in p.text["gptoss-reasoning"]
    assert "open" in p.attrs_of("gptoss-reasoning")


def test_hand_built_label_rounds_seconds_to_one_decimal() -> None:
    assert "Thought for 2.1 s · 7 tokens" in Parsed(reply_html(finished())).text["gptoss-reasoning"]


def test_plain_text_fallback_labels_reasoning_and_answer_in_order() -> None:
    text = reply_text(finished("ANSWER-TEXT", "REASONING-TEXT"))
    lines = text.splitlines()
    r, a = lines.index("[reasoning · Thought for 2.1 s · 7 tokens]"), lines.index("[answer]")
    assert lines[r + 1] == "REASONING-TEXT"
    assert lines[a + 1] == "ANSWER-TEXT"
    assert r < a
    assert repr(finished("ANSWER-TEXT", "REASONING-TEXT")) == text


def test_mimebundle_has_html_and_text() -> None:
    bundle = finished()._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}
    assert "gptoss-answer" in bundle["text/html"]
    assert "[answer]" in bundle["text/plain"]


# -- escaping and self-containment


@pytest.mark.parametrize("where", ["answer", "reasoning", "prompt", "model"])
def test_user_and_model_text_is_escaped(where: str) -> None:
    kw = {"answer": "fine", "reasoning": "fine", where: NASTY}
    reply = finished(kw.pop("answer"), kw.pop("reasoning"), **kw)
    markup = reply_html(reply)
    p = Parsed(markup)
    assert not {"script", "img"} & p.tag_names()
    assert "<script>" not in markup
    assert "<img" not in markup
    assert "onerror=alert(1)>" not in markup
    if where != "prompt":  # the prompt is not shown at all
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
        assert "&lt;img src=x onerror=alert(1)&gt;" in markup
        assert "&quot;quoted&quot;" in markup
        assert "&#x27;single&#x27;" in markup
        assert "AT&amp;T" in markup
        assert NASTY in "".join(p.text.values())  # shown as text, character for character


def test_escaped_answer_round_trips_exactly() -> None:
    p = Parsed(reply_html(finished(NASTY, NASTY)))
    assert p.text["gptoss-answer"] == NASTY
    assert p.text["gptoss-reasoning-text"] == NASTY


def test_streamed_markup_in_the_answer_is_escaped() -> None:
    reply = streamed(f"<|channel|>final<|message|>{NASTY}")
    markup = reply_html(reply)
    assert not {"script", "img"} & Parsed(markup).tag_names()
    assert Parsed(markup).text["gptoss-answer"] == NASTY


@pytest.mark.parametrize(
    "reply",
    [finished(), finished(untrained=True), streamed("<|channel|>analysis<|message|>hmm"), finished(stopped="call")],
    ids=["done", "untrained", "thinking", "call"],
)
def test_html_is_self_contained(reply: Reply) -> None:
    markup = reply_html(reply).lower()
    assert "http" not in markup
    assert "<script" not in markup
    assert "<style" not in markup
    assert "<link" not in markup
    assert "src=" not in markup


# -- stop reasons, the untrained warning, tool calls


@pytest.mark.parametrize(
    ("stopped", "words"),
    [
        ("return", "finished"),
        ("call", "stopped at a tool call"),
        ("max_tokens", "stopped at the token limit (raise --max-tokens)"),
        ("interrupted", "interrupted - partial reply kept"),
    ],
)
def test_stop_reasons_render_their_words(stopped: str, words: str) -> None:
    reply = finished(stopped=stopped)
    assert words in Parsed(reply_html(reply)).text["gptoss-stats"]
    assert words in reply_text(reply)


def test_unknown_stop_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="stopped must be one of"):
        Reply("q", "nano", "low").close("eos", [], 1.0)


def test_untrained_flag_shows_the_warning() -> None:
    warning = "untrained model"
    assert warning in reply_html(finished(untrained=True))
    assert warning in reply_text(finished(untrained=True))
    assert warning not in reply_html(finished())
    assert warning not in reply_text(finished())


def test_tool_calls_show_the_recipient_and_arguments() -> None:
    reply = Reply("weather?", "nano", "low")
    reply.messages += [
        Message(role="assistant", channel="analysis", content="Need the weather."),
        Message(role="assistant", channel="commentary", content="Let me check the weather for $5 <b>now</b>."),
        Message(
            role="assistant",
            channel="commentary",
            recipient="functions.get_weather",
            content='{"location": "Paris"}',
            content_type="<|constrain|>json",
        ),
    ]
    reply.close("call", [], 1.0)
    p = Parsed(reply_html(reply))
    # each step in order and labelled: preamble (kept, not dropped), the call, then no final answer
    assert reply.preamble == "Let me check the weather for $5 <b>now</b>."
    assert p.text["gptoss-preamble"] == "preamble (commentary channel, for the user)" + reply.preamble
    assert p.text["gptoss-tool-call"] == 'tool call (commentary channel)→ functions.get_weather({"location": "Paris"})'
    assert "b" not in p.tag_names()  # escaped
    assert p.text["gptoss-answer"] == "(no final answer)"
    assert "Need the weather." not in p.text["gptoss-preamble"] + p.text["gptoss-answer"]
    html = reply_html(reply)
    assert html.index("gptoss-reasoning") < html.index("gptoss-preamble") < html.index("gptoss-tool-call")
    assert html.index("gptoss-tool-call") < html.index('class="gptoss-answer"')
    text = reply_text(reply)
    assert "[preamble · commentary channel, for the user]\nLet me check" in text
    assert "[tool call · commentary channel]\n→ functions.get_weather(" in text


def test_streamed_tool_call_without_channel_is_shown_once() -> None:
    # The model may omit <|channel|>: the message is still a call to the tool, not answer text.
    reply = streamed(
        '<|channel|>analysis<|message|>Call it.<|end|><|start|>assistant to=functions.f<|message|>{"x": 1}<|call|>',
        close="call",
    )
    assert [m.recipient for m in reply.tool_calls] == ["functions.f"]
    page = Parsed(reply_html(reply))
    assert (page.text["gptoss-tool-call"] + page.text["gptoss-answer"]).count('{"x": 1}') == 1


# -- LiveDisplay: throttled redraws


class FakeHandle:
    def __init__(self) -> None:
        self.updates: list[Any] = []

    def update(self, obj: Any) -> None:
        self.updates.append(obj)


@pytest.fixture
def fake_display(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """IPython.display.display replaced by a recorder; time.monotonic advances 1 ms per call."""
    seen: dict[str, Any] = {"displays": [], "handle": FakeHandle(), "clock": [1000.0]}

    def display(obj: Any, display_id: bool = False) -> FakeHandle:
        assert display_id is True
        seen["displays"].append(obj)
        return seen["handle"]

    def monotonic() -> float:
        seen["clock"][0] += 0.001
        return seen["clock"][0]

    monkeypatch.setattr("IPython.display.display", display)
    monkeypatch.setattr("gptoss_lab.render.time.monotonic", monotonic)
    return seen


def test_live_display_redraws_at_most_once_per_min_interval(fake_display: dict[str, Any]) -> None:
    live, reply = LiveDisplay(), streamed("<|channel|>analysis<|message|>thinking")
    start = fake_display["clock"][0]
    for _ in range(1000):
        live.update(reply)
    elapsed = fake_display["clock"][0] - start
    redraws = len(fake_display["displays"]) + len(fake_display["handle"].updates)
    assert redraws == live.updates
    assert len(fake_display["displays"]) == 1  # one output, then updates in place
    assert redraws <= elapsed / live.min_interval + 1
    assert redraws >= elapsed / live.min_interval - 1  # throttled, not frozen


def test_live_display_always_redraws_a_done_reply(fake_display: dict[str, Any]) -> None:
    live, reply = LiveDisplay(min_interval=10.0), streamed("<|channel|>final<|message|>4")
    live.update(reply)
    live.update(reply)
    assert live.updates == 1
    reply.close("return", [], 1.0)
    live.update(reply)
    live.update(reply)
    assert live.updates == 3
    assert fake_display["handle"].updates == [reply, reply]


def test_live_display_shows_the_first_update_whatever_the_clock(fake_display: dict[str, Any]) -> None:
    fake_display["clock"][0] = 0.0  # a monotonic clock may start near zero
    LiveDisplay().update(streamed("<|channel|>analysis<|message|>hmm"))
    assert len(fake_display["displays"]) == 1


# -- malformed harmony: shown as written, never lost


def test_a_malformed_header_is_shown_as_written_and_escaped() -> None:
    reply = streamed("<|channel|>final answer is <b>42</b><|message|>It is 42.<|return|>", close="return")
    assert reply.answer == "It is 42." and reply.malformed == ["<|channel|>final answer is <b>42</b>"]
    p = Parsed(reply_html(reply))
    assert "final answer is <b>42</b>" in p.text["gptoss-malformed"]
    assert "b" not in p.tag_names()  # escaped, not markup
    assert p.text["gptoss-answer"] == "It is 42."
    assert "[malformed harmony headers, as written]\n<|channel|>final answer is <b>42</b>" in reply_text(reply)


def test_well_formed_replies_show_no_malformed_block() -> None:
    reply = streamed(ANALYSIS + FINAL, close="return")
    assert reply.malformed == []
    assert "gptoss-malformed" not in reply_html(reply) and "malformed" not in reply_text(reply)


# -- the widgets' panels: render's parts in widget styles


def test_widget_panels_show_what_the_reply_html_shows() -> None:
    import html

    from gptoss_lab.widgets._common import answer_html, reasoning_html

    def text_of(markup: str) -> str:
        return html.unescape(re.sub(r"<[^>]+>", "", markup))

    reply = streamed("<|channel|>final answer is <b>42</b><|message|>It is 42.<|return|>", close="return")
    panel, page = Parsed(answer_html(reply)), Parsed(reply_html(reply))
    assert panel.text["gptoss-malformed"] == page.text["gptoss-malformed"]  # kept in the widget too
    assert "b" not in panel.tag_names()
    call = streamed('<|start|>assistant to=functions.f<|message|>{"x": 1}<|call|>', close="call")
    page = Parsed(reply_html(call))
    assert text_of(answer_html(call)) == page.text["gptoss-tool-call"] + page.text["gptoss-answer"]
    assert page.text["gptoss-tool-call"].endswith('→ functions.f({"x": 1})')
    assert "no reasoning" in reasoning_html(call)
    assert text_of(answer_html(finished("", ""))) == "(no final answer)"


def test_a_reply_waiting_for_the_weights_says_loading_and_the_first_reply_says_how_long() -> None:
    waiting = Reply("What is 17 + 25?", "gpt-oss-nano", "low")
    waiting.status = "loading gpt-oss-nano…"
    line = Parsed(reply_html(waiting)).text["gptoss-stats"]
    assert "loading gpt-oss-nano…" in line and "streaming…" not in line
    reply = finished()
    reply.stats.load_seconds = 6.84
    assert "loaded in 6.8 s first" in stats_line(reply)
    assert "loaded in" not in stats_line(finished())  # later replies: the model is already there


def test_a_lab_shows_a_loading_frame_before_the_weights_load() -> None:
    from gptoss_lab import Lab

    frames: list[tuple[str, int, bool]] = []
    lab = Lab()
    assert not lab.backend.handle.loaded
    reply = lab.ask(
        "What is 2 + 3?",
        effort="low",
        max_new_tokens=4,
        on_update=lambda r: frames.append((r.status, len(r.completion_ids), r.done)),
    )
    assert frames[0] == ("loading gpt-oss-nano…", 0, False)  # shown before the weights load
    assert reply.stats.load_seconds is not None and reply.stats.load_seconds > 0
    assert lab.ask("And 4 + 4?", effort="low", max_new_tokens=4).stats.load_seconds is None


def test_stats_print_short() -> None:
    from gptoss_lab.reply import Stats

    text = repr(Stats(prompt_tokens=80, seconds_to_first_token=0.123456789, total_seconds=2.3456789))
    assert text == "Stats(prompt_tokens=80, completion_tokens=0, reasoning_tokens=0, answer_tokens=0, " + (
        "seconds_to_first_token=0.123, total_seconds=2.346)"
    )


# -- bidirectional controls: shown, never obeyed

#: "pay 100 to " then a right-to-left override: unmarked, the browser would draw "... pay 100 to 999 tnuocca"
#: as "... pay 100 to" followed by the rest reversed. Every control below is in the text at least once.
BIDI = "pay 100 to \u202eaccount 999\u202c; \u2066isolated\u2069 \u202aembedded\u202c \u200fmark\u200e \u061c."
BIDI_SHOWN = (
    "pay 100 to ⟨U+202E⟩account 999⟨U+202C⟩; ⟨U+2066⟩isolated⟨U+2069⟩ ⟨U+202A⟩embedded⟨U+202C⟩ "
    "⟨U+200F⟩mark⟨U+200E⟩ ⟨U+061C⟩."
)
_CONTROLS = {chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]}


def test_show_bidi_marks_every_direction_control_and_keeps_the_rest() -> None:
    from gptoss_lab.render import show_bidi

    assert show_bidi(BIDI) == BIDI_SHOWN
    assert show_bidi("".join(sorted(_CONTROLS))).count("⟨U+") == len(_CONTROLS) == 12
    assert show_bidi("שלום, مرحبا and plain text") == "שלום, مرحبا and plain text"  # right-to-left letters stay


def test_bidi_controls_in_model_text_show_as_markers_in_every_part_of_the_reply() -> None:
    reply = finished(BIDI, BIDI)
    reply.messages.insert(1, Message(role="assistant", channel="commentary", content=BIDI))  # a preamble
    reply.messages.insert(2, Message(role="assistant", channel="commentary", recipient="functions.f", content=BIDI))
    unreadable = Message(role="assistant", channel="final", content="", header="final " + BIDI, malformed=True)
    reply.messages.append(unreadable)
    markup = reply_html(reply)
    assert not _CONTROLS & set(markup)
    p = Parsed(markup)
    assert p.text["gptoss-answer"] == BIDI_SHOWN
    assert p.text["gptoss-reasoning-text"] == BIDI_SHOWN
    assert p.text["gptoss-preamble"].endswith(BIDI_SHOWN)
    assert p.text["gptoss-tool-call"].endswith(f"({BIDI_SHOWN})")
    assert p.text["gptoss-malformed"].endswith(BIDI_SHOWN)


def test_bidi_controls_show_as_markers_in_the_widget_panels() -> None:
    from gptoss_lab.widgets._common import answer_html, error_html, reasoning_html

    reply = finished(BIDI, BIDI)
    for markup in (answer_html(reply), reasoning_html(reply), error_html(BIDI)):
        assert not _CONTROLS & set(markup)
        assert BIDI_SHOWN in markup
