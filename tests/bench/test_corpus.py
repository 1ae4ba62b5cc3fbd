"""Benchmark texts are deterministic and their planted spans point at the planted values."""

from __future__ import annotations

import random

import pytest

from privacy_router.bench import corpus


def test_same_seed_same_texts() -> None:
    kinds = corpus.COMMON_KINDS
    assert [d.text for d in corpus.prompts(3, 1024, 4, kinds, 7)] == [
        d.text for d in corpus.prompts(3, 1024, 4, kinds, 7)
    ]


def test_planted_spans_hold_the_identifiers() -> None:
    doc = corpus.compose(random.Random(1), 1024, 4, corpus.COMMON_KINDS + corpus.PHI_KINDS)
    assert len(doc.planted) == 4
    for start, end, kind in doc.planted:
        value = doc.text[start:end]
        assert doc.text.count(value) == 1, kind
        assert value == value.strip()


@pytest.mark.parametrize(("size", "lo", "hi"), [(1024, 964, 1124), (4096, 4036, 4196)], ids=["1kb", "4kb"])
def test_prompt_size_is_close_to_the_target(size: int, lo: int, hi: int) -> None:
    sizes = [len(d.text) for d in corpus.prompts(5, size, 4, corpus.COMMON_KINDS, 3)]
    assert [lo <= s <= hi for s in sizes] == [True] * 5


def test_card_numbers_pass_luhn() -> None:
    # 4111 1111 1111 1111 is the well-known Luhn-valid Visa test number.
    assert corpus._luhn_complete("411111111111111") == "4111111111111111"


def test_chat_request_carries_the_whole_history() -> None:
    chat = corpus.chat(3, seed=5)
    request = chat.request(2)
    expected = [
        corpus.SYSTEM,
        chat.turns[0][0].text,
        chat.turns[0][1].text,
        chat.turns[1][0].text,
        chat.turns[1][1].text,
        chat.turns[2][0].text,
    ]
    assert [d.text for d in request] == expected
