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


SSN_CASES = [
    ("536-90-4399", True, "dashed"),
    ("402 19 8877", True, "spaced"),
    ("402198877", True, "undelimited"),
    ("000-12-3456", False, "area-000"),
    ("666-12-3456", False, "area-666"),
    ("912-12-3456", False, "area-9xx"),
    ("536-00-4399", False, "group-00"),
    ("536-90-0000", False, "serial-0000"),
    ("53690439", False, "eight-digits"),
]


@pytest.mark.parametrize(("value", "expected"), [c[:2] for c in SSN_CASES], ids=[c[2] for c in SSN_CASES])
def test_us_ssn_issuing_rules(value: str, expected: bool) -> None:
    assert validators.us_ssn(value) is expected


VIN_CASES = [
    ("1HGCM82633A004352", True, "honda-check-3"),
    ("1M8GDM9AXKP042788", True, "check-digit-x"),
    ("11111111111111111", True, "all-ones-check-1"),
    ("1HGCM82633A004353", False, "altered-last"),
    ("1HGCM82643A004352", False, "wrong-check"),
    ("1HGCM82633A00435", False, "sixteen"),
    ("1HGCM82633O004352", False, "letter-o-never-used"),
]


@pytest.mark.parametrize(("value", "expected"), [c[:2] for c in VIN_CASES], ids=[c[2] for c in VIN_CASES])
def test_vin_check_digit(value: str, expected: bool) -> None:
    assert validators.vin(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("55-0142", False),
        ("559.555.0142", True),
        ("+41 (0)96 471 07 95", True),
        ("1234567890123456", False),
        ("001-748-088-2851x818", True),
        ("+1-177-892-0730 ext. 52646", True),
        ("55-0142x12345", False),
    ],
    ids=[
        "six",
        "ten",
        "swiss-eleven",
        "sixteen",
        "thirteen-and-extension",
        "eleven-and-extension",
        "six-and-extension",
    ],
)
def test_phone_digit_count(value: str, expected: bool) -> None:
    assert validators.phone_digits(value) is expected


def test_registry_names_every_validator() -> None:
    """Packs refer to validators by these exact names."""
    assert {
        "luhn": validators.luhn,
        "npi": validators.npi,
        "dea": validators.dea,
        "us_ssn": validators.us_ssn,
        "vin": validators.vin,
        "phone_digits": validators.phone_digits,
        "iban": validators.iban,
        "aba_routing": validators.aba_routing,
        "payment_card": validators.payment_card,
        "verhoeff": validators.verhoeff,
        "in_aadhaar": validators.in_aadhaar,
        "in_pan": validators.in_pan,
        "uk_nhs": validators.uk_nhs,
        "uk_nino": validators.uk_nino,
        "ca_sin": validators.ca_sin,
        "us_itin": validators.us_itin,
        "de_tax_id": validators.de_tax_id,
        "fr_nir": validators.fr_nir,
        "it_fiscal_code": validators.it_fiscal_code,
        "es_dni": validators.es_dni,
        "nl_bsn": validators.nl_bsn,
        "pl_pesel": validators.pl_pesel,
        "be_national_number": validators.be_national_number,
        "se_personnummer": validators.se_personnummer,
        "swift_bic": validators.swift_bic,
        "jwt": validators.jwt,
    } == validators.VALIDATORS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("GB82 WEST 1234 5698 7654 32", True),
        ("GB82WEST12345698765432", True),
        ("DE89370400440532013000", True),
        ("GB82WEST12345698765433", False),
        ("GB82", False),
    ],
    ids=["ecbs-example-grouped", "ecbs-example", "german", "altered", "too-short"],
)
def test_iban_mod97(value: str, expected: bool) -> None:
    assert validators.iban(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("021000021", True), ("011000015", True), ("021000022", False), ("02100002", False)],
    ids=["jpmorgan", "fed-boston", "altered", "eight-digits"],
)
def test_aba_routing_checksum(value: str, expected: bool) -> None:
    assert validators.aba_routing(value) is expected
