"""The request path fails closed: every broken dependency keeps data inside (real sockets, real SDK)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from privacy_router.app import create_app
from privacy_router.detection.engine import DetectionEngine
from privacy_router.errors import AuditWriteError
from privacy_router.gateway import Gateway
from privacy_router.pipeline import _strictest_hint
from privacy_router.testing import RunningSimulator, ServerThread, free_port
from tests.integration.conftest import US_KEY, gateway_settings

CLEAN = "Name three primary colours."
PHI = "Patient MRN 00482913 was admitted with chest pain."


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSimulator, RunningSimulator]]:
    tmp = tmp_path_factory.mktemp("sims")
    with (
        RunningSimulator("vllm", record_path=tmp / "onprem.jsonl") as onprem,
        RunningSimulator("openai", record_path=tmp / "external.jsonl") as external,
    ):
        yield onprem, external


def make_gateway(
    tmp_path: Path, engine: DetectionEngine, onprem_url: str, external_url: str, **server: Any
) -> Gateway:
    settings = gateway_settings(
        tmp_path, onprem_url, external_url, server={"detection_timeout_s": 2.0, **server}
    )
    return Gateway.from_settings(settings, detector=engine)


def send(url: str, content: str, stream: bool = False) -> tuple[int, dict[str, str], str]:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": content}], "stream": stream}
    r = httpx.post(
        f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {US_KEY}"}, timeout=30
    )
    return r.status_code, dict(r.headers), r.text


def external_count(sim: RunningSimulator) -> int:
    """Requests that carried a body (health probes are GETs and carry nothing)."""
    return sum(1 for r in sim.records() if r["method"] == "POST")


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize("content", [CLEAN, PHI], ids=["clean", "phi"])
def test_detector_error_never_routes_external(
    tmp_path: Path,
    detection_engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
    monkeypatch: pytest.MonkeyPatch,
    stream: bool,
    content: str,
) -> None:
    onprem, external = sims
    gw = make_gateway(tmp_path, detection_engine, onprem.url, external.url)

    def broken(texts: list[str]) -> list[list[Any]]:
        raise RuntimeError("detector crashed")

    monkeypatch.setattr(gw.detector, "analyze", broken)
    before = external_count(external)
    with ServerThread(create_app(gw)) as srv:
        status, headers, _ = send(srv.url, content, stream)
    assert status == 200
    assert headers["x-privacy-route"] == "onprem"
    assert external_count(external) == before


def test_detector_timeout_never_routes_external(
    tmp_path: Path,
    detection_engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    onprem, external = sims
    gw = make_gateway(tmp_path, detection_engine, onprem.url, external.url, detection_timeout_s=0.2)

    def slow(texts: list[str]) -> list[list[Any]]:
        time.sleep(1.0)
        return [[] for _ in texts]

    monkeypatch.setattr(gw.detector, "analyze", slow)
    before = external_count(external)
    with ServerThread(create_app(gw)) as srv:
        status, headers, _ = send(srv.url, CLEAN)
    assert (status, headers["x-privacy-route"]) == (200, "onprem")
    assert external_count(external) == before


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_policy_failure_is_503_and_nothing_is_forwarded(
    tmp_path: Path,
    detection_engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
    monkeypatch: pytest.MonkeyPatch,
    stream: bool,
) -> None:
    onprem, external = sims
    gw = make_gateway(tmp_path, detection_engine, onprem.url, external.url)

    def broken(policy_input: dict[str, Any]) -> Any:
        raise RuntimeError("engine crashed")

    monkeypatch.setattr(gw.policy, "evaluate", broken)
    before = (external_count(external), external_count(onprem))
    with ServerThread(create_app(gw)) as srv:
        status, headers, body = send(srv.url, CLEAN, stream)
    assert status == 503
    assert headers["x-should-retry"] == "false"
    assert '"code":"policy_unavailable"' in body.replace(" ", "")
    assert (external_count(external), external_count(onprem)) == before


@pytest.mark.parametrize("content", [CLEAN, PHI], ids=["clean", "phi"])
def test_audit_store_down_is_503_and_nothing_is_forwarded(
    tmp_path: Path,
    detection_engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
    monkeypatch: pytest.MonkeyPatch,
    content: str,
) -> None:
    onprem, external = sims
    gw = make_gateway(tmp_path, detection_engine, onprem.url, external.url)

    def down(record: dict[str, Any]) -> Any:
        raise AuditWriteError("audit store unavailable")

    monkeypatch.setattr(gw.audit, "append", down)
    before = (external_count(external), external_count(onprem))
    with ServerThread(create_app(gw)) as srv:
        status, _, body = send(srv.url, content)
    assert status == 503
    assert '"code":"audit_unavailable"' in body.replace(" ", "")
    assert (external_count(external), external_count(onprem)) == before


def test_sensitive_request_without_healthy_onprem_is_blocked(
    tmp_path: Path,
    detection_engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
) -> None:
    _, external = sims
    dead = f"http://127.0.0.1:{free_port()}/v1"
    gw = make_gateway(tmp_path, detection_engine, dead, external.url)
    before = external_count(external)
    with ServerThread(create_app(gw)) as srv:
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key=US_KEY, max_retries=0)
        with pytest.raises(openai.PermissionDeniedError) as err:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PHI}])
        clean = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": CLEAN}]
        )
    assert err.value.response.headers["x-privacy-route"] == "blocked"
    assert err.value.response.headers["x-should-retry"] == "false"
    body = err.value.response.json()["error"]
    assert body["code"] == "request_blocked"
    assert body["reasons"] and "00482913" not in str(body)
    assert clean.headers["x-privacy-route"] == "external"
    assert external_count(external) == before + 1
    assert "00482913" not in str(external.records())


def test_onprem_down_after_decision_is_503_never_external(
    tmp_path: Path,
    detection_engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
) -> None:
    _, external = sims
    dead = f"http://127.0.0.1:{free_port()}/v1"
    gw = make_gateway(tmp_path, detection_engine, dead, external.url)
    gw.health.healthy = lambda name: True  # type: ignore[method-assign]  # the probe has not noticed yet
    before = external_count(external)
    with ServerThread(create_app(gw)) as srv:
        status, headers, _ = send(srv.url, PHI)
    assert status == 503
    assert headers["x-privacy-route"] == "onprem"
    assert external_count(external) == before


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param([], None, id="none"),
        pytest.param([("x-data-classification", "public")], "public", id="public"),
        pytest.param(
            [("X-Data-Classification", "public"), ("x-data-classification", "phi")], "phi", id="dup-strictest"
        ),
        pytest.param([("x_data_classification", "pci")], "pci", id="underscore-spelling"),
        pytest.param([("x-data-classification", "public, credentials")], "credentials", id="list"),
        pytest.param([("x-data-classification", "totally-public")], "confidential", id="unknown-is-strict"),
    ],
)
def test_classification_hint_takes_the_strictest(
    headers: list[tuple[str, str]], expected: str | None
) -> None:
    assert _strictest_hint(headers) == expected
