"""The fail-closed matrix (issue 8): every broken dependency x (streamed, not) x (PHI, clean).

Each cell runs the real gateway (real spaCy, real Rego, real SQLite) on a real socket, with the
upstream simulators recording every request as the leak oracle. For every cell:
  * the status and route are the expected ones;
  * the external simulator gains no request unless the cell expects one, and never any byte of the
    PHI value;
  * the failure is visible in /metrics (the named counter grew) and in the logs (the named event
    was emitted, with no content).

The OPA rows run the ``opa`` engine against the OPA test double (policy/opa_testserver.py) over
HTTP: server down (nothing listening), slow (answers after the policy timeout), undefined result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.errors import AuditWriteError
from privacy_router.gateway import Gateway
from privacy_router.policy.opa_testserver import OpaTestServer
from privacy_router.resources import resource_dir
from privacy_router.testing import RunningSimulator, free_port
from tests.hardening.conftest import CLIENT_KEY, GatewayServer, gateway_settings

CLEAN = "Name three primary colours."
PHI_VALUE = "00482913"
PHI = f"Patient MRN {PHI_VALUE} was admitted with chest pain."


@dataclass(frozen=True)
class Metric:
    name: str
    labels: dict[str, str]


@dataclass(frozen=True)
class Expect:
    status: int
    route: str
    metric: Metric
    log_event: str
    external_requests: int = 0  # new POSTs the external simulator may receive (clean text only)
    increments: int = 1  # how much the metric grows for this one request


def fail_closed(reason: str) -> Metric:
    return Metric("privacy_router_fail_closed_total", {"reason": reason})


ONPREM_200 = {"detection_error": "detection_failed", "detection_timeout": "detection_failed"}


# fault -> content -> expected cell (the same for streamed and non-streamed requests)
MATRIX: dict[str, dict[str, Expect]] = {
    "detector-raises": {
        c: Expect(200, "onprem", fail_closed("detection_error"), "detection_failed") for c in ("phi", "clean")
    },
    "detector-times-out": {
        c: Expect(200, "onprem", fail_closed("detection_timeout"), "detection_failed")
        for c in ("phi", "clean")
    },
    "policy-engine-raises": {
        c: Expect(503, "blocked", fail_closed("policy"), "request") for c in ("phi", "clean")
    },
    "opa-down": {c: Expect(503, "blocked", fail_closed("policy"), "request") for c in ("phi", "clean")},
    "opa-slow": {c: Expect(503, "blocked", fail_closed("policy"), "request") for c in ("phi", "clean")},
    "opa-undefined": {c: Expect(503, "blocked", fail_closed("policy"), "request") for c in ("phi", "clean")},
    # Two failed writes per request: the decision record, then the record of the refusal.
    "audit-store-down": {
        c: Expect(503, "blocked", fail_closed("audit"), "audit_failed_for_refusal", increments=2)
        for c in ("phi", "clean")
    },
    # The health probe has seen the pool down: the policy blocks sensitive traffic; clean goes out.
    "onprem-pool-down-known": {
        "phi": Expect(
            403, "blocked", Metric("privacy_router_decisions_total", {"action": "block"}), "request"
        ),
        "clean": Expect(
            200,
            "external",
            Metric("privacy_router_decisions_total", {"action": "external"}),
            "request",
            external_requests=1,
        ),
    },
    # The probe has not noticed yet: the decision is on-prem, the connection is refused, 503.
    "onprem-pool-down-unnoticed": {
        "phi": Expect(
            503, "onprem", Metric("privacy_router_upstream_errors_total", {"backend": "vllm-a"}), "request"
        ),
        "clean": Expect(
            200,
            "external",
            Metric("privacy_router_decisions_total", {"action": "external"}),
            "request",
            external_requests=1,
        ),
    },
}

CELLS = [
    pytest.param(fault, content, stream, id=f"{fault}-{content}-{'stream' if stream else 'json'}")
    for fault in MATRIX
    for content in ("phi", "clean")
    for stream in (False, True)
]


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSimulator, RunningSimulator]]:
    tmp = tmp_path_factory.mktemp("matrix-sims")
    with (
        RunningSimulator("vllm", record_path=tmp / "onprem.jsonl") as onprem,
        RunningSimulator("openai", record_path=tmp / "external.jsonl") as external,
    ):
        yield onprem, external


@pytest.fixture(scope="module")
def opa() -> Iterator[OpaTestServer]:
    with OpaTestServer(resource_dir("policies")) as server:
        yield server


def metric_value(url: str, metric: Metric) -> float:
    """Sum of the samples of ``metric`` whose labels include ``metric.labels``, read over HTTP."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == metric.name and metric.labels.items() <= sample.labels.items():
                total += sample.value
    return total


