"""OpaPolicyEngine against the OPA Data API test double: decisions, provenance, and every failure
mode failing closed (threats.md 2.2)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from privacy_router.audit.records import decision_record
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.config import PolicySettings
from privacy_router.errors import ConfigError, PolicyUnavailable
from privacy_router.policy import PolicyEngine
from privacy_router.policy.base import UndefinedDecision
from privacy_router.policy.factory import policy_engine_from_settings
from privacy_router.policy.lifecycle import ReloadingPolicyEngine
from privacy_router.policy.opa import OpaPolicyEngine, _bundle_revision
from privacy_router.policy.opa_testserver import OpaTestServer
from privacy_router.resources import resource_dir
from privacy_router.testing import free_port
from privacy_router.types import Decision, PolicyInfo, Principal

from .conftest import make_input

POLICIES = resource_dir("policies")


@pytest.fixture(scope="module")
def opa() -> Iterator[OpaTestServer]:
    with OpaTestServer(POLICIES) as server:
        yield server


@pytest.fixture
def server(opa: OpaTestServer) -> Iterator[OpaTestServer]:
    opa.fault = None
    opa.decision_logging = True
    opa.calls.clear()
    revision = opa.revision
    yield opa
    opa.fault = None
    opa.revision = revision


def test_opa_engine_decides_and_records_decision_id_and_bundle_revision(server: OpaTestServer) -> None:
    engine = OpaPolicyEngine(server.url, timeout_s=5.0)
    decision = engine.evaluate(make_input())
    assert decision == Decision(
        "external", "openai", (), ("no sensitive or personal data detected: routed external",)
    )
    assert decision.policy_info == PolicyInfo("2025.1.0", engine.info.files_hash, "opa")
    assert decision.decision_id is not None and len(decision.decision_id) == 36
    assert server.calls[-1] == "POST /v1/data/privacy_router/decision"
    assert isinstance(engine, PolicyEngine)


def test_opa_engine_without_decision_logging_has_no_decision_id(server: OpaTestServer) -> None:
    server.decision_logging = False
    decision = OpaPolicyEngine(server.url, timeout_s=5.0).evaluate(make_input())
    assert (decision.action, decision.decision_id) == ("external", None)


def test_opa_engine_reads_the_declared_failure_action(server: OpaTestServer) -> None:
    engine = OpaPolicyEngine(server.url, timeout_s=5.0)
    assert engine.failure_action == "block"
    assert "POST /v1/data/privacy_router/failure_action" in server.calls


@pytest.mark.parametrize(
    ("fault", "error_type", "message"),
    [
        ("undefined", UndefinedDecision, "OPA: policy decision is undefined for this input"),
        ("non_json", PolicyUnavailable, "OPA answered a body that is not JSON"),
        ("http_500", PolicyUnavailable, "OPA answered HTTP 500"),
        ("stall", PolicyUnavailable, "OPA did not answer within policy.timeout_s"),
        ("bad_result", PolicyUnavailable, "policy decision has an unknown action"),
    ],
    ids=["undefined-result", "non-json-body", "5xx", "timeout", "output-breaks-schema"],
)
def test_opa_failures_are_policy_unavailable(
    server: OpaTestServer, fault: str, error_type: type[Exception], message: str
) -> None:
    engine = OpaPolicyEngine(server.url, timeout_s=0.3)
    server.fault = fault
    server.stall_s = 1.0
    calls_before = len(server.calls)
    with pytest.raises(error_type) as info:
        engine.evaluate(make_input())
    assert str(info.value).startswith(message)
    # No retry: one failing call is one call (opa-python-client would retry 500/502/504).
    assert len(server.calls) - calls_before == 1


def test_opa_connection_refused_is_policy_unavailable() -> None:
    engine = OpaPolicyEngine(f"http://127.0.0.1:{free_port()}", timeout_s=0.3)
    assert engine.failure_action == "block"  # unknown until OPA answers: block
    with pytest.raises(PolicyUnavailable) as info:
        engine.evaluate(make_input())
    assert info.value.message == "OPA unreachable (connection failed)"
    assert engine.ready() is False


def test_opa_readiness_follows_health_with_bundles(server: OpaTestServer) -> None:
    engine = OpaPolicyEngine(server.url, timeout_s=5.0)
    assert engine.ready() is True
    server.fault = "not_ready"
    assert engine.ready() is False
    assert server.calls[-1] == "GET /health"


@pytest.mark.parametrize(
    ("provenance", "expected"),
    [
        (None, None),
        ({"version": "1.0"}, None),
        ({"bundles": {"b": {"revision": "r7"}}}, "r7"),
        ({"bundles": {"z": {"revision": "2"}, "a": {"revision": "1"}}}, "a:1+z:2"),
    ],
    ids=["absent", "no-bundles", "one-bundle", "two-bundles"],
)
def test_bundle_revision_from_provenance(provenance: object, expected: str | None) -> None:
    assert _bundle_revision(provenance) == expected


@pytest.mark.parametrize(
    "provenance",
    [{"bundles": {"b": {}}}, {"bundles": {"b": {"revision": "has space"}}}],
    ids=["missing-revision", "not-an-identifier"],
)
def test_bad_bundle_revision_is_policy_unavailable(provenance: object) -> None:
    with pytest.raises(PolicyUnavailable):
        _bundle_revision(provenance)


def test_factory_builds_each_engine(server: OpaTestServer) -> None:
    opa = policy_engine_from_settings(PolicySettings(engine="opa", opa_url=server.url))
    embedded = policy_engine_from_settings(PolicySettings())
    assert (type(opa), type(embedded)) == (OpaPolicyEngine, ReloadingPolicyEngine)
    assert (opa.info.engine, embedded.info.engine) == ("opa", "embedded")
    assert opa.info.files_hash == embedded.info.files_hash


def test_opa_engine_needs_a_url() -> None:
    with pytest.raises(ValueError, match=r"policy\.engine 'opa' needs policy\.opa_url"):
        PolicySettings(engine="opa")


def test_opa_query_must_be_a_plain_data_path(server: OpaTestServer) -> None:
    with pytest.raises(ConfigError, match="needs a plain path"):
        OpaPolicyEngine(server.url, query="data.x[0]")


def test_opa_failure_action_onprem_is_read_from_the_server(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    failure = root / "privacy_router" / "failure.rego"
    failure.write_text(
        failure.read_text("utf-8").replace('failure_action := "block"', 'failure_action := "onprem"')
    )
    with OpaTestServer(root) as srv:
        assert OpaPolicyEngine(srv.url, timeout_s=5.0).failure_action == "onprem"


def test_audit_record_carries_the_decision_id_and_bundle_revision_opa_sent(
    server: OpaTestServer, tmp_path: Path
) -> None:
    """OPA's bundle revision, not the local manifest's, and the decision id OPA answered with, are
    what the audit record stores (the pipeline passes ``decision.policy_info`` to the record)."""
    server.revision = "bundle-2031.4.2"
    engine = OpaPolicyEngine(server.url, timeout_s=5.0)
    assert engine.info.revision == "2025.1.0"  # the local policies/.manifest
    policy_input = make_input()
    decision = engine.evaluate(policy_input)
    assert decision.policy_info is not None
    store = SqliteAuditStore(tmp_path / "audit.db")
    try:
        store.append(
            decision_record(
                request_id="req-opa-1",
                principal=Principal("svc", "acme", "US"),
                endpoint="chat.completions",
                model="gpt-4o",
                decision=decision,
                backend_region="us",
                policy=decision.policy_info,
                pack_versions={},
                entities=[],
                categories=[],
                unscannable_parts=0,
                prompt_hmac="a" * 64,
                policy_input=policy_input,
            )
        )
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "audit.db") as conn:
        (canon,) = conn.execute("SELECT canon FROM audit_log WHERE record_type = 'decision'").fetchone()
    policy = json.loads(canon)["policy"]
    assert policy == {
        "id": "privacy_router.decision",
        "revision": "bundle-2031.4.2",
        "files_hash": engine.info.files_hash,
        "engine": "opa",
        "decision_id": decision.decision_id,
    }
    # The id OPA sent for this decision (the shared test server may still be finishing a request
    # of an earlier test, so the id is looked up, not taken as the last one sent).
    assert decision.decision_id in server.decision_ids
