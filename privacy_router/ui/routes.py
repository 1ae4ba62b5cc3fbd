"""The dashboard's pages: server-rendered HTML over the same service functions as /v1/audit.

    GET  /ui/login, POST /ui/login, POST /ui/logout      sign-in with a compliance (or admin) key
    GET  /ui/overview      requests per day by route, share that left, entity types, blocks, by tenant/service
    GET  /ui/records       filterable, paginated table;  GET /ui/records/{id}  one record and its chain links
    GET  /ui/integrity     last verification;  POST /ui/integrity/verify  runs a full verification
    GET  /ui/policy        which policy revision decided when
    GET  /ui/economics     cost per route and backend, on-prem share, crossover (report/economics.py)
    GET  /ui/export        CSV / JSONL of the current filter (streamed)
    GET  /ui/static/...    the stylesheet, the page script and the vendored Chart.js

Guarantees, as for the API: only keys with the ``compliance`` or ``admin`` role; every page view
that reads records appends an ``audit_query`` record (surface ``ui``) before the page is sent, and
a page whose read cannot be audited is not shown (503). No page shows a raw value: records hold
none (audit/records.py), and Jinja2 autoescaping is on for every template.

Browser hardening: a strict Content-Security-Policy on every response (no inline script or style,
nothing from another origin), ``X-Frame-Options: DENY``, ``Referrer-Policy: same-origin``,
``Cache-Control: no-store``. Forms that change state carry a CSRF token bound to the session
(synchronizer token, OWASP CSRF Prevention Cheat Sheet) and are refused when ``Origin`` names
another site; the sign-in form uses a double-submit token because there is no session yet.

Dates in the filter are whole UTC days and both ends are inclusive (``from``/``to``), as an officer
reads them; they map to the API's ``since`` (inclusive) and ``until`` (exclusive) as
``since = from 00:00Z`` and ``until = to + 1 day 00:00Z``.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from privacy_router.api.audit import (
    FILTER_PARAMS,
    NotFound,
    count_matches,
    export_response,
    page_of_records,
    parse_filter,
    record_detail,
    record_query,
)
from privacy_router.audit.base import Anchor
from privacy_router.audit.checkpoints import CheckpointError
from privacy_router.audit.factory import default_origin
from privacy_router.audit.proofs import archive_name
from privacy_router.audit.query import RecordFilter, policy_timeline, record_stats, search_records
from privacy_router.auth.guard import AUDIT_ROLES
from privacy_router.errors import (
    AuditWriteError,
    BadRequest,
    Forbidden,
    RateLimited,
    RouterError,
    Unauthorized,
)
from privacy_router.gateway import Gateway
from privacy_router.report.commands import economics_report
from privacy_router.report.economics import EconomicsReport, chart_range, usd
from privacy_router.types import ACTIONS, Principal
from privacy_router.ui.evidence import (
    CheckpointView,
    InclusionView,
    anchor_of,
    archived_record,
    chain_status,
    inclusion,
    latest_checkpoints,
    verifier_for,
)
from privacy_router.ui.session import COOKIE, LOGIN_COOKIE, Session, SessionStore, same_token
from privacy_router.ui.shadow import ShadowSummary, shadow_summary
from privacy_router.ui.verify_job import (
    VerifyJob,
    VerifyJobs,
    full_verification,
    writer_rows,
    writer_verdicts,
)

router = APIRouter(prefix="/ui", include_in_schema=False)

CHART_JS_VERSION = "4.5.1"  # static/vendor/README.md
PAGE_SIZE = 50
DEFAULT_DAYS = 7
MAX_FORM_BYTES = 4096
# Route order on the chart and in tables: inside the premises first.
ROUTES: tuple[str, ...] = ("onprem", "external_scrubbed", "external", "block")
ROUTE_LABELS = {
    "onprem": "on-prem",
    "external_scrubbed": "external, scrubbed",
    "external": "external",
    "block": "blocked",
}
UI_FILTERS: tuple[str, ...] = (
    "from",
    "to",
    "tenant",
    "service",
    "action",
    "backend",
    "entity_type",
    "policy_revision",
    "record_type",
)

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # same-origin, not no-referrer: under no-referrer Chromium sends ``Origin: null`` on form posts,
    # which the Origin check must refuse; same-origin still sends nothing to other sites.
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cache-control": "no-store",
}

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("privacy_router.ui", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(route_labels=ROUTE_LABELS, routes=ROUTES, chart_js_version=CHART_JS_VERSION)
_env.filters["usd"] = usd

# Static files: a fixed allow-list read once, so no request path ever reaches the filesystem.
_STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_STATIC_FILES = ("dashboard.css", "dashboard.js", "favicon.svg", "vendor/chart.umd.min.js")


def _load_static() -> dict[str, tuple[bytes, str]]:
    base = resources.files("privacy_router.ui") / "static"
    out: dict[str, tuple[bytes, str]] = {}
    for name in _STATIC_FILES:
        data = (base / name).read_bytes()
        out[name] = (data, _STATIC_TYPES[name[name.rindex(".") :]])
    return out


_STATIC = _load_static()


# -- plumbing -------------------------------------------------------------------------------------


def _gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


def _sessions(request: Request) -> SessionStore:
    store = getattr(request.app.state, "ui_sessions", None)
    if not isinstance(store, SessionStore):
        store = SessionStore()
        request.app.state.ui_sessions = store
    return store


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(request_path=request.url.path, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def _session(request: Request) -> tuple[Session, Principal] | None:
    """The signed-in session, its key authenticated again now; None when there is none (or no longer)."""
    sessions = _sessions(request)
    session = sessions.get(request.cookies.get(COOKIE))
    if session is None:
        return None
    try:
        principal = await _gateway(request).auth.authenticate(
            {"authorization": f"Bearer {session.key}"}, AUDIT_ROLES
        )
    except (Unauthorized, Forbidden):
        sessions.drop(session.sid)
        return None
    return session, principal


def _same_origin(request: Request) -> bool:
    """``Origin`` (sent by browsers on every POST) must be this site when present."""
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body, small, one value per name (no python-multipart)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise BadRequest("form must be application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadRequest("form too large")
    try:
        parsed = parse_qs(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=16, strict_parsing=False
        )
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("form is not valid") from None
    return {k: v[0] for k, v in parsed.items() if v}


def ui_filter(params: Any, *, default_days: int | None = None) -> tuple[RecordFilter, dict[str, str]]:
    """The dashboard's filter (inclusive ``from``/``to`` days) as a RecordFilter, plus the form values.

    ``default_days`` fills an empty date range with the last N days including today."""
    values = {k: str(params.get(k, "") or "") for k in UI_FILTERS}
    if default_days is not None and not values["from"] and not values["to"]:
        today = datetime.now(UTC).date()
        values["from"] = (today - timedelta(days=default_days - 1)).isoformat()
        values["to"] = today.isoformat()
    api: dict[str, str] = {k: v for k, v in values.items() if k in FILTER_PARAMS and v}
    for name, key, shift in (("from", "since", 0), ("to", "until", 1)):
        if values[name]:
            try:
                day = date.fromisoformat(values[name])
            except ValueError:
                raise BadRequest(f"'{name}' must be a date (YYYY-MM-DD)", param=name) from None
            api[key] = (day + timedelta(days=shift)).isoformat()
    return parse_filter(api), values


def _query(values: dict[str, str], **extra: Any) -> str:
    return urlencode(
        {**{k: v for k, v in values.items() if v}, **{k: v for k, v in extra.items() if v is not None}}
    )


async def _audited(
    request: Request, principal: Principal, operation: str, flt: RecordFilter | None, work: Any
) -> Any:
    """Run ``work()`` (returns (result, rows)) and append its audit_query record, in a worker thread."""
    store = _gateway(request).audit

    def run() -> Any:
        result, rows = work()
        filters = flt.audit_view() if flt is not None else {}
        record_query(store, principal, surface="ui", operation=operation, filters=filters, rows=rows)
        return result

    return await run_in_threadpool(run)


def utcnow() -> datetime:
    """The page clock (a seam: the browser tests pin it to show an exact checkpoint age)."""
    return datetime.now(UTC)


def _checkpoints(gw: Gateway) -> tuple[list[CheckpointView], CheckpointView | None]:
    """Every origin's newest checkpoint, and the one of this gateway's own log (None: none yet).
    Blocking (file reads, signature checks): call it from a worker thread, never on the event loop."""
    settings = gw.settings.audit
    if settings.checkpoint_dir is None:
        return [], None
    views = latest_checkpoints(settings.checkpoint_dir, verifier_for(settings), utcnow())
    own = default_origin(settings)
    return views, next((v for v in views if v.origin == own), None)


def _page_error(request: Request, exc: RouterError, session: Session, principal: Principal) -> HTMLResponse:
    return render(
        request, "error.html", status=exc.status_code, message=exc.message, **_base(session, principal)
    )


# -- static ---------------------------------------------------------------------------------------


@router.get("/static/{name:path}")
async def static(name: str) -> Response:
    found = _STATIC.get(name)
    if found is None:
        return Response(b"not found", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS)
    data, media = found
    # Versioned by the package release; a day of caching is enough for an internal console.
    headers = {**SECURITY_HEADERS, "cache-control": "private, max-age=86400"}
    return Response(data, media_type=media, headers=headers)


# -- sign-in --------------------------------------------------------------------------------------


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    return _redirect("/ui/overview" if await _session(request) else "/ui/login")


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _login_page(request, None, 200)


def _login_page(request: Request, error: str | None, status: int) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", status=status, csrf=token, error=error, principal=None)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/ui",
        secure=_secure(request),
        max_age=900,
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    try:
        form = await _form(request)
    except BadRequest as exc:
        return _login_page(request, exc.message, 400)
    cookie_token = request.cookies.get(LOGIN_COOKIE)
    if not _same_origin(request) or not cookie_token or not same_token(cookie_token, form.get("csrf")):
        return _login_page(request, "the sign-in form expired; please try again", 403)
    key = form.get("key", "").strip()
    try:
        principal = await _gateway(request).auth.authenticate({"authorization": f"Bearer {key}"}, AUDIT_ROLES)
    except Unauthorized:
        return _login_page(request, "unknown key", 401)
    except Forbidden:
        return _login_page(request, "this key has no compliance role", 403)
    except RateLimited as exc:
        return _login_page(request, exc.message, 429)
    try:
        await run_in_threadpool(
            record_query,
            _gateway(request).audit,
            principal,
            surface="ui",
            operation="sign_in",
            filters={},
            rows=0,
        )
    except AuditWriteError as exc:
        return _login_page(request, exc.message, 503)
    session = _sessions(request).create(key, principal)
    response = _redirect("/ui/overview")
    response.set_cookie(
        COOKIE, session.sid, httponly=True, samesite="strict", path="/ui", secure=_secure(request)
    )
    response.delete_cookie(LOGIN_COOKIE, path="/ui")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    signed = await _session(request)
    if signed is not None:
        session, _ = signed
        form = await _form(request)
        if not _same_origin(request) or not same_token(session.csrf, form.get("csrf")):
            return _page_error(request, Forbidden("invalid form token"), session, signed[1])
        _sessions(request).drop(session.sid)
    response = _redirect("/ui/login")
    response.delete_cookie(COOKIE, path="/ui")
    return response


# -- pages ----------------------------------------------------------------------------------------

Page = Callable[[Request, Session, Principal], Awaitable[Response]]


def signed_in(handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """A page for a signed-in officer: no session redirects to sign-in, and a ``RouterError`` (bad
    filter, unauditable read, ...) becomes the error page with its status."""

    async def page(request: Request) -> Response:
        signed = await _session(request)
        if signed is None:
            return _redirect("/ui/login")
        session, principal = signed
        try:
            return await handler(request, session, principal)
        except RouterError as exc:
            return _page_error(request, exc, session, principal)

    # Not functools.wraps: FastAPI would read the handler's signature through __wrapped__.
    page.__name__ = handler.__name__
    page.__doc__ = handler.__doc__
    return page


async def _read(
    request: Request,
    principal: Principal,
    operation: str,
    work: Callable[[RecordFilter], tuple[Any, int]],
    *,
    default_days: int | None = None,
) -> tuple[Any, dict[str, str]]:
    """Parse the page's filter, run ``work(filter)`` (returns (result, rows)) in a worker thread and
    audit the read; returns the result and the filter's form values."""
    flt, values = ui_filter(request.query_params, default_days=default_days)
    result = await _audited(request, principal, operation, flt, lambda: work(flt))
    return result, values


