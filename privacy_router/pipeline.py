"""The request path, as a list of small named steps with one signature.

    authenticate -> parse -> extract -> detect -> decide -> transform -> audit_decision
        -> forward -> audit_outcome

Each step takes the per-request ``RequestContext`` and fills in its part. Stopping early is an
exception: ``RequestBlocked`` (the policy said block) is control flow, documented as such; every
other ``RouterError`` is a refusal with its own status. ``forward`` and ``audit_outcome`` live in
``api/proxy.py`` because their shape depends on streaming; everything before them is here, and is
identical for every endpoint.

Invariants kept by this module (each has a test):
- nothing reaches a backend before ``audit_decision`` has committed the decision record;
- a detector failure or timeout is reported to the policy as ``status: error|timeout`` (which
  the policy treats as sensitive), never as "clean";
- a policy failure, or an output that breaks the contract, blocks (503), never routes out;
- after scrubbing, the payload that would leave is scanned again, and any finding of a scrubbed
  type fails the request closed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from privacy_router import metrics, strictjson, tracing
from privacy_router.audit.records import decision_record, prompt_hmac
from privacy_router.auth.guard import MODEL_ROLES
from privacy_router.config import BackendSettings
from privacy_router.errors import (
    AuditWriteError,
    BadRequest,
    DetectionError,
    PolicyUnavailable,
    RequestBlocked,
    RouterError,
    ScrubError,
)
from privacy_router.extract import extract
from privacy_router.gateway import Gateway
from privacy_router.policy.base import PolicyEngine
from privacy_router.policy.failure import failure_decision
from privacy_router.transform.scrub import scrub
from privacy_router.transform.vault import Vault
from privacy_router.types import Decision, DetectionResult, Extraction, Finding, Principal
from privacy_router.upstream.base import Backend

log = structlog.get_logger("privacy_router.pipeline")

# Client hints, strictest first. A hint can only make routing stricter (DESIGN.md invariants).
CLASSIFICATION_HEADER = "x-data-classification"
_HINT_RANK = {"credentials": 6, "pci": 5, "phi": 4, "confidential": 3, "pii": 2, "internal": 1, "public": 0}

# Parameters that make a backend return raw tokens or echo the prompt. On the scrubbed route those
# would show placeholders (or, restored, bypass the per-field restore), so they are not forwarded
# and the answer carries no logprobs (protocol.md §7).
_TOKEN_LEVEL_PARAMS = (
    "logprobs",
    "top_logprobs",
    "echo",
    "prompt_logprobs",
    "return_token_ids",
    "return_prompt_text",
)

# Which endpoint needs which top-level field, and what type it must have.
_REQUIRED: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "chat.completions": ("messages", list),
    "completions": ("prompt", (str, list)),
    "embeddings": ("input", (str, list)),
    "messages": ("messages", list),
}


@dataclass
class RequestContext:
    gw: Gateway
    endpoint: str  # "chat.completions" | "completions" | "embeddings"
    upstream_path: str  # "/chat/completions", relative to a backend's /v1
    headers: Mapping[str, str]
    header_items: list[tuple[str, str]]
    raw_body: bytes
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.perf_counter)
    principal: Principal | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    declared_classification: str | None = None
    extraction: Extraction | None = None
    detection: DetectionResult | None = None
    policy_input: dict[str, Any] = field(default_factory=dict)
    decision: Decision | None = None
    backend: Backend | None = None
    vault: Vault | None = None
    forward_payload: dict[str, Any] = field(default_factory=dict)
    audit_id: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Every upstream attempt when forward retried or failed over (api/proxy.py, upstream/pool.py).
    attempts: list[dict[str, Any]] = field(default_factory=list)
    # Shadow policy's verdict on this request (policy/lifecycle.py ShadowPolicy), when one is set.
    shadow: dict[str, Any] | None = None

    @property
    def stream(self) -> bool:
        return bool(self.payload.get("stream"))

    @property
    def route(self) -> str:
        if self.decision is None:
            return "blocked"
        return "blocked" if self.decision.action == "block" else self.decision.action

    def entity_types(self) -> list[str]:
        if self.detection is None:
            return []
        return sorted({f.entity_type for _, f in self.detection.all_findings()})


Step = Callable[[RequestContext], Awaitable[None]]


async def authenticate(ctx: RequestContext) -> None:
    """API key -> principal with a model-calling role, within its rate limits (auth/guard.py)."""
    ctx.principal = await ctx.gw.auth.authenticate(ctx.headers, MODEL_ROLES)


async def parse(ctx: RequestContext) -> None:
    payload = strictjson.loads(ctx.raw_body)
    if not isinstance(payload, dict):
        raise BadRequest("request body must be a JSON object")
    required, kind = _REQUIRED[ctx.endpoint]
    if required not in payload:
        raise BadRequest(f"missing required field '{required}'", param=required)
    if not isinstance(payload[required], kind):
        raise BadRequest(f"field '{required}' has the wrong type", param=required)
    if "stream" in payload and not isinstance(payload["stream"], bool):
        raise BadRequest("field 'stream' must be a boolean", param="stream")
    if "model" in payload and not isinstance(payload["model"], str):
        raise BadRequest("field 'model' must be a string", param="model")
    ctx.payload = payload
    ctx.declared_classification = _strictest_hint(ctx.header_items)


def _strictest_hint(header_items: list[tuple[str, str]]) -> str | None:
    """Every spelling and every duplicate of the classification header is read; the strictest wins."""
    best: str | None = None
    for name, value in header_items:
        if name.lower().replace("_", "-") != CLASSIFICATION_HEADER:
            continue
        for part in value.split(","):
            hint = part.strip().lower()
            # An unknown label is not "public": treat it as confidential.
            rank = _HINT_RANK.get(hint, _HINT_RANK["confidential"])
            label = hint if hint in _HINT_RANK else "confidential"
            if best is None or rank > _HINT_RANK[best]:
                best = label
    return best


async def extract_step(ctx: RequestContext) -> None:
    ctx.extraction = extract(ctx.endpoint, ctx.payload)


async def detect(ctx: RequestContext) -> None:
    extraction = ctx.extraction
    if extraction is None:
        raise RouterError("pipeline order: extract must run before detect")
    texts = [s.text for s in extraction.segments]
    t0 = time.perf_counter()
    status: Literal["ok", "error", "timeout"] = "ok"
    results: list[list[Finding]] = []
    # Past server.max_pending_detections this raises Overloaded (503): shed, not queued (admission.py).
    with ctx.gw.admission.slot():
        try:
            results = await _analyze(ctx, texts)
        except TimeoutError:
            status = "timeout"
        except Exception:
            # Detector failure means "sensitive": the policy sees status != ok (fail closed).
            status = "error"
    elapsed = time.perf_counter() - t0
    ctx.gw.admission.observe(elapsed)
    ctx.timings_ms["detect"] = elapsed * 1000
    metrics.STEP_SECONDS.labels(step="detect").observe(elapsed)
    if status != "ok":
        metrics.FAIL_CLOSED.labels(reason=f"detection_{status}").inc()
        log.warning("detection_failed", request_id=ctx.request_id, status=status)
    findings = {seg.path: fs for seg, fs in zip(extraction.segments, results, strict=False) if fs}
    ctx.detection = DetectionResult(
        findings=findings, status=status, pack_versions=dict(ctx.gw.detector.pack_versions)
    )


async def _analyze(ctx: RequestContext, texts: list[str]) -> list[list[Finding]]:
    if not texts:
        return []
    # Cache, then worker processes or a thread (Gateway.analyze); the cache is per tenant.
    tenant = ctx.principal.tenant if ctx.principal is not None else ""
    results = await ctx.gw.analyze(texts, tenant)
    if len(results) != len(texts):
        raise DetectionError("detector returned a result of the wrong length")
    return results


def entity_summary(detection: DetectionResult) -> list[dict[str, Any]]:
    by_type: dict[str, dict[str, Any]] = {}
    for path, f in detection.all_findings():
        e = by_type.setdefault(
            f.entity_type, {"type": f.entity_type, "count": 0, "max_score": 0.0, "fields": []}
        )
        e["count"] += 1
        e["max_score"] = round(max(e["max_score"], f.score), 4)
        if path not in e["fields"]:
            e["fields"].append(path)
    return [by_type[k] for k in sorted(by_type)]


def build_policy_input(ctx: RequestContext) -> dict[str, Any]:
    principal = ctx.principal
    detection = ctx.detection
    extraction = ctx.extraction
    if principal is None or detection is None or extraction is None:
        raise RouterError("pipeline order: policy input needs principal, extraction and detection")
    entities = entity_summary(detection)
    gw = ctx.gw
    return {
        "principal": principal.policy_view(),
        "request": {
            "endpoint": ctx.endpoint,
            "model": ctx.payload.get("model"),
            "stream": ctx.stream,
            "unscannable_parts": len(extraction.unscannable),
            "declared_classification": ctx.declared_classification,
            # Contract v2 (policies/README.md): request size, for cost and long-context routing.
            "estimated_input_tokens": estimated_tokens(s.text for s in extraction.segments),
            "tool_count": len(tools) if isinstance(tools := ctx.payload.get("tools"), list) else 0,
        },
        "detection": {
            "status": detection.status,
            "categories": gw.detector.categories(e["type"] for e in entities),
            "entities": entities,
        },
        "backends": {
            "onprem": [
                {
                    "name": b.name,
                    "region": b.region,
                    "healthy": gw.health.healthy(b.name),
                    "models": list(_backend_settings(b).model_names),
                    **backend_economics(gw, b),
                }
                for b in gw.onprem
            ],
            "external": [
                {
                    "name": b.name,
                    "region": b.region,
                    "zero_data_retention": _backend_settings(b).zero_data_retention,
                    "healthy": gw.health.healthy(b.name),
                    **backend_economics(gw, b),
                }
                for b in gw.external
            ],
        },
    }


def estimated_tokens(texts: Iterable[str]) -> int:
    """A cheap input-token estimate: ceil(characters / 4) over every scanned text (OpenAI's rule of
    thumb for English with its BPE tokenizers); no tokenizer is loaded on the request path."""
    return math.ceil(sum(len(t) for t in texts) / 4)


def backend_economics(gw: Gateway, backend: Backend) -> dict[str, Any]:
    """Contract v2 per-backend keys: configured price (null when unpriced), the gateway's own
    latency window and the requests outstanding at this backend (upstream/stats.py)."""
    pricing = _backend_settings(backend).pricing
    return {
        "price": pricing.model_dump() if pricing is not None else None,
        "latency_ms": gw.stats.latency(backend.name),
        "load": {"outstanding": gw.stats.outstanding(backend.name)},
    }


def _backend_settings(backend: Backend) -> BackendSettings:
    settings = getattr(backend, "settings", None)
    if not isinstance(settings, BackendSettings):
        raise RouterError("backend adapter exposes no BackendSettings")
    return settings


async def evaluate_policy(engine: PolicyEngine, policy_input: dict[str, Any]) -> Decision:
    """One evaluation; any failure is ``PolicyUnavailable``. An engine doing network I/O (OPA)
    runs in a worker thread so its deadline never stalls the event loop."""
    try:
        if getattr(engine, "blocking_io", False):
            return await asyncio.to_thread(engine.evaluate, policy_input)
        return engine.evaluate(policy_input)
    except PolicyUnavailable:
        raise
    except Exception as exc:  # any other engine failure is the same as "unavailable"
        raise PolicyUnavailable("policy evaluation failed") from exc


async def decide(ctx: RequestContext) -> None:
    ctx.policy_input = build_policy_input(ctx)
    engine = ctx.gw.policy
    t0 = time.perf_counter()
    try:
        decision = await evaluate_policy(engine, ctx.policy_input)
    except PolicyUnavailable:
        metrics.FAIL_CLOSED.labels(reason="policy").inc()
        # The active policy's declared failure action (policy/failure.py): on-prem or block.
        fallback = failure_decision(getattr(engine, "failure_action", "block"), ctx.policy_input)
        if fallback is None:
            raise
        log.warning("policy_failure_action_onprem", request_id=ctx.request_id, backend=fallback.backend)
        decision = dataclasses.replace(fallback, policy_info=engine.info)
    finally:
        elapsed = time.perf_counter() - t0
        ctx.timings_ms["policy"] = elapsed * 1000
        metrics.STEP_SECONDS.labels(step="policy").observe(elapsed)
    if ctx.gw.shadow is not None:
        ctx.shadow = ctx.gw.shadow.compare(ctx.policy_input, decision)
    ctx.decision = decision
    if decision.action != "block":
        backend = ctx.gw.backend(decision.backend)
        if backend is None:
            raise PolicyUnavailable("policy chose a backend that is not configured")
        # Defence in depth: the kind of backend must match the action, whatever the policy says.
        if (decision.action == "onprem") != ctx.gw.is_onprem(backend):
            raise PolicyUnavailable("policy chose a backend of the wrong kind for its action")
        ctx.backend = backend


async def transform(ctx: RequestContext) -> None:
    decision = ctx.decision
    if decision is None or decision.action == "block":
        return
    payload = dict(ctx.payload)
    if decision.action == "onprem":
        payload["model"] = onprem_model(ctx, ctx.backend)
    elif ctx.backend is not None:
        offered = _backend_settings(ctx.backend).model_names
        # `model` is not scanned (it routes), so only a model the external backend offers may
        # travel in it: a client cannot smuggle a value out through the model name.
        if offered and payload.get("model") not in offered:
            raise BadRequest(
                "model is not offered by the external backend chosen for this request", param="model"
            )
    if decision.action == "external_scrubbed":
        t0 = time.perf_counter()
        extraction, detection = ctx.extraction, ctx.detection
        if extraction is None or detection is None:
            raise RouterError("pipeline order: transform needs extraction and detection")
        ctx.vault = Vault([s.text for s in extraction.segments])
        payload = scrub(payload, extraction, detection.findings, decision.scrub_entities, ctx.vault)
        for name in _TOKEN_LEVEL_PARAMS:
            payload.pop(name, None)
        await _rescan(ctx, payload, decision.scrub_entities)
        ctx.timings_ms["scrub"] = (time.perf_counter() - t0) * 1000
    ctx.forward_payload = payload


def onprem_model(ctx: RequestContext, backend: Backend | None) -> str:
    """The on-prem model that serves this request on ``backend``: the requested one if the backend
    serves it (or an alias of it), else the configured mapping, else the backend's first model."""
    requested = ctx.payload.get("model")
    served = _backend_settings(backend).model_names if backend else ()
    if isinstance(requested, str) and requested in served:
        return requested
    mapped = ctx.gw.settings.model_map.get(requested or "")
    if mapped:
        return mapped
    if served:
        return served[0]
    return requested if isinstance(requested, str) else ""


