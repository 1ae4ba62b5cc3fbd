"""Measured accuracy: load a labelled dataset, run a detector, score it as the benchmark README says.

The datasets, their label mappings, their artefacts and the scoring rules are those of
``/work/shared/benchmarks/detection/README.md`` (the "detection benchmarks" README); this module is
our own implementation of those rules:

* per type (after mapping both gold and predicted types): a gold span is *found* when predictions
  of its type cover at least half of its non-whitespace characters; a prediction (minus the
  characters inside ignored gold spans) is a true positive when gold spans of its type cover at
  least half of it. F2 = 5PR / (4P + R) weights recall above precision.
* leak rate (type-agnostic): a gold span in scope leaks when any of its non-whitespace characters
  lies outside the union of all predicted spans.
* document recall: documents with at least one gold span in scope that the detector flags.
* clean-document flag rate: distinct texts without any gold span that get at least one finding.

Two detectors run side by side in one process: ours (``DetectionEngine``) and stock Presidio
(``AnalyzerEngine`` with its default recognizers over the same spaCy pipeline).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import SpacyNlpEngine

from privacy_router.detection.engine import LANGUAGE, DetectionEngine, OfflineEmailRecognizer, load_pipeline

Format = Literal["presidio", "conll", "deidgate"]
Span = tuple[int, int, str]
# A detector maps texts to predicted (start, end, entity type) per text.
Detector = Callable[[list[str]], list[list[Span]]]

IGNORE = None
# Gold label -> scored entity name (None: ignored), per dataset family. From the benchmark README's
# "suggested mapping" tables, unchanged.
GOLD_MAPPING: dict[Format, dict[str, str | None]] = {
    "presidio": {
        "PERSON": "PERSON",
        "STREET_ADDRESS": "LOCATION",
        "ADDRESS": "LOCATION",
        "GPE": "LOCATION",
        "LOCATION": "LOCATION",
        "ZIP_CODE": "LOCATION",
        "ORGANIZATION": "ORGANIZATION",
        "DATE_TIME": "DATE_TIME",
        "CREDIT_CARD": "CREDIT_CARD",
        "PHONE_NUMBER": "PHONE_NUMBER",
        "EMAIL_ADDRESS": "EMAIL_ADDRESS",
        "IBAN_CODE": "IBAN_CODE",
        "US_SSN": "US_SSN",
        "IP_ADDRESS": "IP_ADDRESS",
        "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
        "DOMAIN_NAME": "URL",
        "NRP": "NRP",
        "AGE": "AGE",
        "TITLE": IGNORE,
        "PREFIX": IGNORE,
    },
    "conll": {
        "person": "PERSON",
        "location": "LOCATION",
        "corporation": "ORGANIZATION",
        "group": "ORGANIZATION",
        "product": IGNORE,
        "creative-work": IGNORE,
    },
    "deidgate": {
        "name": "PERSON",
        "date": "DATE_TIME",
        "geo": "LOCATION",
        "phone": "PHONE_NUMBER",
        "fax": "PHONE_NUMBER",
        "email": "EMAIL_ADDRESS",
        "ssn": "US_SSN",
        "url": "URL",
        "ip": "IP_ADDRESS",
        "account": "US_BANK_NUMBER",
        "mrn": "MRN",
        "health_plan": "HEALTH_PLAN_ID",
        "license": "LICENSE_NUMBER",
        "device": "DEVICE_ID",
        "vehicle": "VEHICLE_ID",
        "biometric": "BIOMETRIC_ID",
        "photo": "PHOTO_ID",
        "other": "ID",
    },
}

# Our entity types -> the benchmark's names, so that per-type scores compare like with like. Types
# not listed keep their name (and are left out of per-type tables when the dataset lacks them,
# while still counting for the leak rate and the clean-document flag rate).
PREDICTION_MAPPING: dict[str, str] = {
    "MEDICAL_RECORD_NUMBER": "MRN",
    "DATE_OF_BIRTH": "DATE_TIME",
    "ADMISSION_DATE": "DATE_TIME",
    "PERSONAL_DATE": "DATE_TIME",
    "AGE_OVER_89": "DATE_TIME",
    "STREET_ADDRESS": "LOCATION",
    "ZIP_CODE": "LOCATION",
    "ACCOUNT_NUMBER": "US_BANK_NUMBER",
    "VIN": "VEHICLE_ID",
    "BANK_ACCOUNT_NUMBER": "US_BANK_NUMBER",
    "DOMAIN_NAME": "URL",
}

# Honorific-only PERSON spans are artefacts (benchmark README, presidio-research quirks).
HONORIFICS = frozenset({"mr.", "mrs.", "ms.", "dr.", "miss", "mx."})
# WNUT-17's second clean-document rate counts only these types (benchmark README, section 4).
NAME_TYPES = frozenset({"PERSON", "LOCATION", "ORGANIZATION"})


@dataclass(frozen=True)
class Document:
    text: str
    spans: tuple[Span, ...]  # gold (start, end, original label)
    ident: str = ""


@dataclass(frozen=True)
class Dataset:
    name: str
    format: Format
    documents: tuple[Document, ...]

    @property
    def mapping(self) -> dict[str, str | None]:
        return GOLD_MAPPING[self.format]


class DatasetError(ValueError):
    """A dataset file that does not have the documented shape (the message names file and record)."""


def guess_format(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "presidio"
    if suffix == ".conll":
        return "conll"
    if suffix == ".jsonl":
        return "deidgate"
    raise DatasetError(
        f"{path}: cannot tell the format from the suffix; pass --format presidio|conll|deidgate"
    )


def load_dataset(path: Path, fmt: Format | None = None) -> Dataset:
    fmt = fmt or guess_format(path)
    loaders: dict[Format, Callable[[Path], list[Document]]] = {
        "presidio": _load_presidio,
        "conll": _load_conll,
        "deidgate": _load_deidgate,
    }
    return Dataset(path.name, fmt, tuple(loaders[fmt](path)))


def _load_presidio(path: Path) -> list[Document]:
    records = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(records, list):
        raise DatasetError(f"{path}: expected a JSON array of documents")
    docs = []
    for index, rec in enumerate(records):
        try:
            spans = tuple(
                (int(s["start_position"]), int(s["end_position"]), str(s["entity_type"]))
                for s in rec["spans"]
            )
            docs.append(Document(str(rec["full_text"]), spans, str(index)))
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{path}: record {index} lacks full_text or well-formed spans") from None
    return docs


def _load_conll(path: Path) -> list[Document]:
    """One document per sentence: tokens joined by one space, BIO tags turned into spans."""
    docs: list[Document] = []
    rows: list[tuple[str, str]] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for line_no, line in enumerate([*lines, ""], start=1):
        if line.strip():
            parts = line.split("\t")
            if len(parts) != 2:
                raise DatasetError(f"{path}: line {line_no} is not 'token<TAB>tag'")
            rows.append((parts[0], parts[1].strip()))
            continue
        if not rows:
            continue  # any whitespace-only line is a sentence break; runs of them are one break
        text = ""
        spans: list[Span] = []
        open_type: str | None = None
        for token, tag in rows:
            start = len(text) + (1 if text else 0)
            text = f"{text} {token}" if text else token
            kind = None if tag == "O" else tag[2:]
            if tag.startswith("I-") and kind == open_type and spans:
                spans[-1] = (spans[-1][0], len(text), spans[-1][2])
            elif kind is not None:
                spans.append((start, len(text), kind))
            open_type = kind
        docs.append(Document(text, tuple(spans), str(len(docs))))
        rows = []
    return docs


def _load_deidgate(path: Path) -> list[Document]:
    """Value-only gold: each value's first occurrence not overlapping a span already placed."""
    docs = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        note = json.loads(line)
        text, ident = note["text"], str(note["id"])
        spans: list[Span] = []
        for item in note["phi"]:
            value = item["value"]
            pos = text.find(value)
            while pos >= 0 and any(pos < e and s < pos + len(value) for s, e, _ in spans):
                pos = text.find(value, pos + 1)
            if pos < 0:
                # The note id and category only: the value itself is the identifier.
                raise DatasetError(
                    f"{path}: line {line_no} ({ident}): a {item['category']} value is not in the text"
                )
            spans.append((pos, pos + len(value), str(item["category"])))
        docs.append(Document(text, tuple(spans), ident))
    return docs


