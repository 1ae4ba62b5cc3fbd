"""PostgreSQL audit store: the store for several router replicas writing one chain.

Roles (threats.md 1.5). The schema belongs to an OWNER role that only ``migrate`` uses; the router
connects as a RUNTIME role that may INSERT and SELECT and nothing else. ``check_role()`` runs when
the store opens and refuses to serve if the runtime role could rewrite history itself: superuser,
BYPASSRLS, owner of the table or of its schema (either may disable triggers or drop the table), or
holder of UPDATE, DELETE or TRUNCATE. It also refuses a table whose triggers are disabled or whose
row-level security is not forced, and a schema older or newer than this router.

One chain, serialised head (each row also names its ``writer``, informationally, for the
dashboard's per-writer view: ``writer_status()``). ``append`` takes ``pg_advisory_xact_lock`` on a
key derived from the schema name, reads the head, inserts ``seq = head + 1`` linked to it, and
commits; the lock is released at commit, so two writers can never read the same head (the fork
threats.md 1.4 cites from kubernaut's CI). Per-writer chains were measured against it
(audit/README.md "Several routers, one chain"): the serialised head costs little at gateway rates
and keeps one gap-free ``seq``, one verifier and one checkpoint per store.

Durability: the transaction commits with ``synchronous_commit`` not ``off`` (the WAL is flushed
before COMMIT returns); the store refuses to open when the server runs with ``fsync = off``.

Every psycopg error is translated to ``AuditWriteError`` here, with the exception class and SQLSTATE
only: PostgreSQL's DETAIL lines can quote row values (``Key (record_id)=(...)``).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql

from privacy_router.audit.base import (
    Anchor,
    Receipt,
    StoredRow,
    WriterStatus,
    checked_record,
    format_ts,
    new_record_id,
)
from privacy_router.audit.store import (
    ANCHOR_COLUMNS,
    BATCH,
    COLUMNS,
    WRITER_STATUS_SQL,
    anchor_row,
    linked_row,
    stored_row,
    verify_live,
    writer_id,
    writer_status_row,
)
from privacy_router.audit.verify import VerifyReport
from privacy_router.errors import AuditWriteError
from privacy_router.resources import resource_dir

DEFAULT_SCHEMA = "privacy_router_audit"
_MIGRATION_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TRIGGERS = ("audit_log_insert_next", "audit_log_no_truncate", "audit_log_no_update_delete")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def migrations(directory: Path | None = None) -> list[Migration]:
    """The numbered ``NNN_name.sql`` files of ``audit/postgresql/``, in order."""
    folder = directory or resource_dir("audit") / "postgresql"
    found = []
    for path in sorted(folder.iterdir()):
        match = _MIGRATION_FILE.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise AuditWriteError(
            f"audit/postgresql: migrations must be numbered 001, 002, ... (found {versions})"
        )
    return found


SCHEMA_VERSION = 2  # the newest migration this code reads and writes; tests pin it to the files


def _ident(name: str, what: str) -> sql.Identifier:
    # Lower-case identifiers only, so the name in the config, in pg_namespace/pg_roles and in the
    # advisory-lock key are the same string (PostgreSQL folds unquoted names to lower case).
    if not _IDENT.match(name):
        raise AuditWriteError(f"audit store (postgresql): {what} {name!r} must match {_IDENT.pattern}")
    return sql.Identifier(name)


def lock_key(schema: str, purpose: str) -> int:
    """A signed 64-bit advisory-lock key for one schema and purpose ("chain" or "migrate")."""
    digest = hashlib.sha256(f"privacy-router audit {purpose} {schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _error_text(exc: psycopg.Error) -> str:
    state = getattr(exc, "sqlstate", None)
    return f"{type(exc).__name__}, SQLSTATE {state}" if state else type(exc).__name__


def migrate(
    owner_dsn: str,
    *,
    schema: str = DEFAULT_SCHEMA,
    runtime_role: str | None = None,
    reader_role: str | None = None,
) -> list[str]:
    """Apply the migrations not yet applied, as the owner; then grant ``runtime_role`` INSERT+SELECT
    and ``reader_role`` (compliance tools) SELECT only.

    Idempotent. Everything runs in one transaction under an advisory lock, each file recorded in
    ``schema_migrations`` (name + SHA-256); a migration file changed after it was applied is refused.
    Returns the names of the files applied now."""
    schema_id = _ident(schema, "schema")
    role_id = _ident(runtime_role, "runtime role") if runtime_role is not None else None
    reader_id = _ident(reader_role, "reader role") if reader_role is not None else None
    applied_now: list[str] = []
    try:
        with psycopg.connect(owner_dsn, autocommit=True, connect_timeout=10) as conn:
            if runtime_role is not None:
                me = conn.execute("SELECT current_user").fetchone()
                if me is not None and me[0] == runtime_role:
                    raise AuditWriteError(
                        "audit migrate: --runtime-role must differ from the owner role of --dsn "
                        "(the router must not own its audit table)"
                    )
            with conn.transaction():
                # Two operators (or replicas' init containers) migrating at once take turns.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(schema, "migrate")])
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema_id))
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {}.schema_migrations (version integer PRIMARY KEY, "
                        "name text NOT NULL, sha256 text NOT NULL, "
                        "applied_at timestamptz NOT NULL DEFAULT now())"
                    ).format(schema_id)
                )
                done = {
                    int(v): str(h)
                    for v, h in conn.execute(
                        sql.SQL("SELECT version, sha256 FROM {}.schema_migrations").format(schema_id)
                    ).fetchall()
                }
                for m in migrations():
                    if m.version in done:
                        if done[m.version] != m.sha256:
                            raise AuditWriteError(
                                f"audit migrate: {m.name} was changed after it was applied "
                                "(write a new numbered migration instead)"
                            )
                        continue
                    conn.execute(sql.SQL(m.text).format(schema=schema_id))  # type: ignore[arg-type]
                    conn.execute(
                        sql.SQL(
                            "INSERT INTO {}.schema_migrations (version, name, sha256) VALUES (%s, %s, %s)"
                        ).format(schema_id),
                        [m.version, m.name, m.sha256],
                    )
                    applied_now.append(m.name)
                if role_id is not None:
                    grants = (resource_dir("audit") / "postgresql" / "runtime_role.sql").read_text(
                        encoding="utf-8"
                    )
                    conn.execute(sql.SQL(grants).format(schema=schema_id, role=role_id))  # type: ignore[arg-type]
                if reader_id is not None:
                    grants = (resource_dir("audit") / "postgresql" / "reader_role.sql").read_text(
                        encoding="utf-8"
                    )
                    conn.execute(sql.SQL(grants).format(schema=schema_id, role=reader_id))  # type: ignore[arg-type]
    except psycopg.Error as exc:
        raise AuditWriteError(f"audit migrate failed ({_error_text(exc)})") from None
    return applied_now


class PostgresAuditStore:
    """``AuditStore`` on one PostgreSQL schema. One connection per process, shared by its threads."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        timeout_s: float = 5.0,
        clock: Callable[[], datetime] | None = None,
        read_only: bool = False,
        writer: str | None = None,
    ) -> None:
        """``read_only=True`` is for auditors' tools (query, verify, checkpoint): the role only needs
        SELECT, the role self-check is skipped, and ``append`` is refused."""
        self._dsn = dsn
        self.schema = schema
        self._schema_id = _ident(schema, "schema")
        self._table = sql.SQL("{}.audit_log").format(self._schema_id)
        self._anchor_table = sql.SQL("{}.audit_anchor").format(self._schema_id)
        self._writer = writer or writer_id()
        self._timeout_s = timeout_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self._chain_key = lock_key(schema, "chain")
        self._lock = threading.Lock()
        self._closed = False
        self._read_only = read_only
        self._conn: psycopg.Connection[Any] | None = None
        with self._lock:
            conn = self._connection()
        try:
            if not read_only:
                self.check_role()
            self._check_version()
        except BaseException:
            conn.close()
            raise

    # -- connection -----------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection, reconnecting after a broken one (restarted server). Caller holds the lock."""
        if self._closed:
            raise AuditWriteError("audit store (postgresql): store is closed")
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        with self._translate("connect"):
            conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=max(1, int(self._timeout_s)))
            try:
                # statement_timeout bounds the wait for the chain lock too, so a stuck writer turns
                # into AuditWriteError (HTTP 503) instead of a hung request.
                conn.execute(
                    sql.SQL("SET statement_timeout = {}").format(sql.Literal(int(self._timeout_s * 1000)))
                )
                self._ensure_durable(conn)
            except BaseException:
                conn.close()
                raise
        self._conn = conn
        return conn

    @staticmethod
    def _ensure_durable(conn: psycopg.Connection[Any]) -> None:
        fsync = conn.execute("SHOW fsync").fetchone()
        if fsync is None or fsync[0] != "on":
            raise AuditWriteError(
                "audit store (postgresql): the server runs with fsync = off; refusing to write"
            )
        sync = conn.execute("SHOW synchronous_commit").fetchone()
        if sync is None or sync[0] == "off":
            # 'off' acknowledges a COMMIT before its WAL is flushed: a crash loses acknowledged
            # records. Any other value flushes locally at least.
            conn.execute("SET synchronous_commit = on")

    @contextlib.contextmanager
    def _translate(self, op: str) -> Iterator[None]:
        """The one boundary where psycopg errors become AuditWriteError (STYLE.md "Errors")."""
        try:
            yield
        except psycopg.Error as exc:
            raise AuditWriteError(f"audit store (postgresql): {op} failed ({_error_text(exc)})") from None

    # -- start-up self-check ----------------------------------------------------------------------

    def check_role(self) -> None:
        """Refuse (``AuditWriteError``) when the connected role or the table breaks the contract.

        Checked: superuser, BYPASSRLS, membership in the role that owns the table or the schema,
        UPDATE/DELETE/TRUNCATE privilege, missing INSERT/SELECT, disabled triggers, RLS not forced,
        schema version. The message names the role and every problem found."""
        with self._lock:
            conn = self._connection()
            with self._translate("role check"):
                row = conn.execute(
                    """
                    SELECT r.rolname, r.rolsuper, r.rolbypassrls,
                           pg_has_role(current_user, c.relowner, 'MEMBER'),
                           pg_has_role(current_user, n.nspowner, 'MEMBER'),
                           has_table_privilege(current_user, c.oid, 'UPDATE'),
                           has_table_privilege(current_user, c.oid, 'DELETE'),
                           has_table_privilege(current_user, c.oid, 'TRUNCATE'),
                           has_table_privilege(current_user, c.oid, 'INSERT'),
                           has_table_privilege(current_user, c.oid, 'SELECT'),
                           c.relrowsecurity, c.relforcerowsecurity,
                           (SELECT array_agg(t.tgname::text ORDER BY t.tgname) FROM pg_trigger t
                             WHERE t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgenabled IN ('O', 'A')),
                           COALESCE(has_table_privilege(current_user,
                                 to_regclass(quote_ident(n.nspname) || '.audit_anchor'),
                                 'INSERT, UPDATE, DELETE, TRUNCATE'), false)
                      FROM pg_class c
                      JOIN pg_namespace n ON n.oid = c.relnamespace
                      JOIN pg_roles r ON r.rolname = current_user
                     WHERE n.nspname = %s AND c.relname = 'audit_log' AND c.relkind = 'r'
                    """,
                    [self.schema],
                ).fetchone()
                if row is None:
                    raise AuditWriteError(
                        f"audit store (postgresql): no table {self.schema}.audit_log; run "
                        "`privacy-router audit migrate --dsn OWNER_DSN --runtime-role ROLE` first"
                    )
                (
                    role,
                    superuser,
                    bypassrls,
                    owns_table,
                    owns_schema,
                    can_update,
                    can_delete,
                    can_truncate,
                ) = row[:8]
                can_insert, can_select, rls, force_rls, triggers, can_archive = row[8:]
                problems = [
                    text
                    for bad, text in (
                        (superuser, "is a superuser"),
                        (bypassrls, "has BYPASSRLS"),
                        (owns_table, "owns the audit table (or is a member of its owner role)"),
                        (owns_schema, "owns the audit schema (or is a member of its owner role)"),
                        (can_update, "holds UPDATE on the audit table"),
                        (can_delete, "holds DELETE on the audit table"),
                        (can_truncate, "holds TRUNCATE on the audit table"),
                        (not (can_insert and can_select), "lacks INSERT or SELECT on the audit table"),
                        (not (rls and force_rls), "the table does not FORCE ROW LEVEL SECURITY"),
                        (
                            tuple(triggers or ()) != _TRIGGERS,
                            "the table's append-only triggers are not all enabled",
                        ),
                        (can_archive, "may write the archive anchor (archiving is the owner's job)"),
                    )
                    if bad
                ]
                if problems:
                    raise AuditWriteError(
                        f"audit store (postgresql): runtime role {role!r} {'; '.join(problems)}. The router "
                        "must run as a role with INSERT and SELECT only (see audit/README.md "
                        "'PostgreSQL set-up')"
                    )

    def _check_version(self) -> None:
        with self._lock:
            conn = self._connection()
            with self._translate("schema version check"):
                exists = conn.execute(
                    "SELECT to_regclass(%s) IS NOT NULL", [f"{self.schema}.audit_log"]
                ).fetchone()
                if not exists or exists[0] is not True:
                    raise AuditWriteError(
                        f"audit store (postgresql): no table {self.schema}.audit_log; run "
                        "`privacy-router audit migrate --dsn OWNER_DSN --runtime-role ROLE` first"
                    )
                version = conn.execute(
                    sql.SQL("SELECT max(version) FROM {}.schema_migrations").format(self._schema_id)
                ).fetchone()
            found = version[0] if version else None
            if found != SCHEMA_VERSION:
                raise AuditWriteError(
                    f"audit store (postgresql): schema {self.schema} is at version {found}, this router "
                    f"expects {SCHEMA_VERSION}; run `privacy-router audit migrate` with the matching release"
                )

    # -- AuditStore -------------------------------------------------------------------------------

    def append(self, record: dict[str, Any]) -> Receipt:
        if self._read_only:
            raise AuditWriteError("audit store (postgresql): opened read-only")
        body = checked_record(record)
        record_id = new_record_id()
        with self._lock:
            conn = self._connection()
            with self._translate("append"), conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [self._chain_key])
                head = conn.execute(
                    sql.SQL("SELECT seq, entry_hash FROM {} ORDER BY seq DESC LIMIT 1").format(self._table)
                ).fetchone()
                values, receipt = linked_row(
                    body,
                    record_id,
                    (int(head[0]), bytes(head[1])) if head else None,
                    format_ts(self._clock()),
                    self._writer,
                )
                conn.execute(
                    sql.SQL("INSERT INTO {} ({}, writer) VALUES ({})").format(
                        self._table, sql.SQL(COLUMNS), sql.SQL(", ").join([sql.Placeholder()] * 11)
                    ),
                    values,
                )
        return receipt

    def check_writable(self) -> None:
        """A round trip plus the INSERT privilege, without writing (readiness)."""
        with self._lock:
            conn = self._connection()
            with self._translate("write check"):
                row = conn.execute(
                    "SELECT has_table_privilege(current_user, %s, 'INSERT')",
                    [f"{self.schema}.audit_log"],
                ).fetchone()
        if not row or row[0] is not True:
            raise AuditWriteError("audit store (postgresql): INSERT on the audit table is not granted")

    def iter_rows(self, start_seq: int = 1) -> Iterator[StoredRow]:
        return self._batched(sql.SQL("seq >= %s"), [start_seq])

    def select_rows(
        self,
        *,
        since_ts: str | None = None,
        until_ts: str | None = None,
        tenant: str | None = None,
        action: str | None = None,
        record_type: str | None = None,
    ) -> Iterator[StoredRow]:
        """Rows filtered on indexed columns, in seq order. ``since_ts`` inclusive, ``until_ts`` exclusive."""
        clauses: list[sql.Composable] = [sql.SQL("true")]
        params: list[Any] = []
        for clause, value in (
            ("ts >= %s", since_ts),
            ("ts < %s", until_ts),
            ("tenant = %s", tenant),
            ("action = %s", action),
            ("record_type = %s", record_type),
        ):
            if value is not None:
                clauses.append(sql.SQL(clause))
                params.append(value)
        return self._batched(sql.SQL(" AND ").join(clauses), params)

    def _batched(self, where: sql.Composable, params: list[Any]) -> Iterator[StoredRow]:
        last = 0
        query = sql.SQL("SELECT {} FROM {} WHERE {} AND seq > %s ORDER BY seq LIMIT %s").format(
            sql.SQL(COLUMNS), self._table, where
        )
        while True:
            with self._lock:
                conn = self._connection()
                with self._translate("read"):
                    rows = conn.execute(query, [*params, last, BATCH]).fetchall()
            yield from map(stored_row, rows)
            if len(rows) < BATCH:
                return
            last = int(rows[-1][0])

    def verify(self) -> VerifyReport:
        """The whole live chain from the stored bytes, from the archive anchor if there is one
        (PostgreSQL checks its own pages; there is no equivalent of SQLite's integrity_check)."""
        return verify_live(self)

    # -- archive (archive.py) and the dashboard's per-writer view ----------------------------------

    def anchor(self) -> Anchor | None:
        with self._lock:
            conn = self._connection()
            with self._translate("read"):
                row = conn.execute(
                    sql.SQL("SELECT {} FROM {} WHERE id = 1").format(
                        sql.SQL(ANCHOR_COLUMNS), self._anchor_table
                    )
                ).fetchone()
        return anchor_row(row)

    def seal(self, anchor: Anchor) -> int:
        """Move the anchor and delete the archived rows in one transaction. Needs the OWNER role
        (open with ``read_only=True``): the runtime role holds no DELETE and cannot write the
        anchor, so the router can never archive (SQLSTATE 42501)."""
        with self._lock:
            conn = self._connection()
            with self._translate("seal"), conn.transaction():
                # Under the chain lock: no append runs while the anchor moves.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [self._chain_key])
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (id, {}) VALUES (1, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE "
                        "SET seq = excluded.seq, entry_hash = excluded.entry_hash, merkle = excluded.merkle, "
                        "checkpoint = excluded.checkpoint, archive = excluded.archive"
                    ).format(self._anchor_table, sql.SQL(ANCHOR_COLUMNS)),
                    [anchor.seq, anchor.entry_hash, anchor.merkle, anchor.checkpoint, anchor.archive],
                )
                deleted = conn.execute(
                    sql.SQL("DELETE FROM {} WHERE seq <= %s").format(self._table), [anchor.seq]
                ).rowcount
        return int(deleted)

    def writer_status(self) -> list[WriterStatus]:
        with self._lock:
            conn = self._connection()
            with self._translate("read"):
                rows = conn.execute(sql.SQL(WRITER_STATUS_SQL).format(self._table)).fetchall()
        return [writer_status_row(r) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> PostgresAuditStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
