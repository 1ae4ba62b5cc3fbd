"""Presidio's phone recognizer with the same results and far fewer libphonenumber parses.

Presidio's ``PhoneRecognizer`` runs libphonenumber's ``PhoneNumberMatcher`` once per region (8 by
default). The matcher cuts the text into candidates (the same for every region) and, for each,
calls ``parse`` and ``is_valid_number``; that is ~75 parses per 1 KB prompt, most of them on
"192", "2", "2023" or an SSN, which no region can accept. ``FastPhoneRecognizer`` changes three
things, each exact:

* **Skip a parse that cannot give a valid number.** ``_Matcher`` returns "no match" for a
  candidate without parsing it when the candidate is too short for the region (the argument is
  in ``_Matcher._cannot_be_valid``). Every other candidate takes libphonenumber's own path.
* **Search candidates once.** The 8 matchers of one text share their candidate searches (the
  same text and start index give the same regex match, whatever the region).
* **Parse each found number once.** Presidio re-parses every match without a region to name the
  region in the explanation; that result depends on the matched text only, so it is kept per
  text for the duration of one ``analyze`` call.

The result list is then built exactly as Presidio builds it (same order, same explanations,
including the one Presidio words with the region of an earlier match) and deduplicated by
Presidio's own ``remove_duplicates``. ``tests/detection/test_phone.py`` compares both recognizers
on the benchmark corpus, both presidio-research data sets and a table of awkward strings.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, cast

import phonenumbers
from phonenumbers import Leniency, NumberParseException, PhoneMetadata, PhoneNumberMatcher
from phonenumbers import phonenumbermatcher as _libmatcher
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, COUNTRY_CODES_FOR_NON_GEO_REGIONS
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from privacy_router.detection.regexscan import group_depths

_PLUS_CHARS = "+\uff0b"  # libphonenumber's plus signs (phonenumberutil._PLUS_CHARS)
# The matcher's candidate pattern and its trim of a second number, as its own _find uses them.
_CANDIDATE: Any = getattr(_libmatcher, "_PATTERN")  # noqa: B009  # private, absent from the stubs
_SECOND_NUMBER_START: Any = getattr(_libmatcher, "_SECOND_NUMBER_START_PATTERN")  # noqa: B009


def _shortest(metadata: Any) -> int:
    """Shortest national significant number a region accepts; 0 when its metadata has no lengths."""
    lengths = metadata.general_desc.possible_length if metadata is not None else ()
    return min(lengths) if lengths else 0


@functools.cache
def _shortest_anywhere() -> int:
    """Shortest valid national number of any region or non-geographic code (4 in phonenumbers 9.0)."""
    regions = [PhoneMetadata.metadata_for_region(r, None) for r in phonenumbers.SUPPORTED_REGIONS]
    nongeo = [PhoneMetadata.metadata_for_nongeo_region(c, None) for c in COUNTRY_CODES_FOR_NON_GEO_REGIONS]
    return min(_shortest(m) for m in regions + nongeo)


def _starts_with_literal_zero(pattern: str) -> bool:
    """True when every match of ``pattern`` starts with "0": a literal 0, not optional, no top-level ``|``."""
    if not pattern.startswith("0") or pattern[1:2] in ("?", "*", "{"):
        return False
    depth = 0
    for _, ch, depth in group_depths(pattern):
        if ch == "|" and depth == 0:
            return False
    return depth == 0  # the last depth yielded: 0 when the parentheses balance


@functools.cache
def _region_bounds(region: str) -> tuple[int, int, bool] | None:
    """(any-path bound, national-path bound, IDD starts with 0) for a region; None if unknown."""
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or metadata.country_code is None:
        return None
    same_code = COUNTRY_CODE_TO_REGION_CODE.get(metadata.country_code, (region,))
    national = min(_shortest(PhoneMetadata.metadata_for_region(r, None)) for r in same_code)
    idd = metadata.international_prefix
    return (
        min(_shortest_anywhere() + 1, national),
        national,
        idd is not None and _starts_with_literal_zero(idd),
    )


class _Matcher(PhoneNumberMatcher):  # type: ignore[misc]  # phonenumbers ships no annotations here
    """libphonenumber's matcher that does not parse candidates that cannot be valid numbers.

    It also shares candidate searches between the matchers of one text: ``_find`` is
    libphonenumber's loop, with ``_PATTERN.search(text, index)`` looked up in ``searches`` (the
    same text and index give the same match, whatever the region).
    """

    def __init__(self, text: str, region: str, leniency: int | None, searches: dict[int, Any]) -> None:
        # None raises ValueError in libphonenumber, as it does under Presidio's recognizer.
        super().__init__(text, region, leniency=leniency)  # type: ignore[arg-type]
        self._searches = searches

    def _search(self, index: int) -> Any:
        if index not in self._searches:
            self._searches[index] = _CANDIDATE.search(self.text, index)
        return self._searches[index]

    def _find(self, index: int) -> Any:
        found = self._search(index)
        while self._max_tries > 0 and found is not None:
            start = found.start()
            candidate = self._trim_after_first_match(_SECOND_NUMBER_START, self.text[start : found.end()])
            if len(candidate) >= self._min_candidate_length:
                match = self._extract_match(candidate, start)
                if match is not None:
                    return match
                self._max_tries -= 1
            found = self._search(start + len(candidate))
        return None

    def _parse_and_verify(self, candidate: str, offset: int) -> Any:
        if self.leniency >= Leniency.VALID and self._cannot_be_valid(candidate):
            return None
        return super()._parse_and_verify(candidate, offset)

    def _cannot_be_valid(self, candidate: str) -> bool:
        """True only if ``is_valid_number(parse(candidate, region))`` is False (or parse raises).

        A valid number's national significant number (NSN) has one of the lengths its region's
        metadata lists (``general_desc.possible_length``, checked first by ``_number_type_helper``).
        Every NSN digit comes from one character of the candidate that is a digit or a letter
        (letters become digits in vanity numbers), so the NSN is at most ``alnum`` long. The NSN's
        region is either one sharing the default region's country code (number written
        nationally) or any region, after at least one digit of country code (after "+" or the
        international prefix): so ``alnum >= min(shortest anywhere + 1, shortest national)``.
        If the candidate has no ";" (RFC 3966 parameters) and its first plus-or-digit character
        is a digit 1-9, parse starts the number there (no "+"), and its normalised form starts
        with that digit; when the region's international prefix always starts with 0, only the
        national reading remains: ``alnum >= national``.
        """
        bounds = _region_bounds(self.preferred_region) if self.preferred_region else None
        if bounds is None:
            return False
        any_path, national, idd_starts_with_zero = bounds
        alnum = sum(1 for ch in candidate if ch.isalnum())
        if alnum < any_path:
            return True
        if not idd_starts_with_zero or alnum >= national or ";" in candidate:
            return False
        for ch in candidate:  # libphonenumber's start character: a plus sign or a decimal digit
            if ch in _PLUS_CHARS or ch.isdecimal():
                return ch in "123456789"
        return False


class FastPhoneRecognizer(PhoneRecognizer):  # type: ignore[misc]  # Presidio's class is untyped
    """``PhoneRecognizer`` with identical results (see the module docstring); reported under its name."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "PhoneRecognizer")
        super().__init__(**kwargs)

    @classmethod
    def like(cls, stock: PhoneRecognizer) -> FastPhoneRecognizer:
        """A fast recognizer configured as ``stock`` (context, language, entity, regions, leniency, name)."""
        return cls(
            context=list(stock.context),
            supported_language=stock.supported_language,
            supported_entity=stock.supported_entities[0],
            supported_regions=stock.supported_regions,
            leniency=stock.leniency,
            name=stock.name,  # type: ignore[has-type]  # unannotated in Presidio
        )

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        regions_of: dict[str, str | None] = {}  # matched text -> its region (or _UNPARSEABLE)
        searches: dict[int, Any] = {}
        results: list[RecognizerResult] = []
        for region in self.supported_regions:
            # Presidio's loop rebinds its region variable to each parsed match's region, and an
            # unparseable match is explained with whatever that variable holds: the same here.
            label = region
            for match in _Matcher(text, region, self.leniency, searches):
                raw = text[match.start : match.end]
                if raw not in regions_of:
                    regions_of[raw] = _region_without_default(raw)
                if regions_of[raw] != _UNPARSEABLE:
                    label = regions_of[raw]
                results.append(self._get_recognizer_result(match, text, label, nlp_artifacts))  # type: ignore[no-untyped-call]
        return EntityRecognizer.remove_duplicates(results)  # type: ignore[no-any-return]


