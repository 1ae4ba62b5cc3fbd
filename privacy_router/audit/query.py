"""Read side: decoded records filtered for compliance queries (CLI ``audit query``, /v1/audit)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from privacy_router.audit.base import AuditStore, QueryableStore, StoredRow, format_ts, index_columns


def query_records(
    store: AuditStore,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    tenant: str | None = None,
    action: str | None = None,
    entity_type: str | None = None,
    record_type: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Records in seq order, each the canonical record plus ``entry_hash`` (hex).

    ``since`` is inclusive, ``until`` exclusive (naive datetimes are UTC). ``tenant`` matches
    ``principal.tenant``; ``entity_type`` matches any entry of ``entities[].type``. ``limit`` keeps
    the first N matches. The records are decoded from the hashed bytes, not from the index columns.
    """
    if limit is not None and limit <= 0:
        return []
    since_ts = format_ts(since) if since is not None else None
    until_ts = format_ts(until) if until is not None else None
    rows: Iterator[StoredRow]
    if isinstance(store, QueryableStore):
        rows = store.select_rows(
            since_ts=since_ts, until_ts=until_ts, tenant=tenant, action=action, record_type=record_type
        )
    else:
        rows = store.iter_rows()
    out: list[dict[str, Any]] = []
    for row in rows:
        record = json.loads(row.canon)
        if not _matches(record, since_ts, until_ts, tenant, action, record_type, entity_type):
            continue
        record["entry_hash"] = row.entry_hash.hex()
        out.append(record)
        if limit is not None and len(out) >= limit:
            break
    return out


def _matches(
    record: dict[str, Any],
    since_ts: str | None,
    until_ts: str | None,
    tenant: str | None,
    action: str | None,
    record_type: str | None,
    entity_type: str | None,
) -> bool:
    # Re-checked on the decoded record even after an indexed select: the answer must follow the
    # hashed bytes, not columns that only verify() proves consistent.
    r_type, _, r_tenant, r_action = index_columns(record)
    ts = str(record.get("ts", ""))
    if since_ts is not None and ts < since_ts:
        return False
    if until_ts is not None and ts >= until_ts:
        return False
    if tenant is not None and r_tenant != tenant:
        return False
    if action is not None and r_action != action:
        return False
    if record_type is not None and r_type != record_type:
        return False
    if entity_type is not None:
        types = {e.get("type") for e in record.get("entities") or [] if isinstance(e, dict)}
        if entity_type not in types:
            return False
    return True
