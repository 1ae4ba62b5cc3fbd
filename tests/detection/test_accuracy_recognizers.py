"""The code recognizers for recall (address blocks, names): must-match and must-not-match tables,
and clinical questions without identifiers that must stay clean through the whole engine."""

from __future__ import annotations

import pytest

from privacy_router.detection.address import find_addresses
from privacy_router.detection.engine import DetectionEngine
from privacy_router.detection.gazetteer import find_names

# (id, text, the exact address block expected). Written for these tests, not taken from a dataset.
ADDRESSES = [
    (
        "us-street-unit-city-zip",
        "Ship it to 4417 Old Kettle Rd Apt 3B, Fresno, CA 93726 please",
        "4417 Old Kettle Rd Apt 3B, Fresno, CA 93726",
    ),
    (
        "nordic-number-after",
        "Her address: 812 Vesterbrogade 41, København V",
        "812 Vesterbrogade 41, København V",
    ),
    ("german-suffix", "Sie wohnt in der Lindenstrasse 12", "Lindenstrasse 12"),
    (
        "polish-prefix-block",
        "Wysłać do ul. Ogrodowa 7\nKraków\nPoland 30-001",
        "ul. Ogrodowa 7\nKraków\nPoland 30-001",
    ),
    ("french-number-first", "She lives at 14 rue des Lilas, Lyon", "14 rue des Lilas, Lyon"),
    (
        "multi-line-block",
        "Jan Novak\n77 Harbour View Terrace\n Suite 12\n WELLINGTON\n New Zealand 6011",
        "77 Harbour View Terrace\n Suite 12\n WELLINGTON\n New Zealand 6011",
    ),
    ("po-box", "Mail goes to P.O. Box 5521, Tulsa, OK 74101.", "P.O. Box 5521, Tulsa, OK 74101"),
    ("military", "USNS Mercy\nFPO AP 96677", "USNS Mercy\nFPO AP 96677"),
    (
        "intersection",
        "Meet at the corner of Elm Street and 5th Avenue.",
        "the corner of Elm Street and 5th Avenue",
    ),
    ("sentence-end-stops", "I live at 9 Baker Street, London. Please call me.", "9 Baker Street, London."),
    (
        "country-name-with-and",
        "Send to 63 Agip u. 96.\n Apt. 808\n Nagyváty\n Trinidad and Tobago 79370 today",
        "63 Agip u. 96.\n Apt. 808\n Nagyváty\n Trinidad and Tobago 79370",
    ),
    (
        "country-long-form-and-postcode",
        "05 Björkvägen 55\n Suite 988\n GETINGE\n Kingdom of the Netherlands 37521",
        "05 Björkvägen 55\n Suite 988\n GETINGE\n Kingdom of the Netherlands 37521",
    ),
    ("intersection-with-and", "Meet me at Hastings and 17 Main Street", "Hastings and 17 Main Street"),
    ("name-with-a-month-s-letters", "The office is at Jan and Archkogl 67", "Jan and Archkogl 67"),
    ("arrived-at", "The letter arrived at Archie and Estrela 57 last night.", "Archie and Estrela 57"),
    ("town-district-number", "Tara lives at 63 Tylova 42, Karlovy Vary 17", "63 Tylova 42, Karlovy Vary 17"),
    (
        "and-then-pronoun-ends-the-block",
        "I live at 12 Main Street, Springfield and I want a refund.",
        "12 Main Street, Springfield",
    ),
    (
        "lower-case-chat",
        "i moved to 22 maple grove rd, springfield last week",
        "22 maple grove rd, springfield",
    ),
]

NOT_ADDRESSES = [
    ("dose", "Take 2 Tylenol 500 mg tablets every 6 hours"),
    ("metformin", "What is the max dose of metformin for a 70 kg adult with CKD stage 3?"),
    ("schedule", "Week 3 Day 5 of the protocol starts on 2025-03-01"),
    ("diabetes-type", "Is Type 2 diabetes reversible with diet alone?"),
    ("year-range", "Between 1990 and 2000 the rate fell by 12%"),
    ("lab-value", "HbA1c 7.2 and LDL 130 after 12 weeks"),
    ("placeholder", "The corner of {street_name} and {street_name}"),
]


