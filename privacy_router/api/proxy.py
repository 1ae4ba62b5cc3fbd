"""The service function behind every proxied endpoint: run the pipeline, forward, audit the outcome.

``forward`` and ``audit_outcome`` are the last two pipeline steps (see pipeline.py); they live here
because a streamed answer finishes long after the handler has returned its response object.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import structlog
from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from privacy_router import metrics
from privacy_router.api.responses import error_body, error_response
from privacy_router.audit.records import completion_record
from privacy_router.errors import BadRequest, RequestBlocked, RouterError, UpstreamError
from privacy_router.gateway import Gateway
from privacy_router.pipeline import RequestContext, authenticate, run_until_forward
from privacy_router.transform.restore import restore_response
from privacy_router.transform.stream import AnthropicSSERestorer, SSERestorer
from privacy_router.types import Principal
from privacy_router.upstream import translate
from privacy_router.upstream.base import UpstreamStream

log = structlog.get_logger("privacy_router.proxy")


def _route_headers(ctx: RequestContext) -> dict[str, str]:
    headers = {"x-request-id": ctx.request_id, "x-privacy-route": ctx.route}
    if ctx.audit_id:
        headers["x-privacy-audit-id"] = ctx.audit_id
    return headers


async def handle(request: Request, endpoint: str, upstream_path: str, surface: str = "openai") -> Response:
    """Run one proxied request. ``surface`` is the client's wire format (``openai`` or
    ``anthropic``): it decides the shape of error bodies and in-band stream errors."""
    gw: Gateway = request.app.state.gateway
    ctx = RequestContext(
        gw=gw,
        endpoint=endpoint,
        upstream_path=upstream_path,
        headers=request.headers,
        header_items=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
        raw_body=await request.body(),
    )
    try:
        await run_until_forward(ctx)
    except RouterError as exc:
        _finish_log(ctx, exc.status_code, "refused" if not isinstance(exc, RequestBlocked) else "blocked")
        return _for_surface(surface, error_response(exc, _route_headers(ctx)))
    try:
        wire = _wire(ctx)
    except RouterError as exc:
        # Decided and audited, but this backend cannot carry the request (e.g. n > 1 to Anthropic).
        _audit_outcome(ctx, exc.status_code, "rejected", time.perf_counter(), None)
        return _for_surface(surface, error_response(exc, _route_headers(ctx)))
    if ctx.stream:
        return _for_surface(surface, await _forward_stream(ctx, wire, surface))
    return _for_surface(surface, await _forward(ctx, wire))


@dataclass(frozen=True)
class Wire:
    """What actually goes to the backend, and how its answer comes back to the client's format.

    Scrubbing and restoring always work on the client's format; translation sits between them and
    the backend (upstream/translate.py)."""

    path: str
    payload: dict[str, Any]
    response: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    stream: Callable[[], StreamStage] | None = None


def _wire(ctx: RequestContext) -> Wire:
    backend = ctx.backend
    if backend is None:
        raise RouterError("pipeline order: forward needs a backend")
    payload = ctx.forward_payload
    if ctx.endpoint == "messages" and backend.kind != "anthropic":
        return Wire(
            "/chat/completions",
            translate.chat_request_from_messages(payload),
            lambda body: translate.messages_response_from_chat(body, None),
            lambda: translate.ChatToMessagesStream(None),
        )
    if backend.kind == "anthropic" and ctx.endpoint == "chat.completions":
        options = payload.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return Wire(
            "/messages",
            translate.messages_request_from_chat(payload),
            lambda body: translate.chat_response_from_messages(body, None),
            lambda: translate.MessagesToChatStream(None, include_usage),
        )
    if backend.kind == "anthropic" and ctx.endpoint != "messages":
        raise BadRequest("this endpoint is not available on the backend chosen for this request")
    return Wire(ctx.upstream_path, payload)


def _for_surface(surface: str, response: Response) -> Response:
    """Errors on the Anthropic surface use Anthropic's error shape (protocol.md §6)."""
    if surface != "anthropic" or response.status_code < 400 or not isinstance(response, JSONResponse):
        return response
    body = json.loads(bytes(response.body))
    err = body.get("error") if isinstance(body, dict) else None
    message = err.get("message") if isinstance(err, dict) else None
    new = translate.anthropic_error_body(
        response.status_code, message if isinstance(message, str) else "error"
    )
    if isinstance(err, dict) and "reasons" in err:
        new["error"]["reasons"] = err["reasons"]
    headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
    return JSONResponse(new, status_code=response.status_code, headers=headers)


