"""Chain verification: recompute every link from the stored bytes, report the first bad seq.

Written against ``StoredRow`` only, so it verifies any store (and an export) the same way. For each
row, in order, it checks:

1. ``seq`` is the next integer (gap-free from 1): a deleted row shows up as the missing seq;
2. ``prev_hash`` equals the previous row's ``entry_hash`` (genesis: 32 zero bytes);
3. ``entry_hash == SHA-256(prev_hash || canon)`` over the stored canon bytes;
4. ``canon`` is valid UTF-8 JSON, an object, and exactly its own RFC 8785 form;
5. the canonical ``seq``, ``ts``, ``record_id`` and the indexed copies (record_type, request_id,
   tenant, action) equal the row's columns.

``first_bad_seq`` is the first seq at which the stored log is inconsistent. A forged row that an
attacker inserted with a correctly recomputed hash is itself consistent; it is caught at the row
after it, whose link no longer matches. What a chain alone cannot catch (threats.md 1.1): removal of
the newest rows, or a rewrite of the whole chain. Compare ``head_hash`` at ``records`` with a head
exported off the box for that (see ``expect_head``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from privacy_router.audit.base import Anchor, StoredRow, index_columns
from privacy_router.audit.canonical import GENESIS_HASH, canonical, entry_hash


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    records: int  # seq of the last good row: the log's size when ok (archived records included)
    first_bad_seq: int | None
    problem: str | None  # names seqs and fields only, never record content
    head_hash: str  # hex entry_hash of the last good row (genesis zeros when empty)
    archived: int = 0  # records 1..archived were sealed into an archive and checked from its anchor


def verify(
    store_rows: Iterable[StoredRow],
    *,
    expect_head: tuple[int, str] | None = None,
    anchor: Anchor | None = None,
) -> VerifyReport:
    """Verify rows given in seq order. ``expect_head=(seq, hex)`` is an externally held head: the log
    must contain that seq with that entry_hash (catches truncation and rewrites behind it).

    With ``anchor`` (records ``1..anchor.seq`` archived, archive.py) the rows start at
    ``anchor.seq + 1`` and link to ``anchor.entry_hash``; an expected head at the anchor is compared
    with it, one inside the archive cannot be checked here (verify with the archive instead)."""
    prev = anchor.entry_hash if anchor is not None else GENESIS_HASH
    expected = anchor.seq + 1 if anchor is not None else 1
    archived = anchor.seq if anchor is not None else 0
    anchor_seen = False
    if anchor is not None and expect_head is not None and expect_head[0] <= archived:
        if expect_head[0] < archived:
            return VerifyReport(
                False,
                archived,
                None,
                f"the expected head at seq {expect_head[0]} is archived (records 1..{archived}); "
                "verify together with the archive (--archive DIR)",
                prev.hex(),
                archived,
            )
        if prev.hex() != expect_head[1].lower():
            return VerifyReport(
                False,
                archived,
                archived,
                "the anchor's entry_hash differs from the expected head",
                prev.hex(),
                archived,
            )
        anchor_seen = True
    for row in store_rows:
        problem = _row_problem(row, expected, prev)
        if problem is not None:
            bad = expected if row.seq != expected else row.seq
            return VerifyReport(False, expected - 1, bad, problem, prev.hex(), archived)
        if expect_head is not None and row.seq == expect_head[0]:
            if row.entry_hash.hex() != expect_head[1].lower():
                return VerifyReport(
                    False,
                    expected - 1,
                    row.seq,
                    "entry_hash differs from the expected head",
                    prev.hex(),
                    archived,
                )
            anchor_seen = True
        prev = row.entry_hash
        expected += 1
    if expect_head is not None and not anchor_seen:
        return VerifyReport(
            False,
            expected - 1,
            expected,
            f"log ends at seq {expected - 1}, expected head is at seq {expect_head[0]} (truncated)",
            prev.hex(),
            archived,
        )
    return VerifyReport(True, expected - 1, None, None, prev.hex(), archived)


def _row_problem(row: StoredRow, expected: int, prev: bytes) -> str | None:
    if row.seq != expected:
        return f"seq {expected} missing (found seq {row.seq})"
    if row.prev_hash != prev:
        return "prev_hash does not match the previous entry_hash"
    if entry_hash(row.prev_hash, row.canon) != row.entry_hash:
        return "entry_hash does not match SHA-256(prev_hash || canon)"
    try:
        record: Any = json.loads(row.canon.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "canon is not valid UTF-8 JSON"
    if not isinstance(record, dict):
        return "canon is not a JSON object"
    try:
        if canonical(record) != row.canon:
            return "canon is not in RFC 8785 canonical form"
        columns = index_columns(record)
    except ValueError:
        return "canon holds values of the wrong type"
    for name, in_canon, in_column in (
        ("seq", record.get("seq"), row.seq),
        ("ts", record.get("ts"), row.ts),
        ("record_id", record.get("record_id"), row.record_id),
        ("record_type", columns[0], row.record_type),
        ("request_id", columns[1], row.request_id),
        ("tenant", columns[2], row.tenant),
        ("action", columns[3], row.action),
    ):
        # type() check: JSON true must not pass for seq 1.
        if in_canon != in_column or type(in_canon) is not type(in_column):
            return f"column {name} differs from the canonical record"
    return None
