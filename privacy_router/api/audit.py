"""The compliance API: read, count, verify and export the audit log (issue 6, "For compliance officers").

    GET /v1/audit/records            filtered records, cursor pagination by seq
    GET /v1/audit/records/{id}       one record, its hash and its neighbours in the chain
    GET /v1/audit/stats              counts by day, action, tenant, service, entity type, data class
    GET /v1/audit/verify             the whole chain recomputed; the first bad seq if any
    GET /v1/audit/export?format=csv|jsonl   streamed

Only keys with the ``compliance`` (or ``admin``) role; a client key gets 403 in the OpenAI error
shape. Every call is itself audited as an ``audit_query`` record (who, which filter, how many rows;
never record content), written BEFORE the answer is sent: if the store cannot take it the caller
gets 503 and no records, as for the request path (the read is not "free" just because it is a read).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from privacy_router.audit.base import RECORD_TYPES, AuditStore
from privacy_router.audit.query import (
    RecordFilter,
    chain_neighbours,
    get_record,
    record_stats,
    search_records,
)
from privacy_router.audit.records import audit_query_record
from privacy_router.audit.verify import VerifyReport, verify
from privacy_router.auth.guard import require_role
from privacy_router.errors import AuditWriteError, BadRequest, RouterError
from privacy_router.gateway import Gateway
from privacy_router.types import ACTIONS, Principal

router = APIRouter()

FILTER_PARAMS: tuple[str, ...] = (
    "since",
    "until",
    "tenant",
    "service",
    "action",
    "backend",
    "entity_type",
    "policy_revision",
    "record_type",
)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_MAX_VALUE = 128

# One row per record in CSV exports; nested fields flattened, lists joined with ';'.
CSV_COLUMNS: tuple[str, ...] = (
    "seq",
    "record_id",
    "ts",
    "record_type",
    "request_id",
    "tenant",
    "service",
    "endpoint",
    "model",
    "action",
    "backend",
    "backend_region",
    "policy_id",
    "policy_revision",
    "policy_files_hash",
    "entity_types",
    "categories",
    "status",
    "outcome",
    "latency_ms",
    "operation",
    "rows",
    "prev_hash",
    "entry_hash",
)


class NotFound(RouterError):
    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


# -- parsing --------------------------------------------------------------------------------------


def parse_time(value: str, name: str) -> datetime:
    """ISO 8601 date or date-time (``2026-11-01``, ``2026-11-01T09:00:00Z``); naive means UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            f"query parameter '{name}' must be an ISO 8601 date or date-time", param=name
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_filter(params: Mapping[str, str]) -> RecordFilter:
    """A ``RecordFilter`` from query parameters; a bad value is a 400 naming the parameter, not the value."""
    values: dict[str, Any] = {}
    for name in FILTER_PARAMS:
        raw = params.get(name)
        if raw is None or raw == "":
            continue
        if len(raw) > _MAX_VALUE:
            raise BadRequest(f"query parameter '{name}' is too long", param=name)
        values[name] = raw
    for name in ("since", "until"):
        if name in values:
            values[name] = parse_time(values[name], name)
    if "action" in values and values["action"] not in ACTIONS:
        raise BadRequest(f"query parameter 'action' must be one of {list(ACTIONS)}", param="action")
    if "record_type" in values and values["record_type"] not in RECORD_TYPES:
        raise BadRequest(
            f"query parameter 'record_type' must be one of {list(RECORD_TYPES)}", param="record_type"
        )
    flt = RecordFilter(**values)
    if flt.since is not None and flt.until is not None and flt.until <= flt.since:
        raise BadRequest("query parameter 'until' must be later than 'since'", param="until")
    return flt


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12 or not low <= int(raw) <= high:
        raise BadRequest(f"query parameter '{name}' must be an integer from {low} to {high}", param=name)
    return int(raw)


