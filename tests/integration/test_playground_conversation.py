"""The Playground's conversation, driven from Python over the scripted model: the earlier turns shown while
following up, their count and tokens, New conversation, the warning near the context, what Compare answers
from, and the Ctrl+Enter message from the front end. (The real key press is in tests/browser.)"""

from __future__ import annotations

import html
from typing import Any

import pytest

from .test_widgets import COMPLETION, WAIT, gate, playground

pytest.importorskip("ipywidgets")
pytest.importorskip("anywidget")


def _follow_up(pg: Any, *prompts: str) -> None:
    pg.follow_up.value = True
    for prompt in prompts:
        pg.prompt.value = prompt
        assert pg.start()
        pg.join(WAIT)


def test_the_conversation_shows_only_while_following_up_collapsed_with_its_turns_and_tokens(scripted_lab):
    lab, _ = scripted_lab(COMPLETION)
    pg = playground(lab)
    assert pg.conversation.layout.display == "none" and pg.conversation.turns.value == ""
    pg.follow_up.value = True
    assert pg.conversation.layout.display is None
    assert "Conversation: no earlier turns" in pg.conversation.turns.value
    _follow_up(pg, "What is 2+2?", "And <b>3+3</b>?")
    shown = pg.conversation.turns.value
    assert shown.startswith("<details ") and " open" not in shown  # collapsed
    n = len(lab.handle.encode(lab.prompt_text("")))
    assert n == lab.conversation_tokens() and n > 0
    assert f"Conversation: 2 earlier turns · {n:,} tokens of the 2,048 tokens gpt-oss-nano reads" in shown
    assert shown.count("you:") == 2 and shown.count("model:") == 2 and "What is 2+2?" in shown
    assert html.escape("And <b>3+3</b>?") in shown and "<b>3+3</b>" not in shown  # typed text stays text
    assert "2 earlier turns" in pg.follow_up.description
    pg.follow_up.value = False  # a new conversation is what the next Generate sends: nothing to show
    assert pg.conversation.layout.display == "none"


def test_new_conversation_clears_the_labs_history_as_reset_does(scripted_lab):
    lab, fake = scripted_lab(COMPLETION)
    pg = playground(lab)
    _follow_up(pg, "What is 2+2?")
    lab.developer = "Answer briefly."
    assert lab.history and lab.replies and pg.panels[0].answer.value.endswith(">4</div>")
    assert pg.conversation.button.description == "New conversation"
    assert "gptoss-new-conversation" in pg.conversation.button._dom_classes
    pg.conversation.button.click()
    assert lab.history == [] and lab.replies == [] and lab.developer is None  # what %gptoss reset clears
    assert "no earlier turns yet" in pg.follow_up.description and "no earlier turns" in pg.conversation.turns.value
    assert ">4</div>" not in pg.panels[0].answer.value  # the panels start afresh too
    reached, release = gate(fake, at=len(fake.calls))  # held at its prompt step (calls so far: the first reply)
    pg.start()
    assert reached.wait(WAIT)
    assert pg.conversation.button.disabled and pg.new_conversation() is False  # not while a reply is written
    release.set()
    pg.join(WAIT)
    assert not pg.conversation.button.disabled and len(lab.history) == 2


