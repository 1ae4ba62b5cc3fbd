"""Retention by sealed archives (issue 6 "Retention"), on both stores: whole checkpointed segments
past their retention go to a signed archive, the live log keeps verifying from its anchor, archive
and live log verify together, and nothing leaves before its retention ends or by the router's role."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from privacy_router.audit import SqliteAuditStore, decision_record
from privacy_router.audit.archive import (
    ArchiveError,
    Retention,
    RetentionError,
    archive_rows,
    load_checkpoints,
    plan_archive,
    retention_status,
    seal,
    verify_with_archive,
    write_archive,
)
from privacy_router.audit.base import Anchor
from privacy_router.audit.canonical import GENESIS_HASH, canonical, entry_hash
from privacy_router.audit.checkpoints import (
    CheckpointError,
    CheckpointingStore,
    Signer,
    Verifier,
    merkle_range,
    sign_head,
)
from privacy_router.audit.checkpoints import write_checkpoint as write_note
from privacy_router.audit.commands import app
from privacy_router.audit.merkle import leaf_hash, root
from privacy_router.audit.postgresql import PostgresAuditStore
from privacy_router.audit.proofs import prove_inclusion, verify_bundle
from privacy_router.errors import AuditWriteError
from privacy_router.types import Decision, Principal
from tests.audit.conftest import HMAC_HEX, POLICY, PgCluster, make_completion

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
OLD = datetime(2019, 3, 1, 9, 0, tzinfo=UTC)  # more than 6 years before NOW
SEGMENT = "archive-000000000001-000000000004"
ORIGIN = "test/audit"
HIPAA_PCI = Retention(default_days=366, by_category={"PHI": 2192, "PCI": 366})


def record(n: int, categories: list[str]) -> dict[str, Any]:
    return decision_record(
        request_id=f"req-{n:04d}",
        principal=Principal("claims-bot", "acme-health", "US", key_id="k-1"),
        endpoint="chat.completions",
        model="gpt-4o",
        decision=Decision(action="onprem", backend="vllm-a", reasons=("rule",)),
        backend_region="us-east",
        policy=POLICY,
        pack_versions={"core": "1.0.0"},
        entities=[],
        categories=categories,
        unscannable_parts=0,
        prompt_hmac=HMAC_HEX,
        policy_input={"request": {"endpoint": "chat.completions", "stream": False}},
    )


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass
class Log:
    """One audit log on one store: ``writer`` appends as the router does, ``owner`` archives."""

    kind: str
    clock: Clock
    writer: Any
    owner: Any
    signer: Signer
    checkpoints: Path
    cli: tuple[str, ...] = ()  # how `privacy-router audit` commands open this store

    @property
    def verifier(self) -> Verifier:
        return self.signer.verifier()

    def append(self, n: int, categories: list[str] | None = None) -> None:
        for i in range(n):
            if i % 2:
                self.writer.append(make_completion(i))
            else:
                self.writer.append(record(i, ["PHI"] if categories is None else categories))

    def checkpoint(self, size: int, origin: str = ORIGIN) -> Path:
        rows = [r for r in self.writer.iter_rows() if r.seq <= size]
        anchor = self.writer.anchor()
        compact = anchor.compact() if anchor else merkle_range([])
        for r in rows:
            compact.append(leaf_hash(r.canon))
        note = sign_head(self.signer, origin, size, rows[-1].entry_hash.hex(), NOW, compact.root())
        return write_note(self.checkpoints, note, size)


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Log]:
    clock = Clock(OLD)
    signer = Signer.generate("acme-audit")
    if request.param == "sqlite":
        writer = SqliteAuditStore(tmp_path / "audit.db", clock=clock, writer="router-a")
        owner: Any = writer  # SQLite has no roles: whoever can write the file archives
        cli = ("--audit-db", str(tmp_path / "audit.db"))
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        schema: str = request.getfixturevalue("pg_schema")
        # A generous statement timeout: the shared test machine is often heavily loaded.
        writer = PostgresAuditStore(
            cluster.writer_dsn, schema=schema, clock=clock, writer="router-a", timeout_s=60
        )
        owner = PostgresAuditStore(cluster.owner_dsn, schema=schema, read_only=True, timeout_s=60)
        cli = ("--dsn", cluster.writer_dsn, "--schema", schema)  # the router's role may read
    yield Log(request.param, clock, writer, owner, signer, tmp_path / "checkpoints", cli)
    writer.close()
    owner.close()


def _archive(log: Log, out: Path, before: datetime) -> tuple[int, int, int]:
    plan = plan_archive(
        log.owner, load_checkpoints(log.checkpoints, log.verifier, ORIGIN), HIPAA_PCI, before=before, now=NOW
    )
    assert plan is not None
    manifest = write_archive(log.owner, plan, out, HIPAA_PCI, NOW)
    return plan.first_seq, plan.last_seq, seal(log.owner, plan, manifest)


def test_old_segments_are_sealed_and_both_logs_verify(log: Log, tmp_path: Path) -> None:
    """Records 1..20 (2019, PHI) are archived at the checkpoint at 20; the one at 25 covers 2026
    records and stays. The live log verifies from its anchor, archive + live from seq 1."""
    log.append(20)
    log.clock.now = NOW - timedelta(days=1)
    log.append(10)
    for size in (10, 20, 25):
        log.checkpoint(size)
    full_root = root([leaf_hash(r.canon) for r in log.writer.iter_rows()])
    archive = tmp_path / "archive"

    assert _archive(log, archive, before=datetime(2020, 1, 1, tzinfo=UTC)) == (1, 20, 20)

    anchor = log.writer.anchor()
    assert anchor is not None and (anchor.seq, anchor.archive.split()[0]) == (
        20,
        "archive-000000000001-000000000020.manifest.json",
    )
    assert [r.seq for r in log.writer.iter_rows()] == list(range(21, 31))
    live = log.writer.verify()
    assert (live.ok, live.records, live.archived) == (True, 30, 20)
    whole = verify_with_archive(archive, anchor, log.writer.iter_rows, log.verifier)
    assert (whole.ok, whole.records, whole.head_hash) == (True, 30, live.head_hash)
    assert (
        root(
            [leaf_hash(r.canon) for r in archive_rows(archive)]
            + [leaf_hash(r.canon) for r in log.writer.iter_rows()]
        )
        == full_root
    )
    # The router keeps appending to the same chain after the seal.
    log.append(3)
    assert (log.writer.verify().ok, log.writer.verify().records) == (True, 33)


def test_checkpoints_after_the_seal_continue_the_same_merkle_tree(log: Log, tmp_path: Path) -> None:
    """A router restarted on a sealed store signs Merkle roots over the WHOLE log (from the anchor's
    compact range), so inclusion proofs for archived and live records still verify offline."""
    log.append(12)
    log.checkpoint(10)
    _archive(log, tmp_path / "archive", before=NOW)
    out = tmp_path / "after"
    store = CheckpointingStore(
        log.writer, signer=log.signer, origin="test/audit", directory=out, every=16, interval_s=3600
    )
    log.writer = store
    log.append(4)  # seq 13..16: the store signs a checkpoint at 16
    note = (out / "checkpoint-000000000016.txt").read_text(encoding="utf-8")
    rows = [*archive_rows(tmp_path / "archive"), *store.iter_rows()]
    assert [r.seq for r in rows] == list(range(1, 17))
    assert log.verifier.open(note).merkle_root == root([leaf_hash(r.canon) for r in rows])
    for seq in (3, 15):
        bundle = json.dumps(prove_inclusion(rows, note, log.verifier, seq))
        assert verify_bundle(bundle, log.verifier) == f"record seq {seq} is included in test/audit at size 16"


@pytest.mark.parametrize(
    ("categories", "age_days", "allowed"),
    [
        pytest.param(["PHI"], 2193, True, id="phi-after-6-years"),
        pytest.param(["PHI"], 2000, False, id="phi-within-6-years"),
        pytest.param(["PCI"], 400, True, id="pci-after-12-months"),
        pytest.param(["PCI"], 300, False, id="pci-within-12-months"),
        pytest.param(["PCI", "PHI"], 400, False, id="longest-class-wins"),
        pytest.param([], 367, True, id="no-class-default-after"),
        pytest.param([], 200, False, id="no-class-default-within"),
    ],
)
def test_retention_per_data_class(
    log: Log, tmp_path: Path, categories: list[str], age_days: int, allowed: bool
) -> None:
    """A segment is archived only when every record in it is past its retention; otherwise the
    command is refused, naming the record and the date it may go, and nothing is written or removed."""
    log.clock.now = NOW - timedelta(days=age_days)
    log.writer.append(record(0, categories))
    log.writer.append(make_completion(0))
    log.clock.now = NOW
    log.append(2)
    log.checkpoint(2)
    checkpoints = load_checkpoints(log.checkpoints, log.verifier, ORIGIN)
    if allowed:
        plan = plan_archive(log.owner, checkpoints, HIPAA_PCI, before=NOW - timedelta(days=1), now=NOW)
        assert plan is not None and (plan.first_seq, plan.last_seq) == (1, 2)
        return
    with pytest.raises(RetentionError) as info:
        plan_archive(log.owner, checkpoints, HIPAA_PCI, before=NOW - timedelta(days=1), now=NOW)
    first = json.loads(next(iter(log.writer.iter_rows())).canon)
    category, days = HIPAA_PCI.rule(first)
    assert info.value.message == (
        f"refused: record seq 1 ({category}, retained {days} days) must be kept until "
        f"{HIPAA_PCI.keep_until(first).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z; choose an earlier --before"
    )
    assert [r.seq for r in log.writer.iter_rows()] == [1, 2, 3, 4]
    assert log.writer.anchor() is None


def test_only_whole_checkpointed_segments_below_the_head_are_archived(log: Log, tmp_path: Path) -> None:
    log.append(6)
    # No checkpoint yet: nothing to archive even though every record is old enough.
    assert plan_archive(log.owner, [], HIPAA_PCI, before=NOW, now=NOW) is None
    log.checkpoint(6)  # at the head: one live row must remain, so still nothing
    assert (
        plan_archive(
            log.owner, load_checkpoints(log.checkpoints, log.verifier, ORIGIN), HIPAA_PCI, before=NOW, now=NOW
        )
        is None
    )
    log.append(1)
    plan = plan_archive(
        log.owner, load_checkpoints(log.checkpoints, log.verifier, ORIGIN), HIPAA_PCI, before=NOW, now=NOW
    )
    assert plan is not None and (plan.first_seq, plan.last_seq) == (1, 6)


def test_a_checkpoint_that_does_not_match_the_log_is_refused(log: Log, tmp_path: Path) -> None:
    log.append(5)
    note = sign_head(log.signer, "test/audit", 3, "ab" * 32, NOW, b"\x00" * 32)
    write_note(log.checkpoints, note, 3)
    with pytest.raises(ArchiveError) as info:
        plan_archive(
            log.owner, load_checkpoints(log.checkpoints, log.verifier, ORIGIN), HIPAA_PCI, before=NOW, now=NOW
        )
    assert info.value.message == "checkpoint at size 3 does not match the log's head there (rewritten?)"


def test_checkpoints_of_another_log_in_the_folder_are_not_used(log: Log, tmp_path: Path) -> None:
    """Another log (a replica, another schema) signs into the same folder with the same key: at the
    size of this log's checkpoint (file sorted after ours) and at a size where its head is not ours.
    Neither may end a segment of this log; a note that claims this log's origin must still verify."""
    log.append(8)
    log.checkpoint(4)
    rows = list(log.writer.iter_rows())
    replica = sign_head(
        log.signer,
        "test/replica",
        4,
        rows[3].entry_hash.hex(),
        NOW,
        root([leaf_hash(r.canon) for r in rows[:4]]),
    )
    (log.checkpoints / "checkpoint-replica-000000000004.txt").write_text(replica, encoding="utf-8")
    foreign = sign_head(log.signer, "test/replica", 6, "ee" * 32, NOW, b"\x00" * 32)
    (log.checkpoints / "checkpoint-replica-000000000006.txt").write_text(foreign, encoding="utf-8")
    stranger = sign_head(Signer.generate("other-key"), "test/elsewhere", 2, "ee" * 32, NOW, b"\x00" * 32)
    (log.checkpoints / "checkpoint-elsewhere-000000000002.txt").write_text(stranger, encoding="utf-8")

    ours = load_checkpoints(log.checkpoints, log.verifier, ORIGIN)
    assert [(c.checkpoint.origin, c.checkpoint.size, c.note) for c in ours] == [
        (ORIGIN, 4, (log.checkpoints / "checkpoint-000000000004.txt").read_text(encoding="utf-8"))
    ]
    theirs = load_checkpoints(log.checkpoints, log.verifier, "test/replica")
    assert [c.checkpoint.size for c in theirs] == [4, 6]
    assert _archive(log, tmp_path / "archive", before=NOW) == (1, 4, 4)
    manifest = json.loads((tmp_path / "archive" / f"{SEGMENT}.manifest.json").read_text(encoding="utf-8"))
    assert manifest["origin"] == ORIGIN and manifest["checkpoint"] == ours[0].note
    anchor = log.owner.anchor()
    assert anchor is not None and anchor.checkpoint == ours[0].note
    # A note naming this log but signed by another key is refused, not skipped.
    forged = sign_head(Signer.generate("acme-audit"), ORIGIN, 6, "ee" * 32, NOW, b"\x00" * 32)
    (log.checkpoints / "checkpoint-forged-000000000006.txt").write_text(forged, encoding="utf-8")
    with pytest.raises(CheckpointError):
        load_checkpoints(log.checkpoints, log.verifier, ORIGIN)


