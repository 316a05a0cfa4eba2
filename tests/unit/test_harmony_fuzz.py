"""The streaming parser keeps every character of mutated streams (see tests/reference/harmony_fuzz.py).

A few thousand seeded streams here; ``python bench/fuzz.py`` runs the same checks on a million.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from tests.reference import harmony_fuzz


def test_mutated_streams_keep_every_character_in_order():
    failures: list[str] = []
    harmony_fuzz.fuzz(4000, seed=0, on_failure=lambda k, ids, why: failures.append(f"stream {k}: {why}"))
    assert not failures, "\n".join(failures[:5])


def test_most_streams_get_the_exact_check():
    """Property 2 (nothing added) applies when the text holds no "<": it must cover most streams."""
    rng, vocab = random.Random(0), harmony_fuzz.ToyVocab()
    exact = malformed = invalid = 0
    n = 600
    for _ in range(n):
        ids = harmony_fuzz.mutate(harmony_fuzz.encode(harmony_fuzz.well_formed(rng), vocab, rng), rng)
        text = harmony_fuzz.expected_text(ids, vocab)
        _, parser = harmony_fuzz.stream(ids, vocab.codecs()["bytes"])
        exact += "<" not in text
        invalid += "\ufffd" in text
        malformed += any(m.malformed for m in parser.messages)
    assert exact > 0.75 * n and invalid > 0.2 * n and malformed > 0.2 * n


@pytest.mark.parametrize("flaw", ["drop header", "never malformed", "drop held bytes"])
def test_the_fuzz_catches_a_parser_that_loses_text(flaw, monkeypatch):
    from gptoss_lab import detok, harmony

    parse = harmony._parse_header
    if flaw == "drop header":
        monkeypatch.setattr(harmony, "_parse_header", lambda *a: replace(parse(*a), header=""))
    elif flaw == "never malformed":
        monkeypatch.setattr(harmony, "_parse_header", lambda *a: replace(parse(*a), malformed=False))
    else:
        monkeypatch.setattr(detok.ByteDecoder, "flush", lambda self: "")
    assert harmony_fuzz.fuzz(300, seed=1) > 0