def _reject_unknown(params: Mapping[str, str], allowed: tuple[str, ...]) -> None:
    # A misspelt filter (``tennant=``) must not silently return every tenant's records.
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown query parameter(s); allowed: {', '.join(allowed)}", param="query")


# -- the audit of reads ---------------------------------------------------------------------------


def record_query(
    store: AuditStore,
    principal: Principal,
    *,
    surface: str,
    operation: str,
    filters: dict[str, Any],
    rows: int,
    record_id: str | None = None,
) -> str:
    """Append the ``audit_query`` record of one read; returns its request id. Raises AuditWriteError."""
    request_id = f"aq-{uuid.uuid4().hex}"
    record = audit_query_record(
        request_id=request_id,
        principal=principal,
        surface=surface,
        operation=operation,
        filters=filters,
        rows=rows,
        record_id=record_id,
    )
    try:
        store.append(record)
    except AuditWriteError:
        raise
    except Exception as exc:
        raise AuditWriteError("audit store unavailable") from exc
    return request_id


async def compliance_principal(request: Request) -> Principal:
    """401 without a known key, 403 for a key without ``compliance`` or ``admin`` (auth/guard.py)."""
    return await require_role(request, "compliance")


def _gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


# -- service functions (shared with the dashboard) ------------------------------------------------


