"""POST /v1/route/explain: detection summary, policy input and decision; never forwards; audited."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from privacy_router.testing import RunningSimulator
from tests.api.conftest import CLEAN, PHI, PII, Running, Sims
from tests.integration.conftest import US_KEY

AUTH = {"authorization": f"Bearer {US_KEY}"}


def posts(sim: RunningSimulator) -> int:
    return sum(1 for r in sim.records() if r["method"] == "POST")


def explain(gw: Running, body: dict[str, Any], endpoint: str | None = None) -> httpx.Response:
    params = {"endpoint": endpoint} if endpoint else {}
    return httpx.post(f"{gw.url}/v1/route/explain", json=body, params=params, headers=AUTH, timeout=30)


def audit_record(db: Path, request_id: str) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT canon FROM audit_log WHERE request_id = ?", (request_id,)).fetchone()
    record: dict[str, Any] = json.loads(row[0])
    return record


def test_explain_pii_chat_shows_scrubbed_route_without_values_and_forwards_nothing(
    gateway: Running, sims: Sims
) -> None:
    before = (posts(sims.onprem), posts(sims.external))
    r = explain(gateway, {"model": "gpt-4o", "messages": [{"role": "user", "content": PII}]})
    assert r.status_code == 200
    body = r.json()
    assert (body["forwarded"], body["would_status"], body["endpoint"]) == (False, 200, "chat.completions")
    assert body["decision"]["action"] == "external_scrubbed"
    assert body["decision"]["backend"] == "openai"
    assert body["decision"]["scrub_entities"] == ["EMAIL_ADDRESS", "PERSON"]
    assert [(e["type"], e["count"], e["fields"]) for e in body["detection"]["entities"]] == [
        ("EMAIL_ADDRESS", 1, ["messages[0].content"]),
        ("PERSON", 1, ["messages[0].content"]),
    ]
    assert body["policy_input"]["principal"]["jurisdiction"] == "US"
    assert body["policy"]["engine"] == "embedded"
    for value in ("maria.gonzalez@example.com", "Maria Gonzalez", "invoice"):
        assert value not in r.text
    assert (posts(sims.onprem), posts(sims.external)) == before
    record = audit_record(gateway.audit_db, body["request_id"])
    assert (record["record_type"], record["action"], record["record_id"]) == (
        "explain",
        "external_scrubbed",
        body["audit_id"],
    )


def test_explain_phi_completion_would_go_onprem(gateway: Running, sims: Sims) -> None:
    before = posts(sims.onprem)
    r = explain(gateway, {"model": "gpt-4o", "prompt": PHI}, "completions")
    body = r.json()
    assert (r.status_code, body["endpoint"], body["decision"]["action"]) == (200, "completions", "onprem")
    assert "PHI" in body["detection"]["categories"]
    assert body["decision"]["reasons"][-1] == "sensitive data: routed to a healthy on-prem backend"
    assert posts(sims.onprem) == before


def test_explain_clean_embeddings_would_go_external(gateway: Running) -> None:
    r = explain(gateway, {"model": "text-embedding-3-small", "input": CLEAN}, "embeddings")
    body = r.json()
    assert (r.status_code, body["decision"]["action"], body["detection"]["entities"]) == (200, "external", [])


@pytest.mark.parametrize(
    ("endpoint", "body", "status", "code"),
    [
        ("images", {"messages": []}, 400, "invalid_request"),
        (None, {"prompt": "x"}, 400, "invalid_request"),
    ],
    ids=["unknown-endpoint", "chat-without-messages"],
)
def test_explain_bad_request_is_openai_shaped_4xx(
    gateway: Running, endpoint: str | None, body: dict[str, Any], status: int, code: str
) -> None:
    r = explain(gateway, body, endpoint)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code)


def test_explain_needs_an_api_key(gateway: Running) -> None:
    r = httpx.post(f"{gateway.url}/v1/route/explain", json={"messages": []}, timeout=30)
    assert (r.status_code, r.json()["error"]["type"]) == (401, "authentication_error")


def test_explain_policy_failure_says_503_and_is_audited_as_block(
    gateway: Running, sims: Sims, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(policy_input: dict[str, Any]) -> Any:
        raise RuntimeError("engine crashed")

    monkeypatch.setattr(gateway.gw.policy, "evaluate", broken)
    before = (posts(sims.onprem), posts(sims.external))
    r = explain(gateway, {"model": "gpt-4o", "messages": [{"role": "user", "content": CLEAN}]})
    body = r.json()
    assert (r.status_code, body["would_status"], body["decision"]["action"]) == (200, 503, "block")
    assert body["decision"]["reasons"] == ["policy evaluation failed"]
    assert (posts(sims.onprem), posts(sims.external)) == before
    record = audit_record(gateway.audit_db, body["request_id"])
    assert (record["record_type"], record["action"], record["policy"]["id"]) == (
        "explain",
        "block",
        "privacy_router.fail_closed",
    )
