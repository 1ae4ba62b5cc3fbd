"""The compliance API over real sockets: a gateway that served recorded traffic, read back with
compliance keys; every read is itself in the chain.

The traffic (``record_traffic``) is real requests through the whole pipeline (spaCy, Rego, the two
upstream simulators) on three fake days, stamped by a stepping clock given to the SQLite store:

    day 1 (2026-03-02)  claims-bot / acme-health   clean -> external, PII -> external_scrubbed, PHI -> onprem
    day 2 (2026-03-03)  hr-bot / beta-corp         clean -> external, PHI -> onprem
    day 3 (2026-03-04)  claims-bot / acme-health   clean while the policy engine fails -> 503, audited block
    from 2026-03-05     the reads of the tests (audit_query records)

6 decision records and 5 completion records (the refusal has none): seqs 1..11.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from privacy_router.app import create_app
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.gateway import Gateway
from privacy_router.testing import RunningSimulator, ServerThread
from tests.integration.conftest import sha

CLIENT_A = "key-claims-bot"
CLIENT_B = "key-hr-bot"
COMPLIANCE = "key-compliance-officer"
ADMIN = "key-admin"

CLEAN = "Name three primary colours."
PII = "Write to Maria Gonzalez at maria.gonzalez@example.com about the invoice."
PHI = "Patient MRN 00482913 was admitted with chest pain."
SENSITIVE_VALUES = ("Maria Gonzalez", "maria.gonzalez@example.com", "00482913")

DAY1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
DAY3 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
READS_FROM = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


class SteppingClock:
    """The store's clock: each call returns the current instant and moves it one second on."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        now = self.now
        self.now += timedelta(seconds=1)
        return now


@dataclass
class Recorded:
    url: str
    gw: Gateway
    clock: SteppingClock
    audit_ids: dict[str, str]  # label -> decision record id

    def get(self, path: str, key: str | None = COMPLIANCE, **params: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.get(f"{self.url}{path}", params=params, headers=headers, timeout=60)


def make_gateway(tmp: Path, engine: DetectionEngine, onprem_url: str, external_url: str) -> Gateway:
    def key(k: str, service: str, tenant: str, roles: list[str]) -> dict[str, Any]:
        return {
            "key_sha256": sha(k),
            "service": service,
            "tenant": tenant,
            "jurisdiction": "US",
            "roles": roles,
        }

    settings = load_settings(
        None,
        server={"detection_timeout_s": 10.0},
        audit={"sqlite_path": str(tmp / "audit.db")},
        backends={
            "onprem": [
                {"name": "vllm-a", "url": onprem_url, "region": "us-east", "models": ["llama-3.1-8b"]}
            ],
            "external": [{"name": "openai", "url": external_url, "region": "us", "models": ["gpt-4o"]}],
        },
        model_map={"gpt-4o": "llama-3.1-8b"},
        api_keys=[
            key(CLIENT_A, "claims-bot", "acme-health", ["client"]),
            key(CLIENT_B, "hr-bot", "beta-corp", ["client"]),
            key(COMPLIANCE, "compliance-desk", "acme-health", ["compliance"]),
            key(ADMIN, "ops", "acme-health", ["admin"]),
        ],
    )
    return Gateway.from_settings(settings, detector=engine)


def chat(url: str, key: str, content: str) -> httpx.Response:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}
    return httpx.post(
        f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=60
    )