def page_of_records(
    store: AuditStore, flt: RecordFilter, cursor: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """One page: up to ``limit`` records after ``cursor`` and the next cursor (None on the last page)."""
    found = list(search_records(store, flt, after_seq=cursor, limit=limit + 1))
    page = found[:limit]
    next_cursor = int(page[-1]["seq"]) if len(found) > limit else None
    return page, next_cursor


def record_detail(store: AuditStore, record_id: str) -> dict[str, Any] | None:
    record = get_record(store, record_id)
    if record is None:
        return None
    return {"record": record, "chain": chain_neighbours(store, int(record["seq"]))}


def run_verify(store: AuditStore) -> VerifyReport:
    """The store's own full check when it has one (SQLite adds PRAGMA integrity_check), else the chain."""
    own = getattr(store, "verify", None)
    if callable(own):
        report = own()
        if isinstance(report, VerifyReport):
            return report
    return verify(store.iter_rows())


def count_matches(store: AuditStore, flt: RecordFilter) -> int:
    return sum(1 for _ in search_records(store, flt))


def csv_row(record: dict[str, Any]) -> list[str]:
    principal = record.get("principal") or {}
    policy = record.get("policy") or {}
    values: dict[str, Any] = {
        **{k: record.get(k) for k in CSV_COLUMNS},
        "tenant": principal.get("tenant"),
        "service": principal.get("service"),
        "policy_id": policy.get("id"),
        "policy_revision": policy.get("revision"),
        "policy_files_hash": policy.get("files_hash"),
        "entity_types": ";".join(sorted({str(e.get("type")) for e in record.get("entities") or []})),
        "categories": ";".join(record.get("categories") or []),
    }
    return [_csv_cell(values[c]) for c in CSV_COLUMNS]


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # CSV/formula injection (OWASP "CSV Injection"): a cell a spreadsheet would evaluate is quoted.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def export_lines(store: AuditStore, flt: RecordFilter, fmt: str, count: int) -> Iterator[bytes]:
    """The export body, lazily. ``count`` is the number of matches counted (and audited) before the
    stream started; the log only grows and records never change, so the first ``count`` matches now
    are exactly those, and records appended meanwhile are not included."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")  # RFC 4180 line ends
        writer.writerow(CSV_COLUMNS)
        yield buf.getvalue().encode()
        for record in search_records(store, flt, limit=count):
            buf.seek(0)
            buf.truncate()
            writer.writerow(csv_row(record))
            yield buf.getvalue().encode()
    else:
        for record in search_records(store, flt, limit=count):
            yield json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


# -- routes ---------------------------------------------------------------------------------------


@router.get("/v1/audit/records")
async def list_records(request: Request) -> Response:
    principal = await compliance_principal(request)
    params = request.query_params
    _reject_unknown(params, (*FILTER_PARAMS, "cursor", "limit"))
    flt = parse_filter(params)
    cursor = _int_param(params, "cursor", 0, 0, 2**53)
    limit = _int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    store = _gateway(request).audit

    def work() -> tuple[list[dict[str, Any]], int | None]:
        page, next_cursor = page_of_records(store, flt, cursor, limit)
        record_query(
            store,
            principal,
            surface="api",
            operation="records",
            filters={**flt.audit_view(), "cursor": cursor, "limit": limit},
            rows=len(page),
        )
        return page, next_cursor

    page, next_cursor = await run_in_threadpool(work)
    return JSONResponse(
        {"object": "list", "data": page, "has_more": next_cursor is not None, "next_cursor": next_cursor}
    )


@router.get("/v1/audit/records/{record_id}")
async def show_record(request: Request, record_id: str) -> Response:
    principal = await compliance_principal(request)
    _reject_unknown(request.query_params, ())
    store = _gateway(request).audit
    try:
        uuid.UUID(record_id)
    except ValueError:
        raise NotFound("no audit record with this id") from None

    def work() -> dict[str, Any] | None:
        detail = record_detail(store, record_id)
        record_query(
            store,
            principal,
            surface="api",
            operation="record",
            filters={},
            rows=0 if detail is None else 1,
            record_id=record_id,
        )
        return detail

    detail = await run_in_threadpool(work)
    if detail is None:
        raise NotFound("no audit record with this id")
    return JSONResponse(detail)


@router.get("/v1/audit/stats")
async def stats(request: Request) -> Response:
    principal = await compliance_principal(request)
    params = request.query_params
    _reject_unknown(params, FILTER_PARAMS)
    flt = parse_filter(params)
    store = _gateway(request).audit

    def work() -> dict[str, Any]:
        result = record_stats(store, flt)
        record_query(
            store,
            principal,
            surface="api",
            operation="stats",
            filters=flt.audit_view(),
            rows=result["requests"],
        )
        return result

    result = await run_in_threadpool(work)
    return JSONResponse({"object": "audit.stats", "filters": flt.audit_view(), **result})


@router.get("/v1/audit/verify")
async def verify_chain(request: Request) -> Response:
    principal = await compliance_principal(request)
    _reject_unknown(request.query_params, ())
    store = _gateway(request).audit

    def work() -> VerifyReport:
        report = run_verify(store)
        record_query(store, principal, surface="api", operation="verify", filters={}, rows=report.records)
        return report

    report = await run_in_threadpool(work)
    return JSONResponse({"object": "audit.verification", **asdict(report)})


@router.get("/v1/audit/export")
async def export(request: Request) -> Response:
    principal = await compliance_principal(request)
    params = request.query_params
    _reject_unknown(params, (*FILTER_PARAMS, "format"))
    fmt = params.get("format", "jsonl")
    if fmt not in ("csv", "jsonl"):
        raise BadRequest("query parameter 'format' must be csv or jsonl", param="format")
    flt = parse_filter(params)
    store = _gateway(request).audit

    def work() -> int:
        count = count_matches(store, flt)
        record_query(
            store, principal, surface="api", operation=f"export.{fmt}", filters=flt.audit_view(), rows=count
        )
        return count

    count = await run_in_threadpool(work)
    return export_response(store, flt, fmt, count)


def export_response(store: AuditStore, flt: RecordFilter, fmt: str, count: int) -> StreamingResponse:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    return StreamingResponse(
        # A sync iterator: Starlette iterates it in its thread pool (iterate_in_threadpool), so the
        # blocking store reads never stall the event loop.
        export_lines(store, flt, fmt, count),
        media_type=media,
        headers={
            "content-disposition": f'attachment; filename="audit-{stamp}.{fmt}"',
            "x-audit-rows": str(count),
        },
    )
