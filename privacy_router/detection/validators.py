"""Check-digit validators that detector packs name in their ``validator:`` field.

One function per standard. Each takes the text a pattern matched and returns True when the value
is well formed and its check digit is right. Separators (spaces, hyphens) are ignored so that a
pattern may match "1234 5678 93" as well as "1234567893". A pack refers to a validator by its key
in ``VALIDATORS``; adding a validator is one function here plus one entry there.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
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


_PHONE_EXTENSION = re.compile(r"\s*(?:x|ext\.?)\s*\d{1,5}\Z", re.IGNORECASE)


def phone_digits(value: str) -> bool:
    """A telephone number has 7 to 15 digits (ITU-T E.164 allows at most 15), not counting an
    extension written after it ("x818", "ext. 12"), which is dialled after the connection."""
    return 7 <= sum(c.isdigit() for c in _PHONE_EXTENSION.sub("", value)) <= 15


def payment_card(value: str) -> bool:
    """Payment card number: Luhn check digit and an issuer identification number of a card scheme.

    Standard: ISO/IEC 7812-1 (major industry identifier and IIN, Luhn check digit, 12-19 digits);
    the ranges are those the card schemes publish: UATP 1 (15 digits), Mir 2200-2204, Mastercard
    2221-2720 and 51-55, American Express 34/37, Diners Club 300-305/3095/36/38/39, JCB 3528-3589,
    Visa 4, Maestro 50/56-69, Discover/UnionPay/RuPay 6, RuPay and UnionPay 81-82, Troy 9792.
    JCB also issued 15-digit numbers under the older prefixes 2131 and 1800 (listed as JCB, 15
    digits, in M. Gilleland, "Anatomy of Credit Card Numbers", 2003, and in the IIN tables of that
    era); 1800 already falls under the 15-digit "1" rule, 2131 is accepted with 15 digits only.
    """
    digits = _compact(value)
    if not 12 <= len(digits) <= 19 or not luhn(digits):
        return False
    first, two, four = digits[0], int(digits[:2]), int(digits[:4])
    if first == "1":
        return len(digits) == 15
    if first == "2":
        return 2200 <= four <= 2204 or 2221 <= four <= 2720 or (four == 2131 and len(digits) == 15)
    if first == "3":
        return (
            two in (34, 36, 37, 38, 39)
            or 300 <= int(digits[:3]) <= 305
            or four == 3095
            or 3528 <= four <= 3589
        )
    if first == "8":
        return two in (81, 82)
    if first == "9":
        return four == 9792
    return first in "456"


def _d5_product(j: int, k: int) -> int:
    """j * k in the dihedral group D5, numbered as Verhoeff does: 0-4 rotations, 5-9 reflections."""
    if j < 5:
        return (j + k) % 5 + (5 if k >= 5 else 0)
    return (j - k) % 5 + (0 if k >= 5 else 5)


def _powers(permutation: tuple[int, ...], count: int) -> tuple[tuple[int, ...], ...]:
    """``permutation`` applied 0, 1, ... ``count - 1`` times."""
    rows = [tuple(range(len(permutation)))]
    while len(rows) < count:
        rows.append(tuple(permutation[x] for x in rows[-1]))
    return tuple(rows)


# Verhoeff's two tables, computed from their definitions instead of listed row by row: d is the
# multiplication table of D5, p the permutation (1 5 7 6 2 8 3 0 9 4) applied 0 to 7 times.
_VERHOEFF_D = tuple(tuple(_d5_product(j, k) for k in range(10)) for j in range(10))
_VERHOEFF_P = _powers((1, 5, 7, 6, 2, 8, 3, 0, 9, 4), 8)


def verhoeff(value: str) -> bool:
    """Verhoeff check digit: the last digit makes the dihedral-group (D5) checksum zero.

    Standard: J. Verhoeff, "Error Detecting Decimal Codes", Mathematical Centre Tract 29 (1969):
    multiplication table d of D5, permutation p applied i times to the i-th digit from the right.
    It catches every single-digit error and every transposition of adjacent digits.
    """
    digits = _compact(value)
    if len(digits) < 2 or not digits.isascii() or not digits.isdigit():
        return False
    check = 0
    for position, char in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[position % 8][int(char)]]
    return check == 0


def in_aadhaar(value: str) -> bool:
    """Indian Aadhaar number: 12 digits, the first not 0 or 1, the last a Verhoeff check digit.

    Standard: UIDAI, "Aadhaar Numbering Scheme" (2010): 11 random digits and a Verhoeff check
    digit; numbers starting with 0 or 1 are not issued.
    """
    digits = _compact(value)
    return len(digits) == 12 and digits[:1] not in ("0", "1") and verhoeff(digits)


def in_pan(value: str) -> bool:
    """Indian Permanent Account Number: 5 letters, 4 digits, 1 letter; the 4th letter is the holder type.

    Standard: Income Tax Department (Income-tax Act 1961, s. 139A; Rule 114): AAAPL1234C where the
    4th character is P (person), C (company), H (Hindu undivided family), F (firm), A (association
    of persons), T (trust), B (body of individuals), L (local authority), J (artificial juridical
    person) or G (government). The last letter is a check character whose algorithm is unpublished.
    """
    code = _compact(value)
    return (
        len(code) == 10
        and code.isascii()
        and code[:5].isalpha()
        and code[:5].isupper()
        and code[5:9].isdigit()
        and code[9].isupper()
        and code[3] in "PCHFATBLJG"
    )


def uk_nhs(value: str) -> bool:
    """NHS number (England, Wales, Isle of Man): 10 digits, the last a modulus 11 check digit.

    Standard: NHS Data Dictionary, "NHS NUMBER": weights 10..2 on the first nine digits,
    check = 11 - (sum mod 11); 11 becomes 0 and 10 means the number is invalid.
    """
    digits = _compact(value)
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


# HMRC National Insurance Manual NIM39110: prefixes never allocated.
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def uk_nino(value: str) -> bool:
    """UK National Insurance number: two prefix letters, six digits, suffix A-D.

    Standard: HMRC National Insurance Manual NIM39110: the first letter is not D, F, I, Q, U or V;
    the second is not D, F, I, O, Q, U or V; the prefixes BG, GB, KN, NK, NT, TN and ZZ are not
    allocated. There is no check digit.
    """
    code = _compact(value).upper()
    if len(code) != 9 or not code.isascii():
        return False
    prefix, digits, suffix = code[:2], code[2:8], code[8]
    return (
        prefix.isalpha()
        and digits.isdigit()
        and suffix in "ABCD"
        and prefix[0] not in "DFIQUV"
        and prefix[1] not in "DFIOQUV"
        and prefix not in _NINO_BAD_PREFIXES
    )


def ca_sin(value: str) -> bool:
    """Canadian Social Insurance Number: 9 digits with a Luhn check digit; first digit not 0 or 8.

    Standard: Employment and Social Development Canada, SIN validation (the Luhn algorithm,
    ISO/IEC 7812-1 Annex B); 0 is never issued and 8 is used for business numbers.
    """
    digits = _compact(value)
    return len(digits) == 9 and digits[:1] not in ("0", "8") and luhn(digits)


def us_itin(value: str) -> bool:
    """US Individual Taxpayer Identification Number: 9XX-GG-NNNN with an ITIN group number.

    Standard: IRS, ITIN format (Internal Revenue Manual 3.21.263): the first digit is 9 and the
    group (4th and 5th digits) is 50-65, 70-88, 90-92 or 94-99.
    """
    digits = "".join(c for c in value if c.isdigit())
    if len(digits) != 9 or not digits.isascii() or digits[0] != "9":
        return False
    group = int(digits[3:5])
    return 50 <= group <= 65 or 70 <= group <= 88 or 90 <= group <= 92 or 94 <= group <= 99


def de_tax_id(value: str) -> bool:
    """German tax identification number (Steuerliche Identifikationsnummer): 11 digits.

    Standard: Steueridentifikationsnummerverordnung (StIdV) and the BZSt specification: the first
    digit is not 0; among the first ten digits exactly one digit occurs twice or three times (three
    times only since 2016) and the others at most once; the last digit is an ISO/IEC 7064
    MOD 11,10 check digit.
    """
    digits = _compact(value)
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit() or digits[0] == "0":
        return False
    counts = sorted((digits[:10].count(d) for d in set(digits[:10])), reverse=True)
    if counts[0] not in (2, 3) or (len(counts) > 1 and counts[1] != 1):
        return False
    product = 10
    for char in digits[:10]:
        total = (int(char) + product) % 10 or 10
        product = (total * 2) % 11
    return (11 - product) % 10 == int(digits[10])


def fr_nir(value: str) -> bool:
    """French social security number (NIR, numéro de sécurité sociale): 13 characters + 2-digit key.

    Standard: INSEE, the NIR (décret n° 82-103): the key is 97 - (the 13-digit number mod 97);
    for Corsica the department 2A and 2B count as 19 and 18.
    """
    code = _compact(value).upper()
    if len(code) != 15 or not code.isascii() or not code[-2:].isdigit():
        return False
    body = code[:13].replace("2A", "19", 1) if code[5:7] == "2A" else code[:13]
    body = body.replace("2B", "18", 1) if code[5:7] == "2B" else body
    if not body.isdigit() or body[0] not in "1278":
        return False
    return 97 - int(body) % 97 == int(code[13:])


# Codice fiscale check character: values of characters in odd and even positions (DM 23/12/1976).
_CF_ODD = dict(
    zip(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12,
         14, 16, 10, 22, 25, 24, 23),
        strict=True,
    )
)  # fmt: skip
_CF_EVEN = {c: (int(c) if c.isdigit() else ord(c) - ord("A")) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def it_fiscal_code(value: str) -> bool:
    """Italian codice fiscale: 16 characters, the last a check letter.

    Standard: Decreto ministeriale 23 dicembre 1976 (Ministero delle Finanze), Annex: characters in
    odd positions (1st, 3rd, ...) and even positions map to values by two tables; the check letter
    is the sum modulo 26 as A-Z. Digits may be replaced by letters (omocodia); the tables cover them.
    """
    code = _compact(value).upper()
    if len(code) != 16 or not code.isascii() or not code.isalnum() or not code[15].isalpha():
        return False
    # Birth month letter (ABCDEHLMPRST) and day (01-31, +40 for women); digits replaced by letters
    # (omocodia) are read back through LMNPQRSTUV.
    day = "".join(str("LMNPQRSTUV".index(c)) if c in "LMNPQRSTUV" else c for c in code[9:11])
    if code[8] not in "ABCDEHLMPRST" or not day.isdigit() or int(day) % 40 not in range(1, 32):
        return False
    total = sum(_CF_ODD[c] for c in code[0:15:2]) + sum(_CF_EVEN[c] for c in code[1:15:2])
    return chr(ord("A") + total % 26) == code[15]


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
# Days per month, February with 29 (the year is not always known).
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _day_of_month(month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= _MONTH_DAYS[month - 1]


def es_dni(value: str) -> bool:
    """Spanish DNI/NIF (8 digits + letter) or NIE (X, Y or Z + 7 digits + letter).

    Standard: Real Decreto 1553/2005 (DNI) and Orden INT/2058/2008 (NIE): the letter is
    "TRWAGMYFPDXBNJZSQVHLCKE"[number mod 23]; for a NIE, X, Y, Z stand for 0, 1, 2.
    """
    code = _compact(value).upper()
    if len(code) != 9 or not code.isascii():
        return False
    number = code[:8]
    if number[0] in "XYZ":
        number = str("XYZ".index(number[0])) + number[1:]
    if not number.isdigit() or not code[8].isalpha():
        return False
    return _DNI_LETTERS[int(number) % 23] == code[8]


def nl_bsn(value: str) -> bool:
    """Dutch citizen service number (burgerservicenummer): 9 digits passing the "11-proof".

    Standard: Wet algemene bepalingen burgerservicenummer; the elfproef: 9*d1 + 8*d2 + ... + 2*d8
    - 1*d9 is divisible by 11 (and not zero).
    """
    digits = _compact(value)
    if len(digits) != 9 or not digits.isascii() or not digits.isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(digits[:8], range(9, 1, -1), strict=True)) - int(digits[8])
    return total != 0 and total % 11 == 0


def pl_pesel(value: str) -> bool:
    """Polish PESEL: 11 digits (YYMMDD + serial + check), with the century encoded in the month.

    Standard: Ustawa o ewidencji ludności (population register act) and the PESEL specification:
    weights 1,3,7,9,1,3,7,9,1,3; check = (10 - sum mod 10) mod 10; month 1-12 plus 0 (1900s),
    20 (2000s), 40 (2100s), 60 (2200s) or 80 (1800s); the day exists in that month.
    """
    digits = _compact(value)
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        return False
    if not _day_of_month(int(digits[2:4]) % 20, int(digits[4:6])):
        return False
    total = sum(int(c) * w for c, w in zip(digits[:10], (1, 3, 7, 9, 1, 3, 7, 9, 1, 3), strict=True))
    return (10 - total % 10) % 10 == int(digits[10])


def be_national_number(value: str) -> bool:
    """Belgian national register number (rijksregisternummer / numéro de registre national).

    Standard: Royal Decree of 3 April 1984 (Rijksregister): YYMMDD + 3-digit serial + 2-digit check,
    check = 97 - (the first nine digits mod 97); for people born from 2000 the check is computed
    over "2" followed by the nine digits.
    """
    digits = "".join(c for c in value if c.isdigit())
    if len(digits) != 11 or not digits.isascii():
        return False
    body, check = digits[:9], int(digits[9:])
    # Month 0 (date of birth unknown) and month + 20 or + 40 ("bis" numbers) exist; the day may be
    # a counter when a date ran out of serials, so only the month is checked.
    if int(digits[2:4]) % 20 > 12 or int(digits[2:4]) >= 60:
        return False
    return check in (97 - int(body) % 97, 97 - int("2" + body) % 97)


def se_personnummer(value: str) -> bool:
    """Swedish personal identity number (personnummer or samordningsnummer).

    Standard: Skatteverket, SKV 704 "Personnummer": YYMMDD-NNNC (or YYYYMMDDNNNC), separator "-" or
    "+" (over 100); C is a Luhn check digit over the ten digits YYMMDDNNN; the day is 01-31, or
    61-91 for a coordination number (samordningsnummer).
    """
    digits = "".join(c for c in value if c.isdigit())
    if len(digits) == 12:
        digits = digits[2:]
    if len(digits) != 10 or not digits.isascii():
        return False
    month, day = int(digits[2:4]), int(digits[4:6])
    if not _day_of_month(month, day - 60 if day > 60 else day):
        return False
    return luhn(digits)


# ISO 3166-1 alpha-2 country codes (the 249 assigned codes), plus XK (Kosovo), which SWIFT uses.
_ISO_3166 = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW""".split()  # noqa: SIM905 (a table reads better than 250 quoted codes)
)