def test_a_warning_says_what_to_do_as_the_conversation_nears_the_context(scripted_lab):
    lab, _ = scripted_lab(COMPLETION)
    pg = playground(lab)
    _follow_up(pg, "What is 2+2?")
    assert pg.conversation.warning.value == ""  # plenty of room
    lab.history += [{"role": "user", "content": "Add 12 and 30. " * 185}, {"role": "assistant", "content": "42"}]
    pg.max_tokens.value = "64"  # any change redraws
    used = lab.conversation_tokens()
    assert 1536 < used < 2048 - 64, used  # past three quarters of nano's 2,048, with room for 64
    warning = pg.conversation.warning_text("medium", 64)
    assert warning == (
        f"The conversation takes {used:,} of the 2,048 tokens gpt-oss-nano reads: a reply has {2048 - used:,} "
        "tokens left (medium effort's default is 512). Click New conversation to start afresh."
    )
    assert html.escape(warning) in pg.conversation.warning.value
    assert "gptoss-context-warning" in pg.conversation.warning._dom_classes
    pg.max_tokens.value = "1000"
    assert f"max tokens 1,000 will not fit. Use {2048 - used:,} or less" in pg.conversation.warning.value
    pg.start()
    pg.join(WAIT)
    assert "--max-tokens asks for 1,000 more" in pg.error and "can read (its context)" in pg.error  # the guard agrees
    lab.history += [{"role": "user", "content": "Add 12 and 30. " * 60}, {"role": "assistant", "content": "42"}]
    pg.max_tokens.value = ""
    assert "no room is left for a reply. Click New conversation" in pg.conversation.warning.value
    pg.conversation.button.click()
    assert pg.conversation.warning.value == ""


def test_compare_says_what_every_effort_answers_from(scripted_lab):
    lab, _ = scripted_lab(COMPLETION)
    pg = playground(lab)
    _follow_up(pg, "What is 2+2?")
    fresh = lab.ask("What is 2+2?", follow_up=False, temperature=0).prompt_ids
    history = [dict(t) for t in lab.history]
    assert pg.compare_state.layout.display == "none"
    assert pg.prompt.layout.display is None and pg.columns.layout.display is None  # hidden alone
    pg.follow_up.value = False
    pg.compare.value = True
    said = "Each effort answers as a new conversation (no earlier turns sent: tick follow up to send them)"
    assert said in pg.compare_state.value and "gptoss-compare-state" in pg.compare_state._dom_classes
    pg.start()
    pg.join(WAIT)
    assert [r.prompt_ids for r in pg.replies.values()] != [] and pg.replies["medium"].prompt_ids == fresh
    assert lab.history == history  # the earlier turn is neither sent nor changed
    pg.follow_up.value = True
    n = lab.conversation_tokens()
    assert f"Each effort answers after the same conversation: 1 earlier turn · {n:,} tokens" in pg.compare_state.value
    pg.start()
    pg.join(WAIT)
    assert all(len(r.prompt_ids) > len(fresh) for r in pg.replies.values()) and lab.history == history
    assert "the comparison is not added to the conversation" in pg.compare_state.value


def test_ctrl_enter_from_the_front_end_generates_with_the_boxs_text(scripted_lab):
    lab, _ = scripted_lab(COMPLETION)
    pg = playground(lab, prompt="")
    keys = pg.submit_keys
    assert keys in pg.children and keys.layout.display == "none"  # hidden: it only listens
    assert (keys.box, keys.container) == (".gptoss-prompt", ".gptoss-playground")
    assert "Ctrl+Enter generates" in pg.prompt.placeholder
    assert "http" not in keys._esm and "import" not in keys._esm  # shipped inline, nothing fetched
    keys._message(keys, {"event": "submit", "text": "What is 2+2?"}, [])  # what the front end sends
    reply = pg.join(WAIT)
    assert pg.prompt.value == "What is 2+2?" and reply.answer == "4"
    keys._message(keys, {"event": "other"}, [])  # anything else is ignored
    assert pg.join(WAIT) is reply
    keys._message(keys, {"event": "submit", "text": "  "}, [])
    assert "the prompt is empty" in pg.error


def test_over_a_server_the_turns_are_counted_not_the_tokens():
    from gptoss_lab import Lab
    from tests.unit._replay_server import serve

    for server in serve():
        server.models("gpt-oss-test")
        server.replay("/v1/chat/completions", "vllm_chat.sse")
        lab = Lab("gpt-oss-test", base_url=server.url, api="chat", api_key="")
        pg = playground(lab)
        _follow_up(pg, "What is 17 + 25?")
        assert pg.error == "" and lab.conversation_tokens() is None
        assert "Conversation: 1 earlier turn</summary>" in pg.conversation.turns.value
        assert pg.conversation.warning.value == ""
