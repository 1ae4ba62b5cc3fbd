"""Detector packs: YAML files of detectors, loaded into Presidio pattern recognizers.

A pack is data written by privacy engineers (see ``detectors/README.md``). Loading validates the
whole file up front: an unknown key, a bad regex, an unknown validator, or a detector without
examples of both kinds raises ``ConfigError`` naming the file and the detector, so a broken pack
stops the router at start-up instead of silently detecting less.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex
import yaml
from presidio_analyzer import Pattern, PatternRecognizer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from privacy_router.detection.validators import VALIDATORS
from privacy_router.errors import ConfigError

# The flags Presidio compiles every pattern with (PatternRecognizer's default global_regex_flags):
# IGNORECASE | MULTILINE | DOTALL. Patterns are checked at load time with the same engine
# (the third-party ``regex`` module, which Presidio uses) and the same flags.
REGEX_FLAGS = regex.IGNORECASE | regex.MULTILINE | regex.DOTALL
CLASSES_FILE = "classes.yaml"
DEFAULT_CLASS = "PII"
_ENTITY_RE = regex.compile(r"^[A-Z][A-Z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PatternSpec(_Strict):
    name: str = Field(min_length=1)
    regex: str = Field(min_length=1)
    score: float = Field(ge=0.0, le=1.0)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            compiled = regex.compile(v, REGEX_FLAGS)
        except regex.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        if compiled.fullmatch("") is not None:
            raise ValueError("regular expression matches the empty string")
        return v


class Examples(_Strict):
    match: tuple[str, ...] = Field(min_length=1)
    no_match: tuple[str, ...] = Field(min_length=1)


class DetectorSpec(_Strict):
    entity: str
    patterns: tuple[PatternSpec, ...] = Field(min_length=1)
    context: tuple[str, ...] = ()
    validator: str | None = None
    deny_list: tuple[str, ...] = ()
    allow_list: tuple[str, ...] = ()
    examples: Examples

    @field_validator("entity")
    @classmethod
    def _entity_name(cls, v: str) -> str:
        if not _ENTITY_RE.match(v):
            raise ValueError("must be UPPER_SNAKE_CASE, e.g. MEDICAL_RECORD_NUMBER")
        return v

    @field_validator("validator")
    @classmethod
    def _known_validator(cls, v: str | None) -> str | None:
        if v is not None and v not in VALIDATORS:
            raise ValueError(f"unknown validator {v!r}; known: {sorted(VALIDATORS)}")
        return v


@dataclass(frozen=True)
class Pack:
    """One loaded pack file."""

    name: str
    version: str
    path: Path
    sha256: str
    detectors: tuple[DetectorSpec, ...]

    @property
    def version_id(self) -> str:
        """``version+sha256[:12]`` of the file: what the audit log records for this pack."""
        return f"{self.version}+{self.sha256[:12]}"


def _read_yaml(path: Path) -> tuple[bytes, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"detector pack {path}: cannot be read ({exc.strerror})") from None
    try:
        return raw, yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"detector pack {path}: not valid YAML: {exc}") from None


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
    )


def load_pack(path: Path) -> Pack:
    """Load and validate one pack file."""
    path = Path(path)
    raw, doc = _read_yaml(path)
    if not isinstance(doc, dict):
        raise ConfigError(f"detector pack {path}: must hold a mapping with pack, version, detectors")
    unknown = sorted(set(doc) - {"pack", "version", "detectors"})
    if unknown:
        raise ConfigError(f"detector pack {path}: unknown top-level key(s) {unknown}")
    name, version, detectors = doc.get("pack"), doc.get("version"), doc.get("detectors")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"detector pack {path}: 'pack' must be a non-empty name, e.g. pack: phi")
    if not isinstance(version, str) or not version:
        raise ConfigError(f"detector pack {path}: 'version' must be a quoted string, e.g. \"2026.11.1\"")
    if not isinstance(detectors, list) or not detectors:
        raise ConfigError(f"detector pack {path}: 'detectors' must be a non-empty list")
    specs: list[DetectorSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(detectors):
        label = item.get("entity") if isinstance(item, dict) else None
        where = f"detector pack {path}, detector {label or f'#{index}'}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be a mapping")
        try:
            spec = DetectorSpec.model_validate(item)
        except ValidationError as exc:
            raise ConfigError(f"{where}: {_describe(exc)}") from None
        if spec.entity in seen:
            raise ConfigError(f"{where}: entity defined twice in this pack; merge the two blocks")
        seen.add(spec.entity)
        specs.append(spec)
    return Pack(name, version, path, hashlib.sha256(raw).hexdigest(), tuple(specs))


def discover_packs(folder: Path) -> list[Path]:
    """Every ``*.yaml`` pack in a folder except the class mapping, in name order."""
    return sorted(p for p in Path(folder).glob("*.yaml") if p.name != CLASSES_FILE)


def load_packs(paths: Iterable[Path]) -> list[Pack]:
    packs = [load_pack(p) for p in paths]
    names = [p.name for p in packs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"detector packs: pack name(s) {dupes} used by more than one file")
    return packs


def load_classes(path: Path) -> tuple[dict[str, str], str]:
    """Read ``classes.yaml``: (entity type -> data class, the class of unlisted types)."""
    _, doc = _read_yaml(Path(path))
    default = doc.get("default", DEFAULT_CLASS) if isinstance(doc, dict) else DEFAULT_CLASS
    if not isinstance(default, str) or not default:
        raise ConfigError(f"class mapping {path}: 'default' must be a class name such as PII")
    classes = doc.get("classes") if isinstance(doc, dict) else None
    if not isinstance(classes, dict):
        raise ConfigError(f"class mapping {path}: must hold 'classes: {{CLASS: [ENTITY, ...]}}'")
    mapping: dict[str, str] = {}
    for data_class, entities in classes.items():
        if not isinstance(entities, list) or not all(isinstance(e, str) for e in entities):
            raise ConfigError(f"class mapping {path}: class {data_class} must list entity type names")
        for entity in entities:
            if entity in mapping:
                raise ConfigError(
                    f"class mapping {path}: {entity} is in both {mapping[entity]} and {data_class}"
                )
            mapping[entity] = str(data_class)
    return mapping, default


class PackRecognizer(PatternRecognizer):
    """A Presidio pattern recognizer built from one pack detector.

    The validator and the allow list only *reject* a match (``invalidate_result``); they never
    raise its score. Presidio's ``validate_result`` would set a validated match to score 1.0, which
    would make a bare 10-digit number with a correct Luhn digit (one in ten of them) a certain NPI.
    Here the pattern's score and the context words decide how sure a match is; the checksum only
    throws out values that cannot be real. Deny-list values are always reported.
    """

    def __init__(self, pack: str, spec: DetectorSpec) -> None:
        self._validator: Callable[[str], bool] | None = VALIDATORS[spec.validator] if spec.validator else None
        self._allow = frozenset(v.casefold() for v in spec.allow_list)
        self._deny = frozenset(v.casefold() for v in spec.deny_list)
        super().__init__(
            supported_entity=spec.entity,
            name=f"{pack}:{spec.entity}",
            supported_language="en",
            patterns=[Pattern(p.name, p.regex, p.score) for p in spec.patterns],
            context=list(spec.context),
            deny_list=list(spec.deny_list),
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        return None

    def invalidate_result(self, pattern_text: str) -> bool | None:
        folded = pattern_text.casefold()
        if folded in self._deny:
            return False
        if folded in self._allow:
            return True
        if self._validator is not None and not self._validator(pattern_text):
            return True
        return None


def recognizers(pack: Pack) -> list[PackRecognizer]:
    return [PackRecognizer(pack.name, spec) for spec in pack.detectors]