def _base(session: Session, principal: Principal, values: dict[str, str] | None = None) -> dict[str, Any]:
    return {"principal": principal, "csrf": session.csrf, "values": values or {}, "actions": ACTIONS}


@router.get("/overview")
@signed_in
async def overview(request: Request, session: Session, principal: Principal) -> Response:
    store = _gateway(request).audit

    def work(flt: RecordFilter) -> tuple[dict[str, Any], int]:
        stats = record_stats(store, flt)
        return stats, int(stats["requests"])

    stats, values = await _read(request, principal, "ui.overview", work, default_days=DEFAULT_DAYS)
    days = _day_axis(values["from"], values["to"])
    chart = {
        "labels": days,
        "datasets": [
            {
                "label": ROUTE_LABELS[r],
                "route": r,
                "data": [stats["by_day"].get(d, {}).get(r, 0) for d in days],
            }
            for r in ROUTES
        ],
    }
    return render(
        request,
        "overview.html",
        **_base(session, principal, values),
        stats=stats,
        days=days,
        chart_json=json.dumps(chart, separators=(",", ":")),
        records_query=_query(values),
    )


def _day_axis(first: str, last: str) -> list[str]:
    """Every day of the range (bounded to 366), so a day without traffic shows as zero."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    if end < start:
        return []
    span = min((end - start).days, 365)
    return [(start + timedelta(days=i)).isoformat() for i in range(span + 1)]


@router.get("/records")
@signed_in
async def records(request: Request, session: Session, principal: Principal) -> Response:
    raw_cursor = request.query_params.get("cursor", "0")
    if not raw_cursor.isascii() or not raw_cursor.isdigit() or len(raw_cursor) > 12:
        raise BadRequest("'cursor' must be a record number", param="cursor")
    cursor = int(raw_cursor)
    store = _gateway(request).audit

    def work(flt: RecordFilter) -> tuple[tuple[list[dict[str, Any]], int | None], int]:
        page, next_cursor = page_of_records(store, flt, cursor, PAGE_SIZE)
        return (page, next_cursor), len(page)

    (page, next_cursor), values = await _read(request, principal, "ui.records", work)
    return render(
        request,
        "records.html",
        **_base(session, principal, values),
        rows=[_row(r) for r in page],
        cursor=cursor,
        next_url=f"/ui/records?{_query(values, cursor=next_cursor)}" if next_cursor is not None else None,
        first_url=f"/ui/records?{_query(values)}" if cursor else None,
        filter_query=_query(values),
    )


def _row(record: dict[str, Any]) -> dict[str, Any]:
    """The table's columns of one record (decision, completion or audit_query)."""
    principal = record.get("principal") or {}
    policy = record.get("policy") or {}
    return {
        "seq": record.get("seq"),
        "record_id": record.get("record_id"),
        "ts": str(record.get("ts", "")).replace("T", " ").rstrip("Z"),
        "record_type": record.get("record_type"),
        "tenant": principal.get("tenant"),
        "service": principal.get("service"),
        "endpoint": record.get("endpoint") or record.get("operation"),
        "model": record.get("model"),
        "action": record.get("action"),
        "backend": record.get("backend"),
        "region": record.get("backend_region"),
        "entity_types": sorted({str(e.get("type")) for e in record.get("entities") or []}),
        "policy_revision": policy.get("revision"),
        "fail_closed": policy.get("id") == "privacy_router.fail_closed",
        "outcome": record.get("outcome"),
        "status": record.get("status"),
        "latency_ms": record.get("latency_ms"),
        "rows": record.get("rows"),
    }


