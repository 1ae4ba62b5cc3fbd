"""OpenAI-compatible HTTP backend (vLLM's OpenAI server, OpenAI itself).

``OpenAICompatBackend`` is also the base of the other HTTP adapters (one file per kind, registered
in upstream/registry.py): they override the hooks ``_url``, ``_headers``, ``_prepare`` (request
body), ``_adapt`` (answer or error body) and ``_stream_rewriter`` (per-request SSE rewriting).

This module is the one boundary where httpx exceptions become ``UpstreamError`` (STYLE.md,
"Errors"; modelled on httpx's own ``map_httpcore_exceptions``). Messages name the backend, never
the request: a request body can hold the very values the router protects.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any

import httpx

from privacy_router.config import BackendSettings, ServerSettings
from privacy_router.errors import UpstreamError
from privacy_router.upstream.base import JSONBody, UpstreamResponse, UpstreamStream
from privacy_router.upstream.translate import SSEParser, openai_event

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


class SSERewriter:
    """Per-request rewriting of an OpenAI SSE stream, one JSON event at a time (an adapter's quirk
    handling). ``event`` returns the events to send instead (none, the same, or several);
    ``[DONE]`` goes through ``done`` and comments are dropped. Bytes may be split anywhere."""

    def __init__(self) -> None:
        self._parser = SSEParser()

    def event(self, obj: Any) -> list[Any]:
        return [obj]

    def done(self) -> list[Any]:
        """Events to send just before ``[DONE]``."""
        return []

    def feed(self, chunk: bytes) -> bytes:
        out = bytearray()
        for _, data in self._parser.feed(chunk):
            if data.strip() == "[DONE]":
                out += b"".join(openai_event(e) for e in self.done()) + b"data: [DONE]\n\n"
                continue
            try:
                obj = json.loads(data)
            except ValueError:
                out += b"data: " + data.encode() + b"\n\n"  # not ours to judge: relayed as is
                continue
            out += b"".join(openai_event(e) for e in self.event(obj))
        return bytes(out)


class RewrittenStream:
    """``UpstreamStream`` whose 2xx SSE bytes go through an ``SSERewriter``."""

    def __init__(self, inner: _HttpxStream, rewriter: SSERewriter) -> None:
        self._inner = inner
        self._rewriter = rewriter
        self.status = inner.status
        self.headers = inner.headers

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner.aiter_bytes():
            out = self._rewriter.feed(chunk)
            if out:
                yield out


class BufferedStream:
    """``UpstreamStream`` over a body already read (an error document)."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self._body = body
        self.headers = headers or {}  # Retry-After of a 429 is read by the retry logic (api/proxy.py)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        yield self._body


def openai_error(
    message: str, etype: str, code: str | int | None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error document (protocol.md §1.5), what every adapter maps its errors to."""
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


class OpenAICompatBackend:
    """A backend of kind ``openai``: vLLM's OpenAI-compatible server or OpenAI's API."""

    kind = "openai"
    # The server honours ``stream_options.include_usage`` (vLLM, OpenAI; the other kinds adapt it):
    # the gateway asks for usage on every stream and hides it from a client that did not.
    stream_usage = True
    # The same on ``/v1/completions`` streams (vLLM and OpenAI both take ``stream_options`` there).
    completions_stream_usage = True
    # The server puts ``"usage": null`` on every chunk whether or not usage was asked for (TGI):
    # the relay then leaves that key alone for a client that did not ask.
    usage_key_on_every_chunk = False

    @staticmethod
    def preflight(path: str, body: dict[str, Any]) -> None:
        """Refuse, before anything is sent, a request this kind cannot carry: ``BadRequest`` (a
        400 about the client's request, audited as rejected, no fallback tried). An
        OpenAI-compatible server takes whatever the client sent."""
        del path, body

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

    # -- hooks for the adapters of other OpenAI-compatible kinds -------------------------------

    def _url(self, path: str, body: dict[str, Any]) -> str:
        return self._base + path

    def _prepare(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The body as this backend wants it (e.g. a model name it requires)."""
        return body

    def _adapt(self, status: int, payload: JSONBody, sent: dict[str, Any]) -> JSONBody:
        """The answer (2xx) or error document in OpenAI's shape; ``sent`` is the request body."""
        return payload

    def _stream_rewriter(self, sent: dict[str, Any]) -> SSERewriter | None:
        """A per-request rewriter of the 2xx SSE stream, or None to relay the bytes unchanged."""
        return None

    def _request(self, path: str, body: dict[str, Any], request_id: str) -> httpx.Request:
        if not path.startswith("/"):
            raise ValueError("path must start with '/', e.g. '/chat/completions'")
        return self._client.build_request(
            "POST",
            self._url(path, body),
            content=_dumps(self._prepare(path, body)),
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
        payload = self._adapt(response.status_code, payload, body)
        return UpstreamResponse(status=response.status_code, json=payload, headers=headers)

    def stream(
        self, path: str, body: dict[str, Any], *, request_id: str
    ) -> AbstractAsyncContextManager[UpstreamStream]:
        return self._stream(path, body, request_id)

    @asynccontextmanager
    async def _stream(
        self, path: str, body: dict[str, Any], request_id: str
    ) -> AsyncIterator[UpstreamStream]:
        request = self._request(path, body, request_id)
        request.headers["Accept"] = "text/event-stream"
        with _translate_errors(self.name):
            response = await self._client.send(request, stream=True)
        try:
            stream = _HttpxStream(response, self.name)
            rewriter = self._stream_rewriter(body)
            if stream.status >= 400:
                # An error document, read whole and put in OpenAI's shape by the adapter.
                raw = b"".join([c async for c in stream.aiter_bytes()])
                try:
                    error = self._adapt(stream.status, _decode(raw), body)
                except ValueError:
                    yield BufferedStream(stream.status, raw, stream.headers)
                else:
                    adapted = json.dumps(error, ensure_ascii=False).encode()
                    yield BufferedStream(stream.status, adapted, stream.headers)
            elif stream.status < 400 and rewriter is not None:
                yield RewrittenStream(stream, rewriter)
            else:
                yield stream
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
