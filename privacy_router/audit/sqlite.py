"""SQLite audit store: the embedded default (one file, WAL, synchronous=FULL).

Durability: ``journal_mode=WAL`` + ``synchronous=FULL`` fsyncs the WAL at every COMMIT, so a
record acknowledged by ``append`` survives a power loss; with NORMAL it could roll back
(threats.md 1.6, citing SQLite's WAL documentation). The store refuses to open if the setting
does not read back as FULL (2).

Concurrency: one connection guarded by a lock serves every thread of a process; several processes
on the same file are serialised by ``BEGIN IMMEDIATE`` (the write lock is taken before the head is
read, so two writers can never link to the same head and fork the chain). SQLITE_BUSY is retried
until ``busy_timeout_s`` has passed.

Every ``sqlite3`` error is translated to ``AuditWriteError`` here, with the SQLite error name only:
no record content ever reaches an exception message.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from privacy_router.audit.base import (
    Anchor,
    Receipt,
    StoredRow,
    WriterStatus,
    checked_record,
    format_ts,
    new_record_id,
)
from privacy_router.audit.canonical import GENESIS_HASH
from privacy_router.audit.store import (
    ANCHOR_COLUMNS,
    BATCH,
    COLUMNS,
    WRITER_STATUS_SQL,
    anchor_row,
    linked_row,
    require_ok,
    stored_row,
    verify_live,
    writer_id,
    writer_status_row,
)
from privacy_router.audit.verify import VerifyReport
from privacy_router.errors import AuditWriteError
from privacy_router.resources import resource_dir

SCHEMA_VERSION = 2
_SYNCHRONOUS_FULL = 2
# Primary result codes (https://www.sqlite.org/rescode.html); extended codes keep them in the low byte.
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
# The one anchor row moves forward (the schema's audit_anchor_update trigger checks how).
_UPSERT_ANCHOR = (
    f"INSERT INTO audit_anchor (id, {ANCHOR_COLUMNS}) VALUES (1, ?, ?, ?, ?, ?) "  # noqa: S608 (constant)
    "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, entry_hash = excluded.entry_hash, "
    "merkle = excluded.merkle, checkpoint = excluded.checkpoint, archive = excluded.archive"
)


def _error_name(exc: sqlite3.Error) -> str:
    return getattr(exc, "sqlite_errorname", None) or type(exc).__name__


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (_SQLITE_BUSY, _SQLITE_LOCKED)


class SqliteAuditStore:
    """``AuditStore`` on one SQLite file. Use one instance per process (threads share it)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_s: float = 5.0,
        clock: Callable[[], datetime] | None = None,
        writer: str | None = None,
    ) -> None:
        self.path = Path(path)
        self._writer = writer or writer_id()
        self._busy_timeout_s = busy_timeout_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._closed = False
        try:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s
            )
        except sqlite3.Error as exc:
            raise AuditWriteError(
                f"audit store (sqlite): cannot open database ({_error_name(exc)})"
            ) from None
        try:
            self._configure()
        except BaseException:
            self._conn.close()
            raise

    # -- set-up ---------------------------------------------------------------------------------

    def _configure(self) -> None:
        folder = resource_dir("audit") / "sqlite"
        schema = (folder / "schema.sql").read_text(encoding="utf-8")
        with self._translate("open"):
            self._conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise AuditWriteError(
                    f"audit store (sqlite): journal_mode reads back {mode!r}, 'wal' required "
                    "(is audit.sqlite_path a regular file on a local filesystem?)"
                )
            self._conn.execute("PRAGMA synchronous = FULL")
            sync = self._conn.execute("PRAGMA synchronous").fetchone()[0]
            if sync != _SYNCHRONOUS_FULL:
                raise AuditWriteError(
                    f"audit store (sqlite): PRAGMA synchronous reads back {sync}, FULL (2) required"
                )
            self._upgrade_v1((folder / "upgrade_2.sql").read_text(encoding="utf-8"))
            self._conn.executescript(schema)
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise AuditWriteError(
                f"audit store (sqlite): schema version {version}, this router expects {SCHEMA_VERSION}"
            )

    def _upgrade_v1(self, script: str) -> None:
        """Bring a version 1 file to the version 2 table shape (schema.sql does the rest)."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 1:
                code = "\n".join(ln for ln in script.splitlines() if not ln.startswith("--"))
                for statement in code.split(";"):  # executescript would commit the transaction
                    if statement.strip():
                        conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _translate(self, op: str) -> Iterator[None]:
        """The one boundary where sqlite3 errors become AuditWriteError (STYLE.md "Errors")."""
        try:
            yield
        except sqlite3.Error as exc:
            raise AuditWriteError(f"audit store (sqlite): {op} failed ({_error_name(exc)})") from None

    # -- AuditStore -----------------------------------------------------------------------------

    def append(self, record: dict[str, Any]) -> Receipt:
        body = checked_record(record)
        record_id = new_record_id()
        with self._lock:
            self._ensure_open()
            deadline = time.monotonic() + self._busy_timeout_s
            while True:
                try:
                    return self._append_once(body, record_id)
                except sqlite3.Error as exc:
                    if _is_busy(exc) and time.monotonic() < deadline:
                        # Another process holds the write lock beyond sqlite's own busy handler
                        # (e.g. during WAL recovery): back off briefly and take it again.
                        time.sleep(random.uniform(0.001, 0.01))
                        continue
                    raise AuditWriteError(
                        f"audit store (sqlite): append failed ({_error_name(exc)})"
                    ) from None

    def _append_once(self, body: dict[str, Any], record_id: str) -> Receipt:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            head = conn.execute("SELECT seq, entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
            values, receipt = linked_row(body, record_id, head, format_ts(self._clock()), self._writer)
            conn.execute(
                f"INSERT INTO audit_log ({COLUMNS}, writer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 (constant)
                values,
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        return receipt

    def check_writable(self) -> None:
        with self._lock:
            self._ensure_open()
            with self._translate("write check"):
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute("ROLLBACK")

    def iter_rows(self, start_seq: int = 1) -> Iterator[StoredRow]:
        # Batches under the lock, so appends from other threads interleave between batches. The
        # table only grows, so a reader never sees a row change under it.
        return self._batched("seq >= ?", [start_seq])

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
        clauses, params = ["1"], []
        for clause, value in (
            ("ts >= ?", since_ts),
            ("ts < ?", until_ts),
            ("tenant = ?", tenant),
            ("action = ?", action),
            ("record_type = ?", record_type),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        return self._batched(" AND ".join(clauses), params)

    def _batched(self, where: str, params: list[Any]) -> Iterator[StoredRow]:
        last = 0
        while True:
            with self._lock:
                self._ensure_open()
                with self._translate("read"):
                    rows = self._conn.execute(
                        f"SELECT {COLUMNS} FROM audit_log WHERE {where} AND seq > ? "  # noqa: S608 (constant clauses)
                        "ORDER BY seq LIMIT ?",
                        [*params, last, BATCH],
                    ).fetchall()
            yield from map(stored_row, rows)
            if len(rows) < BATCH:
                return
            last = rows[-1][0]

    # -- archive (archive.py) and the dashboard's per-writer view ----------------------------------

    def anchor(self) -> Anchor | None:
        with self._lock:
            self._ensure_open()
            with self._translate("read"):
                row = self._conn.execute(
                    f"SELECT {ANCHOR_COLUMNS} FROM audit_anchor WHERE id = 1"  # noqa: S608 (constant)
                ).fetchone()
        return anchor_row(row)

    def seal(self, anchor: Anchor) -> int:
        """Move the anchor and delete the archived rows in one transaction (the schema's triggers
        refuse any other DELETE). Whoever can write the file can do this: SQLite has no roles."""
        with self._lock:
            self._ensure_open()
            conn = self._conn
            with self._translate("seal"):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(
                        _UPSERT_ANCHOR,
                        (anchor.seq, anchor.entry_hash, anchor.merkle, anchor.checkpoint, anchor.archive),
                    )
                    deleted = conn.execute("DELETE FROM audit_log WHERE seq <= ?", (anchor.seq,)).rowcount
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                    raise
        return int(deleted)

    def writer_status(self) -> list[WriterStatus]:
        with self._lock:
            self._ensure_open()
            with self._translate("read"):
                rows = self._conn.execute(WRITER_STATUS_SQL.format("audit_log")).fetchall()
        return [writer_status_row(r) for r in rows]

    def integrity_check(self) -> str | None:
        """``None`` when ``PRAGMA integrity_check`` says ok, else its first message."""
        with self._lock:
            self._ensure_open()
            try:
                rows = self._conn.execute("PRAGMA integrity_check").fetchall()
            except sqlite3.DatabaseError as exc:
                # Damage bad enough that the check itself cannot walk the b-tree.
                return f"database is corrupt ({_error_name(exc)})"
        messages = [str(r[0]) for r in rows]
        if messages == ["ok"]:
            return None
        # SQLite prefixes "*** in database main ***" and joins many lines; the first real line is
        # enough to report (page and cell numbers only, no row content).
        lines = [ln for m in messages for ln in m.splitlines() if ln and not ln.startswith("***")]
        return (lines[0] if lines else messages[0])[:200]

    def verify(self) -> VerifyReport:
        """``PRAGMA integrity_check`` then the whole chain. The router calls this at start-up and
        refuses to serve when ``ok`` is false."""
        problem = self.integrity_check()
        if problem is not None:
            return VerifyReport(False, 0, None, f"integrity_check: {problem}", GENESIS_HASH.hex())
        return verify_live(self)

    def synchronous(self) -> int:
        """The connection's ``PRAGMA synchronous`` (2 = FULL), for tests and /readyz."""
        with self._lock, self._translate("read"):
            return int(self._conn.execute("PRAGMA synchronous").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def _ensure_open(self) -> None:
        if self._closed:
            raise AuditWriteError("audit store (sqlite): store is closed")

    def __enter__(self) -> SqliteAuditStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_verified(path: str | os.PathLike[str], **options: Any) -> SqliteAuditStore:
    """Open the store for serving: integrity check and full chain verification first.

    Raises ``AuditWriteError`` naming the first bad seq; the router must then refuse to start."""
    store = SqliteAuditStore(path, **options)
    try:
        report = store.verify()
    except BaseException:
        store.close()
        raise
    if not report.ok:
        store.close()
        require_ok(report, str(path))
    return store