def test_a_second_archive_continues_from_the_anchor(log: Log, tmp_path: Path) -> None:
    log.append(10)
    log.checkpoint(4)
    archive = tmp_path / "archive"
    assert _archive(log, archive, before=NOW) == (1, 4, 4)
    log.checkpoint(8)
    assert _archive(log, archive, before=NOW) == (5, 8, 4)
    anchor = log.writer.anchor()
    assert anchor is not None and anchor.seq == 8
    report = verify_with_archive(archive, anchor, log.writer.iter_rows, log.verifier)
    assert (report.ok, report.records) == (True, 10)


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        pytest.param(
            "flip",
            f"{SEGMENT}.jsonl: SHA-256 differs from its manifest (file changed)",
            id="byte-flip",
        ),
        pytest.param(
            "drop-line",
            f"{SEGMENT}.jsonl: does not end at the manifest's head (seq 4)",
            id="deleted-record",
        ),
        pytest.param(
            "forge-note",
            f"{SEGMENT}.manifest.json: checkpoint signature by acme-audit does not verify",
            id="forged-checkpoint",
        ),
    ],
)
def test_a_tampered_archive_is_detected(log: Log, tmp_path: Path, tamper: str, message: str) -> None:
    log.append(6)
    log.checkpoint(4)
    archive = tmp_path / "archive"
    _archive(log, archive, before=NOW)
    jsonl = archive / "archive-000000000001-000000000004.jsonl"
    manifest_path = archive / "archive-000000000001-000000000004.manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if tamper == "flip":
        jsonl.write_bytes(jsonl.read_bytes().replace(b"acme-health", b"acme-healtx", 1))
    elif tamper == "drop-line":
        # A careful attacker drops the last record and fixes the file hash in the manifest.
        lines = jsonl.read_bytes().splitlines(keepends=True)[:-1]
        jsonl.write_bytes(b"".join(lines))
        manifest["jsonl_sha256"] = hashlib.sha256(b"".join(lines)).hexdigest()
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    else:
        # The signed note claims another log: its signature no longer verifies.
        manifest["checkpoint"] = manifest["checkpoint"].replace("test/audit", "test/audiT", 1)
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ArchiveError) as info:
        verify_with_archive(archive, log.writer.anchor(), log.writer.iter_rows, log.verifier)
    assert info.value.message == message


