"""Postal addresses as whole blocks: the street line and the unit, city, region, postcode and country
that follow it.

HIPAA Safe Harbor identifier (B), "all geographic subdivisions smaller than a State, including street
address, city, county, precinct, zip code" (45 CFR 164.514(b)(2)(i)(B)). A street line alone is not
enough: "Kiannonkatu 98" scrubbed and "OULU, Finland 80896" left in place still locates the person.
So this recognizer finds an *anchor* (a shape only a street line, a unit or a postal box has) and
then extends the finding over the address's tail, segment by segment, for as long as each segment
looks like an address part. The patterns are written for the shapes of US, UK, Nordic, Central
European and Romance-language addresses (UPU's S42 address templates: house number before or after
the street name, unit designators, postcodes before or after the town), not for any dataset.

Anchors:

* house number, street name, house number ("6750 Koskikatu 25": the first number is a building or
  PO number, the second the house number) or a house number and a street-type word ("17 Gordon
  Terrace"; USPS Publication 28 appendix C1 suffixes, the common ones);
* a street-type prefix or suffix and a number ("ul. Słowicza 10", "Via Roma 131", "Pohlstrasse 9",
  "Erzsébet tér 19.");
* unit designators and boxes ("Apt. 864", "Suite 501", "P.O. Box 211", "PSC 6695, Box 2353",
  "FPO AE 12382"; USPS Publication 28 appendix C2 and section 237 for military addresses);
* "the corner of X and Y" (an intersection names a place as precisely as a house number).

The name words must be capitalised, as they are in addresses, unless the text has no capital letter
at all (lower-cased chat): then any word counts except English function words, which end a name.
The tail: after a comma, a line break (with quote marks such as ">") or a space, a unit, a postcode,
a region code or a run of capitalised words (a town, "United Kingdom", "Cyprus (Greek)"); after a
line break, any short line without a colon, "@" or "/" (an address block's town line, whatever its
script or case). The finding never crosses a sentence end.
"""

from __future__ import annotations

from collections.abc import Iterator

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from privacy_router.detection.results import recognizer_result


def word_set(text: str) -> frozenset[str]:
    """A word list written as one space-separated string."""
    return frozenset(text.split())


ENTITY = "STREET_ADDRESS"
NAME = "AddressRecognizer"
STRONG = 0.65  # a street line with a number, a unit, a box, an intersection
BLOCK_LIMIT = 240  # characters one address may span (the longest postal block plus its tail)