def split_gold(doc: Document, mapping: dict[str, str | None]) -> tuple[list[Span], list[Span]]:
    """(scored spans with mapped types, ignored spans); artefacts ("nan", bare honorifics) are ignored."""
    scored: list[Span] = []
    ignored: list[Span] = []
    for start, end, label in doc.spans:
        value = doc.text[start:end]
        artefact = value == "nan" or (label == "PERSON" and value.lower() in HONORIFICS)
        if label not in mapping:
            raise DatasetError(f"document {doc.ident}: gold label {label!r} has no mapping")
        target = None if artefact else mapping[label]
        if target is None:
            ignored.append((start, end, label))
        else:
            scored.append((start, end, target))
    return scored, ignored


def _chars(text: str, spans: Iterable[tuple[int, int, str]]) -> set[int]:
    return {i for s, e, _ in spans for i in range(max(s, 0), min(e, len(text))) if not text[i].isspace()}


@dataclass
class TypeScore:
    support: int = 0
    found: int = 0
    true_pos: int = 0
    false_pos: int = 0

    @property
    def precision(self) -> float | None:
        scored = self.true_pos + self.false_pos
        return self.true_pos / scored if scored else None

    @property
    def recall(self) -> float | None:
        return self.found / self.support if self.support else None

    @property
    def f2(self) -> float:
        p, r = self.precision, self.recall
        return 5 * p * r / (4 * p + r) if p and r else 0.0


