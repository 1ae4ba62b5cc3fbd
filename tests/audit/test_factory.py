"""open_store chooses and verifies the configured store; the CLI reads PostgreSQL with --dsn."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from privacy_router.audit.commands import app
from privacy_router.audit.factory import default_origin, open_store
from privacy_router.audit.postgresql import PostgresAuditStore
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.config import AuditSettings, Settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.errors import AuditWriteError, ConfigError
from privacy_router.gateway import Gateway
from tests.audit.conftest import PgCluster, make_decision

runner = CliRunner()


def test_open_store_defaults_to_sqlite(tmp_path: Path) -> None:
    store = open_store(AuditSettings(sqlite_path=tmp_path / "a.db"))
    assert isinstance(store, SqliteAuditStore)
    assert store.append(make_decision(0)).seq == 1
    store.close()


def test_open_store_opens_postgresql_as_the_runtime_role(pg_cluster: PgCluster, pg_schema: str) -> None:
    settings = AuditSettings(store="postgresql", pg_dsn=pg_cluster.writer_dsn, pg_schema=pg_schema)
    store = open_store(settings)
    assert isinstance(store, PostgresAuditStore)
    assert [store.append(make_decision(i)).seq for i in range(2)] == [1, 2]
    store.close()


def test_open_store_refuses_a_postgresql_chain_that_fails_verification(
    pg_cluster: PgCluster, pg_schema: str
) -> None:
    with PostgresAuditStore(pg_cluster.writer_dsn, schema=pg_schema) as store:
        for i in range(3):
            store.append(make_decision(i))
    with psycopg.connect(pg_cluster.admin_dsn, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(sql.SQL("DELETE FROM {}.audit_log WHERE seq = 2").format(sql.Identifier(pg_schema)))
    settings = AuditSettings(store="postgresql", pg_dsn=pg_cluster.writer_dsn, pg_schema=pg_schema)
    with pytest.raises(AuditWriteError) as info:
        open_store(settings)
    assert info.value.message == (
        f"audit log {pg_schema} (postgresql) failed verification at seq 2: seq 2 missing (found seq 3)"
    )


def test_gateway_refuses_to_start_as_the_table_owner(
    pg_cluster: PgCluster, pg_schema: str, detection_engine: DetectionEngine
) -> None:
    settings = Settings(
        server={"insecure_dev": True},
        audit={"store": "postgresql", "pg_dsn": pg_cluster.owner_dsn, "pg_schema": pg_schema},
    )
    with pytest.raises(ConfigError) as info:
        Gateway.from_settings(settings, detector=detection_engine)
    assert info.value.message.startswith(
        f"audit store: audit store (postgresql): runtime role {pg_cluster.owner!r} owns the audit table"
    )
    assert info.value.message.endswith("(see audit/README.md 'PostgreSQL set-up'); refusing to start")


def test_default_origin_names_the_log() -> None:
    settings = AuditSettings(
        store="postgresql", pg_dsn="postgresql://router@db.example:5432/prod", pg_schema="audit_eu"
    )
    assert default_origin(settings) == "privacy-router/audit/postgresql/db.example/prod/audit_eu"
    assert default_origin(settings.model_copy(update={"checkpoint_origin": "acme/eu"})) == "acme/eu"


def test_cli_migrate_then_query_and_verify_with_dsn(pg_cluster: PgCluster) -> None:
    schema = f"{pg_cluster.owner}_cli"
    result = runner.invoke(
        app,
        ["migrate", "--dsn", pg_cluster.owner_dsn, "--schema", schema, "--runtime-role", pg_cluster.writer],
    )
    assert (result.exit_code, result.output) == (0, "applied: 001_audit_log.sql, 002_archive_anchor.sql\n")
    again = runner.invoke(app, ["migrate", "--dsn", pg_cluster.owner_dsn, "--schema", schema])
    assert (again.exit_code, again.output) == (0, "up to date\n")
    with PostgresAuditStore(pg_cluster.writer_dsn, schema=schema) as store:
        head = [store.append(make_decision(i, tenant=t)) for i, t in enumerate(["a", "b", "a"])][
            -1
        ].entry_hash
    verified = runner.invoke(app, ["verify", "--dsn", pg_cluster.writer_dsn, "--schema", schema])
    assert (verified.exit_code, verified.output) == (0, f"OK: 3 records, head {head}\n")
    queried = runner.invoke(
        app, ["query", "--dsn", pg_cluster.writer_dsn, "--schema", schema, "--tenant", "a", "--jsonl"]
    )
    assert queried.exit_code == 0
    assert [json.loads(line)["seq"] for line in queried.output.splitlines()] == [1, 3]