# USPS Publication 28, appendix C1 (street suffixes), the common ones, plus UK and Commonwealth types.
STREET_TYPES = (
    "street|st|road|rd|avenue|ave|av|boulevard|blvd|lane|ln|drive|dr|court|ct|courts|parkway|pkwy"
    "|highway|hwy|terrace|ter|circle|cir|square|sq|trail|trl|crescent|cres|close|place|pl|way|ways"
    "|alley|plaza|loop|pike|run|row|walk|crossing|xing|crossroad|crossroads|junction|point|points"
    "|park|parks|green|greens|gardens|grove|hill|hills|heights|mews|rise|vale|view|views|ridge"
    "|bypass|causeway|expressway|freeway|turnpike|route|radial|pass|gateway|harbor|harbour|island"
    "|islands|isle|creek|dam|fork|forks|falls|ford|fords|mill|mills|port|ports|prairie|rapids"
    "|summit|union|unions|ville|village|villages|extension|extensions|estate|estates|meadow|meadows"
    "|orchard|oval|quay|wharf|cliff|cliffs|cove|coves|forge|forges|glen|glens|haven|knoll|knolls"
    "|lake|lakes|landing|manor|manors|mount|mountain|plains|ranch|shoal|shoals|shore|shores"
    "|spring|springs|station|stream|track|trace|well|wells|wood|woods|bluff|bluffs|branch|bridge"
    "|brook|brooks|burg|center|centre|common|commons|corner|corners|course|curve|divide|fields"
    "|flat|flats|hollow|inlet|key|keys|lodge|lights|locks|motorway|mall|overpass|path|ramp|rest"
    "|river|skyway|spur|throughway|tunnel|underpass|valley|viaduct|vista|walkway|wynd|yard|str"
)
# Words that stand before the name in Romance, Slavic, Greek and other street names.
STREET_PREFIXES = (
    r"ul\.|ulica|al\.|aleja|rue|avenue|av\.|avda\.?|avenida|boulevard|bd\.?|chemin|impasse|allée|quai"
    r"|route|via|viale|piazza|piazzale|piazzetta|corso|largo|vicolo|strada|calle|paseo|plaza|camino"
    r"|carrera|carrer|rúa|rua|travessa|praça|estrada|rodovia|c/|trg|odos|οδός|λεωφόρος|πλατεία|leof\."
)
# Word endings that make a word a street name in German, Dutch, Nordic, Finnish, Estonian and
# Hungarian addresses ("Pohlstrasse", "Populierenstraat", "Nybyvägen", "Kiannonkatu", "Luite tee").
STREET_SUFFIXES = (
    r"stra(?:ss|ß)e|str\.|gasse|weg|platz|allee|ring|damm|ufer|graben|markt|brücke|steig|pfad|zeile"
    r"|straat|laan|plein|dreef|singel|kade|gracht|hove|dijk|steenweg|baan"
    r"|gatan|gata|gate|vägen|väg|gränd|gade|vej|vænget|stræde|torv|veien|vegen|veg|vei|stien"
    r"|stígur|stræti|straeti|braut|vegur|tún"
    r"|katu|tie|kuja|polku|ranta|raitti|kaari|väylä|tee|tänav|maantee|põik"
    r"|utca|út|útja|tér|körút|köz|sor|sétány|rkp\.|u\."
)
UNIT = r"(?:apt|apartment|suite|ste|unit|flat|room|rm|floor|fl)\.?[ \t]*#?[ \t]*\d{1,5}[a-z]?\b"
BOX = (
    r"(?:p\.?[ \t]?o\.?[ \t]*box|postbox|post[ \t]+box|pmb|(?:psc|unit|cmr)[ \t]+\d{3,5},?[ \t]*box)"
    r"[ \t]*\d{1,6}\b"
)
MILITARY = r"(?:(?:usns|usnv|uss|uscgc)[ \t]+[\p{L}-]+\s+)?(?:apo|fpo|dpo)[ \t]+(?:aa|ae|ap)[ \t]+\d{5}\b"
# Postcodes: US ZIP(+4), Canadian, UK, Dutch "1234 AB", Polish "12-345", Swedish/Czech "123 45", and
# plain 3 to 6 digits (the segment is only taken in an address's tail, never on its own).
POSTCODE = (
    r"(?:\d{5}-\d{4}|[a-z]\d[a-z][ \t]?\d[a-z]\d|[a-z]{1,2}\d[a-z\d]?[ \t]?\d[a-z]{2}|\d{4}[ \t]?[a-z]{2}"
    r"|\d{2}-\d{3}|\d{3}[ \t]\d{2}|\d{3,6})\b(?![ \t.-]?\d)"
)
# Lower-case words allowed inside a capitalised place or street name ("Chiclana de la Frontera",
# "Ostrov nad Ohrí", "Gerrit Achterberghove", "Willemine ten Pas Straat").
CONNECTIVES = word_set(
    "de del della delle dei di da das do dos du des la le les el los las y e i a u v z na nad pod am "
    "an im auf bei ob van von der den ter ten het op aan sur sous upon"
)
# English function words end a name in lower-cased text ("i live at 12 main st and i ...").
FUNCTION_WORDS = word_set(
    "and or but to at in on for with the of is are was were be been am i you he she we they it my "
    "your his her our their a an from by after before please call me us them this that there here "
    "then when if so as not no yes can could would will should may might must do does did have has "
    "had get got go going went come came also just now today tomorrow tonight yesterday last next "
    "week weeks month months year years night morning evening ago"
)
MONTHS = word_set(
    "january february march april may june july august september october november december jan feb "
    "mar apr jun jul aug sep sept oct nov dec"
)
# Words that number a schedule, a grade or a place in a document, never a street ("Cycle 2 Day 1",
# "Week 3 Day 5", "Stage 2 Grade 3", "Chapter 4 Verse 7").
SCHEDULE_WORDS = word_set(
    "day days week weeks month months year years cycle cycles stage stages grade grades type types "
    "phase phases step steps chapter verse part section level visit visits dose doses round rounds "
    "room bed page line table figure fig item question session lesson unit units hour hours"
)
# What may not follow the last number of a street line: a unit of measure or a percentage sign
# ("2 Tylenol 500 mg", "Week 3 Day 5 %" are doses and schedules, not addresses).
_NOT_A_HOUSE = r"(?![ \t]*(?:%|mg|mcg|µg|ml|g|kg|lbs?|mmol|units?|iu|cm|mm|km|mi|miles|hours?|h|min|x)\b)"

