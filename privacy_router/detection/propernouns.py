"""Capitalised words in mid-sentence that are not English words: probably a name (issue 3).

A given name from outside the census lists ("Vsevolod") or a one-word company name ("Transunion")
has no signal around it. What it has is its shape: a capitalised word in the middle of a sentence
whose lower-case form is not an English word. Such a word is reported as a low-score PERSON, only
when spaCy has not already tagged it as a person. Not taken: a sentence's or line's first word
(unless a colon or comma follows it: a dialogue speaker "Zuzana: ..." or a name addressed "Ana,
can you"), a word after a colon, quote or bullet, an all-caps or camel-case word, a chat word
("Lol"), and words in a title-case line (a heading). The English word list is SCOWL's
(``detectors/vocab/english_words.txt``).
"""

from __future__ import annotations

from functools import lru_cache

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from privacy_router.detection.results import recognizer_result
from privacy_router.resources import resource_dir

PERSON = "PERSON"
NAME = "ProperNounRecognizer"
SCORE = 0.45
# A capitalised word: an upper-case letter, then lower-case letters only (no camel case, no caps).
_WORD = regex.compile(r"(?<![\p{L}\p{N}_'’.-])\p{Lu}\p{Ll}{2,}(?![\p{L}\p{N}_@])")
_ANY_WORD = regex.compile(r"[\p{L}][\p{L}'’-]*")
# What may come right before a sentence's first word (after spaces).
_OPENERS = frozenset(".!?:;\"'“”‘’(«[*•>#|-–—/\n")
TITLE_RATIO = 0.5
# How far to look back and ahead on the line (bounded, so long texts stay linear).
WINDOW = 200
# Chat and internet words that SCOWL does not list; capitalised they look like names.
_CHAT = (
    "lol lmao lmfao rofl omg omfg wtf btw idk tbh smh imo imho irl bro bruh bae fam gawd yall "
    "ya yo haha hahaha hehe lolz noob dude dudes vid vids selfie"
)
CHAT_WORDS = frozenset(_CHAT.split(" "))
# spaCy's person entities cover a word already. Its other types are not enough: the engine drops
# some of them later (stock filters), and two guesses of different types are both kept anyway.
_REPORTED = frozenset({"PERSON", "PER"})


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    path = resource_dir("detectors") / "vocab" / "english_words.txt"
    with path.open(encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle if line.strip() and not line.startswith("#"))


def _sentence_initial(text: str, start: int) -> bool:
    before = text[max(0, start - WINDOW) : start].rstrip(" \t")
    return not before or before[-1] in _OPENERS or before[-1].isdigit()


def _title_case_line(text: str, start: int, end: int) -> bool:
    """True when most other longer words of the line are capitalised too (a heading)."""
    line_start = text.rfind("\n", max(0, start - WINDOW), start) + 1 or max(0, start - WINDOW)
    line_end = text.find("\n", end, end + WINDOW)
    line = text[line_start:start] + " " + text[end : line_end if line_end >= 0 else end + WINDOW]
    words = [w for w in _ANY_WORD.findall(line) if len(w) > 3]
    capitalised = sum(1 for w in words if w[0].isupper())
    return len(words) >= 2 and capitalised / len(words) >= TITLE_RATIO


def _speaker_or_vocative(text: str, end: int) -> bool:
    """A sentence's first word that is a speaker ("Ubul: ...") or addressed ("Ana, can you")."""
    return text[end : end + 1] in (":", ",")


def find_proper_nouns(text: str, covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans of capitalised mid-sentence words that are not English words and not covered."""
    english = english_words()
    out: list[tuple[int, int]] = []
    for m in _WORD.finditer(text):
        start, end = m.span()
        if m.group().casefold() in english or m.group().casefold() in CHAT_WORDS:
            continue
        if _sentence_initial(text, start) and not _speaker_or_vocative(text, end):
            continue
        if any(s < end and start < e for s, e in covered) or _title_case_line(text, start, end):
            continue
        out.append((start, end))
    return out


class ProperNounRecognizer(EntityRecognizer):
    """Presidio recognizer for the rule above (reads spaCy's entities to skip covered words)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[PERSON], name=NAME, supported_language="en")

    def load(self) -> None:
        english_words()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if PERSON not in entities:
            return []
        found = nlp_artifacts.entities if nlp_artifacts is not None else []
        covered = [(e.start_char, e.end_char) for e in found if e.label_ in _REPORTED]
        return [
            recognizer_result(self, PERSON, start, end, SCORE)
            for start, end in find_proper_nouns(text, covered)
        ]
