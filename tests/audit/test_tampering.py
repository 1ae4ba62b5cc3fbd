"""Random tampering, at least 200 trials on each store, every one detected at the exact first bad seq.

Each trial starts from the same honest log of ``N`` records, applies one random tampering with the
rights of someone who bypasses every guard (SQLite: a connection that dropped the triggers;
PostgreSQL: the superuser with ``session_replication_role = replica`` and RLS bypassed), then
verifies what the store returns against the head an auditor holds off the box (``expect_head``, as
a signed checkpoint provides it). Kinds (issue 6, threats.md 1.1):

* ``byte-flip``: one bit of ``canon``, ``prev_hash`` or ``entry_hash`` of row k  -> bad seq k
* ``delete``: row k < N removed                                                -> bad seq k
* ``swap``: rows i < j exchange places (their seq columns)                     -> bad seq i
* ``forge``: row k replaced by an edited record with a correctly recomputed hash
  (consistent in itself)                                                       -> bad seq k+1, or N
  against the expected head when k = N
* ``prev-hash``: prev_hash of row k replaced by random bytes                   -> bad seq k
* ``truncate``: rows k..N removed (invisible to the chain alone)               -> bad seq k

The seed is printed and named in every failure; rerun one with PRIVACY_ROUTER_TAMPER_SEED=<seed>.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from privacy_router.audit.canonical import canonical, entry_hash
from privacy_router.audit.postgresql import PostgresAuditStore
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.audit.verify import verify
from tests.audit.conftest import PgCluster, attacker_connection, make_decision

N = 12
TRIALS = 200
KINDS = ("byte-flip", "delete", "swap", "forge", "prev-hash", "truncate")
_COLUMNS = "seq, record_id, ts, record_type, request_id, tenant, action, canon, prev_hash, entry_hash"


def _seed() -> int:
    text = os.environ.get("PRIVACY_ROUTER_TAMPER_SEED")
    return int(text) if text else random.SystemRandom().randrange(2**32)


@dataclass(frozen=True)
class Tampering:
    kind: str
    statements: list[tuple[str, list[Any]]]  # SQL with {t} for the table and ? for parameters
    expected_bad_seq: int


def plan(rng: random.Random, rows: list[tuple[Any, ...]]) -> Tampering:
    """One random tampering of the honest ``rows`` (tuples in _COLUMNS order, seq 1..N)."""
    kind = rng.choice(KINDS)
    n = len(rows)
    if kind == "byte-flip":
        k = rng.randint(1, n)
        column, index = rng.choice([("canon", 7), ("prev_hash", 8), ("entry_hash", 9)])
        value = bytearray(rows[k - 1][index])
        value[rng.randrange(len(value))] ^= 1 << rng.randrange(8)
        statement = f"UPDATE {{t}} SET {column} = ? WHERE seq = ?"  # noqa: S608 (constant column names)
        return Tampering(kind, [(statement, [bytes(value), k])], k)
    if kind == "delete":
        k = rng.randint(1, n - 1)
        return Tampering(kind, [("DELETE FROM {t} WHERE seq = ?", [k])], k)
    if kind == "swap":
        i, j = sorted(rng.sample(range(1, n + 1), 2))
        return Tampering(
            kind,
            [
                ("UPDATE {t} SET seq = ? WHERE seq = ?", [10_000, i]),
                ("UPDATE {t} SET seq = ? WHERE seq = ?", [i, j]),
                ("UPDATE {t} SET seq = ? WHERE seq = ?", [j, 10_000]),
            ],
            i,
        )
    if kind == "forge":
        k = rng.randint(1, n)
        record = json.loads(rows[k - 1][7])
        record["action"] = rng.choice(["block", "external", "external_scrubbed"])
        record["principal"]["tenant"] = f"forged-{rng.randrange(1000)}"
        canon = canonical(record)
        digest = entry_hash(bytes(rows[k - 1][8]), canon)
        statement = "UPDATE {t} SET canon = ?, entry_hash = ?, tenant = ?, action = ? WHERE seq = ?"
        params = [canon, digest, record["principal"]["tenant"], record["action"], k]
        return Tampering(kind, [(statement, params)], k + 1 if k < n else n)
    if kind == "prev-hash":
        k = rng.randint(1, n)
        return Tampering(kind, [("UPDATE {t} SET prev_hash = ? WHERE seq = ?", [rng.randbytes(32), k])], k)
    k = rng.randint(1, n)
    return Tampering("truncate", [("DELETE FROM {t} WHERE seq >= ?", [k])], k)


@dataclass
class Target:
    """One store kind: ``run(tampering)`` applies it to a fresh copy of the honest log and returns
    what verification reports as (ok, first_bad_seq)."""

    rows: list[tuple[Any, ...]]
    head: tuple[int, str]
    run: Callable[[Tampering], tuple[bool, int | None]]


def _fill(store: SqliteAuditStore | PostgresAuditStore) -> tuple[int, str]:
    receipt = None
    for i in range(N):
        receipt = store.append(make_decision(i, tenant=f"t-{i % 3}"))
    assert receipt is not None
    return receipt.seq, receipt.entry_hash


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "sqlite":
        honest = tmp_path / "honest.db"
        with SqliteAuditStore(honest) as store:
            head = _fill(store)
        # Closing the last connection checkpoints the WAL into the main file, so a copy is complete.
        conn = sqlite3.connect(honest)
        rows = conn.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq").fetchall()  # noqa: S608
        conn.close()

        def run_sqlite(t: Tampering) -> tuple[bool, int | None]:
            copy = tmp_path / "trial.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{copy}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(honest, copy)
            attacker = attacker_connection(copy)
            for statement, params in t.statements:
                attacker.execute(statement.replace("{t}", "audit_log"), params)
            attacker.close()
            with SqliteAuditStore(copy) as trial:
                report = verify(trial.iter_rows(), expect_head=head)
            return report.ok, report.first_bad_seq

        yield Target(rows, head, run_sqlite)
        return

    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    schema: str = request.getfixturevalue("pg_schema")
    pg_store = PostgresAuditStore(cluster.writer_dsn, schema=schema)
    head = _fill(pg_store)
    admin = psycopg.connect(cluster.admin_dsn, autocommit=True)
    admin.execute("SET session_replication_role = replica")  # triggers do not fire: the attacker
    table = sql.SQL("{}.audit_log").format(sql.Identifier(schema)).as_string(admin)
    pg_rows = admin.execute(f"SELECT {_COLUMNS} FROM {table} ORDER BY seq").fetchall()  # noqa: S608
    rows = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in pg_rows]
    insert = f"INSERT INTO {table} ({_COLUMNS}) VALUES ({', '.join(['%s'] * 10)})"  # noqa: S608

    def run_pg(t: Tampering) -> tuple[bool, int | None]:
        with admin.transaction():
            for statement, params in t.statements:
                admin.execute(statement.replace("{t}", table).replace("?", "%s"), params)  # type: ignore[arg-type]
        # Verified through the store's own connection, as the router and `audit verify` read it.
        report = verify(pg_store.iter_rows(), expect_head=head)
        with admin.transaction():  # restore the honest log for the next trial
            admin.execute(f"DELETE FROM {table}")  # noqa: S608
            with admin.cursor() as cur:
                cur.executemany(insert, rows)  # type: ignore[arg-type]
        return report.ok, report.first_bad_seq

    try:
        yield Target(rows, head, run_pg)
    finally:
        admin.close()
        pg_store.close()


def test_random_tamperings_are_all_detected_at_the_exact_seq(target: Target) -> None:
    seed = _seed()
    print(f"tamper seed: {seed} (PRIVACY_ROUTER_TAMPER_SEED={seed} reproduces this run)")
    rng = random.Random(seed)
    kinds: dict[str, int] = dict.fromkeys(KINDS, 0)
    wrong: list[tuple[int, str, int, bool, int | None]] = []
    for trial in range(TRIALS):
        tampering = plan(rng, target.rows)
        kinds[tampering.kind] += 1
        ok, bad = target.run(tampering)
        if ok or bad != tampering.expected_bad_seq:
            wrong.append((trial, tampering.kind, tampering.expected_bad_seq, ok, bad))
    assert wrong == [], f"seed {seed}: (trial, kind, expected seq, ok, reported seq)"
    # Every kind was exercised (200 draws over 6 kinds: missing one has probability < 1e-15).
    assert sorted(k for k, count in kinds.items() if count > 0) == sorted(KINDS), f"seed {seed}"


def test_the_honest_copy_verifies(target: Target) -> None:
    """The control: the same harness with no tampering at all reports the log as intact."""
    assert target.run(Tampering("none", [], 0)) == (True, None)
