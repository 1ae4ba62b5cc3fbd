"""The service function behind every proxied endpoint: run the pipeline, forward, audit the outcome.

``forward`` and ``audit_outcome`` are the last two pipeline steps (see pipeline.py); they live here
because a streamed answer finishes long after the handler has returned its response object.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import anyio
import structlog
from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from privacy_router import metrics
from privacy_router.api import answers
from privacy_router.api.responses import error_body, error_response
from privacy_router.audit.records import completion_record
from privacy_router.errors import BadRequest, RequestBlocked, RouterError, UpstreamError
from privacy_router.gateway import Gateway
from privacy_router.pipeline import RequestContext, authenticate, onprem_model, run_until_forward
from privacy_router.transform.restore import restore_response
from privacy_router.transform.stream import AnthropicSSERestorer, SSERestorer
from privacy_router.types import Principal
from privacy_router.upstream import translate
from privacy_router.upstream.base import Backend, UpstreamResponse, UpstreamStream
from privacy_router.upstream.pool import ATTEMPTS
from privacy_router.upstream.registry import BACKEND_KINDS

log = structlog.get_logger("privacy_router.proxy")

_T = TypeVar("_T")


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
        wire = _wire(ctx, ctx.backend, ctx.forward_payload)
    except RouterError as exc:
        # Decided and audited, but this backend cannot carry the request (e.g. n > 1 to Anthropic).
        _audit_outcome(ctx, exc.status_code, "rejected", time.perf_counter(), None)
        return _for_surface(surface, error_response(exc, _route_headers(ctx)))
    try:
        if ctx.stream:
            return _for_surface(surface, await _forward_stream(ctx, wire, surface))
        return _for_surface(surface, await _forward(ctx, wire))
    except Exception as exc:
        # A fault of our own after the decision record (a restore or translation error, say): the
        # answer must still name its record, and the outcome is audited once, as "rejected" (the
        # answer was not returned); "upstream" is in timings_ms once _audit_outcome has run.
        if "upstream" not in ctx.timings_ms:
            status = exc.status_code if isinstance(exc, RouterError) else 500
            _audit_outcome(ctx, status, "rejected", time.perf_counter(), None)
        log.error("forward_failed", request_id=ctx.request_id, error=type(exc).__name__)
        return _for_surface(surface, error_response(exc, _route_headers(ctx)))


@dataclass(frozen=True)
class Wire:
    """What actually goes to the backend, and how its answer comes back to the client's format.

    Scrubbing and restoring always work on the client's format; translation sits between them and
    the backend (upstream/translate.py)."""

    path: str
    payload: dict[str, Any]
    response: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    stream: Callable[[], StreamStage] | None = None
    # The stream carries a usage chunk whether or not the client asked for one (issue 11).
    usage_asked: bool = False
    # The backend sends ``"usage": null`` on every chunk anyway (TGI): not stripped.
    usage_key_native: bool = False


def _wire(ctx: RequestContext, backend: Backend | None, payload: dict[str, Any]) -> Wire:
    if backend is None:
        raise RouterError("pipeline order: forward needs a backend")
    adapter = BACKEND_KINDS.get(backend.kind)
    preflight = getattr(adapter, "preflight", None)
    if preflight is not None and not (ctx.endpoint == "messages" and backend.kind != "anthropic"):
        # What this kind cannot carry (Bedrock: other endpoints, n > 1, image URLs) is refused as
        # the client's request before anything is sent. Messages requests are checked after their
        # translation to chat, by the adapter itself.
        preflight(ctx.upstream_path, payload)
    if ctx.endpoint == "messages" and backend.kind != "anthropic":
        return Wire(
            "/chat/completions",
            translate.chat_request_from_messages(payload),
            lambda body: translate.messages_response_from_chat(body, None),
            lambda: translate.ChatToMessagesStream(None),
        )
    if backend.kind == "anthropic" and ctx.endpoint == "chat.completions":
        # Always with the usage chunk: the relay reads it, and drops it if the client did not ask.
        return Wire(
            "/messages",
            translate.messages_request_from_chat(payload),
            lambda body: translate.chat_response_from_messages(body, None),
            lambda: translate.MessagesToChatStream(None, include_usage=True),
            usage_asked=True,
        )
    if backend.kind == "anthropic" and ctx.endpoint != "messages":
        raise BadRequest("this endpoint is not available on the backend chosen for this request")
    if payload.get("stream") is True and _reports_usage(backend, ctx.endpoint):
        # Usage for the audit log (issue 11: the economics report reads it), asked of every
        # backend that can report it; the relay drops it again for a client that did not ask.
        options = payload.get("stream_options")
        options = options if isinstance(options, dict) else {}
        payload = {**payload, "stream_options": {**options, "include_usage": True}}
        native = bool(getattr(BACKEND_KINDS.get(backend.kind), "usage_key_on_every_chunk", False))
        return Wire(ctx.upstream_path, payload, usage_asked=True, usage_key_native=native)
    return Wire(ctx.upstream_path, payload)


def _reports_usage(backend: Backend, endpoint: str) -> bool:
    """The adapter of this kind honours ``stream_options.include_usage`` on this endpoint's
    streams (upstream/registry.py; docs/compatibility.md, "Token usage")."""
    adapter = BACKEND_KINDS.get(backend.kind)
    if endpoint == "chat.completions":
        return bool(getattr(adapter, "stream_usage", False))
    if endpoint == "completions":
        return bool(getattr(adapter, "completions_stream_usage", False))
    return False


def _client_asked_usage(ctx: RequestContext) -> bool:
    options = ctx.payload.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


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


@dataclass
class _Failed:
    """An attempt that failed before any byte reached the client: an HTTP error answer from the
    backend (``status``, ``body``, ``headers``), or an ``UpstreamError`` it raised (unreachable,
    timed out, connection dropped; its pool already tried its other replicas)."""

    status: int
    body: Any = None
    headers: Mapping[str, str] | None = None
    error: UpstreamError | None = None

    @property
    def retryable(self) -> bool:
        """429 and 5xx answers are retried (with backoff, on the same backend, then a fallback)."""
        return self.error is None and (self.status == 429 or self.status >= 500)

    def response(self, ctx: RequestContext) -> Response:
        headers = _route_headers(ctx)
        if self.error is not None:
            return error_response(self.error, headers)
        retry_after = (self.headers or {}).get("retry-after")
        if retry_after is not None and self.status in (429, 503):
            headers["retry-after"] = retry_after  # the client's SDK honours it (protocol.md §5)
        body = _upstream_error_body(self.body, self.status)
        return JSONResponse(body, status_code=self.status, headers=headers)


def _retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` (seconds or an HTTP date), as the
    openai SDK reads them (protocol.md §5, "Retries"); None when absent or unreadable."""
    headers = headers or {}
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (ValueError, TypeError, OverflowError):
        return None


