"""Canonical bytes and the chain hash of one audit record.

``canon = RFC 8785 (JSON Canonicalization Scheme) of the record``, produced by Trail of Bits'
``rfc8785`` package. The bytes are stored verbatim and hashed as stored; they are never
re-serialised to compute a hash (threats.md 1.4: a JSON column would reorder keys and normalise
numbers).

``entry_hash = SHA-256(prev_hash || canon)``, with ``prev_hash`` of the first record = 32 zero bytes
(DESIGN.md "Audit record"). Deviation noted: threats.md 1.4 suggests a 0x00 domain-separation
prefix; that matters for Merkle trees (leaf vs node hashes), not for a linear chain where every
input has the same shape, so the DESIGN.md formula is kept.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

GENESIS_HASH = bytes(32)
HASH_LEN = 32


def canonical(record: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of ``record``. Raises ``ValueError`` for NaN/Infinity, huge ints, non-JSON types."""
    try:
        return rfc8785.dumps(record)
    except rfc8785.CanonicalizationError as exc:
        # The message names the offending type or value class only, never the value.
        raise ValueError(f"record is not canonicalisable JSON ({type(exc).__name__})") from None


def entry_hash(prev_hash: bytes, canon: bytes) -> bytes:
    """SHA-256(prev_hash || canon)."""
    if len(prev_hash) != HASH_LEN:
        raise ValueError("prev_hash must be 32 bytes")
    return hashlib.sha256(prev_hash + canon).digest()
