"""Signed checkpoints: the evidence that survives the box (threats.md 1.1, 1.4).

A checkpoint commits to the first ``size`` records of a log by their chain head. It is a signed note
in the C2SP format (https://github.com/C2SP/C2SP/blob/main/signed-note.md and tlog-checkpoint.md)::

    privacy-router/audit/postgresql/db.example/audit/privacy_router_audit   <- origin: which log
    1200                                                                    <- size: records covered
    q1Zk...base64 of the 32-byte entry_hash at seq 1200...=                 <- head
    time 2026-01-31T09:15:02.123Z                                           <- extension line
                                                                            <- blank line
    — audit-2026 <base64(key id (4 bytes) || Ed25519 signature)>

Deviation from tlog-checkpoint, noted: line 3 is the hash-chain head (``entry_hash`` of record
``size``), not a Merkle tree root, because the log is a hash chain (canonical.py). Keys use the
signed-note text formats of Go's ``golang.org/x/mod/sumdb/note`` (signature type 0x01 = Ed25519,
key id = SHA-256(name || "\\n" || 0x01 || public key)[:4]), so other tools can read them.

``CheckpointingStore`` wraps a store and writes a checkpoint whenever an appended record's seq is a
multiple of ``checkpoint_every`` (so among several replicas exactly one writes it) and, from a
background thread, every ``checkpoint_interval_s`` seconds when this process appended since the
last one. A checkpoint that cannot be written is logged; the request is not failed, because its
record is already durable.

Verification (``verify_against_checkpoint``) fails when the signature does not verify, when the log
is shorter than the checkpoint (tail truncated), when the record at ``size`` has another hash (history
rewritten), and when the checkpoint is older than, or forks from, the newest one this verifier has
already accepted, which is kept in a state file (rollback; as ``rekor-cli loginfo`` keeps its last
verified state, threats.md 1.1).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from privacy_router.audit.base import Anchor, AuditStore, Receipt, StoredRow, WriterStatus, format_ts
from privacy_router.audit.canonical import HASH_LEN
from privacy_router.audit.merkle import CompactRange, leaf_hash
from privacy_router.audit.verify import VerifyReport, verify
from privacy_router.errors import AuditWriteError

log = structlog.get_logger(__name__)

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash + space starts every signature line (signed-note)
_NAME = re.compile(r"^[!-*,-~]+$")  # printable ASCII, no space and no '+' (signed-note key names)
_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class CheckpointError(AuditWriteError):
    """A checkpoint that is malformed, unsigned, badly signed, or does not match the log."""


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise CheckpointError(f"{what} is not valid base64") from None


@dataclass(frozen=True)
class Signer:
    name: str
    key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Signer:
        if not _NAME.match(name):
            raise CheckpointError("key name must be printable ASCII without spaces or '+'")
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_text(cls, text: str) -> Signer:
        """``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || 32-byte seed)>``."""
        # maxsplit: the base64 part may itself contain '+' (Go's note.NewSigner uses SplitN too).
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or not _NAME.match(parts[2]):
            raise CheckpointError("signing key is not in the form PRIVATE+KEY+<name>+<id>+<base64>")
        raw = _b64(parts[4], "signing key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise CheckpointError("signing key is not an Ed25519 key")
        signer = cls(parts[2], Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.key_id.hex() != parts[3]:
            raise CheckpointError("signing key id does not match its key")
        return signer

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, _raw_public(self.key.public_key()))

    def private_text(self) -> str:
        seed = self.key.private_bytes_raw()
        return (
            f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+"
            + base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        )

    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key.public_key())

    def sign(self, checkpoint: Checkpoint) -> str:
        return self.sign_note(checkpoint.body())

    def sign_note(self, body: str) -> str:
        """``body`` (ending in a newline) plus a blank line and this key's signature line."""
        if not body.endswith("\n") or "\n\n" in body:
            raise CheckpointError("note text must end with a newline and contain no blank line")
        sig = self.key.sign(body.encode())
        return (
            body + "\n" + SIG_PREFIX + self.name + " " + base64.b64encode(self.key_id + sig).decode() + "\n"
        )


