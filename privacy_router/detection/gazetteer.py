"""Names of people and organisations that the small spaCy model misses, found by rules and name lists.

HIPAA Safe Harbor identifier (A), "names" (45 CFR 164.514(b)(2)(i)(A)). en_core_web_sm finds about
two thirds of the person names in short chat-like text; what it misses is mostly a given name on its
own ("my kid Lukas"), a name in a list ("Gaetane, Hannah and Derek"), a name after a label ("Name:
Sieda Batukayev", "Directed By: Leena O Sasi") or a name written again later in the same text. The
rules here are those signals, each a general property of English text, not of any dataset:

* a courtesy title before capitalised words ("Dr. Cindy Holinka", "Mrs. Yudina");
* a label or a kinship word before capitalised words ("patient:", "called", "my son");
* a given name from the US Census Bureau's 1990 name frequency lists (shipped in the ``names``
  package), capitalised, with the capitalised surname or initial that follows it;
* a list of two or more capitalised single words joined by commas and "and", one of which is a
  given name or a surname from those lists ("Monjeau, Graves and Reed");
* in lower-cased text, a given name from the lists followed by another word ("patricia desrosiers");
* every later occurrence of a word that is part of a name already found in the text (spaCy's
  PERSON entities included);
* the shape of a full name: a middle initial ("Szabina J Gelencsér") or a Dutch or German particle
  ("Maika van de Noort") between capitalised words, a double-barrelled pair of census surnames
  ("Weeks-Rivas"), "X and Y" with one known name, and the speakers of a dialogue ("Ubul: ...")
  when one of them is a known name; in lower-cased text, lists with two known given names.

A name-list hit that is also an everyday English word ("Will", "May", "Grant", "Hope") or the name
in an eponym ("Graves' disease", "Parkinson's") is not taken on the list alone.

Organisations: a legal-form or institution suffix ("Inc", "Ltd", "GmbH", "Hospital", "Partners",
"and Sons"; lower-cased too in lower-cased text),
three capitalised surnames joined as a firm name ("Davis, Reynolds and Williamson"), or a
capitalised name in an employment or company phrase ("spent a year at X", "X is a ... company",
"the X office").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

import names as census_names
import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from privacy_router.detection.address import word_set
from privacy_router.detection.propernouns import english_words
from privacy_router.detection.results import recognizer_result

PERSON = "PERSON"
ORGANIZATION = "ORGANIZATION"
NAME = "NameRecognizer"
SCORE = 0.55
# The most frequent US surnames (US Census 1990 covers 90% of the population with 88,799 names;
# the first 20,000 cover about 80%). The rarer ones are mostly everyday words or very rare names.
SURNAME_LIMIT = 20000

# Everyday English words (and a few drug and place words) that are also given names or surnames
# in the census lists: a capitalised one may start a sentence or a heading, so the list alone does
# not make it a name.
COMMON_WORDS = word_set(
    "will may june april august grant hope faith joy grace mark bill frank rose iris ivy ruby pearl "
    "max dawn art guy jack max sunny summer autumn winter spring sky star angel bliss love precious "
    "honey candy crystal amber jade jasmine daisy lily violet hazel holly heather olive ginger ray "
    "rich chase hunter gray grey brown white green black young long short little small strong price "
    "cash king prince duke earl major page bishop pope church cross hill wood woods stone rock lake "
    "field fields bridge ford banks bank rivers river park parks hall wall gates bell case cook baker "
    "miller smith taylor carter mason porter fisher walker turner parker ward marshall sharp best "
    "good love wise bright bold hardy may will can don dean chance trust sage rain storm dusty rusty "
    "sandy misty penny destiny harmony melody serenity patience charity constance prudence verity "
    "unity liberty justice royal sterling lane drew rod nick pat sue val van wade ward west north "
    "south east christian chance cliff clay dale dell glen heath moss reed rush shelby stanley "
    "virginia georgia carolina dakota florida jordan chad israel india china paris london victoria "
    "austin houston dallas denver phoenix orlando lincoln kent devon chester warren troy sydney "
    "florence eugene marion charlotte adelaide allegra aleve lasix norman french english irish scott "
    "welsh german dutch swiss roman tuesday wednesday thursday friday saturday sunday monday january "
    "february march july september october november december doctor nurse patient mother father "
    "sister brother son daughter wife husband baby child children mom dad aunt uncle grandma grandpa "
    "god lord jesus christ allah buddha devil wisdom discipline justice mercy"
)
# Surnames that name a disease, a sign or a procedure ("Graves' disease", "Parkinson's").
_EPONYM_FOLLOWER = regex.compile(
    r"\A(?:['’]s?)?[ \t]+(?i:disease|syndrome|sign|test|maneuver|manoeuvre|procedure|score|scale"
    r"|criteria|palsy|catheter|position|reflex|law|rule|classification|fracture|tumou?r|lymphoma"
    r"|sarcoma|ulcer|operation|stain|node|equation|formula|index|method|technique|effect)\b"
)
TITLES = r"(?:mr|mrs|ms|miss|mx|dr|prof|professor|sir|dame|rev|fr|sr|sra|srta|herr|frau|mme|mlle)"
# Field labels and relations after which a capitalised word is a person's name.
LABELS = (
    r"(?:name|full\s+name|first\s+name|last\s+name|surname|patient|pt|client|customer|member|contact"
    r"|attn|attention|directed\s+by|written\s+by|signed|dear|called|named|nicknamed|goes\s+by"
    r"|calls\s+me|call\s+me|speak\s+(?:to|with)|ask\s+for|talk\s+to|starring|featuring|produced\s+by"
    r"|performed\s+by|(?:what['’]?s|what\s+is)\s+your\s+name\s*\?|name\s+on\s+the\s+account\s*\?(?:\s*user\s*:)?"
    r"|(?:my|our|his|her|their)\s+(?:kid|son|daughter|child|wife|husband|partner|mother|mom|mum"
    r"|father|dad|brother|sister|friend|boss|colleague|neighbou?r|grandson|granddaughter|cousin"
    r"|nephew|niece|aunt|uncle|grandmother|grandfather|fianc[eé]e?|boyfriend|girlfriend))"
)
ORG_SUFFIXES = (
    r"inc|incorporated|llc|l\.l\.c|ltd|limited|corp|corporation|co|company|gmbh|ag|sa|s\.a|bv|nv|plc"
    r"|llp|lp|group|holdings|technologies|technology|partners|markets|bank|hospital|clinic|university"
    r"|college|institute|foundation|associates|software|systems|solutions|labs|laboratories"
    r"|insurance|agency|services|consulting|capital|ventures|pharmaceuticals|pharma|health|healthcare"
    r"|medical\s+center|medical\s+centre|motors|industries|enterprises|media|networks|bioscience"
)
ORG_NOUNS = (
    r"company|bank|firm|organi[sz]ation|corporation|business|start-?up|non-?profit|charity|agency"
    r"|provider|insurer|manufacturer|retailer|brand|platform|employer|consultancy|enterprise"
)

_CAP = r"\p{Lu}[\p{L}\p{M}'’]*(?:-\p{Lu}[\p{L}\p{M}'’]*)?"  # "Reyes-Villalobos", "O'Neil", "McConnan"
_CAP_ATOM = r"\p{Lu}[\p{L}\p{M}'’]*+(?:-\p{Lu}[\p{L}\p{M}'’]*+)?"  # _CAP that never gives letters back
_INITIAL = r"\p{Lu}\.?"
# Surname particles ("Donald van der Voet", "Willemine ten Pas"): lower case inside a name.
_PARTICLE = r"(?:van|von|ten|ter|de|der|den|da|di|du|dos|das|del|della|le|la|bin|ibn|al)"
_NAME_TAIL = rf"(?:[ \t]+(?:{_INITIAL}(?=[ \t])|{_CAP}|{_PARTICLE}(?:[ \t]+{_PARTICLE})?[ \t]+{_CAP})){{0,3}}"

_TITLED = regex.compile(rf"\b(?i:{TITLES})\.?[ \t]+(?P<n>{_CAP}{_NAME_TAIL})")
_LABELLED = regex.compile(
    rf"\b(?i:{LABELS})\b(?:[ \t]+(?i:is|was|him|her|them|me|us))?[ \t]*[:,\-?]?[ \t]*[\"'“‘]?"
    rf"(?P<n>{_CAP}{_NAME_TAIL})"
)
_CAPWORD = regex.compile(rf"(?<![\p{{L}}\p{{M}}'’-]){_CAP}")
# Lists are capped at 20 items and their words are possessive: without both, a long run of
# "Ab, Ab, ..." with no "and" costs cubic time (ReDoS; tests/detection/test_regex_cost.py).
_LIST = regex.compile(
    rf"(?<![\p{{L}}\p{{M}}'’-])(?:{_CAP_ATOM}[ \t]*,[ \t]*){{1,20}}{_CAP},?[ \t]+(?:and|&)[ \t]+{_CAP}\b"
)
# Given name, middle initial, surname ("Szabina J Gelencsér", "Vide A. Persson"): a person's
# name shape, unless the first word heads a lettered series ("Vitamin D Deficiency", "Plan B") or
# the letter is the word "I" or "A" ("Can I Have").
_INITIALLED = regex.compile(
    rf"(?<![\p{{L}}\p{{M}}'’-])(?P<f>{_CAP})[ \t]+(?![IA][ \t])\p{{Lu}}\.?[ \t]+"
    rf"(?P<l>{_CAP})(?![\p{{L}}\p{{M}}])"
)
_INITIALLED_LOWER = regex.compile(
    r"(?<![\p{L}\p{M}'’-])(?P<f>\p{Ll}[\p{Ll}\p{M}'’-]+)[ \t]+(?P<i>[a-hj-z])\.?[ \t]+"
    r"(?P<l>\p{Ll}[\p{Ll}\p{M}'’-]+)(?![\p{L}\p{M}])"
)
# A Dutch or German particle between two capitalised words is a surname ("Maika van de Noort").
_PARTICLED = regex.compile(
    rf"(?<![\p{{L}}\p{{M}}'’-])(?P<f>{_CAP})[ \t]+(?:van|von|ten|ter)(?:[ \t]+(?:de|der|den))?[ \t]+{_CAP}"
    rf"(?![\p{{L}}\p{{M}}])"
)
_NOT_INITIAL_HEADS = word_set(
    "vitamin hepatitis type plan schedule exhibit form appendix annex section part grade class stage "
    "group level phase hall building block wing floor room ward unit model series version team "
    "option step tier zone area gate terminal row seat lot plot page table figure chapter article "
    "category division blood factor protein complex item question case list size cup band channel "
    "track side route highway interstate platform strain variant subtype lane street avenue road "
    "the a an and or of in on at to for with by from"
)
# A word before "@" or "[at]" is an e-mail user name (the e-mail detectors report the address).
_EMAIL_USER = regex.compile(r"\s*(?:@|[\[(]at[\])])")
_LOWER_WORD = regex.compile(r"(?<![\p{L}\p{M}'’-])\p{Ll}[\p{Ll}\p{M}'’-]*")
_ORG_SUFFIXED = regex.compile(
    rf"(?<![\p{{L}}\p{{M}}\d'’-])(?:\d{{1,4}}[ \t]+)?(?:{_CAP}[ \t]+){{0,3}}{_CAP},?[ \t]+"
    rf"(?:(?i:{ORG_SUFFIXES})\b\.?|(?:and|&)[ \t]+(?:Sons|Co\b\.?|Partners|Associates))(?!\p{{L}})"
)
# In all-lower-case text: words before a legal form ("stillwater supercomputing inc.").
_ORG_SUFFIXED_LOWER = regex.compile(
    r"(?<![\p{L}\p{M}\d'’-])(?:\d{1,4}[ \t]+)?(?:\p{Ll}[\p{Ll}\p{M}'’-]*[ \t]+){1,3}"
    r"(?:inc|llc|ltd|gmbh|plc|corp|l\.l\.c|s\.a)\b\.?(?!\p{L})"
)
# A double-barrelled surname ("Weeks-Rivas", "rosales-mcguire"): both halves census surnames.
_HYPHENATED = regex.compile(
    r"(?<![\p{L}\p{M}'’-])(\p{L}[\p{Ll}\p{M}'’]+)-(\p{L}[\p{Ll}\p{M}'’]+)(?![\p{L}\p{M}-])"
)
# "X and Y" with capitalised X and Y.
_PAIR = regex.compile(rf"(?<![\p{{L}}\p{{M}}'’-])({_CAP})[ \t]+(?:and|&)[ \t]+({_CAP})(?![\p{{L}}\p{{M}}])")
# A speaker's name before a colon at the start of a line or sentence ("Ubul: What a wife.").
_SPEAKER = regex.compile(
    r"(?:^|(?<=[.!?\"”][ \t]{0,3}))[ \t]*(\p{L}[\p{L}\p{M}'’-]*)[ \t]*:(?=[ \t]*[\"“\p{L}])", regex.MULTILINE
)
# A list of lower-case words joined by commas and "and" ("silvana, adam, kristina and caleb").
_LOWER_LIST = regex.compile(
    r"(?<![\p{L}\p{M}'’-])(?:\p{Ll}[\p{Ll}\p{M}'’-]*+[ \t]*,[ \t]*){1,20}"
    r"\p{Ll}[\p{Ll}\p{M}'’-]*,?[ \t]+(?:and|&)[ \t]+"
    r"\p{Ll}[\p{Ll}\p{M}'’-]*(?![\p{L}\p{M}])"
)
# Labels before a colon that are not speakers.
_NOT_SPEAKERS = word_set(
    "user assistant system agent bot customer client q a question answer note notes re subject from "
    "to cc bcc date time tel fax email e-mail phone mobile address name summary warning error "
    "update edit ps nb example step tip total price"
)
_ORG_FIRM = regex.compile(rf"(?<![\p{{L}}-]){_CAP},[ \t]+{_CAP},?[ \t]+(?:and|&)[ \t]+{_CAP}\b")
_ORG_CONTEXT = regex.compile(
    rf"\b(?:(?i:works?|worked|working|employed|interned|intern|year|years|job|position|role|career)"
    rf"[ \t]+(?:at|for|with)|(?i:joined|became|is[ \t]+from|are[ \t]+from|at[ \t]+the))[ \t]+"
    rf"(?P<n>{_CAP}(?:[ \t]+{_CAP}){{0,3}})"
    rf"|(?<![\p{{L}}\p{{M}}'’-])(?P<n>{_CAP}(?:[ \t]+{_CAP}){{0,3}})[ \t]+(?:is|was)[ \t]+an?[ \t]+(?:[\p{{L}}-]+[ \t]+){{0,6}}?(?i:{ORG_NOUNS})\b"  # noqa: E501 (one regular expression, easier to read unbroken)
    rf"|\b(?i:the|our|their|a)[ \t]+(?P<n>{_CAP}(?:[ \t]+{_CAP}){{0,3}})[ \t]+(?i:office|offices|website|headquarters|team|staff|store)\b"  # noqa: E501 (one regular expression, easier to read unbroken)
    rf"|\b(?i:the[ \t]+address[ \t]+of|founders[ \t]+of|co-?founder[ \t]+of)[ \t]+"
    rf"(?P<n>{_CAP}(?:[ \t]+{_CAP}){{0,3}})"
    rf"|(?<![\p{{L}}\p{{M}}'’-])(?P<n>{_CAP}(?:[ \t]+{_CAP}){{0,3}})[ \t]+(?:is|was)[ \t]+(?:the[ \t]+brainchild|(?:co-?)?founded|headquartered)\b"  # noqa: E501 (one regular expression, easier to read unbroken)
)
# The same company phrases in lower-cased text ("the datamyne office is at", "recargo is the brainchild").
_ORG_CONTEXT_LOWER = regex.compile(
    r"\bthe[ \t]+(?P<n>\p{Ll}[\p{Ll}\p{M}\d'’-]*(?:[ \t]+\p{Ll}[\p{Ll}\p{M}\d'’-]*){0,2})[ \t]+(?:office|offices|headquarters)[ \t]+(?:is|are)\b"  # noqa: E501 (one regular expression, easier to read unbroken)
    r"|\bthe[ \t]+address[ \t]+of[ \t]+(?P<n>\p{Ll}[\p{Ll}\p{M}\d'’-]*(?:[ \t]+\p{Ll}[\p{Ll}\p{M}\d'’-]*){0,2})[ \t]+is\b"  # noqa: E501 (one regular expression, easier to read unbroken)
    r"|\bis[ \t]+from[ \t]+(?P<n>\p{Ll}[\p{Ll}\p{M}\d'’-]*)(?=[ \t]*(?:[.!?,\n]|$))"
    r"|(?:^|(?<=[.!?\n][ \t]{0,3}))(?P<n>\p{Ll}[\p{Ll}\p{M}\d'’-]*(?:[ \t]+\p{Ll}[\p{Ll}\p{M}\d'’-]*){0,4})[ \t]+(?:is|was)[ \t]+the[ \t]+brainchild\b"  # noqa: E501 (one regular expression, easier to read unbroken)
)

# Verbs whose subject is a person ("Trivo lives on ...", "Mourik began writing", "Zak shouted at").
_HUMAN_PREDICATE = (
    r"(?:lives|lived|living)[ \t]+(?:on|in|at)|shouted|yelled|whispered|said|says|told|wrote"
    r"|(?:began|started)[ \t]+writing|was[ \t]+born|grew[ \t]+up|married|graduated|retired|resigned"
    r"|listed[ \t]+(?:his|her|their)|had[ \t]+given|has[ \t]+given|spent[ \t]+a[ \t]+year"
)
# "is from" also follows products and drugs ("ozempic is from novo nordisk"): in lower-cased text only
# a name the census lists know counts before it. (Capitalised, "X is from Y" already makes Y an
# organisation, so an unknown X adds no false alarm.)
_FROM_SUBJECT = regex.compile(r"(?<![\p{L}\p{M}'’-])(?P<n>\p{L}[\p{L}\p{M}'’-]+)[ \t]+is[ \t]+from\b")
# A subject is written like a name: capitalised, then lower case ("ChatGPT said", "NASA wrote" are not).
_NAME_CASE = r"\p{Lu}[\p{Ll}\p{M}'’]+(?:-\p{Lu}[\p{Ll}\p{M}'’]+)?"
_PERSON_SUBJECT = regex.compile(
    rf"(?<![\p{{L}}\p{{M}}'’-])(?P<n>{_NAME_CASE}(?:[ \t]+{_NAME_CASE})?)[ \t]+(?:{_HUMAN_PREDICATE})\b"
)
_PERSON_SUBJECT_LOWER = regex.compile(
    rf"(?<![\p{{L}}\p{{M}}'’-])(?P<n>\p{{Ll}}[\p{{Ll}}\p{{M}}'’-]+)[ \t]+(?:{_HUMAN_PREDICATE})\b"
)
# Words that are subjects of those verbs without being names.
_NOT_SUBJECTS = word_set(
    "doctor nurse patient mother father sister brother son daughter wife husband baby child mom dad "
    "aunt uncle grandma grandpa god lord jesus christ allah buddha devil everyone everybody nobody "
    "somebody someone anyone he she they it who which that this he she one mum grandmother "
    "grandfather friend boss teacher author writer report study article paper letter note sign"
)
# "my name is selma", "everyone calls me borna": in lower-cased text too.
_NAMED_LOWER = regex.compile(
    r"(?i:\b(?:my|his|her|their|your)[ \t]+name[ \t]+is|\bcalls?[ \t]+me|\bcalled[ \t]+me"
    r"|\bstarring|\bfeaturing"
    r"|\b(?:what['’]?s|what[ \t]+is)[ \t]+your[ \t]+name[ \t]*\?|\bname[ \t]+on[ \t]+the[ \t]+account[ \t]*\?"
    r"(?:[ \t]*user[ \t]*:)?|[\"”][ \t]*,?[ \t]*says)[ \t]+"
    r"(?P<n>\p{Ll}[\p{Ll}\p{M}'’-]+(?:[ \t]+\p{Ll}[\p{Ll}\p{M}'’-]+)?)"
)
# The person a thing is given or told to: "Robert had given Chise his address", "told sara her
# results" (the possessive after the object says it is a person).
_GIVEN_TO = regex.compile(
    r"(?<![\p{L}\p{M}])(?i:gave|given|give|gives|told|tell|tells|sent|showed|shown|handed|asked)[ \t]+"
    r"(?P<n>\p{L}[\p{L}\p{M}'’-]+)[ \t]+(?i:his|her|their|my|our|your)\b"
)
# A work named after its author: "unlike the söderberg novel", "the Sage biography".
_AUTHOR_OF = regex.compile(
    r"(?<![\p{L}\p{M}])(?i:the)[ \t]+(?P<n>\p{L}[\p{L}\p{M}'’-]+)[ \t]+(?i:novel|novels|book|books|biography"
    r"|memoir|memoirs|poem|poems|play|plays|film|films|movie|version|song|songs|album|albums|essay|essays)\b"
)
# A name addressed at the end of a sentence: "don't go to town, carmen!", "thanks, Heather."
_VOCATIVE = regex.compile(
    r",[ \t]+(?P<n>\p{L}[\p{L}\p{M}'’-]+)[ \t]*[!?.]+(?=[ \t]*(?:$|\n|[\"”']))", regex.MULTILINE
)
# A name with a relation after it: "I'm Misty's daughter", "roberto's son".
_KIN_OF = regex.compile(
    r"(?<![\p{L}\p{M}'’-])(?P<n>\p{L}[\p{L}\p{M}-]+)['’]s[ \t]+(?i:daughter|son|wife|husband|mother"
    r"|mom|mum|father|dad|brother|sister|child|kid|baby|partner|boyfriend|girlfriend|fianc[eé]e?"
    r"|grandson|granddaughter|nephew|niece|cousin|widow|widower)\b"
)


@lru_cache(maxsize=1)
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """(given names, surnames), lower-cased, from the census files of the ``names`` package."""

    def read(path: str, limit: int | None = None) -> Iterator[str]:
        with Path(path).open(encoding="ascii") as handle:
            for number, line in enumerate(handle):
                if limit is not None and number >= limit:
                    return
                word = line.split(maxsplit=1)[0] if line.strip() else ""
                if word:
                    yield word.lower()

    given = frozenset(
        w
        for key in ("first:male", "first:female")
        for w in read(census_names.FILES[key])
        if w not in _FUNCTION
    )
    surnames = frozenset(w for w in read(census_names.FILES["last"], SURNAME_LIMIT) if w not in _FUNCTION)
    return given, surnames


def _is_name_word(
    word: str, given: frozenset[str], surnames: frozenset[str], *, given_only: bool = False
) -> bool:
    folded = word.casefold()
    if folded in COMMON_WORDS:
        return False
    return folded in given or (not given_only and folded in surnames)


def _eponym(text: str, end: int) -> bool:
    return _EPONYM_FOLLOWER.match(text[end : end + 40]) is not None


def _strip_common_tail(text: str, start: int, end: int) -> int:
    """Drop trailing words of a name run that are everyday words ("Derek Will" -> "Derek")."""
    words = list(regex.finditer(r"\S+", text[start:end]))
    while len(words) > 1 and words[-1].group().casefold().strip(".") in COMMON_WORDS:
        words.pop()
    return start + int(words[-1].end())


def find_names(text: str, entities: Iterable[tuple[int, int, str]] = ()) -> list[tuple[int, int, str]]:
    """(start, end, PERSON | ORGANIZATION) spans; ``entities`` are spaCy's, to propagate names from."""
    given, surnames = name_lists()
    found: list[tuple[int, int, str]] = []
    lower_doc = not any(c.isupper() for c in text)
    if lower_doc:
        words = list(_LOWER_WORD.finditer(text))
        for i, m in enumerate(words):
            word = m.group()
            if _EMAIL_USER.match(text, m.end()) is None and (
                len(word) > 2
                and word not in _FUNCTION
                and _is_name_word(word, given, surnames, given_only=True)
            ):
                # Lower case carries no name signal: a given name counts only with a surname after it.
                nxt = words[i + 1] if i + 1 < len(words) else None
                if (
                    nxt is not None
                    and text[m.end() : nxt.start()].strip() == ""
                    and (
                        _is_name_word(nxt.group(), given, surnames)
                        or (len(nxt.group()) > 2 and nxt.group() not in english_words())
                    )
                ):
                    found.append((m.start(), nxt.end(), PERSON))
    # In all-capitals text ("CAN I SPEAK TO A REAL PERSON?") capitals say nothing: titles only.
    upper_doc = not any(c.islower() for c in text)
    # After a title or a label a capitalised everyday word is a name too ("prefers to be called
    # 'Sunny'", "Dr. Hope"); only eponyms ("Dr. Parkinson's disease") are left out.
    for pattern in (_TITLED,) if upper_doc else (_TITLED, _LABELLED):
        for m in pattern.finditer(text):
            start, end = m.span("n")
            acronym = text[start:end].isupper() and end - start <= 4  # "Patient MRN 0048", "Dr. ER"
            pronoun = regex.split(r"['’]", text[start:end])[0].casefold() in _FUNCTION  # "name? I'm"
            if not acronym and not pronoun and not _eponym(text, end):
                # A courtesy title goes with the name it precedes ("Dr. Jennifer Holst"): it tells
                # gender or profession, and gold spans of the benchmarks often include it.
                begin = m.start() if pattern is _TITLED else start
                # A name that ends its line ("Name: Crystal Grant") keeps its everyday-word surname.
                whole_line = text[end : end + 1] in ("", "\n", "\r")
                found.append((begin, end if whole_line else _strip_common_tail(text, start, end), PERSON))
    for m in () if upper_doc else (*_INITIALLED.finditer(text), *_PARTICLED.finditer(text)):
        if m.group("f").casefold() not in _NOT_INITIAL_HEADS and not _eponym(text, m.end()):
            found.append((m.start(), m.end(), PERSON))
    english = english_words()
    for m in _INITIALLED_LOWER.finditer(text) if lower_doc else ():
        first, last = m.group("f"), m.group("l")
        if first in _FUNCTION or last in _FUNCTION:
            continue
        given_first = _is_name_word(first, given, surnames, given_only=True)
        if m.group("i") == "a":
            # "a" is mostly the article: a given name before it and a surname or an unknown
            # word after it ("benjamin a seiler", not "take a walker").
            if given_first and (last in surnames or last not in english):
                found.append((m.start(), m.end(), PERSON))
        elif given_first or last in surnames:
            found.append((m.start(), m.end(), PERSON))
    for m in () if upper_doc else _CAPWORD.finditer(text):
        if _is_name_word(m.group(), given, surnames, given_only=True) and not _eponym(text, m.end()):
            tail = regex.match(_NAME_TAIL, text[m.end() : m.end() + 80])
            end = m.end() + (tail.end() if tail else 0)
            found.append((m.start(), _strip_common_tail(text, m.start(), end), PERSON))
    for m in _LIST.finditer(text):
        members = _CAPWORD.findall(m.group())
        if any(_is_name_word(w, given, surnames) for w in members):
            for w in _CAPWORD.finditer(m.group()):
                found.append((m.start() + w.start(), m.start() + w.end(), PERSON))
    for pattern in (_ORG_SUFFIXED, _ORG_FIRM):
        for m in pattern.finditer(text):
            found.append((m.start(), m.end(), ORGANIZATION))
    for m in _ORG_CONTEXT.finditer(text):
        for start, end in m.spans("n"):
            name = text[start:end]
            if start < 0 or name.casefold() in COMMON_WORDS:
                continue
            # "Research is the brainchild of ...": one English word at a sentence start is no name.
            if " " not in name and name.casefold() in english and _sentence_start(text, start):
                continue
            found.append((start, end, ORGANIZATION))
    if lower_doc:
        for m in _ORG_CONTEXT_LOWER.finditer(text):
            for start, end in m.spans("n"):
                name = text[start:end]
                # One English word is no company name ("the main office is", "is from work").
                if start >= 0 and name not in _FUNCTION and (" " in name or name not in english):
                    found.append((start, end, ORGANIZATION))
        for m in _ORG_SUFFIXED_LOWER.finditer(text):
            found.append((m.start(), m.end(), ORGANIZATION))
        for m in _LOWER_LIST.finditer(text):
            members = list(_LOWER_WORD.finditer(m.group()))
            names = [w.group() for w in members if w.group() not in ("and",)]
            if len(names) == 3 and all(w in surnames and w not in COMMON_WORDS for w in names):
                found.append((m.start(), m.end(), ORGANIZATION))  # "owens, duran and oneal"
                continue
            known = sum(_is_name_word(w.group(), given, surnames, given_only=True) for w in members)
            if known >= 2:
                for w in members:
                    if w.group() not in _FUNCTION and w.group() not in ("and",):
                        found.append((m.start() + w.start(), m.start() + w.end(), PERSON))
        for m in _LOWER_WORD.finditer(text):
            # A given name with a possessive ("i'm roberto's friend"); the word pattern takes the "'s".
            word = m.group()
            if word.endswith(("'s", "’s")) and _is_name_word(word[:-2], given, surnames, given_only=True):
                found.append((m.start(), m.end() - 2, PERSON))
    for m in _HYPHENATED.finditer(text):
        first, second = m.group(1), m.group(2)
        if (first[0].isupper() == second[0].isupper()) and all(
            w.casefold() in surnames and w.casefold() not in COMMON_WORDS for w in (first, second)
        ):
            found.append((m.start(), m.end(), PERSON))
    if not upper_doc:
        for m in _PAIR.finditer(text):
            pair = (m.group(1), m.group(2))
            if any(w.casefold() in COMMON_WORDS or w.casefold() in _FUNCTION for w in pair):
                continue
            if any(_is_name_word(w, given, surnames) for w in pair) and not _eponym(text, m.end()):
                found.extend((m.start(g), m.end(g), PERSON) for g in (1, 2))
    speakers = [m for m in _SPEAKER.finditer(text) if m.group(1).casefold() not in _NOT_SPEAKERS | _FUNCTION]
    if len({m.group(1) for m in speakers}) >= 2 and any(
        _is_name_word(m.group(1), given, surnames) for m in speakers
    ):
        found.extend((m.start(1), m.end(1), PERSON) for m in speakers)
    found += _named_and_subjects(text, lower_doc, upper_doc, given, surnames)
    found += _widen(text, [*found, *entities])
    found += _propagate(text, [*found, *entities], lower_doc)
    return found


def _named_and_subjects(
    text: str, lower_doc: bool, upper_doc: bool, given: frozenset[str], surnames: frozenset[str]
) -> list[tuple[int, int, str]]:
    """Names shown by what is said of them: the subject of a verb that takes a person, a name after
    "my name is" or "call me" (any case), and the person in "X's daughter"."""
    english = english_words()
    found: list[tuple[int, int, str]] = []

    def a_name(word: str) -> bool:
        folded = word.casefold()
        if folded in _FUNCTION or folded in _NOT_SUBJECTS or len(folded) < 2:
            return False
        return folded not in english or folded in given or folded in surnames

    for m in () if upper_doc else _PERSON_SUBJECT.finditer(text):
        if all(a_name(w) for w in m.group("n").split()):
            found.append((*m.span("n"), PERSON))
    for m in _PERSON_SUBJECT_LOWER.finditer(text) if lower_doc else ():
        word = m.group("n")
        if word not in COMMON_WORDS and a_name(word):
            found.append((*m.span("n"), PERSON))
    for m in _FROM_SUBJECT.finditer(text):
        word = m.group("n")
        folded = word.casefold()
        if folded in COMMON_WORDS | _FUNCTION | _NOT_SUBJECTS:
            continue
        if folded in given or folded in surnames or (word[0].isupper() and a_name(word)):
            found.append((*m.span("n"), PERSON))
    for m in _NAMED_LOWER.finditer(text):
        words = list(regex.finditer(r"\S+", m.group("n")))
        first = words[0].group()
        # "call me back", "my name is not important": an English word right after is no name,
        # unless the name lists know it ("my name is bill").
        if first in _FUNCTION or (first in english and first not in given):
            continue
        second = words[-1].group() if len(words) > 1 else ""
        known = second in surnames or second in given or second not in english
        last = words[-1] if second and second not in _FUNCTION and known else words[0]
        start = m.start("n")
        found.append((start, start + last.end(), PERSON))
    for m in _GIVEN_TO.finditer(text):
        if a_name(m.group("n")) and m.group("n").casefold() not in COMMON_WORDS:
            found.append((*m.span("n"), PERSON))
    for m in _AUTHOR_OF.finditer(text):
        word = m.group("n")
        folded = word.casefold()
        # Capitalised, any name-like word ("the Sage novel"); lower case, only one that is no
        # English word ("the söderberg novel", not "the new novel").
        if folded not in _FUNCTION and (
            (
                word[0].isupper()
                and not _sentence_start(text, m.start("n"))
                and (a_name(word) or folded in COMMON_WORDS)
            )
            or folded not in english
        ):
            found.append((*m.span("n"), PERSON))
    for m in _VOCATIVE.finditer(text):
        word = m.group("n")
        folded = word.casefold()
        if folded in _FUNCTION | _NOT_SUBJECTS:
            continue
        # A census given name (capitalised, even an everyday word: "Heather"). Not any unknown word:
        # chat ends sentences with ", lol!" and misspellings.
        if (word[0].isupper() and folded in given) or (folded in given and folded not in COMMON_WORDS):
            found.append((*m.span("n"), PERSON))
    for m in _KIN_OF.finditer(text):
        word = m.group("n")
        if word.casefold() not in _FUNCTION | _NOT_SUBJECTS and (word[0].isupper() or a_name(word)):
            found.append((*m.span("n"), PERSON))
    return found


# One more capitalised word, or an initial, next to a name on the same line.
_LEFT_WORD = regex.compile(r"(?P<w>\p{Lu}[\p{Ll}\p{M}'’]+|\p{Lu}\.?)[ \t]+\Z")
_RIGHT_WORD = regex.compile(
    r"\A(?:[ \t]+(?P<w>\p{Lu}[\p{Ll}\p{M}'’]+)|-(?P<h>[\p{L}\p{M}]+))(?![\p{L}\p{M}])"
)
_OF_ORGANIZATION = regex.compile(rf"\A[ \t]+of[ \t]+(?P<o>{_CAP}(?:[ \t]+{_CAP}){{0,3}})(?![\p{{L}}\p{{M}}])")


def _widen(text: str, spans: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """A found person name grown over the unknown capitalised words and initials next to it
    ("Ubul Csonka" from "Csonka", "Juliusz A Kwiatkowski", "Hauta-aho"), and the organisation in
    "<name> of <Organisation>" ("Vilma Holm of Here")."""
    english = english_words()

    def unknown(word: str) -> bool:
        folded = word.casefold()
        return folded not in english and folded not in _FUNCTION and folded not in COMMON_WORDS

    out: list[tuple[int, int, str]] = []
    for start, end, kind in spans:
        if kind != PERSON or not text[start:end][:1].isupper():
            continue
        new_start, new_end = start, end
        for _ in range(2):
            left = _LEFT_WORD.search(text, max(0, new_start - 40), new_start)
            if left is None:
                break
            word = left.group("w")
            initial = len(word.rstrip(".")) == 1
            if initial:
                before = _LEFT_WORD.search(text, max(0, left.start() - 40), left.start())
                if before is None or not unknown(before.group("w")) or len(before.group("w")) < 3:
                    break
                new_start = before.start()
                break
            if not unknown(word):
                break
            new_start = left.start()
        right = _RIGHT_WORD.match(text[new_end : new_end + 40])
        if right is not None and (right.group("h") or unknown(right.group("w"))):
            new_end += right.end()
        if (new_start, new_end) != (start, end):
            out.append((new_start, new_end, PERSON))
        org = _OF_ORGANIZATION.match(text[new_end : new_end + 80])
        if org is not None and org.group("o").casefold() not in COMMON_WORDS:
            out.append((new_end + org.start("o"), new_end + org.end("o"), ORGANIZATION))
    return out


def _sentence_start(text: str, start: int) -> bool:
    before = text[max(0, start - 4) : start].rstrip(" \t")
    return not before or before[-1] in '.!?\n"“:'


_FUNCTION = word_set(
    "and or but to at in on for with the of is are was were be i you he she we they it my your his "
    "her our their a an from by after before please me us them this that there here when if so as not"
)


def _propagate(
    text: str, spans: Iterable[tuple[int, int, str]], lower_doc: bool = False
) -> list[tuple[int, int, str]]:
    """Later (and earlier) occurrences of the words of the person names already found (in lower-cased
    text, those that are not English words)."""
    english = english_words() if lower_doc else frozenset()
    words = {
        w
        for start, end, kind in spans
        if kind == PERSON
        for w in regex.findall(r"[\p{L}\p{M}'’-]{3,}", text[start:end])
        if w.casefold() not in COMMON_WORDS
        and w.casefold() not in _FUNCTION
        and (w[0].isupper() or (lower_doc and w not in english))
    }
    if not words:
        return []
    pattern = regex.compile(
        r"(?<![\p{L}\p{M}'’-])(?:"
        + "|".join(regex.escape(w) for w in sorted(words, key=len, reverse=True))
        + r")(?![\p{L}\p{M}])"
    )
    return [(m.start(), m.end(), PERSON) for m in pattern.finditer(text)]


class NameRecognizer(EntityRecognizer):
    """Presidio recognizer for the PERSON and ORGANIZATION rules above (reads spaCy's entities)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[PERSON, ORGANIZATION], name=NAME, supported_language="en")

    def load(self) -> None:
        name_lists()  # read the census files at start-up, not on the first request

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        spacy_people = [
            (e.start_char, e.end_char, PERSON)
            for e in (nlp_artifacts.entities if nlp_artifacts is not None else [])
            if e.label_ in ("PERSON", "PER")
        ]
        return [
            recognizer_result(self, kind, start, end, SCORE)
            for start, end, kind in find_names(text, spacy_people)
            if kind in entities and end > start
        ]


def not_a_person(text: str, start: int, end: int) -> bool:
    """True for a PERSON finding that is an eponym ("Graves' disease") or a lower-case everyday
    word ("the max dose"): spaCy's small model tags both as names in clinical questions."""
    surface = text[start:end]
    return _eponym(text, end) or (surface.islower() and surface.casefold() in COMMON_WORDS)
