"""A tiny random-weight gpt-oss checkpoint, built deterministically, standing in for nano.

It has every architectural feature of gpt-oss (MoE with top-k routing, alternating
sliding/full attention, learned sinks, GQA, YaRN RoPE) at toy size, and a byte-level
tokenizer whose harmony special tokens are single tokens. Its weights are random: it
babbles. It exists so that loading, generation and display run offline before the
trained nano ships.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..harmony import SPECIAL_TOKENS

VERSION = 1
SEED = 1234
IDENTITY = "You are gpt-oss-nano, a tiny teaching model of the gpt-oss architecture."

#: Toy gpt-oss shape: 4 layers (sliding, full, sliding, full), 8 experts top-2, GQA 4:2, window 16.
CONFIG = dict(
    hidden_size=64,
    intermediate_size=64,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    num_local_experts=8,
    num_experts_per_tok=2,
    sliding_window=16,
    max_position_embeddings=4096,
    rope_parameters={
        "rope_type": "yarn",
        "factor": 4.0,
        "beta_fast": 32.0,
        "beta_slow": 1.0,
        "truncate": False,
        "original_max_position_embeddings": 1024,
        "rope_theta": 150000.0,
    },
)


def placeholder_dir() -> Path:
    root = os.environ.get("GPTOSS_LAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gptoss_lab"
    )
    return Path(root) / f"nano-untrained-v{VERSION}"


def build_tokenizer():  # -> transformers.PreTrainedTokenizerFast
    """Byte-level tokenizer: 256 byte tokens (any text encodes) + the harmony specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    alphabet = ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    # Specials in o200k_harmony's id order, so the relative layout matches gpt-oss.
    specials = sorted(SPECIAL_TOKENS, key=SPECIAL_TOKENS.__getitem__)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|startoftext|>",
        eos_token="<|return|>",
        pad_token="<|endoftext|>",
    )
    fast.add_special_tokens({"additional_special_tokens": [s for s in specials if s not in fast.all_special_tokens]})
    return fast


def build_placeholder(path: Path) -> Path:
    """Write the placeholder checkpoint to ``path`` (once; a version stamp guards it)."""
    stamp = path / "gptoss_lab.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("version") == VERSION:
        return path
    import torch
    from transformers import GptOssConfig, GptOssForCausalLM

    tokenizer = build_tokenizer()
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in SPECIAL_TOKENS}
    vocab_size = len(tokenizer)
    config = GptOssConfig(
        vocab_size=vocab_size,
        eos_token_id=[ids["<|return|>"], ids["<|call|>"]],
        pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|startoftext|>"],
        **CONFIG,
    )
    torch.manual_seed(SEED)
    model = GptOssForCausalLM(config).eval()
    path.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")  # write aside, then rename: no half-built model
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "gptoss_lab.json").write_text(
        json.dumps({"version": VERSION, "trained": False, "identity": IDENTITY, "seed": SEED}, indent=1)
    )
    for f in tmp.iterdir():
        os.replace(f, path / f.name)
    tmp.rmdir()
    return path
