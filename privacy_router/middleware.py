"""Plain ASGI middleware (never BaseHTTPMiddleware: it breaks contextvars and streaming).

The order is declared once, in app.py.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from privacy_router.api.responses import error_body


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
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not response_started:
                await _send_error(send, 413, "request body too large", "payload_too_large")


class _TooLarge(Exception):
    pass


async def _send_error(send: Send, status: int, message: str, code: str) -> None:
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
