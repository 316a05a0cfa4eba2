"""A vLLM logits processor that makes a random model write a scripted completion (loaded by vLLM, not pytest).

A random model babbles; with this processor it writes exactly the token ids a test scripted for the
question it is asked, so a real server can be checked against known replies. The server is started with
``--logits-processors scripted_logits:ScriptedLogits`` and this directory on ``PYTHONPATH``.

The script comes from ``vllm_xargs`` (``{"script": [ids...]}``) or, for clients that send no extra fields
(``Lab``), from the JSON file ``$GPTOSS_SCRIPTS``: ``{"<question ids, comma-joined>": {"ids": [...],
"delay": seconds per token}}``, keyed by the token ids of the prompt's last message (between its last
``<|message|>`` and ``<|end|>``: the user's question). The file is read again for every new request, so a
test may add scripts while the server runs. Every request's prompt ids are appended to ``$GPTOSS_PROMPTS``
(one JSON list a line), so a test can read what the server rendered. A question with no script is left to
the model.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

MESSAGE, END = 200008, 200007  # o200k_harmony's <|message|> and <|end|>


def question_key(prompt_ids: list[int]) -> str:
    """The ids of the prompt's last message (its question), as the scripts file keys them."""
    end = len(prompt_ids) - 1 - prompt_ids[::-1].index(END) if END in prompt_ids else len(prompt_ids)
    head = prompt_ids[:end]
    start = len(head) - head[::-1].index(MESSAGE) if MESSAGE in head else 0
    return ",".join(map(str, prompt_ids[start:end]))


def _script_for(params: Any, prompt_ids: list[int]) -> tuple[list[int], float] | None:
    extra = getattr(params, "extra_args", None) or {}
    if "script" in extra:
        ids = extra["script"]
        ids = [int(i) for i in (ids.split(",") if isinstance(ids, str) else ids)]
        return ids, float(extra.get("delay", 0.0))
    path = os.environ.get("GPTOSS_SCRIPTS")
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        entry = json.load(f).get(question_key(prompt_ids))
    return (list(entry["ids"]), float(entry.get("delay", 0.0))) if entry else None


def _log_prompt(prompt_ids: list[int]) -> None:
    path = os.environ.get("GPTOSS_PROMPTS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(prompt_ids) + "\n")


class ScriptedLogits(LogitsProcessor):
    """Each scripted request's next token is its script's next id; other requests are untouched."""

    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool) -> None:
        # batch row -> (script, delay, the request's output ids: a live list vLLM keeps appending to)
        self.rows: dict[int, tuple[list[int], float, list[int]]] = {}

    def is_argmax_invariant(self) -> bool:
        return False

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if batch_update is None:
            return
        for row in batch_update.removed:
            self.rows.pop(row, None)
        for row, params, prompt_ids, output_ids in batch_update.added:
            _log_prompt(list(prompt_ids or []))
            script = _script_for(params, list(prompt_ids or []))
            if script is None:
                self.rows.pop(row, None)
            else:
                self.rows[row] = (*script, output_ids)
        for a, b, direction in batch_update.moved:
            first, second = self.rows.pop(a, None), self.rows.pop(b, None)
            if first is not None:
                self.rows[b] = first
            if second is not None and direction == MoveDirectionality.SWAP:
                self.rows[a] = second

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        delay = 0.0
        for row, (script, pause, output_ids) in self.rows.items():
            if row >= logits.shape[0] or not script:
                continue
            token = script[min(len(output_ids), len(script) - 1)]
            logits[row] = float("-inf")  # (V,): only the scripted token can be chosen
            logits[row, token] = 0.0
            delay = max(delay, pause)
        if delay:
            time.sleep(delay)  # a slow stream, so a test can stop it mid-reply
        return logits
