"""What reaches a backend, byte for byte: never the client's key, x-privacy-*, classification
hints or hop-by-hop headers; always the backend's own key (threats.md D6, D7)."""

from __future__ import annotations

import json

import httpx
import pytest

from privacy_router.audit.sqlite import open_verified
from tests.hardening.conftest import BACKEND_KEY, CLIENT_KEY, Harness

CLEAN = "Name three primary colours."
PHI = "Patient MRN 00482913 was admitted with chest pain."

# Sent by the client on every request below; none of these names may appear at a backend.
HOSTILE_HEADERS = [
    ("x-api-key", CLIENT_KEY),
    ("x-privacy-route", "external"),
    ("x-privacy-audit-id", "forged"),
    ("x-privacy-tenant-region", "us"),
    ("x-data-classification", "public"),
    ("x-data-classification", "public"),
    ("x_data_classification", "public"),
    ("proxy-authorization", "Basic Zm9vOmJhcg=="),
    ("keep-alive", "timeout=5"),
    ("te", "trailers"),
    ("trailer", "x-late"),
    ("x-forwarded-for", "203.0.113.9"),
    ("cookie", "session=client-cookie"),
]
FORBIDDEN_AT_BACKEND = sorted({name for name, _ in HOSTILE_HEADERS})


def backend_headers(raw: bytes) -> dict[str, list[str]]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    out: dict[str, list[str]] = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        out.setdefault(name.strip().lower(), []).append(value.strip())
    return out


def send(h: Harness, content: str, stream: bool) -> httpx.Response:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": content}], "stream": stream}
    headers = [("authorization", f"Bearer {CLIENT_KEY}"), ("content-type", "application/json")]
    return httpx.post(
        f"{h.url}/v1/chat/completions",
        content=json.dumps(body),
        headers=[*headers, *HOSTILE_HEADERS],
        timeout=30,
    )


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize(
    ("content", "route"), [(CLEAN, "external"), (PHI, "onprem")], ids=["clean-external", "phi-onprem"]
)
def test_backend_gets_only_its_own_headers(harness: Harness, content: str, route: str, stream: bool) -> None:
    backend = harness.external if route == "external" else harness.onprem
    before = len(backend.posts())
    r = send(harness, content, stream)
    assert (r.status_code, r.headers["x-privacy-route"]) == (200, route)
    raw = backend.posts()[before]
    assert CLIENT_KEY.encode() not in raw
    headers = backend_headers(raw)
    assert [n for n in FORBIDDEN_AT_BACKEND if n in headers] == []
    expected_auth = [f"Bearer {BACKEND_KEY}"] if route == "external" else []
    assert headers.get("authorization", []) == expected_auth
    assert not [n for n in headers if n.startswith("x-privacy")]


def test_external_model_with_phi_goes_to_the_mapped_onprem_model_and_the_audit_says_so(
    harness: Harness,
) -> None:
    ext_before, on_before = len(harness.external.posts()), len(harness.onprem.posts())
    r = send(harness, PHI, stream=False)
    assert (r.status_code, r.headers["x-privacy-route"]) == (200, "onprem")
    assert len(harness.external.posts()) == ext_before
    forwarded = json.loads(harness.onprem.posts()[on_before].split(b"\r\n\r\n", 1)[1])
    assert forwarded["model"] == "llama-3.1-8b"
    audit_id = r.headers["x-privacy-audit-id"]
    store = open_verified(harness.gw.settings.audit.sqlite_path)
    try:
        rows = [json.loads(row.canon) for row in store.iter_rows() if row.record_id == audit_id]
    finally:
        store.close()
    assert len(rows) == 1
    record = rows[0]
    assert (record["record_type"], record["model"], record["action"]) == ("decision", "gpt-4o", "onprem")
    assert (record["backend"], record["backend_region"]) == ("vllm-a", "us-east")
