"""gpt-oss-nano's tokenizer: whole words or single letters, with the harmony specials as single tokens.

* Byte-level with all 256 bytes in the base alphabet, so any text encodes.
* Digits are split one per token (a space before a digit goes with it), so arithmetic is digit by
  digit and a list of digits costs one token a digit.
* Frequent words of the task corpus are whole tokens, so the fixed harmony scaffolding (the
  system message, channel names) costs few tokens; every other word is spelled one letter per
  token, so counting letters and reversing work on words the model has never seen.
* The chat template renders exactly what :func:`gptoss_lab.harmony.render_prompt` renders
  for system/developer/user/assistant conversations (tests compare the two).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Collection, Iterable
from typing import Any

from ..harmony import SPECIAL_TOKENS

__all__ = ["CHAT_TEMPLATE", "IDENTITY", "train_tokenizer"]

SPACE = "\u0120"  # byte-level BPE's stand-in for a space

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


def train_tokenizer(
    texts: Iterable[str], vocab_size: int, spelled: Collection[str] = (), *, min_count: int = 10
) -> Any:
    """Build the vocabulary from ``texts``; returns a transformers ``PreTrainedTokenizerFast``.

    The vocabulary is the harmony specials, the 256 byte-level characters, each letter after a
    space (`` s``), then the most frequent whole words and punctuation runs of ``texts`` (seen
    at least ``min_count`` times; the vocabulary may stay smaller than ``vocab_size``). There
    are no merges: a word in the vocabulary is one token, any other word is one token per letter.
    So the fixed scaffolding (system message, channel names, the templates' words) stays short,
    while the words to spell or count in (``spelled`` and their reversals, kept out of the
    vocabulary, and any word the model has never seen) reach it letter by letter. A BPE piece
    such as ``berry`` hides its letters from a model this small, which then learns the spellings
    of its training words by heart and cannot spell a new one.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = sorted(SPECIAL_TOKENS, key=SPECIAL_TOKENS.__getitem__)
    # one token per digit, a space before it included (`` 7``): digit lists ("7 4 3") cost a token a digit
    pre = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(" ?[0-9]"), behavior="isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    split_specials = re.compile("|".join(re.escape(s) for s in specials))
    counts: Counter[str] = Counter()
    for text in texts:
        for part in split_specials.split(text):
            counts.update(piece for piece, _ in pre.pre_tokenize_str(part))
    banned = {v for w in spelled for v in (w.lower(), w.lower()[::-1])}
    base = [
        *specials,
        *sorted(pre_tokenizers.ByteLevel.alphabet()),
        *(SPACE + c for c in string.ascii_letters + string.digits),
    ]
    taken = set(base)
    words = [p for p, n in counts.most_common() if n >= min_count and p not in taken]
    words = [p for p in words if p.lstrip(SPACE).lower() not in banned]
    vocab = {piece: i for i, piece in enumerate([*base, *words[: max(0, vocab_size - len(base))]])}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], ignore_merges=True))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|startoftext|>",
        eos_token="<|return|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=[s for s in specials if s not in ("<|startoftext|>", "<|return|>", "<|endoftext|>")],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast
