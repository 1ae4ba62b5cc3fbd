"""The policy engines inside the running gateway (real sockets, simulators, real audit log):
OPA mode end to end, every policy failure failing closed, the declared failure action, shadow mode
and readiness."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from privacy_router.app import create_app
from privacy_router.detection.engine import DetectionEngine
from privacy_router.gateway import Gateway
from privacy_router.policy.failure import FAILURE_POLICY_ID, FAILURE_REASON
from privacy_router.policy.opa_testserver import OpaTestServer
from privacy_router.resources import resource_dir
from privacy_router.testing import RunningSimulator, ServerThread, free_port
from tests.integration.conftest import US_KEY, gateway_settings

CLEAN = "Name three primary colours."
POLICIES = resource_dir("policies")


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSimulator, RunningSimulator]]:
    tmp = tmp_path_factory.mktemp("policy-sims")
    with (
        RunningSimulator("vllm", record_path=tmp / "onprem.jsonl") as onprem,
        RunningSimulator("openai", record_path=tmp / "external.jsonl") as external,
    ):
        yield onprem, external


def posts(sim: RunningSimulator) -> int:
    return sum(1 for r in sim.records() if r["method"] == "POST")


def policy_copy(tmp_path: Path, failure_action: str = "block", name: str = "policies") -> Path:
    root = tmp_path / name
    shutil.copytree(POLICIES, root)
    failure = root / "privacy_router" / "failure.rego"
    text = failure.read_text("utf-8").replace(
        'failure_action := "block"', f'failure_action := "{failure_action}"'
    )
    failure.write_text(text, "utf-8")
    # The policy's own tests assert the shipped "block"; they are run at start-up, so they change too.
    failure_test = root / "privacy_router" / "failure_test.rego"
    test_text = failure_test.read_text("utf-8").replace('"block"', f'"{failure_action}"')
    failure_test.write_text(
        test_text.replace("test_failure_action_is_block", "test_failure_action_is_set"), "utf-8"
    )
    return root


def make_gateway(
    tmp_path: Path, detector: DetectionEngine, sims: tuple[RunningSimulator, RunningSimulator], **policy: Any
) -> Gateway:
    onprem, external = sims
    settings = gateway_settings(
        tmp_path, onprem.url, external.url, server={"detection_timeout_s": 5.0}, policy=policy
    )
    return Gateway.from_settings(settings, detector=detector)


def chat(url: str, content: str = CLEAN) -> httpx.Response:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}
    return httpx.post(
        f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {US_KEY}"}, timeout=30
    )


def decision_records(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT canon FROM audit_log WHERE record_type = 'decision' ORDER BY seq"
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


def test_opa_mode_routes_and_audits_decision_id_and_revision(
    tmp_path: Path, detection_engine: DetectionEngine, sims: tuple[RunningSimulator, RunningSimulator]
) -> None:
    with OpaTestServer(POLICIES) as opa:
        gw = make_gateway(tmp_path, detection_engine, sims, engine="opa", opa_url=opa.url, timeout_s=5.0)
        with ServerThread(create_app(gw)) as srv:
            r = chat(srv.url)
            ready = httpx.get(f"{srv.url}/readyz")
    assert (r.status_code, r.headers["x-privacy-route"]) == (200, "external")
    assert ready.status_code == 200
    policy = decision_records(tmp_path / "audit.db")[-1]["policy"]
    assert {k: policy[k] for k in ("id", "revision", "engine")} == {
        "id": "privacy_router.decision",
        "revision": "2025.1.0",
        "engine": "opa",
    }
    assert len(policy["decision_id"]) == 36


@pytest.mark.parametrize(
    "fault",
    ["undefined", "non_json", "http_500", "stall", "bad_result", "down"],
    ids=["undefined-result", "non-json", "5xx", "timeout", "output-breaks-schema", "connection-refused"],
)
def test_opa_failure_blocks_and_nothing_is_forwarded(
    tmp_path: Path,
    detection_engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
    fault: str,
) -> None:
    onprem, external = sims
    with OpaTestServer(POLICIES) as opa:
        url = opa.url if fault != "down" else f"http://127.0.0.1:{free_port()}"
        gw = make_gateway(tmp_path, detection_engine, sims, engine="opa", opa_url=url, timeout_s=0.3)
        opa.fault = None if fault == "down" else fault
        before = (posts(onprem), posts(external))
        with ServerThread(create_app(gw)) as srv:
            r = chat(srv.url)
    assert (r.status_code, r.json()["error"]["code"]) == (503, "policy_unavailable")
    assert (posts(onprem), posts(external)) == before
    record = decision_records(tmp_path / "audit.db")[-1]
    assert (record["action"], record["policy"]["id"]) == ("block", "privacy_router.fail_closed")


@pytest.mark.parametrize(
    "fault",
    ["undefined", "http_500", "stall", "bad_result"],
    ids=["undefined", "5xx", "timeout", "bad-output"],
)
def test_declared_failure_action_onprem_keeps_the_request_onprem(
    tmp_path: Path,
    detection_engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
    fault: str,
) -> None:
    onprem, external = sims
    root = policy_copy(tmp_path, "onprem")
    with OpaTestServer(root) as opa:
        gw = make_gateway(
            tmp_path, detection_engine, sims, engine="opa", opa_url=opa.url, timeout_s=0.3, dir=str(root)
        )
        assert gw.policy.failure_action == "onprem"  # type: ignore[attr-defined]
        opa.fault = fault
        before = (posts(onprem), posts(external))
        with ServerThread(create_app(gw)) as srv:
            r = chat(srv.url)
    assert (r.status_code, r.headers["x-privacy-route"]) == (200, "onprem")
    assert (posts(onprem), posts(external)) == (before[0] + 1, before[1])
    record = decision_records(tmp_path / "audit.db")[-1]
    assert (record["action"], record["backend"], record["reasons"], record["policy"]["id"]) == (
        "onprem",
        "vllm-a",
        [FAILURE_REASON],
        FAILURE_POLICY_ID,
    )


def test_embedded_engine_error_with_failure_action_onprem_routes_onprem(
    tmp_path: Path,
    detection_engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, external = sims
    gw = make_gateway(tmp_path, detection_engine, sims, dir=str(policy_copy(tmp_path, "onprem")))

    def broken(policy_input: dict[str, Any]) -> Any:
        raise RuntimeError("engine crashed")

    monkeypatch.setattr(gw.policy, "evaluate", broken)
    before = posts(external)
    with ServerThread(create_app(gw)) as srv:
        r = chat(srv.url)
    assert (r.status_code, r.headers["x-privacy-route"]) == (200, "onprem")
    assert posts(external) == before


def test_opa_not_ready_makes_readyz_503(
    tmp_path: Path, detection_engine: DetectionEngine, sims: tuple[RunningSimulator, RunningSimulator]
) -> None:
    with OpaTestServer(POLICIES) as opa:
        gw = make_gateway(tmp_path, detection_engine, sims, engine="opa", opa_url=opa.url, timeout_s=5.0)
        opa.fault = "not_ready"
        with ServerThread(create_app(gw)) as srv:
            r = httpx.get(f"{srv.url}/readyz")
    assert (r.status_code, r.json()) == (503, {"status": "not ready", "reason": "policy not loaded"})


def test_shadow_policy_disagreement_is_audited_and_never_decides(
    tmp_path: Path, detection_engine: DetectionEngine, sims: tuple[RunningSimulator, RunningSimulator]
) -> None:
    _, external = sims
    candidate = tmp_path / "candidate"
    candidate.mkdir()
    (candidate / "p.rego").write_text(
        'package privacy_router\n\nimport rego.v1\n\ndecision := {"action": "block", "backend": null, '
        '"reasons": ["candidate blocks everything"]}\n',
        "utf-8",
    )
    gw = make_gateway(tmp_path, detection_engine, sims, shadow_dir=str(candidate))
    before = posts(external)
    with ServerThread(create_app(gw)) as srv:
        r = chat(srv.url)
        metrics_text = httpx.get(f"{srv.url}/metrics").text
    assert (r.status_code, r.headers["x-privacy-route"]) == (200, "external")
    assert posts(external) == before + 1
    shadow = decision_records(tmp_path / "audit.db")[-1]["shadow"]
    assert {k: shadow[k] for k in ("action", "backend", "agrees", "error", "revision")} == {
        "action": "block",
        "backend": None,
        "agrees": False,
        "error": False,
        "revision": "unversioned",
    }
    assert 'privacy_router_policy_shadow_total{result="disagree"}' in metrics_text