@router.get("/records/{record_id}")
@signed_in
async def record(request: Request, session: Session, principal: Principal) -> Response:
    record_id = request.path_params["record_id"]
    gw = _gateway(request)

    def work() -> tuple[dict[str, Any] | None, InclusionView | str | None, Anchor | None, bool]:
        detail = record_detail(gw.audit, record_id) if _is_uuid(record_id) else None
        anchor = anchor_of(gw.audit)
        archived = detail is None and anchor is not None and archived_record(gw.audit, anchor, record_id)
        proof = _proof(gw, int(detail["record"]["seq"]), anchor) if detail is not None else None
        record_query(
            gw.audit,
            principal,
            surface="ui",
            operation="ui.record",
            filters={},
            rows=0 if detail is None else 1,
            record_id=record_id if detail is not None else None,
        )
        return detail, proof, anchor, archived

    detail, proof, anchor, archived = await run_in_threadpool(work)
    if archived and anchor is not None:
        return render(
            request,
            "record_archived.html",
            **_base(session, principal),
            record_id=record_id,
            anchor=anchor,
            archive=archive_name(anchor),
        )
    if detail is None:
        raise NotFound("no audit record with this id")
    rec = detail["record"]
    chain = detail["chain"]
    # The first live record after an archive links to the anchor: the archive's last record.
    first_live = chain["previous"] is None and anchor is not None and rec["seq"] == anchor.seq + 1
    anchor_link = anchor if first_live else None
    if chain["previous"] is not None:
        previous_ok = chain["previous"]["entry_hash"] == rec["prev_hash"]
    elif anchor_link is not None:
        previous_ok = anchor_link.entry_hash.hex() == rec["prev_hash"]
    else:
        previous_ok = True  # seq 1 links to the genesis hash (verify.py checks it)
    links = {
        "previous": previous_ok,
        "next": chain["next"] is None or chain["next"]["prev_hash"] == rec["entry_hash"],
    }
    fields = {k: v for k, v in rec.items() if k not in ("entry_hash", "prev_hash")}
    return render(
        request,
        "record.html",
        **_base(session, principal),
        rec=rec,
        row=_row(rec),
        chain=chain,
        links=links,
        anchor=anchor_link,
        archive=archive_name(anchor_link) if anchor_link is not None else None,
        proof=proof if isinstance(proof, InclusionView) else None,
        proof_note=proof if isinstance(proof, str) else None,
        fields_json=json.dumps(fields, indent=2, sort_keys=True, ensure_ascii=False),
    )