async def _rescan(ctx: RequestContext, payload: dict[str, Any], scrubbed_types: tuple[str, ...]) -> None:
    """Scan what will leave; any residual finding of a scrubbed type fails closed."""
    extraction = extract(ctx.endpoint, payload)
    try:
        results = await _analyze(ctx, [s.text for s in extraction.segments])
    except Exception as exc:
        metrics.FAIL_CLOSED.labels(reason="rescan").inc()
        raise ScrubError("could not verify the scrubbed request") from exc
    minted = set(ctx.vault.placeholders) if ctx.vault else set()
    for seg, findings in zip(extraction.segments, results, strict=False):
        for f in findings:
            if seg.text[f.start : f.end] in minted:
                continue
            # Anything still detected after scrubbing means the scrubber missed a value; even a
            # type the policy did not list is not sent out (never trade a leak for availability).
            metrics.FAIL_CLOSED.labels(reason="residual_finding").inc()
            log.warning("residual_finding", request_id=ctx.request_id, entity_type=f.entity_type)
            raise ScrubError("residual sensitive value after scrubbing; request not forwarded")
    if extraction.unscannable:
        raise ScrubError("scrubbed request still has unscannable parts; request not forwarded")
    del scrubbed_types


async def audit_decision(ctx: RequestContext) -> None:
    """Write-ahead: the decision record is durable before anything is forwarded."""
    decision = ctx.decision
    if decision is None:
        raise RouterError("pipeline order: audit_decision needs a decision")
    record_decision(ctx, decision)
    if decision.action == "block":
        metrics.DECISIONS.labels(action="block").inc()
        raise RequestBlocked("request blocked by policy", reasons=list(decision.reasons))
    metrics.DECISIONS.labels(action=decision.action).inc()


