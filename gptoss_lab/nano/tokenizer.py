"""gpt-oss-nano's tokenizer: a small byte-level BPE with the harmony specials as single tokens.

* Byte-level with all 256 bytes in the base alphabet, so any text encodes.
* Digits are split one per token before BPE, so arithmetic is digit by digit.
* Merges are learned from the task corpus, so the fixed harmony scaffolding (the system
  message, channel names) costs few tokens.
* The chat template renders exactly what :func:`gptoss_lab.harmony.render_prompt` renders
  for system/developer/user/assistant conversations (tests compare the two).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..harmony import SPECIAL_TOKENS

__all__ = ["CHAT_TEMPLATE", "IDENTITY", "train_tokenizer"]

#: The identity line of nano's system message (its gptoss_lab.json carries it for the Lab too).
IDENTITY = "You are gpt-oss-nano, a tiny teaching model of the gpt-oss architecture."

#: Jinja version of harmony.render_prompt for conversations without tools. Keep the two in step:
#: tests/integration/test_nano_training.py renders both over generated conversations.
CHAT_TEMPLATE = (
    "{%- set identity = model_identity if model_identity is defined else "
    f"'{IDENTITY}' -%}}"
    "{%- set effort = reasoning_effort if reasoning_effort is defined else 'medium' -%}"
    "<|start|>system<|message|>{{ identity }}\nKnowledge cutoff: 2024-06"
    # an expression, not an if-block: the chat template environment trims the newline after block tags
    "{{ ('\\nCurrent date: ' ~ current_date) if (current_date is defined and current_date) else '' }}"
    "\n\nReasoning: {{ effort }}\n\n# Valid channels: analysis, commentary, final. "
    "Channel must be included for every message.<|end|>"
    "{%- set ns = namespace(instructions=false, first_final=-1, last_is_final=false, seen_instr=false) -%}"
    "{%- for m in messages -%}"
    "{%- if m.role in ['system', 'developer'] and not ns.instructions -%}"
    "{%- set ns.instructions = true -%}"
    "<|start|>developer<|message|># Instructions\n\n{{ m.content }}<|end|>"
    "{%- endif -%}{%- endfor -%}"
    # harmony drops past analysis only when the last assistant message is final, and then only the
    # analysis before the first final message: here, the thinking of the first assistant turn.
    "{%- for m in messages -%}{%- if m.role == 'assistant' -%}{%- set ns.last_is_final = true -%}"
    "{%- if ns.first_final < 0 -%}{%- set ns.first_final = loop.index0 -%}{%- endif -%}{%- endif -%}{%- endfor -%}"
    "{%- for m in messages -%}"
    "{%- if m.role in ['system', 'developer'] -%}"
    "{%- if ns.seen_instr -%}<|start|>developer<|message|># Instructions\n\n{{ m.content }}<|end|>{%- endif -%}"
    "{%- set ns.seen_instr = true -%}"
    "{%- elif m.role == 'user' -%}<|start|>user<|message|>{{ m.content }}<|end|>"
    "{%- elif m.role == 'assistant' -%}"
    "{%- if m.thinking and not (ns.last_is_final and loop.index0 == ns.first_final) -%}"
    "<|start|>assistant<|channel|>analysis<|message|>{{ m.thinking }}<|end|>{%- endif -%}"
    "<|start|>assistant<|channel|>final<|message|>{{ m.content }}<|end|>"
    "{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|start|>assistant{%- endif -%}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """Learn BPE merges on ``texts``; returns a transformers ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = sorted(SPECIAL_TOKENS, key=SPECIAL_TOKENS.__getitem__)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|startoftext|>",
        eos_token="<|return|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=[s for s in specials if s not in ("<|startoftext|>", "<|return|>", "<|endoftext|>")],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast
