"""Views of a text that see through obfuscation, each with a map back to the original offsets.

A *view* is a derived text plus, for every one of its characters, the ``[start, end)`` range of
the original text it came from. A finding at ``[s, e)`` in a view is reported over
``[map[s].start, map[e-1].end)`` of the original, so the scrubber always replaces the *whole*
original span, however it was written (threat model 4.1, rule 1: "redaction must cover the entire
original span"). A character decoded from an encoded token maps to the whole token: a base64 blob
that hides an SSN is replaced as a whole.

The views (threat model 4.1, the "normalisation that fixes it" column):

* ``normalized``: NFKC (fullwidth letters and digits, ``＠``), format characters (Unicode category
  Cf: zero-width space/joiner, soft hyphen, bidi controls) removed, every Unicode decimal digit
  folded to ASCII (Arabic-Indic, Devanagari, ...), dashes and minus signs folded to ``-``, a small
  table of Cyrillic/Greek letters that look like Latin ones folded to Latin (Unicode TR39
  confusables, the letters of the Latin alphabet only), letters O/o and I/l/| inside digit runs
  read as 0 and 1, runs of spelled-out digits ("four five six") read as digits, and e-mail
  addresses written as "john [at] example [dot] com" rebuilt.
* ``compact``: the normalized view with separators inside numbers removed (spaces, dots, dashes,
  slashes, underscores, line breaks between digit groups) and runs of single characters separated
  by spaces joined ("a l i c e @ ..."), so a pattern for "536904399" also sees "536 90 4399".
* decoded views: percent-encoding, HTML character references and JSON/JavaScript string escapes
  decoded in place; base64 and hex tokens that decode to printable UTF-8 text replaced by that
  text. Each decoded view is normalized, compacted and decoded once more (two levels in all).

Views are built only when they differ from their source, so ordinary ASCII prose costs one pass
of a few regular expressions and no extra analysis.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from privacy_router.detection.validators import iban

Range = tuple[int, int]

# Cyrillic and Greek letters whose glyphs are Latin letters (subset of Unicode TR39
# confusables.txt restricted to targets in a-z/A-Z); NFKC does not fold these.
_CONFUSABLES = {
    "а": "a", "в": "B", "е": "e", "к": "k", "м": "M", "н": "H", "о": "o", "р": "p", "с": "c",
    "т": "T", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "б": "6", "З": "3", "з": "3",
    "α": "a", "ο": "o", "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "ι": "i", "κ": "k",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
}  # fmt: skip
# Hyphen, non-breaking hyphen, figure dash, en dash, em dash, horizontal bar, minus sign, small
# and fullwidth hyphen-minus (Unicode "Dash" property, the ones used as digit separators).
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d\u00ad")
_DIGIT_WORDS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
# Two or more digit words in a row ("five three six ..."); "one or two" is not a run.
_SPELLED = re.compile(
    r"\b(?:" + "|".join(_DIGIT_WORDS) + r")(?:[\s,-]+(?:" + "|".join(_DIGIT_WORDS) + r")){1,}\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z]+", re.IGNORECASE)
# "john [at] example [dot] com", "john (at) example (dot) com", "john at example dot com",
# "maria at clinic.example". A bare full stop joins labels only without spaces around it: "given at
# night. Pain improved" is two sentences, not an address.
_OPEN, _CLOSE = r"[\[\(\{<]", r"[\]\)\}>]"
_EMAIL_LEET = re.compile(
    rf"\b([\w.+-]+)\s*(?:{_OPEN}\s*(?:at|@)\s*{_CLOSE}|\s(?:at)\s)\s*([\w-]+)"
    rf"((?:\s*{_OPEN}\s*(?:dot|\.)\s*{_CLOSE}\s*[\w-]+|\s+dot\s+[\w-]+|\.[\w-]+)+)",
    re.IGNORECASE,
)
_DOT_SPLIT = re.compile(rf"\s*(?:{_OPEN}\s*(?:dot|\.)\s*{_CLOSE}|\sdot\s|\.)\s*", re.IGNORECASE)
# Digit runs that hide O for 0 and I/l/| for 1: at least three real digits and one look-alike.
_LOOKALIKE_RUN = re.compile(r"(?<![A-Za-z])[0-9OoIl|](?:[0-9OoIl|]|[-. ](?=[0-9OoIl|])){3,}(?![A-Za-z])")
# Digit groups joined by short runs of separators: "536 90 4399", "4111.1111.1111.1111",
# "536-90-\n4399". At least six digits in all, so "page 1 - 2" stays as written.
_DIGIT_GROUPS = re.compile(r"(?<![A-Za-z\d])\d+(?:[ \t\r\n.\-/_\\]{1,3}\d+)+")
# Single characters separated by single spaces: "a l i c e @ e x a m p l e . c o m".
_SPACED = re.compile(r"(?<!\S)(?:[\w@.+\-]\s){2,}[\w@.+\-](?!\S)")
# IBAN-shaped runs with spaces anywhere ("GB 82 WEST 12345698765432"), case-sensitive as printed.
_IBAN_SPACED = re.compile(r"(?:(?<=IBAN)|\b)[A-Z]{2}\s*\d\s*\d(?:\s*[A-Z0-9]){11,30}\b")
# Encodings. Percent-encoded bytes, HTML character references, JSON/JS escapes.
_ESCAPES = re.compile(
    r"(?P<pct>(?:%[0-9A-Fa-f]{2})+)"
    r"|(?P<ent>&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});)"
    r"|(?P<js>\\u[0-9A-Fa-f]{4}|\\x[0-9A-Fa-f]{2}|\\[nrtbf\"'/\\])"
)
# base64 (standard or URL-safe alphabet) and hex tokens long enough to hold an identifier.
_B64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{12,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![0-9A-Za-z])(?:0x)?((?:[0-9A-Fa-f]{2}[ :]?){8,})(?![0-9A-Za-z])")
MAX_DEPTH = 2
MAX_TOKENS = 32  # decoded tokens per view: bounds the work on adversarial input


@dataclass(frozen=True)
class View:
    """A derived text and, per character, the original ``[start, end)`` it stands for."""

    name: str
    text: str
    origin: tuple[Range, ...]

    def to_original(self, start: int, end: int) -> Range:
        if end <= start:
            raise ValueError("empty span")
        ranges = self.origin[start:end]
        return min(r[0] for r in ranges), max(r[1] for r in ranges)


def identity(text: str) -> View:
    return View("original", text, tuple((i, i + 1) for i in range(len(text))))


class _Builder:
    def __init__(self, source: View) -> None:
        self.source = source
        self.chars: list[str] = []
        self.origin: list[Range] = []

    def copy(self, start: int, end: int) -> None:
        """Source characters [start, end) unchanged, each keeping its own origin."""
        self.chars.append(self.source.text[start:end])
        self.origin.extend(self.source.origin[start:end])

    def replace(self, start: int, end: int, text: str) -> None:
        """Source [start, end) replaced by ``text``; every new character maps to the whole range."""
        if start >= end:
            return
        whole = self.source.to_original(start, end)
        self.chars.append(text)
        self.origin.extend([whole] * len(text))

    def view(self, name: str) -> View:
        return View(name, "".join(self.chars), tuple(self.origin))


def _substitute(source: View, name: str, pattern: re.Pattern[str], repl: object) -> View:
    """Replace each match of ``pattern`` with ``repl(match)`` (None: keep), mapping coarsely."""
    builder = _Builder(source)
    pos = 0
    for match in pattern.finditer(source.text):
        new = repl(match)  # type: ignore[operator]
        if new is None:
            continue
        builder.copy(pos, match.start())
        builder.replace(match.start(), match.end(), new)
        pos = match.end()
    builder.copy(pos, len(source.text))
    return builder.view(name)


def _fold_char(ch: str) -> str:
    if ch in _CONFUSABLES:
        return _CONFUSABLES[ch]
    if ch in _DASHES:
        return "" if ch == "\u00ad" else "-"
    if unicodedata.category(ch) == "Cf":
        return ""
    decimal = unicodedata.decimal(ch, None)
    if decimal is not None:
        return str(decimal)
    return unicodedata.normalize("NFKC", ch)


def normalize(source: View) -> View:
    """Character folding, look-alike digits, spelled-out digits and e-mail leetspeak."""
    text = source.text
    if text.isascii():
        folded = source
    else:
        builder = _Builder(source)
        for i, ch in enumerate(text):
            if ch.isascii():
                builder.copy(i, i + 1)
            else:
                builder.replace(i, i + 1, _fold_char(ch))
        folded = builder.view("normalized")
    if any(ch in _CONFUSABLES for ch in folded.text):
        # NFKC may itself produce confusable letters (e.g. from compatibility forms): one more pass.
        folded = _substitute(
            folded, "normalized", re.compile("|".join(_CONFUSABLES)), lambda m: _CONFUSABLES[m[0]]
        )
    folded = _substitute(folded, "normalized", _LOOKALIKE_RUN, _lookalike_digits)
    folded = _substitute(folded, "normalized", _SPELLED, _spelled_digits)
    folded = _substitute(folded, "normalized", _EMAIL_LEET, _rebuilt_email)
    return View("normalized", folded.text, folded.origin)


def _lookalike_digits(match: re.Match[str]) -> str | None:
    run = match[0]
    if sum(c.isdigit() for c in run) < 4 or not any(c in "OoIl|" for c in run):
        return None
    return run.translate(str.maketrans("OoIl|", "00111"))


def _spelled_digits(match: re.Match[str]) -> str:
    return "".join(_DIGIT_WORDS[w.lower()] for w in _WORD.findall(match[0]))


def _rebuilt_email(match: re.Match[str]) -> str | None:
    rest = [p for p in _DOT_SPLIT.split(match[3]) if p]
    if not rest or not re.fullmatch(r"[a-z]{2,24}", rest[-1], re.IGNORECASE):
        return None  # the last label must look like a top-level domain
    return f"{match[1]}@{match[2]}.{'.'.join(rest)}"


def compact(source: View) -> View:
    """Separators inside digit runs removed; spaced-out single characters joined."""

    def digits(match: re.Match[str]) -> str | None:
        joined = re.sub(r"\D", "", match[0])
        return joined if len(joined) >= 6 else None

    out = _substitute(source, "compact", _SPACED, lambda m: m[0].replace(" ", ""))
    out = _substitute(out, "compact", _IBAN_SPACED, _joined_iban)
    return _substitute(out, "compact", _DIGIT_GROUPS, digits)


def _joined_iban(match: re.Match[str]) -> str | None:
    """The longest prefix of the run, spaces removed, that passes the IBAN check (ISO 13616)."""
    joined = re.sub(r"\s", "", match[0])
    for end in range(len(joined), 14, -1):
        if iban(joined[:end]):
            return joined[:end] + (" " + joined[end:] if end < len(joined) else "")
    return None


def _printable(data: bytes) -> str | None:
    """The UTF-8 text in ``data`` when it reads as text (no controls but whitespace), else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 4 or any(
        unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") and c not in "\t\n\r" for c in text
    ):
        return None
    return text