@pytest.mark.parametrize(("text", "block"), [row[1:] for row in ADDRESSES], ids=[row[0] for row in ADDRESSES])
def test_address_block_is_found_whole(text: str, block: str) -> None:
    assert [text[s:e].rstrip(" ,\n") for s, e in find_addresses(text)] == [block]


@pytest.mark.parametrize("text", [row[1] for row in NOT_ADDRESSES], ids=[row[0] for row in NOT_ADDRESSES])
def test_text_without_address_has_no_block(text: str) -> None:
    assert find_addresses(text) == []


NAMES = [
    ("given-name-alone", "Please remove my kid Lukas from the plan", {("Lukas", "PERSON")}),
    ("title", "Dr. Cindy Holinka will see you", {("Cindy Holinka", "PERSON")}),
    ("label", "Name: Sieda Batukayev", {("Sieda Batukayev", "PERSON")}),
    (
        "list-with-known-name",
        "Founded by Monjeau, Graves and Reed.",
        {("Monjeau", "PERSON"), ("Graves", "PERSON"), ("Reed", "PERSON")},
    ),
    ("lower-case-name", "follow up with patricia moore next month", {("patricia moore", "PERSON")}),
    (
        "org-suffix",
        "She works for Streetcred Software Inc. now",
        {("Streetcred Software Inc.", "ORGANIZATION")},
    ),
    ("org-phrase", "Persint is a German investment bank", {("Persint", "ORGANIZATION")}),
    ("named-pronoun", "She named him Teodor", {("Teodor", "PERSON")}),
    ("name-is", "Her maiden name is Kowalczyk", {("Kowalczyk", "PERSON")}),
    ("pair-with-known-name", "Vlasta and Pearson built it.", {("Vlasta", "PERSON"), ("Pearson", "PERSON")}),
    (
        "dialogue-speakers",
        "Ilmari: Where were you? Karen: At home.",
        {("Ilmari", "PERSON"), ("Karen", "PERSON")},
    ),
    (
        "lower-case-list",
        "they invited oskari, linda, mark and susan",
        {("oskari", "PERSON"), ("linda", "PERSON"), ("susan", "PERSON")},
    ),
    ("dutch-particle", "Ask Maika van de Noort first", {("Maika van de Noort", "PERSON")}),
    ("known-name-with-particles", "Donald van der Voet wrote it", {("Donald van der Voet", "PERSON")}),
    ("initial", "Signed by Szymon K Wiatrowski", {("Szymon K Wiatrowski", "PERSON")}),
    ("title-kept-with-name", "Dr. Jennifer Holst will call", {("Dr. Jennifer Holst", "PERSON")}),
    ("double-barrelled", "Ask Nowak-Garcia about it", {("Nowak-Garcia", "PERSON")}),
    ("org-number-and-suffix", "I work for 7 Summit Labs Inc", {("7 Summit Labs Inc", "ORGANIZATION")}),
    ("org-and-sons", "Hartley and Sons is hiring", {("Hartley and Sons", "ORGANIZATION")}),
    (
        "lower-case-legal-form",
        "i bank with quarry lane holdings ltd",
        {("quarry lane holdings ltd", "ORGANIZATION")},
    ),
    ("subject-of-a-person-verb", "Trivelka lives on a quiet street", {("Trivelka", "PERSON")}),
    ("began-writing", "Walker began writing as a teenager", {("Walker", "PERSON")}),
    ("lower-case-subject", "bártová began writing as a teenager", {("bártová", "PERSON")}),
    ("is-from-unknown-word", "Océane is from Experian", {("Océane", "PERSON")}),
    ("lower-case-is-from-known-name", "selma is from a small firm", {("selma", "PERSON")}),
    (
        "lower-case-name-is",
        "my name is borna jerković but everyone calls me borna",
        {("borna jerković", "PERSON")},
    ),
    ("lower-case-call-me", "sometimes people call me višeslav", {("višeslav", "PERSON")}),
    ("lower-case-possessive", "tracy: i'm roberto's friend", {("roberto", "PERSON")}),
    ("kinship-possessive", "I'm Misty's daughter", {("Misty", "PERSON")}),
    (
        "lower-case-given-a-surname",
        "follow up with benjamin a seiler soon",
        {("benjamin a seiler", "PERSON")},
    ),
    (
        "lower-case-given-unknown-surname",
        "follow up with monika žilková soon",
        {("monika žilková", "PERSON")},
    ),
    ("starring", "a film starring Lafontaine and others", {("Lafontaine", "PERSON")}),
    ("lower-case-name-question", "what's your name? heather pustivšek", {("heather pustivšek", "PERSON")}),
    ("lower-case-quote-attribution", '"that is fine," says björklund.', {("björklund", "PERSON")}),
    ("name-line-keeps-common-surname", "Name: Crystal Grant\nPhone: none", {("Crystal Grant", "PERSON")}),
    ("brainchild", "Quillfeather is the brainchild of two nurses", {("Quillfeather", "ORGANIZATION")}),
    ("address-of", "The address of Transunion is 17 Hastings Street", {("Transunion", "ORGANIZATION")}),
    ("lower-case-office", "the datamyne office is at 21 rue sidi", {("datamyne", "ORGANIZATION")}),
    ("lower-case-is-from-company", "kelima is from brightscope", {("brightscope", "ORGANIZATION")}),
    ("given-to-with-possessive", "Robert had given Chise his address", {("Chise", "PERSON")}),
    ("lower-case-given-to", "nicholas had given sara his address", {("sara", "PERSON")}),
    ("author-of-a-novel", "unlike the söderberg novel, it is short", {("söderberg", "PERSON")}),
    ("capitalised-author", "Unlike the Sage novel, it is short", {("Sage", "PERSON")}),
    ("vocative-lower-case", "don't go to town, carmen!", {("carmen", "PERSON")}),
    ("vocative-everyday-word-name", "Don't go to town, Heather!", {("Heather", "PERSON")}),
]