def record_traffic(url: str, gw: Gateway, clock: SteppingClock) -> dict[str, str]:
    """Send the traffic of the module docstring; returns each request's decision record id."""
    ids: dict[str, str] = {}
    plan = [
        (DAY1, "a-clean", CLIENT_A, CLEAN, "external"),
        (DAY1, "a-pii", CLIENT_A, PII, "external_scrubbed"),
        (DAY1, "a-phi", CLIENT_A, PHI, "onprem"),
        (DAY2, "b-clean", CLIENT_B, CLEAN, "external"),
        (DAY2, "b-phi", CLIENT_B, PHI, "onprem"),
    ]
    for day, label, key, content, route in plan:
        if clock.now < day:
            clock.now = day
        r = chat(url, key, content)
        assert (r.status_code, r.headers["x-privacy-route"]) == (200, route), label
        ids[label] = r.headers["x-privacy-audit-id"]
    clock.now = DAY3
    evaluate = gw.policy.evaluate

    def broken(policy_input: dict[str, Any]) -> Any:
        raise RuntimeError("engine crashed")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gw.policy, "evaluate", broken)
        r = chat(url, CLIENT_A, CLEAN)
    assert gw.policy.evaluate == evaluate
    assert (r.status_code, r.headers["x-privacy-route"]) == (503, "blocked")
    ids["a-failed"] = r.headers["x-privacy-audit-id"]
    # Reads of the log (audit_query records) from here on are stamped on a later day.
    clock.now = READS_FROM
    return ids


@contextmanager
def recorded_gateway(
    tmp: Path, engine: DetectionEngine, onprem: RunningSimulator, external: RunningSimulator
) -> Iterator[Recorded]:
    """A gateway on a real socket whose audit log holds the traffic of the module docstring."""
    gw = make_gateway(tmp, engine, onprem.url, external.url)
    clock = SteppingClock(DAY1)
    # The same file, reopened with a clock the test controls (SqliteAuditStore's ``clock`` seam).
    gw.audit.close()
    gw.audit = SqliteAuditStore(tmp / "audit.db", clock=clock)
    with ServerThread(create_app(gw)) as srv:
        ids = record_traffic(srv.url, gw, clock)
        yield Recorded(srv.url, gw, clock, ids)


@pytest.fixture(scope="module")
def recorded(
    tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine
) -> Iterator[Recorded]:
    tmp = tmp_path_factory.mktemp("audit-api")
    with (
        RunningSimulator("vllm", record_path=tmp / "onprem.jsonl") as onprem,
        RunningSimulator("openai", record_path=tmp / "external.jsonl") as external,
        recorded_gateway(tmp, detection_engine, onprem, external) as rec,
    ):
        yield rec


def seqs(body: dict[str, Any]) -> list[int]:
    return [r["seq"] for r in body["data"]]


def audit_queries(rec: Recorded) -> list[dict[str, Any]]:
    """Every audit_query record so far, read straight from the store (this read is not audited)."""
    return [json.loads(row.canon) for row in rec.gw.audit.iter_rows() if row.record_type == "audit_query"]


# -- access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "key", "status", "code"),
    [
        ("/v1/audit/records", None, 401, "invalid_api_key"),
        ("/v1/audit/records", "not-a-key", 401, "invalid_api_key"),
        ("/v1/audit/records", CLIENT_A, 403, "forbidden"),
        ("/v1/audit/stats", CLIENT_B, 403, "forbidden"),
        ("/v1/audit/verify", CLIENT_A, 403, "forbidden"),
        ("/v1/audit/export", CLIENT_A, 403, "forbidden"),
        ("/v1/audit/records/00000000-0000-7000-8000-000000000000", CLIENT_A, 403, "forbidden"),
    ],
    ids=[
        "no-key",
        "unknown-key",
        "client-records",
        "client-stats",
        "client-verify",
        "client-export",
        "client-one",
    ],
)
def test_only_compliance_and_admin_keys_read_the_log(
    recorded: Recorded, path: str, key: str | None, status: int, code: str
) -> None:
    before = len(audit_queries(recorded))
    r = recorded.get(path, key)
    assert r.status_code == status
    assert r.json()["error"]["code"] == code
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert len(audit_queries(recorded)) == before  # a refused read returns and records nothing


def test_admin_key_reads_the_log(recorded: Recorded) -> None:
    r = recorded.get("/v1/audit/records", ADMIN, record_type="decision")
    assert r.status_code == 200
    assert seqs(r.json()) == [1, 3, 5, 7, 9, 11]