def _proof(gw: Gateway, seq: int, anchor: Anchor | None) -> InclusionView | str | None:
    """The record's inclusion proof against this log's last checkpoint, or why there is none
    (None: checkpoints are not configured). Reads the live log up to the checkpoint (proofs.py);
    after an archive, from the anchor on (proofs.py ``prove_record``)."""
    if gw.settings.audit.checkpoint_dir is None:
        return None
    _, own = _checkpoints(gw)
    verifier = verifier_for(gw.settings.audit)
    if own is None:
        return "no checkpoint of this log has been written yet"
    if verifier is None:
        return "no signing key is configured, so the checkpoint cannot be checked"
    if seq > own.size:
        note = f"not yet covered: the last checkpoint covers records 1 to {own.size}"
        if anchor is not None and own.size <= anchor.seq:
            note += f", all archived (records 1 to {anchor.seq} are in {archive_name(anchor)})"
        return note
    try:
        return inclusion(gw.audit, own, verifier, seq)
    except CheckpointError as exc:
        return f"no proof: {exc.message}"


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _verify_jobs(request: Request) -> VerifyJobs:
    jobs = getattr(request.app.state, "ui_verify_jobs", None)
    if not isinstance(jobs, VerifyJobs):
        jobs = VerifyJobs()
        request.app.state.ui_verify_jobs = jobs
    return jobs


