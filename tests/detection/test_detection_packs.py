"""Detector packs: every example in detectors/*.yaml is a test, and broken packs fail loudly."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from privacy_router.config import DetectionSettings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.detection.packs import discover_packs, load_classes, load_pack, load_packs
from privacy_router.errors import ConfigError
from privacy_router.resources import resource_dir

DETECTORS = resource_dir("detectors")
PACKS = load_packs(discover_packs(DETECTORS))


def _examples(kind: str) -> list[Any]:
    return [
        pytest.param(spec.entity, text, id=f"{pack.name}:{spec.entity}-{kind}-{i}")
        for pack in PACKS
        for spec in pack.detectors
        for i, text in enumerate(getattr(spec.examples, kind))
    ]


@pytest.mark.parametrize(("entity", "text"), _examples("match"))
def test_pack_example_matches(engine: DetectionEngine, entity: str, text: str) -> None:
    """A `match` example produces its detector's entity through the full engine."""
    [findings] = engine.analyze([text])
    assert entity in {f.entity_type for f in findings}


@pytest.mark.parametrize(("entity", "text"), _examples("no_match"))
def test_pack_example_does_not_match(engine: DetectionEngine, entity: str, text: str) -> None:
    """A `no_match` example does not produce its detector's entity."""
    [findings] = engine.analyze([text])
    assert entity not in {f.entity_type for f in findings}


def test_bundled_packs_are_discovered_without_the_class_mapping() -> None:
    assert [p.name for p in discover_packs(DETECTORS)] == [
        "credentials.yaml",
        "national_ids.yaml",
        "pci.yaml",
        "phi.yaml",
    ]
    assert [p.name for p in PACKS] == ["credentials", "national_ids", "pci", "phi"]
    assert [s.entity for s in PACKS[3].detectors][:6] == [
        "MEDICAL_RECORD_NUMBER",
        "NPI",
        "HEALTH_PLAN_ID",
        "DEA_NUMBER",
        "DATE_OF_BIRTH",
        "ADMISSION_DATE",
    ]


def test_pack_version_is_version_plus_file_hash(engine: DetectionEngine) -> None:
    versions = {
        "credentials": "2026.11.1",
        "national_ids": "2026.11.4",
        "pci": "2026.11.2",
        "phi": "2026.11.6",
    }
    digests = {n: hashlib.sha256((DETECTORS / f"{n}.yaml").read_bytes()).hexdigest() for n in versions}
    assert engine.pack_versions == {n: f"{versions[n]}+{d[:12]}" for n, d in digests.items()}


GOOD_DETECTOR = """\
  - entity: TICKET_ID
    patterns:
      - {name: ticket, regex: 'REGEX', score: 0.6}
    context: [ticket]
    validator: VALIDATOR
    deny_list: ['DENY']
    allow_list: ['ALLOW']
    examples:
      match: ["ticket TCK-1234"]
      no_match: ["no ticket here"]
"""


def _write_pack(tmp_path: Path, detector: str, name: str = "custom") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f'pack: {name}\nversion: "1.0"\ndetectors:\n{detector}', encoding="utf-8")
    return path


def _detector(
    regex: str = r"\bTCK-\d{4}\b",
    validator: str = "null",
    deny: str = "TCK-0000",
    allow: str = "TCK-9999",
    **replace: str,
) -> str:
    text = GOOD_DETECTOR.replace("REGEX", regex).replace("VALIDATOR", validator)
    text = text.replace("DENY", deny).replace("ALLOW", allow)
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