# -- records and filters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"record_type": "decision"}, [1, 3, 5, 7, 9, 11]),
        ({"record_type": "completion"}, [2, 4, 6, 8, 10]),
        ({"tenant": "beta-corp"}, [7, 8, 9, 10]),
        ({"service": "claims-bot"}, [1, 2, 3, 4, 5, 6, 11]),
        ({"action": "external"}, [1, 7]),
        ({"action": "block"}, [11]),
        ({"backend": "openai"}, [1, 2, 3, 4, 7, 8]),
        ({"backend": "vllm-a", "tenant": "acme-health"}, [5, 6]),
        ({"entity_type": "EMAIL_ADDRESS"}, [3]),
        ({"since": "2026-03-03", "until": "2026-03-04"}, [7, 8, 9, 10]),
        ({"since": "2026-03-03T09:00:02Z", "until": "2026-03-03T09:00:03Z"}, [9]),
        ({"tenant": "nobody"}, []),
    ],
    ids=[
        "decisions",
        "completions",
        "tenant",
        "service",
        "action",
        "blocked",
        "backend",
        "backend-and-tenant",
        "entity-type",
        "one-day",
        "one-second",
        "no-match",
    ],
)
def test_filters_select_exactly_the_matching_records(
    recorded: Recorded, params: dict[str, str], expected: list[int]
) -> None:
    r = recorded.get("/v1/audit/records", **params)
    assert r.status_code == 200
    body = r.json()
    assert seqs(body) == expected
    assert (body["object"], body["has_more"], body["next_cursor"]) == ("list", False, None)


def test_policy_revision_filter(recorded: Recorded) -> None:
    revision = recorded.gw.policy.info.revision
    r = recorded.get("/v1/audit/records", policy_revision=revision)
    # Five decisions under the loaded policy; the fail-closed block carries the same revision too.
    assert seqs(r.json()) == [1, 3, 5, 7, 9, 11]
    assert recorded.get("/v1/audit/records", policy_revision="rev-that-never-was").json()["data"] == []


def test_cursor_pagination_walks_every_decision_once(recorded: Recorded) -> None:
    pages: list[list[int]] = []
    cursors: list[int | None] = []
    cursor = 0
    while True:
        body = recorded.get("/v1/audit/records", record_type="decision", limit=4, cursor=cursor).json()
        pages.append(seqs(body))
        cursors.append(body["next_cursor"])
        if not body["has_more"]:
            break
        cursor = body["next_cursor"]
    assert pages == [[1, 3, 5, 7], [9, 11]]
    assert cursors == [7, None]


def test_records_hold_hashes_and_no_values(recorded: Recorded) -> None:
    body = recorded.get("/v1/audit/records", until="2026-03-05").json()
    assert seqs(body) == list(range(1, 12))
    text = json.dumps(body)
    for value in SENSITIVE_VALUES:
        assert value not in text
    first, second = body["data"][0], body["data"][1]
    assert first["prev_hash"] == "00" * 32
    assert second["prev_hash"] == first["entry_hash"]
    scrubbed = body["data"][2]
    assert (scrubbed["action"], sorted(e["type"] for e in scrubbed["entities"])) == (
        "external_scrubbed",
        ["EMAIL_ADDRESS", "PERSON"],
    )


def test_one_record_with_its_neighbours(recorded: Recorded) -> None:
    record_id = recorded.audit_ids["a-pii"]
    r = recorded.get(f"/v1/audit/records/{record_id}")
    assert r.status_code == 200
    body = r.json()
    assert (body["record"]["seq"], body["record"]["record_id"]) == (3, record_id)
    assert body["chain"]["previous"]["seq"] == 2
    assert body["chain"]["next"]["seq"] == 4
    assert body["chain"]["previous"]["entry_hash"] == body["record"]["prev_hash"]
    assert body["chain"]["next"]["prev_hash"] == body["record"]["entry_hash"]
    assert body["chain"]["next"]["record_type"] == "completion"


