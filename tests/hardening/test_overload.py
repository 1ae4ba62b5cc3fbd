"""Load shedding (admission.py): past ``server.max_pending_detections`` requests waiting for
detection, a new request is refused at once with 503 ``overloaded`` and Retry-After, nothing is
forwarded for it, and the requests already admitted are served (threats.md L1-L3)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.gateway import Gateway
from tests.hardening.conftest import (
    BACKEND_KEY,
    CLIENT_KEY,
    GatewayServer,
    Harness,
    RawBackend,
    gateway_settings,
)

HEADERS = {"authorization": f"Bearer {CLIENT_KEY}"}


@pytest.fixture
def small(
    tmp_path: Path, detection_engine: DetectionEngine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    """A gateway that sheds past 2 pending detections."""
    monkeypatch.setenv("HARDENING_BACKEND_KEY", BACKEND_KEY)
    with RawBackend("llama-3.1-8b") as onprem, RawBackend("gpt-4o") as external:
        settings = load_settings(
            None, **gateway_settings(tmp_path, onprem.url, external.url, max_pending_detections=2)
        )
        gw = Gateway.from_settings(settings, detector=detection_engine)
        with GatewayServer(gw) as server:
            yield Harness(server, onprem, external)


def chat(h: Harness, text: str) -> httpx.Response:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
    return httpx.post(f"{h.url}/v1/chat/completions", json=body, headers=HEADERS, timeout=30)


def test_a_request_past_the_limit_is_shed_with_503_and_retry_after(
    small: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    entered = threading.Semaphore(0)
    real = small.gw.detector.analyze

    def held(texts: list[str]) -> object:
        entered.release()
        gate.wait(timeout=20)
        return real(texts)

    monkeypatch.setattr(small.gw.detector, "analyze", held)
    answers: list[int] = []

    def send(i: int) -> None:
        answers.append(chat(small, f"Name colour number {i}.").status_code)

    admitted = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for t in admitted:
        t.start()
    # Both admitted requests are now inside detection (one may still queue for an executor thread,
    # which counts as pending too); wait until the gateway counts both.
    assert entered.acquire(timeout=20)
    deadline = threading.Event()
    for _ in range(200):
        if small.gw.admission.pending == 2:
            break
        deadline.wait(0.05)
    assert small.gw.admission.pending == 2

    shed_before = REGISTRY.get_sample_value("privacy_router_shed_total") or 0.0
    posts_before = len(small.external.posts()) + len(small.onprem.posts())
    r = chat(small, "My SSN is 078-05-1120, name a colour.")
    assert r.status_code == 503
    assert r.json() == {
        "error": {
            "message": "the gateway is overloaded; retry later",
            "type": "server_error",
            "param": None,
            "code": "overloaded",
        }
    }
    assert r.headers["retry-after"] == "1"
    assert r.headers["x-should-retry"] == "true"
    assert (REGISTRY.get_sample_value("privacy_router_shed_total") or 0.0) == shed_before + 1
    # The shed request reached no backend.
    assert len(small.external.posts()) + len(small.onprem.posts()) == posts_before

    gate.set()
    for t in admitted:
        t.join(timeout=30)
    assert answers == [200, 200]
    assert small.gw.admission.pending == 0
    # With the queue drained, the same request is admitted again.
    assert chat(small, "Name a colour.").status_code == 200