def _unescape(match: re.Match[str]) -> str | None:
    if match["pct"]:
        raw = bytes(int(match["pct"][i + 1 : i + 3], 16) for i in range(0, len(match["pct"]), 3))
        return raw.decode("utf-8", errors="replace")
    if match["ent"]:
        decoded = html.unescape(match["ent"])
        return None if decoded == match["ent"] else decoded
    esc = match["js"]
    if esc[1] in "ux":
        return chr(int(esc[2:], 16))
    return {"n": "\n", "r": "\r", "t": "\t", "b": " ", "f": " "}.get(esc[1], esc[1])


def _decode_token(match: re.Match[str]) -> str | None:
    token = match[0]
    hexed = re.sub(r"[ :]|^0x", "", token)
    if len(hexed) % 2 == 0 and re.fullmatch(r"[0-9A-Fa-f]+", hexed):
        decoded = _printable(binascii.unhexlify(hexed))
        if decoded is not None:
            return decoded
    body = token.rstrip("=")
    padded = body + "=" * (-len(body) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _printable(raw)


def decoded(source: View) -> Iterator[View]:
    """Views with escapes decoded in place, and with base64/hex tokens decoded."""
    if _ESCAPES.search(source.text):
        view = _substitute(source, "decoded", _ESCAPES, _unescape)
        if view.text != source.text:
            yield view
    count = 0

    def token(match: re.Match[str]) -> str | None:
        nonlocal count
        if count >= MAX_TOKENS:
            return None
        result = _decode_token(match)
        count += result is not None
        return result

    for pattern in (_HEX, _B64):
        view = _substitute(source, "decoded", pattern, token)
        if view.text != source.text:
            yield view


# Characters of unchanged text kept on each side of a changed region when a view is windowed:
# enough for a label or context word before a value (Presidio looks 5 tokens back) and for the
# longest pattern that can start inside the region.
WINDOW = 96


def windows(view: View, original: str) -> list[View]:
    """The parts of a view around the places where it differs from the original text.

    Elsewhere the view *is* the original text, already analysed; scanning only these windows
    keeps the cost of views proportional to what was actually folded, joined or decoded.
    """
    changed: list[int] = []
    previous_end = 0
    for i, (start, end) in enumerate(view.origin):
        moved = end - start != 1 or original[start] != view.text[i] or start != previous_end
        if moved:
            changed.append(i)
        previous_end = end
    if len(view.origin) and view.origin[-1][1] != len(original):
        changed.append(len(view.origin) - 1)  # characters removed at the very end
    spans: list[list[int]] = []
    for i in changed:
        lo, hi = max(0, i - WINDOW), min(len(view.text), i + 1 + WINDOW)
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], hi)
        else:
            spans.append([lo, hi])
    return [View(view.name, view.text[lo:hi], view.origin[lo:hi]) for lo, hi in spans]


def derived_views(text: str) -> list[View]:
    """Every view of ``text`` other than the text itself, deduplicated by content."""
    seen = {text}
    out: list[View] = []

    def add(view: View) -> bool:
        if view.text in seen:
            return False
        seen.add(view.text)
        out.append(view)
        return True

    def walk(view: View, depth: int) -> None:
        norm = normalize(view)
        add(norm)
        add(compact(norm))
        if depth >= MAX_DEPTH:
            return
        for dec in decoded(norm):
            if add(dec):
                walk(dec, depth + 1)

    walk(identity(text), 0)
    return out
