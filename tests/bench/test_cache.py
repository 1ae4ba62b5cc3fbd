"""The findings cache: per-tenant keys, bounded LRU, findings only, failures never cached."""

from __future__ import annotations

import pytest

from privacy_router.detection.cache import (
    ENTRY_OVERHEAD,
    FINDING_OVERHEAD,
    FindingsCache,
    cache_key,
    engine_fingerprint,
    entry_bytes,
)
from privacy_router.types import Finding

EMAIL = Finding("EMAIL_ADDRESS", 3, 20, 1.0, "EmailRecognizer")
FP = "f" * 64


def test_key_depends_on_tenant_fingerprint_and_text() -> None:
    base = cache_key("acme", FP, "hello")
    assert len(base) == 32
    assert base == cache_key("acme", FP, "hello")
    assert (
        len(
            {
                base,
                cache_key("other", FP, "hello"),
                cache_key("acme", "0" * 64, "hello"),
                cache_key("acme", FP, "hello!"),
            }
        )
        == 4
    )


def test_key_fields_are_length_prefixed() -> None:
    """("ab", "c") and ("a", "bc") must not share a key: tenants could otherwise collide."""
    assert cache_key("ab", "c", "x") != cache_key("a", "bc", "x")


def test_key_accepts_a_lone_surrogate() -> None:
    assert len(cache_key("t", FP, "\ud800")) == 32


def test_fingerprint_changes_with_every_input_that_changes_findings() -> None:
    base = {
        "spacy_model": "sm==3.8.0",
        "pack_versions": {"core": "1"},
        "score_threshold": 0.4,
        "allow_list": (),
    }
    variants = [
        {**base, "spacy_model": "lg==3.8.0"},
        {**base, "pack_versions": {"core": "2"}},
        {**base, "score_threshold": 0.5},
        {**base, "allow_list": ("Acme Hotline",)},
    ]
    prints = {engine_fingerprint(**base)} | {engine_fingerprint(**v) for v in variants}  # type: ignore[arg-type]
    assert len(prints) == 5
    assert engine_fingerprint(**{**base, "allow_list": ("B", "a")}) == engine_fingerprint(  # type: ignore[arg-type]
        **{**base, "allow_list": ("A", "b")}  # type: ignore[arg-type]
    )


def test_entry_bytes_formula() -> None:
    assert entry_bytes([]) == ENTRY_OVERHEAD
    assert entry_bytes([EMAIL]) == ENTRY_OVERHEAD + FINDING_OVERHEAD + len("EMAIL_ADDRESS") + len(
        "EmailRecognizer"
    )


def test_plan_reports_misses_then_hits_for_the_same_tenant_only() -> None:
    cache = FindingsCache(100, 1_000_000)
    plan = cache.plan("acme", FP, ["a", "b"])
    assert plan.missing == ["a", "b"]
    assert plan.complete([[EMAIL], []]) == [[EMAIL], []]
    again = cache.plan("acme", FP, ["a", "b", "c"])
    assert again.missing == ["c"]
    assert again.complete([[]]) == [[EMAIL], [], []]
    other_tenant = cache.plan("globex", FP, ["a"])
    assert other_tenant.missing == ["a"]
    assert (cache.stats.hits, cache.stats.misses) == (2, 4)


def test_repeated_text_in_one_request_is_analysed_once() -> None:
    plan = FindingsCache(10, 100_000).plan("t", FP, ["same", "other", "same"])
    assert plan.missing == ["same", "other"]
    assert plan.complete([[EMAIL], []]) == [[EMAIL], [], [EMAIL]]


def test_wrong_length_result_is_rejected_and_nothing_is_stored() -> None:
    cache = FindingsCache(10, 100_000)
    plan = cache.plan("t", FP, ["a", "b"])
    with pytest.raises(ValueError):
        plan.complete([[]])
    assert len(cache) == 0


def test_lru_evicts_by_entries_least_recently_used_first() -> None:
    cache = FindingsCache(2, 1_000_000)
    for text in ("a", "b"):
        cache.plan("t", FP, [text]).complete([[]])
    cache.plan("t", FP, ["a"])  # touch "a": "b" is now the oldest
    cache.plan("t", FP, ["c"]).complete([[]])
    assert cache.plan("t", FP, ["a", "b", "c"]).missing == ["b"]
    assert (len(cache), cache.stats.evictions) == (2, 1)


def test_lru_evicts_by_bytes() -> None:
    one = entry_bytes([EMAIL])
    cache = FindingsCache(100, one * 2)
    for text in ("a", "b", "c"):
        cache.plan("t", FP, [text]).complete([[EMAIL]])
    assert (len(cache), cache.stats.bytes, cache.stats.evictions) == (2, one * 2, 1)
    assert cache.plan("t", FP, ["a"]).missing == ["a"]


def test_entry_larger_than_the_budget_is_not_cached() -> None:
    cache = FindingsCache(10, ENTRY_OVERHEAD)
    cache.plan("t", FP, ["a"]).complete([[EMAIL]])
    assert (len(cache), cache.stats.bytes) == (0, 0)


def test_cache_holds_no_text() -> None:
    """Entries are digests and findings: the analysed text appears nowhere in the cache."""
    secret = "SSN 123-45-6789 of Jane Roe"
    cache = FindingsCache(10, 100_000)
    cache.plan("t", FP, [secret]).complete([[Finding("US_SSN", 4, 15, 0.85, "UsSsnRecognizer")]])
    stored = repr(list(cache._data.items()))
    assert ("123-45-6789" in stored, "Jane" in stored, secret in stored) == (False, False, False)


def test_negative_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        FindingsCache(-1, 10)
