"""How the gateway is served: uvicorn's options, and an h11 protocol with a header-read deadline.

uvicorn 0.54 has no timeout for reading a request head: its keep-alive timer runs only between
requests, and is cancelled by the first byte of the next one. A client that trickles one header
line per second keeps a connection (and a slot of ``limit_concurrency``) for as long as it likes
(threats.md 4.4: still open after 13 s). ``GuardedH11Protocol`` arms a timer whenever the
connection is waiting for a request head and closes the connection if the head is not complete
within ``header_timeout_s`` (nginx's ``client_header_timeout``; its default is 60 s, ours 10 s).
Slow bodies are handled at the ASGI level (middleware.BodyReadTimeout, 408).

``uvicorn_config`` is the one place that turns ``server`` settings into uvicorn options; the
``serve`` command and the test harnesses use it, so the tests exercise the production options.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from privacy_router import metrics
from privacy_router.config import ServerSettings


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for each request head (see the module docstring)."""

    header_timeout_s: float = 10.0

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            # The head is complete (h11 leaves IDLE only on a whole Request event).
            self._cancel_head_timer()
        elif self._head_timer is None:
            # Bytes of a further request on a kept-alive connection: the next head gets a deadline.
            self._arm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Between requests uvicorn's keep-alive timer applies; it is cancelled by the first byte of
        # the next head, at which point data_received arms our deadline again.
        self._cancel_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            # No response: the client has not sent a request we could answer (nginx closes too).
            metrics.REJECTED.labels(reason="header_timeout").inc()
            self.transport.close()


def guarded_protocol(header_timeout_s: float) -> type[GuardedH11Protocol]:
    """A protocol class bound to one deadline (uvicorn instantiates the class itself)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"header_timeout_s": header_timeout_s})


def uvicorn_options(server: ServerSettings) -> dict[str, Any]:
    return {
        "http": guarded_protocol(server.header_timeout_s),
        "timeout_keep_alive": server.keep_alive_timeout_s,
        "limit_concurrency": server.limit_concurrency,
        # h11 refuses (400) a head still incomplete past this many bytes; a complete oversized head
        # is refused with 431 by middleware.HeaderLimits.
        "h11_max_incomplete_event_size": server.max_header_bytes,
        "server_header": False,
        "access_log": False,
        "log_config": None,
    }


def uvicorn_config(app: Any, server: ServerSettings, *, port: int | None = None) -> uvicorn.Config:
    return uvicorn.Config(app, host=server.host, port=port or server.port, **uvicorn_options(server))
