"""SQLite store: append-only enforcement, durability settings, concurrency, fail-closed errors."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from privacy_router.audit import GENESIS_HASH, SqliteAuditStore, canonical, open_verified, verify
from privacy_router.errors import AuditWriteError

UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
CANARY = "123-45-6789"


def _count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])


def test_append_assigns_seq_ts_record_id_and_links_the_chain(
    store: SqliteAuditStore, decision_factory: Callable[..., dict[str, Any]]
) -> None:
    receipts = [store.append(decision_factory(i)) for i in range(3)]
    assert [r.seq for r in receipts] == [1, 2, 3]
    rows = list(store.iter_rows())
    prev = GENESIS_HASH
    for receipt, row in zip(receipts, rows, strict=True):
        assert UUID7.fullmatch(receipt.record_id)
        assert TS.fullmatch(row.ts)
        assert row.prev_hash == prev
        assert row.entry_hash.hex() == receipt.entry_hash
        assert hashlib.sha256(prev + row.canon).hexdigest() == receipt.entry_hash
        expected = {**decision_factory(receipt.seq - 1), "seq": receipt.seq, "ts": row.ts}
        expected["record_id"] = receipt.record_id
        assert row.canon == canonical(expected)
        assert (row.record_type, row.request_id, row.tenant, row.action) == (
            "decision",
            f"req-{receipt.seq - 1:04d}",
            "acme-health",
            "onprem",
        )
        prev = row.entry_hash
    assert list(store.iter_rows(start_seq=3)) == rows[2:]


def test_synchronous_full_and_wal_are_in_force(store: SqliteAuditStore, db_path: Path) -> None:
    assert store.synchronous() == 2
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2


def test_in_memory_database_is_refused_because_wal_is_required() -> None:
    with pytest.raises(AuditWriteError, match=r"journal_mode reads back 'memory', 'wal' required"):
        SqliteAuditStore(":memory:")


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite " * 500)
    with pytest.raises(AuditWriteError, match=r"^audit store \(sqlite\): open failed \(SQLITE_NOTADB\)$"):
        SqliteAuditStore(bad)


# -- append-only, through a raw connection that keeps the triggers (threats.md 1.6 table) ---------

APPEND_ONLY_ATTEMPTS = [
    pytest.param("UPDATE audit_log SET tenant = 'other' WHERE seq = 1", id="update"),
    pytest.param("DELETE FROM audit_log WHERE seq = 2", id="delete"),
    pytest.param(
        "INSERT OR REPLACE INTO audit_log SELECT * FROM audit_log WHERE seq = 3", id="insert-or-replace-seq"
    ),
    pytest.param("REPLACE INTO audit_log SELECT * FROM audit_log WHERE seq = 1", id="replace-seq"),
    pytest.param(
        "INSERT INTO audit_log SELECT * FROM audit_log WHERE seq = 1 "
        "ON CONFLICT(seq) DO UPDATE SET tenant = 'other'",
        id="upsert",
    ),
    pytest.param(
        "INSERT INTO audit_log SELECT 100, 'forged-id', ts, record_type, request_id, tenant, action, "
        "canon, prev_hash, entry_hash, writer FROM audit_log WHERE seq = 3",
        id="gap-insert",
    ),
    pytest.param(
        # Next seq, but the record_id of seq 1: REPLACE would evict seq 1 through UNIQUE(record_id)
        # without firing the DELETE trigger.
        "INSERT OR REPLACE INTO audit_log SELECT 4, record_id, ts, record_type, request_id, tenant, "
        "action, canon, prev_hash, entry_hash, writer FROM audit_log WHERE seq = 1",
        id="replace-via-record-id",
    ),
    pytest.param(
        "INSERT INTO audit_log (record_id, ts, record_type, canon, prev_hash, entry_hash) "
        "SELECT 'x', ts, record_type, canon, prev_hash, entry_hash FROM audit_log WHERE seq = 1",
        id="auto-seq",
    ),
]


@pytest.mark.parametrize("statement", APPEND_ONLY_ATTEMPTS)
def test_table_refuses_every_rewrite(
    store: SqliteAuditStore, db_path: Path, decision_factory: Callable[..., dict[str, Any]], statement: str
) -> None:
    for i in range(3):
        store.append(decision_factory(i))
    before = list(store.iter_rows())
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.IntegrityError, match=r"audit_log is append-only"):
            conn.execute(statement)
    finally:
        conn.close()
    assert list(store.iter_rows()) == before
    assert store.verify().ok is True
    assert store.append(decision_factory(3)).seq == 4


# -- concurrency ----------------------------------------------------------------------------------


def test_four_threads_append_100_records_without_gap_or_fork(
    store: SqliteAuditStore, decision_factory: Callable[..., dict[str, Any]]
) -> None:
    seqs: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for i in range(25):
                seqs.append(store.append(decision_factory(t * 100 + i)).seq)
        except BaseException as exc:  # pragma: no cover - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sorted(seqs) == list(range(1, 101))
    report = store.verify()
    assert (report.ok, report.records, report.first_bad_seq) == (True, 100, None)
    rows = list(store.iter_rows())
    assert len({r.prev_hash for r in rows}) == 100  # no two records link to the same head
    assert {r.request_id for r in rows} == {f"req-{t * 100 + i:04d}" for t in range(4) for i in range(25)}


_WRITER = """
import sys
from privacy_router.audit import SqliteAuditStore
store = SqliteAuditStore(sys.argv[1], busy_timeout_s=30)
for i in range(int(sys.argv[2])):
    store.append({"record_type": "admin", "request_id": f"{sys.argv[3]}-{i}"})
