"""The audit store fails while the gateway serves (issue 6): disk full (SQLite ``max_page_count``),
INSERT revoked and the connection killed (PostgreSQL). Every request is refused with 503
``audit_unavailable``, nothing reaches any backend (the simulators' records), and once the store is
back the same gateway process continues the same chain: no restart, no gap, the chain verifies.

The gateway runs in-process on a real socket (testing.ServerThread) so the test can reach its store's
own connection, which is what a full disk or a revoked grant acts on.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from privacy_router.app import create_app
from privacy_router.audit.postgresql import PostgresAuditStore
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.errors import AuditWriteError
from privacy_router.gateway import Gateway
from privacy_router.testing import RunningSimulator, ServerThread
from tests.audit.conftest import PgCluster, make_decision
from tests.integration.conftest import US_KEY, sha

PHI = "Patient MRN 00482913 was admitted with chest pain."
CLEAN = "Name three primary colours."


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSimulator, RunningSimulator]]:
    tmp = tmp_path_factory.mktemp("outage")
    with (
        RunningSimulator("vllm", record_path=tmp / "onprem.jsonl") as onprem,
        RunningSimulator("openai", record_path=tmp / "external.jsonl") as external,
    ):
        yield onprem, external


def _gateway(audit: dict[str, Any], engine: DetectionEngine, onprem: str, external: str) -> Gateway:
    settings = load_settings(
        None,
        audit=audit,
        backends={
            "onprem": [{"name": "vllm-a", "url": onprem, "region": "us-east", "models": ["llama-3.1-8b"]}],
            "external": [{"name": "openai", "url": external, "region": "us", "models": ["gpt-4o"]}],
        },
        api_keys=[{"key_sha256": sha(US_KEY), "service": "svc", "tenant": "acme", "jurisdiction": "US"}],
    )
    return Gateway.from_settings(settings, detector=engine)


def _send(url: str, content: str) -> tuple[int, str]:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}
    r = httpx.post(
        f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {US_KEY}"}, timeout=30
    )
    code = r.json().get("error", {}).get("code") if r.status_code != 200 else "ok"
    return r.status_code, str(code)


def _posts(*sims: RunningSimulator) -> int:
    return sum(1 for s in sims for r in s.records() if r["method"] == "POST")


def test_sqlite_disk_full_refuses_then_recovers_without_restart(
    tmp_path: Path, detection_engine: DetectionEngine, sims: tuple[RunningSimulator, RunningSimulator]
) -> None:
    onprem, external = sims
    gw = _gateway({"sqlite_path": str(tmp_path / "audit.db")}, detection_engine, onprem.url, external.url)
    store = gw.audit
    assert isinstance(store, SqliteAuditStore)
    with ServerThread(create_app(gw)) as srv:
        assert _send(srv.url, CLEAN) == (200, "ok")
        before_rows = len(list(store.iter_rows()))
        # The disk is full: the database may not grow beyond the pages it has (the store's own
        # connection, as a full filesystem acts on it). Fill the last free page space.
        conn: sqlite3.Connection = store._conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        filled = 0
        with pytest.raises(AuditWriteError) as info:
            for n in range(10_000):
                store.append(make_decision(n))
                filled += 1
        assert info.value.message == "audit store (sqlite): append failed (SQLITE_FULL)"
        posts = _posts(onprem, external)
        assert [_send(srv.url, text) for text in (CLEAN, PHI, CLEAN)] == [(503, "audit_unavailable")] * 3
        assert _posts(onprem, external) == posts  # nothing forwarded while the store was full
        conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
        assert [_send(srv.url, text) for text in (CLEAN, PHI)] == [(200, "ok")] * 2
        report = store.verify()  # before the server's shutdown closes the store
        rows = [json.loads(r.canon) for r in store.iter_rows()]
    assert report.ok is True
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    # decision + completion per served request; nothing was written for the refused ones.
    assert len(rows) == before_rows + filled + 4


def test_postgresql_outage_refuses_then_recovers_without_restart(
    detection_engine: DetectionEngine,
    sims: tuple[RunningSimulator, RunningSimulator],
    pg_cluster: PgCluster,
    pg_schema: str,
) -> None:
    onprem, external = sims
    audit = {"store": "postgresql", "pg_dsn": pg_cluster.writer_dsn, "pg_schema": pg_schema}
    gw = _gateway(audit, detection_engine, onprem.url, external.url)
    store = gw.audit
    assert isinstance(store, PostgresAuditStore)
    table = sql.SQL("{}.audit_log").format(sql.Identifier(pg_schema))
    writer = sql.Identifier(pg_cluster.writer)
    with ServerThread(create_app(gw)) as srv, psycopg.connect(pg_cluster.admin_dsn, autocommit=True) as admin:
        assert _send(srv.url, CLEAN) == (200, "ok")
        posts = _posts(onprem, external)
        # 1. Privilege revoked (e.g. a DBA's mistake): INSERT fails with 42501.
        admin.execute(sql.SQL("REVOKE INSERT ON {} FROM {}").format(table, writer))
        assert [_send(srv.url, text) for text in (CLEAN, PHI)] == [(503, "audit_unavailable")] * 2
        admin.execute(sql.SQL("GRANT INSERT ON {} TO {}").format(table, writer))
        # 2. The connection dies (server restart, failover): terminate the store's backend.
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
            [pg_cluster.writer],
        )
        first = _send(srv.url, CLEAN)
        assert _posts(onprem, external) == posts + (1 if first[0] == 200 else 0)
        assert first in ((503, "audit_unavailable"), (200, "ok"))
        assert _send(srv.url, PHI) == (200, "ok")  # reconnected, no restart
        report = store.verify()  # before the server's shutdown closes the store
        rows = [json.loads(r.canon) for r in store.iter_rows()]
    assert report.ok is True
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    # Served: decision + completion. A request whose decision append hit the dead connection is
    # refused and audited as a block once the store has reconnected (pipeline.record_failed_decision).
    expected = ["decision", "completion"]
    expected += ["decision", "completion"] if first[0] == 200 else ["decision"]
    expected += ["decision", "completion"]
    assert [r["record_type"] for r in rows] == expected
    assert [r["action"] for r in rows if r["record_type"] == "decision"][-1] == "onprem"