NAMED_ANCHORS = 8  # the first eight anchor patterns contain a street name (checked by _words_ok)
_W = r"[\p{L}\p{M}'’∆-]"  # a word character of a name (letters of any script, marks, apostrophes)
_CONNECTIVE = "(?:" + "|".join(sorted(CONNECTIVES, key=len, reverse=True)) + r")\b"


def _word(cap: bool, dot: bool = True) -> str:
    first = r"[\p{Lu}∆]" if cap else r"[\p{L}∆]"
    stop = r"\.?" if dot else ""
    return rf"(?:{first}{_W}*+{stop})"


def _anchor_patterns(cap: bool) -> list[regex.Pattern[str]]:
    word, anyword = _word(cap), _word(False)
    name = rf"{word}(?:[ \t]+{anyword}){{0,4}}"  # first word capitalised, then up to four more
    any_name = rf"{anyword}(?:[ \t]+{anyword}){{0,4}}"
    number = r"\d{1,5}[a-z]?\.?"
    house = r"(?<![\w.,/:+-])(?:\d{1,6}[a-z]?[ \t]+){1,2}"
    i = "(?i:"
    return [
        # 6750 Koskikatu 25 | 20789 Allika 46 | 31401 ul. Słowicza 10 | 9243 Avenue d'Ouchy 109
        regex.compile(rf"{house}{i}{STREET_PREFIXES}[ \t]+)?{name}[ \t]+{number}(?![\w/-]){_NOT_A_HOUSE}"),
        # 17 Gordon Terrace | 3911 Fourth Avenue | 515 385 Gemsbok St
        regex.compile(rf"{house}{name}[ \t]+{i}(?:{STREET_TYPES}))\b\.?"),
        # 63 Rue de Kairouan | 36 rue de pologne (the number before a Romance street name)
        regex.compile(rf"{house}{i}(?:{STREET_PREFIXES}))[ \t]+{any_name}(?=[ \t]*(?:[,\n]|$))"),
        # ul. Słowicza 10 | Via Roma 131 | Rúa do Paseo 46 | Avda. Rio Nalon 58
        regex.compile(
            rf"(?<![\w.])(?:\d{{1,6}}[ \t]+)?{i}(?:{STREET_PREFIXES}))[ \t]+{any_name}[ \t]+{number}(?![\w/-])"  # noqa: E501 (one regular expression, easier to read unbroken)
        ),
        # Pohlstrasse 9 | Augsburger Strasse 36 | Erzsébet tér 19. | Luite tee 87
        regex.compile(
            rf"(?<![\w.])(?:\d{{1,6}}[ \t]+)?(?:{word}[ \t]+){{0,2}}{_W}*{i}(?:{STREET_SUFFIXES}))[ \t]+{number}(?![\w/-])"  # noqa: E501 (one regular expression, easier to read unbroken)
        ),
        # After an address phrase, a name and a number: "lives at Kesk 53", "return to Leon and Eyrarodda 66"
        regex.compile(
            rf"(?i:\baddress\b[^.?!\n]{{0,40}}?\b(?:is|to|at|:)|\blives?[ \t]+(?:at|on|in)|\bsen[dt][ \t]+(?:(?:it|them|this|that|one|a[ \t]+new[ \t]+one)[ \t]+)?to|\btaxi[ \t]+to|\barrived[ \t]+at"  # noqa: E501 (one regular expression, easier to read unbroken)
            rf"|\breturn(?:ed)?[ \t]+(?:it[ \t]+)?to|\bdeliver(?:ed)?[ \t]+to|\bship(?:ped)?[ \t]+to|\bmeet[ \t]+(?:me|you|us)[ \t]+at"  # noqa: E501 (one regular expression, easier to read unbroken)
            rf"|\blocated[ \t]+at|\boffices?[ \t]+(?:is|are)[ \t]+at|\b(?:is|are|was|were)[ \t]+(?:on|at))[ \t:]+"  # noqa: E501 (one regular expression, easier to read unbroken)
            rf"(?P<a>(?:{word}[ \t]+(?:and[ \t]+)?){{1,3}}{number})(?![\w/-]){_NOT_A_HOUSE}"
        ),
        # 9816 214 Pavlou Drandaki: two numbers before a name (building and house number)
        regex.compile(
            rf"(?<![\w.,/:+-])\d{{1,6}}[ \t]+\d{{1,5}}[a-z]?[ \t]+{word}(?:[ \t]+{word}){{0,3}}{_NOT_A_HOUSE}"
        ),
        # a street named without a number: "on Miletić Dale Street", "at Berg Hills Road"
        regex.compile(
            rf"(?<=\b(?i:on|at|off|along|onto|near|corner[ \t]+of)[ \t]+)(?:{word}[ \t]+){{1,3}}"
            rf"(?i:street|road|avenue|lane|boulevard|drive|way|square|place|terrace|crescent)\b"
        ),
        # the corner of ul. Cicha 86 and Leokadia Trail
        regex.compile(
            r"(?i:(?:the[ \t]+)?corner[ \t]+of)[ \t]+[^\n,;?!{}]{2,60}?[ \t]+(?i:and|&)[ \t]+"
            r"[^\n,;?!{}]{2,60}?(?=[ \t]*(?:[,;?!\n]|\.(?:\s|$)|$|[ \t]+(?:after|before|please|for|at|in|on)\b))"  # noqa: E501 (one regular expression, easier to read unbroken)
        ),
        regex.compile(rf"(?i:\b{UNIT}|(?:\d{{1,6}}[ \t]+)?\b{BOX}|\b{MILITARY})"),
    ]


