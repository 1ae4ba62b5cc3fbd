"""Fixtures for the audit tests: a fresh store, record factories, raw 'attacker' access, and
PostgreSQL roles and schemas created for the session on the real server (dropped after it)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from privacy_router.audit import SqliteAuditStore, completion_record, decision_record
from privacy_router.audit.postgresql import PostgresAuditStore, migrate
from privacy_router.types import Decision, PolicyInfo, Principal

HMAC_HEX = "ab" * 32
POLICY = PolicyInfo(revision="rev-7", files_hash="0123456789abcdef" * 4, engine="embedded")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteAuditStore]:
    s = SqliteAuditStore(db_path, busy_timeout_s=2.0)
    yield s
    s.close()


def make_decision(
    n: int = 0,
    *,
    tenant: str = "acme-health",
    action: str = "onprem",
    entity: str = "US_SSN",
    backend: str | None = "vllm-a",
) -> dict[str, Any]:
    """A realistic decision record; n varies the request id."""
    return decision_record(
        request_id=f"req-{n:04d}",
        principal=Principal("claims-bot", tenant, "US", key_id="k-1"),
        endpoint="chat.completions",
        model="gpt-4o",
        decision=Decision(action=action, backend=backend, reasons=("PHI present",)),  # type: ignore[arg-type]
        backend_region="us-east" if backend else None,
        policy=POLICY,
        pack_versions={"core": "1.0.0"},
        entities=[{"type": entity, "count": 1, "max_score": 0.95, "fields": ["messages[0].content"]}],
        categories=["PHI"],
        unscannable_parts=0,
        prompt_hmac=HMAC_HEX,
        policy_input={"request": {"endpoint": "chat.completions", "stream": False}},
    )


def make_completion(n: int = 0, *, decision_record_id: str = "0000") -> dict[str, Any]:
    return completion_record(
        request_id=f"req-{n:04d}",
        decision_record_id=decision_record_id,
        status=200,
        outcome="ok",
        latency_ms=12.5,
        usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        backend="vllm-a",
    )


@pytest.fixture
def decision_factory() -> Callable[..., dict[str, Any]]:
    return make_decision


@pytest.fixture
def completion_factory() -> Callable[..., dict[str, Any]]:
    return make_completion


def attacker_connection(path: Path) -> sqlite3.Connection:
    """A raw connection by someone with write access to the file, who drops the triggers first."""
    conn = sqlite3.connect(path, isolation_level=None)
    for name in ("audit_log_no_update", "audit_log_delete_archived_only", "audit_log_insert_next"):
        conn.execute(f"DROP TRIGGER {name}")
    return conn


@pytest.fixture
def attacker() -> Callable[[Path], sqlite3.Connection]:
    return attacker_connection


# -- PostgreSQL: roles and schemas made for this session, dropped after it ---------------------------


@dataclass(frozen=True)
class PgCluster:
    """Roles created for one test session on the real server: the schema owner and the runtime role."""

    admin_dsn: str  # the superuser DSN of the pg_dsn fixture (plays the attacker with full rights)
    owner: str
    writer: str
    owner_dsn: str
    writer_dsn: str

    def dsn_as(self, role: str) -> str:
        return make_conninfo(self.admin_dsn, user=role)

    def new_schema(self) -> str:
        """A freshly migrated schema with the writer granted INSERT + SELECT."""
        schema = f"{self.owner}_{uuid.uuid4().hex[:8]}"
        migrate(self.owner_dsn, schema=schema, runtime_role=self.writer)
        return schema


@pytest.fixture(scope="session")
def pg_cluster(pg_dsn: str) -> Iterator[PgCluster]:
    tag = uuid.uuid4().hex[:8]
    owner, writer = f"pr_test_owner_{tag}", f"pr_test_writer_{tag}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        dbname = conn.info.dbname
        for role in (owner, writer):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(dbname), sql.Identifier(owner))
        )
    cluster = PgCluster(
        pg_dsn, owner, writer, make_conninfo(pg_dsn, user=owner), make_conninfo(pg_dsn, user=writer)
    )
    try:
        yield cluster
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            # DROP OWNED drops the owner's schemas (and everything in them) and revokes every grant.
            for role in (owner, writer):
                conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def pg_schema(pg_cluster: PgCluster) -> Iterator[str]:
    schema = pg_cluster.new_schema()
    yield schema
    with psycopg.connect(pg_cluster.owner_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def pg_store(pg_cluster: PgCluster, pg_schema: str) -> Iterator[PostgresAuditStore]:
    s = PostgresAuditStore(pg_cluster.writer_dsn, schema=pg_schema)
    yield s
    s.close()