def _candidates(ctx: RequestContext, first: Wire) -> Iterator[tuple[Backend, Wire]]:
    """The policy's backend, then its ``fallbacks`` (same kind; at most ``retry.max_backends``
    in all), each with the wire it needs. A fallback that cannot carry this request (a model it
    does not offer, an endpoint it lacks) is skipped: it was allowed, not required."""
    gw, decision, primary = ctx.gw, ctx.decision, ctx.backend
    if decision is None or primary is None:
        raise RouterError("pipeline order: forward needs a decision and a backend")
    yield primary, first
    tried = 1
    for name in decision.fallbacks:
        backend = gw.backend(name)
        if tried >= gw.settings.backends.retry.max_backends:
            return
        # Defence in depth (policy/schema.py checks it too): never a backend of another kind.
        if backend is None or backend is primary or gw.is_onprem(backend) != gw.is_onprem(primary):
            continue
        payload = dict(ctx.forward_payload)
        if gw.is_onprem(backend):
            payload["model"] = onprem_model(ctx, backend)
        elif payload.get("model") not in _offered(backend):
            continue
        try:
            wire = _wire(ctx, backend, payload)
        except RouterError:
            continue
        tried += 1
        yield backend, wire


def _offered(backend: Backend) -> tuple[str, ...]:
    settings = getattr(backend, "settings", None)
    names = getattr(settings, "model_names", ())
    return tuple(names) if names else ()