def test_rows_above_the_anchor_cannot_be_deleted_and_the_anchor_only_moves_forward(
    log: Log, tmp_path: Path
) -> None:
    log.append(8)
    log.checkpoint(4)
    _archive(log, tmp_path / "archive", before=NOW)
    rows = {r.seq: r for r in log.writer.iter_rows()}
    if log.kind == "sqlite":
        conn = sqlite3.connect(log.writer.path, isolation_level=None)
        with pytest.raises(sqlite3.IntegrityError, match="DELETE refused: the row is not archived"):
            conn.execute("DELETE FROM audit_log WHERE seq = 5")
        with pytest.raises(sqlite3.IntegrityError, match="audit_anchor only moves forward"):
            conn.execute("UPDATE audit_anchor SET seq = 2")
        with pytest.raises(sqlite3.IntegrityError, match="audit_anchor cannot be removed"):
            conn.execute("DELETE FROM audit_anchor")
        conn.close()
    else:
        # Even the owner: the anchor may not move back or off the chain.
        back = Anchor(2, rows[5].entry_hash, b"", "x", "x")
        with pytest.raises(AuditWriteError, match="SQLSTATE 23000"):
            log.owner.seal(back)
        with pytest.raises(AuditWriteError, match="SQLSTATE 23000"):
            log.owner.seal(Anchor(6, b"\x01" * 32, b"", "x", "x"))
    assert [r.seq for r in log.writer.iter_rows()] == sorted(rows)
    assert log.writer.verify().ok is True


