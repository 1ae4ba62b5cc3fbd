"""Read side: decoded records filtered for compliance queries (CLI ``audit query``, /v1/audit)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
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


# -- compliance API and dashboard (issue 6 "For compliance officers", issue 10) -------------------
#
# Added beside query_records, which keeps its signature (the CLI uses it). A filter is one value
# object so the API, the dashboard and the audit_query record all name the same filters.

FAIL_CLOSED_POLICY_ID = "privacy_router.fail_closed"  # pipeline.record_failed_decision
LEFT_PREMISES: tuple[str, ...] = ("external", "external_scrubbed")


@dataclass(frozen=True)
class RecordFilter:
    """Filters of ``GET /v1/audit/records`` and the dashboard. ``None`` means "any".

    ``since`` is inclusive and ``until`` exclusive (naive datetimes are UTC). ``service`` and
    ``tenant`` match ``principal``; ``backend`` matches the record's ``backend`` (decision and
    completion records); ``policy_revision`` matches ``policy.revision`` (decisions only);
    ``entity_type`` matches any ``entities[].type``."""

    since: datetime | None = None
    until: datetime | None = None
    tenant: str | None = None
    service: str | None = None
    action: str | None = None
    backend: str | None = None
    entity_type: str | None = None
    policy_revision: str | None = None
    record_type: str | None = None

    def with_record_type(self, record_type: str) -> RecordFilter:
        return replace(self, record_type=record_type)

    def audit_view(self) -> dict[str, str]:
        """The filter as written into an ``audit_query`` record: set fields only."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = format_ts(value) if isinstance(value, datetime) else str(value)
        return out

    def matches(self, record: dict[str, Any]) -> bool:
        since_ts = format_ts(self.since) if self.since is not None else None
        until_ts = format_ts(self.until) if self.until is not None else None
        if not _matches(
            record, since_ts, until_ts, self.tenant, self.action, self.record_type, self.entity_type
        ):
            return False
        principal = record.get("principal")
        if self.service is not None and (
            not isinstance(principal, dict) or principal.get("service") != self.service
        ):
            return False
        if self.backend is not None and record.get("backend") != self.backend:
            return False
        if self.policy_revision is not None:
            policy = record.get("policy")
            if not isinstance(policy, dict) or policy.get("revision") != self.policy_revision:
                return False
        return True


