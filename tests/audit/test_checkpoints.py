"""Signed checkpoints: signed-note format (with Go's own example as a known answer), the checks of
`audit verify --checkpoint` (truncation, rewrite, bad signature, rollback, fork), and the
checkpointing store the router uses."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from privacy_router.audit.canonical import canonical, entry_hash
from privacy_router.audit.checkpoints import (
    Checkpoint,
    CheckpointError,
    CheckpointingStore,
    Signer,
    Verifier,
    sign_head,
)
from privacy_router.audit.commands import app
from privacy_router.audit.factory import open_store
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.config import AuditSettings
from privacy_router.errors import AuditWriteError
from tests.audit.conftest import attacker_connection, make_decision

runner = CliRunner()

# golang.org/x/mod/sumdb/note example_test.go (ExampleSign / ExampleOpen): Ed25519 signatures are
# deterministic, so our signer must reproduce Go's note byte for byte.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotp"
    "RZb6KE6RyyBwJnAM=\n"
)
T = datetime(2026, 1, 31, 9, 15, 2, 123000, tzinfo=UTC)


def test_signer_reproduces_gos_signed_note_example() -> None:
    signer = Signer.from_text(GO_SKEY)
    assert signer.private_text() == GO_SKEY
    assert signer.verifier().text() == GO_VKEY
    assert signer.sign_note(GO_TEXT) == GO_NOTE
    assert Verifier.from_text(GO_VKEY).verify_note(GO_NOTE) == GO_TEXT


def test_checkpoint_note_layout() -> None:
    signer = Signer.from_text(GO_SKEY)
    note = sign_head(signer, "example.org/audit", 7, "ab" * 32, T)
    body, _, sig = note.partition("\n\n")
    assert body.split("\n") == [
        "example.org/audit",
        "7",
        base64.b64encode(bytes.fromhex("ab" * 32)).decode(),
        "time 2026-01-31T09:15:02.123Z",
    ]
    assert sig.startswith("\u2014 PeterNeumann ")
    assert signer.verifier().open(note) == Checkpoint("example.org/audit", 7, bytes.fromhex("ab" * 32), T_STR)


T_STR = "2026-01-31T09:15:02.123Z"
_HEAD_B64 = base64.b64encode(bytes.fromhex("ab" * 32)).decode()


def _good_note() -> str:
    return sign_head(Signer.from_text(GO_SKEY), "example.org/audit", 7, "ab" * 32, T)


def _resigned(body: str) -> str:
    return Signer.from_text(GO_SKEY).sign_note(body)


MALFORMED = [
    pytest.param(
        lambda n: n.replace("\n7\n", "\n8\n"),
        "checkpoint signature by PeterNeumann does not verify",
        id="size-edited",
    ),
    pytest.param(
        lambda n: n[:-6] + ("A" if n[-6] != "A" else "B") + n[-5:],
        "checkpoint signature by PeterNeumann does not verify",
        id="signature-bit-changed",
    ),
    pytest.param(
        lambda n: (
            n.split("\n\n")[0]
            + "\n\n"
            + Signer.generate("PeterNeumann").sign_note(n.split("\n\n")[0] + "\n").split("\n\n")[1]
        ),
        "checkpoint carries no signature by key PeterNeumann",
        id="signed-by-another-key-same-name",
    ),
    pytest.param(
        lambda n: n.split("\n\n")[0] + "\n",
        "checkpoint is not a signed note (no blank line before signatures)",
        id="unsigned",
    ),
    pytest.param(
        lambda n: n.replace("\u2014 ", "- "), "checkpoint has a malformed signature line", id="bad-sig-line"
    ),
    pytest.param(
        lambda n: _resigned(f"example.org/audit\n007\n{_HEAD_B64}\ntime {T_STR}\n"),
        "checkpoint size is not a decimal number",
        id="size-leading-zero",
    ),
    pytest.param(
        lambda n: _resigned(f"example.org/audit\n7\nq80=\ntime {T_STR}\n"),
        "checkpoint head is not 32 bytes",
        id="short-head",
    ),
    pytest.param(
        lambda n: _resigned(f"example.org/audit\n7\n{_HEAD_B64}\nnote hello\n"),
        "checkpoint needs exactly one 'time YYYY-MM-DDTHH:MM:SS.mmmZ' line",
        id="no-time",
    ),
    pytest.param(
        lambda n: _resigned(f"example.org/audit\n7\n{_HEAD_B64}\n"),
        "checkpoint body needs origin, size, head and a time line",
        id="too-short",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), MALFORMED)
def test_malformed_or_forged_checkpoints_are_rejected(mutate: Callable[[str], str], message: str) -> None:
    with pytest.raises(CheckpointError) as info:
        Verifier.from_text(GO_VKEY).open(mutate(_good_note()))
    assert info.value.message == message


# -- `audit verify --checkpoint` on a real SQLite log ---------------------------------------------


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    signer = Signer.generate("acme-audit")
    monkeypatch.setenv("PR_TEST_SIGNING_KEY", signer.private_text())
    public = tmp_path / "audit.pub"
    public.write_text(signer.verifier().text() + "\n", encoding="utf-8")
    return public


def _log(path: Path, n: int) -> None:
    with SqliteAuditStore(path) as store:
        for i in range(n):
            store.append(make_decision(i))


def _checkpoint(db: Path, out: Path) -> Path:
    config = db.parent / "router.yaml"
    config.write_text(
        f"audit:\n  sqlite_path: {db}\n  signing_key_env: PR_TEST_SIGNING_KEY\n  checkpoint_dir: {out}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["checkpoint", "--config", str(config)])
    assert result.exit_code == 0, result.output
    return Path(result.output.splitlines()[0].removeprefix("wrote "))


def _verify(db: Path, checkpoint: Path, public: Path, state: Path) -> tuple[int, str]:
    result = runner.invoke(
        app,
        [
            "verify",
            "--audit-db",
            str(db),
            "--checkpoint",
            str(checkpoint),
            "--public-key",
            str(public),
            "--state",
            str(state),
        ],
    )
    return result.exit_code, result.output


def _head(db: Path) -> str:
    with SqliteAuditStore(db) as store:
        return store.verify().head_hash


def test_checkpoint_command_writes_a_note_that_verifies(tmp_path: Path, keys: Path) -> None:
    db = tmp_path / "audit.db"
    _log(db, 5)
    path = _checkpoint(db, tmp_path / "ckpt")
    assert path.name == "checkpoint-000000000005.txt"
    opened = Verifier.from_text(keys.read_text()).open(path.read_text())
    assert (opened.origin, opened.size, opened.head.hex()) == (
        f"privacy-router/audit/sqlite/{db}",
        5,
        _head(db),
    )
    code, out = _verify(db, path, keys, tmp_path / "state.json")
    assert (code, out) == (
        0,
        f"OK: 5 records, head {_head(db)}\ncheckpoint {opened.origin} size 5 ({opened.time}) verified\n",
    )
    state = json.loads((tmp_path / "state.json").read_text())
    assert state[opened.origin]["size"] == 5


def test_verify_with_checkpoint_detects_a_truncated_tail(tmp_path: Path, keys: Path) -> None:
    db = tmp_path / "audit.db"
    _log(db, 5)
    path = _checkpoint(db, tmp_path / "ckpt")
    conn = attacker_connection(db)
    conn.execute("DELETE FROM audit_log WHERE seq >= 4")
    conn.close()
    assert _verify(db, path, keys, tmp_path / "state.json") == (
        1,
        "FAILED at seq 4: log ends at seq 3, expected head is at seq 5 (truncated)\n",
    )


def _rewrite_history(db: Path, from_seq: int) -> None:
    """Edit record ``from_seq`` and recompute every hash after it: a chain that verifies on its own."""
    conn = attacker_connection(db)
    rows = conn.execute(
        "SELECT seq, canon, prev_hash FROM audit_log WHERE seq >= ? ORDER BY seq", [from_seq]
    ).fetchall()
    prev = conn.execute("SELECT prev_hash FROM audit_log WHERE seq = ?", [from_seq]).fetchone()[0]
    for seq, canon, _ in rows:
        record = json.loads(canon)
        if seq == from_seq:
            record["model"] = "innocent-model"
        new = canonical(record)
        digest = entry_hash(prev, new)
        conn.execute(
            "UPDATE audit_log SET canon = ?, prev_hash = ?, entry_hash = ? WHERE seq = ?",
            [new, prev, digest, seq],
        )
        prev = digest
    conn.close()


def test_verify_with_checkpoint_detects_rewritten_history(tmp_path: Path, keys: Path) -> None:
    db = tmp_path / "audit.db"
    _log(db, 5)
    path = _checkpoint(db, tmp_path / "ckpt")
    _rewrite_history(db, 2)
    assert runner.invoke(app, ["verify", "--audit-db", str(db)]).exit_code == 0  # the chain alone is fooled
    assert _verify(db, path, keys, tmp_path / "state.json") == (
        1,
        "FAILED at seq 5: entry_hash differs from the expected head\n",
    )


def test_verify_with_checkpoint_detects_a_bad_signature(tmp_path: Path, keys: Path) -> None:
    db = tmp_path / "audit.db"
    _log(db, 3)
    path = _checkpoint(db, tmp_path / "ckpt")
    path.write_text(path.read_text().replace("\n3\n", "\n2\n"), encoding="utf-8")
    assert _verify(db, path, keys, tmp_path / "state.json") == (
        1,
        "FAILED: checkpoint signature by acme-audit does not verify\n",
    )


def test_verify_with_checkpoint_detects_rollback_to_an_older_checkpoint(tmp_path: Path, keys: Path) -> None:
    db, state = tmp_path / "audit.db", tmp_path / "state.json"
    _log(db, 3)
    old = _checkpoint(db, tmp_path / "ckpt")
    _log(db, 3)
    new = _checkpoint(db, tmp_path / "ckpt")
    assert _verify(db, new, keys, state)[0] == 0
    assert _verify(db, old, keys, state) == (
        1,
        "FAILED: checkpoint size 3 is older than the checkpoint of size 6 already verified "
        "for this log (rollback)\n",
    )


def test_verify_with_checkpoint_detects_a_fork_at_the_same_size(tmp_path: Path, keys: Path) -> None:
    db, state = tmp_path / "audit.db", tmp_path / "state.json"
    _log(db, 4)
    first = _checkpoint(db, tmp_path / "a")
    assert _verify(db, first, keys, state)[0] == 0
    _rewrite_history(db, 4)
    forked = _checkpoint(db, tmp_path / "b")  # the operator signs the rewritten head
    assert _verify(db, forked, keys, state) == (
        1,
        "FAILED: checkpoint of size 4 differs from the one already verified at that size (fork)\n",
    )


def test_a_newer_checkpoint_also_requires_the_one_already_seen(tmp_path: Path, keys: Path) -> None:
    """History rewritten below the last accepted checkpoint, then a fresh checkpoint signed over it."""
    db, state = tmp_path / "audit.db", tmp_path / "state.json"
    _log(db, 3)
    assert _verify(db, _checkpoint(db, tmp_path / "a"), keys, state)[0] == 0
    _rewrite_history(db, 1)
    _log(db, 2)
    assert _verify(db, _checkpoint(db, tmp_path / "b"), keys, state) == (
        1,
        "FAILED at seq 3: entry_hash differs from the expected head\n",
    )


# -- checkpoints written while serving ---------------------------------------------------------------


def test_checkpointing_store_signs_every_n_records_and_on_close(tmp_path: Path) -> None:
    signer = Signer.generate("router")
    inner = SqliteAuditStore(tmp_path / "audit.db")
    store = CheckpointingStore(
        inner, signer=signer, origin="test/log", directory=tmp_path / "ckpt", every=3, interval_s=3600
    )
    receipts = [store.append(make_decision(i)) for i in range(7)]
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "checkpoint-000000000003.txt",
        "checkpoint-000000000006.txt",
    ]
    store.close()
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names[-1] == "checkpoint-000000000007.txt"
    opened = [signer.verifier().open((tmp_path / "ckpt" / n).read_text()) for n in names]
    assert [(c.size, c.head.hex()) for c in opened] == [
        (r.seq, r.entry_hash) for r in (receipts[2], receipts[5], receipts[6])
    ]


def test_checkpointing_store_signs_on_its_timer(tmp_path: Path) -> None:
    signer = Signer.generate("router")
    store = CheckpointingStore(
        SqliteAuditStore(tmp_path / "audit.db"),
        signer=signer,
        origin="test/log",
        directory=tmp_path / "ckpt",
        every=1000,
        interval_s=0.05,
    )
    try:
        receipt = store.append(make_decision(0))
        target = tmp_path / "ckpt" / "checkpoint-000000000001.txt"
        deadline = time.monotonic() + 20
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert signer.verifier().open(target.read_text()).head.hex() == receipt.entry_hash
    finally:
        store.close()


def test_open_store_refuses_checkpoints_without_a_signing_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PR_TEST_NO_KEY", raising=False)
    settings = AuditSettings(
        sqlite_path=tmp_path / "a.db", checkpoint_dir=tmp_path / "c", signing_key_env="PR_TEST_NO_KEY"
    )
    with pytest.raises(AuditWriteError) as info:
        open_store(settings)
    assert info.value.message == (
        "config key 'audit.signing_key_env': environment variable PR_TEST_NO_KEY holds no signing key "
        "(create one with `privacy-router audit keygen NAME --public-key FILE`)"
    )


def test_open_store_wraps_the_store_when_checkpoints_are_configured(tmp_path: Path, keys: Path) -> None:
    settings = AuditSettings(
        sqlite_path=tmp_path / "a.db",
        checkpoint_dir=tmp_path / "c",
        signing_key_env="PR_TEST_SIGNING_KEY",
        checkpoint_every=2,
    )
    store = open_store(settings)
    assert isinstance(store, CheckpointingStore)
    store.append(make_decision(0))
    store.append(make_decision(1))
    store.close()
    note = (tmp_path / "c" / "checkpoint-000000000002.txt").read_text()
    assert (
        Verifier.from_text(keys.read_text()).open(note).origin
        == f"privacy-router/audit/sqlite/{tmp_path / 'a.db'}"
    )


def test_keygen_writes_the_public_key_and_prints_the_private_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["keygen", "acme-2026", "--public-key", str(tmp_path / "k.pub")])
    assert result.exit_code == 0
    signer = Signer.from_text(result.output)
    assert (tmp_path / "k.pub").read_text() == signer.verifier().text() + "\n"
    assert signer.name == "acme-2026"


def test_sqlite_rows_stay_unchanged_by_checkpointing(tmp_path: Path) -> None:
    """A checkpoint is written beside the log, never into it."""
    signer = Signer.generate("router")
    store = CheckpointingStore(
        SqliteAuditStore(tmp_path / "audit.db"),
        signer=signer,
        origin="o",
        directory=tmp_path / "c",
        every=1,
        interval_s=3600,
    )
    store.append(make_decision(0))
    store.close()
    conn = sqlite3.connect(tmp_path / "audit.db")
    assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 1
    conn.close()