@dataclass(frozen=True)
class Verifier:
    name: str
    key: Ed25519PublicKey

    @classmethod
    def from_text(cls, text: str) -> Verifier:
        """``<name>+<key id hex>+<base64(0x01 || 32-byte public key)>``."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or not _NAME.match(parts[0]):
            raise CheckpointError("public key is not in the form <name>+<id>+<base64>")
        raw = _b64(parts[2], "public key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise CheckpointError("public key is not an Ed25519 key")
        verifier = cls(parts[0], Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_id.hex() != parts[1]:
            raise CheckpointError("public key id does not match its key")
        return verifier

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, _raw_public(self.key))

    def text(self) -> str:
        return (
            f"{self.name}+{self.key_id.hex()}+"
            + base64.b64encode(bytes([ALG_ED25519]) + _raw_public(self.key)).decode()
        )

    def open(self, note: str) -> Checkpoint:
        """Parse a signed checkpoint and check its signature by this key; raise ``CheckpointError``."""
        return Checkpoint.parse(self.verify_note(note))

    def verify_note(self, note: str) -> str:
        """The text of a signed note whose signature by this key verifies; else ``CheckpointError``."""
        body, sep, sigs = note.rpartition("\n\n")
        if not sep or not note.endswith("\n"):
            raise CheckpointError("checkpoint is not a signed note (no blank line before signatures)")
        body += "\n"
        for line in sigs[:-1].split("\n"):
            if not line.startswith(SIG_PREFIX):
                raise CheckpointError("checkpoint has a malformed signature line")
            name, _, b64 = line[len(SIG_PREFIX) :].partition(" ")
            raw = _b64(b64, "signature")
            if name != self.name or raw[:4] != self.key_id:
                continue  # another key's signature (e.g. a witness); not ours to check
            try:
                self.key.verify(raw[4:], body.encode())
            except InvalidSignature:
                raise CheckpointError(f"checkpoint signature by {self.name} does not verify") from None
            return body
        raise CheckpointError(f"checkpoint carries no signature by key {self.name}")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    head: bytes
    time: str
    # RFC 6962 root over the first ``size`` records (merkle.py), carried as an extension line
    # ``merkle <base64>``; inclusion and consistency proofs are checked against it.
    merkle_root: bytes | None = None

    def body(self) -> str:
        text = f"{self.origin}\n{self.size}\n{base64.b64encode(self.head).decode()}\ntime {self.time}\n"
        if self.merkle_root is not None:
            text += f"merkle {base64.b64encode(self.merkle_root).decode()}\n"
        return text

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        lines = body.split("\n")[:-1]
        if len(lines) < 4 or not lines[0]:
            raise CheckpointError("checkpoint body needs origin, size, head and a time line")
        size_s = lines[1]
        if not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")):
            raise CheckpointError("checkpoint size is not a decimal number")
        head = _b64(lines[2], "checkpoint head")
        if len(head) != HASH_LEN:
            raise CheckpointError("checkpoint head is not 32 bytes")
        times = [ln[5:] for ln in lines[3:] if ln.startswith("time ")]
        if len(times) != 1 or not _TS.match(times[0]):
            raise CheckpointError("checkpoint needs exactly one 'time YYYY-MM-DDTHH:MM:SS.mmmZ' line")
        roots = [ln[7:] for ln in lines[3:] if ln.startswith("merkle ")]
        if len(roots) > 1:
            raise CheckpointError("checkpoint has more than one merkle line")
        merkle_root = _b64(roots[0], "checkpoint merkle root") if roots else None
        if merkle_root is not None and len(merkle_root) != HASH_LEN:
            raise CheckpointError("checkpoint merkle root is not 32 bytes")
        return cls(lines[0], int(size_s), head, times[0], merkle_root)


def write_checkpoint(directory: Path, note: str, size: int) -> Path:
    """Write ``checkpoint-<size>.txt`` atomically (temp file, fsync, rename, fsync of the folder)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"checkpoint-{size:012d}.txt"
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(note)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def sign_head(
    signer: Signer,
    origin: str,
    size: int,
    head_hex: str,
    now: datetime | None = None,
    merkle_root: bytes | None = None,
) -> str:
    ts = format_ts(now or datetime.now(UTC))
    return signer.sign(Checkpoint(origin, size, bytes.fromhex(head_hex), ts, merkle_root))


def merkle_range(rows: Iterable[StoredRow], size: int | None = None) -> CompactRange:
    """The compact range over the canon bytes of ``rows`` (seq order), stopping after ``size``."""
    compact = CompactRange()
    for row in rows:
        if size is not None and row.seq > size:
            break
        compact.append(leaf_hash(row.canon))
    return compact


# -- verification -------------------------------------------------------------------------------


def default_state_file() -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "privacy-router" / "checkpoints.json"


def _load_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise CheckpointError(f"checkpoint state file {path} is unreadable") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint state file {path} is not a JSON object")
    return state


