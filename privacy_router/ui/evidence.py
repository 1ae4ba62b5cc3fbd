"""What the dashboard shows of the signed checkpoints (audit/checkpoints.py) and Merkle proofs.

The checkpoints are read from ``audit.checkpoint_dir`` (files ``checkpoint-<size>.txt``, one signed
note each); the newest of each origin (log) is the one shown. Signatures are checked with the
public half of the configured signing key (``audit.signing_key_env``), the key the gateway signs
with: without it the page says so instead of claiming anything.

An inclusion proof is computed with ``proofs.prove_inclusion`` (RFC 6962 section 2.1.1 audit path)
and then checked with ``proofs.verify_bundle``, the same offline verifier an auditor runs
(``privacy-router audit verify-proof``), so "verified" on the page means that verifier accepted it.
The bundle's ``leaf`` (the record's canonical bytes) is never shown; the page shows hashes only.

After ``privacy-router audit archive`` (audit/archive.py) the live log starts after its *anchor*:
records ``1..anchor.seq`` are in the archive, and the anchor keeps the chain head and the Merkle
compact range at the cut. The checkpoint check then verifies from the anchor (``verify(...,
anchor=...)``, as ``audit verify`` does), and a proof is built from the anchor's compact range plus
the live records (``proofs.prove_record``, the one function ``audit prove`` uses too). A checkpoint
or record inside the archive is named as archived, never as broken.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from privacy_router.audit.base import Anchor, AuditStore
from privacy_router.audit.checkpoints import Checkpoint, CheckpointError, Verifier
from privacy_router.audit.factory import load_signer
from privacy_router.audit.merkle import leaf_hash
from privacy_router.audit.proofs import archive_name, prove_record, verify_bundle
from privacy_router.audit.verify import verify
from privacy_router.config import AuditSettings
from privacy_router.errors import AuditWriteError

_MAX_FILES = 10_000  # a folder holding more is read newest-first up to this many (bounded page cost)


@dataclass(frozen=True)
class CheckpointView:
    origin: str
    size: int
    head_hex: str
    time: str  # as signed: 2026-03-04T12:00:00.000Z
    age: str  # "2 h 5 min" at render time
    merkle_root_hex: str | None
    file: str
    signature: str  # "verified" | "no signing key configured" | the CheckpointError message
    note: str  # the signed note itself (for proofs; holds hashes only)


@dataclass(frozen=True)
class InclusionView:
    leaf_index: int
    tree_size: int
    leaf_hash_hex: str
    root_hex: str
    path: list[str]  # hex, bottom-up
    verified: bool
    summary: str  # the verifier's one-line summary, or why it failed


def verifier_for(settings: AuditSettings) -> Verifier | None:
    """The public half of the gateway's signing key; None when it is not configured."""
    try:
        return load_signer(settings).verifier()
    except AuditWriteError:
        return None


def age_text(then: datetime, now: datetime) -> str:
    """Whole minutes, as an officer reads them: ``45 s``, ``12 min``, ``2 h 5 min``, ``3 d 4 h``."""
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        return "in the future (clock skew)"
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def latest_checkpoints(directory: Path, verifier: Verifier | None, now: datetime) -> list[CheckpointView]:
    """The newest checkpoint file of each origin in ``directory``, origins in name order."""
    if not directory.is_dir():
        return []
    files = sorted(directory.glob("checkpoint-*.txt"), reverse=True)[:_MAX_FILES]
    newest: dict[str, CheckpointView] = {}
    for path in files:
        try:
            note = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        body, sep, _ = note.rpartition("\n\n")
        try:
            checkpoint = Checkpoint.parse(body + "\n") if sep else None
        except CheckpointError:
            checkpoint = None
        if checkpoint is None:
            continue
        seen = newest.get(checkpoint.origin)
        if seen is not None and seen.size >= checkpoint.size:
            continue
        if verifier is None:
            signature = "no signing key configured"
        else:
            try:
                verifier.open(note)
                signature = "verified"
            except CheckpointError as exc:
                signature = exc.message
        signed_at = datetime.strptime(checkpoint.time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        newest[checkpoint.origin] = CheckpointView(
            origin=checkpoint.origin,
            size=checkpoint.size,
            head_hex=checkpoint.head.hex(),
            time=checkpoint.time,
            age=age_text(signed_at, now),
            merkle_root_hex=checkpoint.merkle_root.hex() if checkpoint.merkle_root else None,
            file=path.name,
            signature=signature,
            note=note,
        )
    return [newest[o] for o in sorted(newest)]


def anchor_of(store: AuditStore) -> Anchor | None:
    """The store's archive anchor; ``None`` while nothing was archived (or the store cannot archive)."""
    anchor = getattr(store, "anchor", None)
    found = anchor() if callable(anchor) else None
    return found if isinstance(found, Anchor) else None


def chain_status(view: CheckpointView, store: AuditStore, origin: str) -> str:
    """Whether this log holds the checkpoint: its record ``size`` has the signed head hash. After an
    archive the live log is verified from its anchor; a checkpoint inside the archive is said so."""
    if view.origin != origin:
        return "another log: verify it where it is stored"
    if view.signature != "verified":
        return "not checked: the signature is not verified"
    anchor = anchor_of(store)
    archived = anchor.seq if anchor is not None else 0
    if anchor is not None and 0 < view.size < archived:
        return (
            f"archived: records 1 to {archived} were sealed into {archive_name(anchor)}; check this "
            "checkpoint with `privacy-router audit verify --archive DIR --checkpoint FILE`"
        )
    rows = store.iter_rows(archived + 1)
    expect = (view.size, view.head_hex) if view.size else None
    report = verify(rows, expect_head=expect, anchor=anchor)
    if report.ok:
        where = " (the archive's anchor)" if anchor is not None and view.size == archived else ""
        return f"intact: {report.records} records, the checkpoint's head at seq {view.size} matches{where}"
    return f"broken at seq {report.first_bad_seq}: {report.problem}"


def inclusion(store: AuditStore, view: CheckpointView, verifier: Verifier, seq: int) -> InclusionView:
    """The record's audit path against ``view``; raises ``CheckpointError`` when none can be made."""
    bundle = prove_record(store.iter_rows, anchor_of(store), view.note, verifier, seq)
    try:
        summary, verified = verify_bundle(json.dumps(bundle), verifier), True
    except CheckpointError as exc:
        summary, verified = exc.message, False
    leaf = base64.b64decode(bundle["leaf"])
    return InclusionView(
        leaf_index=seq - 1,
        tree_size=view.size,
        leaf_hash_hex=leaf_hash(leaf).hex(),
        root_hex=view.merkle_root_hex or "",
        path=[base64.b64decode(p).hex() for p in bundle["proof"]],
        verified=verified,
        summary=summary,
    )


def archived_record(store: AuditStore, anchor: Anchor, record_id: str) -> bool:
    """Whether ``record_id``, not found in the live log, predates it: record ids are UUIDv7, whose
    first 48 bits are the time they were issued in ms, so an id issued before the first live record's
    belongs to the archived part (or to no record at all: only the archive can tell). An id of the
    same millisecond is not claimed."""
    try:
        wanted = uuid.UUID(record_id)
        first = next(iter(store.iter_rows(anchor.seq + 1)), None)
        first_id = uuid.UUID(first.record_id) if first is not None else None
    except ValueError:
        return False
    if wanted.version != 7:
        return False
    return first_id is None or wanted.int >> 80 < first_id.int >> 80
