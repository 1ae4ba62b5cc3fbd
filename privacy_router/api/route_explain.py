"""POST /v1/route/explain: where would this request go, and why? Nothing is forwarded.

The body is a chat (default), completions or embeddings request; ``?endpoint=completions`` or
``?endpoint=embeddings`` says which. The request runs the same steps as a real one up to the
decision (authenticate, parse, extract, detect, decide: ``pipeline.py``) and stops there: no
scrubbing, no backend call. The answer holds the detection summary (entity types, counts, field
paths, scores; never a detected value), the policy input, the decision with its reasons, the policy
identity, the shadow policy's verdict when one is set, and the HTTP status the real request would
get before reaching a backend (200, 403 blocked by policy, 503 policy unavailable). It is written to
the audit log as an ``explain`` record, so a security team can see who probed the policy.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from privacy_router.api.responses import error_response
from privacy_router.audit.records import decision_record, prompt_hmac
from privacy_router.errors import AuditWriteError, BadRequest, PolicyUnavailable, RouterError
from privacy_router.gateway import Gateway
from privacy_router.pipeline import (
    RequestContext,
    authenticate,
    build_policy_input,
    decide,
    detect,
    entity_summary,
    extract_step,
    parse,
)
from privacy_router.types import Decision

router = APIRouter()

# ?endpoint= value -> (pipeline endpoint, upstream path the real request would use)
ENDPOINTS: dict[str, tuple[str, str]] = {
    "chat": ("chat.completions", "/chat/completions"),
    "completions": ("completions", "/completions"),
    "embeddings": ("embeddings", "/embeddings"),
}
FAIL_CLOSED_POLICY_ID = "privacy_router.fail_closed"


@router.post("/v1/route/explain")
async def route_explain(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    name = request.query_params.get("endpoint", "chat")
    try:
        if name not in ENDPOINTS:
            raise BadRequest(
                "query parameter 'endpoint' must be chat, completions or embeddings", param="endpoint"
            )
        endpoint, upstream_path = ENDPOINTS[name]
        ctx = RequestContext(
            gw=gw,
            endpoint=endpoint,
            upstream_path=upstream_path,
            headers=request.headers,
            header_items=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
            raw_body=await request.body(),
        )
        for step in (authenticate, parse, extract_step, detect):
            await step(ctx)
        status, decision = await _decide(ctx)
        _audit(ctx, decision)
    except RouterError as exc:
        return error_response(exc)
    return JSONResponse(_explanation(ctx, decision, status), headers={"x-request-id": ctx.request_id})


async def _decide(ctx: RequestContext) -> tuple[int, Decision]:
    """The decision and the status the real request would get at this point."""
    try:
        await decide(ctx)
    except PolicyUnavailable as exc:
        if not ctx.policy_input:
            ctx.policy_input = build_policy_input(ctx)
        return 503, Decision("block", None, reasons=(exc.message,), policy_id=FAIL_CLOSED_POLICY_ID)
    decision = ctx.decision
    if decision is None:
        raise RouterError("pipeline order: decide left no decision")
    return (403 if decision.action == "block" else 200), decision


def _audit(ctx: RequestContext, decision: Decision) -> None:
    gw = ctx.gw
    if ctx.principal is None or ctx.detection is None or ctx.extraction is None:
        raise RouterError("pipeline order: explain needs principal, extraction and detection")
    backend = gw.backend(decision.backend)
    model = ctx.payload.get("model")
    record = decision_record(
        request_id=ctx.request_id,
        principal=ctx.principal,
        endpoint=ctx.endpoint,
        model=model if isinstance(model, str) else None,
        decision=decision,
        backend_region=backend.region if backend else None,
        policy=decision.policy_info or gw.policy.info,
        pack_versions=dict(gw.detector.pack_versions),
        entities=entity_summary(ctx.detection),
        categories=list(ctx.policy_input.get("detection", {}).get("categories", [])),
        unscannable_parts=len(ctx.extraction.unscannable),
        prompt_hmac=prompt_hmac(gw.hmac_key, [s.text for s in ctx.extraction.segments]),
        policy_input=ctx.policy_input,
        shadow=ctx.shadow,
        record_type="explain",
    )
    try:
        ctx.audit_id = gw.audit.append(record).record_id
    except AuditWriteError:
        raise
    except Exception as exc:  # an explain that cannot be audited is refused, like a request
        raise AuditWriteError("audit store unavailable") from exc


def _explanation(ctx: RequestContext, decision: Decision, status: int) -> dict[str, Any]:
    info = decision.policy_info or ctx.gw.policy.info
    detection = ctx.policy_input.get("detection", {})
    return {
        "object": "route.explanation",
        "request_id": ctx.request_id,
        "audit_id": ctx.audit_id,
        "endpoint": ctx.endpoint,
        "forwarded": False,
        "would_status": status,
        "detection": {
            "status": detection.get("status"),
            "categories": detection.get("categories", []),
            "entities": detection.get("entities", []),
            "unscannable_parts": ctx.policy_input.get("request", {}).get("unscannable_parts", 0),
        },
        "policy_input": ctx.policy_input,
        "decision": {
            "action": decision.action,
            "backend": decision.backend,
            "scrub_entities": list(decision.scrub_entities),
            "reasons": list(decision.reasons),
            "policy_id": decision.policy_id,
        },
        "policy": {
            "revision": info.revision,
            "files_hash": info.files_hash,
            "engine": info.engine,
            "decision_id": decision.decision_id,
        },
        "shadow": ctx.shadow,
    }
