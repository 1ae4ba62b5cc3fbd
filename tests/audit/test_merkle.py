"""RFC 6962 Merkle tree: known answers from the reference implementations, every proof of small
trees, and a mutation suite of malformed proofs that must all be rejected (threats.md 1.2)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from privacy_router.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# transparency-dev/merkle rfc6962 hasher tests (threats.md 1.2 lists the prefixes).
HASHER_KATS = [
    pytest.param(
        EMPTY_ROOT, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", id="empty-tree"
    ),
    pytest.param(
        leaf_hash(b""), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", id="empty-leaf"
    ),
    pytest.param(
        leaf_hash(b"L123456"), "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56", id="leaf"
    ),
    pytest.param(
        node_hash(b"N123", b"N456"),
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb",
        id="node",
    ),
]


@pytest.mark.parametrize(("got", "want"), HASHER_KATS)
def test_rfc6962_hasher_known_answers(got: bytes, want: str) -> None:
    assert got.hex() == want


# The certificate-transparency reference leaves and the roots of their first 1..8 (RFC 6962 test
# data, as in transparency-dev/merkle testonly/constants.go).
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
H96 = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
H5F = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
H6B = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
HBC = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
HCA = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
HD3 = "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"
H0E = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
CT_HASHES = [leaf_hash(x) for x in CT_LEAVES]


def test_roots_of_the_reference_leaves() -> None:
    assert [root(CT_HASHES[:n]).hex() for n in range(1, 9)] == CT_ROOTS
    assert root([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize(
    ("index", "size", "want"),
    [
        pytest.param(0, 8, [H96, H5F, H6B], id="0-of-8"),
        pytest.param(5, 8, [HBC, HCA, HD3], id="5-of-8"),
        pytest.param(2, 3, [CT_ROOTS[1]], id="2-of-3"),
        pytest.param(1, 5, [CT_ROOTS[0], H5F, HBC], id="1-of-5"),
    ],
)
def test_inclusion_proofs_of_the_reference_tree(index: int, size: int, want: list[str]) -> None:
    assert [p.hex() for p in inclusion_proof(index, CT_HASHES[:size])] == want


@pytest.mark.parametrize(
    ("old", "new", "want"),
    [
        pytest.param(1, 1, [], id="1-1"),
        pytest.param(1, 8, [H96, H5F, H6B], id="1-8"),
        pytest.param(6, 8, [H0E, HCA, HD3], id="6-8"),
        pytest.param(2, 5, [H5F, HBC], id="2-5"),
    ],
)
def test_consistency_proofs_of_the_reference_tree(old: int, new: int, want: list[str]) -> None:
    assert [p.hex() for p in consistency_proof(old, CT_HASHES[:new])] == want


def _tree(n: int) -> list[bytes]:
    return [leaf_hash(f"leaf-{i}".encode()) for i in range(n)]


def test_every_proof_of_every_tree_up_to_33_leaves_verifies() -> None:
    """Sizes straddling powers of two are where off-by-one errors live: check them all."""
    failures = []
    for n in range(1, 34):
        hashes = _tree(n)
        r = root(hashes)
        for m in range(n):
            if not verify_inclusion(m, n, hashes[m], inclusion_proof(m, hashes), r):
                failures.append(("inclusion", m, n))
        for m in range(1, n + 1):
            if not verify_consistency(m, n, root(hashes[:m]), r, consistency_proof(m, hashes)):
                failures.append(("consistency", m, n))
    assert failures == []


def test_compact_range_root_equals_the_tree_root_at_every_size() -> None:
    hashes = _tree(70)
    compact = CompactRange()
    roots = []
    for h in hashes:
        compact.append(h)
        roots.append(compact.root())
    assert roots == [root(hashes[:n]) for n in range(1, 71)]


def test_proof_generation_refuses_out_of_range_input() -> None:
    with pytest.raises(ValueError, match="leaf index outside the tree"):
        inclusion_proof(3, _tree(3))
    with pytest.raises(ValueError, match="old size must satisfy 0 < old <= new"):
        consistency_proof(0, _tree(3))


def test_second_preimage_leaf_cannot_pose_as_an_interior_node() -> None:
    """pymerkle's defence test: a leaf whose bytes are two child hashes gets another hash."""
    hashes = _tree(4)
    forged_leaf = hashes[2] + hashes[3]
    assert leaf_hash(forged_leaf) != node_hash(hashes[2], hashes[3])
    three = [*hashes[:2], leaf_hash(forged_leaf)]
    assert root(three) != root(hashes)