store.close()
"""


def test_two_processes_and_a_thread_share_one_file_without_fork(db_path: Path) -> None:
    SqliteAuditStore(db_path).close()  # create the schema first
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(db_path), "40", f"p{n}"], cwd=root)
        for n in range(2)
    ]
    with SqliteAuditStore(db_path, busy_timeout_s=30) as store:
        for i in range(20):
            store.append({"record_type": "admin", "request_id": f"main-{i}"})
        assert [p.wait(timeout=120) for p in procs] == [0, 0]
        report = store.verify()
        assert (report.ok, report.records) == (True, 100)
        ids = [r.request_id for r in store.iter_rows()]
    assert sorted(ids) == sorted(
        [f"p{n}-{i}" for n in range(2) for i in range(40)] + [f"main-{i}" for i in range(20)]
    )


# -- failures are AuditWriteError, fail closed, content-free --------------------------------------


def test_disk_full_raises_audit_write_error_leaves_no_partial_row_and_recovers(
    store: SqliteAuditStore, db_path: Path, decision_factory: Callable[..., dict[str, Any]]
) -> None:
    for i in range(5):
        store.append(decision_factory(i))
    # max_page_count is per connection: the test reaches into the store's own connection, which is
    # the only way to give it a real SQLITE_FULL (threats.md 1.6).
    conn = store._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    big = decision_factory(5)
    big["policy_input"] = {"pad": ["x" * 100] * 200, "note": CANARY}
    with pytest.raises(AuditWriteError) as info:
        store.append(big)
    assert info.value.message == "audit store (sqlite): append failed (SQLITE_FULL)"
    assert CANARY not in str(info.value)
    assert _count(db_path) == 5
    assert store.integrity_check() is None
    conn.execute(f"PRAGMA max_page_count = {pages * 100}")
    assert store.append(big).seq == 6
    report = store.verify()
    assert (report.ok, report.records) == (True, 6)


def test_write_lock_held_elsewhere_times_out_as_audit_write_error(
    db_path: Path, decision_factory: Callable[..., dict[str, Any]]
) -> None:
    with SqliteAuditStore(db_path, busy_timeout_s=0.2) as store:
        store.check_writable()
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(
                AuditWriteError, match=r"^audit store \(sqlite\): write check failed \(SQLITE_BUSY\)$"
            ):
                store.check_writable()
            with pytest.raises(
                AuditWriteError, match=r"^audit store \(sqlite\): append failed \(SQLITE_BUSY\)$"
            ):
                store.append(decision_factory(0))
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert store.append(decision_factory(0)).seq == 1


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"record_type": "decision", "seq": 9}, r"keys \['seq'\] are assigned by the store"),
        ({"record_type": "decision", "ts": "x", "record_id": "y"}, r"keys \['ts', 'record_id'\]"),
        ({"record_type": "chat", "request_id": CANARY}, r"record_type must be one of"),
        ({"record_type": "admin", "request_id": 5}, r"must be strings"),
        (
            {"record_type": "admin", "note": float("nan"), "x": CANARY},
            r"not canonicalisable JSON \(FloatDomainError\)",
        ),
    ],
    ids=["reserved-seq", "reserved-ts-record-id", "unknown-type", "non-string-index", "nan"],
)
def test_bad_records_are_refused_without_content_in_the_message(
    store: SqliteAuditStore, db_path: Path, record: dict[str, Any], message: str
) -> None:
    with pytest.raises(AuditWriteError, match=message) as info:
        store.append(record)
    assert CANARY not in str(info.value)
    assert _count(db_path) == 0


def test_closed_store_refuses_appends(db_path: Path) -> None:
    store = SqliteAuditStore(db_path)
    store.close()
    with pytest.raises(AuditWriteError, match=r"^audit store \(sqlite\): store is closed$"):
        store.append({"record_type": "admin"})


def test_reopening_an_intact_file_continues_the_chain(
    db_path: Path, decision_factory: Callable[..., dict[str, Any]]
) -> None:
    with SqliteAuditStore(db_path) as first:
        head = first.append(decision_factory(0))
    with SqliteAuditStore(db_path) as second:
        assert second.verify() == verify(second.iter_rows())
        assert second.verify().head_hash == head.entry_hash
        nxt = second.append(decision_factory(1))
        assert nxt.seq == 2
        assert list(second.iter_rows())[1].prev_hash.hex() == head.entry_hash


# -- start-up verification ------------------------------------------------------------------------


def test_open_verified_accepts_an_intact_log(
    db_path: Path, decision_factory: Callable[..., dict[str, Any]]
) -> None:
    with SqliteAuditStore(db_path) as store:
        store.append(decision_factory(0))
    with open_verified(db_path) as store:
        assert store.append(decision_factory(1)).seq == 2


def test_open_verified_refuses_a_broken_chain(
    db_path: Path,
    decision_factory: Callable[..., dict[str, Any]],
    attacker: Callable[[Path], sqlite3.Connection],
) -> None:
    with SqliteAuditStore(db_path) as store:
        for i in range(3):
            store.append(decision_factory(i))
    conn = attacker(db_path)
    conn.execute("DELETE FROM audit_log WHERE seq = 2")
    conn.close()
    with pytest.raises(AuditWriteError) as info:
        open_verified(db_path)
    assert (
        info.value.message == f"audit log {db_path} failed verification at seq 2: seq 2 missing (found seq 3)"
    )


def _scramble_index_page(db_path: Path) -> int:
    """XOR the bytes of the request_id index's root page after offset 200 (header kept)."""
    with sqlite3.connect(db_path) as conn:
        root = int(
            conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'audit_log_request_id'").fetchone()[
                0
            ]
        )
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    conn.close()
    data = bytearray(db_path.read_bytes())
    start = (root - 1) * page_size
    for i in range(start + 200, start + page_size):
        data[i] ^= 0x5A
    db_path.write_bytes(bytes(data))
    return root