def test_first_record_has_no_previous(recorded: Recorded) -> None:
    body = recorded.get(f"/v1/audit/records/{recorded.audit_ids['a-clean']}").json()
    assert (body["record"]["seq"], body["chain"]["previous"], body["chain"]["next"]["seq"]) == (1, None, 2)


# -- bad input is a 4xx in the OpenAI error shape -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status", "param"),
    [
        ("/v1/audit/records", {"action": "teleport"}, 400, "action"),
        ("/v1/audit/records", {"record_type": "diary"}, 400, "record_type"),
        ("/v1/audit/records", {"since": "last tuesday"}, 400, "since"),
        ("/v1/audit/records", {"since": "2026-03-04", "until": "2026-03-03"}, 400, "until"),
        ("/v1/audit/records", {"limit": "0"}, 400, "limit"),
        ("/v1/audit/records", {"limit": "1001"}, 400, "limit"),
        ("/v1/audit/records", {"cursor": "-1"}, 400, "cursor"),
        ("/v1/audit/records", {"tennant": "acme-health"}, 400, "query"),
        ("/v1/audit/records", {"tenant": "x" * 129}, 400, "tenant"),
        ("/v1/audit/export", {"format": "xlsx"}, 400, "format"),
        ("/v1/audit/records/not-a-uuid", {}, 404, None),
        ("/v1/audit/records/01890a5d-ac96-774b-bcce-b302099a8057", {}, 404, None),
    ],
    ids=[
        "action",
        "record-type",
        "since",
        "until-before-since",
        "limit-zero",
        "limit-high",
        "cursor-negative",
        "misspelt-filter",
        "long-value",
        "export-format",
        "id-not-uuid",
        "id-unknown",
    ],
)
def test_bad_queries_are_4xx_in_openai_shape(
    recorded: Recorded, path: str, params: dict[str, str], status: int, param: str | None
) -> None:
    r = recorded.get(path, **params)
    assert r.status_code == status
    error = r.json()["error"]
    assert error["param"] == param
    for value in params.values():
        if len(value) > 8:
            assert value not in error["message"]


# -- stats ----------------------------------------------------------------------------------------


def test_stats_count_requests_by_day_action_tenant_and_entity(recorded: Recorded) -> None:
    r = recorded.get("/v1/audit/stats")
    assert r.status_code == 200
    body = r.json()
    assert body["requests"] == 6
    assert (body["left_premises"], body["left_premises_share"]) == (3, 0.5)
    assert (body["blocked"], body["fail_closed"], body["detection_degraded"]) == (1, 1, 0)
    assert body["by_day"] == {
        "2026-03-02": {"external": 1, "external_scrubbed": 1, "onprem": 1},
        "2026-03-03": {"external": 1, "onprem": 1},
        "2026-03-04": {"block": 1},
    }
    assert body["by_action"] == {"external": 2, "onprem": 2, "block": 1, "external_scrubbed": 1}
    assert body["by_tenant"] == {"acme-health": 4, "beta-corp": 2}
    assert body["by_service"] == {"claims-bot": 4, "hr-bot": 2}
    assert body["by_entity_type"] == {"MEDICAL_RECORD_NUMBER": 2, "EMAIL_ADDRESS": 1, "PERSON": 1}
    assert body["by_category"] == {"PHI": 2, "PII": 1}


def test_stats_follow_the_filter(recorded: Recorded) -> None:
    body = recorded.get("/v1/audit/stats", tenant="beta-corp", since="2026-03-03", until="2026-03-04").json()
    assert (body["requests"], body["left_premises"], body["blocked"]) == (2, 1, 0)
    assert body["filters"] == {
        "since": "2026-03-03T00:00:00.000Z",
        "until": "2026-03-04T00:00:00.000Z",
        "tenant": "beta-corp",
    }


# -- verify ---------------------------------------------------------------------------------------


