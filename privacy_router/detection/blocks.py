"""The short lines above a postal address or a contact field: a letterhead or signature block.

HIPAA Safe Harbor identifiers (A) names and (B) geographic subdivisions (45 CFR 164.514(b)(2)(i)).
A postal address is written as a block: the person's name, often a job title and a company, then the
street, the town and the country, each on its own line; a signature or a CV header puts the name above
"Phone:" and "E-mail:" fields the same way. The lines above the street carry no signal of their own
("Irecycle", "Scale Unlimited", "ALFRICK" are not English words, names or towns that a list knows), but
their place in the block says what they are. So this module, run after the recognizers, takes an
*anchor* line, one of:

* the line where a STREET_ADDRESS finding starts;
* a short line naming a country or a US state, with an optional postcode ("Finland 23221"), unless
  the line before or after it names one too (a list of countries is not an address);
* a contact field label at the start of a line ("Phone:", "Mobile:", "E-mail:"), with a phone
  number, an e-mail address or a URL found on its line or the next,

and walks up from it over the short lines right above (single blank lines allowed between them, at
most ``MAX_LINES`` lines): each is reported whole. A line is short when it has at most ``MAX_WORDS``
words, no sentence punctuation and no "label: value" shape; quote marks at the start of a line (">",
"|", bullets) are not part of it. A line already partly found keeps its type over the whole line;
otherwise the top line of the block is a PERSON and the others ORGANIZATION (a name, then a title or a
company, as in every letter). The anchor line's own words before the street ("Đoko and ul. Miła 53")
are taken too when the block above it has at least one line.

A block over-reports a job title ("Leasing consultant") as an organisation: in a block that already
holds an address and a name, scrubbing a title costs nothing, and leaving a company name out leaks.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

import regex

from privacy_router.detection.places import gazetteer, place_key
from privacy_router.types import Finding

NAME = "ContactBlock"
SCORE = 0.5
MAX_LINES = 4
MAX_WORDS = 6
MAX_CHARS = 60
PERSON = "PERSON"
ORGANIZATION = "ORGANIZATION"
_ADDRESS_TYPES = frozenset({"STREET_ADDRESS"})
_CONTACT_TYPES = frozenset({"PHONE_NUMBER", "EMAIL_ADDRESS", "URL"})
# A partly found line keeps the finding's type over the whole line (the eval maps it the same way).
_LINE_TYPES = ("PERSON", "ORGANIZATION", "LOCATION", "STREET_ADDRESS", "ZIP_CODE")
# Quote marks and bullets that start a quoted or listed line, and the spaces around them.
_LEAD = regex.compile(r"[ \t]*(?:[>|*•·?][ \t]*)*")
_CONTACT_LABEL = regex.compile(
    r"(?i:phone|mobile|cell|tel|telephone|fax|e-?mail|personal[ \t]+info(?:rmation)?|contact"
    r"(?:[ \t]+info(?:rmation)?)?|address|desk|office|work|home)[ \t]*:"
)
_WORD = regex.compile(r"\S+")
# Legal forms that may end a company line with a full stop ("stillwater supercomputing inc.").
_ABBREVIATION_END = regex.compile(r"(?i:inc|ltd|co|corp|llc|plc|jr|sr|dds|md|phd|esq|st)\.\Z")
# A postcode or a bracketed qualifier after a country on its line ("Cyprus (Greek) 72423").
_COUNTRY_TAIL = regex.compile(r"(?:[ \t]*\([^()\n]{1,20}\))?(?:[ \t,]+[A-Z0-9][A-Z0-9 -]{1,9})?[ \t]*\Z")


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line's content, quote marks and surrounding spaces left out."""
    out: list[tuple[int, int]] = []
    position = 0
    for raw in text.split("\n"):
        lead = _LEAD.match(raw)
        start = position + (lead.end() if lead else 0)
        end = position + len(raw.rstrip(" \t\r"))
        out.append((start, max(start, end)))
        position += len(raw) + 1
    return out


def _short(text: str) -> bool:
    """A block line: few words, no sentence, no "label: value"."""
    if not text or len(text) > MAX_CHARS or not any(c.isalpha() for c in text):
        return False
    if len(_WORD.findall(text)) > MAX_WORDS or _CONTACT_LABEL.match(text):
        return False
    if any(mark in text for mark in ("?", "!", ";", '"', "“", "”", ": ")) or text.endswith(":"):
        return False
    return not text.endswith(".") or _ABBREVIATION_END.search(text) is not None