@dataclass
class Report:
    per_type: dict[str, TypeScore]
    in_scope: int
    leaked: int
    docs_with_gold: int
    docs_flagged: int
    clean_docs: int
    clean_flagged: int
    clean_flagged_names: int
    leaks: list[tuple[str, str, str]] = field(default_factory=list)  # (doc id, label, value)

    @property
    def leak_rate(self) -> float | None:
        return self.leaked / self.in_scope if self.in_scope else None

    @property
    def document_recall(self) -> float | None:
        return self.docs_flagged / self.docs_with_gold if self.docs_with_gold else None

    @property
    def clean_flag_rate(self) -> float | None:
        return self.clean_flagged / self.clean_docs if self.clean_docs else None

    @property
    def clean_flag_rate_names(self) -> float | None:
        return self.clean_flagged_names / self.clean_docs if self.clean_docs else None

    def leaks_by_label(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, label, _ in self.leaks:
            counts[label] = counts.get(label, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def score(dataset: Dataset, predictions: Sequence[Sequence[Span]]) -> Report:
    """Score predictions (already mapped to the benchmark's type names) against the gold spans."""
    if len(predictions) != len(dataset.documents):
        raise ValueError("one prediction list per document is required")
    golds = [split_gold(d, dataset.mapping) for d in dataset.documents]
    types = sorted({t for scored, _ in golds for _, _, t in scored})
    per_type = {t: TypeScore() for t in types}
    in_scope = leaked = with_gold = flagged = 0
    clean: dict[str, tuple[bool, bool]] = {}
    leaks: list[tuple[str, str, str]] = []
    for doc, preds, (scored, ignored) in zip(dataset.documents, predictions, golds, strict=True):
        text = doc.text
        covered = _chars(text, preds)
        labels = {(s, e): label for s, e, label in doc.spans}
        for start, end, kind in scored:
            gold = _chars(text, [(start, end, kind)])
            in_scope += 1
            if not gold <= covered:
                leaked += 1
                leaks.append((doc.ident, labels.get((start, end), kind), text[start:end]))
            same = _chars(text, [p for p in preds if p[2] == kind])
            per_type[kind].support += 1
            per_type[kind].found += 2 * len(gold & same) >= len(gold)
        if scored:
            with_gold += 1
            flagged += bool(preds)
        skip = _chars(text, ignored)
        for start, end, kind in preds:
            if kind not in per_type:
                continue
            rest = _chars(text, [(start, end, kind)]) - skip
            if not rest:
                continue
            gold_same = _chars(text, [g for g in scored if g[2] == kind])
            if 2 * len(rest & gold_same) >= len(rest):
                per_type[kind].true_pos += 1
            else:
                per_type[kind].false_pos += 1
        if not doc.spans:
            any_hit = bool(preds)
            name_hit = any(p[2] in NAME_TYPES for p in preds)
            was_any, was_name = clean.get(text, (False, False))
            clean[text] = (was_any or any_hit, was_name or name_hit)
    total = TypeScore()
    for s in per_type.values():
        total.support += s.support
        total.found += s.found
        total.true_pos += s.true_pos
        total.false_pos += s.false_pos
    per_type["ALL (micro)"] = total
    return Report(
        per_type=per_type,
        in_scope=in_scope,
        leaked=leaked,
        docs_with_gold=with_gold,
        docs_flagged=flagged,
        clean_docs=len(clean),
        clean_flagged=sum(a for a, _ in clean.values()),
        clean_flagged_names=sum(n for _, n in clean.values()),
        leaks=leaks,
    )


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def render(dataset: Dataset, reports: dict[str, Report], *, show_leaks: int = 0) -> str:
    """A plain-text (Markdown-compatible) side-by-side table of several detectors on one dataset."""
    names = list(reports)
    lines = [f"## {dataset.name} ({len(dataset.documents)} documents, format {dataset.format})", ""]
    head = "| type | support | " + " | ".join(f"{n} P | {n} R | {n} F2" for n in names) + " |"
    lines += [head, "|" + "---|" * (2 + 3 * len(names))]
    first = reports[names[0]]
    for kind in first.per_type:
        cells = []
        for n in names:
            s = reports[n].per_type[kind]
            cells += [_fmt(s.precision), _fmt(s.recall), f"{s.f2:.3f}"]
        lines.append(f"| {kind} | {first.per_type[kind].support} | " + " | ".join(cells) + " |")
    lines += ["", "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    rows: list[tuple[str, Callable[[Report], str]]] = [
        ("leak rate", lambda r: f"{_fmt(r.leak_rate)} ({r.leaked}/{r.in_scope})"),
        ("document recall", lambda r: f"{_fmt(r.document_recall)} ({r.docs_flagged}/{r.docs_with_gold})"),
        (
            "clean-document flag rate",
            lambda r: f"{_fmt(r.clean_flag_rate)} ({r.clean_flagged}/{r.clean_docs})",
        ),
        (
            "clean flag rate, PERSON/LOCATION/ORGANIZATION only",
            lambda r: f"{_fmt(r.clean_flag_rate_names)} ({r.clean_flagged_names}/{r.clean_docs})",
        ),
    ]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(reports[n]) for n in names) + " |")
    lines.append("")
    for n in names:
        by_label = ", ".join(f"{k} {v}" for k, v in reports[n].leaks_by_label().items()) or "none"
        lines.append(f"leaked spans by label, {n}: {by_label}")
    if show_leaks:
        for n in names:
            lines.append(f"first {show_leaks} leaked spans, {n}:")
            lines += [f"  {ident} {label} {value!r}" for ident, label, value in reports[n].leaks[:show_leaks]]
    lines.append("")
    return "\n".join(lines)


