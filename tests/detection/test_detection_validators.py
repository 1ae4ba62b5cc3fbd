"""Check-digit validators (privacy_router/detection/validators.py), one table per standard."""

from __future__ import annotations

import pytest

from privacy_router.detection import validators

NPI_CASES = [
    ("1234567893", True, "cms-example"),
    ("1245319599", True, "valid-1"),
    ("1679576722", True, "valid-2"),
    ("1003000126", True, "valid-3"),
    ("1234 5678 93", True, "spaced"),
    ("1234567890", False, "wrong-check-digit"),
    ("3234567893", False, "first-digit-not-1-or-2"),
    ("123456789", False, "nine-digits"),
    ("12345678931", False, "eleven-digits"),
    ("12345678a3", False, "letter"),
    ("", False, "empty"),
]


@pytest.mark.parametrize(("value", "expected"), [c[:2] for c in NPI_CASES], ids=[c[2] for c in NPI_CASES])
def test_npi_check_digit(value: str, expected: bool) -> None:
    assert validators.npi(value) is expected


DEA_CASES = [
    ("AB1234563", True, "sum-33-ends-3"),
    ("BM6125341", True, "sum-31-ends-1"),
    ("FS3918628", True, "valid-3"),
    ("ab1234563", True, "lower-case"),
    ("A91234563", True, "business-9"),
    ("AB1234567", False, "wrong-check-digit"),
    ("FS3918627", False, "off-by-one"),
    ("1B1234563", False, "first-not-letter"),
    ("AB123456", False, "short"),
    ("AB12345633", False, "long"),
    ("ABC234563", False, "letter-in-digits"),
]


@pytest.mark.parametrize(("value", "expected"), [c[:2] for c in DEA_CASES], ids=[c[2] for c in DEA_CASES])
def test_dea_check_digit(value: str, expected: bool) -> None:
    assert validators.dea(value) is expected


LUHN_CASES = [
    ("4111111111111111", True, "visa-test-card"),
    ("5555555555554444", True, "mastercard-test-card"),
    ("79927398713", True, "iso-7812-example"),
    ("4111-1111-1111-1111", True, "hyphenated"),
    ("4111111111111112", False, "wrong-check-digit"),
    ("79927398710", False, "iso-example-altered"),
    ("4", False, "single-digit"),
    ("41111111x1111111", False, "letter"),
]


@pytest.mark.parametrize(("value", "expected"), [c[:2] for c in LUHN_CASES], ids=[c[2] for c in LUHN_CASES])
def test_luhn(value: str, expected: bool) -> None:
    assert validators.luhn(value) is expected


def test_registry_names_every_validator() -> None:
    """Packs refer to validators by these exact names."""
    assert {
        "luhn": validators.luhn,
        "npi": validators.npi,
        "dea": validators.dea,
    } == validators.VALIDATORS