async def _forward(ctx: RequestContext, wire: Wire) -> Response:
    backend = ctx.backend
    if backend is None:
        raise RouterError("pipeline order: forward needs a backend")
    t0 = time.perf_counter()
    try:
        upstream = await backend.send(wire.path, wire.payload, request_id=ctx.request_id)
    except UpstreamError as exc:
        metrics.UPSTREAM_ERRORS.labels(backend=backend.name, kind=exc.code or "error").inc()
        _audit_outcome(ctx, exc.status_code, "upstream_error", t0, None)
        return error_response(exc, _route_headers(ctx))
    if upstream.status >= 400 or not isinstance(upstream.json, dict):
        metrics.UPSTREAM_ERRORS.labels(backend=backend.name, kind=f"http_{upstream.status}").inc()
        status = upstream.status if upstream.status >= 400 else 502
        _audit_outcome(ctx, status, "upstream_error", t0, None)
        return JSONResponse(
            _upstream_error_body(upstream.json, status), status_code=status, headers=_route_headers(ctx)
        )
    body = wire.response(upstream.json) if wire.response else upstream.json
    if ctx.vault is not None:
        body = restore_response(ctx.endpoint, body, ctx.vault)
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
    _audit_outcome(ctx, 200, "ok", t0, usage)
    return JSONResponse(body, headers=_route_headers(ctx))


def _upstream_error_body(body: Any, status: int) -> dict[str, Any]:
    """Normalise vLLM's flat, nested and string-valued error bodies to OpenAI's shape."""
    err = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(err, dict):
        message = err.get("message")
        return error_body(
            message if isinstance(message, str) else "upstream error",
            str(err.get("type") or "upstream_error"),
            str(err.get("code")) if err.get("code") is not None else f"upstream_{status}",
        )
    return error_body(
        err if isinstance(err, str) else "upstream error", "upstream_error", f"upstream_{status}"
    )


async def _forward_stream(ctx: RequestContext, wire: Wire, surface: str) -> Response:
    backend = ctx.backend
    if backend is None:
        raise RouterError("pipeline order: forward needs a backend")
    t0 = time.perf_counter()
    stack = contextlib.AsyncExitStack()
    try:
        upstream = await stack.enter_async_context(
            backend.stream(wire.path, wire.payload, request_id=ctx.request_id)
        )
    except UpstreamError as exc:
        await stack.aclose()
        metrics.UPSTREAM_ERRORS.labels(backend=backend.name, kind=exc.code or "error").inc()
        _audit_outcome(ctx, exc.status_code, "upstream_error", t0, None)
        return error_response(exc, _route_headers(ctx))
    if upstream.status >= 400:
        raw = b"".join([c async for c in upstream.aiter_bytes()])
        await stack.aclose()
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = None
        metrics.UPSTREAM_ERRORS.labels(backend=backend.name, kind=f"http_{upstream.status}").inc()
        _audit_outcome(ctx, upstream.status, "upstream_error", t0, None)
        return JSONResponse(
            _upstream_error_body(parsed, upstream.status),
            status_code=upstream.status,
            headers=_route_headers(ctx),
        )
    restorer: StreamStage
    if ctx.endpoint == "messages":
        restorer = AnthropicSSERestorer(ctx.vault)
    else:
        restorer = SSERestorer(ctx.vault, ctx.endpoint, drop_done_after_error=True)
    stages: list[StreamStage] = [wire.stream(), restorer] if wire.stream else [restorer]
    return RelayResponse(
        _relay(ctx, upstream, stack, _Chain(stages), t0, surface),
        media_type="text/event-stream",
        headers=_route_headers(ctx),
    )


async def _relay(
    ctx: RequestContext,
    upstream: UpstreamStream,
    stack: contextlib.AsyncExitStack,
    restorer: StreamStage,
    t0: float,
    surface: str = "openai",
) -> AsyncIterator[bytes]:
    """Relay one upstream SSE stream to the client, restoring placeholders on the way.

    Outcomes written to the audit log (completion record):
    ``ok``: the upstream sent ``[DONE]`` and the client got all of it;
    ``truncated``: the upstream failed, timed out between chunks (httpx read timeout =
    ``server.upstream_timeout_s``), closed early or sent an error event: the client gets one
    in-band error event and never a ``[DONE]``;
    ``client_cancelled``: the client went away; the upstream connection is closed at once so
    the backend stops generating (vLLM aborts on disconnect, protocol.md §1.5).
    """
    backend_name = ctx.backend.name if ctx.backend else "?"
    outcome = "client_cancelled"
    try:
        try:
            async for chunk in upstream.aiter_bytes():
                out = restorer.feed(chunk)
                if out:
                    yield out
                if restorer.done:
                    break  # close right after [DONE], whatever the upstream does next
            else:
                out = restorer.finish()
                if out:
                    yield out
        except UpstreamError as exc:
            metrics.UPSTREAM_ERRORS.labels(backend=backend_name, kind=f"stream_{exc.code}").inc()
            outcome = "truncated"
            out = restorer.finish()
            if out:
                yield out
            yield stream_error_event(exc.message, exc.code or "upstream_error", surface)
            return
        if restorer.errored:
            metrics.UPSTREAM_ERRORS.labels(backend=backend_name, kind="stream_error_event").inc()
            outcome = "truncated"
        elif not restorer.done:
            # The upstream closed without [DONE]: say so in-band; never fabricate [DONE].
            metrics.UPSTREAM_ERRORS.labels(backend=backend_name, kind="stream_truncated").inc()
            outcome = "truncated"
            yield stream_error_event(
                "upstream closed the stream before it finished", "stream_truncated", surface
            )
        else:
            outcome = "ok"
    except Exception:
        outcome = "upstream_error"  # not a client cancel: CancelledError and GeneratorExit are not Exception
        raise
    finally:
        # Shielded: when the client disconnects this runs inside a cancelled scope, and an
        # unshielded await would be cancelled again before the upstream connection is closed.
        with anyio.CancelScope(shield=True):
            await stack.aclose()
        _audit_outcome(ctx, 200, outcome, t0, None)


