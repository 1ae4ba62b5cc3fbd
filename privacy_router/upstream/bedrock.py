"""Backend of kind ``bedrock``: Amazon Bedrock Runtime through the Converse and ConverseStream APIs.

``url`` is the runtime endpoint (``https://bedrock-runtime.<region>.amazonaws.com``); the model the
router forwards (``body["model"]``) is the Bedrock model id or inference profile, URL-encoded into
``POST {url}/model/{modelId}/converse`` (or ``/converse-stream``). Bedrock API reference, "Converse"
and "ConverseStream"; event stream framing: AWS "Event stream encoding".

- **Signing**: AWS Signature Version 4 by botocore's own signer (``SigV4Auth``, service
  ``bedrock``, region ``aws_region`` or the one in the URL), with credentials from botocore's
  standard chain (environment, shared files, SSO, container and instance roles), resolved off the
  event loop and refreshed by botocore when they are temporary. No client header is ever signed or
  sent; without credentials nothing is sent (503, fail closed).
- **Request**: the OpenAI chat body is translated to Anthropic's Messages shape by
  upstream/translate.py (system lifted out, tool results as user turns, roles merged to alternate)
  and from there to Converse: ``system``, ``messages[].content[]`` of ``text`` / ``toolUse`` /
  ``toolResult`` / ``image`` blocks, ``inferenceConfig`` (maxTokens, temperature, topP,
  stopSequences), ``toolConfig`` (``toolSpec`` + ``toolChoice`` auto/any/tool). Deviations: image
  URLs cannot be sent (400; Converse cannot fetch them, base64 data URLs can be sent), ``n`` > 1 is
  a 400, ``tool_choice: "none"`` sends the tools without a choice (Converse has no "none"), other
  OpenAI parameters are not forwarded.
- **Images**: a ``data:image/<png|jpeg|gif|webp>;base64,...`` URL becomes ``{"image": {"format",
  "source": {"bytes": <the same base64>}}}``. Checked before anything is sent (400 otherwise):
  strict base64, not empty, at most 3.75 MB decoded, bytes whose file signature matches the
  declared type, at most 20 images a request (Converse's limits).
- **Endpoints**: only ``/chat/completions``; ``/completions`` and ``/embeddings`` are a 400
  ``unsupported_endpoint`` before anything is sent (Converse has neither).
- **Answer**: ``output.message.content`` -> ``message.content`` / ``tool_calls``; ``usage``
  inputTokens/outputTokens -> prompt/completion tokens; ``stopReason`` end_turn/stop_sequence ->
  ``stop``, max_tokens -> ``length``, tool_use -> ``tool_calls``, guardrail_intervened /
  content_filtered -> ``content_filter``.
- **Stream**: ``application/vnd.amazon.eventstream`` frames are decoded by botocore's
  ``EventStreamBuffer`` (prelude and message CRC32 checked; a corrupt frame ends the stream as an
  upstream error) and re-emitted as OpenAI chat chunks, then ``[DONE]``; an exception frame
  (``:message-type: exception``, e.g. throttlingException) becomes one in-band OpenAI error event.
- **Errors**: Bedrock answers ``{"message": ...}`` with the exception in ``x-amzn-ErrorType``;
  they become OpenAI's error shape with that exception name as ``type``.
- **Health**: Bedrock Runtime has no health route. Healthy = credentials resolve AND the endpoint
  answers an unauthenticated ``GET /`` with any status below 500 (a reachability probe).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.eventstream import EventStreamBuffer, EventStreamMessage, ParserError
from botocore.exceptions import BotoCoreError
from botocore.session import Session

from privacy_router.config import BackendSettings, ServerSettings
from privacy_router.errors import BadRequest, UpstreamError
from privacy_router.upstream.base import JSONBody, UpstreamResponse, UpstreamStream
from privacy_router.upstream.openai_compat import (
    USER_AGENT,
    BufferedStream,
    OpenAICompatBackend,
    _decode,
    _dumps,
    _HttpxStream,
    _translate_errors,
    openai_error,
)
from privacy_router.upstream.translate import (
    MessagesToChatStream,
    anthropic_event,
    chat_response_from_messages,
    messages_request_from_chat,
)

SERVICE = "bedrock"  # the SigV4 signing name of bedrock-runtime
EVENT_STREAM = "application/vnd.amazon.eventstream"
# Converse stopReason -> Anthropic stop_reason (translate.py maps that on to OpenAI's finish_reason).
_STOP = {
    "end_turn": "end_turn",
    "stop_sequence": "stop_sequence",
    "max_tokens": "max_tokens",
    "tool_use": "tool_use",
    "guardrail_intervened": "refusal",
    "content_filtered": "refusal",
}
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
# Converse's image limits (Bedrock user guide, "Converse API", ImageBlock); 3.75 MB read strictly.
IMAGE_MAX_BYTES = 3_750_000
IMAGE_MAX_COUNT = 20


def _image_format_of(raw: bytes) -> str | None:
    """The format named by the file signature at the start of ``raw``."""
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if raw.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if raw.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if raw.startswith(b"RIFF") and raw[8:12] == b"WEBP":
        return "webp"
    return None


# --------------------------------------------------------------------------------------------
# OpenAI chat <-> Converse (through Anthropic's shape, see the module doc)


def _converse_block(block: dict[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text":
        return {"text": block["text"]} if block.get("text") else None  # Converse refuses blank text
    if kind == "tool_use":
        return {
            "toolUse": {"toolUseId": block.get("id"), "name": block.get("name"), "input": block.get("input")}
        }
    if kind == "tool_result":
        content = block.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        return {"toolResult": {"toolUseId": block.get("tool_use_id"), "content": [{"text": text}]}}
    if kind == "image":
        return {"image": _converse_image(block.get("source") or {})}
    raise BadRequest("a message part of this type cannot be sent to Bedrock", param="messages")


def _converse_image(source: dict[str, Any]) -> dict[str, Any]:
    """A Converse image from an Anthropic image source; BadRequest for what Converse refuses.
    Messages never repeat the client's value (it may be sensitive)."""
    if source.get("type") == "url":
        url = str(source.get("url", ""))
        if url.startswith("data:"):
            raise BadRequest(
                "an image data URL for Bedrock must be base64: data:image/png;base64,...", param="messages"
            )
        raise BadRequest(
            "Bedrock cannot fetch image URLs: send the image inline as a base64 data URL "
            "(png, jpeg, gif or webp)",
            param="messages",
        )
    image_format = _IMAGE_FORMATS.get(str(source.get("media_type")).lower())
    if image_format is None:
        raise BadRequest("images sent to Bedrock must be png, jpeg, gif or webp", param="messages")
    data = source.get("data")
    try:
        raw = base64.b64decode(data, validate=True) if isinstance(data, str) else b""
    except binascii.Error:
        raise BadRequest("the image data URL is not valid base64", param="messages") from None
    if not raw:
        raise BadRequest("the image data URL is empty", param="messages")
    if len(raw) > IMAGE_MAX_BYTES:
        raise BadRequest("an image sent to Bedrock must be at most 3.75 MB", param="messages")
    if _image_format_of(raw) != image_format:
        raise BadRequest(f"the image data is not a {image_format} image", param="messages")
    return {"format": image_format, "source": {"bytes": data}}