def search_records(
    store: AuditStore, flt: RecordFilter, *, after_seq: int = 0, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Matching records with ``seq > after_seq`` in seq order (each plus ``entry_hash``), lazily.

    ``after_seq`` is the cursor of the compliance API: the last seq of the previous page. With a
    cursor the scan starts at the cursor (``iter_rows``), so deep pages do not re-read the head of
    the log; the first page uses the store's indexed columns when it has them."""
    if limit is not None and limit <= 0:
        return
    rows: Iterator[StoredRow]
    if after_seq <= 0 and isinstance(store, QueryableStore):
        rows = store.select_rows(
            since_ts=format_ts(flt.since) if flt.since is not None else None,
            until_ts=format_ts(flt.until) if flt.until is not None else None,
            tenant=flt.tenant,
            action=flt.action,
            record_type=flt.record_type,
        )
    else:
        rows = store.iter_rows(max(after_seq, 0) + 1)
    found = 0
    for row in rows:
        if row.seq <= after_seq:
            continue
        record = json.loads(row.canon)
        if not flt.matches(record):
            continue
        record["entry_hash"] = row.entry_hash.hex()
        record["prev_hash"] = row.prev_hash.hex()
        yield record
        found += 1
        if limit is not None and found >= limit:
            return


def get_record(store: AuditStore, record_id: str) -> dict[str, Any] | None:
    """One record by ``record_id`` (with ``entry_hash`` and ``prev_hash``), or ``None``.

    Record ids are UUIDv7 (base.new_record_id): their first 48 bits are the Unix ms at which the
    store took the record, just before it stamped ``ts``. The indexed time column is searched in a
    window around that instant first; a full scan is the fallback (a store with an injected clock
    or a slow append)."""
    try:
        parsed = uuid.UUID(record_id)
    except ValueError:
        return None
    if isinstance(store, QueryableStore) and parsed.version == 7:
        ms = parsed.int >> 80
        at = datetime.fromtimestamp(ms / 1000, tz=UTC)
        window = store.select_rows(
            since_ts=format_ts(at - _ID_WINDOW),
            until_ts=format_ts(at + _ID_WINDOW),
            tenant=None,
            action=None,
            record_type=None,
        )
        found = _find_id(window, record_id)
        if found is not None:
            return found
    return _find_id(store.iter_rows(), record_id)


_ID_WINDOW = timedelta(seconds=30)


def _find_id(rows: Iterator[StoredRow], record_id: str) -> dict[str, Any] | None:
    for row in rows:
        if row.record_id == record_id:
            record: dict[str, Any] = json.loads(row.canon)
            record["entry_hash"] = row.entry_hash.hex()
            record["prev_hash"] = row.prev_hash.hex()
            return record
    return None


def chain_neighbours(store: AuditStore, seq: int) -> dict[str, dict[str, Any] | None]:
    """The rows just before and after ``seq`` in the chain, as link summaries (no content):
    ``{"previous": {seq, record_id, record_type, entry_hash} | None, "next": ... | None}``."""
    out: dict[str, dict[str, Any] | None] = {"previous": None, "next": None}
    for row in store.iter_rows(max(seq - 1, 1)):
        link = {
            "seq": row.seq,
            "record_id": row.record_id,
            "record_type": row.record_type,
            "entry_hash": row.entry_hash.hex(),
            "prev_hash": row.prev_hash.hex(),
        }
        if row.seq == seq - 1:
            out["previous"] = link
        elif row.seq == seq + 1:
            out["next"] = link
        if row.seq >= seq + 1:
            break
    return out


def record_stats(store: AuditStore, flt: RecordFilter) -> dict[str, Any]:
    """Counts over the decision records (one per request) that match ``flt``.

    ``by_day`` is ``{YYYY-MM-DD (UTC): {action: n}}``; ``by_action``, ``by_tenant``, ``by_service``
    count requests; ``by_entity_type`` and ``by_category`` count requests in which the type or data
    class was detected (not findings); ``left_premises`` counts ``external`` and
    ``external_scrubbed``; ``fail_closed`` counts refusals the router audited as a block after a
    dependency failed (policy id ``privacy_router.fail_closed``); ``detection_degraded`` counts
    decisions taken while the detector had failed or timed out (routed as if sensitive)."""
    decisions = flt.with_record_type("decision")
    by_day: dict[str, Counter[str]] = {}
    counters: dict[str, Counter[str]] = {
        k: Counter() for k in ("by_action", "by_tenant", "by_service", "by_entity_type", "by_category")
    }
    total = left = fail_closed = degraded = 0
    for record in search_records(store, decisions):
        total += 1
        action = str(record.get("action"))
        principal = record.get("principal") or {}
        by_day.setdefault(str(record.get("ts", ""))[:10], Counter())[action] += 1
        counters["by_action"][action] += 1
        counters["by_tenant"][str(principal.get("tenant"))] += 1
        counters["by_service"][str(principal.get("service"))] += 1
        for t in {e.get("type") for e in record.get("entities") or [] if isinstance(e, dict)}:
            counters["by_entity_type"][str(t)] += 1
        for c in set(record.get("categories") or []):
            counters["by_category"][str(c)] += 1
        if action in LEFT_PREMISES:
            left += 1
        if (record.get("policy") or {}).get("id") == FAIL_CLOSED_POLICY_ID:
            fail_closed += 1
        detection = (record.get("policy_input") or {}).get("detection") or {}
        if isinstance(detection, dict) and detection.get("status") not in (None, "ok"):
            degraded += 1
    return {
        "requests": total,
        "left_premises": left,
        "left_premises_share": round(left / total, 4) if total else 0.0,
        "blocked": counters["by_action"].get("block", 0),
        "fail_closed": fail_closed,
        "detection_degraded": degraded,
        "by_day": {day: dict(sorted(c.items())) for day, c in sorted(by_day.items())},
        **{k: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for k, c in counters.items()},
    }


def policy_timeline(store: AuditStore, flt: RecordFilter) -> list[dict[str, Any]]:
    """Which policy revision decided when: one entry per contiguous run of decisions under the
    same (revision, files_hash, engine), in seq order, with first/last ts and seq and a count."""
    runs: list[dict[str, Any]] = []
    for record in search_records(store, flt.with_record_type("decision")):
        policy = record.get("policy") or {}
        key = (policy.get("revision"), policy.get("files_hash"), policy.get("engine"))
        if runs and (runs[-1]["revision"], runs[-1]["files_hash"], runs[-1]["engine"]) == key:
            run = runs[-1]
        else:
            run = {
                "revision": key[0],
                "files_hash": key[1],
                "engine": key[2],
                "first_ts": record.get("ts"),
                "first_seq": record.get("seq"),
                "decisions": 0,
            }
            runs.append(run)
        run["last_ts"] = record.get("ts")
        run["last_seq"] = record.get("seq")
        run["decisions"] += 1
    return runs