def test_verify_reports_an_intact_chain(recorded: Recorded) -> None:
    rows = sum(1 for _ in recorded.gw.audit.iter_rows())
    r = recorded.get("/v1/audit/verify")
    assert r.status_code == 200
    body = r.json()
    assert (body["ok"], body["records"], body["first_bad_seq"], body["problem"]) == (True, rows, None, None)
    last = next(iter(recorded.gw.audit.iter_rows(rows)))
    assert body["head_hash"] == last.entry_hash.hex()


# -- export ---------------------------------------------------------------------------------------


def test_jsonl_export_streams_the_same_records_as_the_api(recorded: Recorded) -> None:
    listed = recorded.get("/v1/audit/records", tenant="acme-health", until="2026-03-05").json()["data"]
    r = recorded.get("/v1/audit/export", format="jsonl", tenant="acme-health", until="2026-03-05")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-ndjson"
    assert r.headers["content-disposition"].startswith('attachment; filename="audit-')
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert lines == listed
    assert [rec["seq"] for rec in lines] == [1, 2, 3, 4, 5, 6, 11]
    assert r.headers["x-audit-rows"] == "7"


def test_csv_export_has_one_row_per_record(recorded: Recorded) -> None:
    r = recorded.get("/v1/audit/export", format="csv", record_type="decision")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [int(row["seq"]) for row in rows] == [1, 3, 5, 7, 9, 11]
    assert [row["action"] for row in rows] == [
        "external",
        "external_scrubbed",
        "onprem",
        "external",
        "onprem",
        "block",
    ]
    assert rows[1]["entity_types"] == "EMAIL_ADDRESS;PERSON"
    assert rows[5]["policy_id"] == "privacy_router.fail_closed"
    for value in SENSITIVE_VALUES:
        assert value not in r.text


# -- every read is audited ------------------------------------------------------------------------


def test_each_read_appends_one_audit_query_record(recorded: Recorded) -> None:
    before = audit_queries(recorded)
    recorded.get("/v1/audit/records", tenant="beta-corp", action="onprem", limit=5)
    recorded.get("/v1/audit/stats", since="2026-03-02")
    recorded.get(f"/v1/audit/records/{recorded.audit_ids['b-phi']}")
    recorded.get("/v1/audit/export", format="csv", entity_type="PERSON")
    new = audit_queries(recorded)[len(before) :]
    assert [(q["surface"], q["operation"], q["filters"], q["rows"]) for q in new] == [
        ("api", "records", {"action": "onprem", "cursor": 0, "limit": 5, "tenant": "beta-corp"}, 1),
        ("api", "stats", {"since": "2026-03-02T00:00:00.000Z"}, 6),
        ("api", "record", {}, 1),
        ("api", "export.csv", {"entity_type": "PERSON"}, 1),
    ]
    assert {q["principal"]["service"] for q in new} == {"compliance-desk"}
    assert new[2]["record_id_read"] == recorded.audit_ids["b-phi"]


def test_a_value_typed_into_a_filter_never_reaches_the_chain(recorded: Recorded) -> None:
    before = len(audit_queries(recorded))
    r = recorded.get("/v1/audit/records", tenant="123-45-6789")
    assert (r.status_code, r.json()["data"]) == (200, [])
    query = audit_queries(recorded)[before]
    assert query["filters"] == {"cursor": 0, "limit": 100, "tenant": "<redacted>"}
    assert "123-45-6789" not in json.dumps(audit_queries(recorded))


def test_a_read_that_cannot_be_audited_returns_nothing(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from privacy_router.errors import AuditWriteError

    def down(record: dict[str, Any]) -> Any:
        raise AuditWriteError("audit store unavailable")

    monkeypatch.setattr(recorded.gw.audit, "append", down)
    for path in ("/v1/audit/records", "/v1/audit/stats", "/v1/audit/verify", "/v1/audit/export"):
        r = recorded.get(path)
        assert (r.status_code, r.json()["error"]["code"]) == (503, "audit_unavailable"), path
        assert "data" not in r.json()
