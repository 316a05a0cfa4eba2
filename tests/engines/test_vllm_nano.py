"""The bundled gpt-oss-nano served by a real vLLM: harmony-exact mode gives its local greedy reply, token for token.

vLLM renders gpt_oss chat with the real o200k_harmony ids, which nano's 921-token vocabulary lacks, so chat
completions cannot serve it; harmony-exact mode renders the prompt here with nano's own tokenizer and
identity, sends the ids to ``/v1/completions`` and parses the ids that come back. ``api="auto"`` chooses it,
since vLLM's model list names nano's directory. Runtime: the server's start and a few short greedy replies.
The load test: eight Labs (eight notebooks) asking at once each get their own reply, intact.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gptoss_lab import Lab
from tests.engines.vllm_server import VllmServer

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


@pytest.mark.parametrize("effort", ["low", "high"])
def test_nanos_reply_through_vllm_equals_its_local_greedy_reply(nano_server: VllmServer, effort: str) -> None:
    served, local = Lab(base_url=nano_server.base_url), Lab("nano")
    for question in ["What is 17 + 25?", "And times 2?"]:  # the second: a follow-up, by harmony's rules
        remote = served.ask(question, effort=effort, temperature=0)
        mine = local.ask(question, effort=effort, temperature=0)
        assert remote.prompt_ids == mine.prompt_ids == nano_server.prompt_ids()[-1]  # what the engine ran
        assert remote.completion_ids == mine.completion_ids
        assert (remote.reasoning, remote.answer, remote.stopped) == (mine.reasoning, mine.answer, mine.stopped)
        assert remote.stopped == "return" and remote.answer
    assert "completions API (harmony-exact: gpt-oss-nano's tokenizer here)" in repr(served)


LOAD_QUESTIONS = [
    "What is 17 + 25?",
    "What is 305 + 48?",
    "Spell lantern backwards.",
    "Which is bigger, 3.14 or 3.9?",
    "Sort 42, 7, 19.",
    "What is 23 * 4?",
    "How many r in carrot?",
    "What is 91 - 38?",
]


def test_eight_labs_asking_at_once_each_get_their_own_reply_intact(nano_server: VllmServer) -> None:
    """Eight notebooks of a workshop ask one server at once: no reply is lost, cut or mixed up with another's."""
    local = [Lab("nano").ask(q, effort="low", temperature=0) for q in LOAD_QUESTIONS]
    spans: list[tuple[float, float]] = []
    labs = [Lab(base_url=nano_server.base_url).load() for _ in LOAD_QUESTIONS]  # each has reached the server
    together = threading.Barrier(len(labs))  # then all eight send at once, however busy this machine is

    def ask(lab: Lab, question: str):
        together.wait(timeout=600)
        start = time.monotonic()
        reply = lab.ask(question, effort="low", temperature=0)
        spans.append((start, time.monotonic()))
        return reply

    with ThreadPoolExecutor(max_workers=len(LOAD_QUESTIONS)) as pool:
        futures = [pool.submit(ask, lab, q) for lab, q in zip(labs, LOAD_QUESTIONS, strict=True)]
        remote = [future.result(timeout=600) for future in futures]
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # all eight were in flight together
    for question, theirs, mine in zip(LOAD_QUESTIONS, remote, local, strict=True):
        assert theirs.completion_ids == mine.completion_ids, question  # its own reply, token for token
        assert (theirs.reasoning, theirs.answer, theirs.stopped) == (mine.reasoning, mine.answer, "return"), question
    assert len({r.answer for r in remote}) == len(LOAD_QUESTIONS)  # eight questions, eight different answers
