"""Hostile text cannot make the name, place and address patterns backtrack for minutes (ReDoS).

Lists of words with no closing "and", long runs of capitals, apostrophes or commas once made
single patterns cost cubic or quadratic time (16 KB of "ab, " took 27 s in the engine). Each case
below is 64 KB; with linear patterns each test finishes in about a second on this machine. The
timeouts are hang guards 20-50x above that, not performance assertions: the old patterns needed
minutes (quadratic: the European street pattern, Presidio's bare-URL pattern) to hours (cubic:
the name lists) here.
"""

from __future__ import annotations

import pytest
import regex
from presidio_analyzer import PatternRecognizer

from privacy_router.config import DetectionSettings
from privacy_router.detection import address, blocks, gazetteer, places, propernouns
from privacy_router.detection.engine import DetectionEngine
from privacy_router.types import Finding

SIZE = 64 * 1024
UNITS = (
    *("ab, ", "Ab, ", "A", "A'", "a'", "Ab Ab, ", "ab and ", "in Ab ", "12 Ab St, "),
    *("1-", "A.", "Ab-", "a.", "A1-"),
)
# Applied to at most 60 characters before a street number (address._extend_back): bounded input.
BOUNDED = {("address", "_BACK_CAP")}

PATTERNS = [
    (module.__name__.rsplit(".", 1)[-1], name, value)
    for module in (gazetteer, places, address, propernouns, blocks)
    for name, value in vars(module).items()
    if isinstance(value, regex.Pattern)
]


def engine_patterns() -> list[regex.Pattern[str]]:
    engine = DetectionEngine.from_settings(DetectionSettings())
    out: list[regex.Pattern[str]] = []
    for r in engine._analyzer.registry.recognizers:
        if isinstance(r, PatternRecognizer):
            flags = r.global_regex_flags or 0
            out += [regex.compile(p.regex, flags=flags) for p in r.patterns]
    return out


def hostile(unit: str) -> str:
    return unit * (SIZE // len(unit))


def test_the_module_patterns_are_all_checked() -> None:
    assert len(PATTERNS) >= 25


@pytest.mark.timeout(60)
@pytest.mark.parametrize("unit", UNITS)
def test_no_pattern_backtracks_on_hostile_text(unit: str) -> None:
    text = hostile(unit)
    for module, name, pattern in PATTERNS:
        if (module, name) in BOUNDED:
            continue
        for _ in pattern.finditer(text):
            pass


@pytest.mark.timeout(30)
@pytest.mark.parametrize("unit", ["a.", "1.", "A'", "A1-"])
def test_pack_and_url_patterns_do_not_backtrack_on_hostile_text(unit: str) -> None:
    """Every pattern of every pattern recognizer the engine registers (packs and Presidio's,
    including the anchored URL patterns), on the runs that once cost seconds per 8 KB."""
    text = hostile(unit)
    for recognizer in engine_patterns():
        for _ in recognizer.finditer(text):
            pass


@pytest.mark.timeout(60)
@pytest.mark.parametrize("unit", UNITS)
def test_name_and_place_finders_finish_on_hostile_text(unit: str) -> None:
    text = hostile(unit)
    assert isinstance(gazetteer.find_names(text), list)
    assert isinstance(places.find_places(text), list)
    assert isinstance(propernouns.find_proper_nouns(text, []), list)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("unit", ["Ab Cd\n", "Phone:\n", "Finland 12345\n", "\n", "Ab\nPhone:\n"])
def test_contact_blocks_finish_on_hostile_text(unit: str) -> None:
    """Thousands of lines, each an anchor (a street or a phone found on it): every block walk is
    bounded, and each line's findings are looked up once, not searched per line."""
    text = hostile(unit)
    starts = [i for i, c in enumerate(text) if i == 0 or text[i - 1] == "\n"]
    findings = [Finding("STREET_ADDRESS", s, s + 2, 0.65, "test") for s in starts[::2]]
    findings += [Finding("PHONE_NUMBER", s, s + 2, 0.85, "test") for s in starts[1::2]]
    assert isinstance(blocks.contact_blocks(text, findings), list)