@router.get("/integrity")
@signed_in
async def integrity(request: Request, session: Session, principal: Principal) -> Response:
    gw = _gateway(request)
    jobs = _verify_jobs(request)
    wanted = request.query_params.get("job")
    job = (jobs.get(wanted) if wanted else None) or jobs.running()
    # The job's state first, then the last result: the job stores its result before it is marked
    # done, so a job seen done here has its result below. The other way round, a job that ends in
    # between leaves neither its progress nor its result on the page, and nothing left to poll.
    progress = job.progress() if job is not None else None
    last = getattr(request.app.state, "ui_last_verify", None)
    # Reading the files and checking each signature grows with the folder: off the event loop,
    # which also relays live completions.
    views, _ = await run_in_threadpool(_checkpoints, gw)
    return render(
        request,
        "integrity.html",
        **_base(session, principal),
        last=last,
        job=progress if progress is not None and progress["state"] != "done" else None,
        checkpoints=views,
        checkpoint_dir=gw.settings.audit.checkpoint_dir,
        store=type(getattr(gw.audit, "inner", gw.audit)).__name__,
    )


@router.post("/integrity/verify")
@signed_in
async def integrity_verify(request: Request, session: Session, principal: Principal) -> Response:
    """Start the full verification in the background and show the integrity page with its progress."""
    form = await _form(request)
    if not _same_origin(request) or not same_token(session.csrf, form.get("csrf")):
        raise Forbidden("invalid form token; reload the page and try again")
    gw = _gateway(request)
    store = gw.audit
    app_state = request.app.state

    def work(job: VerifyJob) -> dict[str, Any]:
        report = full_verification(store, job)
        views, _ = _checkpoints(gw)
        own = default_origin(gw.settings.audit)
        statuses = {v.origin: chain_status(v, store, own) for v in views}
        writers = writer_verdicts(writer_rows(store), report)
        record_query(store, principal, surface="ui", operation="ui.verify", filters={}, rows=report.records)
        result = {
            **asdict(report),
            "at": utcnow().strftime("%Y-%m-%d %H:%M:%S UTC"),
            "by": job.by,
            "seconds": round(time.perf_counter() - job.started, 3),
            "checkpoints": statuses,
            "writers": writers,
        }
        app_state.ui_last_verify = result
        return result

    job = _verify_jobs(request).start(f"{principal.service} ({principal.tenant})", work)
    return _redirect(f"/ui/integrity?job={job.id}")


