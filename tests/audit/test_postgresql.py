"""PostgreSQL store against the real server: migrations, append-only enforcement per statement,
the runtime role self-check, concurrent writer processes, and the JSONB trap."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

from privacy_router.audit.canonical import canonical
from privacy_router.audit.postgresql import SCHEMA_VERSION, PostgresAuditStore, migrate, migrations
from privacy_router.errors import AuditWriteError
from tests.audit.conftest import PgCluster


def _count(cluster: PgCluster, schema: str) -> int:
    with psycopg.connect(cluster.admin_dsn) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.audit_log").format(sql.Identifier(schema))
        ).fetchone()
    assert row is not None
    return int(row[0])


def _filled(
    cluster: PgCluster, schema: str, decision_factory: Callable[..., dict[str, Any]], n: int = 3
) -> None:
    with PostgresAuditStore(cluster.writer_dsn, schema=schema) as store:
        for i in range(n):
            store.append(decision_factory(i))


def test_schema_version_is_the_newest_migration() -> None:
    assert [m.version for m in migrations()] == list(range(1, SCHEMA_VERSION + 1))


def test_migrate_is_idempotent_and_records_each_file(pg_cluster: PgCluster, pg_schema: str) -> None:
    assert migrate(pg_cluster.owner_dsn, schema=pg_schema, runtime_role=pg_cluster.writer) == []
    with psycopg.connect(pg_cluster.admin_dsn) as conn:
        rows = conn.execute(
            sql.SQL("SELECT version, name, sha256 FROM {}.schema_migrations ORDER BY version").format(
                sql.Identifier(pg_schema)
            )
        ).fetchall()
    first, second = migrations()
    assert rows == [
        (1, "001_audit_log.sql", first.sha256),
        (2, "002_archive_anchor.sql", second.sha256),
    ]


def test_migrate_refuses_the_owner_as_runtime_role(pg_cluster: PgCluster, pg_schema: str) -> None:
    with pytest.raises(AuditWriteError) as info:
        migrate(pg_cluster.owner_dsn, schema=pg_schema, runtime_role=pg_cluster.owner)
    assert info.value.message == (
        "audit migrate: --runtime-role must differ from the owner role of --dsn "
        "(the router must not own its audit table)"
    )


def test_append_and_verify_on_the_runtime_role(
    pg_store: PostgresAuditStore, decision_factory: Callable[..., dict[str, Any]]
) -> None:
    receipts = [pg_store.append(decision_factory(i)) for i in range(5)]
    assert [r.seq for r in receipts] == [1, 2, 3, 4, 5]
    report = pg_store.verify()
    assert (report.ok, report.records, report.head_hash) == (True, 5, receipts[-1].entry_hash)


# Statements the runtime role must never get through. SQLSTATE 42501 = insufficient_privilege
# (PostgreSQL errcodes appendix). threats.md 1.5 lists the observed messages.
WRITER_STATEMENTS = [
    pytest.param("UPDATE {t} SET action = 'block' WHERE seq = 1", id="update"),
    pytest.param("DELETE FROM {t} WHERE seq = 1", id="delete"),
    pytest.param("TRUNCATE {t}", id="truncate"),
    pytest.param(
        "INSERT INTO {t} SELECT * FROM {t} WHERE seq = 1 ON CONFLICT (seq) DO UPDATE SET action = 'block'",
        id="upsert",
    ),
    pytest.param("ALTER TABLE {t} DISABLE TRIGGER audit_log_no_update_delete", id="disable-trigger"),
    pytest.param("ALTER TABLE {t} DISABLE TRIGGER ALL", id="disable-all-triggers"),
    pytest.param("DROP TRIGGER audit_log_no_update_delete ON {t}", id="drop-trigger"),
    pytest.param("ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY", id="no-force-rls"),
    pytest.param("DROP TABLE {t}", id="drop-table"),
    pytest.param("SET session_replication_role = replica", id="session-replication-role"),
]


@pytest.mark.parametrize("statement", WRITER_STATEMENTS)
def test_runtime_role_is_refused(
    pg_cluster: PgCluster, pg_schema: str, decision_factory: Callable[..., dict[str, Any]], statement: str
) -> None:
    _filled(pg_cluster, pg_schema, decision_factory)
    table = sql.SQL("{}.audit_log").format(sql.Identifier(pg_schema))
    with (
        psycopg.connect(pg_cluster.writer_dsn, autocommit=True) as conn,
        pytest.raises(psycopg.Error) as info,
    ):
        conn.execute(sql.SQL(statement).format(t=table))  # type: ignore[arg-type]
    assert info.value.sqlstate == "42501"
    assert _count(pg_cluster, pg_schema) == 3


def test_runtime_role_cannot_insert_a_row_that_does_not_extend_the_chain(
    pg_cluster: PgCluster, pg_schema: str, decision_factory: Callable[..., dict[str, Any]]
) -> None:
    """The INSERT trigger: a forged next row with a wrong prev_hash is refused (SQLSTATE 23000)."""
    _filled(pg_cluster, pg_schema, decision_factory)
    table = sql.SQL("{}.audit_log").format(sql.Identifier(pg_schema))
    with (
        psycopg.connect(pg_cluster.writer_dsn, autocommit=True) as conn,
        pytest.raises(psycopg.Error) as info,
    ):
        conn.execute(
            sql.SQL(
                "INSERT INTO {t} SELECT 4, 'forged', ts, record_type, request_id, tenant, action, canon, "
                "prev_hash, entry_hash FROM {t} WHERE seq = 3"
            ).format(t=table)
        )
    assert info.value.sqlstate == "23000"
    assert _count(pg_cluster, pg_schema) == 3


def test_owner_update_and_delete_match_no_row_under_forced_rls(
    pg_cluster: PgCluster, pg_schema: str, decision_factory: Callable[..., dict[str, Any]]
) -> None:
    """threats.md 1.5: with FORCE RLS and no UPDATE/DELETE policy even the owner touches 0 rows, silently."""
    _filled(pg_cluster, pg_schema, decision_factory)
    table = sql.SQL("{}.audit_log").format(sql.Identifier(pg_schema))
    with psycopg.connect(pg_cluster.owner_dsn, autocommit=True) as conn:
        updated = conn.execute(sql.SQL("UPDATE {} SET action = 'block'").format(table)).rowcount
        deleted = conn.execute(sql.SQL("DELETE FROM {}").format(table)).rowcount
    assert (updated, deleted) == (0, 0)
    assert _count(pg_cluster, pg_schema) == 3


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("UPDATE {t} SET action = 'block'", id="update"),
        pytest.param("DELETE FROM {t}", id="delete"),
        pytest.param("TRUNCATE {t}", id="truncate"),
    ],
)
def test_owner_without_forced_rls_still_meets_the_triggers(
    pg_cluster: PgCluster, pg_schema: str, decision_factory: Callable[..., dict[str, Any]], statement: str
) -> None:
    _filled(pg_cluster, pg_schema, decision_factory)
    table = sql.SQL("{}.audit_log").format(sql.Identifier(pg_schema))
    with psycopg.connect(pg_cluster.owner_dsn) as conn:
        conn.execute(sql.SQL("ALTER TABLE {} NO FORCE ROW LEVEL SECURITY").format(table))
        with pytest.raises(psycopg.Error) as info:
            conn.execute(sql.SQL(statement).format(t=table))  # type: ignore[arg-type]
        conn.rollback()
    assert info.value.sqlstate == "42501"
    assert _count(pg_cluster, pg_schema) == 3


def _refusal(dsn: str, schema: str) -> str:
    with pytest.raises(AuditWriteError) as info:
        PostgresAuditStore(dsn, schema=schema)
    return info.value.message


ADVICE = (
    ". The router must run as a role with INSERT and SELECT only (see audit/README.md 'PostgreSQL set-up')"
)


def test_check_role_refuses_the_owner(pg_cluster: PgCluster, pg_schema: str) -> None:
    assert _refusal(pg_cluster.owner_dsn, pg_schema) == (
        f"audit store (postgresql): runtime role {pg_cluster.owner!r} owns the audit table (or is a member "
        "of its owner role); owns the audit schema (or is a member of its owner role); holds UPDATE on "
        "the audit table; holds DELETE on the audit table; holds TRUNCATE on the audit table; "
        "may write the archive anchor (archiving is the owner's job)" + ADVICE
    )


def test_check_role_refuses_a_superuser(pg_cluster: PgCluster, pg_schema: str) -> None:
    with psycopg.connect(pg_cluster.admin_dsn) as conn:
        row = conn.execute("SELECT current_user").fetchone()
    assert row is not None
    assert _refusal(pg_cluster.admin_dsn, pg_schema) == (
        f"audit store (postgresql): runtime role {row[0]!r} is a superuser; has BYPASSRLS; owns the audit "
        "table (or is a member of its owner role); owns the audit schema (or is a member of its owner "
        "role); holds UPDATE on the audit table; holds DELETE on the audit table; holds TRUNCATE on the "
        "audit table; may write the archive anchor (archiving is the owner's job)" + ADVICE
    )


@pytest.mark.parametrize(
    ("grant", "revoke", "problem"),
    [
        pytest.param(
            "GRANT UPDATE ON {t} TO {r}",
            "REVOKE UPDATE ON {t} FROM {r}",
            "holds UPDATE on the audit table",
            id="update",
        ),
        pytest.param(
            "GRANT DELETE ON {t} TO {r}",
            "REVOKE DELETE ON {t} FROM {r}",
            "holds DELETE on the audit table",
            id="delete",
        ),
        pytest.param(
            "GRANT TRUNCATE ON {t} TO {r}",
            "REVOKE TRUNCATE ON {t} FROM {r}",
            "holds TRUNCATE on the audit table",
            id="truncate",
        ),
        pytest.param(
            "ALTER ROLE {r} BYPASSRLS", "ALTER ROLE {r} NOBYPASSRLS", "has BYPASSRLS", id="bypassrls"
        ),
        pytest.param(
            "ALTER TABLE {t} DISABLE TRIGGER audit_log_no_truncate",
            "ALTER TABLE {t} ENABLE TRIGGER audit_log_no_truncate",
            "the table's append-only triggers are not all enabled",
            id="trigger-disabled",
        ),
        pytest.param(
            "GRANT UPDATE ON {a} TO {r}",
            "REVOKE UPDATE ON {a} FROM {r}",
            "may write the archive anchor (archiving is the owner's job)",
            id="anchor-update",
        ),
        pytest.param(
            "ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY",
            "ALTER TABLE {t} FORCE ROW LEVEL SECURITY",
            "the table does not FORCE ROW LEVEL SECURITY",
            id="rls-not-forced",
        ),
    ],
)
def test_check_role_refuses_a_widened_runtime_role(
    pg_cluster: PgCluster, pg_schema: str, grant: str, revoke: str, problem: str
) -> None:
    """Each widening found at start-up; the same role starts again once it is undone."""
    names = {
        "t": sql.SQL("{}.audit_log").format(sql.Identifier(pg_schema)),
        "a": sql.SQL("{}.audit_anchor").format(sql.Identifier(pg_schema)),
        "r": sql.Identifier(pg_cluster.writer),
    }
    with psycopg.connect(pg_cluster.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL(grant).format(**names))  # type: ignore[arg-type]
        try:
            message = _refusal(pg_cluster.writer_dsn, pg_schema)
        finally:
            conn.execute(sql.SQL(revoke).format(**names))  # type: ignore[arg-type]
    assert message == f"audit store (postgresql): runtime role {pg_cluster.writer!r} {problem}" + ADVICE
    PostgresAuditStore(pg_cluster.writer_dsn, schema=pg_schema).close()


def test_check_role_names_the_missing_migration(pg_cluster: PgCluster) -> None:
    assert _refusal(pg_cluster.writer_dsn, "no_such_schema") == (
        "audit store (postgresql): no table no_such_schema.audit_log; run "
        "`privacy-router audit migrate --dsn OWNER_DSN --runtime-role ROLE` first"
    )


_WRITER = textwrap.dedent(
    """
    import json, sys
    from privacy_router.audit.postgresql import PostgresAuditStore
    from tests.audit.conftest import make_decision
    dsn, schema, tag, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with PostgresAuditStore(dsn, schema=schema) as store:
        print(json.dumps([store.append(make_decision(i, tenant=tag)).seq for i in range(n)]))
    """
)


def test_two_processes_append_concurrently_without_forking_the_chain(
    pg_cluster: PgCluster, pg_schema: str
) -> None:
    n = 150
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, pg_cluster.writer_dsn, pg_schema, tag, str(n)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in ("writer-a", "writer-b")
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    seqs = [json.loads(out) for out, _ in outputs]
    assert sorted(seqs[0] + seqs[1]) == list(range(1, 2 * n + 1))
    with PostgresAuditStore(pg_cluster.writer_dsn, schema=pg_schema) as store:
        report = store.verify()
        tenants = [row.tenant for row in store.iter_rows()]
    assert (report.ok, report.records) == (True, 2 * n)
    assert (tenants.count("writer-a"), tenants.count("writer-b")) == (n, n)


def test_jsonb_text_is_not_the_hashed_bytes_and_the_stored_bytes_still_verify(
    pg_cluster: PgCluster, pg_store: PostgresAuditStore
) -> None:
    """threats.md 1.4: jsonb reorders keys and rewrites numbers; we hash bytea, so the trap is harmless."""
    record = {"record_type": "admin", "zeta": 1.5e-7, "alpha": "caf\u00e9 \U0001d11e", "big": 1e21, "n": 10.0}
    receipt = pg_store.append(record)
    with psycopg.connect(pg_cluster.admin_dsn) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT canon, convert_from(canon, 'UTF8')::jsonb::text FROM {}.audit_log WHERE seq = 1"
            ).format(sql.Identifier(pg_store.schema))
        ).fetchone()
    assert row is not None
    stored, via_jsonb = bytes(row[0]), str(row[1])
    assert stored == canonical(
        {**record, "seq": 1, "ts": json.loads(stored)["ts"], "record_id": receipt.record_id}
    )
    assert via_jsonb.encode() != stored
    report = pg_store.verify()
    assert (report.ok, report.records, report.head_hash) == (True, 1, receipt.entry_hash)


def test_errors_name_the_sqlstate_only(pg_cluster: PgCluster, pg_store: PostgresAuditStore) -> None:
    """A broken connection becomes AuditWriteError without server text; the next append reconnects."""
    with psycopg.connect(pg_cluster.admin_dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [pg_cluster.writer]
        )
    with pytest.raises(AuditWriteError) as info:
        pg_store.append({"record_type": "admin"})
    assert info.value.message == "audit store (postgresql): append failed (AdminShutdown, SQLSTATE 57P01)"
    assert pg_store.append({"record_type": "admin"}).seq == 1
