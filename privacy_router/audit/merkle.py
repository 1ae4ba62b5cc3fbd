"""A Merkle tree over the audit records, with RFC 6962 / RFC 9162 hashing and proofs.

Leaves are the stored canonical bytes of the records in seq order (leaf index = seq - 1), so an
inclusion proof shows that exactly these bytes are record ``seq`` of a log whose signed checkpoint
commits to the root; a consistency proof shows that the log at one checkpoint is a prefix of the log
at a later one (nothing removed, nothing rewritten in between), each in O(log n) hashes and offline.

    leaf hash  = SHA-256(0x00 || leaf)          node hash = SHA-256(0x01 || left || right)
    MTH({})    = SHA-256("")                    MTH(D[n]) splits at the largest power of 2 below n

The 0x00/0x01 prefixes are the domain separation that blocks second-preimage attacks (a leaf that
is the concatenation of two hashes cannot pose as an interior node; threats.md 1.1). Proof
generation follows RFC 6962 section 2.1.1 (PATH) and 2.1.2 (PROOF / SUBPROOF); verification follows
RFC 9162 sections 2.1.3.2 and 2.1.4.2, which return "fail" on any malformed input rather than raise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (RFC 6962 section 2.1)."""
    if not hashes:
        return EMPTY_ROOT
    return CompactRange(hashes).root()


def _mth(hashes: Sequence[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return node_hash(_mth(hashes[:k]), _mth(hashes[k:]))


def inclusion_proof(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) over leaf hashes; ``ValueError`` when index is outside the tree."""
    if not 0 <= index < len(hashes):
        raise ValueError("leaf index outside the tree")
    return _path(index, hashes)


def _path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _split(len(d))
    if m < k:
        return [*_path(m, d[:k]), _mth(d[k:])]
    return [*_path(m - k, d[k:]), _mth(d[:k])]


def consistency_proof(old_size: int, hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) over leaf hashes for 0 < m <= n; ``ValueError`` otherwise."""
    if not 0 < old_size <= len(hashes):
        raise ValueError("old size must satisfy 0 < old <= new")
    return _subproof(old_size, hashes, True)


def _subproof(m: int, d: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if complete else [_mth(d)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, d[:k], complete), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does ``proof`` show leaf hash ``leaf`` at ``index`` of the tree of ``size``?"""
    if not 0 <= index < size or any(len(p) != 32 for p in proof) or len(leaf) != 32:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: is the tree of ``old_size`` with ``old_root`` a prefix of the new one?

    Equal sizes need an empty proof and equal roots; size 0 is refused (a proof against the empty
    tree proves nothing, as the transparency-dev vectors treat it)."""
    if not 0 < old_size <= new_size or any(len(p) != 32 for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is itself a node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


class CompactRange:
    """The roots of the perfect subtrees covering leaves [0, size): O(log n) state to append leaves
    and compute the root at any size, as Trillian's "compact ranges" (threats.md 1.1)."""

    def __init__(self, hashes: Iterable[bytes] = ()) -> None:
        self.size = 0
        self._nodes: list[tuple[int, bytes]] = []  # (subtree size, hash), sizes strictly decreasing
        for h in hashes:
            self.append(h)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash."""
        self.size += 1
        width, h = 1, leaf
        while self._nodes and self._nodes[-1][0] == width:
            left = self._nodes.pop()[1]
            h = node_hash(left, h)
            width *= 2
        self._nodes.append((width, h))

    def root(self) -> bytes:
        if not self._nodes:
            return EMPTY_ROOT
        h = self._nodes[-1][1]
        for _, left in reversed(self._nodes[:-1]):
            h = node_hash(left, h)
        return h

    def hashes(self) -> list[bytes]:
        """The subtree roots, largest first: with ``size`` the whole state (an archive anchor keeps it)."""
        return [h for _, h in self._nodes]

    @classmethod
    def restore(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """The range of ``size`` leaves from its ``hashes()``; the subtree sizes are the set bits of
        ``size``, largest first. ``ValueError`` when the count does not match."""
        widths = [1 << b for b in range(size.bit_length() - 1, -1, -1) if size >> b & 1]
        if size < 0 or len(widths) != len(hashes) or any(len(h) != 32 for h in hashes):
            raise ValueError("merkle state does not match its size")
        compact = cls()
        compact.size = size
        compact._nodes = list(zip(widths, hashes, strict=True))
        return compact