@router.get("/integrity/verify/{job_id}")
async def integrity_progress(request: Request) -> Response:
    """The job's progress as JSON, for the page script (signed-in only; no record content)."""
    if await _session(request) is None:
        return _json({"error": "not signed in"}, 401)
    job = _verify_jobs(request).get(request.path_params["job_id"])
    if job is None:
        return _json({"error": "no such verification"}, 404)
    return _json(job.progress(), 200)


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(
        json.dumps(body), status_code=status, media_type="application/json", headers=SECURITY_HEADERS
    )


@router.get("/policy")
@signed_in
async def policy(request: Request, session: Session, principal: Principal) -> Response:
    store = _gateway(request).audit

    def work(flt: RecordFilter) -> tuple[tuple[list[dict[str, Any]], ShadowSummary], int]:
        runs = policy_timeline(store, flt)
        shadow = shadow_summary(search_records(store, flt.with_record_type("decision")))
        return (runs, shadow), sum(int(r["decisions"]) for r in runs)

    (runs, shadow), values = await _read(request, principal, "ui.policy", work)
    return render(
        request,
        "policy.html",
        **_base(session, principal, values),
        runs=runs,
        shadow=shadow,
        shadow_dir=_gateway(request).settings.policy.shadow_dir,
        loaded=_gateway(request).policy.info,
    )


