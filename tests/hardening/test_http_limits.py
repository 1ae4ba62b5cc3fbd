"""Hostile clients over raw sockets: big heads (431), big or chunked bodies (413), slowloris (closed),
slow bodies (408); other traffic keeps being served (threats.md H1, H2, H3)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import httpx
import pytest
from prometheus_client import REGISTRY

from tests.hardening.conftest import CLIENT_KEY, Harness

CLEAN_BODY = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "Name a colour."}]})


def raw_exchange(h: Harness, data: bytes, *, read_timeout: float = 20.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", h.server.port), timeout=read_timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def status_and_json(response: bytes) -> tuple[int, dict[str, object], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body), head.lower()


def head(extra: list[str], *, length: int | None = None, chunked: bool = False) -> bytes:
    lines = [
        "POST /v1/chat/completions HTTP/1.1",
        "Host: gateway",
        f"Authorization: Bearer {CLIENT_KEY}",
        "Content-Type: application/json",
        *extra,
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def rejected(reason: str) -> float:
    """privacy_router_rejected_total{reason} as Prometheus would scrape it."""
    return REGISTRY.get_sample_value("privacy_router_rejected_total", {"reason": reason}) or 0.0


def chat_ok(h: Harness) -> int:
    r = httpx.post(
        f"{h.url}/v1/chat/completions",
        content=CLEAN_BODY,
        headers={"authorization": f"Bearer {CLIENT_KEY}", "content-type": "application/json"},
        timeout=30,
    )
    return r.status_code


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([f"X-Filler-{i}: v" for i in range(40)], id="too-many-headers"),
        pytest.param([f"X-Big: {'a' * 9000}"], id="header-block-too-large"),
    ],
)
def test_oversized_head_gets_431_in_openai_shape_and_is_not_forwarded(
    harness: Harness, extra: list[str]
) -> None:
    before = len(harness.external.posts()) + len(harness.onprem.posts())
    rejected_before = rejected("headers_too_large")
    body = CLEAN_BODY.encode()
    status, payload, head_bytes = status_and_json(raw_exchange(harness, head(extra, length=len(body)) + body))
    assert status == 431
    assert rejected("headers_too_large") == rejected_before + 1
    assert payload == {
        "error": {
            "message": "request header fields too large",
            "type": "invalid_request_error",
            "param": None,
            "code": "headers_too_large",
        }
    }
    assert b"connection: close" in head_bytes
    assert len(harness.external.posts()) + len(harness.onprem.posts()) == before


def test_declared_length_above_limit_gets_413_before_the_body_is_read(harness: Harness) -> None:
    # Only the head is sent: the 413 must come without the server waiting for 1 MiB of body.
    rejected_before = rejected("payload_too_large")
    status, payload, _ = status_and_json(raw_exchange(harness, head([], length=1024 * 1024)))
    assert (status, payload["error"]["code"]) == (413, "payload_too_large")  # type: ignore[index]
    assert rejected("payload_too_large") == rejected_before + 1


def test_chunked_body_above_limit_gets_413(harness: Harness) -> None:
    chunk = b"a" * 16384
    data = head([], chunked=True) + (b"4000\r\n" + chunk + b"\r\n") * 6 + b"0\r\n\r\n"
    status, payload, head_bytes = status_and_json(raw_exchange(harness, data))
    assert (status, payload["error"]["code"]) == (413, "payload_too_large")  # type: ignore[index]
    assert b"connection: close" in head_bytes


def test_chunked_body_within_limit_is_served(harness: Harness) -> None:
    body = CLEAN_BODY.encode()
    data = head(["Connection: close"], chunked=True) + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    status, payload, _ = status_and_json(raw_exchange(harness, data))
    assert status == 200
    assert payload["object"] == "chat.completion"


def trickle_head(h: Harness, closed: list[bool]) -> None:
    """Send a request head one line every 0.2 s (for up to 20 s); record whether the server hung up."""
    with socket.create_connection(("127.0.0.1", h.server.port), timeout=30) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n")
        try:
            for i in range(100):
                time.sleep(0.2)
                s.sendall(f"X-Slow-{i}: v\r\n".encode())
        except (BrokenPipeError, ConnectionResetError):
            closed.append(True)
            return
        closed.append(False)


def test_slowloris_heads_are_cut_off_and_other_traffic_is_served(harness: Harness) -> None:
    results: list[bool] = []
    rejected_before = rejected("header_timeout")
    threads = [threading.Thread(target=trickle_head, args=(harness, results)) for _ in range(20)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    served = [chat_ok(harness) for _ in range(3)]
    for t in threads:
        t.join(timeout=60)
    assert served == [200, 200, 200]
    # Every trickling connection was closed by the server before its head was complete.
    assert results == [True] * 20
    assert rejected("header_timeout") >= rejected_before + 20


def test_slow_body_gets_408_and_the_connection_is_closed(harness: Harness) -> None:
    body = CLEAN_BODY.encode()
    rejected_before = rejected("request_timeout")
    with socket.create_connection(("127.0.0.1", harness.server.port), timeout=30) as s:
        s.sendall(head([], length=len(body)))
        received = b""
        try:
            for byte in body:
                s.sendall(bytes([byte]))
                time.sleep(0.2)
                s.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    received += s.recv(65536)
                s.setblocking(True)
                if received:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(10)
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    status, payload, head_bytes = status_and_json(received)
    assert (status, payload["error"]["code"]) == (408, "request_timeout")  # type: ignore[index]
    assert b"connection: close" in head_bytes
    assert rejected("request_timeout") == rejected_before + 1