def _is_country_line(text: str) -> bool:
    tail = _COUNTRY_TAIL.search(text)
    head = text[: tail.start()] if tail else text
    return bool(head) and place_key(head) in gazetteer().regions


def _anchors(text: str, lines: list[tuple[int, int]], by_line: dict[int, list[Finding]]) -> Iterator[int]:
    def has(index: int, types: frozenset[str], starting: bool) -> bool:
        start = lines[index][0]
        return any(
            f.entity_type in types and (not starting or f.start >= start) for f in by_line.get(index, ())
        )

    countries = [
        len(text[start:end]) <= MAX_CHARS and _is_country_line(text[start:end]) for start, end in lines
    ]
    for index, (start, end) in enumerate(lines):
        if (
            has(index, _ADDRESS_TYPES, starting=True)
            or (
                _CONTACT_LABEL.match(text[start:end])
                and any(has(i, _CONTACT_TYPES, starting=False) for i in (index, index + 1) if i < len(lines))
            )
            or (
                countries[index]
                and not (index > 0 and countries[index - 1])
                and not (index + 1 < len(lines) and countries[index + 1])
            )
        ):
            yield index


def _block_above(text: str, lines: list[tuple[int, int]], anchor: int) -> list[int]:
    """Indices of the short lines above the anchor line, nearest first."""
    taken: list[int] = []
    blanks = 0
    # Bounded: a block is a handful of lines, whatever the text holds above it.
    for index in range(anchor - 1, max(-1, anchor - 1 - 3 * MAX_LINES), -1):
        start, end = lines[index]
        content = text[start:end]
        if not content:
            blanks += 1
            if blanks > 1:
                break
        elif _short(content):
            blanks = 0
            taken.append(index)
            if len(taken) == MAX_LINES:
                break
        elif _CONTACT_LABEL.fullmatch(content.strip()):
            blanks = 0  # a field label alone on its line ("Personal Info:") is part of the block
        else:
            break
    return taken


def _findings_by_line(lines: list[tuple[int, int]], findings: Sequence[Finding]) -> dict[int, list[Finding]]:
    """The findings that overlap each line (computed once: texts may hold thousands of lines)."""
    starts = [start for start, _ in lines]
    out: dict[int, list[Finding]] = {}
    for f in findings:
        first = bisect.bisect_right(starts, f.start) - 1
        last = bisect.bisect_right(starts, max(f.start, f.end - 1)) - 1
        for index in range(max(first, 0), last + 1):
            out.setdefault(index, []).append(f)
    return out


def contact_blocks(text: str, findings: Sequence[Finding]) -> list[Finding]:
    """Findings for the lines of letterhead and signature blocks (see the module docstring)."""
    if "\n" not in text:
        return []
    lines = _lines(text)
    by_line = _findings_by_line(lines, findings)
    out: list[Finding] = []
    done: set[int] = set()
    for anchor in _anchors(text, lines, by_line):
        block = _block_above(text, lines, anchor)
        if not block:
            continue
        top = block[-1]
        for index in block:
            if index in done:
                continue
            done.add(index)
            start, end = lines[index]
            on_line = by_line.get(index, [])
            if any(f.start <= start and end <= f.end for f in on_line):
                continue  # already found whole (an address block's town line)
            kind = _found_type(start, end, on_line) or (PERSON if index == top else ORGANIZATION)
            out.append(Finding(kind, start, end, SCORE, NAME))
        out.extend(_street_prefix(text, lines[anchor], by_line.get(anchor, [])))
    return out


def _found_type(start: int, end: int, findings: Sequence[Finding]) -> str | None:
    overlapping = [f for f in findings if f.start < end and start < f.end and f.entity_type in _LINE_TYPES]
    if not overlapping:
        return None
    return max(overlapping, key=lambda f: (f.end - f.start, f.score)).entity_type


def _street_prefix(text: str, line: tuple[int, int], findings: Sequence[Finding]) -> list[Finding]:
    """The anchor line's words before its street finding, when they are few ("Đoko and ul. ...")."""
    start, end = line
    streets = [f for f in findings if f.entity_type in _ADDRESS_TYPES and start < f.start < end]
    if not streets:
        return []
    first = min(f.start for f in streets)
    prefix = text[start:first]
    if not prefix.strip() or len(_WORD.findall(prefix)) > 2 or any(c in prefix for c in ".:?!"):
        return []
    return [Finding("STREET_ADDRESS", start, first, SCORE, NAME)]
