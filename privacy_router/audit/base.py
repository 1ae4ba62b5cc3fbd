"""The audit store contract: one Protocol, one file per implementation (sqlite.py, postgresql.py).

A store owns the chain: it assigns ``seq`` (gap-free from 1), ``ts`` and ``record_id``, puts them
into the record, canonicalises it (canonical.py), links it to the previous ``entry_hash`` and makes
the row durable before ``append`` returns. Callers build records with records.py only.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from privacy_router.audit.merkle import CompactRange
from privacy_router.errors import AuditWriteError

if TYPE_CHECKING:  # verify.py imports this module
    from privacy_router.audit.verify import VerifyReport

# Keys the store writes into every record; a caller-supplied record must not contain them.
STORE_KEYS: tuple[str, ...] = ("seq", "ts", "record_id")
# "explain": records of POST /v1/route/explain (records.py), which decide but never forward.
RECORD_TYPES: tuple[str, ...] = ("decision", "completion", "admin", "audit_query", "explain")


@dataclass(frozen=True)
class Receipt:
    """Proof that a record is durable: its position and hash in the chain."""

    seq: int
    record_id: str
    entry_hash: str  # hex


@dataclass(frozen=True)
class StoredRow:
    """One row as stored. ``canon`` is the exact hashed bytes; the other text columns are copies
    of canonical values kept for indexing (verify.py checks they agree)."""

    seq: int
    record_id: str
    ts: str
    record_type: str
    request_id: str | None
    tenant: str | None
    action: str | None
    canon: bytes
    prev_hash: bytes
    entry_hash: bytes


@dataclass(frozen=True)
class Anchor:
    """Where the live log starts once records ``1..seq`` were sealed into an archive (archive.py).

    Kept in the store's one-row ``audit_anchor`` table, written by the owner in the same transaction
    that deletes the archived rows. ``merkle`` is the RFC 6962 compact range at size ``seq``
    (``CompactRange.hashes()`` concatenated), so checkpoints after the anchor keep the same tree;
    ``checkpoint`` is the signed checkpoint note at ``seq`` that sealed the archive."""

    seq: int
    entry_hash: bytes
    merkle: bytes
    checkpoint: str
    archive: str  # the archive's manifest file name and the SHA-256 of its JSONL

    def compact(self) -> CompactRange:
        hashes = [self.merkle[i : i + 32] for i in range(0, len(self.merkle), 32)]
        return CompactRange.restore(self.seq, hashes)


@dataclass(frozen=True)
class WriterStatus:
    """What one writer (router replica) appended to the one chain: for the integrity page."""

    writer: str
    records: int
    first_seq: int
    last_seq: int
    last_ts: str


class AuditStore(Protocol):
    def append(self, record: dict[str, Any]) -> Receipt:
        """Add ``record`` to the chain. Thread-safe; durable when it returns.

        Raises ``errors.AuditWriteError`` (the request must then fail closed)."""
        ...

    def check_writable(self) -> None:
        """Raise ``errors.AuditWriteError`` if an append would fail now (for /readyz)."""
        ...

    def iter_rows(self, start_seq: int = 1) -> Iterator[StoredRow]:
        """Rows in seq order from ``start_seq``."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class SealableStore(AuditStore, Protocol):
    """What archive.py needs besides the contract: both stores implement it."""

    def verify(self) -> VerifyReport:
        """The live chain, from the anchor when records were archived."""
        ...

    def anchor(self) -> Anchor | None:
        """The anchor of the live log, ``None`` while nothing was archived."""
        ...

    def seal(self, anchor: Anchor) -> int:
        """Move the anchor to ``anchor`` and delete rows ``seq <= anchor.seq`` in one transaction;
        returns the rows deleted. Only the owner may (PostgreSQL: the router's role cannot)."""
        ...

    def writer_status(self) -> list[WriterStatus]:
        """Per writer id, what it appended to the live log (seq order of its last append)."""
        ...


@runtime_checkable
class QueryableStore(AuditStore, Protocol):
    """A store that can filter on its indexed columns itself (query.py falls back to a scan)."""

    def select_rows(
        self,
        *,
        since_ts: str | None,
        until_ts: str | None,
        tenant: str | None,
        action: str | None,
        record_type: str | None,
    ) -> Iterator[StoredRow]: ...


def format_ts(dt: datetime) -> str:
    """UTC RFC 3339 with milliseconds and a ``Z``: ``2026-01-31T09:15:02.123Z``.

    Fixed width, so string order is time order (query.py relies on that). Naive datetimes are
    taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def index_columns(record: dict[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    """(record_type, request_id, tenant, action) as copied into indexed columns.

    The single definition used by stores when writing and by verify.py when checking."""
    principal = record.get("principal")
    tenant = principal.get("tenant") if isinstance(principal, dict) else None
    values = (record.get("record_type"), record.get("request_id"), tenant, record.get("action"))
    if not isinstance(values[0], str) or not all(v is None or isinstance(v, str) for v in values[1:]):
        raise ValueError("record_type, request_id, principal.tenant and action must be strings")
    return values[0], values[1], values[2], values[3]


def new_record_id() -> str:
    """A UUIDv7 (RFC 9562 section 5.7): 48-bit Unix ms timestamp, version 7, 74 random bits.

    Time-ordered, so record ids sort roughly like seq across processes. Python 3.11 has no
    ``uuid.uuid7``."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = rand >> 68  # 12 bits
    rand_b = rand & ((1 << 62) - 1)  # 62 bits
    value = ((ms & ((1 << 48) - 1)) << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def checked_record(record: dict[str, Any]) -> dict[str, Any]:
    """Shallow copy of a builder-made record, with the store-owned keys absent."""
    if not isinstance(record, dict):
        raise AuditWriteError("audit record rejected: not a mapping")
    reserved = [k for k in STORE_KEYS if k in record]
    if reserved:
        raise AuditWriteError(f"audit record rejected: keys {reserved} are assigned by the store")
    if record.get("record_type") not in RECORD_TYPES:
        raise AuditWriteError(f"audit record rejected: record_type must be one of {list(RECORD_TYPES)}")
    try:
        index_columns(record)
    except ValueError as exc:
        raise AuditWriteError(f"audit record rejected: {exc}") from None
    return dict(record)