def _use_backend(ctx: RequestContext, backend: Backend) -> None:
    """Point the request (audit, logs, load stats) at the backend now being tried."""
    if ctx.backend is not backend:
        if ctx.backend is not None:
            ctx.gw.stats.end(ctx.backend.name, ctx.request_id, None)
        ctx.gw.stats.begin(backend.name, ctx.request_id)
        ctx.backend = backend


async def _with_retries(
    ctx: RequestContext, first: Wire, once: Callable[[Backend, Wire], Awaitable[_T | _Failed]]
) -> _T | _Failed:
    """Run ``once`` until it succeeds, over the policy's backend and then its fallbacks.

    Per backend: a 429 or 5xx answer is retried up to ``backends.retry.max_attempts`` times, after
    the answer's Retry-After (when at most ``max_retry_after_s``; a longer one goes to the next
    backend at once) or an exponential backoff with full jitter. An ``UpstreamError`` (unreachable,
    timeout, dropped) goes to the next backend at once. Any other 4xx is final: the same request
    would fail the same way anywhere. Every attempt lands in ``ctx.attempts`` (pool entries, with
    the wait that followed them). Nothing here runs after a byte reached the client.
    """
    retry = ctx.gw.settings.backends.retry
    token = ATTEMPTS.set(ctx.attempts)
    last: _Failed | None = None
    try:
        for backend, wire in _candidates(ctx, first):
            _use_backend(ctx, backend)
            for n in range(retry.max_attempts):
                result = await once(backend, wire)
                if not isinstance(result, _Failed):
                    return result
                last = result
                kind = result.error.code if result.error else f"http_{result.status}"
                metrics.UPSTREAM_ERRORS.labels(backend=backend.name, kind=kind or "error").inc()
                if result.error is not None:
                    break
                if not result.retryable:
                    return result
                wait = _retry_after_s(result.headers)
                if wait is None:
                    wait = random.uniform(0, min(retry.backoff_max_s, retry.backoff_base_s * 2**n))
                elif wait > retry.max_retry_after_s:
                    break
                if n + 1 == retry.max_attempts:
                    break
                ctx.attempts[-1]["wait_s"] = round(wait, 3)
                await asyncio.sleep(wait)
    finally:
        ATTEMPTS.reset(token)
    if last is None:
        raise RouterError("forward: no backend was tried")
    return last