def converse_request(body: dict[str, Any]) -> dict[str, Any]:
    """The Converse request body equivalent to an OpenAI chat request (raises BadRequest)."""
    anthropic = messages_request_from_chat(body)
    messages = []
    for turn in anthropic["messages"]:
        blocks = [b for b in (_converse_block(x) for x in turn["content"]) if b is not None]
        messages.append({"role": turn["role"], "content": blocks})
    if sum("image" in b for m in messages for b in m["content"]) > IMAGE_MAX_COUNT:
        raise BadRequest(f"Bedrock takes at most {IMAGE_MAX_COUNT} images a request", param="messages")
    out: dict[str, Any] = {"messages": messages}
    if anthropic.get("system"):
        out["system"] = [{"text": anthropic["system"]}]
    inference: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens:
        inference["maxTokens"] = max_tokens
    if body.get("temperature") is not None:
        inference["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        inference["topP"] = body["top_p"]
    if anthropic.get("stop_sequences"):
        inference["stopSequences"] = anthropic["stop_sequences"]
    if inference:
        out["inferenceConfig"] = inference
    if anthropic.get("tools"):
        tools = []
        for tool in anthropic["tools"]:
            spec: dict[str, Any] = {"name": tool["name"], "inputSchema": {"json": tool["input_schema"]}}
            if tool.get("description"):
                spec["description"] = tool["description"]
            tools.append({"toolSpec": spec})
        config: dict[str, Any] = {"tools": tools}
        choice = (anthropic.get("tool_choice") or {}).get("type")
        if choice == "auto":
            config["toolChoice"] = {"auto": {}}
        elif choice == "any":
            config["toolChoice"] = {"any": {}}
        elif choice == "tool":
            config["toolChoice"] = {"tool": {"name": anthropic["tool_choice"]["name"]}}
        out["toolConfig"] = config
    return out


def chat_response(converse: dict[str, Any], model: str | None, request_id: str | None) -> dict[str, Any]:
    """An OpenAI chat completion equivalent to a Converse answer."""
    message = (converse.get("output") or {}).get("message") or {}
    content: list[dict[str, Any]] = []
    for block in message.get("content") or ():
        if not isinstance(block, dict):
            continue
        if "text" in block:
            content.append({"type": "text", "text": block["text"]})
        elif "toolUse" in block:
            use = block["toolUse"]
            content.append(
                {
                    "type": "tool_use",
                    "id": use.get("toolUseId"),
                    "name": use.get("name"),
                    "input": use.get("input"),
                }
            )
    usage = converse.get("usage") or {}
    anthropic = {
        "id": request_id or uuid.uuid4().hex,
        "content": content,
        "stop_reason": _STOP.get(str(converse.get("stopReason")), "end_turn"),
        "usage": {"input_tokens": usage.get("inputTokens"), "output_tokens": usage.get("outputTokens")},
    }
    return chat_response_from_messages(anthropic, model)


def bedrock_error(status: int, payload: Any, headers: dict[str, str]) -> dict[str, Any]:
    """``{"message": ...}`` + ``x-amzn-ErrorType: ThrottlingException:http://...`` in OpenAI's shape."""
    body = payload if isinstance(payload, dict) else {}
    name = headers.get("x-amzn-errortype") or str(body.get("__type") or "")
    name = name.split(":", 1)[0].rsplit("#", 1)[-1] or "upstream_error"
    message = body.get("message", body.get("Message"))
    return openai_error(message if isinstance(message, str) else "upstream error", name, str(status))


# --------------------------------------------------------------------------------------------
# ConverseStream events -> Anthropic SSE events -> OpenAI chunks (translate.MessagesToChatStream)


class ConverseEvents:
    """Per-request: decoded event-stream messages in, Anthropic SSE event bytes out."""

    def __init__(self, request_id: str | None) -> None:
        self._id = request_id or uuid.uuid4().hex
        self._stop: str | None = None  # messageStop seen, waiting for metadata (usage)
        self.finished = False

    def on(self, message: EventStreamMessage) -> bytes:
        headers = message.headers
        try:
            payload = json.loads(message.payload) if message.payload else {}
        except ValueError:
            payload = {}
        if headers.get(":message-type") != "event":
            # exception frames (:exception-type) and error frames (:error-code)
            name = str(headers.get(":exception-type") or headers.get(":error-code") or "upstream_error")
            text = payload.get("message") if isinstance(payload, dict) else None
            error = {"type": name, "message": text if isinstance(text, str) else "upstream error"}
            self.finished = True
            return anthropic_event("error", {"type": "error", "error": error})
        event = headers.get(":event-type")
        if event == "messageStart":
            start = {"id": self._id, "type": "message", "role": "assistant", "content": [], "usage": {}}
            return anthropic_event("message_start", {"type": "message_start", "message": start})
        index = payload.get("contentBlockIndex", 0)
        if event == "contentBlockStart":
            use = (payload.get("start") or {}).get("toolUse")
            if not isinstance(use, dict):
                return b""
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": use.get("toolUseId"),
                "name": use.get("name"),
                "input": {},
            }
            data = {"type": "content_block_start", "index": index, "content_block": block}
            return anthropic_event("content_block_start", data)
        if event == "contentBlockDelta":
            delta = payload.get("delta") or {}
            if "text" in delta:
                piece = {"type": "text_delta", "text": delta["text"]}
            elif isinstance(delta.get("toolUse"), dict):
                piece = {"type": "input_json_delta", "partial_json": delta["toolUse"].get("input", "")}
            else:
                return b""  # reasoning and citation deltas have no chat-completions field
            return anthropic_event(
                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": piece}
            )
        if event == "messageStop":
            self._stop = _STOP.get(str(payload.get("stopReason")), "end_turn")
            return b""
        if event == "metadata":
            usage = payload.get("usage") or {}
            return self._end(
                {
                    "input_tokens": usage.get("inputTokens") or 0,
                    "output_tokens": usage.get("outputTokens") or 0,
                }
            )
        return b""

    def _end(self, usage: dict[str, int]) -> bytes:
        if self._stop is None or self.finished:
            return b""
        self.finished = True
        delta = {"type": "message_delta", "delta": {"stop_reason": self._stop}, "usage": usage}
        return anthropic_event("message_delta", delta) + anthropic_event(
            "message_stop", {"type": "message_stop"}
        )

    def finish(self) -> bytes:
        """The body ended: a messageStop without metadata still completes the answer."""
        return self._end({})


