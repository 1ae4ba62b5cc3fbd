"""Chain verification against an attacker with write access to the file (triggers dropped).

Each mutation must be reported at the exact first inconsistent seq (threats.md 1.2: a mutation
suite for every verification path)."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from privacy_router.audit import SqliteAuditStore, canonical, entry_hash, verify

N = 20
Mutation = Callable[[sqlite3.Connection], None]


@pytest.fixture
def chain(
    db_path: Path,
    decision_factory: Callable[..., dict[str, Any]],
    completion_factory: Callable[..., dict[str, Any]],
) -> Path:
    with SqliteAuditStore(db_path) as store:
        for i in range(N):
            record = decision_factory(i, tenant=f"t{i % 3}") if i % 2 == 0 else completion_factory(i)
            store.append(record)
    return db_path


def _row(conn: sqlite3.Connection, seq: int) -> list[Any]:
    return list(conn.execute("SELECT * FROM audit_log WHERE seq = ?", (seq,)).fetchone())


def flip_canon_byte(seq: int, offset: int = 10) -> Mutation:
    def m(conn: sqlite3.Connection) -> None:
        canon = bytearray(_row(conn, seq)[7])
        canon[offset % len(canon)] ^= 0x01
        conn.execute("UPDATE audit_log SET canon = ? WHERE seq = ?", (bytes(canon), seq))

    return m


def edit_column(seq: int, column: str, value: Any) -> Mutation:
    def m(conn: sqlite3.Connection) -> None:
        conn.execute(f"UPDATE audit_log SET {column} = ? WHERE seq = ?", (value, seq))  # noqa: S608

    return m


def delete_row(seq: int) -> Mutation:
    def m(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM audit_log WHERE seq = ?", (seq,))

    return m


def swap_rows(a: int, b: int) -> Mutation:
    def m(conn: sqlite3.Connection) -> None:
        ra, rb = _row(conn, a), _row(conn, b)
        conn.execute("DELETE FROM audit_log WHERE seq IN (?, ?)", (a, b))
        conn.execute("INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?,?,?,?)", [a, *rb[1:]])
        conn.execute("INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?,?,?,?)", [b, *ra[1:]])

    return m


def forge_insert(after: int, *, valid_hash: bool) -> Mutation:
    """Shift every row after ``after`` up by one and insert a forged record in the hole. With
    ``valid_hash`` the forged row links correctly to its predecessor, as a careful attacker would."""

    def m(conn: sqlite3.Connection) -> None:
        prev = _row(conn, after)[9]
        conn.execute("UPDATE audit_log SET seq = -seq WHERE seq > ?", (after,))
        conn.execute("UPDATE audit_log SET seq = 1 - seq WHERE seq < 0")
        seq = after + 1
        record = {
            "record_type": "admin",
            "request_id": "forged",
            "seq": seq,
            "ts": "2020-01-01T00:00:00.000Z",
            "record_id": "forged-id",
        }
        canon = canonical(record)
        digest = entry_hash(prev, canon) if valid_hash else b"\x11" * 32
        conn.execute(
            "INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (seq, "forged-id", record["ts"], "admin", "forged", None, None, canon, prev, digest, None),
        )

    return m


def rewrite_record(seq: int) -> Mutation:
    """Replace one record and recompute ITS hash only: the row is consistent, the next link is not."""

    def m(conn: sqlite3.Connection) -> None:
        row = _row(conn, seq)
        record = json.loads(row[7])
        record["request_id"] = "rewritten"
        canon = canonical(record)
        conn.execute(
            "UPDATE audit_log SET canon = ?, request_id = 'rewritten', entry_hash = ? WHERE seq = ?",
            (canon, entry_hash(row[8], canon), seq),
        )

    return m


def non_canonical(seq: int) -> Mutation:
    """Same JSON, non-canonical spacing, with the whole chain re-hashed from there on."""

    def m(conn: sqlite3.Connection) -> None:
        prev = _row(conn, seq)[8]
        for s in range(seq, N + 1):
            canon = _row(conn, s)[7]
            if s == seq:
                canon = json.dumps(json.loads(canon), sort_keys=True).encode()
            digest = entry_hash(prev, canon)
            conn.execute(
                "UPDATE audit_log SET canon = ?, prev_hash = ?, entry_hash = ? WHERE seq = ?",
                (canon, prev, digest, s),
            )
            prev = digest

    return m


CASES = [
    pytest.param(
        flip_canon_byte(7), 7, "entry_hash does not match SHA-256(prev_hash || canon)", id="flip-canon-byte"
    ),
    pytest.param(
        edit_column(5, "prev_hash", b"\x22" * 32),
        5,
        "prev_hash does not match the previous entry_hash",
        id="edit-prev-hash",
    ),
    pytest.param(
        edit_column(3, "entry_hash", b"\x33" * 32),
        3,
        "entry_hash does not match SHA-256(prev_hash || canon)",
        id="edit-entry-hash",
    ),
    pytest.param(delete_row(9), 9, "seq 9 missing (found seq 10)", id="delete-row"),
    pytest.param(delete_row(1), 1, "seq 1 missing (found seq 2)", id="delete-first-row"),
    pytest.param(swap_rows(4, 12), 4, "prev_hash does not match the previous entry_hash", id="swap-rows"),
    pytest.param(
        swap_rows(10, 11), 10, "prev_hash does not match the previous entry_hash", id="swap-adjacent"
    ),
    pytest.param(
        forge_insert(10, valid_hash=True),
        12,
        "prev_hash does not match the previous entry_hash",
        id="forged-insert-linked",
    ),
    pytest.param(
        forge_insert(10, valid_hash=False),
        11,
        "entry_hash does not match SHA-256(prev_hash || canon)",
        id="forged-insert-bad-hash",
    ),
    pytest.param(
        rewrite_record(8), 9, "prev_hash does not match the previous entry_hash", id="rewrite-record-rehashed"
    ),
    pytest.param(
        edit_column(6, "tenant", "t9"),
        6,
        "column tenant differs from the canonical record",
        id="edit-indexed-tenant",
    ),
    pytest.param(
        edit_column(4, "ts", "2020-01-01T00:00:00.000Z"),
        4,
        "column ts differs from the canonical record",
        id="edit-indexed-ts",
    ),
    pytest.param(
        edit_column(2, "action", "onprem"),
        2,
        "column action differs from the canonical record",
        id="edit-indexed-action",
    ),
    pytest.param(
        non_canonical(13), 13, "canon is not in RFC 8785 canonical form", id="non-canonical-rehashed"
    ),
]


def test_intact_chain_verifies(chain: Path) -> None:
    with SqliteAuditStore(chain) as store:
        report = store.verify()
        head = list(store.iter_rows())[-1].entry_hash.hex()
    assert (report.ok, report.records, report.first_bad_seq, report.problem, report.head_hash) == (
        True,
        N,
        None,
        None,
        head,
    )


@pytest.mark.parametrize(("mutate", "bad_seq", "problem"), CASES)
def test_mutation_is_reported_at_its_first_bad_seq(
    chain: Path, attacker: Callable[[Path], sqlite3.Connection], mutate: Mutation, bad_seq: int, problem: str
) -> None:
    conn = attacker(chain)
    mutate(conn)
    conn.close()
    with SqliteAuditStore(chain) as store:
        report = store.verify()
    assert (report.ok, report.first_bad_seq, report.problem, report.records) == (
        False,
        bad_seq,
        problem,
        bad_seq - 1,
    )


def test_truncated_tail_needs_an_external_head_to_be_detected(
    chain: Path, attacker: Callable[[Path], sqlite3.Connection]
) -> None:
    with SqliteAuditStore(chain) as store:
        exported = (N, list(store.iter_rows())[-1].entry_hash.hex())
    conn = attacker(chain)
    conn.execute("DELETE FROM audit_log WHERE seq > 15")
    conn.close()
    with SqliteAuditStore(chain) as store:
        # The chain alone cannot see a cut tail (threats.md 1.1) ...
        assert store.verify().ok is True
        # ... the head exported off the box can.
        report = verify(store.iter_rows(), expect_head=exported)
    assert (report.ok, report.first_bad_seq, report.problem) == (
        False,
        16,
        f"log ends at seq 15, expected head is at seq {N} (truncated)",
    )


def _random_mutation(rng: random.Random) -> tuple[str, Mutation, int]:
    kind = rng.choice(["flip", "prev", "entry", "delete", "swap", "forge", "forge-bad", "rewrite", "tenant"])
    s = rng.randint(1, N - 1)  # the last row is excluded where a change there is a tail truncation
    if kind == "flip":
        return kind, flip_canon_byte(s, rng.randrange(1000)), s
    if kind == "prev":
        return kind, edit_column(s, "prev_hash", os.urandom(32)), s
    if kind == "entry":
        return kind, edit_column(s, "entry_hash", os.urandom(32)), s
    if kind == "delete":
        return kind, delete_row(s), s
    if kind == "swap":
        a, b = sorted(rng.sample(range(1, N + 1), 2))
        return kind, swap_rows(a, b), a
    if kind == "forge":
        return kind, forge_insert(s, valid_hash=True), s + 2
    if kind == "forge-bad":
        return kind, forge_insert(s, valid_hash=False), s + 1
    if kind == "rewrite":
        return kind, rewrite_record(s), s + 1
    return kind, edit_column(s, "tenant", "t-other"), s


def test_random_mutations_are_each_reported_at_the_first_bad_seq(
    chain: Path, tmp_path: Path, attacker: Callable[[Path], sqlite3.Connection]
) -> None:
    seed = int(os.environ.get("AUDIT_MUTATION_SEED", random.randrange(2**32)))
    print(f"AUDIT_MUTATION_SEED={seed}")  # shown by pytest on failure; re-run with this env var
    rng = random.Random(seed)
    for i in range(60):
        copy = tmp_path / f"m{i}.db"
        shutil.copyfile(chain, copy)
        kind, mutate, bad = _random_mutation(rng)
        conn = attacker(copy)
        mutate(conn)
        conn.close()
        with SqliteAuditStore(copy) as store:
            report = store.verify()
        assert (report.ok, report.first_bad_seq) == (False, bad), f"seed={seed} iteration={i} mutation={kind}"
        copy.unlink()