NOT_NAMES = [
    ("eponym", "Is Graves' disease treated with methimazole?"),
    ("common-words", "Will May bring Hope and Grace to the clinic?"),
    ("all-caps", "CAN I SPEAK TO A REAL PERSON?"),
    ("metformin", "What is the max dose of metformin for a 70 kg adult with CKD stage 3?"),
    ("drug-question", "Should warfarin be held before a colonoscopy?"),
    ("lower-case-words", "the latest numbers -- can you check this for me?"),
    ("pair-of-common-words", "Diet and Exercise matter more than Hope and Will."),
    ("labels-not-speakers", "Question: what dose? Answer: 5 mg. Note: ask first."),
    ("lower-case-list-without-names", "we need salt, pepper, flour and sugar"),
    ("pronoun-not-initial", "Can I Have 2 Normal Plastic spinners"),
    ("lettered-series", "Is Vitamin D Deficiency linked to Hepatitis B Virus?"),
    ("hyphenated-words", "a Follow-Up visit and a long-term plan"),
    ("call-me-back", "Please call me back tomorrow."),
    ("lower-case-name-is-not", "my name is not important, what about statins?"),
    ("lower-case-drug-is-from", "ozempic is from a danish company"),
    ("pronoun-after-name-question", "What's your name? I'm not sure what to put."),
    ("english-word-brainchild", "Research is the brainchild of curiosity."),
    ("role-subject", "Doctor said I should rest."),
    ("camel-case-subject", "ChatGPT said the dose was fine and NASA wrote back."),
    ("article-not-initial", "i need to take a walker to the clinic"),
    ("vocative-word", "Thanks, everyone!"),
    ("english-word-before-novel", "I liked the new novel."),
    ("pronoun-given-to", "He gave them his word."),
    ("lower-case-is-from-english-word", "she is from work"),
    ("lower-case-english-office", "the main office is at the end of the hall"),
]


