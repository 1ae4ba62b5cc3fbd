"""The fast detection path gives the same results as the slow one it replaces.

Each speed-up in engine.py has an exactness argument in its docstring; these tests check it on
real text: the NER-only spaCy pipeline against the full one, the bisecting context enhancer
against Presidio's, and lookbehind-gated pack patterns against the plain compiled pattern.
"""

from __future__ import annotations

import pytest
import regex
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

from privacy_router.detection.engine import (
    LANGUAGE,
    DetectionEngine,
    FastContextEnhancer,
    _GatedPattern,
    _leading_lookbehind,
    load_pipeline,
)

TEXTS = [
    "Patient MRN 00482913 was seen by Dr. Maria Garcia; call her cell on (212) 555-0187 today.",
    "Charge the deposit to card 4111 1111 1111 1111 please, the applicant's SSN is 536-90-4399.",
    "My phone number: 212 555 0134. Licence plate ABC 1234. Account no. 12345678 at Acme Corp.",
    "Name three colours. The quarterly review covered onboarding and the migration plan.",
    "ssn:536904399 and phone:2125550187 written without spaces, then John Smith at john@example.com",
]


@pytest.mark.parametrize(
    ("pattern", "body"),
    [
        pytest.param(r"(?<=\bmrn\s*)\d{4,12}\b", r"\bmrn\s*", id="simple"),
        pytest.param(r"(?<=(?:a|b)(?:c))\d", r"(?:a|b)(?:c)", id="nested-groups"),
        pytest.param(r"(?<=[)(]x)\d", r"[)(]x", id="parens-in-class"),
        pytest.param(r"(?<=[]a)]x)\d", r"[]a)]x", id="leading-bracket-in-class"),
        pytest.param(r"(?<=\(x\))\d", r"\(x\)", id="escaped-parens"),
        pytest.param(r"\d{9}", None, id="no-lookbehind"),
        pytest.param(r"x(?<=x)\d", None, id="lookbehind-not-leading"),
        pytest.param(r"(?<=unbalanced", None, id="unbalanced"),
    ],
)
def test_leading_lookbehind_body(pattern: str, body: str | None) -> None:
    assert _leading_lookbehind(pattern) == body


def test_gated_pattern_finds_exactly_what_the_pattern_finds() -> None:
    flags = regex.IGNORECASE | regex.MULTILINE | regex.DOTALL
    source = r"(?<=\b(?:mrn|medical\s+record)\s*(?:is|[:#])?\s*)\d{4,12}\b"
    body = _leading_lookbehind(source)
    assert body is not None
    plain = regex.compile(source, flags)
    gated = _GatedPattern(plain, regex.compile(body, flags))
    texts = [*TEXTS, "MEDICAL RECORD: 12345 and mrn#99999999", "no label here 123456"]
    for text in texts:
        assert [m.span() for m in gated.finditer(text)] == [m.span() for m in plain.finditer(text)]
    assert [m.span() for m in gated.finditer(texts[-2])] == [(16, 21), (30, 38)]
    assert list(gated.finditer("no label here 123456")) == []


def test_ner_only_pipeline_keeps_only_ner_and_finds_the_same_entities() -> None:
    _, full = load_pipeline("en_core_web_sm")
    _, fast = load_pipeline("en_core_web_sm", ner_only=True)
    assert fast is not full
    assert fast.pipe_names == ["ner"]
    assert "parser" in full.pipe_names
    for text in TEXTS:
        assert [(e.start_char, e.end_char, e.label_) for e in fast(text).ents] == [
            (e.start_char, e.end_char, e.label_) for e in full(text).ents
        ]


def test_fast_context_enhancer_boosts_exactly_as_presidio_does(detection_engine: DetectionEngine) -> None:
    """Same recognizers, same artifacts: Presidio's enhancer and ours give identical scores."""
    analyzer = detection_engine._analyzer
    recognizers = analyzer.registry.get_recognizers(LANGUAGE, all_fields=True)
    nlp = detection_engine._nlp_engine.get_nlp(LANGUAGE)
    boosted = 0
    for text in TEXTS:
        artifacts = detection_engine._artifacts(nlp(text))
        raw = [r for rec in recognizers for r in rec.analyze(text, rec.supported_entities, artifacts)]
        theirs = LemmaContextAwareEnhancer().enhance_using_context(text, raw, artifacts, recognizers)
        ours = FastContextEnhancer().enhance_using_context(text, raw, artifacts, recognizers)
        assert [(r.entity_type, r.start, r.end, r.score) for r in ours] == [
            (r.entity_type, r.start, r.end, r.score) for r in theirs
        ]
        boosted += sum(a.score != b.score for a, b in zip(theirs, raw, strict=True))
    assert boosted > 0  # the comparison exercised context boosts, not only untouched scores


def test_artifacts_use_lower_cased_tokens_as_lemmas(detection_engine: DetectionEngine) -> None:
    nlp = detection_engine._nlp_engine.get_nlp(LANGUAGE)
    artifacts = detection_engine._artifacts(nlp("Call Maria Garcia on her phone"))
    assert artifacts.lemmas == ["call", "maria", "garcia", "on", "her", "phone"]
    assert artifacts.tokens_indices == [0, 5, 11, 18, 21, 25]
    assert [(e.text, e.label_) for e in artifacts.entities] == [("Maria Garcia", "PERSON")]
