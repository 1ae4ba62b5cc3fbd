"""query_records: filters on the decoded, hashed records."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from privacy_router.audit import SqliteAuditStore, StoredRow, query_records

T0 = datetime(2026, 1, 31, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def populated(
    db_path: Path,
    decision_factory: Callable[..., dict[str, Any]],
    completion_factory: Callable[..., dict[str, Any]],
) -> Iterator[SqliteAuditStore]:
    """seq 1..6, one hour apart from T0:
    1 acme onprem US_SSN | 2 acme external_scrubbed PERSON | 3 completion
    4 beta block US_SSN   | 5 beta onprem EMAIL_ADDRESS    | 6 completion"""
    times = iter(T0 + timedelta(hours=h) for h in range(6))
    store = SqliteAuditStore(db_path, clock=lambda: next(times))
    store.append(decision_factory(1, tenant="acme", action="onprem", entity="US_SSN"))
    store.append(
        decision_factory(2, tenant="acme", action="external_scrubbed", entity="PERSON", backend="openai")
    )
    store.append(completion_factory(3))
    store.append(decision_factory(4, tenant="beta", action="block", entity="US_SSN", backend=None))
    store.append(decision_factory(5, tenant="beta", action="onprem", entity="EMAIL_ADDRESS"))
    store.append(completion_factory(6))
    yield store
    store.close()


def _seqs(records: list[dict[str, Any]]) -> list[int]:
    return [r["seq"] for r in records]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, [1, 2, 3, 4, 5, 6]),
        ({"tenant": "acme"}, [1, 2]),
        ({"action": "onprem"}, [1, 5]),
        ({"entity_type": "US_SSN"}, [1, 4]),
        ({"record_type": "completion"}, [3, 6]),
        ({"since": T0 + timedelta(hours=2)}, [3, 4, 5, 6]),
        ({"until": T0 + timedelta(hours=2)}, [1, 2]),
        ({"since": T0 + timedelta(hours=1), "until": T0 + timedelta(hours=4), "entity_type": "US_SSN"}, [4]),
        # Naive datetimes are UTC; aware ones are converted.
        ({"since": datetime(2026, 1, 31, 13, 0)}, [5, 6]),
        ({"until": datetime(2026, 1, 31, 11, 0, tzinfo=timezone(timedelta(hours=1)))}, [1]),
        ({"tenant": "beta", "limit": 1}, [4]),
        ({"limit": 0}, []),
        ({"tenant": "nobody"}, []),
    ],
    ids=[
        "all",
        "tenant",
        "action",
        "entity",
        "record-type",
        "since",
        "until-exclusive",
        "combined",
        "naive-utc",
        "aware-offset",
        "limit",
        "limit-zero",
        "no-match",
    ],
)
def test_filters_select_exactly_the_matching_records(
    populated: SqliteAuditStore, filters: dict[str, Any], expected: list[int]
) -> None:
    assert _seqs(query_records(populated, **filters)) == expected


def test_records_are_decoded_from_the_hashed_bytes_with_entry_hash(populated: SqliteAuditStore) -> None:
    rows = list(populated.iter_rows())
    records = query_records(populated, tenant="beta", action="block")
    assert len(records) == 1
    record = records[0]
    assert record["entry_hash"] == rows[3].entry_hash.hex()
    assert (record["seq"], record["ts"], record["record_id"]) == (
        4,
        "2026-01-31T12:00:00.000Z",
        rows[3].record_id,
    )
    assert record["entities"] == [
        {"type": "US_SSN", "count": 1, "max_score": 0.95, "fields": ["messages[0].content"]}
    ]


class _ScanOnlyStore:
    """A store without select_rows: query_records must fall back to a full scan."""

    def __init__(self, inner: SqliteAuditStore) -> None:
        self.inner = inner

    def iter_rows(self, start_seq: int = 1) -> Iterator[StoredRow]:
        return self.inner.iter_rows(start_seq)


def test_scan_fallback_gives_the_same_answer(populated: SqliteAuditStore) -> None:
    scan = _ScanOnlyStore(populated)
    assert query_records(scan, tenant="beta", entity_type="US_SSN") == query_records(  # type: ignore[arg-type]
        populated, tenant="beta", entity_type="US_SSN"
    )
    assert _seqs(query_records(scan, since=T0 + timedelta(hours=4))) == [5, 6]  # type: ignore[arg-type]
