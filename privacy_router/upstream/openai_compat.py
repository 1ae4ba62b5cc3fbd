"""OpenAI-compatible HTTP backend (vLLM's OpenAI server, OpenAI itself), health tracking, registry.

This module is the one boundary where httpx exceptions become ``UpstreamError`` (STYLE.md,
"Errors"; modelled on httpx's own ``map_httpcore_exceptions``). Messages name the backend, never
the request: a request body can hold the very values the router protects.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any

import httpx

from privacy_router.config import BackendSettings, ServerSettings, Settings
from privacy_router.errors import UpstreamError
from privacy_router.upstream.base import Backend, JSONBody, UpstreamResponse

USER_AGENT = "privacy-router"
NON_JSON_MESSAGE = "upstream returned non-JSON"


def create_upstream_client(server: ServerSettings) -> httpx.AsyncClient:
    """The shared client for every backend.

    ``trust_env=False``: httpx would otherwise read ``~/.netrc`` (credentials the router did not
    choose would be attached) and ``*_PROXY`` variables (traffic would leave through a path the
    policy never judged). Redirects are not followed: a backend never legitimately redirects an
    inference call, and following one would send the body to a host nobody configured.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(server.upstream_timeout_s, connect=server.upstream_connect_timeout_s),
        trust_env=False,
        follow_redirects=False,
    )


@contextmanager
def _translate_errors(backend: str) -> Iterator[None]:
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise UpstreamError(
            f"backend {backend!r} is unreachable", status_code=503, code="upstream_unavailable"
        ) from exc
    except httpx.TimeoutException as exc:
        # Read, write and pool timeouts: the backend accepted the connection but did not answer
        # in time (ServerSettings.upstream_timeout_s).
        raise UpstreamError(
            f"backend {backend!r} timed out", status_code=504, code="upstream_timeout"
        ) from exc
    except httpx.HTTPError as exc:
        # e.g. RemoteProtocolError when the backend drops the connection mid-body.
        raise UpstreamError(
            f"backend {backend!r} failed ({type(exc).__name__})", status_code=502, code="upstream_error"
        ) from exc


def _decode(content: bytes) -> JSONBody:
    try:
        value = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("not JSON") from None
    if isinstance(value, dict | list):
        return value
    raise ValueError("not a JSON document")


def _dumps(body: dict[str, Any]) -> bytes:
    # allow_nan=False: NaN/Infinity are not JSON (RFC 8259); the parse step already refuses them.
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class _HttpxStream:
    """``UpstreamStream`` over an open httpx response; read errors are translated too."""

    def __init__(self, response: httpx.Response, backend: str) -> None:
        self._response = response
        self._backend = backend
        self.status = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        # The request asked for Accept-Encoding: identity, so these are the bytes on the wire
        # (minus chunked framing): SSE events are relayed, never re-serialised.
        with _translate_errors(self._backend):
            async for chunk in self._response.aiter_bytes():
                yield chunk


