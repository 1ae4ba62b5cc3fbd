"""What the integrity and record pages read from the checkpoint folder: the newest checkpoint of each
log, its signature status (a tampered file, another key, no key), its age, and the chain against it;
and the same after `audit archive` moved the oldest records out (a real archive of a real store)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from privacy_router.audit.archive import Retention, load_checkpoints, plan_archive, seal, write_archive
from privacy_router.audit.base import new_record_id
from privacy_router.audit.checkpoints import (
    CheckpointError,
    Signer,
    merkle_range,
    sign_head,
    write_checkpoint,
)
from privacy_router.audit.merkle import inclusion_proof, leaf_hash, root
from privacy_router.audit.proofs import prove_after_anchor, prove_record
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.ui.evidence import (
    age_text,
    anchor_of,
    archived_record,
    chain_status,
    inclusion,
    latest_checkpoints,
)
from tests.audit.conftest import make_decision

T = datetime(2026, 3, 4, 18, 0, 0, tzinfo=UTC)
ORIGIN = "privacy-router/audit/sqlite/test"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "in the future (clock skew)"),
        (0, "0 s"),
        (59, "59 s"),
        (60, "1 min"),
        (3599, "59 min"),
        (3600 * 2 + 5 * 60 + 30, "2 h 5 min"),
        (86400 * 3 + 3600 * 4 + 59, "3 d 4 h"),
    ],
    ids=["future", "zero", "seconds", "one-minute", "minutes", "hours", "days"],
)
def test_age_reads_in_whole_units(seconds: int, text: str) -> None:
    assert age_text(T, T + timedelta(seconds=seconds)) == text


@pytest.fixture
def log(tmp_path: Path) -> SqliteAuditStore:
    store = SqliteAuditStore(tmp_path / "audit.db")
    for i in range(7):
        store.append(make_decision(i))
    return store


def _sign(store: SqliteAuditStore, signer: Signer, size: int, directory: Path) -> Path:
    rows = list(store.iter_rows())[:size]
    note = sign_head(signer, ORIGIN, size, rows[-1].entry_hash.hex(), T, merkle_range(rows).root())
    return write_checkpoint(directory, note, size)


def test_the_newest_checkpoint_of_a_log_is_shown_with_a_verified_signature(
    log: SqliteAuditStore, tmp_path: Path
) -> None:
    signer = Signer.generate("audit-test")
    for size in (3, 7, 5):
        _sign(log, signer, size, tmp_path / "cp")
    views = latest_checkpoints(tmp_path / "cp", signer.verifier(), T + timedelta(minutes=12))
    assert [(v.origin, v.size, v.file, v.age, v.signature) for v in views] == [
        (ORIGIN, 7, "checkpoint-000000000007.txt", "12 min", "verified")
    ]
    assert chain_status(views[0], log, ORIGIN) == (
        "intact: 7 records, the checkpoint's head at seq 7 matches"
    )
    proof = inclusion(log, views[0], signer.verifier(), 5)
    assert (proof.leaf_index, proof.tree_size, len(proof.path), proof.verified) == (4, 7, 3, True)
    log.close()


def test_a_tampered_checkpoint_is_reported_and_not_checked_against_the_chain(
    log: SqliteAuditStore, tmp_path: Path
) -> None:
    signer = Signer.generate("audit-test")
    path = _sign(log, signer, 7, tmp_path / "cp")
    # Claim a smaller size under the same signature: the signed bytes change, the signature fails.
    path.write_text(path.read_text().replace(f"{ORIGIN}\n7\n", f"{ORIGIN}\n6\n"))
    (view,) = latest_checkpoints(tmp_path / "cp", signer.verifier(), T)
    assert (view.size, view.signature) == (6, "checkpoint signature by audit-test does not verify")
    assert chain_status(view, log, ORIGIN) == "not checked: the signature is not verified"
    log.close()


def test_a_checkpoint_of_another_key_or_without_a_key_is_not_called_verified(
    log: SqliteAuditStore, tmp_path: Path
) -> None:
    _sign(log, Signer.generate("someone-else"), 7, tmp_path / "cp")
    ours = Signer.generate("audit-test").verifier()
    assert [v.signature for v in latest_checkpoints(tmp_path / "cp", ours, T)] == [
        "checkpoint carries no signature by key audit-test"
    ]
    assert [v.signature for v in latest_checkpoints(tmp_path / "cp", None, T)] == [
        "no signing key configured"
    ]
    log.close()


def test_a_log_rewritten_behind_its_checkpoint_is_broken_at_the_checkpoint(tmp_path: Path) -> None:
    """The same origin, another history: record 4 of the log is not the one that was signed."""
    signer = Signer.generate("audit-test")
    signed = SqliteAuditStore(tmp_path / "signed.db")
    for i in range(7):
        signed.append(make_decision(i))
    _sign(signed, signer, 4, tmp_path / "cp")
    signed.close()
    other = SqliteAuditStore(tmp_path / "other.db")
    for i in range(7):
        other.append(make_decision(i + 100))
    (view,) = latest_checkpoints(tmp_path / "cp", signer.verifier(), T)
    status = chain_status(view, other, ORIGIN)
    other.close()
    assert status.startswith("broken at seq 4: ")


# -- after `audit archive` ------------------------------------------------------------------------

SIGNER = Signer.generate("audit-test")
ARCHIVE_NAME = "archive-000000000001-000000000008.manifest.json"


@dataclasses.dataclass
class Archived:
    store: SqliteAuditStore
    hashes: list[bytes]  # leaf hashes of records 1..20, taken before the archive
    ids: list[str]  # record ids of records 1..20
    folder: Path


@pytest.fixture
def archived(tmp_path: Path) -> Iterator[Archived]:
    """20 records; checkpoints at 5 and 8 (one folder each); records 1..8 archived with the real
    archive code; then a checkpoint at 16 written into the folder the pages read."""
    store = SqliteAuditStore(tmp_path / "audit.db", clock=lambda: T)
    for i in range(20):
        store.append(make_decision(i))
        if i == 7:
            time.sleep(0.005)  # record ids are UUIDv7 (ms): the archived ones are issued earlier
    rows = list(store.iter_rows())
    for size in (5, 8):
        _sign(store, SIGNER, size, tmp_path / f"cp{size}")
    note16 = sign_head(SIGNER, ORIGIN, 16, rows[15].entry_hash.hex(), T, merkle_range(rows[:16]).root())
    retention = Retention(1, {})
    now = datetime.now(UTC)
    checkpoints = load_checkpoints(tmp_path / "cp8", SIGNER.verifier(), ORIGIN)
    plan = plan_archive(store, checkpoints, retention, before=T + timedelta(days=1), now=now)
    assert plan is not None and (plan.first_seq, plan.last_seq) == (1, 8)
    seal(store, plan, write_archive(store, plan, tmp_path / "archive", retention, now))
    write_checkpoint(tmp_path / "cp", note16, 16)
    assert [r.seq for r in store.iter_rows()] == list(range(9, 21))
    yield Archived(store, [leaf_hash(r.canon) for r in rows], [r.record_id for r in rows], tmp_path)
    store.close()


def test_after_an_archive_the_checkpoint_is_checked_from_the_anchor(archived: Archived) -> None:
    (view,) = latest_checkpoints(archived.folder / "cp", SIGNER.verifier(), T)
    assert view.size == 16
    assert chain_status(view, archived.store, ORIGIN) == (
        "intact: 20 records, the checkpoint's head at seq 16 matches"
    )
    # The checkpoint that sealed the archive: its head is the anchor's.
    (at_anchor,) = latest_checkpoints(archived.folder / "cp8", SIGNER.verifier(), T)
    assert chain_status(at_anchor, archived.store, ORIGIN) == (
        "intact: 20 records, the checkpoint's head at seq 8 matches (the archive's anchor)"
    )
    # A checkpoint inside the archive is named as archived, not as a broken log.
    (inside,) = latest_checkpoints(archived.folder / "cp5", SIGNER.verifier(), T)
    assert chain_status(inside, archived.store, ORIGIN) == (
        f"archived: records 1 to 8 were sealed into {ARCHIVE_NAME}; check this checkpoint with "
        "`privacy-router audit verify --archive DIR --checkpoint FILE`"
    )


def test_after_an_archive_a_checkpoint_of_another_history_is_still_broken(archived: Archived) -> None:
    """Another log signed under the same origin at size 16: the live log differs at its head."""
    other = SqliteAuditStore(archived.folder / "other.db", clock=lambda: T)
    for i in range(16):
        other.append(make_decision(i + 100))
    _sign(other, SIGNER, 16, archived.folder / "other-cp")
    other.close()
    (view,) = latest_checkpoints(archived.folder / "other-cp", SIGNER.verifier(), T)
    assert chain_status(view, archived.store, ORIGIN) == (
        "broken at seq 16: entry_hash differs from the expected head"
    )


@pytest.mark.parametrize("seq", [9, 12, 15, 16])
def test_a_proof_after_an_archive_is_the_proof_over_the_whole_log(archived: Archived, seq: int) -> None:
    """The path built from the anchor equals RFC 6962 PATH over all 16 leaves (taken before the
    archive), and the offline verifier accepts it."""
    (view,) = latest_checkpoints(archived.folder / "cp", SIGNER.verifier(), T)
    proof = inclusion(archived.store, view, SIGNER.verifier(), seq)
    assert proof.path == [h.hex() for h in inclusion_proof(seq - 1, archived.hashes[:16])]
    assert (proof.verified, proof.summary) == (True, f"record seq {seq} is included in {ORIGIN} at size 16")
    assert (proof.leaf_index, proof.tree_size, proof.leaf_hash_hex) == (
        seq - 1,
        16,
        archived.hashes[seq - 1].hex(),
    )
    assert proof.root_hex == root(archived.hashes[:16]).hex()


def test_a_proof_from_a_wrong_anchor_or_for_an_archived_record_is_refused(archived: Archived) -> None:
    (view,) = latest_checkpoints(archived.folder / "cp", SIGNER.verifier(), T)
    anchor = anchor_of(archived.store)
    assert anchor is not None and anchor.seq == 8
    rows = archived.store.iter_rows
    with pytest.raises(CheckpointError, match="not a live record"):
        prove_after_anchor(anchor, rows(9), view.note, SIGNER.verifier(), 5)
    bent = dataclasses.replace(anchor, merkle=bytes(32))  # size 8 = one subtree: a well-formed state
    with pytest.raises(CheckpointError, match="merkle root differs"):
        prove_after_anchor(bent, rows(9), view.note, SIGNER.verifier(), 12)
    # What the record page and `audit prove` call: an archived record names its archive.
    with pytest.raises(CheckpointError) as info:
        prove_record(rows, anchor, view.note, SIGNER.verifier(), 5)
    assert info.value.message == f"record seq 5 is archived: records 1 to 8 were sealed into {ARCHIVE_NAME}"


def test_an_archived_record_id_is_recognised_as_older_than_the_live_log(archived: Archived) -> None:
    anchor = anchor_of(archived.store)
    assert anchor is not None
    assert archived_record(archived.store, anchor, archived.ids[2]) is True  # seq 3, archived
    assert archived_record(archived.store, anchor, new_record_id()) is False  # newer than the log
    assert archived_record(archived.store, anchor, str(uuid.uuid4())) is False  # not a record id
    assert archived_record(archived.store, anchor, "not-a-uuid") is False