def record_decision(ctx: RequestContext, decision: Decision) -> None:
    gw = ctx.gw
    principal = ctx.principal
    if principal is None or ctx.detection is None or ctx.extraction is None:
        raise RouterError("pipeline order: record_decision needs principal, extraction, detection")
    backend = gw.backend(decision.backend)
    record = decision_record(
        request_id=ctx.request_id,
        principal=principal,
        endpoint=ctx.endpoint,
        model=ctx.payload.get("model") if isinstance(ctx.payload.get("model"), str) else None,
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
    )
    t0 = time.perf_counter()
    try:
        receipt = gw.audit.append(record)
    except AuditWriteError:
        metrics.FAIL_CLOSED.labels(reason="audit").inc()
        raise
    except Exception as exc:
        metrics.FAIL_CLOSED.labels(reason="audit").inc()
        raise AuditWriteError("audit store unavailable") from exc
    finally:
        elapsed = time.perf_counter() - t0
        ctx.timings_ms["audit"] = elapsed * 1000
        metrics.STEP_SECONDS.labels(step="audit").observe(elapsed)
    ctx.audit_id = receipt.record_id


def record_failed_decision(ctx: RequestContext, reason: str) -> None:
    """Best effort: a request refused by a fail-closed error is audited as a block when possible."""
    if ctx.principal is None or ctx.extraction is None or ctx.detection is None:
        return
    if not ctx.policy_input:
        ctx.policy_input = build_policy_input(ctx)
    blocked = Decision(
        action="block", backend=None, reasons=(reason,), policy_id="privacy_router.fail_closed"
    )
    ctx.decision = blocked
    try:
        record_decision(ctx, blocked)
    except Exception:
        log.error("audit_failed_for_refusal", request_id=ctx.request_id)


PRE_FORWARD: list[Step] = [authenticate, parse, extract_step, detect, decide, transform, audit_decision]


async def run_until_forward(ctx: RequestContext) -> None:
    """Run every step before forward. Raises RouterError subclasses to stop (see module doc)."""
    try:
        for step in PRE_FORWARD:
            name = step.__name__.removesuffix("_step")
            with tracing.span(f"privacy_router.{name}", request_id=ctx.request_id) as span:
                await step(ctx)
                span.update(tracing.context_attributes(ctx))
    except RequestBlocked:
        raise
    except RouterError as exc:
        # Refused after detection (policy failure, scrub failure, a model the backend does not
        # offer): the refusal itself is audited. Earlier refusals (401, 400) have nothing to record.
        if ctx.audit_id is None:
            record_failed_decision(ctx, exc.message)
        raise
