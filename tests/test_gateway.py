"""Gateway start-up: the warm-up that runs before the server is ready (real detection engine and
workers, real simulators over sockets, the real SQLite audit store)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest
from structlog.testing import capture_logs

from privacy_router.detection.engine import DetectionEngine
from privacy_router.gateway import WARM_UP_TEXT, Gateway
from privacy_router.testing import RunningSimulator
from privacy_router.types import Finding
from tests.integration.conftest import gateway_settings


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[tuple[RunningSimulator, RunningSimulator]]:
    """Simulators of this test alone: their records hold every request the gateway made."""
    with (
        RunningSimulator("vllm", record_path=tmp_path / "onprem.jsonl") as onprem,
        RunningSimulator("openai", record_path=tmp_path / "external.jsonl") as external,
    ):
        yield onprem, external


def make_gateway(
    tmp_path: Path, detector: DetectionEngine, sims: tuple[RunningSimulator, RunningSimulator], workers: int
) -> Gateway:
    onprem, external = sims
    settings = gateway_settings(tmp_path, onprem.url, external.url, detection={"workers": workers})
    return Gateway.from_settings(settings, detector=detector)


def router_metrics() -> list[str]:
    return [
        line for line in generate_latest(REGISTRY).decode().splitlines() if line.startswith("privacy_router_")
    ]


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process-engine", "worker-pool"])
def test_warm_up_scans_a_sample_per_engine_and_nothing_leaves_the_process(
    tmp_path: Path,
    detection_engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
) -> None:
    """The warm-up scans the made-up sample once in each engine that serves requests, and sends
    nothing to a backend, writes no audit record, counts in no metric and logs no text."""
    gw = make_gateway(tmp_path, detection_engine, sims, workers)
    scanned: list[list[str]] = []
    findings: list[list[list[Finding]]] = []
    if gw.pool is not None:
        pool, real_pool_analyze = gw.pool, gw.pool.analyze

        async def pool_analyze(texts: list[str], timeout_s: float) -> list[list[Finding]]:
            scanned.append(texts)
            findings.append(await real_pool_analyze(texts, timeout_s))
            return findings[-1]

        monkeypatch.setattr(pool, "analyze", pool_analyze)
    else:
        real_analyze = gw.detector.analyze

        def analyze(texts: list[str]) -> list[list[Finding]]:
            scanned.append(texts)
            findings.append(real_analyze(texts))
            return findings[-1]

        monkeypatch.setattr(gw.detector, "analyze", analyze)
    metrics_before = router_metrics()
    try:
        assert gw.ready() == (False, "warming up")
        with capture_logs() as logs:
            asyncio.run(gw.warm_up())
        assert gw.ready() == (True, "ok")
        assert scanned == [[WARM_UP_TEXT]] * max(1, workers)
        # The sample reaches the phone and e-mail validators, whose first use is what is warmed.
        types = {f.entity_type for f in findings[0][0]}
        assert {"PHONE_NUMBER", "EMAIL_ADDRESS"} <= types
        assert [e["event"] for e in logs] == ["warmed_up"]
        assert not any(WARM_UP_TEXT in str(e) or "jane.doe" in str(e) for e in logs)
        assert router_metrics() == metrics_before
        assert list(gw.audit.iter_rows()) == []
        assert gw.cache is not None and len(gw.cache) == 0
    finally:
        asyncio.run(gw.stop())
    onprem, external = sims
    assert (onprem.records(), external.records()) == ([], [])


def test_readiness_waits_for_the_warm_up(
    tmp_path: Path,
    detection_engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While start()'s warm-up scan runs, the gateway reports not ready; once it ends, ready."""
    gw = make_gateway(tmp_path, detection_engine, sims, workers=0)
    entered, gate = threading.Event(), threading.Event()
    real_analyze = gw.detector.analyze

    def held(texts: list[str]) -> list[list[Finding]]:
        entered.set()
        gate.wait(timeout=20)
        return real_analyze(texts)

    monkeypatch.setattr(gw.detector, "analyze", held)

    async def start_while_watching() -> tuple[Any, Any]:
        starting = asyncio.create_task(gw.start())
        try:
            assert await asyncio.to_thread(entered.wait, 20)
            during = gw.ready()
        finally:
            gate.set()
            await starting
        after = gw.ready()
        await gw.stop()
        return during, after

    during, after = asyncio.run(start_while_watching())
    assert during == (False, "warming up")
    assert after == (True, "ok")


def test_a_failing_warm_up_scan_is_logged_and_does_not_stop_the_start(
    tmp_path: Path,
    detection_engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Warming up never decides whether the gateway starts: a detector that raises is logged by
    exception type only, and the first request fails closed as it would have anyway."""
    gw = make_gateway(tmp_path, detection_engine, sims, workers=0)

    def broken(texts: list[str]) -> list[list[Finding]]:
        raise RuntimeError("detector crashed on " + texts[0])

    monkeypatch.setattr(gw.detector, "analyze", broken)
    try:
        with capture_logs() as logs:
            asyncio.run(gw.warm_up())
        assert gw.ready() == (True, "ok")
    finally:
        asyncio.run(gw.stop())
    failed = [e for e in logs if e["event"] == "warm_up_failed"]
    assert failed == [
        {"event": "warm_up_failed", "part": "detection", "error": "RuntimeError", "log_level": "warning"}
    ]
