"""The AuditStore contract, run against both stores: SQLite (embedded default) and PostgreSQL.

Tampering is done with the rights of someone who can bypass every guard: for SQLite a connection
that drops the triggers, for PostgreSQL the superuser with ``session_replication_role = replica``
(triggers skipped) and RLS bypassed. The chain must name the exact first bad seq.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from privacy_router.audit.base import AuditStore
from privacy_router.audit.checkpoints import CheckpointError, Signer, sign_head, verify_against_checkpoint
from privacy_router.audit.postgresql import PostgresAuditStore
from privacy_router.audit.query import query_records
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.audit.verify import verify
from privacy_router.errors import AuditWriteError
from tests.audit.conftest import PgCluster, attacker_connection, make_decision


@dataclass
class Subject:
    """One store under test plus an 'attacker' that can run raw SQL on its table."""

    store: SqliteAuditStore | PostgresAuditStore
    # Statements separated by '; ', with {t} for the table and ? for parameters.
    tamper: Callable[[str, list[Any]], None]


@pytest.fixture(params=["sqlite", "postgresql"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    if request.param == "sqlite":
        path = tmp_path / "audit.db"
        store = SqliteAuditStore(path)

        def tamper_sqlite(statement: str, params: list[Any]) -> None:
            conn = attacker_connection(path)
            for part in statement.split("; "):
                conn.execute(part.replace("{t}", "audit_log"), params)
            conn.close()

        yield Subject(store, tamper_sqlite)
        store.close()
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    schema: str = request.getfixturevalue("pg_schema")
    pg = PostgresAuditStore(cluster.writer_dsn, schema=schema)

    def tamper_pg(statement: str, params: list[Any]) -> None:
        with psycopg.connect(cluster.admin_dsn, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            table = sql.SQL("{}.audit_log").format(sql.Identifier(schema)).as_string(conn)
            for part in statement.split("; "):
                conn.execute(part.replace("{t}", table).replace("?", "%s"), params)  # type: ignore[arg-type]

    yield Subject(pg, tamper_pg)
    pg.close()


def _fill(store: AuditStore, n: int = 6) -> list[str]:
    return [
        store.append(make_decision(i, tenant="t-even" if i % 2 == 0 else "t-odd")).entry_hash
        for i in range(n)
    ]


def test_append_assigns_gap_free_seq_and_returns_the_stored_hash(subject: Subject) -> None:
    receipts = [subject.store.append(make_decision(i)) for i in range(3)]
    rows = list(subject.store.iter_rows())
    assert [r.seq for r in receipts] == [1, 2, 3]
    assert [r.entry_hash.hex() for r in rows] == [r.entry_hash for r in receipts]
    assert [r.record_id for r in rows] == [r.record_id for r in receipts]
    assert rows[0].prev_hash == bytes(32)
    assert [r.prev_hash for r in rows[1:]] == [r.entry_hash for r in rows[:-1]]
    assert json.loads(rows[1].canon)["request_id"] == "req-0001"


def test_iter_rows_starts_at_the_given_seq(subject: Subject) -> None:
    _fill(subject.store)
    assert [r.seq for r in subject.store.iter_rows(4)] == [4, 5, 6]


def test_verify_reports_count_and_head(subject: Subject) -> None:
    hashes = _fill(subject.store)
    report = subject.store.verify()
    assert (report.ok, report.records, report.first_bad_seq, report.head_hash) == (True, 6, None, hashes[-1])


def test_empty_store_verifies_with_the_genesis_head(subject: Subject) -> None:
    report = subject.store.verify()
    assert (report.ok, report.records, report.head_hash) == (True, 0, "00" * 32)


def test_query_filters_on_the_hashed_record(subject: Subject) -> None:
    _fill(subject.store)
    found = query_records(subject.store, tenant="t-odd", action="onprem")
    assert [r["seq"] for r in found] == [2, 4, 6]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        pytest.param(
            {"record_type": "admin", "seq": 9},
            "audit record rejected: keys ['seq'] are assigned by the store",
            id="reserved-key",
        ),
        pytest.param(
            {"record_type": "gossip"},
            "audit record rejected: record_type must be one of "
            "['decision', 'completion', 'admin', 'audit_query', 'explain']",
            id="record-type",
        ),
        pytest.param(
            {"record_type": "admin", "x": float("nan")},
            "audit record rejected: record is not canonicalisable JSON (FloatDomainError)",
            id="nan",
        ),
    ],
)
def test_invalid_records_are_refused_and_nothing_is_written(
    subject: Subject, record: dict[str, Any], message: str
) -> None:
    with pytest.raises(AuditWriteError) as info:
        subject.store.append(record)
    assert info.value.message == message
    assert list(subject.store.iter_rows()) == []


# (statement, first bad seq, problem). Six records, seqs 1..6.
TAMPERINGS = [
    pytest.param(
        "UPDATE {t} SET canon = ? WHERE seq = 3",
        3,
        "entry_hash does not match SHA-256(prev_hash || canon)",
        id="canon-edited",
    ),
    pytest.param("DELETE FROM {t} WHERE seq = 3", 3, "seq 3 missing (found seq 4)", id="row-deleted"),
    pytest.param(
        "UPDATE {t} SET prev_hash = ? WHERE seq = 4",
        4,
        "prev_hash does not match the previous entry_hash",
        id="prev-hash-edited",
    ),
    pytest.param(
        "UPDATE {t} SET tenant = 'someone-else' WHERE seq = 5",
        5,
        "column tenant differs from the canonical record",
        id="index-column-edited",
    ),
    pytest.param(
        "UPDATE {t} SET seq = 1000 WHERE seq = 2; UPDATE {t} SET seq = 2 WHERE seq = 3; "
        "UPDATE {t} SET seq = 3 WHERE seq = 1000",
        2,
        "prev_hash does not match the previous entry_hash",
        id="rows-swapped",
    ),
]


def _param_for(statement: str) -> list[Any]:
    if "canon = " in statement:
        return [b'{"record_type":"admin"}']
    if "prev_hash = " in statement:
        return [bytes(range(32))]
    return []


@pytest.mark.parametrize(("statement", "bad_seq", "problem"), TAMPERINGS)
def test_tampering_is_detected_at_the_exact_seq(
    subject: Subject, statement: str, bad_seq: int, problem: str
) -> None:
    _fill(subject.store)
    subject.tamper(statement, _param_for(statement))
    report = verify(subject.store.iter_rows())
    assert (report.ok, report.first_bad_seq, report.problem, report.records) == (
        False,
        bad_seq,
        problem,
        bad_seq - 1,
    )


def test_truncated_tail_is_detected_only_against_an_external_head(subject: Subject) -> None:
    hashes = _fill(subject.store)
    subject.tamper("DELETE FROM {t} WHERE seq >= 5", [])
    assert subject.store.verify().ok is True  # a chain alone cannot see it (threats.md 1.1)
    report = verify(subject.store.iter_rows(), expect_head=(6, hashes[-1]))
    assert (report.ok, report.first_bad_seq, report.problem) == (
        False,
        5,
        "log ends at seq 4, expected head is at seq 6 (truncated)",
    )


def test_signed_checkpoint_catches_truncation_on_both_stores(subject: Subject, tmp_path: Path) -> None:
    """The same checkpoint check as `audit verify --checkpoint`, on each store."""
    hashes = _fill(subject.store)
    signer = Signer.generate("contract")
    note = sign_head(signer, "contract/log", 6, hashes[-1])
    checkpoint = signer.verifier().open(note)
    state = tmp_path / "state.json"
    assert verify_against_checkpoint(subject.store.iter_rows, checkpoint, state_file=state).ok is True
    subject.tamper("DELETE FROM {t} WHERE seq = 6", [])
    report = verify_against_checkpoint(subject.store.iter_rows, checkpoint, state_file=state)
    assert (report.ok, report.first_bad_seq, report.problem) == (
        False,
        6,
        "log ends at seq 5, expected head is at seq 6 (truncated)",
    )
    older = signer.verifier().open(sign_head(signer, "contract/log", 5, hashes[4]))
    with pytest.raises(CheckpointError) as info:
        verify_against_checkpoint(subject.store.iter_rows, older, state_file=state)
    assert info.value.message == (
        "checkpoint size 5 is older than the checkpoint of size 6 already verified for this log (rollback)"
    )
