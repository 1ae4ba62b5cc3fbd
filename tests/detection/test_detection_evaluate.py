"""The accuracy scorer (privacy_router/detection/evaluate.py): loaders and metrics on tiny datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privacy_router.detection.evaluate import Dataset, DatasetError, Document, load_dataset, score


def test_conll_loader_joins_tokens_and_decodes_bio(tmp_path: Path) -> None:
    path = tmp_path / "d.conll"
    path.write_text("Ann\tB-person\nLee\tI-person\nin\tO\nRome\tB-location\n\t\nhi\tO\n\n", encoding="utf-8")
    data = load_dataset(path)
    assert data.format == "conll"
    assert [(d.text, d.spans) for d in data.documents] == [
        ("Ann Lee in Rome", ((0, 7, "person"), (11, 15, "location"))),
        ("hi", ()),
    ]


def test_deidgate_loader_places_values_at_first_unused_occurrence(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    note = {"id": "n1", "text": "A 12 and 12", "phi": [{"value": "12", "category": "mrn"}] * 2, "tags": []}
    path.write_text(json.dumps(note) + "\n", encoding="utf-8")
    assert load_dataset(path).documents[0].spans == ((2, 4, "mrn"), (9, 11, "mrn"))


def test_deidgate_loader_reports_a_missing_value_without_quoting_it(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    note = {"id": "n1", "text": "nothing", "phi": [{"value": "SECRET-1", "category": "mrn"}], "tags": []}
    path.write_text(json.dumps(note) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    assert str(info.value) == f"{path}: line 1 (n1): a mrn value is not in the text"


def test_presidio_loader_and_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    rec = {
        "full_text": "Mr. Bo",
        "spans": [{"entity_type": "PERSON", "start_position": 0, "end_position": 3}],
    }
    path.write_text(json.dumps([rec]), encoding="utf-8")
    assert load_dataset(path).documents == (Document("Mr. Bo", ((0, 3, "PERSON"),), "0"),)
    with pytest.raises(DatasetError, match="cannot tell the format"):
        load_dataset(tmp_path / "d.txt")


DATA = Dataset(
    "tiny",
    "presidio",
    (
        Document("Call Ann Lee at 212 555 0187", ((5, 12, "PERSON"), (16, 28, "PHONE_NUMBER")), "a"),
        Document("Dr. Bo lives in nan", ((0, 3, "PERSON"), (16, 19, "GPE")), "b"),
        Document("nothing here", (), "c"),
        Document("nothing here", (), "d"),
    ),
)


def test_scores_per_type_leak_rate_document_recall_and_clean_rate() -> None:
    predictions = [
        [(5, 8, "PERSON"), (16, 28, "PHONE_NUMBER")],  # "Ann" is 3 of 6 letters: found, yet "Lee" leaks
        [(0, 3, "PERSON")],  # lies on an ignored honorific: not scored
        [(0, 7, "URL")],
        [],
    ]
    report = score(DATA, predictions)
    person, phone = report.per_type["PERSON"], report.per_type["PHONE_NUMBER"]
    assert (person.support, person.found, person.true_pos, person.false_pos) == (1, 1, 1, 0)
    assert (phone.support, phone.found, phone.true_pos, phone.false_pos) == (1, 1, 1, 0)
    assert (report.in_scope, report.leaked, report.leak_rate) == (2, 1, 0.5)
    assert report.leaks == [("a", "PERSON", "Ann Lee")]
    assert (report.docs_with_gold, report.docs_flagged) == (1, 1)
    assert (report.clean_docs, report.clean_flagged, report.clean_flagged_names) == (1, 1, 0)
    assert report.per_type["ALL (micro)"].f2 == 1.0  # per-type scoring is by coverage, not leaks


def test_gold_as_predictions_scores_perfectly() -> None:
    predictions = [[(5, 12, "PERSON"), (16, 28, "PHONE_NUMBER")], [], [], []]
    report = score(DATA, predictions)
    assert (
        report.leaked,
        report.per_type["ALL (micro)"].recall,
        report.per_type["ALL (micro)"].precision,
    ) == (
        0,
        1.0,
        1.0,
    )
