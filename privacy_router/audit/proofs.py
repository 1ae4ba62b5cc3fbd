"""Proof bundles: an inclusion or consistency proof plus the signed checkpoint(s) it is against.

A bundle is one JSON object that a compliance officer can hand to an auditor, who checks it offline
with the public key only (``privacy-router audit verify-proof BUNDLE --public-key FILE``)::

    {"kind": "inclusion", "checkpoint": "<signed note>", "seq": 17,
     "leaf": "<base64 canon bytes of record 17>", "proof": ["<base64 hash>", ...]}
    {"kind": "consistency", "old": "<signed note>", "new": "<signed note>", "proof": [...]}

Every check fails closed: a malformed bundle, a bad signature, a checkpoint without a Merkle root,
or a proof that does not verify is a ``CheckpointError`` naming which, never an accepted proof.

After ``privacy-router audit archive`` (archive.py) the live store starts after its *anchor*:
records ``1..anchor.seq`` are in the archive, and the anchor keeps the Merkle compact range at the
cut. ``prove_record`` then proves a live record from the anchor and the live rows
(``prove_after_anchor``), without the archive; the bundle is the same as over the whole log. The CLI
(``audit prove``) and the dashboard's record page both call it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from typing import Any

from privacy_router.audit.base import Anchor, StoredRow
from privacy_router.audit.checkpoints import Checkpoint, CheckpointError, Verifier
from privacy_router.audit.merkle import (
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

_MAX_PROOF = 64  # a tree of 2^64 leaves needs at most 64 hashes; anything longer is malformed


def _leaf_hashes(rows: Iterable[StoredRow], size: int) -> tuple[list[bytes], list[bytes]]:
    hashes, canons = [], []
    for row in rows:
        if row.seq > size:
            break
        hashes.append(leaf_hash(row.canon))
        canons.append(row.canon)
    if len(hashes) != size:
        raise CheckpointError(f"the log has {len(hashes)} records, the checkpoint covers {size}")
    return hashes, canons


def _needs_root(checkpoint: Checkpoint) -> bytes:
    if checkpoint.merkle_root is None:
        raise CheckpointError("checkpoint carries no merkle root (written before proofs existed)")
    return checkpoint.merkle_root


def prove_inclusion(rows: Iterable[StoredRow], note: str, verifier: Verifier, seq: int) -> dict[str, Any]:
    """The bundle proving record ``seq`` is in the log that the signed ``note`` commits to."""
    checkpoint = verifier.open(note)
    expected = _needs_root(checkpoint)
    if not 1 <= seq <= checkpoint.size:
        raise CheckpointError(f"seq {seq} is outside the checkpoint (size {checkpoint.size})")
    hashes, canons = _leaf_hashes(rows, checkpoint.size)
    if root(hashes) != expected:
        raise CheckpointError("the log's merkle root differs from the checkpoint's (log rewritten?)")
    proof = inclusion_proof(seq - 1, hashes)
    return {
        "kind": "inclusion",
        "checkpoint": note,
        "seq": seq,
        "leaf": base64.b64encode(canons[seq - 1]).decode(),
        "proof": [base64.b64encode(p).decode() for p in proof],
    }


def archive_name(anchor: Anchor) -> str:
    """The archive's manifest file name (``Anchor.archive`` is the name, then its JSONL's SHA-256)."""
    return anchor.archive.split(" ", 1)[0]


def prove_record(
    rows_from: Callable[[int], Iterable[StoredRow]],
    anchor: Anchor | None,
    note: str,
    verifier: Verifier,
    seq: int,
) -> dict[str, Any]:
    """The inclusion bundle of record ``seq`` from a live store: ``rows_from(start)`` reads its rows
    from seq ``start`` (``store.iter_rows``), ``anchor`` is its archive anchor (``None``: nothing
    archived). A record inside the archive cannot be proved from the live store: that is a
    ``CheckpointError`` naming the archive (prove it over the archive's rows instead)."""
    if anchor is None:
        return prove_inclusion(rows_from(1), note, verifier, seq)
    if 1 <= seq <= anchor.seq:
        raise CheckpointError(
            f"record seq {seq} is archived: records 1 to {anchor.seq} were sealed into {archive_name(anchor)}"
        )
    return prove_after_anchor(anchor, rows_from(anchor.seq + 1), note, verifier, seq)


def prove_after_anchor(
    anchor: Anchor, live_rows: Iterable[StoredRow], note: str, verifier: Verifier, seq: int
) -> dict[str, Any]:
    """``prove_inclusion``'s bundle for a live record once records ``1..anchor.seq`` are archived,
    from the anchor's compact range and ``live_rows`` (the rows after the anchor, in seq order).

    In an RFC 6962 audit path of leaf ``m`` the left siblings are exactly the perfect subtrees that
    cover leaves ``0..m-1`` (the compact range of size ``m``); the right siblings cover leaves after
    ``m``, all live. So ``merkle.inclusion_proof`` runs over stand-in leaves for the archived records,
    and each hash of the stand-in compact range is swapped for the real one (the anchor's range,
    continued over the live leaves before ``m``). The whole tree's root is checked against the
    signed root first, and ``verify_bundle`` accepts only a correct path."""
    checkpoint = verifier.open(note)
    expected = _needs_root(checkpoint)
    if not anchor.seq < seq <= checkpoint.size:
        raise CheckpointError(
            f"seq {seq} is not a live record under the checkpoint (live from seq {anchor.seq + 1}, "
            f"checkpoint size {checkpoint.size})"
        )
    live: list[bytes] = []
    leaf = b""
    expected_seq = anchor.seq + 1
    for row in live_rows:
        if row.seq > checkpoint.size:
            break
        if row.seq != expected_seq:
            raise CheckpointError(f"the live log skips from seq {expected_seq - 1} to {row.seq}")
        expected_seq += 1
        live.append(leaf_hash(row.canon))
        if row.seq == seq:
            leaf = row.canon
    if anchor.seq + len(live) != checkpoint.size:
        raise CheckpointError(
            f"the log has {anchor.seq + len(live)} records, the checkpoint covers {checkpoint.size}"
        )
    try:
        whole, before = anchor.compact(), anchor.compact()
    except ValueError:
        raise CheckpointError("the archive anchor's merkle state does not match its size") from None
    for h in live:
        whole.append(h)
    if whole.root() != expected:
        raise CheckpointError("the log's merkle root differs from the checkpoint's (log rewritten?)")
    index = seq - 1
    for h in live[: index - anchor.seq]:  # ``before``: the real compact range of leaves 0..index-1
        before.append(h)
    stand_ins = [bytes(32)] * anchor.seq + live
    swap = dict(zip(CompactRange(stand_ins[:index]).hashes(), before.hashes(), strict=True))
    proof = [swap.get(h, h) for h in inclusion_proof(index, stand_ins)]
    return {
        "kind": "inclusion",
        "checkpoint": note,
        "seq": seq,
        "leaf": base64.b64encode(leaf).decode(),
        "proof": [base64.b64encode(p).decode() for p in proof],
    }


def prove_consistency(
    rows: Iterable[StoredRow], old_note: str, new_note: str, verifier: Verifier
) -> dict[str, Any]:
    """The bundle proving the log at ``old_note`` is a prefix of the log at ``new_note``."""
    old, new = verifier.open(old_note), verifier.open(new_note)
    old_root, new_root = _needs_root(old), _needs_root(new)
    if old.origin != new.origin or not 0 < old.size <= new.size:
        raise CheckpointError("checkpoints must be of the same log with 0 < old size <= new size")
    hashes, _ = _leaf_hashes(rows, new.size)
    if root(hashes) != new_root or root(hashes[: old.size]) != old_root:
        raise CheckpointError("the log's merkle roots differ from the checkpoints' (log rewritten?)")
    proof = consistency_proof(old.size, hashes)
    return {
        "kind": "consistency",
        "old": old_note,
        "new": new_note,
        "proof": [base64.b64encode(p).decode() for p in proof],
    }


def _hashes(value: Any) -> list[bytes]:
    if not isinstance(value, list) or len(value) > _MAX_PROOF or not all(isinstance(v, str) for v in value):
        raise CheckpointError("bundle 'proof' must be a list of at most 64 base64 hashes")
    try:
        out = [base64.b64decode(v.encode("ascii"), validate=True) for v in value]
    except (binascii.Error, UnicodeEncodeError):
        raise CheckpointError("bundle 'proof' holds invalid base64") from None
    if any(len(h) != 32 for h in out):
        raise CheckpointError("bundle 'proof' holds a hash that is not 32 bytes")
    return out


def _text(bundle: dict[str, Any], key: str) -> str:
    value = bundle.get(key)
    if not isinstance(value, str):
        raise CheckpointError(f"bundle '{key}' must be a string")
    return value


def verify_bundle(text: str, verifier: Verifier) -> str:
    """Check a bundle offline; return a one-line summary, or raise ``CheckpointError``."""
    try:
        bundle = json.loads(text)
    except ValueError:
        raise CheckpointError("bundle is not JSON") from None
    if not isinstance(bundle, dict):
        raise CheckpointError("bundle is not a JSON object")
    kind = bundle.get("kind")
    proof = _hashes(bundle.get("proof"))
    if kind == "inclusion":
        checkpoint = verifier.open(_text(bundle, "checkpoint"))
        expected = _needs_root(checkpoint)
        seq = bundle.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise CheckpointError("bundle 'seq' must be an integer")
        try:
            leaf = base64.b64decode(_text(bundle, "leaf").encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise CheckpointError("bundle 'leaf' is not valid base64") from None
        if not verify_inclusion(seq - 1, checkpoint.size, leaf_hash(leaf), proof, expected):
            raise CheckpointError("inclusion proof does not verify")
        return f"record seq {seq} is included in {checkpoint.origin} at size {checkpoint.size}"
    if kind == "consistency":
        old, new = verifier.open(_text(bundle, "old")), verifier.open(_text(bundle, "new"))
        if old.origin != new.origin:
            raise CheckpointError("the two checkpoints are of different logs")
        if not verify_consistency(old.size, new.size, _needs_root(old), _needs_root(new), proof):
            raise CheckpointError("consistency proof does not verify")
        return f"{new.origin} at size {new.size} extends size {old.size}"
    raise CheckpointError("bundle 'kind' must be inclusion or consistency")