def run_detector(detector: Detector, dataset: Dataset, batch: int = 64) -> list[list[Span]]:
    texts = [d.text for d in dataset.documents]
    out: list[list[Span]] = []
    for i in range(0, len(texts), batch):
        out.extend(detector(texts[i : i + batch]))
    return [[(s, e, PREDICTION_MAPPING.get(t, t)) for s, e, t in preds] for preds in out]


def ours(engine: DetectionEngine) -> Detector:
    def detect(texts: list[str]) -> list[list[Span]]:
        return [[(f.start, f.end, f.entity_type) for f in fs] for fs in engine.analyze(texts)]

    return detect


def stock_presidio(spacy_model: str) -> Detector:
    """Presidio's AnalyzerEngine with its default English recognizers over the same spaCy pipeline.

    Two deviations from a bare ``AnalyzerEngine()``, both needed to run offline and neither changing
    what it detects: the already-loaded pipeline is handed over (no download), and the email
    recognizer validates domains against tldextract's bundled suffix list instead of fetching it.
    The score threshold is Presidio's default (0: every result counts).
    """
    resolved, nlp = load_pipeline(spacy_model)
    nlp_engine = SpacyNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": resolved}])
    nlp_engine.nlp = {LANGUAGE: nlp}  # type: ignore[assignment]  # Presidio annotates it None
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    registry.load_predefined_recognizers(languages=[LANGUAGE], nlp_engine=nlp_engine)
    registry.remove_recognizer("EmailRecognizer")
    registry.add_recognizer(OfflineEmailRecognizer())
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[LANGUAGE])

    def detect(texts: list[str]) -> list[list[Span]]:
        batch = nlp_engine.process_batch(texts, LANGUAGE, batch_size=32)
        return [
            [
                (r.start, r.end, r.entity_type)
                for r in analyzer.analyze(text=text, language=LANGUAGE, nlp_artifacts=artifacts)
            ]
            for text, artifacts in zip(texts, (item[1] for item in batch), strict=True)
        ]

    return detect
