"""Views that see through obfuscation (privacy_router/detection/normalize.py), with exact offsets."""

from __future__ import annotations

import base64

import pytest

from privacy_router.config import DetectionSettings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.detection.normalize import derived_views

VIEW_CASES = [
    (
        "SSN ５３６-９０-４３９９",
        [("normalized", "SSN 536-90-4399"), ("compact", "SSN 536904399")],
        "fullwidth",
    ),
    (
        "SSN 5\u200b36-90-4399",
        [("normalized", "SSN 536-90-4399"), ("compact", "SSN 536904399")],
        "zero-width",
    ),
    ("ssn five three six nine zero four three nine nine", [("normalized", "ssn 536904399")], "spelled-out"),
    ("mail john [at] example [dot] com now", [("normalized", "mail john@example.com now")], "at-dot"),
    ("mail john at example dot com now", [("normalized", "mail john@example.com now")], "at-dot-words"),
    ("write to maria at clinic.example", [("normalized", "write to maria@clinic.example")], "at-real-dots"),
    ("The dose was given at night. Pain improved.", [], "at-then-sentence-end-is-no-address"),
    (
        "last reachable at 10.34.201.7. Device serial",
        [("compact", "last reachable at 10342017. Device serial")],  # digits joined, no e-mail rebuilt
        "at-an-ip-address-is-no-e-mail",
    ),
    ("mail j o h n @ x . c o m now", [("compact", "mail john@x.com now")], "spaced-out"),
    ("ssn 536 90\n4399", [("compact", "ssn 536904399")], "line-wrapped"),
    ("x %35%33%36", [("decoded", "x 536")], "url-encoding"),
    ("hex 616c696365406578616d706c652e636f6d", [("decoded", "hex alice@example.com")], "hex"),
    ("Explain how photosynthesis works in two sentences.", [], "plain-prose-has-no-views"),
]


@pytest.mark.parametrize(("text", "expected"), [c[:2] for c in VIEW_CASES], ids=[c[2] for c in VIEW_CASES])
def test_derived_views(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(v.name, v.text) for v in derived_views(text)] == expected


def test_a_decoded_character_maps_to_the_whole_encoded_token() -> None:
    token = base64.b64encode(b"SSN 536-90-4399").decode()
    text = f"data {token} end"
    [view] = [v for v in derived_views(text) if v.name == "decoded"]
    assert view.text == "data SSN 536-90-4399 end"
    assert view.to_original(9, 20) == (5, 5 + len(token))


FINDING_CASES = [
    ("SSN ５３６-９０-４３９９ ok", [("US_SSN", 4, 15, "UsSsnRecognizer@normalized")], "fullwidth-ssn"),
    (
        "mail john [at] example [dot] com now",
        [("EMAIL_ADDRESS", 5, 32, "OfflineEmailRecognizer@normalized")],
        "at-dot-email",
    ),
    (
        "data " + base64.b64encode(b"SSN 536-90-4399").decode() + " end",
        [("US_SSN", 5, 25, "UsSsnRecognizer@decoded")],
        "base64-ssn-whole-token",
    ),
]


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    return DetectionEngine.from_settings(DetectionSettings())


@pytest.mark.parametrize(
    ("text", "expected"), [c[:2] for c in FINDING_CASES], ids=[c[2] for c in FINDING_CASES]
)
def test_findings_in_views_are_reported_over_original_offsets(
    engine: DetectionEngine, text: str, expected: list[tuple[str, int, int, str]]
) -> None:
    [findings] = engine.analyze([text])
    assert [
        (f.entity_type, f.start, f.end, f.detector) for f in findings if f.entity_type != "URL"
    ] == expected
