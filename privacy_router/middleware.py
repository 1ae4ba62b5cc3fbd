"""Plain ASGI middleware (never BaseHTTPMiddleware: it breaks contextvars and streaming).

The order is declared once, in app.py:

    HeaderLimits (431) -> InFlightLimit (503) -> BodySizeLimit (413) -> BodyReadTimeout (408) -> router

Every refusal here is in the OpenAI error shape and closes the connection (``Connection: close``):
the rest of the body is never read, and a client that sent too much is not trusted with another
request on the same connection.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from privacy_router import metrics
from privacy_router.api.responses import error_body, error_response
from privacy_router.errors import Overloaded


class HeaderLimits:
    """Refuse a request head with more than ``max_count`` fields or ``max_bytes`` in total (431).

    h11 only bounds a head that is still incomplete in its buffer, so a complete 20 KiB head in
    one packet passes it (threats.md 4.4); vLLM added the same kind of limit for
    GHSA-rxc4-3w6r-4v47. Status 431 is RFC 6585 §5.
    """

    def __init__(self, app: ASGIApp, *, max_count: int, max_bytes: int) -> None:
        self.app = app
        self.max_count = max_count
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope.get("headers", [])
            size = sum(len(name) + len(value) for name, value in headers)
            if len(headers) > self.max_count or size > self.max_bytes:
                await _send_error(send, 431, "request header fields too large", "headers_too_large")
                return
        await self.app(scope, receive, send)


class InFlightLimit:
    """Whole-path admission: at most ``limit`` /v1/* requests in flight on this replica.

    A request counts from its head until the last byte of its answer (a stream holds its slot
    while it is relayed). One that finds ``limit`` others in flight is refused at once with 503
    ``overloaded``, ``Retry-After`` and ``x-should-retry: true`` (errors.Overloaded), before its
    body is read: nothing is scanned, audited or forwarded for it. admission.Admission guards
    detection alone; this bounds the event loop, the policy call and the stream relay too.
    Health, readiness, metrics and the UI are outside /v1/ and never shed.
    """

    def __init__(self, app: ASGIApp, *, limit: int | None, retry_after_s: int = 1) -> None:
        self.app = app
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.in_flight = 0  # used from the event loop only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit is None or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            metrics.SHED.labels(reason="in_flight").inc()
            metrics.REJECTED.labels(reason="overloaded").inc()
            refusal = Overloaded("the gateway is overloaded; retry later", retry_after_s=self.retry_after_s)
            # The body is left unread, so the connection cannot carry another request.
            await error_response(refusal, {"connection": "close"})(scope, receive, send)
            return
        self.in_flight += 1
        metrics.IN_FLIGHT.set(self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            metrics.IN_FLIGHT.set(self.in_flight)


class BodyReadTimeout:
    """Answer 408 when the body has not fully arrived ``timeout_s`` after the app first asks for it.

    The head's own deadline is in serving.GuardedH11Protocol; this one stops a body trickled a
    byte at a time from holding a worker (threats.md H2).
    """

    def __init__(self, app: ASGIApp, *, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline: float | None = None
        body_done = False

        async def timed_receive() -> Message:
            nonlocal deadline, body_done
            if body_done:
                # After the body only http.disconnect can come; waiting for it is not "slow".
                return await receive()
            if deadline is None:
                deadline = time.monotonic() + self.timeout_s
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise _Refusal(408, "request body not received in time", "request_timeout") from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await _run_refusable(self.app, scope, timed_receive, send)


class BodySizeLimit:
    """Refuse bodies above ``max_bytes`` with 413 before they are buffered.

    A declared Content-Length above the limit is refused at once; a chunked body is counted
    while it streams in, and the request is cut off as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_error(send, 400, "invalid Content-Length", "invalid_request")
                    return
                if declared > self.max_bytes:
                    await _send_error(send, 413, "request body too large", "payload_too_large")
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _Refusal(413, "request body too large", "payload_too_large")
            return message

        await _run_refusable(self.app, scope, limited_receive, send)


class _Refusal(Exception):
    """Raised by a guarded ``receive`` to stop the app and answer with this error instead."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


async def _run_refusable(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app`` with a guarded ``receive``; when it raises _Refusal, answer with that error
    (if no response has started yet: then the connection is simply dropped by the server)."""
    response_started = False

    async def tracking_send(message: Message) -> None:
        nonlocal response_started
        if message["type"] == "http.response.start":
            response_started = True
        await send(message)

    try:
        await app(scope, receive, tracking_send)
    except _Refusal as refusal:
        if not response_started:
            await _send_error(send, refusal.status, refusal.message, refusal.code)


async def _send_error(send: Send, status: int, message: str, code: str) -> None:
    metrics.REJECTED.labels(reason=code).inc()
    payload: dict[str, Any] = error_body(message, "invalid_request_error", code)
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