def swift_bic(value: str) -> bool:
    """SWIFT/BIC business identifier code: 8 or 11 characters with an ISO 3166 country code.

    Standard: ISO 9362: 4-letter business party prefix, 2-letter ISO 3166-1 alpha-2 country code,
    2-character location code (letters or digits), optional 3-character branch code.
    """
    code = _compact(value)
    return (
        len(code) in (8, 11)
        and code.isascii()
        and code.isalnum()
        and code[:6].isalpha()
        and code[4:6].upper() in _ISO_3166
    )


def jwt(value: str) -> bool:
    """JSON Web Token: header.payload.signature (JWS) or the five parts of an encrypted JWE.

    Standard: RFC 7519 (JWT), RFC 7515 section 7.1 (JWS compact serialisation: three base64url
    parts, the signature empty for "alg": "none") and RFC 7516 section 7.1 (JWE compact
    serialisation: five parts); the header decodes to a JSON object whose "alg" member (RFC 7515
    section 4.1.1) is a string.
    """
    parts = value.strip().split(".")
    if len(parts) not in (3, 5) or not parts[0] or (len(parts) == 3 and not parts[1]):
        return False
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (ValueError, binascii.Error):
        return False
    return isinstance(header, dict) and isinstance(header.get("alg"), str)


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
    "payment_card": payment_card,
    "verhoeff": verhoeff,
    "in_aadhaar": in_aadhaar,
    "in_pan": in_pan,
    "uk_nhs": uk_nhs,
    "uk_nino": uk_nino,
    "ca_sin": ca_sin,
    "us_itin": us_itin,
    "de_tax_id": de_tax_id,
    "fr_nir": fr_nir,
    "it_fiscal_code": it_fiscal_code,
    "es_dni": es_dni,
    "nl_bsn": nl_bsn,
    "pl_pesel": pl_pesel,
    "be_national_number": be_national_number,
    "se_personnummer": se_personnummer,
    "swift_bic": swift_bic,
    "jwt": jwt,
}