BROKEN = [
    pytest.param(_detector(validator="mod11"), "unknown validator 'mod11'", id="unknown-validator"),
    pytest.param(_detector(regex=r"TCK-(\d{4}"), "invalid regular expression", id="bad-regex"),
    pytest.param(_detector(regex="x*"), "matches the empty string", id="empty-match"),
    pytest.param(
        _detector(**{'      no_match: ["no ticket here"]\n': ""}),
        "examples.no_match: Field required",
        id="no-no-match",
    ),
    pytest.param(
        _detector(**{'      match: ["ticket TCK-1234"]\n': ""}),
        "examples.match: Field required",
        id="no-match",
    ),
    pytest.param(
        _detector(**{'match: ["ticket TCK-1234"]': "match: []"}),
        "examples.match: Tuple should have at least 1 item",
        id="empty-match-list",
    ),
    pytest.param(
        _detector(**{"entity: TICKET_ID": "entity: ticket-id"}), "must be UPPER_SNAKE_CASE", id="entity-name"
    ),
    pytest.param(
        _detector(**{"context:": "contxt:"}), "contxt: Extra inputs are not permitted", id="unknown-key"
    ),
]


@pytest.mark.parametrize(("detector", "message"), BROKEN)
def test_broken_pack_raises_config_error_naming_file_and_detector(
    tmp_path: Path, detector: str, message: str
) -> None:
    path = _write_pack(tmp_path, detector)
    with pytest.raises(ConfigError) as info:
        load_pack(path)
    text = str(info.value)
    label = "ticket-id" if "entity: ticket-id" in detector else "TICKET_ID"
    assert text.startswith(f"detector pack {path}, detector {label}: ")
    assert message in text


def test_duplicate_entity_in_one_pack_is_rejected(tmp_path: Path) -> None:
    path = _write_pack(tmp_path, _detector() + _detector())
    with pytest.raises(ConfigError, match="detector TICKET_ID: entity defined twice in this pack"):
        load_pack(path)


def test_pack_without_version_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("pack: p\ndetectors: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'version' must be a quoted string"):
        load_pack(path)


def test_custom_pack_validator_allow_and_deny_lists(tmp_path: Path) -> None:
    """The validator and allow list reject matches; deny-list values are always reported."""
    detector = _detector(
        regex=r"\b\d{16}\b",
        validator="luhn",
        deny="0000000000000001",
        allow="4111111111111111",
    )
    path = _write_pack(tmp_path, detector)
    engine = DetectionEngine.from_settings(DetectionSettings(packs=(path,)))
    assert engine.pack_versions == {"custom": "1.0+" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]}
    texts = [
        "ticket 5555555555554444",  # valid Luhn
        "ticket 5555555555554445",  # invalid Luhn: rejected by the validator
        "ticket 4111111111111111",  # valid Luhn but allow-listed
        "ticket 0000000000000001",  # invalid Luhn but deny-listed
    ]
    found = [
        [(f.entity_type, f.start, f.end, f.detector) for f in fs if f.entity_type == "TICKET_ID"]
        for fs in engine.analyze(texts)
    ]
    assert found == [
        [("TICKET_ID", 7, 23, "custom:TICKET_ID")],
        [],
        [],
        [("TICKET_ID", 7, 23, "custom:TICKET_ID")],
    ]


def test_class_mapping(engine: DetectionEngine) -> None:
    """classes.yaml maps types to classes; an unknown type is PII (fail toward sensitive)."""
    assert [
        engine.data_class(t) for t in ("MEDICAL_RECORD_NUMBER", "NPI", "CREDIT_CARD", "API_KEY", "PERSON")
    ] == [
        "PHI",
        "PHI",
        "PCI",
        "CREDENTIALS",
        "PII",
    ]
    assert engine.data_class("SOMETHING_NEW") == "PII"
    assert engine.categories(["US_SSN", "NPI", "PERSON", "IBAN_CODE", "NPI"]) == ["PCI", "PHI", "PII"]
    assert engine.categories([]) == []


def test_class_mapping_rejects_an_entity_in_two_classes(tmp_path: Path) -> None:
    path = tmp_path / "classes.yaml"
    path.write_text("classes:\n  PHI: [NPI]\n  PII: [NPI]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="NPI is in both PHI and PII"):
        load_classes(path)


def test_every_pack_entity_has_a_class() -> None:
    """A new detector needs a line in classes.yaml, or policies would see it only as PII."""
    mapping, default = load_classes(DETECTORS / "classes.yaml")
    assert default == "PII"
    missing = sorted({s.entity for p in PACKS for s in p.detectors} - set(mapping))
    assert missing == []