async def _forward(ctx: RequestContext, wire: Wire) -> Response:
    backend = ctx.backend
    if backend is None:
        raise RouterError("pipeline order: forward needs a backend")
    t0 = time.perf_counter()
    ctx.gw.stats.begin(backend.name, ctx.request_id)  # load and latency for the policy (upstream/stats.py)

    async def once(backend: Backend, wire: Wire) -> tuple[Wire, UpstreamResponse] | _Failed:
        try:
            upstream = await backend.send(wire.path, wire.payload, request_id=ctx.request_id)
        except UpstreamError as exc:
            return _Failed(exc.status_code, error=exc)
        if upstream.status >= 400:
            return _Failed(upstream.status, upstream.json, upstream.headers)
        if not isinstance(upstream.json, dict):
            return _Failed(502, None)  # a success that is not a JSON object: not retried
        return wire, upstream

    result = await _with_retries(ctx, wire, once)
    if isinstance(result, _Failed):
        _audit_outcome(ctx, result.status, "upstream_error", t0, None)
        return result.response(ctx)
    wire, upstream = result
    if not isinstance(upstream.json, dict):
        raise RouterError("forward: success without a JSON object")
    body = wire.response(upstream.json) if wire.response else upstream.json
    if ctx.vault is not None:
        body = restore_response(ctx.endpoint, body, ctx.vault)
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
    _audit_outcome(ctx, 200, "ok", t0, usage)
    # The client resends this answer next turn: analyse it now, off the request path (answers.py).
    answers.remember(ctx.gw, ctx.principal.tenant if ctx.principal else None, ctx.endpoint, body)
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
    ctx.gw.stats.begin(backend.name, ctx.request_id)

    async def once(
        backend: Backend, wire: Wire
    ) -> tuple[Wire, UpstreamStream, contextlib.AsyncExitStack] | _Failed:
        stack = contextlib.AsyncExitStack()
        try:
            upstream = await stack.enter_async_context(
                backend.stream(wire.path, wire.payload, request_id=ctx.request_id)
            )
        except UpstreamError as exc:
            await stack.aclose()
            return _Failed(exc.status_code, error=exc)
        except BaseException:
            await stack.aclose()
            raise
        if upstream.status < 400:
            return wire, upstream, stack
        try:
            raw = b"".join([c async for c in upstream.aiter_bytes()])
        except UpstreamError as exc:
            return _Failed(exc.status_code, error=exc)
        finally:
            await stack.aclose()
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = None
        return _Failed(upstream.status, parsed, getattr(upstream, "headers", None))

    result = await _with_retries(ctx, wire, once)
    if isinstance(result, _Failed):
        _audit_outcome(ctx, result.status, "upstream_error", t0, None)
        return result.response(ctx)
    wire, upstream, stack = result
    restorer: SSERestorer
    if ctx.endpoint == "messages":
        restorer = AnthropicSSERestorer(ctx.vault)
    else:
        restorer = SSERestorer(
            ctx.vault,
            ctx.endpoint,
            drop_done_after_error=True,
            strip_usage=wire.usage_asked and not _client_asked_usage(ctx),
            keep_null_usage=wire.usage_key_native,
            # The text the client will resend next turn, for the detection cache (answers.py).
            keep_text=ctx.endpoint == "chat.completions" and ctx.gw.cache is not None,
        )
    stages: list[StreamStage] = [wire.stream(), restorer] if wire.stream else [restorer]
    meter = restorer  # the stage that sees the backend's usage
    if ctx.endpoint == "messages" and wire.stream is not None:
        # A chat stream translated to Messages: its usage (input and output) is read before the
        # translation, which reports only the output tokens.
        meter = SSERestorer(None, "chat.completions")
        stages.insert(0, meter)
    return RelayResponse(
        _relay(ctx, upstream, stack, _Chain(stages), t0, surface, meter),
        media_type="text/event-stream",
        headers=_route_headers(ctx),
    )


async def _relay(
    ctx: RequestContext,
    upstream: UpstreamStream,
    stack: contextlib.AsyncExitStack,
    restorer: StreamStage,
    t0: float,
    surface: str,
    meter: SSERestorer,
) -> AsyncIterator[bytes]:
    """Relay one upstream SSE stream to the client, restoring placeholders on the way.

    ``meter`` is the stage that read the backend's usage (recorded in the completion record; a
    backend that reported none records none) and, for a chat answer, kept the text the client got:
    once the stream completed, that text is pre-analysed for the detection cache (answers.py).

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
        _audit_outcome(ctx, 200, outcome, t0, meter.usage)
        if outcome == "ok":
            tenant = ctx.principal.tenant if ctx.principal else None
            answers.remember_texts(ctx.gw, tenant, meter.answer_texts())


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
    if ctx.backend is not None:  # only successful exchanges count towards the latency window
        ok_ms = ctx.timings_ms["upstream"] if outcome == "ok" else None
        ctx.gw.stats.end(ctx.backend.name, ctx.request_id, ok_ms)
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
            attempts=ctx.attempts if len(ctx.attempts) > 1 else None,
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
