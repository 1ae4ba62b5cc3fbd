"""Check-digit validators of the national-id, payment and credential packs, one table per standard.

Known-good vectors are published examples where one exists (named in the case id); the others
were cross-checked against python-stdnum 2.2 where it implements the same rule
(it has no Swedish coordination numbers). Known-bad vectors change one
digit, break a structural rule, or have the wrong length.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable

import pytest

from privacy_router.detection import validators

Case = tuple[str, bool, str]


def _table(cases: list[Case]) -> dict[str, object]:
    return {"argvalues": [c[:2] for c in cases], "ids": [c[2] for c in cases]}


VERHOEFF: list[Case] = [
    ("2363", True, "wikipedia-236-check-3"),
    ("123451", True, "wikipedia-12345-check-1"),
    ("234123412346", True, "uidai-style-aadhaar"),
    ("2364", False, "wrong-check"),
    ("123415", False, "adjacent-transposition"),
    ("2", False, "single-digit"),
    ("23a3", False, "letter"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(VERHOEFF))
def test_verhoeff(value: str, expected: bool) -> None:
    assert validators.verhoeff(value) is expected


def test_verhoeff_catches_every_single_digit_error_and_adjacent_transposition() -> None:
    """The defining property of the Verhoeff scheme, over one valid 12-digit number."""
    good = "234123412346"
    assert validators.verhoeff(good)
    for i, d in itertools.product(range(len(good)), "0123456789"):
        if d != good[i]:
            assert not validators.verhoeff(good[:i] + d + good[i + 1 :]), (i, d)
    for i in range(len(good) - 1):
        if good[i] != good[i + 1]:
            assert not validators.verhoeff(good[:i] + good[i + 1] + good[i] + good[i + 2 :]), i


AADHAAR: list[Case] = [
    ("2341 2341 2346", True, "spaced"),
    ("234123412346", True, "compact"),
    ("2341-2341-2346", True, "dashed"),
    ("2341 2341 2345", False, "wrong-check"),
    ("1341 2341 2341", False, "first-digit-1"),
    ("23412341234", False, "eleven-digits"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(AADHAAR))
def test_in_aadhaar(value: str, expected: bool) -> None:
    assert validators.in_aadhaar(value) is expected


PAN: list[Case] = [
    ("ABCPE1234F", True, "person"),
    ("AAACB1234C", True, "company"),
    ("ABCXE1234F", False, "4th-letter-not-a-holder-type"),
    ("abcpe1234f", False, "lower-case"),
    ("ABCP1E234F", False, "digit-in-letters"),
    ("ABCPE1234", False, "short"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(PAN))
def test_in_pan(value: str, expected: bool) -> None:
    assert validators.in_pan(value) is expected


NHS: list[Case] = [
    ("943 476 5919", True, "nhs-digital-example"),
    ("9434765919", True, "compact"),
    ("943-476-5919", True, "dashed"),
    ("943 476 5918", False, "wrong-check"),
    ("1000000010", False, "check-would-be-10"),
    ("943476591", False, "nine-digits"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(NHS))
def test_uk_nhs_mod11(value: str, expected: bool) -> None:
    assert validators.uk_nhs(value) is expected


NINO: list[Case] = [
    ("AB123456C", True, "compact"),
    ("AB 12 34 56 C", True, "spaced"),
    ("jg103759a", True, "lower-case"),
    ("QQ123456C", False, "hmrc-specimen-prefix-qq"),
    ("GB123456A", False, "prefix-gb-never-allocated"),
    ("AO123456A", False, "second-letter-o"),
    ("DA123456A", False, "first-letter-d"),
    ("AB123456E", False, "suffix-e"),
    ("AB12345C", False, "five-digits"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(NINO))
def test_uk_nino_prefix_rules(value: str, expected: bool) -> None:
    assert validators.uk_nino(value) is expected


SIN: list[Case] = [
    ("130 692 544", True, "spaced"),
    ("130-692-544", True, "dashed"),
    ("130 692 545", False, "wrong-check"),
    ("046 454 286", False, "first-digit-0-not-issued"),
    ("830 692 505", False, "first-digit-8-business"),
    ("13069254", False, "eight-digits"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(SIN))
def test_ca_sin(value: str, expected: bool) -> None:
    assert validators.ca_sin(value) is expected


ITIN: list[Case] = [
    ("912-70-1234", True, "group-70"),
    ("900-50-0001", True, "group-50"),
    ("999 99 9999", True, "group-99"),
    ("912-93-1234", False, "group-93"),
    ("912-69-1234", False, "group-69"),
    ("812-70-1234", False, "first-digit-8"),
    ("912-70-123", False, "eight-digits"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(ITIN))
def test_us_itin_groups(value: str, expected: bool) -> None:
    assert validators.us_itin(value) is expected


DE_TAX_ID: list[Case] = [
    ("36 574 261 809", True, "stdnum-example"),
    ("36574261809", True, "compact"),
    ("36 574 261 808", False, "wrong-check"),
    ("11111111111", False, "one-digit-ten-times"),
    ("06574261809", False, "leading-zero"),
    ("3657426180", False, "ten-digits"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(DE_TAX_ID))
def test_de_tax_id(value: str, expected: bool) -> None:
    assert validators.de_tax_id(value) is expected


FR_NIR: list[Case] = [
    ("2 95 10 99 126 111 93", True, "stdnum-example"),
    ("295109912611193", True, "compact"),
    ("2 95 10 99 126 111 94", False, "wrong-key"),
    ("3 95 10 99 126 111 93", False, "first-digit-3"),
    ("2 95 10 99 126 111", False, "no-key"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(FR_NIR))
def test_fr_nir_mod97(value: str, expected: bool) -> None:
    assert validators.fr_nir(value) is expected


def test_fr_nir_corsica_departments_count_as_19_and_18() -> None:
    body_2a, body_2b = "185042A123456", "185042B123456"
    key_2a = 97 - int(body_2a.replace("2A", "19")) % 97
    key_2b = 97 - int(body_2b.replace("2B", "18")) % 97
    assert validators.fr_nir(f"{body_2a}{key_2a:02d}")
    assert validators.fr_nir(f"{body_2b}{key_2b:02d}")
    assert not validators.fr_nir(f"{body_2a}{key_2b:02d}")


IT_CF: list[Case] = [
    ("RCCMNL83S18D969H", True, "stdnum-example"),
    ("rccmnl83s18d969h", True, "lower-case"),
    ("RCCMNL83S18D969I", False, "wrong-check-letter"),
    ("RCCMNL83S38D969H", False, "day-38"),
    ("RCCMNL83S18D96H", False, "fifteen-characters"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(IT_CF))
def test_it_fiscal_code_check_letter(value: str, expected: bool) -> None:
    assert validators.it_fiscal_code(value) is expected


ES_DNI: list[Case] = [
    ("54362315K", True, "dni-stdnum-example"),
    ("54362315-K", True, "dni-dashed"),
    ("X2482300W", True, "nie-stdnum-example"),
    ("54362315Z", False, "dni-wrong-letter"),
    ("X2482300A", False, "nie-wrong-letter"),
    ("A2482300W", False, "nie-bad-prefix"),
    ("5436231K", False, "seven-digits"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(ES_DNI))
def test_es_dni_mod23(value: str, expected: bool) -> None:
    assert validators.es_dni(value) is expected


NL_BSN: list[Case] = [
    ("111222333", True, "stdnum-example"),
    ("1112.22.333", True, "dotted"),
    ("111222334", False, "wrong-check"),
    ("000000000", False, "all-zero"),
    ("11122233", False, "eight-digits"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(NL_BSN))
def test_nl_bsn_eleven_proof(value: str, expected: bool) -> None:
    assert validators.nl_bsn(value) is expected


PESEL: list[Case] = [
    ("44051401359", True, "wikipedia-example"),
    ("02270803624", True, "born-2002"),
    ("44051401358", False, "wrong-check"),
    ("44133101357", False, "month-13"),
    ("44023101353", False, "february-31-check-ok"),
    ("4405140135", False, "ten-digits"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(PESEL))
def test_pl_pesel(value: str, expected: bool) -> None:
    assert validators.pl_pesel(value) is expected


BE_NN: list[Case] = [
    ("85.07.30-033.28", True, "stdnum-example"),
    ("85073003328", True, "compact"),
    ("85.07.30-033.29", False, "wrong-check"),
    ("85.13.30-033.28", False, "month-13"),
    ("8507300332", False, "ten-digits"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(BE_NN))
def test_be_national_number_mod97(value: str, expected: bool) -> None:
    assert validators.be_national_number(value) is expected


def test_be_national_number_from_2000_checks_with_a_leading_2() -> None:
    body = "050101123"
    check_2000 = 97 - int("2" + body) % 97
    assert check_2000 != 97 - int(body) % 97
    assert validators.be_national_number(f"{body}{check_2000:02d}")


SE_PNR: list[Case] = [
    ("880320-0016", True, "stdnum-example"),
    ("811228-9874", True, "skatteverket-example"),
    ("198112289874", True, "twelve-digits"),
    ("811288-9871", True, "samordningsnummer-day-88"),
    ("880320-0017", False, "wrong-check"),
    ("811328-9874", False, "month-13"),
    ("810230-9872", False, "february-30-luhn-ok"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(SE_PNR))
def test_se_personnummer_luhn(value: str, expected: bool) -> None:
    assert validators.se_personnummer(value) is expected


CARDS: list[Case] = [
    ("4111111111111111", True, "visa-test-card"),
    ("2223003122003222", True, "mastercard-2-series-test-card"),
    ("378282246310005", True, "amex-test-card"),
    ("6011111111111117", True, "discover-test-card"),
    ("3530111333300000", True, "jcb-test-card"),
    ("30569309025904", True, "diners-test-card"),
    ("6304000000000000", True, "maestro-test-card"),
    ("122000000000003", True, "uatp-15-digits"),
    ("213173940123456", True, "jcb-15-digits-2131"),
    ("180000000000002", True, "jcb-15-digits-1800"),
    ("2131000000000008", False, "jcb-2131-16-digits"),
    ("4111111111111112", False, "luhn-fails"),
    ("7131034282458807", False, "luhn-ok-mii-7-petroleum"),
    ("2100000000000005", False, "luhn-ok-2100-unassigned"),
    ("1220000000000002", False, "uatp-16-digits"),
    ("41111111111", False, "eleven-digits"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(CARDS))
def test_payment_card_luhn_and_issuer_range(value: str, expected: bool) -> None:
    assert validators.payment_card(value) is expected


BIC: list[Case] = [
    ("DEUTDEFF", True, "deutsche-bank"),
    ("NWBKGB2L", True, "natwest"),
    ("CHASUS33XXX", True, "chase-with-branch"),
    ("DEUTQQFF", False, "country-qq-not-iso-3166"),
    ("DEU1DEFF", False, "digit-in-party-prefix"),
    ("DEUTDEFF1", False, "nine-characters"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(BIC))
def test_swift_bic_structure_and_country(value: str, expected: bool) -> None:
    assert validators.swift_bic(value) is expected


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


JWT_IO = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0"
    "IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
JWTS: list[Case] = [
    (JWT_IO, True, "jwt-io-example"),
    (f"{_b64({'alg': 'none'})}.{_b64({'sub': '1'})}.", True, "unsecured-empty-signature"),
    (f"{_b64({'alg': 'RSA-OAEP', 'enc': 'A256GCM'})}.a2V5.aXY.Y2lwaGVy.dGFn", True, "jwe-five-parts"),
    (f"{_b64({'typ': 'JWT'})}.{_b64({'sub': '1'})}.c2ln", False, "header-without-alg"),
    (f"{_b64({'alg': 256})}.{_b64({'sub': '1'})}.c2ln", False, "alg-not-a-string"),
    (f"{_b64(['alg'])}.{_b64({'sub': '1'})}.c2ln", False, "header-not-an-object"),
    ("bm90IGpzb24.eyJzdWIiOiIxIn0.c2ln", False, "header-not-json"),
    (JWT_IO.rsplit(".", 1)[0], False, "two-parts"),
    ("!!!.eyJzdWIiOiIxIn0.c2ln", False, "not-base64url"),
]


@pytest.mark.parametrize(("value", "expected"), **_table(JWTS))
def test_jwt_header_has_alg(value: str, expected: bool) -> None:
    assert validators.jwt(value) is expected


@pytest.mark.parametrize("name", sorted(validators.VALIDATORS))
def test_every_validator_rejects_empty_and_garbage(name: str) -> None:
    check: Callable[[str], bool] = validators.VALIDATORS[name]
    assert check("") is False
    assert check("not an identifier at all") is False
