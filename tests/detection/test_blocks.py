"""Letterhead and signature blocks (``blocks.py``): the short lines above an address or a contact field.

Texts written for these tests, not taken from a dataset. The table tests call ``contact_blocks`` with
hand-made anchor findings; the engine tests run the whole engine, so the anchors are real findings.
"""

from __future__ import annotations

import pytest

from privacy_router.detection.blocks import contact_blocks
from privacy_router.detection.engine import DetectionEngine
from privacy_router.types import Finding


def _street(text: str, street: str) -> Finding:
    start = text.index(street)
    return Finding("STREET_ADDRESS", start, start + len(street), 0.65, "AddressRecognizer")


def _lines(text: str, findings: list[Finding]) -> set[tuple[str, str]]:
    return {(text[f.start : f.end], f.entity_type) for f in contact_blocks(text, findings)}


def test_lines_above_a_street_are_a_name_and_a_company() -> None:
    text = "Halvard Ennis\nQuillfeather\n12 Rowan Terrace\nNORTHAM\nAustralia 6401"
    assert _lines(text, [_street(text, "12 Rowan Terrace\nNORTHAM\nAustralia 6401")]) == {
        ("Halvard Ennis", "PERSON"),
        ("Quillfeather", "ORGANIZATION"),
    }


def test_quote_marks_and_one_blank_line_are_part_of_the_block() -> None:
    text = "> Oriel Fane\n>\n> Brightwick Analytics\n> 40 Sandpiper Lane\n> Apt. 7"
    found = _lines(text, [_street(text, "40 Sandpiper Lane\n> Apt. 7")])
    assert found == {("Oriel Fane", "PERSON"), ("Brightwick Analytics", "ORGANIZATION")}


def test_a_line_already_partly_found_keeps_its_type_over_the_whole_line() -> None:
    text = "Ubul Vörösmarty\nKestrel Works\n9 Mill Lane"
    person = Finding("PERSON", text.index("Vörösmarty"), text.index("Vörösmarty") + 10, 0.85, "spacy")
    found = _lines(text, [person, _street(text, "9 Mill Lane")])
    assert ("Ubul Vörösmarty", "PERSON") in found


def test_a_country_line_anchors_a_block_without_a_street() -> None:
    text = "Oswin Tarrant\n\nALFORDHAM\nUnited Kingdom"
    assert ("Oswin Tarrant", "PERSON") in _lines(text, [])
    assert ("ALFORDHAM", "ORGANIZATION") in _lines(text, [])


def test_a_contact_label_anchors_a_block_only_with_its_value_found() -> None:
    text = "Mirela Ostojić\n\nSenior buyer\n\nPersonal Info:\nPhone:\n201-948-1927"
    phone = Finding("PHONE_NUMBER", text.index("201"), len(text), 0.85, "phone")
    found = _lines(text, [phone])
    assert {("Mirela Ostojić", "PERSON"), ("Senior buyer", "ORGANIZATION")} <= found
    assert _lines(text, []) == set()  # "Phone:" with nothing found after it anchors nothing


def test_the_words_before_the_street_on_its_line_are_taken() -> None:
    text = "Ira Bell\nBellworks\nĐoko and ul. Miła 53"
    found = _lines(text, [_street(text, "ul. Miła 53")])
    assert ("Đoko and ", "STREET_ADDRESS") in found


CLEAN = [
    (
        "sentence-above-street",
        "We finally moved last spring, after a long search.\n12 Rowan Terrace",
        "12 Rowan Terrace",
    ),
    ("label-line-above", "Shipping address:\n12 Rowan Terrace", "12 Rowan Terrace"),
    ("question-above", "Where should we send it?\n12 Rowan Terrace", "12 Rowan Terrace"),
    ("one-line-text", "Send it to 12 Rowan Terrace", "12 Rowan Terrace"),
]


@pytest.mark.parametrize(("text", "street"), [r[1:] for r in CLEAN], ids=[r[0] for r in CLEAN])
def test_sentences_and_labels_above_a_street_are_not_a_block(text: str, street: str) -> None:
    assert contact_blocks(text, [_street(text, street)]) == []


NOT_BLOCKS = [
    ("list-of-countries", "Countries with the highest incidence\nItaly\nSpain\nGermany"),
    ("clinic-hours", "Clinic hours\nMonday to Friday\nPhone: call the front desk"),
    ("care-notes", "Notes\nTake with food\nAvoid alcohol\nE-mail: see the portal"),
    ("medication-list", "Lisinopril 10 mg daily\nAtorvastatin 40 mg nightly\nPhone: not provided"),
]


@pytest.mark.parametrize("text", [r[1] for r in NOT_BLOCKS], ids=[r[0] for r in NOT_BLOCKS])
def test_lists_and_notes_with_empty_contact_fields_are_not_blocks(engine: DetectionEngine, text: str) -> None:
    assert not [f for f in engine.analyze([text])[0] if f.detector == "ContactBlock"]


def test_engine_reports_the_whole_signature_block(engine: DetectionEngine) -> None:
    text = "Ilse Marjanović\nQuillfeather\n4417 Old Kettle Rd Apt 3B\nFresno, CA 93726\nMobile: 559-201-7734"
    covered = set()
    for f in engine.analyze([text])[0]:
        covered.update(range(f.start, f.end))
    for value in ("Ilse Marjanović", "Quillfeather", "4417 Old Kettle Rd Apt 3B", "Fresno, CA 93726"):
        start = text.index(value)
        assert set(range(start, start + len(value))) <= covered, value
