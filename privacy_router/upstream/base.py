"""The one extension point for upstream backends: the ``Backend`` protocol and its value types.

A backend speaks an OpenAI-compatible wire format below its ``/v1`` base URL. ``path`` is always
relative to that base (``"/chat/completions"``). Implementations translate their transport's
exceptions into ``UpstreamError`` at exactly one boundary (STYLE.md, "Errors"), and they send only
their own headers: nothing a client sent ever reaches an upstream except the (scanned) body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

JSONBody = dict[str, Any] | list[Any] | None


@dataclass(frozen=True)
class UpstreamResponse:
    """A complete (non-streaming) upstream answer. 4xx/5xx answers are values, not exceptions:
    the gateway decides what the client sees. Header names are lower-case."""

    status: int
    json: JSONBody
    headers: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class UpstreamStream(Protocol):
    """An upstream answer whose body is read incrementally.

    ``aiter_bytes`` yields the body exactly as received (for a 2xx stream: raw SSE bytes, in
    whatever pieces the network delivered them, so the gateway can relay or re-frame them). For a
    non-2xx ``status`` the body is the backend's error document.
    """

    status: int

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...


@runtime_checkable
class Backend(Protocol):
    name: str
    region: str
    kind: str

    async def send(self, path: str, body: dict[str, Any], *, request_id: str) -> UpstreamResponse: ...

    def stream(
        self, path: str, body: dict[str, Any], *, request_id: str
    ) -> AbstractAsyncContextManager[UpstreamStream]: ...

    async def health(self) -> bool: ...
