"""Proof bundles: an inclusion or consistency proof plus the signed checkpoint(s) it is against.

A bundle is one JSON object that a compliance officer can hand to an auditor, who checks it offline
with the public key only (``privacy-router audit verify-proof BUNDLE --public-key FILE``)::

    {"kind": "inclusion", "checkpoint": "<signed note>", "seq": 17,
     "leaf": "<base64 canon bytes of record 17>", "proof": ["<base64 hash>", ...]}
    {"kind": "consistency", "old": "<signed note>", "new": "<signed note>", "proof": [...]}

Every check fails closed: a malformed bundle, a bad signature, a checkpoint without a Merkle root,
or a proof that does not verify is a ``CheckpointError`` naming which, never an accepted proof.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from privacy_router.audit.base import StoredRow
from privacy_router.audit.checkpoints import Checkpoint, CheckpointError, Verifier
from privacy_router.audit.merkle import (
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