# -- mutation suite ------------------------------------------------------------------------------
# The mutations of transparency-dev/merkle's vectors (threats.md 1.2). Tree-size mutations are x2
# and /2 as there: a size off by one can give a path of the same shape (index 0 of 3 leaves and of
# 4 leaves both take two right siblings), so the RFC 9162 algorithm, in transparency-dev's code as
# in ours, accepts it for the same root. That is sound because the size is never taken from the
# prover: proof bundles carry no size, it comes from the signed checkpoint with the root
# (test_the_size_of_a_bundle_comes_from_its_signed_checkpoint in test_proofs.py).


def _flip(h: bytes, bit: int = 0) -> bytes:
    return bytes(a ^ b for a, b in zip(h, (1 << (bit % 8)).to_bytes(1, "big") + bytes(31), strict=True))


InclusionCase = tuple[int, int, bytes, list[bytes], bytes]
InclusionMutation = Callable[[InclusionCase], list[InclusionCase]]


def _inclusion_mutations() -> dict[str, InclusionMutation]:
    return {
        "wrong-leaf": lambda c: [(c[0], c[1], _flip(c[2]), c[3], c[4])],
        "leaf-index-plus-1": lambda c: [(c[0] + 1, c[1], c[2], c[3], c[4])],
        "leaf-index-minus-1": lambda c: [(c[0] - 1, c[1], c[2], c[3], c[4])],
        "leaf-index-xor": lambda c: [(c[0] ^ b, c[1], c[2], c[3], c[4]) for b in (1, 2, 4, 8)],
        "tree-size-times-2": lambda c: [(c[0], c[1] * 2, c[2], c[3], c[4])],
        "tree-size-div-2": lambda c: [(c[0], c[1] // 2, c[2], c[3], c[4])],
        "random-root": lambda c: [(c[0], c[1], c[2], c[3], hashlib.sha256(b"random").digest())],
        "modified-proof-element": lambda c: [
            (c[0], c[1], c[2], [*c[3][:i], _flip(p, b), *c[3][i + 1 :]], c[4])
            for i, p in enumerate(c[3])
            for b in (0, 7)
        ],
        "removed-element": lambda c: [
            (c[0], c[1], c[2], [*c[3][:i], *c[3][i + 1 :]], c[4]) for i in range(len(c[3]))
        ],
        "inserted-element": lambda c: [
            (c[0], c[1], c[2], [*c[3][:i], c[2], *c[3][i:]], c[4]) for i in range(len(c[3]) + 1)
        ],
        "trailing-garbage": lambda c: [(c[0], c[1], c[2], [*c[3], bytes(32)], c[4])],
        "preceding-garbage": lambda c: [(c[0], c[1], c[2], [bytes(32), *c[3]], c[4])],
        "root-as-proof": lambda c: [(c[0], c[1], c[2], [*c[3], c[4]], c[4])],
        "short-hash-element": lambda c: [(c[0], c[1], c[2], [p[:31] for p in c[3]], c[4])] if c[3] else [],
        "swapped-elements": lambda c: [
            (c[0], c[1], c[2], [*c[3][:i], c[3][i + 1], c[3][i], *c[3][i + 2 :]], c[4])
            for i in range(len(c[3]) - 1)
            if c[3][i] != c[3][i + 1]
        ],
    }


# Valid (index, size) pairs, some at powers of two, some not (Trillian's indices and more).
INCLUSION_POINTS = [
    (0, 1),
    (0, 2),
    (1, 2),
    (2, 3),
    (5, 8),
    (0, 8),
    (7, 8),
    (4, 5),
    (27, 32),
    (31, 33),
    (80, 91),
    (90, 91),
]


@pytest.mark.parametrize("mutation", sorted(_inclusion_mutations()))
def test_every_mutated_inclusion_proof_is_rejected(mutation: str) -> None:
    mutate = _inclusion_mutations()[mutation]
    accepted, tried = [], 0
    for index, size in INCLUSION_POINTS:
        hashes = _tree(size)
        valid: InclusionCase = (index, size, hashes[index], inclusion_proof(index, hashes), root(hashes))
        assert verify_inclusion(*valid) is True
        for case in mutate(valid):
            if case == valid:
                continue  # e.g. XOR of a bit that maps an index onto itself: not a mutation
            tried += 1
            if verify_inclusion(*case):
                accepted.append((index, size, case[0], case[1]))
    assert accepted == []
    assert tried > 0


ConsistencyCase = tuple[int, int, bytes, bytes, list[bytes]]
ConsistencyMutation = Callable[[ConsistencyCase], list[ConsistencyCase]]


def _consistency_mutations() -> dict[str, ConsistencyMutation]:
    return {
        "empty-proof": lambda c: [(c[0], c[1], c[2], c[3], [])] if c[4] else [],
        "swapped-roots": lambda c: [(c[0], c[1], c[3], c[2], c[4])] if c[2] != c[3] else [],
        "size1-plus-1": lambda c: [(c[0] + 1, c[1], c[2], c[3], c[4])],
        "size1-minus-1": lambda c: [(c[0] - 1, c[1], c[2], c[3], c[4])],
        "size2-times-2": lambda c: [(c[0], c[1] * 2, c[2], c[3], c[4])],
        "size2-div-2": lambda c: [(c[0], c[1] // 2, c[2], c[3], c[4])],
        "size1-zero": lambda c: [(0, c[1], EMPTY_ROOT, c[3], c[4])],
        "size1-above-size2": lambda c: [(c[1] + 1, c[1], c[2], c[3], c[4])],
        "truncated-proof": lambda c: [(c[0], c[1], c[2], c[3], c[4][:i]) for i in range(len(c[4]))],
        "extended-proof": lambda c: [(c[0], c[1], c[2], c[3], [*c[4], c[3]])],
        "wrong-root1": lambda c: [(c[0], c[1], _flip(c[2]), c[3], c[4])],
        "wrong-root2": lambda c: [(c[0], c[1], c[2], _flip(c[3]), c[4])],
        "bit-flips": lambda c: [
            (c[0], c[1], c[2], c[3], [*c[4][:i], _flip(p, b), *c[4][i + 1 :]])
            for i, p in enumerate(c[4])
            for b in (0, 3, 7)
        ],
        "preceding-garbage": lambda c: [(c[0], c[1], c[2], c[3], [bytes(32), *c[4]])],
    }


CONSISTENCY_POINTS = [
    (1, 2),
    (2, 3),
    (1, 3),
    (2, 4),
    (1, 8),
    (6, 8),
    (2, 5),
    (3, 7),
    (4, 4),
    (7, 7),
    (16, 33),
    (31, 64),
    (5, 91),
]


@pytest.mark.parametrize("mutation", sorted(_consistency_mutations()))
def test_every_mutated_consistency_proof_is_rejected(mutation: str) -> None:
    mutate = _consistency_mutations()[mutation]
    accepted, tried = [], 0
    for old, new in CONSISTENCY_POINTS:
        hashes = _tree(new)
        valid: ConsistencyCase = (old, new, root(hashes[:old]), root(hashes), consistency_proof(old, hashes))
        assert verify_consistency(*valid) is True
        for case in mutate(valid):
            if case == valid:
                continue
            tried += 1
            if verify_consistency(*case):
                accepted.append((old, new, case[0], case[1]))
    assert accepted == []
    assert tried > 0
