"""A Hugging Face ``tokenizer.json`` for o200k_harmony (gpt-oss's 201088 ids), built offline.

toktok-rs compiles the vocabulary into its binary (token bytes by rank, and the special
tokens). A byte-level BPE equal to tiktoken's needs, besides the vocabulary, the merges: the
pair each multi-byte token is built from. That pair is what BPE over the token's own bytes
yields when only lower-ranked tokens may merge, so it is recomputed per token here, and the
merges are listed in rank order (BPE merges the lowest rank first, as tiktoken does).
"""

from __future__ import annotations

import json
from pathlib import Path

#: o200k's pre-tokenizer split, as tiktoken publishes it for o200k_base/o200k_harmony.
O200K_PATTERN = "|".join(
    [
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        r"\p{N}{1,3}",
        r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
        r"\s*[\r\n]+",
        r"\s+(?!\S)",
        r"\s+",
    ]
)


def _byte_chars() -> list[str]:
    """Byte-level BPE's printable stand-in for each byte value (bytes that print stand for themselves)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def _merge_pair(token: bytes, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """The two tokens BPE joins last to make ``token``, merging only tokens ranked below it."""
    limit = ranks[token]
    parts = [token[i : i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best, at = limit, -1
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1], limit)
            if rank < best:
                best, at = rank, i
        if at < 0:
            break
        parts[at : at + 2] = [parts[at] + parts[at + 1]]
    if len(parts) != 2:
        raise ValueError(f"token {token!r} (rank {limit}) is not a merge of two lower-ranked tokens")
    return parts[0], parts[1]


def _specials(encoding: object) -> dict[int, str]:
    """id -> name; where an id has two names (200018), the named one wins over ``<|reserved_...|>``."""
    out: dict[int, str] = {}
    for name, rank in sorted(dict(encoding.special_tokens()).items(), key=lambda kv: kv[0].startswith("<|reserved")):
        out.setdefault(rank, name)
    return out


def tokenizer_json() -> dict:
    """The tokenizer.json content for o200k_harmony."""
    import toktok

    enc = toktok._encoding("o200k_harmony")
    specials = _specials(enc)
    ranks = {enc.decode_single_token_bytes(r): r for r in range(enc.n_vocab) if r not in specials}
    chars = _byte_chars()
    text = {token: "".join(chars[b] for b in token) for token in ranks}
    vocab = {text[token]: rank for token, rank in ranks.items()}
    merges = []
    for token, _ in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) > 1:
            left, right = _merge_pair(token, ranks)
            merges.append([text[left], text[right]])
    added = [
        {"id": i, "content": name, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False}
        | {"special": True}
        for i, name in sorted(specials.items())
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": O200K_PATTERN}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
            ],
        },
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }


def write_o200k_harmony_tokenizer(directory: Path) -> Path:
    """Write tokenizer.json and tokenizer_config.json for o200k_harmony into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokenizer.json").write_text(json.dumps(tokenizer_json(), ensure_ascii=False))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|startoftext|>",
        "eos_token": "<|return|>",
        "pad_token": "<|endoftext|>",
        "model_max_length": 131072,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
    return directory
