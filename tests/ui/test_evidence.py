"""What the integrity and record pages read from the checkpoint folder: the newest checkpoint of each
log, its signature status (a tampered file, another key, no key), its age, and the chain against it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from privacy_router.audit.checkpoints import Signer, merkle_range, sign_head, write_checkpoint
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.ui.evidence import age_text, chain_status, inclusion, latest_checkpoints
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
    assert chain_status(views[0], log.iter_rows, ORIGIN) == (
        "intact: 7 records, the checkpoint's head at seq 7 matches"
    )
    proof = inclusion(log.iter_rows(), views[0], signer.verifier(), 5)
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
    assert chain_status(view, log.iter_rows, ORIGIN) == "not checked: the signature is not verified"
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
    status = chain_status(view, other.iter_rows, ORIGIN)
    other.close()
    assert status.startswith("broken at seq 4: ")