def test_the_router_role_cannot_archive(pg_cluster: PgCluster, pg_schema: str) -> None:
    """The runtime role holds no DELETE and only SELECT on the anchor: seal() fails with 42501."""
    with PostgresAuditStore(pg_cluster.writer_dsn, schema=pg_schema) as store:
        for i in range(4):
            store.append(record(i, ["PHI"]))
        rows = list(store.iter_rows())
        with pytest.raises(AuditWriteError, match=r"seal failed \(InsufficientPrivilege, SQLSTATE 42501\)"):
            store.seal(Anchor(2, rows[1].entry_hash, b"", "note", "archive"))
        assert [r.seq for r in store.iter_rows()] == [1, 2, 3, 4]
        assert store.anchor() is None
    with (
        psycopg.connect(pg_cluster.writer_dsn, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(sql.SQL("DELETE FROM {}.audit_log WHERE seq = 1").format(sql.Identifier(pg_schema)))


def test_retention_status_warns_about_records_kept_too_long(log: Log) -> None:
    log.clock.now = NOW - timedelta(days=400)
    log.writer.append(record(0, ["PCI"]))  # past 12 months
    log.writer.append(record(1, ["PHI"]))  # within 6 years
    log.clock.now = NOW
    log.writer.append(record(2, ["PCI"]))
    status = retention_status(log.writer.iter_rows(), HIPAA_PCI, NOW)
    assert status == {
        "oldest_live_ts": (NOW - timedelta(days=400) + timedelta(seconds=1)).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z"
        ),
        "past_retention": 1,
        "default_days": 366,
        "by_category": {"PCI": 366, "PHI": 2192},
        "warning": "1 audit record(s) are past their retention (first at seq 1); seal them with "
        "`privacy-router audit archive --before DATE --to DIR`",
    }
    assert retention_status(log.writer.iter_rows(2), HIPAA_PCI, NOW)["warning"] is None


def test_writer_status_names_each_writer_of_the_one_chain(log: Log, tmp_path: Path) -> None:
    """What the integrity page shows per writer: records, first/last seq, last append time."""
    log.append(2)
    if log.kind == "sqlite":
        other: Any = SqliteAuditStore(log.writer.path, clock=log.clock, writer="router-b")
    else:
        other = PostgresAuditStore(
            log.writer._dsn, schema=log.writer.schema, clock=log.clock, writer="router-b"
        )
    with other:
        other.append(record(9, ["PHI"]))
    log.append(1)
    status = [(w.writer, w.records, w.first_seq, w.last_seq) for w in log.writer.writer_status()]
    assert status == [("router-b", 1, 3, 3), ("router-a", 3, 1, 4)]
    last_ts = {w.writer: w.last_ts for w in log.writer.writer_status()}
    assert last_ts["router-a"] == json.loads(list(log.writer.iter_rows())[-1].canon)["ts"]


# -- the CLI (mostly SQLite; the commands are store-agnostic) -----------------------------------

runner = CliRunner()


@pytest.fixture
def cli_log(tmp_path: Path) -> tuple[Log, Path]:
    """A 2019 log of 12 records with a signed checkpoint at 10, and the public key file."""
    clock = Clock(OLD)
    signer = Signer.generate("acme-audit")
    log = Log(
        "sqlite",
        clock,
        SqliteAuditStore(tmp_path / "audit.db", clock=clock),
        None,
        signer,
        tmp_path / "checkpoints",
    )
    log.owner = log.writer
    log.append(12)
    log.checkpoint(10)
    log.writer.close()
    public = tmp_path / "audit.pub"
    public.write_text(signer.verifier().text() + "\n", encoding="utf-8")
    return log, public


def _cli(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_cli_archive_then_verify_live_and_with_the_archive(cli_log: tuple[Log, Path], tmp_path: Path) -> None:
    log, public = cli_log
    db, archive = tmp_path / "audit.db", tmp_path / "archive"
    common = ("--audit-db", db, "--public-key", public)
    # The checkpoints in the folder are of "test/audit": another origin finds none and changes nothing.
    assert _cli(
        "archive", "--before", "2020-01-01", "--to", archive, "--checkpoints", log.checkpoints,
        "--origin", "another/log", *common,
    ) == (0, f"nothing to archive: no signed checkpoint of another/log in {log.checkpoints}\n")  # fmt: skip
    assert not archive.exists()
    code, out = _cli(
        "archive", "--before", "2020-01-01", "--to", archive, "--checkpoints", log.checkpoints,
        "--origin", ORIGIN, *common,
    )  # fmt: skip
    assert (code, out) == (
        0,
        f"archived seq 1..10 (10 records, 10 removed from the live store) to "
        f"{archive / 'archive-000000000001-000000000010.manifest.json'}; the live log now starts at seq 11\n",
    )
    with SqliteAuditStore(db) as store:
        head = store.verify().head_hash
        full = verify_with_archive(archive, store.anchor(), store.iter_rows)
    assert (full.ok, full.records) == (True, 12)
    assert _cli("verify", *common) == (
        0,
        f"OK: 12 records, head {head}\nrecords 1..10 are archived: the live log was verified from its "
        "anchor (add --archive DIR to verify them too)\n",
    )
    assert _cli("verify", *common, "--archive", archive) == (0, f"OK: 12 records, head {head}\n")
    # A proof for an archived record needs the archive; with it, it verifies offline.
    note = log.checkpoints / "checkpoint-000000000010.txt"
    prove = ("prove", "--checkpoint", note, "--seq", "3", "--out", tmp_path / "p.json", *common)
    assert _cli(*prove) == (
        1,
        "error: record seq 3 is archived (records 1..10 are in "
        "archive-000000000001-000000000010.manifest.json); give --archive DIR\n",
    )
    assert _cli(*prove, "--archive", archive)[0] == 0
    assert _cli("verify-proof", tmp_path / "p.json", "--public-key", public) == (
        0,
        "OK: record seq 3 is included in test/audit at size 10\n",
    )
    # The archive lost a record: verify --archive fails (exit 1) and says why.
    jsonl = archive / "archive-000000000001-000000000010.jsonl"
    jsonl.write_bytes(b"".join(jsonl.read_bytes().splitlines(keepends=True)[1:]))
    assert _cli("verify", *common, "--archive", archive) == (
        1,
        "FAILED: archive-000000000001-000000000010.jsonl: SHA-256 differs from its manifest (file changed)\n",
    )


def test_prove_a_live_record_from_the_anchor_without_the_archive(log: Log, tmp_path: Path) -> None:
    """After an archive `audit prove --seq` needs no archive for a live record: the bundle is built
    from the store's anchor and is the very bundle made over the whole log (with --archive)."""
    log.append(8)
    log.checkpoint(4)
    archive = tmp_path / "archive"
    assert _archive(log, archive, before=NOW) == (1, 4, 4)
    log.append(5)  # seqs 9..13
    note = log.checkpoint(13)
    public = tmp_path / "audit.pub"
    public.write_text(log.verifier.text() + "\n", encoding="utf-8")
    common = ("--checkpoint", note, "--public-key", public, *log.cli)
    for seq in (5, 6, 8, 13):  # the first live record, inside, the last before the new rows, the head
        code, bundle = _cli("prove", "--seq", str(seq), *common)
        assert code == 0, bundle
        assert _cli("prove", "--seq", str(seq), *common, "--archive", archive) == (0, bundle)
        assert verify_bundle(bundle, log.verifier) == f"record seq {seq} is included in {ORIGIN} at size 13"
        out = tmp_path / f"p{seq}.json"
        out.write_text(bundle, encoding="utf-8")
        assert _cli("verify-proof", out, "--public-key", public) == (
            0,
            f"OK: record seq {seq} is included in {ORIGIN} at size 13\n",
        )
    # An archived record still needs the archive.
    assert _cli("prove", "--seq", "3", *common) == (
        1,
        f"error: record seq 3 is archived (records 1..4 are in {SEGMENT}.manifest.json); "
        "give --archive DIR\n",
    )
    code, bundle = _cli("prove", "--seq", "3", *common, "--archive", archive)
    assert code == 0 and verify_bundle(bundle, log.verifier).startswith("record seq 3 is included")
    # A checkpoint of a live log that no longer matches it gives no proof.
    log.append(1)
    bent = sign_head(log.signer, ORIGIN, 14, "ee" * 32, NOW, b"\x00" * 32)
    fake = write_note(tmp_path / "bent", bent, 14)
    code, out = _cli("prove", "--seq", "9", "--checkpoint", fake, "--public-key", public, *log.cli)
    assert (code, out) == (1, "error: the log's merkle root differs from the checkpoint's (log rewritten?)\n")


def test_cli_archive_refuses_records_within_retention(tmp_path: Path) -> None:
    """Records from last month: --before tomorrow would take them before their retention ends."""
    clock = Clock(datetime.now(UTC) - timedelta(days=30))
    signer = Signer.generate("acme-audit")
    log = Log(
        "sqlite", clock, SqliteAuditStore(tmp_path / "audit.db", clock=clock), None, signer, tmp_path / "c"
    )
    log.append(4)
    log.checkpoint(2)
    log.writer.close()
    public = tmp_path / "audit.pub"
    public.write_text(signer.verifier().text() + "\n", encoding="utf-8")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    code, out = _cli(
        "archive",
        "--before",
        tomorrow,
        "--to",
        tmp_path / "archive",
        "--checkpoints",
        log.checkpoints,
        "--origin",
        ORIGIN,
        "--audit-db",
        tmp_path / "audit.db",
        "--public-key",
        public,
    )
    assert code == 2
    assert re.fullmatch(
        r"error: refused: record seq 1 \(PHI, retained 2192 days\) must be kept until "
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z; choose an earlier --before\n",
        out,
    ), out
    assert not (tmp_path / "archive").exists()
    with SqliteAuditStore(tmp_path / "audit.db") as store:
        assert (store.anchor(), store.verify().records) == (None, 4)


def test_cli_stats_warns_about_records_past_retention(cli_log: tuple[Log, Path], tmp_path: Path) -> None:
    result = runner.invoke(app, ["stats", "--audit-db", str(tmp_path / "audit.db")])
    assert result.exit_code == 0
    assert result.stderr.splitlines()[0] == (
        "warning: 12 audit record(s) are past their retention (first at seq 1); seal them with "
        "`privacy-router audit archive --before DATE --to DIR`"
    )
    stats = json.loads(result.stdout)
    assert (stats["retention"]["past_retention"], stats["retention"]["oldest_live_ts"]) == (
        12,
        "2019-03-01T09:00:01.000Z",
    )


def test_cli_writers_lists_each_writer(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    for name in ("router-a", "router-b", "router-a"):
        with SqliteAuditStore(db, writer=name) as store:
            store.append(record(0, ["PHI"]))
    code, out = _cli("writers", "--audit-db", db)
    assert code == 0
    assert [(w["writer"], w["records"], w["first_seq"], w["last_seq"]) for w in json.loads(out)] == [
        ("router-b", 1, 2, 2),
        ("router-a", 2, 1, 3),
    ]


def test_a_version_1_sqlite_file_is_upgraded_in_place(tmp_path: Path) -> None:
    """A file written by the previous release (schema 1: no writer column, every DELETE refused)
    opens, verifies, gains the archive rules, and continues its chain."""
    db = tmp_path / "v1.db"
    full = {**record(0, ["PHI"]), "seq": 1, "ts": "2026-01-01T00:00:00.000Z", "record_id": "r-1"}
    canon = canonical(full)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.executescript(V1_SCHEMA)
    conn.execute(
        "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            1,
            "r-1",
            full["ts"],
            "decision",
            "req-0000",
            "acme-health",
            "onprem",
            canon,
            GENESIS_HASH,
            entry_hash(GENESIS_HASH, canon),
        ),
    )
    conn.close()
    with SqliteAuditStore(db, writer="router-a") as store:
        store.append(record(1, ["PHI"]))
        report = store.verify()
        assert (report.ok, report.records) == (True, 2)
        assert [(w.writer, w.records) for w in store.writer_status()] == [("", 1), ("router-a", 1)]
    conn = sqlite3.connect(db, isolation_level=None)
    triggers = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    with pytest.raises(sqlite3.IntegrityError, match="DELETE refused: the row is not archived"):
        conn.execute("DELETE FROM audit_log WHERE seq = 1")
    conn.close()
    assert triggers == [
        "audit_anchor_insert",
        "audit_anchor_no_delete",
        "audit_anchor_update",
        "audit_log_delete_archived_only",
        "audit_log_insert_next",
        "audit_log_no_update",
    ]


# The previous release's audit/sqlite/schema.sql (comments removed), as files in the field have it.
V1_SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS audit_log (
    seq         INTEGER PRIMARY KEY,
    record_id   TEXT    NOT NULL UNIQUE,
    ts          TEXT    NOT NULL,
    record_type TEXT    NOT NULL,
    request_id  TEXT,
    tenant      TEXT,
    action      TEXT,
    canon       BLOB    NOT NULL,
    prev_hash   BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    entry_hash  BLOB    NOT NULL CHECK (length(entry_hash) = 32)
) STRICT;
CREATE INDEX IF NOT EXISTS audit_log_ts ON audit_log (ts);
CREATE INDEX IF NOT EXISTS audit_log_tenant_ts ON audit_log (tenant, ts);
CREATE INDEX IF NOT EXISTS audit_log_request_id ON audit_log (request_id);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only (UPDATE refused)');
END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only (DELETE refused)');
END;
CREATE TRIGGER IF NOT EXISTS audit_log_insert_next BEFORE INSERT ON audit_log
WHEN NEW.seq IS NULL
  OR NEW.seq <> (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log)
  OR EXISTS (SELECT 1 FROM audit_log WHERE record_id = NEW.record_id)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only (seq must be max(seq)+1, record_id new)');
END;
PRAGMA user_version = 1;
COMMIT;
"""
