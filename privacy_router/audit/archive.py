"""Retention without breaking verifiability: seal whole checkpointed segments into a signed archive.

``privacy-router audit archive --before DATE --to DIR`` (commands.py) takes the records ``A+1..N``
(``A`` = the current anchor, 0 at first; ``N`` = the size of a signed checkpoint) when every one of
them is older than ``--before`` and past its retention, and:

1. verifies the live chain, the checkpoint's signature, its head (the ``entry_hash`` at ``N``) and
   its Merkle root (the tree over records ``1..N``, continued from the anchor's compact range);
2. writes ``archive-<first>-<last>.jsonl`` (one record per line, its exact canonical text and both
   hashes) and ``archive-<first>-<last>.manifest.json`` (first/last seq, the prev_hash it links to,
   head, Merkle root and compact state, SHA-256 of the JSONL, and the signed checkpoint note, whose
   Ed25519 signature is what makes the archive "signed": the note commits to the head and the root);
   both atomically (temp file, fsync, rename, fsync of the folder), then reads them back and
   verifies them;
3. moves the store's anchor to ``N`` and deletes rows ``<= N`` in one transaction (``seal``). The
   stores' triggers refuse any other DELETE; in PostgreSQL only the owner role may delete at all.

Records are never deleted before their retention ends: a ``--before`` that would take one is
refused (``RetentionError`` names its seq, data class and the date it may go). A record's retention
is the longest of ``audit.retention.default_days`` and the periods of its ``categories``
(``audit.retention.by_category``).

``verify --archive DIR`` chains the archived rows before the live ones and verifies the whole log
from seq 1 (``archive_rows`` checks each file's SHA-256, head and Merkle root against its manifest,
and with a public key the checkpoint signature too).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from privacy_router.audit.base import Anchor, SealableStore, StoredRow, format_ts
from privacy_router.audit.canonical import GENESIS_HASH
from privacy_router.audit.checkpoints import Checkpoint, CheckpointError, Verifier
from privacy_router.audit.merkle import CompactRange, leaf_hash
from privacy_router.audit.store import stored_row
from privacy_router.audit.verify import VerifyReport, verify
from privacy_router.config import RetentionSettings
from privacy_router.errors import AuditWriteError

FORMAT = 1
_ROW_KEYS = ("seq", "record_id", "ts", "record_type", "request_id", "tenant", "action")


class ArchiveError(AuditWriteError):
    """An archive that cannot be written, read or verified, or a segment that cannot be sealed."""


class RetentionError(ArchiveError):
    """Archiving would remove a record before its retention period ends."""


# -- retention ------------------------------------------------------------------------------------


def parse_ts(ts: str) -> datetime:
    """A stored ``ts`` (``2026-01-31T09:15:02.123Z``) as an aware UTC datetime."""
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Retention:
    default_days: int
    by_category: dict[str, int]

    @classmethod
    def from_settings(cls, settings: RetentionSettings) -> Retention:
        return cls(settings.default_days, dict(settings.by_category))

    def rule(self, record: dict[str, Any]) -> tuple[str, int]:
        """(data class or ``default``, days) that governs ``record``: the longest that applies."""
        best = ("default", self.default_days)
        for category in record.get("categories") or []:
            days = self.by_category.get(str(category))
            if days is not None and days > best[1]:
                best = (str(category), days)
        return best

    def keep_until(self, record: dict[str, Any]) -> datetime:
        return parse_ts(str(record["ts"])) + timedelta(days=self.rule(record)[1])


def retention_status(rows: Iterable[StoredRow], retention: Retention, now: datetime) -> dict[str, Any]:
    """What ``audit stats`` shows about retention over the live ``rows``: how many records are past
    their retention (kept longer than configured) and a warning naming what to run."""
    overdue = 0
    oldest: str | None = None
    first_overdue: int | None = None
    for row in rows:
        oldest = oldest or row.ts
        record = json.loads(row.canon)
        if retention.keep_until(record) <= now:
            overdue += 1
            first_overdue = first_overdue or row.seq
    warning = None
    if overdue:
        warning = (
            f"{overdue} audit record(s) are past their retention (first at seq {first_overdue}); "
            "seal them with `privacy-router audit archive --before DATE --to DIR`"
        )
    return {
        "oldest_live_ts": oldest,
        "past_retention": overdue,
        "default_days": retention.default_days,
        "by_category": dict(sorted(retention.by_category.items())),
        "warning": warning,
    }


# -- planning -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedCheckpoint:
    note: str
    checkpoint: Checkpoint


def load_checkpoints(directory: Path, verifier: Verifier, origin: str) -> list[SignedCheckpoint]:
    """The ``checkpoint-*.txt`` of ``directory`` that are of the log ``origin``, by size. The folder
    may hold checkpoints of other logs (another schema, a replica): a note whose first line (its
    origin) is another is skipped, so it can never end a segment of this log. Every note of this
    origin must verify: a forged or unsigned one raises ``CheckpointError``."""
    found: dict[int, SignedCheckpoint] = {}
    for path in sorted(directory.glob("checkpoint-*.txt")):
        note = path.read_text(encoding="utf-8")
        if note.split("\n", 1)[0] != origin:
            continue
        checkpoint = verifier.open(note)
        found[checkpoint.size] = SignedCheckpoint(note, checkpoint)
    return [found[size] for size in sorted(found)]


@dataclass(frozen=True)
class Plan:
    first_seq: int
    last_seq: int
    signed: SignedCheckpoint
    prev_hash: bytes  # what record first_seq links to (the anchor's head, or genesis)
    merkle: CompactRange  # the tree over records 1..last_seq
    reason: str  # why the run stops where it does (for the operator)


def plan_archive(
    store: SealableStore,
    checkpoints: list[SignedCheckpoint],
    retention: Retention,
    *,
    before: datetime,
    now: datetime,
) -> Plan | None:
    """The longest run of whole segments ``anchor+1..N`` (N a checkpoint size below the head) whose
    records are all older than ``before``; ``None`` when there is none. Raises ``RetentionError``
    when one of those records is still within its retention, ``ArchiveError`` when the live log or a
    checkpoint does not verify."""
    report = store.verify()
    if not report.ok:
        where = f" at seq {report.first_bad_seq}" if report.first_bad_seq is not None else ""
        raise ArchiveError(f"the live audit log fails verification{where}: {report.problem}")
    anchor = store.anchor()
    start = anchor.seq if anchor else 0
    head = report.records
    sizes = {c.checkpoint.size: c for c in checkpoints if start < c.checkpoint.size < head}
    if not sizes:
        return None
    merkle = anchor.compact() if anchor else CompactRange()
    chosen: tuple[SignedCheckpoint, CompactRange] | None = None
    reason = f"no signed checkpoint after seq {max(sizes)} below the head (seq {head})"
    for row in store.iter_rows(start + 1):
        if row.seq > max(sizes):
            break
        if parse_ts(row.ts) >= before:
            reason = f"seq {row.seq} is not older than --before"
            break
        record = json.loads(row.canon)
        if retention.keep_until(record) > now:
            category, days = retention.rule(record)
            raise RetentionError(
                f"refused: record seq {row.seq} ({category}, retained {days} days) must be kept until "
                f"{format_ts(retention.keep_until(record))}; choose an earlier --before"
            )
        merkle.append(leaf_hash(row.canon))
        signed = sizes.get(row.seq)
        if signed is not None:
            _check_checkpoint(signed.checkpoint, row, merkle)
            chosen = (signed, CompactRange.restore(merkle.size, merkle.hashes()))
    if chosen is None:
        return None
    prev = anchor.entry_hash if anchor else GENESIS_HASH
    return Plan(start + 1, chosen[0].checkpoint.size, chosen[0], prev, chosen[1], reason)


def _check_checkpoint(checkpoint: Checkpoint, row: StoredRow, merkle: CompactRange) -> None:
    if checkpoint.head != row.entry_hash:
        raise ArchiveError(f"checkpoint at size {row.seq} does not match the log's head there (rewritten?)")
    if checkpoint.merkle_root is None:
        raise ArchiveError(f"checkpoint at size {row.seq} carries no merkle root; write a new one first")
    if checkpoint.merkle_root != merkle.root():
        raise ArchiveError(f"checkpoint at size {row.seq}: the log's merkle root differs (rewritten?)")


# -- writing --------------------------------------------------------------------------------------


def _names(first: int, last: int) -> tuple[str, str]:
    stem = f"archive-{first:012d}-{last:012d}"
    return f"{stem}.jsonl", f"{stem}.manifest.json"


def _row_line(row: StoredRow) -> bytes:
    item: dict[str, Any] = {k: getattr(row, k) for k in _ROW_KEYS}
    # canon is RFC 8785 output, always valid UTF-8, so its text round-trips exactly through JSON.
    item.update(
        canon=row.canon.decode("utf-8"), prev_hash=row.prev_hash.hex(), entry_hash=row.entry_hash.hex()
    )
    return (json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def _atomic_write(directory: Path, name: str, chunks: Iterable[bytes]) -> str:
    """Write ``name`` atomically; returns the SHA-256 hex of what was written."""
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, directory / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return digest.hexdigest()


def write_archive(
    store: SealableStore, plan: Plan, directory: Path, retention: Retention, now: datetime
) -> Path:
    """Write the JSONL and its manifest for ``plan``; returns the manifest path. Refuses to
    overwrite an existing archive of the same range."""
    directory.mkdir(parents=True, exist_ok=True)
    jsonl_name, manifest_name = _names(plan.first_seq, plan.last_seq)
    if (directory / manifest_name).exists():
        raise ArchiveError(f"{directory / manifest_name} already exists")

    def lines() -> Iterator[bytes]:
        expected = plan.first_seq
        for row in store.iter_rows(plan.first_seq):
            if row.seq > plan.last_seq:
                break
            if row.seq != expected:
                raise ArchiveError(f"seq {expected} missing while archiving")
            expected += 1
            yield _row_line(row)
        if expected != plan.last_seq + 1:
            raise ArchiveError(f"the log ended at seq {expected - 1} while archiving")

    sha = _atomic_write(directory, jsonl_name, lines())
    manifest = {
        "format": FORMAT,
        "origin": plan.signed.checkpoint.origin,
        "first_seq": plan.first_seq,
        "last_seq": plan.last_seq,
        "records": plan.last_seq - plan.first_seq + 1,
        "prev_hash": plan.prev_hash.hex(),
        "head": plan.signed.checkpoint.head.hex(),
        "merkle_root": plan.merkle.root().hex(),
        "merkle_state": [h.hex() for h in plan.merkle.hashes()],
        "jsonl": jsonl_name,
        "jsonl_sha256": sha,
        "checkpoint": plan.signed.note,
        "retention": {"default_days": retention.default_days, "by_category": retention.by_category},
        "sealed_at": format_ts(now),
    }
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    _atomic_write(directory, manifest_name, [text.encode()])
    return directory / manifest_name


def seal(store: SealableStore, plan: Plan, manifest: Path) -> int:
    """Move the anchor to the archived head and delete the archived rows (one transaction)."""
    data = json.loads(manifest.read_text(encoding="utf-8"))
    anchor = Anchor(
        seq=plan.last_seq,
        entry_hash=plan.signed.checkpoint.head,
        merkle=b"".join(plan.merkle.hashes()),
        checkpoint=plan.signed.note,
        archive=f"{manifest.name} sha256:{data['jsonl_sha256']}",
    )
    return store.seal(anchor)


# -- reading and verifying ------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    path: Path
    first_seq: int
    last_seq: int
    prev_hash: bytes
    head: bytes
    merkle_root: bytes
    merkle_state: list[bytes]
    jsonl: Path
    jsonl_sha256: str
    checkpoint: str


def _manifest(path: Path) -> Manifest:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ArchiveError(f"{path.name}: unknown archive format {data.get('format')!r}")
        jsonl = path.parent / str(data["jsonl"])
        if jsonl.parent != path.parent or "/" in str(data["jsonl"]):
            raise ArchiveError(f"{path.name}: jsonl must be a file next to the manifest")
        return Manifest(
            path=path,
            first_seq=int(data["first_seq"]),
            last_seq=int(data["last_seq"]),
            prev_hash=bytes.fromhex(data["prev_hash"]),
            head=bytes.fromhex(data["head"]),
            merkle_root=bytes.fromhex(data["merkle_root"]),
            merkle_state=[bytes.fromhex(h) for h in data["merkle_state"]],
            jsonl=jsonl,
            jsonl_sha256=str(data["jsonl_sha256"]),
            checkpoint=str(data["checkpoint"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArchiveError(f"{path.name}: unreadable manifest ({type(exc).__name__})") from None


def manifests(directory: Path) -> list[Manifest]:
    """The archive's manifests in seq order; they must cover ``1..N`` without gap or overlap."""
    found = sorted(
        (_manifest(p) for p in directory.glob("archive-*.manifest.json")), key=lambda m: m.first_seq
    )
    expected = 1
    for m in found:
        if m.first_seq != expected or m.last_seq < m.first_seq:
            raise ArchiveError(f"{m.path.name}: expected an archive starting at seq {expected}")
        expected = m.last_seq + 1
    return found