def posts(sim: RunningSimulator) -> list[dict[str, Any]]:
    return [r for r in sim.records() if r["method"] == "POST"]


def _raise(*_: Any) -> Any:
    raise RuntimeError("injected fault")


def _slow(texts: list[str]) -> list[list[Any]]:
    time.sleep(1.0)
    return [[] for _ in texts]


def _audit_down(record: dict[str, Any]) -> Any:
    raise AuditWriteError("audit store unavailable")


def build(
    fault: str,
    tmp: Path,
    engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
    opa: OpaTestServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Gateway:
    onprem, external = sims
    onprem_url = onprem.url
    if fault.startswith("onprem-pool-down"):
        onprem_url = f"http://127.0.0.1:{free_port()}/v1"
    data = gateway_settings(tmp, onprem_url, external.url, detection_timeout_s=0.3)
    if fault.startswith("opa-"):
        opa.fault = {"opa-slow": "stall", "opa-undefined": "undefined"}.get(fault)
        opa.stall_s = 1.0
        url = f"http://127.0.0.1:{free_port()}" if fault == "opa-down" else opa.url
        data["policy"] = {"engine": "opa", "opa_url": url, "timeout_s": 0.2}
    monkeypatch.setenv("HARDENING_BACKEND_KEY", "sk-external-own")
    gw = Gateway.from_settings(load_settings(None, **data), detector=engine)
    # monkeypatch undoes each injection: the detection engine is shared by the whole session.
    if fault == "detector-raises":
        monkeypatch.setattr(gw.detector, "analyze", _raise)
    elif fault == "detector-times-out":
        monkeypatch.setattr(gw.detector, "analyze", _slow)
    elif fault == "policy-engine-raises":
        monkeypatch.setattr(gw.policy, "evaluate", _raise)
    elif fault == "audit-store-down":
        monkeypatch.setattr(gw.audit, "append", _audit_down)
    elif fault == "onprem-pool-down-unnoticed":
        # The start-up probe sees the pool healthy: it has not noticed the outage yet.
        monkeypatch.setattr(gw.health, "healthy", lambda name: True)
    return gw


@pytest.mark.parametrize(("fault", "content", "stream"), CELLS)
def test_fail_closed_cell(
    tmp_path: Path,
    detection_engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
    opa: OpaTestServer,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    content: str,
    stream: bool,
) -> None:
    expect = MATRIX[fault][content]
    _, external = sims
    gw = build(fault, tmp_path, detection_engine, sims, opa, monkeypatch)
    before = len(posts(external))
    text = PHI if content == "phi" else CLEAN
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], "stream": stream}
    with GatewayServer(gw) as server:
        metric_before = metric_value(server.url, expect.metric)
        with structlog.testing.capture_logs() as logs:
            r = httpx.post(
                f"{server.url}/v1/chat/completions",
                content=json.dumps(body),
                headers={"authorization": f"Bearer {CLIENT_KEY}", "content-type": "application/json"},
                timeout=30,
            )
        metric_after = metric_value(server.url, expect.metric)
    assert (r.status_code, r.headers["x-privacy-route"]) == (expect.status, expect.route)
    new = posts(external)[before:]
    assert len(new) == expect.external_requests
    assert PHI_VALUE not in json.dumps(new)
    assert metric_after == metric_before + expect.increments
    events = [e for e in logs if e["event"] == expect.log_event]
    assert events, f"no {expect.log_event!r} log event"
    # Logs carry ids, routes, statuses and entity types; never the request text.
    assert PHI_VALUE not in json.dumps(logs, default=str)
