"""Canonical bytes (RFC 8785) and the chain hash: known-answer tests."""

from __future__ import annotations

import hashlib

import pytest

from privacy_router.audit.canonical import GENESIS_HASH, canonical, entry_hash

KAT_RECORD = {"seq": 1, "b": [1, 2.5, "é"], "a": {"z": None, "y": True}, "ts": "2026-01-31T09:15:02.123Z"}
KAT_CANON = b'{"a":{"y":true,"z":null},"b":[1,2.5,"\xc3\xa9"],"seq":1,"ts":"2026-01-31T09:15:02.123Z"}'
# Computed once with: hashlib.sha256(bytes(32) + KAT_CANON).hexdigest(), and re-derived below.
KAT_HASH_1 = "53f29e84233cc73e3113d8e3cf43d5b18cc497b6fb0aea16483a976638014704"
KAT_HASH_2 = "ba537c33e1c683c2f172b6df183adf7ffe227fa94c5822b845c41239eaf7dfba"


def test_canonical_sorts_keys_and_encodes_utf8_without_whitespace() -> None:
    assert canonical(KAT_RECORD) == KAT_CANON


def test_genesis_entry_hash_matches_independent_hashlib() -> None:
    independent = hashlib.sha256(b"\x00" * 32 + KAT_CANON).hexdigest()
    assert independent == KAT_HASH_1
    assert entry_hash(GENESIS_HASH, canonical(KAT_RECORD)).hex() == KAT_HASH_1


def test_second_link_hashes_previous_entry_hash_then_canon() -> None:
    first = entry_hash(GENESIS_HASH, KAT_CANON)
    assert entry_hash(first, KAT_CANON).hex() == KAT_HASH_2
    assert hashlib.sha256(bytes.fromhex(KAT_HASH_1) + KAT_CANON).hexdigest() == KAT_HASH_2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Number serialisation examples from RFC 8785 appendix B (ECMAScript Number.toString).
        (333333333.33333329, b"333333333.3333333"),
        (1e30, b"1e+30"),
        (4.50, b"4.5"),
        (2e-3, b"0.002"),
        (0.000000000000000000000000001, b"1e-27"),
        (-0.0, b"0"),
        (9007199254740991, b"9007199254740991"),
    ],
    ids=["long-fraction", "1e30", "trailing-zero", "small", "tiny", "negative-zero", "max-safe-int"],
)
def test_numbers_follow_rfc8785(value: float, expected: bytes) -> None:
    assert canonical({"n": value}) == b'{"n":' + expected + b"}"


@pytest.mark.parametrize(
    "bad",
    [{"n": float("nan")}, {"n": float("inf")}, {"n": 2**60}, {"n": object()}, {1: "x"}],
    ids=["nan", "infinity", "unsafe-int", "object", "int-key"],
)
def test_non_json_values_raise_value_error_without_the_value(bad: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=r"^record is not canonicalisable JSON \(\w+\)$"):
        canonical(bad)


def test_entry_hash_refuses_a_short_prev_hash() -> None:
    with pytest.raises(ValueError, match="prev_hash must be 32 bytes"):
        entry_hash(b"\x00" * 31, KAT_CANON)