class StreamStage(Protocol):
    """One per-request step over a stream: a translator or a restorer (STYLE.md, "Streaming")."""

    @property
    def done(self) -> bool: ...

    @property
    def errored(self) -> bool: ...

    def feed(self, chunk: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class _Chain:
    """Stages in order: bytes from the upstream go through each; ``done`` once any stage is done
    (nothing more will come out), ``errored`` once any stage saw an error event."""

    def __init__(self, stages: list[StreamStage]) -> None:
        self._stages = stages

    @property
    def done(self) -> bool:
        return any(s.done for s in self._stages)

    @property
    def errored(self) -> bool:
        return any(s.errored for s in self._stages)

    def feed(self, chunk: bytes) -> bytes:
        for stage in self._stages:
            if not chunk:
                break
            chunk = stage.feed(chunk)
        return chunk

    def finish(self) -> bytes:
        out = b""
        for stage in self._stages:
            out = (stage.feed(out) if out else b"") + stage.finish()
        return out


class RelayResponse(StreamingResponse):
    """A ``StreamingResponse`` that always closes its body iterator, at once.

    When the client disconnects while the iterator is parked at a ``yield`` (the response was
    sending), Starlette cancels the send and drops the iterator; its ``finally`` (which closes the
    upstream connection and writes the audit outcome) would then run only when the garbage
    collector finalises it. Closing it here makes the upstream cancellation prompt.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            iterator = self.body_iterator
            if isinstance(iterator, AsyncGenerator):
                with anyio.CancelScope(shield=True):
                    await iterator.aclose()


def stream_error_event(message: str, code: str, surface: str = "openai") -> bytes:
    """An in-band error event in the shape vLLM and OpenAI use (protocol.md §1.5); the openai SDK
    raises ``APIError`` with this message when it reads it (protocol.md §5, SSE handling). On the
    Anthropic surface: ``event: error`` with Anthropic's error body (protocol.md §6)."""
    if surface == "anthropic":
        return translate.anthropic_event("error", translate.anthropic_error_body(502, message))
    body = {"error": {"message": message, "type": "upstream_error", "param": None, "code": code}}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _audit_outcome(
    ctx: RequestContext, status: int, outcome: str, t0: float, usage: dict[str, Any] | None
) -> None:
    """Last pipeline step: the completion record. A failure here is logged and counted; the
    decision record already proves where the request went."""
    latency_ms = (time.perf_counter() - ctx.started) * 1000
    ctx.timings_ms["upstream"] = (time.perf_counter() - t0) * 1000
    if ctx.audit_id is not None:
        record = completion_record(
            request_id=ctx.request_id,
            decision_record_id=ctx.audit_id,
            status=status,
            outcome=outcome,
            latency_ms=round(latency_ms, 3),
            usage=usage,
            backend=ctx.backend.name if ctx.backend else None,
            principal=ctx.principal,
        )
        try:
            ctx.gw.audit.append(record)
        except Exception:
            metrics.FAIL_CLOSED.labels(reason="audit_completion").inc()
            log.error("audit_completion_failed", request_id=ctx.request_id)
    _finish_log(ctx, status, outcome)


def _finish_log(ctx: RequestContext, status: int, outcome: str) -> None:
    metrics.REQUESTS.labels(endpoint=ctx.endpoint, route=ctx.route, status=str(status)).inc()
    log.info(
        "request",
        request_id=ctx.request_id,
        endpoint=ctx.endpoint,
        tenant=ctx.principal.tenant if ctx.principal else None,
        route=ctx.route,
        backend=ctx.backend.name if ctx.backend else None,
        entity_types=ctx.entity_types(),
        status=status,
        outcome=outcome,
        timings_ms={k: round(v, 2) for k, v in ctx.timings_ms.items()},
        audit_id=ctx.audit_id,
    )


async def authenticated_principal(request: Request) -> Principal:
    """Authenticate a non-proxied request (e.g. /v1/models); raises Unauthorized."""
    ctx = RequestContext(
        gw=request.app.state.gateway,
        endpoint="models",
        upstream_path="",
        headers=request.headers,
        header_items=[],
        raw_body=b"",
    )
    await authenticate(ctx)
    if ctx.principal is None:
        raise RouterError("authenticate did not set a principal")
    return ctx.principal
