"""Load shedding: past ``server.max_pending_detections`` requests waiting for detection
(admission.py), or ``server.max_in_flight`` requests anywhere in the /v1/ path (middleware.py,
before the body is read), a new request is refused at once with 503 ``overloaded`` and
Retry-After, nothing is audited or forwarded for it, and the requests already admitted are served
(threats.md L1-L3)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
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
def limited_gateway(
    tmp_path: Path, detection_engine: DetectionEngine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Harness]]:
    """Starts a gateway with the ``server`` limits it is called with, in front of two raw backends;
    all of it is stopped when the test ends. Once per test: the audit log is tmp_path/audit.db."""
    monkeypatch.setenv("HARDENING_BACKEND_KEY", BACKEND_KEY)
    with ExitStack() as stack:

        def start(**limits: int) -> Harness:
            onprem = stack.enter_context(RawBackend("llama-3.1-8b"))
            external = stack.enter_context(RawBackend("gpt-4o"))
            settings = load_settings(None, **gateway_settings(tmp_path, onprem.url, external.url, **limits))
            gw = Gateway.from_settings(settings, detector=detection_engine)
            return Harness(stack.enter_context(GatewayServer(gw)), onprem, external)

        yield start


OVERLOADED = {
    "error": {
        "message": "the gateway is overloaded; retry later",
        "type": "server_error",
        "param": None,
        "code": "overloaded",
    }
}


def shed(reason: str) -> float:
    return REGISTRY.get_sample_value("privacy_router_shed_total", {"reason": reason}) or 0.0


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("privacy_router_rejected_total", {"reason": reason}) or 0.0


def hold_detection(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, threading.Semaphore]:
    """Detection waits for ``gate``; ``entered`` is released as each request reaches it."""
    gate = threading.Event()
    entered = threading.Semaphore(0)
    real = h.gw.detector.analyze

    def held(texts: list[str]) -> object:
        entered.release()
        gate.wait(timeout=20)
        return real(texts)

    monkeypatch.setattr(h.gw.detector, "analyze", held)
    return gate, entered


def audit_rows(h: Harness) -> int:
    return sum(1 for _ in h.gw.audit.iter_rows())


def chat(h: Harness, text: str) -> httpx.Response:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
    return httpx.post(f"{h.url}/v1/chat/completions", json=body, headers=HEADERS, timeout=30)


def test_a_request_past_the_limit_is_shed_with_503_and_retry_after(
    limited_gateway: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    small = limited_gateway(max_pending_detections=2)  # sheds past 2 pending detections
    gate, entered = hold_detection(small, monkeypatch)
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

    shed_before = shed("detection_queue")
    posts_before = len(small.external.posts()) + len(small.onprem.posts())
    r = chat(small, "My SSN is 078-05-1120, name a colour.")
    assert r.status_code == 503
    assert r.json() == OVERLOADED
    assert r.headers["retry-after"] == "1"
    assert r.headers["x-should-retry"] == "true"
    assert shed("detection_queue") == shed_before + 1
    # The shed request reached no backend.
    assert len(small.external.posts()) + len(small.onprem.posts()) == posts_before

    gate.set()
    for t in admitted:
        t.join(timeout=30)
    assert answers == [200, 200]
    assert small.gw.admission.pending == 0
    # With the queue drained, the same request is admitted again.
    assert chat(small, "Name a colour.").status_code == 200


def head_only(h: Harness, declared_length: int) -> tuple[int, dict[str, object], bytes]:
    """A request head that announces a body and never sends it; read until the server hangs up."""
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {CLIENT_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared_length}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", h.server.port), timeout=10) as s:
        s.sendall(head.encode())
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head_bytes, _, body = out.partition(b"\r\n\r\n")
    return int(head_bytes.split(b" ", 2)[1]), json.loads(body), head_bytes.lower()


def test_the_whole_path_cap_sheds_before_the_body_is_read_and_never_audits_or_forwards(
    limited_gateway: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    capped = limited_gateway(max_in_flight=1)  # room for one /v1/ request in flight
    gate, entered = hold_detection(capped, monkeypatch)
    answers: list[int] = []
    admitted = threading.Thread(target=lambda: answers.append(chat(capped, "Name a colour.").status_code))
    admitted.start()
    assert entered.acquire(timeout=20)  # the one slot is taken, by a request inside detection

    rows_before = audit_rows(capped)
    posts_before = len(capped.external.posts()) + len(capped.onprem.posts())
    shed_before, rejected_before = shed("in_flight"), rejected("overloaded")
    # The head alone is answered: the cap is taken before the body is read (the socket would time
    # out if the gateway waited for the 500 announced bytes).
    status, payload, head_bytes = head_only(capped, 500)
    assert (status, payload) == (503, OVERLOADED)
    assert b"retry-after: 1" in head_bytes
    assert b"x-should-retry: true" in head_bytes
    assert b"connection: close" in head_bytes
    r = chat(capped, "My SSN is 078-05-1120, name a colour.")
    assert (r.status_code, r.json()) == (503, OVERLOADED)
    assert (r.headers["retry-after"], r.headers["x-should-retry"]) == ("1", "true")
    assert "x-privacy-audit-id" not in r.headers
    assert shed("in_flight") == shed_before + 2
    assert rejected("overloaded") == rejected_before + 2
    # Health and metrics are outside /v1/ and never shed.
    assert httpx.get(f"{capped.url}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{capped.url}/metrics", timeout=10).status_code == 200
    # Never admitted: nothing audited, nothing scanned (detection saw only the admitted request),
    # nothing forwarded.
    assert audit_rows(capped) == rows_before
    assert not entered.acquire(timeout=0.2)
    assert len(capped.external.posts()) + len(capped.onprem.posts()) == posts_before

    gate.set()
    admitted.join(timeout=30)
    assert answers == [200]
    # The slot is freed once the admitted answer was sent (the gauge follows the middleware's count).
    for _ in range(100):
        if REGISTRY.get_sample_value("privacy_router_in_flight") == 0:
            break
        time.sleep(0.05)
    assert chat(capped, "Name a colour again.").status_code == 200
    assert capped.gw.admission.pending == 0