def _tail_patterns(cap: bool) -> tuple[regex.Pattern[str], regex.Pattern[str], regex.Pattern[str]]:
    # No full stop inside a town name: "New Zealand. Please call" ends at the stop (``_ends_sentence``).
    # "and", "of", "the" join the words of a country's name ("Trinidad and Tobago", "Kingdom of the
    # Netherlands") when a capitalised word follows them.
    joiner = r"(?:and|of|the)(?=[ \t]+(?:the[ \t]+)?\p{Lu}\p{Ll})"
    word = rf"(?:{_word(cap, dot=False)}|{_CONNECTIVE}|{joiner})"
    # A town may carry a district number before its postcode ("Karlovy Vary 17", "Praha 4").
    place = rf"{word}(?:[ \t]+{word}){{0,4}}\.?(?![ \t]*:)(?:[ \t]*\([^()\n]{{1,30}}\))?(?:[ \t]+\d{{1,2}}(?![\d.:/-]))?(?:[ \t]+(?i:{POSTCODE}))?"  # noqa: E501 (one regular expression, easier to read unbroken)
    structured = rf"(?:(?i:{UNIT}|{BOX}|{MILITARY})|(?i:[a-z]{{1,3}}[ \t]+)?(?i:{POSTCODE})|{place})"
    newline = r"[ \t]*,?[ \t]*(?:\r?\n[ \t>?*|•-]*)+"
    return (
        regex.compile(rf"(?:{newline}|[ \t]*,[ \t]*|[ \t]+){structured}"),
        # After a line break: any short line (a town in any script or case, "nan", a region code).
        regex.compile(rf"{newline}([^\n:@/?!.]{{1,48}})(?=\n|$|\?|\.)(?![ \t]*:)"),
        regex.compile(
            rf"(?:{newline}|[ \t]*,[ \t]*|[ \t]+)(?:\p{{Lu}}{{2,3}}\b|\p{{L}}{{2,3}}(?=[ \t]*(?:$|[,\n])))"
        ),
    )


_CAP = (_anchor_patterns(True), _tail_patterns(True))
_ANY = (_anchor_patterns(False), _tail_patterns(False))


def _skip_function_words(text: str, start: int, end: int) -> int:
    """Move ``start`` past leading English function words ("on hegyalja út 98." -> "hegyalja út 98.")."""
    for m in regex.finditer(r"\S+", text[start:end]):
        if m.group().casefold() not in FUNCTION_WORDS:
            return start + int(m.start())
    return start


def _words_ok(span: str, lower_doc: bool) -> bool:
    """A name in lower-cased text may not contain function words; no name is a month and a day
    ("in 2019 May 5"), though a name may start with a month's letters ("Jan and Archkogl 67")."""
    words = [w.strip(".,'’").casefold() for w in span.split()]
    alpha = [w for w in words if w and not w[0].isdigit()]
    if alpha and alpha[0] in MONTHS:
        after = words[words.index(alpha[0]) + 1 :]
        if len(alpha) == 1 or (after and after[0][:1].isdigit()):
            return False
    if any(w in SCHEDULE_WORDS for w in alpha):
        return False
    return not (lower_doc and any(w in FUNCTION_WORDS for w in alpha))