ECONOMICS_POINTS = 50  # points per cost line on the economics chart


@router.get("/economics")
@signed_in
async def economics(request: Request, session: Session, principal: Principal) -> Response:
    """``privacy-router report economics`` for the date range: the same function computes it
    (report/commands.py ``economics_report``), audited as ``ui.economics`` with the CLI's row count."""
    gw = _gateway(request)
    dates = {k: request.query_params.get(k, "") for k in ("from", "to")}
    flt, values = ui_filter(dates, default_days=DEFAULT_DAYS)
    since, until = flt.since, flt.until  # parse_filter refused until <= since
    if since is None or until is None:
        raise BadRequest("give both 'from' and 'to' (or neither for the last 7 days)", param="from")

    def work() -> tuple[EconomicsReport, int]:
        report = economics_report(gw.audit, gw.settings, since, until)
        return report, report.totals.requests + report.blocked

    report: EconomicsReport = await _audited(request, principal, "ui.economics", flt, work)
    return render(
        request,
        "economics.html",
        **_base(session, principal, values),
        report=report,
        chart_json=json.dumps(_cost_chart(report), separators=(",", ":")),
    )


def _cost_chart(report: EconomicsReport) -> dict[str, Any]:
    """Daily cost of each option against daily volume, as ``write_chart`` draws it for the CLI."""
    cross = report.crossover
    top = chart_range(cross)
    xs = [top * i / ECONOMICS_POINTS for i in range(ECONOMICS_POINTS + 1)]
    series = [
        {"label": "hybrid at the observed mix", "points": [[x, cross.hybrid_cost(x)] for x in xs]},
    ]
    if cross.unit is not None:
        series.append(
            {
                "label": f"external share moved on-prem ({cross.unit})",
                "points": [[x, cross.onprem_cost(x)] for x in xs],
            }
        )
    # Points on the hybrid line: today's volume, and where the two lines cross.
    # One decimal, as the crossover's arithmetic prints the observed volume.
    marks = [(f"observed {cross.daily_requests:,.1f}/day", cross.daily_requests)]
    if cross.volume is not None:
        marks.append((f"crossover {cross.volume:,.0f}/day", cross.volume))
    marks_json = [{"label": label, "x": x, "y": cross.hybrid_cost(x)} for label, x in marks]
    return {"kind": "cost", "series": series, "marks": marks_json}


@router.get("/export")
@signed_in
async def export(request: Request, session: Session, principal: Principal) -> Response:
    flt, values = ui_filter(request.query_params)
    fmt = request.query_params.get("format")
    if fmt is None:
        return render(
            request, "export.html", **_base(session, principal, values), filter_query=_query(values)
        )
    if fmt not in ("csv", "jsonl"):
        raise BadRequest("format must be csv or jsonl", param="format")
    store = _gateway(request).audit

    def work() -> tuple[int, int]:
        count = count_matches(store, flt)
        return count, count

    count = await _audited(request, principal, f"ui.export.{fmt}", flt, work)
    response = export_response(store, flt, fmt, count)
    response.headers.update({k: v for k, v in SECURITY_HEADERS.items() if k != "cache-control"})
    return response
