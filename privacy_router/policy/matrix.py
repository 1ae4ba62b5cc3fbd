"""A generated matrix of policy inputs, from the policy's own data (``data/residency.json``).

Used by ``privacy-router policy check`` (every output validated against the contract) and by the
differential test of the two engines. The residency product is exhaustive: every tenant
jurisdiction the data names (exports and aliases, plus one unknown ``ZZ``) x every data class
(plus an unknown one, and clean text) x every backend region (plus an unknown one) x the health of
the on-prem and of the external backend. ``edge_cases`` adds the rest of the input space the
default policy reacts to: detector failures, unscannable parts, client hints, the model pin, no
backends at all.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

UNKNOWN_JURISDICTION = "ZZ"
UNKNOWN_REGION = "unknown-region-1"
CLASSES: tuple[str, ...] = ("clean", "PII", "PHI", "PCI", "CREDENTIALS", "UNKNOWN_CLASS")
# One representative entity per class (detectors/classes.yaml).
_ENTITY_OF = {
    "PII": "PERSON",
    "PHI": "MEDICAL_RECORD_NUMBER",
    "PCI": "CREDIT_CARD",
    "CREDENTIALS": "AWS_ACCESS_KEY",
    "UNKNOWN_CLASS": "UNKNOWN_ENTITY",
}
ONPREM = {"name": "vllm-a", "region": "onprem-dc1", "healthy": True, "models": ["llama-3.1-8b"]}


def detection_for(data_class: str) -> dict[str, Any]:
    if data_class == "clean":
        return {"status": "ok", "categories": [], "entities": []}
    entity = {"type": _ENTITY_OF[data_class], "count": 1, "max_score": 0.9, "fields": ["messages[0].content"]}
    return {"status": "ok", "categories": [data_class], "entities": [entity]}


def base_input(jurisdiction: str = "US") -> dict[str, Any]:
    return {
        "principal": {
            "service": "matrix",
            "tenant": "matrix",
            "jurisdiction": jurisdiction,
            "roles": ["client"],
        },
        "request": {
            "endpoint": "chat.completions",
            "model": "gpt-4o",
            "stream": False,
            "unscannable_parts": 0,
            "declared_classification": None,
        },
        "detection": detection_for("clean"),
        "backends": {"onprem": [dict(ONPREM)], "external": []},
    }


def residency_axes(residency: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(jurisdictions, regions) named by the residency data, each plus one unknown value."""
    exports = residency.get("exports") or {}
    aliases = residency.get("jurisdiction_aliases") or {}
    regions = residency.get("regions") or {}
    jurisdictions = [*sorted({*exports, *aliases}), UNKNOWN_JURISDICTION]
    return jurisdictions, [*sorted(regions), UNKNOWN_REGION]


def residency_matrix(residency: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(case id, input)`` for every jurisdiction x class x region x on-prem health x external health."""
    jurisdictions, regions = residency_axes(residency)
    for j, data_class, region, onprem_up, external_up in itertools.product(
        jurisdictions, CLASSES, regions, (True, False), (True, False)
    ):
        doc = base_input(j)
        doc["detection"] = detection_for(data_class)
        doc["backends"] = {
            "onprem": [{**ONPREM, "healthy": onprem_up}],
            "external": [
                {"name": "ext", "region": region, "zero_data_retention": True, "healthy": external_up}
            ],
        }
        case = f"{j}/{data_class}/{region}/onprem={'up' if onprem_up else 'down'}"
        yield f"{case}/external={'up' if external_up else 'down'}", doc


def edge_cases() -> Iterator[tuple[str, dict[str, Any]]]:
    """Inputs beyond residency: failures, hints, unscannable parts, model pin, missing backends."""
    external = {"name": "ext", "region": "us", "zero_data_retention": True, "healthy": True}
    for status in ("error", "timeout", "weird"):
        doc = base_input()
        doc["detection"] = {"status": status, "categories": [], "entities": []}
        doc["backends"]["external"] = [dict(external)]
        yield f"detector-{status}", doc
    for hint in ("public", "internal", "pii", "confidential", "phi", "pci", "credentials", "bogus"):
        for data_class in ("clean", "PII"):
            doc = base_input()
            doc["request"]["declared_classification"] = hint
            doc["detection"] = detection_for(data_class)
            doc["backends"]["external"] = [dict(external)]
            yield f"hint-{hint}/{data_class}", doc
    doc = base_input()
    doc["request"]["unscannable_parts"] = 2
    doc["backends"]["external"] = [dict(external)]
    yield "unscannable-parts", doc
    for data_class in CLASSES:
        doc = base_input()
        doc["request"]["model"] = "llama-3.1-8b"
        doc["detection"] = detection_for(data_class)
        doc["backends"]["external"] = [dict(external)]
        yield f"model-pinned/{data_class}", doc
        empty = base_input()
        empty["detection"] = detection_for(data_class)
        empty["backends"] = {"onprem": [], "external": []}
        yield f"no-backends/{data_class}", empty


def full_matrix(residency: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from residency_matrix(residency)
    yield from edge_cases()


def clone(doc: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(doc)


def covering_matrix(residency: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """A subset of ``full_matrix`` where every value of every axis occurs: every jurisdiction with
    every data class (region and health rotating), every region for personal data of an EU and a
    US tenant with both backends up (both residency polarities), and every edge case. About 300
    inputs instead of 20 000: cheap enough for a test that crosses HTTP for each."""
    jurisdictions, regions = residency_axes(residency)
    full = dict(residency_matrix(residency))
    health = [("up", "up"), ("up", "down"), ("down", "up"), ("down", "down")]
    for i, j in enumerate(jurisdictions):
        for k, data_class in enumerate(CLASSES):
            region = regions[(i * len(CLASSES) + k) % len(regions)]
            onprem, external = health[(i + k) % len(health)]
            case = f"{j}/{data_class}/{region}/onprem={onprem}/external={external}"
            yield case, full[case]
    for j in ("DE", "US"):
        for region in regions:
            case = f"{j}/PII/{region}/onprem=up/external=up"
            if case in full:
                yield case, full[case]
    yield from edge_cases()