def test_a_scrambled_cell_pointer_array_fails_integrity_check_at_start(db_path: Path) -> None:
    with SqliteAuditStore(db_path) as store:
        for i in range(300):  # 300 short index cells: the pointer array runs past byte 200
            store.append({"record_type": "admin", "request_id": f"r{i}"})
    root = _scramble_index_page(db_path)
    with SqliteAuditStore(db_path) as store:
        report = store.verify()
    assert (report.ok, report.records, report.first_bad_seq) == (False, 0, None)
    assert re.fullmatch(
        rf"integrity_check: On tree page {root} cell 299: Offset \d+ out of range [\d.]+",
        report.problem or "",
    )
    with pytest.raises(
        AuditWriteError, match=rf"failed verification: integrity_check: On tree page {root} cell 299"
    ):
        open_verified(db_path)


def test_a_page_too_damaged_to_walk_is_reported_as_corrupt(
    db_path: Path, decision_factory: Callable[..., dict[str, Any]]
) -> None:
    with SqliteAuditStore(db_path) as store:
        for i in range(50):
            store.append(decision_factory(i))
    _scramble_index_page(db_path)
    with SqliteAuditStore(db_path) as store:
        report = store.verify()
    assert (report.ok, report.first_bad_seq, report.problem) == (
        False,
        None,
        "integrity_check: database is corrupt (SQLITE_CORRUPT)",
    )
