"""The same Rego on both engines gives the same decisions (DESIGN.md: "Two engines, one contract").

The embedded engine (regopy in-process) and the opa engine (HTTP to the OPA Data API test double,
which evaluates with regopy too: no OPA binary can be installed here) are fed a generated matrix
from the shipped residency data and must agree on every field of every decision.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest

from privacy_router.errors import PolicyUnavailable
from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.policy.matrix import covering_matrix, residency_axes
from privacy_router.policy.opa import OpaPolicyEngine
from privacy_router.policy.opa_testserver import OpaTestServer
from privacy_router.resources import resource_dir

POLICIES = resource_dir("policies")
RESIDENCY = json.loads((POLICIES / "data" / "residency.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def opa_engine() -> Iterator[OpaPolicyEngine]:
    with OpaTestServer(POLICIES) as server:
        yield OpaPolicyEngine(server.url, timeout_s=10.0)


def _outcome(engine: EmbeddedPolicyEngine | OpaPolicyEngine, doc: dict[str, object]) -> object:
    """Every field of the decision: ``Decision.__eq__`` leaves ``fallbacks`` out, so it is compared
    on its own."""
    try:
        decision = engine.evaluate(doc)  # type: ignore[arg-type]
    except PolicyUnavailable as exc:
        return f"unavailable: {exc.message}"
    return decision, decision.fallbacks


def test_both_engines_decide_every_generated_input_identically(
    engine: EmbeddedPolicyEngine, opa_engine: OpaPolicyEngine
) -> None:
    cases = list(covering_matrix(RESIDENCY))
    differing = [case for case, doc in cases if _outcome(engine, doc) != _outcome(opa_engine, doc)]
    assert differing == []
    jurisdictions, regions = residency_axes(RESIDENCY)
    # Every value of every axis occurs: 34 jurisdictions x 6 classes, 2 x 25 regions, 32 edge cases.
    assert (len(jurisdictions), len(regions), len(cases)) == (34, 25, 34 * 6 + 2 * 25 + 32)
    assert {case.split("/")[0] for case in [c for c, _ in cases][:204]} == set(jurisdictions)
    assert {case.split("/")[2] for case, _ in cases if case.count("/") == 4} == set(regions)
    # Both residency polarities are in the matrix: personal data scrubbed out, and kept home.
    actions = Counter(
        (case.split("/")[1], engine.evaluate(doc).action) for case, doc in cases if case.count("/") == 4
    )
    assert actions[("PII", "external_scrubbed")] > 0
    assert actions[("PII", "onprem")] > 0
    assert actions[("PHI", "external")] + actions[("PHI", "external_scrubbed")] == 0