def archive_rows(directory: Path, verifier: Verifier | None = None) -> Iterator[StoredRow]:
    """Every archived row from seq 1, each file checked against its manifest as it is read (SHA-256,
    head, Merkle root, and with ``verifier`` the signed checkpoint). Raises ``ArchiveError``; the
    chain itself is checked by ``verify`` over these rows."""
    merkle = CompactRange()
    for m in manifests(directory):
        if verifier is not None:
            try:
                checkpoint = verifier.open(m.checkpoint)
            except CheckpointError as exc:
                raise ArchiveError(f"{m.path.name}: {exc.message}") from None
            if (checkpoint.size, checkpoint.head, checkpoint.merkle_root) != (
                m.last_seq,
                m.head,
                m.merkle_root,
            ):
                raise ArchiveError(f"{m.path.name}: the signed checkpoint does not match the manifest")
        # The whole file's hash first, so a changed file is reported as such before any row of it
        # reaches the chain check.
        digest = hashlib.sha256()
        try:
            with m.jsonl.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 16), b""):
                    digest.update(block)
        except OSError:
            raise ArchiveError(f"{m.jsonl.name} is missing or unreadable") from None
        if digest.hexdigest() != m.jsonl_sha256:
            raise ArchiveError(f"{m.jsonl.name}: SHA-256 differs from its manifest (file changed)")
        last: StoredRow | None = None
        with m.jsonl.open("rb") as fh:
            for raw in fh:
                last = _parse_line(raw, m)
                merkle.append(leaf_hash(last.canon))
                yield last
        if last is None or last.seq != m.last_seq or last.entry_hash != m.head:
            raise ArchiveError(f"{m.jsonl.name}: does not end at the manifest's head (seq {m.last_seq})")
        if merkle.root() != m.merkle_root or merkle.hashes() != m.merkle_state:
            raise ArchiveError(f"{m.jsonl.name}: merkle root differs from its manifest")