def find_addresses(text: str) -> list[tuple[int, int]]:
    """(start, end) of each address block in ``text``; overlapping or touching blocks are merged."""
    lower_doc = not any(c.isupper() for c in text)
    anchors, (tail, line, code) = _ANY if lower_doc else _CAP
    spans: list[tuple[int, int]] = []
    for index, pattern in enumerate(anchors):
        for m in pattern.finditer(text):
            group = "a" if "a" in pattern.groupindex else 0
            begin = m.start(group)
            if index < NAMED_ANCHORS:
                begin = _skip_function_words(text, begin, m.end(group)) if lower_doc else begin
                if not _words_ok(text[begin : m.end(group)], lower_doc):
                    continue
            start = _extend_back(text, begin, lower_doc)
            spans.append((start, _extend(text, m.end(group), tail, line, code, lower_doc, start)))
    return _merge(text, spans)


_BACK_CAP = regex.compile(r"(?:\p{Lu}[\p{L}\p{M}'’-]*[ \t]+){1,3}$")
_BACK_NUMBER = regex.compile(r"(?<![\w.,/:+-])\d{1,6}[ \t]+$")
# The other street of an intersection written "X and <street>" ("Hastings and 17 Main Street").
_BACK_CROSSING = regex.compile(r"(?<![\p{L}\p{M}'’-])\p{Lu}[\p{L}\p{M}'’-]+[ \t]+(?:and|&)[ \t]+$")


def _extend_back(text: str, start: int, lower_doc: bool) -> int:
    """Take in a building or PO number and capitalised name words just before a street that starts
    with a number ("Storgarden 52 Trajanka Forks", "45818 P.O. Box 242"), and the other street of an
    intersection ("Hastings and 17 Main Street")."""
    before = text[max(0, start - 60) : start]
    m = _BACK_NUMBER.search(before)
    if m is not None:
        return start - (len(before) - int(m.start()))
    m = None if lower_doc else _BACK_CROSSING.search(before)
    if m is not None and m.group().split()[0].casefold() not in FUNCTION_WORDS:
        return start - (len(before) - int(m.start()))
    if not lower_doc and start < len(text) and text[start].isdigit():
        m = _BACK_CAP.search(before)
        if m is not None and _words_ok(m.group(), True):
            return start - (len(before) - int(m.start()))
    return start


def _extend(
    text: str,
    end: int,
    tail: regex.Pattern[str],
    line: regex.Pattern[str],
    code: regex.Pattern[str],
    lower_doc: bool,
    start: int,
) -> int:
    while end - start < BLOCK_LIMIT:
        m = tail.match(text, end) or code.match(text, end)
        if m is not None and lower_doc and not _words_ok(m.group(), lower_doc):
            # Lower-cased text: keep the town, stop before the first function word after it.
            stop = next(
                (w.start() for w in regex.finditer(r"\S+", m.group()) if w.group() in FUNCTION_WORDS), 0
            )
            m = tail.match(text, end, end + stop) if stop else None
        if m is not None and _words_ok(m.group(), lower_doc) and not _ends_sentence(text, end):
            end = m.end()
            continue
        m = line.match(text, end)
        if m is not None and _town_line(m.group(1)):
            end = m.end()
            continue
        break
    return end


def _town_line(line: str) -> bool:
    """A short line with a letter or a postcode; a phone number's line (7+ digits) is not a town."""
    return 0 < len(line.split()) <= 6 and sum(c.isdigit() for c in line) <= 6


def _ends_sentence(text: str, end: int) -> bool:
    """True when the text before ``end`` closes a sentence ("... Finland. I now live in ...").

    A full stop after a number ("Erzsébet tér 19.") or after a street abbreviation ("Str.") does not.
    """
    m = _LAST_WORD.search(text, max(0, end - 24), end)
    if m is None:
        return False
    return not (m.group(1)[-1].isdigit() or m.group(1).casefold() in ABBREVIATIONS)


_LAST_WORD = regex.compile(r"(\w+)\.$")
ABBREVIATIONS = word_set("st str rd ave av avda blvd bd dr ln ct pl sq apt ste u ul al rkp jr sr mt ft")


def _merge(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and (start <= merged[-1][1] or not text[merged[-1][1] : start].strip(" \t,")):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class AddressRecognizer(EntityRecognizer):
    """Presidio recognizer reporting STREET_ADDRESS over whole address blocks (no NLP needed)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[ENTITY], name=NAME, supported_language="en")

    def load(self) -> None:
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if ENTITY not in entities:
            return []
        return list(self._results(text))

    def _results(self, text: str) -> Iterator[RecognizerResult]:
        for start, end in find_addresses(text):
            while end > start and text[end - 1] in " \t\r\n,>":
                end -= 1
            yield recognizer_result(self, ENTITY, start, end, STRONG)