def verify_against_checkpoint(
    rows: Callable[[], Iterator[StoredRow]],
    checkpoint: Checkpoint,
    *,
    state_file: Path | None,
    anchor: Anchor | None = None,
) -> VerifyReport:
    """The log (``rows()`` is called once per pass) must hold ``checkpoint`` and the newest checkpoint
    already accepted for the same origin; the state file then records ``checkpoint`` if it is newer.
    With ``anchor``, ``rows()`` starts after it (records before it are archived, archive.py).

    Raises ``CheckpointError`` for a rollback or a fork against the state; returns the chain report
    (``ok`` false names the first bad seq: for a rewrite or truncation, the checkpoint's size)."""
    state = _load_state(state_file) if state_file is not None else {}
    seen = state.get(checkpoint.origin)
    if isinstance(seen, dict):
        seen_size, seen_head = int(seen.get("size", -1)), str(seen.get("head", ""))
        if checkpoint.size < seen_size:
            raise CheckpointError(
                f"checkpoint size {checkpoint.size} is older than the checkpoint of size {seen_size} "
                "already verified for this log (rollback)"
            )
        if checkpoint.size == seen_size and checkpoint.head.hex() != seen_head:
            raise CheckpointError(
                f"checkpoint of size {checkpoint.size} differs from the one already verified "
                "at that size (fork)"
            )
        if checkpoint.size > seen_size:
            earlier = (
                verify(rows(), expect_head=(seen_size, seen_head), anchor=anchor) if seen_size > 0 else None
            )
            if earlier is not None and not earlier.ok:
                return earlier
    report = (
        verify(rows(), expect_head=(checkpoint.size, checkpoint.head.hex()), anchor=anchor)
        if checkpoint.size > 0
        else verify(rows(), anchor=anchor)
    )
    if report.ok and state_file is not None:
        state[checkpoint.origin] = {
            "size": checkpoint.size,
            "head": checkpoint.head.hex(),
            "time": checkpoint.time,
        }
        state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, sort_keys=True, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, state_file)
    return report


# -- writing while serving ------------------------------------------------------------------------


class CheckpointingStore:
    """An ``AuditStore`` that writes signed checkpoints as records are appended (see module doc)."""

    def __init__(
        self,
        inner: Any,
        *,
        signer: Signer,
        origin: str,
        directory: Path,
        every: int,
        interval_s: float,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.inner = inner
        self.origin = origin
        self._signer = signer
        self._dir = directory
        self._every = every
        self._interval_s = interval_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._latest: Receipt | None = None
        self._written = 0  # size of the newest checkpoint this process wrote
        # Merkle state over every record of the log (all writers), caught up at each checkpoint by
        # reading the rows appended since: O(log n) memory, each record read once.
        self._merkle_lock = threading.Lock()
        # After an archive (archive.py) the tree continues from the anchor's compact range.
        anchor = inner.anchor() if callable(getattr(inner, "anchor", None)) else None
        self._merkle = anchor.compact() if anchor is not None else CompactRange()
        for row in inner.iter_rows(self._merkle.size + 1):
            self._merkle.append(leaf_hash(row.canon))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._timer, name="audit-checkpoint", daemon=True)
        self._thread.start()

    def append(self, record: dict[str, Any]) -> Receipt:
        receipt: Receipt = self.inner.append(record)
        with self._lock:
            if self._latest is None or receipt.seq > self._latest.seq:
                self._latest = receipt
        if receipt.seq % self._every == 0:
            self._checkpoint(receipt)
        return receipt

    def checkpoint_now(self) -> Path | None:
        """Sign the newest receipt of this process if no checkpoint covers it yet."""
        with self._lock:
            latest = self._latest
        if latest is None or latest.seq <= self._written:
            return None
        return self._checkpoint(latest)

    def _checkpoint(self, receipt: Receipt) -> Path | None:
        try:
            with self._merkle_lock:
                if self._merkle.size > receipt.seq:
                    return None  # a later checkpoint already covers it (the timer raced an append)
                for row in self.inner.iter_rows(self._merkle.size + 1):
                    if row.seq > receipt.seq:
                        break
                    self._merkle.append(leaf_hash(row.canon))
                root = self._merkle.root()
                note = sign_head(
                    self._signer, self.origin, receipt.seq, receipt.entry_hash, self._clock(), root
                )
            path = write_checkpoint(self._dir, note, receipt.seq)
        except (OSError, AuditWriteError) as exc:
            log.warning("audit_checkpoint_failed", size=receipt.seq, error=type(exc).__name__)
            return None
        with self._lock:
            self._written = max(self._written, receipt.seq)
        log.info("audit_checkpoint_written", size=receipt.seq, path=str(path))
        return path

    def _timer(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.checkpoint_now()

    def check_writable(self) -> None:
        self.inner.check_writable()

    def iter_rows(self, start_seq: int = 1) -> Iterator[StoredRow]:
        rows: Iterator[StoredRow] = self.inner.iter_rows(start_seq)
        return rows

    def select_rows(self, **filters: Any) -> Iterator[StoredRow]:
        rows: Iterator[StoredRow] = self.inner.select_rows(**filters)
        return rows

    def verify(self) -> VerifyReport:
        report: VerifyReport = self.inner.verify()
        return report

    def anchor(self) -> Anchor | None:
        anchor: Anchor | None = self.inner.anchor()
        return anchor

    def writer_status(self) -> list[WriterStatus]:
        status: list[WriterStatus] = self.inner.writer_status()
        return status

    def close(self) -> None:
        """Stop the timer, checkpoint what this process appended, close the store."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.checkpoint_now()
        self.inner.close()


def _check_protocol(store: CheckpointingStore) -> AuditStore:
    return store  # mypy proves CheckpointingStore satisfies AuditStore