def _parse_line(raw: bytes, m: Manifest) -> StoredRow:
    try:
        item = json.loads(raw)
        return stored_row(
            [
                *(item[k] for k in _ROW_KEYS),
                item["canon"].encode("utf-8"),
                bytes.fromhex(item["prev_hash"]),
                bytes.fromhex(item["entry_hash"]),
            ]
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ArchiveError(f"{m.jsonl.name}: malformed line") from None


def verify_with_archive(
    directory: Path,
    anchor: Anchor | None,
    live_rows: Callable[[int], Iterator[StoredRow]],
    verifier: Verifier | None = None,
    *,
    expect_head: tuple[int, str] | None = None,
) -> VerifyReport:
    """The whole log, archived rows then live rows, verified from seq 1. The live store's anchor
    must be the last archive's head."""
    found = manifests(directory)
    archived = found[-1].last_seq if found else 0
    if (anchor.seq if anchor else 0) != archived or (
        found and anchor and anchor.entry_hash != found[-1].head
    ):
        return VerifyReport(
            False,
            0,
            None,
            f"the live store's anchor (seq {anchor.seq if anchor else 0}) is not the archive's head "
            f"(seq {archived})",
            GENESIS_HASH.hex(),
        )

    def rows() -> Iterator[StoredRow]:
        yield from archive_rows(directory, verifier)
        yield from live_rows(archived + 1)

    return verify(rows(), expect_head=expect_head)


def now_utc() -> datetime:
    return datetime.now(UTC)
