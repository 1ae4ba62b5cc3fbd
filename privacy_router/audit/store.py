"""Glue both stores share (sqlite.py, postgresql.py): linking a new record to the chain's head,
turning a selected row into a ``StoredRow``, verifying the live chain from its anchor, refusing a
store that does not verify, and the writer id and per-writer summary.

The column order of ``COLUMNS`` is the one ``stored_row`` reads; both stores select exactly it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any, Protocol

from privacy_router.audit.base import Anchor, Receipt, StoredRow, WriterStatus, index_columns
from privacy_router.audit.canonical import GENESIS_HASH, canonical, entry_hash
from privacy_router.audit.verify import VerifyReport, verify
from privacy_router.errors import AuditWriteError

COLUMNS = "seq, record_id, ts, record_type, request_id, tenant, action, canon, prev_hash, entry_hash"
# Read per batch by both stores' iterators: bounded memory, appends interleave between batches.
BATCH = 500
# The anchor row, in this column order, in both stores.
ANCHOR_COLUMNS = "seq, entry_hash, merkle, checkpoint, archive"
# Environment variable naming this process in the ``writer`` column (default: the host name).
WRITER_ENV = "PRIVACY_ROUTER_AUDIT_WRITER_ID"


def linked_row(
    body: dict[str, Any], record_id: str, head: tuple[int, bytes] | None, ts: str, writer: str
) -> tuple[list[Any], Receipt]:
    """The new row for ``body`` (a ``checked_record``) linked to ``head``, the chain's last
    ``(seq, entry_hash)`` (``None``: empty chain), as the values of ``COLUMNS`` then ``writer``, and
    its receipt. The store calls this while it holds the chain's write lock."""
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    full = {**body, "seq": seq, "ts": ts, "record_id": record_id}
    try:
        canon = canonical(full)
    except ValueError as exc:
        raise AuditWriteError(f"audit record rejected: {exc}") from None
    digest = entry_hash(prev, canon)
    record_type, request_id, tenant, action = index_columns(full)
    values = [seq, record_id, ts, record_type, request_id, tenant, action, canon, prev, digest, writer]
    return values, Receipt(seq=seq, record_id=record_id, entry_hash=digest.hex())


def stored_row(r: Sequence[Any]) -> StoredRow:
    """A row selected as ``COLUMNS`` (bytes columns may arrive as memoryview or bytes)."""
    return StoredRow(
        seq=int(r[0]),
        record_id=r[1],
        ts=r[2],
        record_type=r[3],
        request_id=r[4],
        tenant=r[5],
        action=r[6],
        canon=bytes(r[7]),
        prev_hash=bytes(r[8]),
        entry_hash=bytes(r[9]),
    )


def anchor_row(r: Sequence[Any] | None) -> Anchor | None:
    """An anchor selected as ``ANCHOR_COLUMNS``, or ``None`` for no row."""
    if r is None:
        return None
    return Anchor(seq=int(r[0]), entry_hash=bytes(r[1]), merkle=bytes(r[2]), checkpoint=r[3], archive=r[4])


# Per writer, what it appended to the live log (both stores, table name filled in).
WRITER_STATUS_SQL = (
    "SELECT COALESCE(writer, ''), count(*), min(seq), max(seq), max(ts) FROM {} "
    "GROUP BY COALESCE(writer, '') ORDER BY max(seq)"
)


def writer_status_row(r: Sequence[Any]) -> WriterStatus:
    """A row selected by ``WRITER_STATUS_SQL``."""
    return WriterStatus(r[0], int(r[1]), int(r[2]), int(r[3]), r[4])


def writer_id() -> str:
    """This process's writer id: ``$PRIVACY_ROUTER_AUDIT_WRITER_ID`` or the host name (a pod name
    under Kubernetes), cut to 128 characters. Informational: the column is not part of the chain."""
    return (os.environ.get(WRITER_ENV) or socket.gethostname() or "unknown")[:128]


class _Chained(Protocol):
    def anchor(self) -> Anchor | None: ...

    def iter_rows(self, start_seq: int = 1) -> Any: ...


def verify_live(store: _Chained) -> VerifyReport:
    """The live chain from its anchor (from seq 1 while nothing is archived)."""
    anchor = store.anchor()
    return verify(store.iter_rows(anchor.seq + 1 if anchor else 1), anchor=anchor)


def require_ok(report: VerifyReport, name: str) -> None:
    """Raise ``AuditWriteError`` naming the first bad seq when ``report`` failed (start-up refusal)."""
    if not report.ok:
        where = f" at seq {report.first_bad_seq}" if report.first_bad_seq is not None else ""
        raise AuditWriteError(f"audit log {name} failed verification{where}: {report.problem}")