class OpenAICompatBackend:
    """A backend of kind ``openai``: vLLM's OpenAI-compatible server or OpenAI's API."""

    kind = "openai"

    def __init__(
        self,
        settings: BackendSettings,
        client: httpx.AsyncClient,
        server: ServerSettings | None = None,
        *,
        health_timeout_s: float = 2.0,
    ) -> None:
        server = server or ServerSettings()
        self.settings = settings
        self.name = settings.name
        self.region = settings.region
        self._client = client
        self._base = settings.url.rstrip("/")
        # vLLM serves /health next to /v1, not below it (protocol.md §4).
        self._root = self._base.removesuffix("/v1")
        self._timeout = httpx.Timeout(server.upstream_timeout_s, connect=server.upstream_connect_timeout_s)
        self._health_timeout = httpx.Timeout(health_timeout_s)

    def _headers(self, request_id: str | None) -> dict[str, str]:
        # Built from nothing: no client header is ever copied (threat: a client's own OpenAI key
        # or cookies reaching a third party). Accept-Encoding identity keeps SSE bytes unchanged.
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": USER_AGENT,
        }
        key = self.settings.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if request_id is not None:
            headers["X-Request-Id"] = request_id
        return headers

    def _request(self, path: str, body: dict[str, Any], request_id: str) -> httpx.Request:
        if not path.startswith("/"):
            raise ValueError("path must start with '/', e.g. '/chat/completions'")
        return self._client.build_request(
            "POST",
            self._base + path,
            content=_dumps(body),
            headers=self._headers(request_id),
            timeout=self._timeout,
        )

    async def send(self, path: str, body: dict[str, Any], *, request_id: str) -> UpstreamResponse:
        request = self._request(path, body, request_id)
        with _translate_errors(self.name):
            response = await self._client.send(request)
        headers = {k.lower(): v for k, v in response.headers.items()}
        try:
            payload = _decode(response.content)
        except ValueError:
            if response.status_code < 400:
                raise UpstreamError(
                    f"backend {self.name!r} returned a non-JSON success body",
                    status_code=502,
                    code="upstream_bad_response",
                ) from None
            payload = {
                "error": {
                    "message": NON_JSON_MESSAGE,
                    "type": "upstream_error",
                    "param": None,
                    "code": response.status_code,
                }
            }
        return UpstreamResponse(status=response.status_code, json=payload, headers=headers)

    def stream(
        self, path: str, body: dict[str, Any], *, request_id: str
    ) -> AbstractAsyncContextManager[_HttpxStream]:
        return self._stream(path, body, request_id)

    @asynccontextmanager
    async def _stream(self, path: str, body: dict[str, Any], request_id: str) -> AsyncIterator[_HttpxStream]:
        request = self._request(path, body, request_id)
        request.headers["Accept"] = "text/event-stream"
        with _translate_errors(self.name):
            response = await self._client.send(request, stream=True)
        try:
            yield _HttpxStream(response, self.name)
        finally:
            # Closing the upstream connection when the client goes away frees GPU time: vLLM
            # aborts generation on disconnect (protocol.md §1.5, with_cancellation).
            await response.aclose()

    async def health(self) -> bool:
        """vLLM: ``GET /health`` (200, empty body). OpenAI has no /health (404): ``GET /v1/models``."""
        try:
            response = await self._client.get(
                self._root + "/health", headers=self._headers(None), timeout=self._health_timeout
            )
            if response.status_code == 404:
                response = await self._client.get(
                    self._base + "/models", headers=self._headers(None), timeout=self._health_timeout
                )
        except httpx.HTTPError:
            return False
        return response.status_code == 200


BackendFactory = Callable[[BackendSettings, httpx.AsyncClient, ServerSettings], Backend]


def _anthropic(settings: BackendSettings, client: httpx.AsyncClient, server: ServerSettings) -> Backend:
    # Imported here: upstream/anthropic.py builds on this module's adapter.
    from privacy_router.upstream.anthropic import AnthropicBackend

    return AnthropicBackend(settings, client, server)


# The one registration place for backend kinds (STYLE.md: one Protocol, one place that registers).
BACKEND_KINDS: dict[str, BackendFactory] = {
    "openai": OpenAICompatBackend,
    "anthropic": _anthropic,
}


def build_backends(settings: Settings, client: httpx.AsyncClient) -> tuple[list[Backend], list[Backend]]:
    """Instantiate the configured backends: ``(onprem, external)``, in configuration order."""

    def build(items: Sequence[BackendSettings]) -> list[Backend]:
        return [BACKEND_KINDS[b.kind](b, client, settings.server) for b in items]

    return build(settings.backends.onprem), build(settings.backends.external)


class HealthTracker:
    """Last known health per backend name. Unknown or never-probed backends count as unhealthy."""

    def __init__(self, timeout_s: float = 2.0) -> None:
        self._timeout_s = timeout_s
        self._healthy: dict[str, bool] = {}

    async def refresh(self, backends: Sequence[Backend]) -> dict[str, bool]:
        """Probe every backend concurrently; a probe that raises or overruns counts as unhealthy."""

        async def probe(backend: Backend) -> bool:
            try:
                return await asyncio.wait_for(backend.health(), self._timeout_s)
            except (TimeoutError, UpstreamError, httpx.HTTPError):
                return False

        results = await asyncio.gather(*(probe(b) for b in backends))
        for backend, ok in zip(backends, results, strict=True):
            self._healthy[backend.name] = ok
        return dict(zip((b.name for b in backends), results, strict=True))

    def healthy(self, name: str) -> bool:
        return self._healthy.get(name, False)

    def snapshot(self) -> Mapping[str, bool]:
        return dict(self._healthy)
