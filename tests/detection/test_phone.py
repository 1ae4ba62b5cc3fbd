"""The fast phone recognizer returns exactly what Presidio's PhoneRecognizer returns.

Both recognizers run over the benchmark's 1 KB prompts, every document of the two presidio-research
data sets and a generated table of awkward strings; the results must agree in order, type, span,
score, explanation and recognizer name. The lemma that lets ``_Matcher`` skip a parse is checked
on its own against libphonenumber.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from presidio_analyzer import RecognizerResult
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from privacy_router.bench import corpus
from privacy_router.detection.engine import DetectionEngine
from privacy_router.detection.phone import (
    FastPhoneRecognizer,
    _Matcher,
    _starts_with_literal_zero,
    with_fast_phone,
)

PRESIDIO_RESEARCH = Path(__file__).resolve().parents[3] / "shared/benchmarks/detection/presidio-research"
REGIONS = PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS

NUMBERS = [
    "(212) 555-0187",
    "(650) 253-0000",
    "650-253-0000",
    "6502530000",
    "1 650 253 0000",
    "+1 650 253 0000",
    "+1-650-253-0000 ext. 123",
    "650 253 0000 x12",
    "650.253.0000 extension 7",
    "011 44 20 7946 0958",
    "0044 20 7946 0958",
    "+44 20 7946 0958",
    "+44 (0) 20 7946 0958",
    "020 7946 0958",
    "07700 900123",
    "030 123456",
    "+49 30 123456",
    "0049 30 1234567",
    "01 23 45 67 89",
    "+33 1 23 45 67 89",
    "03-1234567",
    "+972 3 123 4567",
    "050-123-4567",
    "098765 43210",
    "+91 98765 43210",
    "(11) 91234-5678",
    "+55 11 91234-5678",
    "0 800 123 4567",
    "1-800-FLOWERS",
    "+0 123 4567",
    "++44 20 7946 0958",
    "\uff0b44 20 7946 0958",
    "\uff12\uff11\uff12-\uff15\uff15\uff15-\uff10\uff11\uff18\uff17",
    "\u0662\u0661\u0662 \u0665\u0665\u0665 \u0660\u0661\u0668\u0667",
    "2025-01-05",
    "05/01/2025",
    "2012-01-02 08",
    "12:30",
    "211-227 (2003)",
    "4111 1111 1111 1111",
    "536-90-4399",
    "192.0.2.17",
    "00482913",
    "1234",
    "12",
    "7",
    "650-253-0000/650-253-0001",
    "(650) 253 0000 (754) 223 3321",
    "650 253 0000 - 754 223 3321",
]
BEFORE = ["", "Call ", "tel:", "abc", "$", "%", "(", "Ph: ", "\u00e9", "No. "]
AFTER = ["", ".", " today", "def", ":30", " 08:00", "/68", ")", "%", " x3"]


def tricky_texts() -> list[str]:
    """Every number with every prefix and suffix, and numbers side by side."""
    texts = [b + n + a for n, b, a in itertools.product(NUMBERS, BEFORE, AFTER)]
    texts += [f"{x} or {y}" for x, y in itertools.permutations(NUMBERS[:14], 2)]
    return texts


def corpus_texts() -> list[str]:
    docs = corpus.prompts(40, 1024, 4, corpus.COMMON_KINDS + corpus.PHI_KINDS, seed=11)
    return [d.text for d in docs]


def presidio_research_texts() -> list[str]:
    texts: list[str] = []
    for name in ("synth_dataset_v2.json", "generated_large.json"):
        records = json.loads((PRESIDIO_RESEARCH / name).read_text(encoding="utf-8"))
        texts += [r["full_text"] for r in records]
    return texts


def described(results: list[RecognizerResult]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for r in results:
        explanation = r.analysis_explanation
        assert explanation is not None
        meta = r.recognition_metadata or {}
        out.append(
            (
                r.entity_type,
                r.start,
                r.end,
                r.score,
                explanation.recognizer,
                explanation.original_score,
                explanation.textual_explanation,
                meta.get(RecognizerResult.RECOGNIZER_NAME_KEY),
            )
        )
    return out


def assert_same(texts: list[str]) -> int:
    """Both recognizers agree on every text; returns how many results they found."""
    stock, fast = PhoneRecognizer(), FastPhoneRecognizer()
    found = 0
    for text in texts:
        expected = described(stock.analyze(text, ["PHONE_NUMBER"], None))
        assert described(fast.analyze(text, ["PHONE_NUMBER"], None)) == expected, text
        found += len(expected)
    return found


def test_same_results_on_the_benchmark_prompts() -> None:
    # the 25 planted (212) 555-01xx numbers, and 4 German readings of a card, an SSN and digit groups
    assert assert_same(corpus_texts()) == 29


def test_same_results_on_every_presidio_research_document() -> None:
    texts = presidio_research_texts()
    assert len(texts) == 3609
    assert assert_same(texts) == 187


def test_same_results_on_awkward_strings() -> None:
    texts = tricky_texts()
    assert len(texts) == 5082
    assert assert_same(texts) == 2679


def test_an_unparseable_match_is_explained_with_the_previous_matchs_region_as_presidio_does() -> None:
    text = "+44 20 7946 0958 or 650-253-0000"
    results = described(FastPhoneRecognizer().analyze(text, ["PHONE_NUMBER"], None))
    assert described(PhoneRecognizer().analyze(text, ["PHONE_NUMBER"], None)) == results
    assert [(start, end, words) for _, start, end, _, _, _, words, _ in results] == [
        (0, 16, "Recognized as GB region phone number, using PhoneRecognizer"),
        (20, 32, "Recognized as GB region phone number, using PhoneRecognizer"),
    ]


def _valid(candidate: str, region: str) -> bool:
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(candidate, region)))
    except phonenumbers.NumberParseException:
        return False


def test_skipped_candidates_are_never_valid_numbers() -> None:
    """The lemma behind ``_cannot_be_valid``, on every awkward string and its pieces."""
    candidates = {piece for text in tricky_texts() for piece in [text, *text.split(" ")]}
    skipped = 0
    for region in REGIONS:
        matcher = _Matcher("", region, 1, {})
        for candidate in candidates:
            if matcher._cannot_be_valid(candidate):
                skipped += 1
                assert not _valid(candidate, region), (candidate, region)
    assert skipped > len(candidates) // 2  # the lemma does skip work (3771 of 8 x 5435 pairs)


@settings(max_examples=3000, derandomize=True, deadline=None)
@given(
    st.text(alphabet="+\uff0b0123456789()-. /xXet;ab\u0663\uff15", min_size=1, max_size=22),
    st.sampled_from(REGIONS),
)
def test_skipped_generated_candidates_are_never_valid_numbers(candidate: str, region: str) -> None:
    if _Matcher("", region, 1, {})._cannot_be_valid(candidate):
        assert not _valid(candidate, region)


@pytest.mark.parametrize(
    ("pattern", "always_zero"),
    [
        pytest.param("011", True, id="us"),
        pytest.param("00", True, id="gb"),
        pytest.param("0(?:0|1(?:05|[2-9]))", True, id="il-nested"),
        pytest.param("00(?:1[245]|2[1-35]|31|4[13]|[56]5|99)", True, id="br"),
        pytest.param("0?0", False, id="optional-zero"),
        pytest.param("0*1", False, id="starred-zero"),
        pytest.param("00|1", False, id="top-level-alternative"),
        pytest.param("[01]0", False, id="class-first"),
        pytest.param("8~10", False, id="other-digit"),
        pytest.param("0(?:0", False, id="unbalanced"),
    ],
)
def test_international_prefix_that_always_starts_with_zero(pattern: str, always_zero: bool) -> None:
    assert _starts_with_literal_zero(pattern) is always_zero


def test_engine_findings_are_the_same_with_presidios_recognizer(engine: DetectionEngine) -> None:
    """The engine holds the fast recognizer where Presidio's was; swapping it back changes nothing."""
    recognizers = engine._analyzer.registry.recognizers
    names = [type(r).__name__ for r in recognizers]
    assert "PhoneRecognizer" not in names
    assert names.count("FastPhoneRecognizer") == 1
    view_names = [type(r).__name__ for r in engine._view_analyzer.registry.recognizers]
    assert "FastPhoneRecognizer" not in view_names
    texts = corpus_texts() + [f"Call me on {n} tomorrow." for n in NUMBERS]
    fast_findings = engine.analyze(texts)
    at = names.index("FastPhoneRecognizer")
    fast = recognizers[at]
    recognizers[at] = PhoneRecognizer()
    try:
        stock_findings = engine.analyze(texts)
    finally:
        recognizers[at] = fast
    assert fast_findings == stock_findings
    assert sum(f.detector == "PhoneRecognizer" for fs in fast_findings for f in fs) > 10


def test_replacement_keeps_the_place_and_the_configuration() -> None:
    first, stock, last = (
        PhoneRecognizer(supported_regions=("CH",)),
        PhoneRecognizer(context=["fax"], supported_regions=("DE", "AT"), leniency=2, name="Tel"),
        PhoneRecognizer(),
    )
    first_fast, fast, last_fast = with_fast_phone([first, stock, last])
    assert isinstance(fast, FastPhoneRecognizer)
    assert isinstance(first_fast, FastPhoneRecognizer) and isinstance(last_fast, FastPhoneRecognizer)
    assert (fast.context, fast.supported_regions, fast.leniency, fast.name, fast.supported_entities) == (
        ["fax"],
        ("DE", "AT"),
        2,
        "Tel",
        ["PHONE_NUMBER"],
    )
    assert first_fast.supported_regions == ("CH",)