class ConverseStream:
    """``UpstreamStream``: a 2xx ConverseStream body as OpenAI chat SSE bytes."""

    def __init__(self, inner: _HttpxStream, backend: str, model: str | None, include_usage: bool) -> None:
        self._inner = inner
        self._backend = backend
        self.status = inner.status
        self._events = ConverseEvents(inner.headers.get("x-amzn-requestid"))
        self._chat = MessagesToChatStream(model, include_usage)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        frames = EventStreamBuffer()
        async for chunk in self._inner.aiter_bytes():
            frames.add_data(chunk)
            try:
                messages = list(frames)
            except ParserError:
                raise UpstreamError(
                    f"backend {self._backend!r} sent a corrupt event stream",
                    status_code=502,
                    code="upstream_bad_stream",
                ) from None
            out = b"".join(self._chat.feed(self._events.on(m)) for m in messages)
            if out:
                yield out
        out = self._chat.feed(self._events.finish())
        if out:
            yield out


# --------------------------------------------------------------------------------------------
# The adapter


class BedrockBackend(OpenAICompatBackend):
    kind = "bedrock"
    # Usage comes from ConverseStream's ``metadata`` event; there is no completions endpoint.
    completions_stream_usage = False

    def __init__(
        self,
        settings: BackendSettings,
        client: httpx.AsyncClient,
        server: ServerSettings | None = None,
        *,
        health_timeout_s: float = 2.0,
    ) -> None:
        super().__init__(settings, client, server, health_timeout_s=health_timeout_s)
        region = settings.signing_region()
        if region is None:
            raise ValueError(f"backend {settings.name!r}: no AWS region to sign for (set aws_region)")
        self.signing_region = region
        self._credentials: Credentials | None = None

    @staticmethod
    def preflight(path: str, body: dict[str, Any]) -> None:
        """What Converse cannot carry is the client's request, not a backend failure: refused with
        400 ``invalid_request_error`` before anything is sent (api/proxy.py calls this first)."""
        if path != "/chat/completions":
            raise BadRequest(
                "this endpoint is not available on the backend chosen for this request",
                code="unsupported_endpoint",
            )
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("this backend needs a model id", code="model_required", param="model")
        try:
            converse_request(body)
        except BadRequest as exc:
            raise BadRequest(exc.message, code="unsupported_by_backend", param=exc.param) from None

    def _frozen_credentials(self) -> ReadOnlyCredentials:
        """Blocking (the chain may read files or call a metadata endpoint): run in a thread."""
        try:
            if self._credentials is None:
                self._credentials = Session().get_credentials()
            if self._credentials is None:
                raise UpstreamError(
                    f"backend {self.name!r}: no AWS credentials found",
                    status_code=503,
                    code="upstream_credentials",
                )
            return self._credentials.get_frozen_credentials()
        except BotoCoreError as exc:
            raise UpstreamError(
                f"backend {self.name!r}: AWS credentials unavailable ({type(exc).__name__})",
                status_code=503,
                code="upstream_credentials",
            ) from None

    def sign(self, url: str, content: bytes, accept: str, credentials: ReadOnlyCredentials) -> dict[str, str]:
        """Headers for one request, signed by botocore's SigV4 signer (at botocore's current time)."""
        request = AWSRequest(
            method="POST",
            url=url,
            data=content,
            headers={"Content-Type": "application/json", "Accept": accept},
        )
        SigV4Auth(credentials, SERVICE, self.signing_region).add_auth(request)
        return dict(request.headers.items())

    async def _build(
        self, path: str, body: dict[str, Any], *, stream: bool
    ) -> tuple[httpx.Request, str | None]:
        if path != "/chat/completions":
            raise UpstreamError(
                "this endpoint is not available on the backend chosen for this request",
                status_code=400,
                code="unsupported_endpoint",
            )
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise UpstreamError(
                f"backend {self.name!r} needs a model id", status_code=400, code="model_required"
            )
        try:
            content = _dumps(converse_request(body))
        except BadRequest as exc:
            raise UpstreamError(exc.message, status_code=400, code="unsupported_by_backend") from None
        operation = "converse-stream" if stream else "converse"
        url = f"{self._base}/model/{quote(model, safe='')}/{operation}"
        credentials = await asyncio.to_thread(self._frozen_credentials)
        headers = self.sign(url, content, EVENT_STREAM if stream else "application/json", credentials)
        headers.update({"Accept-Encoding": "identity", "User-Agent": USER_AGENT})  # not signed (botocore)
        request = self._client.build_request(
            "POST", url, content=content, headers=headers, timeout=self._timeout
        )
        return request, model

    async def send(self, path: str, body: dict[str, Any], *, request_id: str) -> UpstreamResponse:
        request, model = await self._build(path, body, stream=False)
        with _translate_errors(self.name):
            response = await self._client.send(request)
        headers = {k.lower(): v for k, v in response.headers.items()}
        try:
            payload: JSONBody = _decode(response.content)
        except ValueError:
            payload = None
        if response.status_code >= 400:
            return UpstreamResponse(
                response.status_code, bedrock_error(response.status_code, payload, headers), headers
            )
        if not isinstance(payload, dict):
            raise UpstreamError(
                f"backend {self.name!r} returned a non-JSON success body",
                status_code=502,
                code="upstream_bad_response",
            )
        return UpstreamResponse(200, chat_response(payload, model, headers.get("x-amzn-requestid")), headers)

    def stream(
        self, path: str, body: dict[str, Any], *, request_id: str
    ) -> AbstractAsyncContextManager[UpstreamStream]:
        return self._converse_stream(path, body)

    @asynccontextmanager
    async def _converse_stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[UpstreamStream]:
        request, model = await self._build(path, body, stream=True)
        with _translate_errors(self.name):
            response = await self._client.send(request, stream=True)
        try:
            inner = _HttpxStream(response, self.name)
            if inner.status >= 400:
                raw = b"".join([c async for c in inner.aiter_bytes()])
                try:
                    payload: JSONBody = _decode(raw)
                except ValueError:
                    payload = None
                error = bedrock_error(inner.status, payload, inner.headers)
                yield BufferedStream(inner.status, json.dumps(error, ensure_ascii=False).encode())
            else:
                options = body.get("stream_options")
                include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
                yield ConverseStream(inner, self.name, model, include_usage)
        finally:
            await response.aclose()

    async def health(self) -> bool:
        try:
            await asyncio.to_thread(self._frozen_credentials)
            response = await self._client.get(self._base + "/", timeout=self._health_timeout)
        except (UpstreamError, httpx.HTTPError):
            return False
        return response.status_code < 500
