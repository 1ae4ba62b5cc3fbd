"""The exhaustive residency test: every tenant jurisdiction x data class x backend region x backend
health named by the shipped data (policies/data/residency.json), both polarities.

The Rego version (policies/privacy_router/residency_matrix_test.rego) covers the full
jurisdiction x region product for the residency rule but only part of the decision matrix: `with`
overrides cost about 50 ms a cell in regopy. Here the full product runs against the real compiled
default policy (one compiled bundle, one evaluation per cell) and is checked against an expectation
written from the rules in policies/README.md ("Default rules"), not from the policy's helpers or
from privacy_router/policy/matrix.py.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any

import pytest

from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.resources import resource_dir

RESIDENCY: dict[str, Any] = json.loads(
    (resource_dir("policies") / "data" / "residency.json").read_text("utf-8")
)
UNKNOWN_JURISDICTION = "XX"
UNKNOWN_REGION = "mars-north-1"
# Data class -> one entity of it; "clean" has none. "GENETIC" is a class the policy does not know.
CLASSES: dict[str, str | None] = {
    "clean": None,
    "PII": "PERSON",
    "PHI": "MEDICAL_RECORD_NUMBER",
    "PCI": "CREDIT_CARD",
    "CREDENTIALS": "AWS_ACCESS_KEY",
    "GENETIC": "GENE_SEQUENCE_ID",
}
JURISDICTIONS = [*sorted({*RESIDENCY["exports"], *RESIDENCY["jurisdiction_aliases"]}), UNKNOWN_JURISDICTION]
REGIONS = [*sorted(RESIDENCY["regions"]), UNKNOWN_REGION]
HEALTH = (True, False)


def policy_input(
    jurisdiction: str, data_class: str, region: str, onprem_up: bool, external_up: bool
) -> dict[str, Any]:
    entity = CLASSES[data_class]
    return {
        "principal": {"service": "svc", "tenant": "t", "jurisdiction": jurisdiction, "roles": ["client"]},
        "request": {
            "endpoint": "chat.completions",
            "model": "gpt-4o",
            "stream": False,
            "unscannable_parts": 0,
            "declared_classification": None,
        },
        "detection": {
            "status": "ok",
            "categories": [] if entity is None else [data_class],
            "entities": []
            if entity is None
            else [{"type": entity, "count": 1, "max_score": 0.9, "fields": ["messages[0].content"]}],
        },
        "backends": {
            "onprem": [{"name": "dc1", "region": "onprem", "healthy": onprem_up, "models": ["llama-3.1-8b"]}],
            "external": [
                {"name": "cloud", "region": region, "zero_data_retention": True, "healthy": external_up}
            ],
        },
    }


# -- the expectation, from policies/README.md ----------------------------------------------------


def may_export(jurisdiction: str, region: str) -> bool:
    """README "Layout"/data: a member state answers to its legal area (jurisdiction_aliases); the
    region's jurisdiction must be in that area's export list; unknown regions or areas: never."""
    area = RESIDENCY["jurisdiction_aliases"].get(jurisdiction, jurisdiction)
    destination = RESIDENCY["regions"].get(region)
    return destination is not None and destination in RESIDENCY["exports"].get(area, [])


def expected(
    jurisdiction: str, data_class: str, region: str, onprem_up: bool, external_up: bool
) -> tuple[str, str | None, list[str]]:
    """(action, backend, scrub_entities) by README "Default rules, in order of precedence"."""
    onprem = ("onprem", "dc1", [])
    block = ("block", None, [])
    if data_class == "clean":
        return ("external", "cloud", []) if external_up else onprem if onprem_up else block
    if data_class == "PII":
        if external_up and may_export(jurisdiction, region):
            return ("external_scrubbed", "cloud", ["PERSON"])
        return onprem if onprem_up else block
    return onprem if onprem_up else block  # sensitive, and unknown classes are sensitive


# 20 400 evaluations at about 3 ms of CPU each: about a minute alone, several on a loaded machine.
@pytest.mark.timeout(1800)
def test_every_jurisdiction_class_region_and_health_routes_as_the_rules_say(
    engine: EmbeddedPolicyEngine,
) -> None:
    cells = list(itertools.product(JURISDICTIONS, CLASSES, REGIONS, HEALTH, HEALTH))
    wrong: list[tuple[Any, ...]] = []
    actions: Counter[tuple[str, str]] = Counter()
    permitted_pairs: set[tuple[str, str]] = set()
    for cell in cells:
        decision = engine.evaluate(policy_input(*cell))
        got = (decision.action, decision.backend, list(decision.scrub_entities))
        if got != expected(*cell):
            wrong.append((*cell, got))
        actions[(cell[1], decision.action)] += 1
        if cell[1] == "PII" and decision.action == "external_scrubbed":
            permitted_pairs.add((cell[0], cell[2]))
    assert wrong[:5] == []
    # The size of the product for the shipped data: 34 jurisdictions (33 named + 1 unknown) x 6 data
    # classes x 25 regions (24 named + 1 unknown) x 2 on-prem health x 2 external health.
    assert (len(JURISDICTIONS), len(REGIONS), len(cells)) == (34, 25, 34 * 6 * 25 * 4)
    # Both polarities: the pairs the policy let personal data out to are exactly the permitted ones,
    # and there are permitted and refused pairs (a policy refusing every export would fail here).
    oracle_pairs = {(j, r) for j in JURISDICTIONS for r in REGIONS if may_export(j, r)}
    assert permitted_pairs == oracle_pairs
    assert 0 < len(oracle_pairs) < len(JURISDICTIONS) * len(REGIONS)
    assert {("DE", "eu-west"), ("DE", "uk-south"), ("US", "us-east"), ("UK", "eu-central")} <= oracle_pairs
    assert not {("DE", "us-east"), (UNKNOWN_JURISDICTION, "eu-west"), ("US", UNKNOWN_REGION)} & oracle_pairs
    # Refused personal data stays home (or is blocked with no on-prem), and sensitive data never leaves.
    assert actions[("PII", "onprem")] > 0 and actions[("PII", "block")] > 0
    for data_class in ("PHI", "PCI", "CREDENTIALS", "GENETIC"):
        assert actions[(data_class, "external")] + actions[(data_class, "external_scrubbed")] == 0
