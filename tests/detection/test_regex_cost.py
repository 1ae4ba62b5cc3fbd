"""Hostile text cannot make the name, place and address patterns backtrack for minutes (ReDoS).

Lists of words with no closing "and", long runs of capitals, apostrophes or commas once made
single patterns cost cubic or quadratic time (16 KB of "ab, " took 27 s in the engine). Each case
below is 64 KB; with linear patterns all of them finish in seconds on this machine. The timeout is
a hang guard for the whole module, not a performance assertion: the old patterns would have
needed hours here.
"""

from __future__ import annotations

import pytest
import regex

from privacy_router.detection import address, gazetteer, places

SIZE = 64 * 1024
UNITS = ("ab, ", "Ab, ", "A", "A'", "a'", "Ab Ab, ", "ab and ", "in Ab ", "12 Ab St, ", "1-", "A.", "Ab-")
# Applied to at most 60 characters before a street number (address._extend_back): bounded input.
BOUNDED = {("address", "_BACK_CAP")}

PATTERNS = [
    (module.__name__.rsplit(".", 1)[-1], name, value)
    for module in (gazetteer, places, address)
    for name, value in vars(module).items()
    if isinstance(value, regex.Pattern)
]


def hostile(unit: str) -> str:
    return unit * (SIZE // len(unit))


def test_the_module_patterns_are_all_checked() -> None:
    assert len(PATTERNS) >= 25


@pytest.mark.timeout(300)
@pytest.mark.parametrize("unit", UNITS)
def test_no_pattern_backtracks_on_hostile_text(unit: str) -> None:
    text = hostile(unit)
    for module, name, pattern in PATTERNS:
        if (module, name) in BOUNDED:
            continue
        for _ in pattern.finditer(text):
            pass


@pytest.mark.timeout(300)
@pytest.mark.parametrize("unit", UNITS)
def test_name_and_place_finders_finish_on_hostile_text(unit: str) -> None:
    text = hostile(unit)
    assert isinstance(gazetteer.find_names(text), list)
    assert isinstance(places.find_places(text), list)
