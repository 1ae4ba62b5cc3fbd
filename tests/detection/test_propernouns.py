"""Capitalised mid-sentence words that are not English words: must-match and must-not-match tables.

Sentences written for these tests, not taken from a dataset. The word list is the committed SCOWL
list (detectors/vocab/english_words.txt); the engine test uses the real spaCy + Presidio engine.
"""

from __future__ import annotations

import pytest

from privacy_router.detection.engine import DetectionEngine
from privacy_router.detection.propernouns import NAME, english_words, find_proper_nouns

FOUND = [
    ("given-name-mid-sentence", "Yesterday I called Vsevolod about the invoice.", {"Vsevolod"}),
    ("company-mid-sentence", "The address of Quillomatic is on the second page.", {"Quillomatic"}),
    ("speaker-of-dialogue", 'Zorkana: "Who are you?"', {"Zorkana"}),
    ("addressed-by-name", "Brunvaldo, can I please speak to your boss", {"Brunvaldo"}),
    ("short-question", "Why is Natasja so impulsive?", {"Natasja"}),
    ("non-latin-script", "Please send the forms to Δημήτρης before noon.", {"Δημήτρης"}),
]

CLEAN = [
    ("sentence-initial", "Brunvaldo is very reliable."),
    ("after-full-stop", "It was late. Quillomatic sent it anyway."),
    ("english-word-capitalised", "I think Reading the Manual helps a lot with setup tasks."),
    ("all-caps", "The SCRUBBER module failed on the second request."),
    ("camel-case-product", "I synced my iPhone with YouTube last night."),
    ("title-case-heading", "Quarterly Report on Quillomatic Revenue Growth"),
    ("after-colon", "Status: Quillomatic"),
    ("chat-word", "she was so mad I would be mad too Lol"),
    ("lower-case", "the vsevolod thing was lower-case"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in FOUND], ids=[c[0] for c in FOUND])
def test_unknown_capitalised_word_is_found(text: str, expected: set[str]) -> None:
    assert {text[s:e] for s, e in find_proper_nouns(text, [])} == expected


@pytest.mark.parametrize("text", [c[1] for c in CLEAN], ids=[c[0] for c in CLEAN])
def test_text_without_unknown_capitalised_word_is_clean(text: str) -> None:
    assert find_proper_nouns(text, []) == []


def test_word_covered_by_another_entity_is_not_reported_again() -> None:
    text = "Yesterday I called Vsevolod about the invoice."
    start = text.index("Vsevolod")
    assert find_proper_nouns(text, [(start, start + len("Vsevolod"))]) == []


def test_word_list_is_the_committed_english_list() -> None:
    words = english_words()
    assert len(words) > 70000
    assert {"reading", "invoice", "monday"} <= words
    assert "vsevolod" not in words


def test_engine_reports_unknown_name_as_person(engine: DetectionEngine) -> None:
    text = "we use Quillomatic for our payroll now"  # spaCy's small model misses this one
    [findings] = engine.analyze([text])
    people = {(text[f.start : f.end], f.detector) for f in findings if f.entity_type == "PERSON"}
    assert ("Quillomatic", NAME) in people


def test_engine_leaves_plain_english_alone(engine: DetectionEngine) -> None:
    text = "we use the payroll tool now, and Reading the Manual helps"
    [findings] = engine.analyze([text])
    assert not [f for f in findings if NAME in f.detector]
