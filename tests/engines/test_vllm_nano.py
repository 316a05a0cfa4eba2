"""The bundled gpt-oss-nano served by a real vLLM: harmony-exact mode gives its local greedy reply, token for token.

vLLM renders gpt_oss chat with the real o200k_harmony ids, which nano's 842-token vocabulary lacks, so chat
completions cannot serve it; harmony-exact mode renders the prompt here with nano's own tokenizer and
identity, sends the ids to ``/v1/completions`` and parses the ids that come back. ``api="auto"`` chooses it,
since vLLM's model list names nano's directory. Runtime: the server's start and a few short greedy replies.
"""

from __future__ import annotations

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
