"""Every answer to a request that has a decision record carries ``x-privacy-audit-id`` naming it,
error answers included (issue 8, "records equal requests"): a fail-closed refusal after detection,
and a fault of the gateway's own after the record was written."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from privacy_router.api import proxy
from privacy_router.audit.sqlite import open_verified
from tests.hardening.conftest import CLIENT_KEY, Harness

HEADERS = {"authorization": f"Bearer {CLIENT_KEY}"}


def send(h: Harness, text: str, *, stream: bool) -> httpx.Response:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], "stream": stream}
    return httpx.post(f"{h.url}/v1/chat/completions", json=body, headers=HEADERS, timeout=30)


def records(h: Harness) -> list[dict[str, Any]]:
    store = open_verified(h.gw.settings.audit.sqlite_path)
    try:
        return [json.loads(row.canon) | {"record_id": row.record_id} for row in store.iter_rows()]
    finally:
        store.close()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_policy_engine_failure_answers_with_the_id_of_its_refusal_record(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    def broken(policy_input: dict[str, Any]) -> object:
        raise RuntimeError("engine down")

    monkeypatch.setattr(harness.gw.policy, "evaluate", broken)
    r = send(harness, f"Name a colour, policy failure, stream={stream}.", stream=stream)
    audit_id = r.headers["x-privacy-audit-id"]
    [decision] = [rec for rec in records(harness) if rec["record_id"] == audit_id]
    assert decision["record_type"] == "decision"
    if r.status_code != 200:  # the policy's failure action is "block": refused, fail closed
        assert (r.status_code, decision["action"]) == (503, "block")
        assert r.json()["error"]["code"] == "policy_unavailable"
    else:  # failure action "onprem": served on-prem, still with its record
        assert decision["action"] == "onprem"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_gateway_fault_after_the_decision_record_still_names_the_record(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    """Before the fix this answer was the app's generic 500, without the header or a completion."""

    async def broken(*args: object) -> object:
        raise RuntimeError("fault 078-05-1120")  # a value in the message must not leak

    monkeypatch.setattr(proxy, "_with_retries", broken)
    r = send(harness, f"Name a colour, gateway fault, stream={stream}.", stream=stream)
    assert r.status_code == 500
    assert r.json() == {
        "error": {
            "message": "internal error",
            "type": "internal_error",
            "param": None,
            "code": "internal_error",
        }
    }
    assert "078-05-1120" not in r.text
    audit_id = r.headers["x-privacy-audit-id"]
    rows = records(harness)
    [decision] = [rec for rec in rows if rec["record_id"] == audit_id]
    assert decision["record_type"] == "decision"
    completions = [rec for rec in rows if rec.get("decision_record_id") == audit_id]
    assert [(c["status"], c["outcome"]) for c in completions] == [(500, "rejected")]