_UNPARSEABLE = "\x00unparseable"


def with_fast_phone(recognizers: Iterable[EntityRecognizer]) -> list[EntityRecognizer]:
    """``recognizers`` with each stock ``PhoneRecognizer`` replaced by its twin at the same place.

    The place matters: the analyzer's final deduplication keeps the first of two equal results
    (same type, span and score), so a different order could change a finding's detector name.
    """
    return [FastPhoneRecognizer.like(r) if type(r) is PhoneRecognizer else r for r in recognizers]


def _region_without_default(raw: str) -> str | None:
    """Presidio's ``region_code_for_number(parse(raw))``, or ``_UNPARSEABLE`` where parse raises."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(raw))  # type: ignore[no-any-return]
    except NumberParseException:
        return _UNPARSEABLE


def measure(rounds: int = 3) -> None:
    """CPU ms per bench 1 KB prompt, Presidio's recognizer against this one, alone and in the engine.

    ``.venv/bin/python -c 'from privacy_router.detection.phone import measure; measure()'``:
    rounds interleave the two variants; the engine's findings must be identical with either.
    """
    import statistics
    import time

    from privacy_router.bench import corpus
    from privacy_router.config import DetectionSettings
    from privacy_router.detection.engine import DetectionEngine

    docs = corpus.prompts(40, 1024, 4, corpus.COMMON_KINDS + corpus.PHI_KINDS, seed=11)
    texts = [d.text for d in docs]
    engine = DetectionEngine.from_settings(DetectionSettings())
    recognizers = cast(list[EntityRecognizer], engine._analyzer.registry.recognizers)  # swapped in place
    at = [type(r).__name__ for r in recognizers].index("FastPhoneRecognizer")
    variants: dict[str, Any] = {"presidio": PhoneRecognizer(), "fast": recognizers[at]}

    def median_ms(run: Any) -> float:
        samples = []
        for text in texts:
            started = time.process_time()
            run(text)
            samples.append(time.process_time() - started)
        return statistics.median(samples) * 1000

    findings: dict[str, list[Any]] = {}
    for name, recognizer in variants.items():  # warm-up: metadata, compiled patterns
        recognizers[at] = recognizer
        findings[name] = engine.analyze(texts)
    for i in range(1, rounds + 1):
        for name, recognizer in variants.items():
            recognizers[at] = recognizer
            alone = median_ms(lambda t: recognizer.analyze(t, ["PHONE_NUMBER"]))  # noqa: B023
            whole = median_ms(lambda t: engine.analyze([t]))
            print(
                f"round {i} {name:8}: recognizer {alone:.2f} ms, engine {whole:.2f} ms CPU per prompt, median"
            )
    recognizers[at] = variants["fast"]
    print("identical engine findings:", findings["presidio"] == findings["fast"])
