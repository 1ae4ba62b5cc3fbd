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


# The names a detector pack may use in ``validator:``.
VALIDATORS: dict[str, Callable[[str], bool]] = {"luhn": luhn, "npi": npi, "dea": dea}