@pytest.mark.parametrize(("text", "expected"), [row[1:] for row in NAMES], ids=[row[0] for row in NAMES])
def test_name_rules_find_people_and_organisations(text: str, expected: set[tuple[str, str]]) -> None:
    assert {(text[s:e], kind) for s, e, kind in find_names(text)} >= expected


def test_a_name_found_once_is_found_again_later() -> None:
    text = "Nurse Aantje Mourik called; tell Aantje to call back"
    spacy_person = [(6, 19, "PERSON")]
    assert {(text[s:e], k) for s, e, k in find_names(text, spacy_person)} == {
        ("Aantje", "PERSON"),
        ("Mourik", "PERSON"),
    }


WIDENED = [
    ("unknown-given-name-before", "then Esat Jeknić arrived", "Jeknić", {("Esat Jeknić", "PERSON")}),
    (
        "initial-and-given-name",
        "ask Juliusz A Kwiatkowski",
        "Kwiatkowski",
        {("Juliusz A Kwiatkowski", "PERSON")},
    ),
    ("hyphenated-tail", '"Fine," says Hauta-aho.', "Hauta", {("Hauta-aho", "PERSON")}),
    (
        "organisation-after-of",
        "Vilma Holm of Kestrelsoft is the CEO",
        "Vilma Holm",
        {("Kestrelsoft", "ORGANIZATION")},
    ),
]


@pytest.mark.parametrize(
    ("text", "spacy_name", "expected"), [row[1:] for row in WIDENED], ids=[row[0] for row in WIDENED]
)
def test_a_found_name_grows_over_unknown_words_next_to_it(
    text: str, spacy_name: str, expected: set[tuple[str, str]]
) -> None:
    start = text.index(spacy_name)
    found = find_names(text, [(start, start + len(spacy_name), "PERSON")])
    assert {(text[s:e], kind) for s, e, kind in found} >= expected


def test_a_found_name_does_not_grow_over_english_words() -> None:
    text = "Yesterday Csonka called"
    start = text.index("Csonka")
    found = find_names(text, [(start, start + 6, "PERSON")])
    assert {text[s:e] for s, e, _ in found} == {"Csonka"}


@pytest.mark.parametrize("text", [row[1] for row in NOT_NAMES], ids=[row[0] for row in NOT_NAMES])
def test_name_rules_leave_plain_words_alone(text: str) -> None:
    assert find_names(text) == []


CLEAN_QUESTIONS = [
    "What is the max dose of metformin for a 70 kg adult with CKD stage 3?",
    "Is Type 2 diabetes reversible with diet alone?",
    "Take 2 tablets by mouth twice daily for 10 days: is that right for amoxicillin?",
    "What are the first-line treatments for Graves' disease?",
    "How should I taper prednisone after a 5 day course?",
    "Will a patient with Parkinson's disease tolerate levodopa at 100 mg three times a day?",
]


@pytest.mark.parametrize("text", CLEAN_QUESTIONS)
def test_clinical_question_without_identifiers_stays_clean(engine: DetectionEngine, text: str) -> None:
    assert engine.analyze([text]) == [[]]


def test_engine_reports_whole_address_block_and_names(engine: DetectionEngine) -> None:
    text = "Billing address: Ana Dias\n    31401 ul. Słowicza 10 Apt. 360\n   Wrocław\n    53-320"
    findings = engine.analyze([text])[0]
    kinds = {(text[f.start : f.end], f.entity_type) for f in findings}
    assert ("31401 ul. Słowicza 10 Apt. 360\n   Wrocław\n    53-320", "STREET_ADDRESS") in kinds
    assert any(kind == "PERSON" and "Ana Dias" in value for value, kind in kinds)
