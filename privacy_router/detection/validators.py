"""Check-digit validators that detector packs name in their ``validator:`` field.

One function per standard. Each takes the text a pattern matched and returns True when the value
is well formed and its check digit is right. Separators (spaces, hyphens) are ignored so that a
pattern may match "1234 5678 93" as well as "1234567893". A pack refers to a validator by its key
in ``VALIDATORS``; adding a validator is one function here plus one entry there.
"""

from __future__ import annotations

from collections.abc import Callable

_SEPARATORS = str.maketrans("", "", " -.")


def _compact(value: str) -> str:
    return value.translate(_SEPARATORS)


def luhn(value: str) -> bool:
    """Luhn mod-10 check digit over a string of digits.

    Standard: ISO/IEC 7812-1, Annex B (the "Luhn formula for computing modulus 10 'double-add-double'
    check digits"), used by payment card numbers and, with a prefix, by the NPI.
    """
    digits = _compact(value)
    if len(digits) < 2 or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    # Walk from the rightmost digit (the check digit); every second digit is doubled and, when
    # the product exceeds 9, reduced by 9 (the same as adding its two digits).
    for position, char in enumerate(reversed(digits)):
        d = int(char)
        if position % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def npi(value: str) -> bool:
    """National Provider Identifier: 10 digits whose last digit is a Luhn check digit.

    Standard: CMS, "Requirements for the NPI check digit" (45 CFR 162.406 / NPI final rule). The
    NPI is an ISO/IEC 7812 card-issuer identifier with the prefix "80840" (80 = health,
    840 = United States); the check digit is the Luhn digit computed over "80840" + the first nine
    digits. Equivalently, "80840" + all ten digits passes the Luhn check.
    """
    digits = _compact(value)
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    # CMS issues NPIs starting with 1 or 2 only; other first digits are reserved.
    if digits[0] not in "12":
        return False
    return luhn("80840" + digits)


def dea(value: str) -> bool:
    """DEA registration number: two letters, six digits and a check digit.

    Standard: the DEA registration number format published by the DEA Diversion Control Division
    (used by pharmacies to verify prescribers): with digits d1..d7,
    (d1 + d3 + d5) + 2 * (d2 + d4 + d6) ends in the digit d7. The first letter is the registrant
    type, the second the initial of the registrant's last name (or "9" for some business
    registrants).
    """
    compact = _compact(value).upper()
    if len(compact) != 9 or not compact.isascii():
        return False
    letters, digits = compact[:2], compact[2:]
    if not letters[0].isalpha() or not (letters[1].isalpha() or letters[1] == "9"):
        return False
    if not digits.isdigit():
        return False
    d = [int(c) for c in digits]
    checksum = (d[0] + d[2] + d[4]) + 2 * (d[1] + d[3] + d[5])
    return checksum % 10 == d[6]


def us_ssn(value: str) -> bool:
    """US Social Security number: 9 digits, area 001-899 except 666, group 01-99, serial 0001-9999.

    Standard: SSA, "Social Security Number Randomization" (2011) and POMS RM 10201.050: areas 000,
    666 and 900-999, group 00 and serial 0000 are never issued.
    """
    digits = "".join(c for c in value if c.isdigit())
    if len(digits) != 9 or not digits.isascii():
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


# VIN transliteration and weights: 49 CFR 565.15 (and ISO 3779); I, O and Q are never used.
_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin(value: str) -> bool:
    """Vehicle identification number: 17 characters, position 9 a mod-11 check digit ("X" for 10).

    Standard: 49 CFR 565.15(c) (NHTSA), the North American check digit: transliterate letters,
    multiply by the position weights, sum, and take the remainder modulo 11.
    """
    code = _compact(value).upper()
    if len(code) != 17 or any(c not in _VIN_VALUES for c in code):
        return False
    total = sum(_VIN_VALUES[c] * w for c, w in zip(code, _VIN_WEIGHTS, strict=True))
    check = total % 11
    return code[8] == ("X" if check == 10 else str(check))


def iban(value: str) -> bool:
    """International Bank Account Number: ISO 13616-1 check digits, ISO 7064 MOD 97-10.

    Move the first four characters to the end, replace letters by 10..35, and the number modulo
    97 must be 1. Length 15-34 (the shortest national format, Norway, has 15).
    """
    code = "".join(value.split()).upper()
    if not 15 <= len(code) <= 34 or not code.isascii() or not code.isalnum():
        return False
    if not (code[:2].isalpha() and code[2:4].isdigit()):
        return False
    rearranged = code[4:] + code[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def aba_routing(value: str) -> bool:
    """ABA routing transit number: 9 digits, 3-7-1 weighted sum divisible by 10.

    Standard: American Bankers Association routing number policy (checksum
    3(d1+d4+d7) + 7(d2+d5+d8) + (d3+d6+d9) = 0 mod 10).
    """
    digits = _compact(value)
    if len(digits) != 9 or not digits.isascii() or not digits.isdigit():
        return False
    d = [int(c) for c in digits]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


def phone_digits(value: str) -> bool:
    """A telephone number has 7 to 15 digits (ITU-T E.164 allows at most 15)."""
    return 7 <= sum(c.isdigit() for c in value) <= 15


# The names a detector pack may use in ``validator:``.
VALIDATORS: dict[str, Callable[[str], bool]] = {
    "luhn": luhn,
    "npi": npi,
    "dea": dea,
    "us_ssn": us_ssn,
    "vin": vin,
    "phone_digits": phone_digits,
    "iban": iban,
    "aba_routing": aba_routing,
}
