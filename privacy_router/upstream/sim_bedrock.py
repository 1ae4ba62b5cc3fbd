"""The simulator's ``bedrock`` flavor: Amazon Bedrock Runtime's Converse and ConverseStream APIs.

Routes: ``POST /model/{modelId}/converse`` (JSON) and ``POST /model/{modelId}/converse-stream``
(``application/vnd.amazon.eventstream``). Like Bedrock it

- requires a SigV4 ``Authorization`` header (``AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/
  bedrock/aws4_request, SignedHeaders=...;host;...;x-amz-date, Signature=<64 hex>``): missing ->
  403 MissingAuthenticationTokenException, malformed -> 403 IncompleteSignatureException. Given
  ``--api-key KEYID:SECRET`` it recomputes the signature with botocore's signer over the request it
  received (raw path, signed headers, body hash) and refuses a mismatch with 403
  InvalidSignatureException. Clock skew is not checked (tests sign at a fixed time);
- validates what Converse validates and a translation could get wrong: non-empty ``messages``
  starting with ``user`` and alternating roles, non-empty content, ``toolConfig`` present when
  toolUse/toolResult blocks are, a known model id (else 400 ValidationException);
- validates ``image`` blocks as Converse does: ``format`` png|jpeg|gif|webp, ``source`` with
  exactly one member, ``bytes`` as base64 (the JSON wire form of a blob), at most 3.75 MB decoded
  (``IMAGE_MAX_BYTES``) and 20 images a request, bytes whose signature matches ``format``, and
  for png and gif at most 8000 px a side. ``s3Location`` is refused (this simulator has no S3);
- answers errors as ``{"message": ...}`` with ``x-amzn-ErrorType: <Exception>:http://internal.amazon.com/coral/com.amazon.bedrock/``;
- streams real event-stream frames (``encode_frame``: prelude with total and headers length and
  its CRC32, string headers ``:event-type``/``:content-type``/``:message-type``, JSON payload with
  Bedrock's ``p`` padding field, message CRC32): messageStart, contentBlockStart (tool use),
  contentBlockDelta, contentBlockStop, messageStop, metadata (usage); faults ``error-event:K`` send
  a ``modelStreamErrorException`` exception frame after K frames.

Answers follow the simulator's rule: the last user text is echoed, a tool result is answered
``Tool said: <text>``, and with tools the first (or the named) tool is called with
``{"<first property>": "<user text>"}``. Each image of the last user turn adds a note after the
text, ``[image png 3x2, 73 bytes, sha256 <first 16 hex>]`` (size only for png and gif), which
proves what arrived.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import struct
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

EVENT_STREAM = "application/vnd.amazon.eventstream"
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)"
    r"/bedrock/aws4_request,"
    r" ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?Signature=(?P<signature>[0-9a-f]{64})"
)
_ERRORS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}

# Converse image limits (Bedrock user guide, "Converse API": ImageBlock): 3.75 MB, 8000 px a side,
# 20 images a request. 3.75 MB is taken as 3,750,000 bytes, the stricter reading.
IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
IMAGE_MAX_BYTES = 3_750_000
IMAGE_MAX_SIDE = 8000
IMAGE_MAX_COUNT = 20


class ValidationError(Exception):
    """Converse would answer 400 ValidationException."""


# --------------------------------------------------------------------------------------------
# Event stream framing (AWS "Event stream encoding")


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    # name length (1 byte), name, value type 7 = string, value length (2 bytes), value
    return (
        struct.pack(">B", len(raw_name)) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value
    )


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total length, headers length, prelude CRC32), headers,
    payload, message CRC32 over everything before it."""
    raw_headers = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw_headers))
    head = prelude + struct.pack(">I", binascii.crc32(prelude)) + raw_headers + payload
    return head + struct.pack(">I", binascii.crc32(head))


def event_frame(event: str, payload: dict[str, Any]) -> bytes:
    # Bedrock pads event payloads with a "p" field of varying length (hides the token lengths).
    padded = {**payload, "p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"[: 4 + len(event) % 7]}
    headers = {":event-type": event, ":content-type": "application/json", ":message-type": "event"}
    return encode_frame(headers, json.dumps(padded, separators=(",", ":")).encode())


def exception_frame(name: str, message: str) -> bytes:
    headers = {":exception-type": name, ":content-type": "application/json", ":message-type": "exception"}
    return encode_frame(headers, json.dumps({"message": message}).encode())


# --------------------------------------------------------------------------------------------
# Auth and errors


def error_headers(status: int, code: str | None) -> dict[str, str]:
    name = code or _ERRORS.get(status, "InternalServerException")
    return {
        "x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-RequestId": str(uuid.uuid4()),
    }


def auth_failure(request: Request, raw: bytes, api_key: str | None) -> tuple[int, str, str] | None:
    """None when the SigV4 header is acceptable, else (status, message, exception name)."""
    header = request.headers.get("authorization")
    if not header:
        return 403, "Missing Authentication Token", "MissingAuthenticationTokenException"
    match = _AUTH.fullmatch(header)
    signed = match.group("signed").split(";") if match else []
    if (
        match is None
        or "host" not in signed
        or "x-amz-date" not in signed
        or "x-amz-date" not in request.headers
    ):
        return 403, "Authorization header requires SigV4 fields.", "IncompleteSignatureException"
    if api_key is None:
        return None
    key_id, _, secret = api_key.partition(":")
    if match.group("key") != key_id:
        return 403, "The security token included in the request is invalid.", "UnrecognizedClientException"
    query = request.scope.get("query_string", b"").decode()
    url = f"http://{request.headers['host']}{request.scope['raw_path'].decode()}" + (
        f"?{query}" if query else ""
    )
    aws = AWSRequest(
        method=request.method, url=url, data=raw, headers={h: request.headers.get(h, "") for h in signed}
    )
    aws.context["timestamp"] = request.headers["x-amz-date"]
    signer = SigV4Auth(
        Credentials(key_id, secret, request.headers.get("x-amz-security-token")),
        "bedrock",
        match.group("region"),
    )
    expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
    if not hmac.compare_digest(expected, match.group("signature")):
        return (
            403,
            "The request signature we calculated does not match the signature you provided. Check your "
            "AWS Secret Access Key and signing method.",
            "InvalidSignatureException",
        )
    return None


# --------------------------------------------------------------------------------------------
# Answers


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def image_format_of(data: bytes) -> str | None:
    """The Converse image format whose file signature ``data`` starts with, if any."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _image_size(image_format: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) from a png IHDR chunk or a gif logical screen descriptor."""
    if image_format == "png" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if image_format == "gif" and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    return None


def _image(block: Any) -> tuple[str, bytes]:
    """(format, decoded bytes) of a Converse ``image`` block, or ValidationError."""
    if not isinstance(block, dict) or set(block) != {"format", "source"}:
        raise ValidationError("The ImageBlock object needs exactly the format and source fields.")
    image_format = block["format"]
    if image_format not in IMAGE_FORMATS:
        raise ValidationError("The image format must be one of png, jpeg, gif or webp.")
    source = block["source"]
    if not isinstance(source, dict) or len(source) != 1:
        raise ValidationError("The ImageSource object must have exactly one member.")
    if "bytes" not in source:
        raise ValidationError("This simulator accepts only image bytes (no s3Location).")
    raw = source["bytes"]
    try:
        data = base64.b64decode(raw, validate=True) if isinstance(raw, str) else b""
    except binascii.Error:
        data = b""
    if not data:
        raise ValidationError("The image bytes must be a non-empty base64 string.")
    if len(data) > IMAGE_MAX_BYTES:
        raise ValidationError("The image exceeds the maximum size of 3.75 MB.")
    if image_format_of(data) != image_format:
        raise ValidationError("Could not process image: its bytes are not in the declared format.")
    size = _image_size(image_format, data)
    if size is not None and max(size) > IMAGE_MAX_SIDE:
        raise ValidationError("The image exceeds the maximum width or height of 8000 pixels.")
    return image_format, data


def _image_note(block: dict[str, Any]) -> str:
    image_format, data = _image(block)
    size = _image_size(image_format, data)
    shape = f" {size[0]}x{size[1]}" if size else ""
    digest = hashlib.sha256(data).hexdigest()[:16]
    return f"[image {image_format}{shape}, {len(data)} bytes, sha256 {digest}]"


def _validate(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValidationError("The messages field is required and must not be empty.")
    expected = "user"
    uses_tools = False
    images = 0
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != expected:
            raise ValidationError(
                "A conversation must start with a user message and alternate between user and "
                "assistant roles."
            )
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise ValidationError("The content field in the Message object is empty.")
        for block in content:
            if not isinstance(block, dict) or len(block) != 1:
                raise ValidationError("Each content block must have exactly one member.")
            if "text" in block and not str(block["text"]).strip():
                raise ValidationError("The text field in the ContentBlock object is blank.")
            if "image" in block:
                _image(block["image"])
                images += 1
            uses_tools = uses_tools or "toolUse" in block or "toolResult" in block
        expected = "assistant" if expected == "user" else "user"
    if images > IMAGE_MAX_COUNT:
        raise ValidationError("Too many images: a request can include at most 20 images.")
    if uses_tools and not (body.get("toolConfig") or {}).get("tools"):
        raise ValidationError(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        )
    return messages


def plan(body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None, str]:
    """(text, tool use, stopReason) for a validated Converse request."""
    last = body["messages"][-1]
    blocks = last["content"] if last["role"] == "user" else []
    results = [b["toolResult"] for b in blocks if "toolResult" in b]
    if results:
        said = "".join(c.get("text", "") for c in results[-1].get("content") or ())
        return "Tool said: " + said, None, "end_turn"
    text = "".join(b["text"] for b in blocks if "text" in b)
    text = " ".join([text, *(_image_note(b["image"]) for b in blocks if "image" in b)]).strip()
    config = body.get("toolConfig") or {}
    tools = [t["toolSpec"] for t in config.get("tools") or () if "toolSpec" in t]
    if tools and last["role"] == "user":
        wanted = ((config.get("toolChoice") or {}).get("tool") or {}).get("name")
        spec = next((t for t in tools if t.get("name") == wanted), tools[0])
        properties = ((spec.get("inputSchema") or {}).get("json") or {}).get("properties") or {}
        use = {
            "toolUseId": "tooluse_" + uuid.uuid4().hex[:22],
            "name": spec.get("name"),
            "input": {next(iter(properties)): text} if properties else {},
        }
        return None, use, "tool_use"
    return text, None, "end_turn"


def _usage(body: dict[str, Any], text: str | None, use: dict[str, Any] | None) -> dict[str, int]:
    prompt = _tokens(json.dumps(body.get("messages"), ensure_ascii=False))
    completion = _tokens((text or "") + (json.dumps(use["input"]) if use else ""))
    return {"inputTokens": prompt, "outputTokens": completion, "totalTokens": prompt + completion}


def _events(body: dict[str, Any], text: str | None, use: dict[str, Any] | None, stop: str) -> Iterator[bytes]:
    yield event_frame("messageStart", {"role": "assistant"})
    index = 0
    if text:
        for i in range(0, len(text), 3):
            yield event_frame(
                "contentBlockDelta", {"delta": {"text": text[i : i + 3]}, "contentBlockIndex": index}
            )
        yield event_frame("contentBlockStop", {"contentBlockIndex": index})
        index += 1
    if use is not None:
        start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
        yield event_frame("contentBlockStart", {"start": start, "contentBlockIndex": index})
        arguments = json.dumps(use["input"], ensure_ascii=False)
        for i in range(0, len(arguments), 5):
            delta = {"toolUse": {"input": arguments[i : i + 5]}}
            yield event_frame("contentBlockDelta", {"delta": delta, "contentBlockIndex": index})
        yield event_frame("contentBlockStop", {"contentBlockIndex": index})
    yield event_frame("messageStop", {"stopReason": stop})
    yield event_frame("metadata", {"usage": _usage(body, text, use), "metrics": {"latencyMs": 42}})


def routes_for(sim: Any, drop: type[Exception]) -> list[Any]:
    """The Starlette routes; ``sim`` is the simulator (prologue: record, auth, fail/stall faults)."""
    from starlette.routing import Route

    async def converse(request: Request) -> Response:
        return await _converse(sim, request, drop, stream=False)

    async def converse_stream(request: Request) -> Response:
        return await _converse(sim, request, drop, stream=True)

    return [
        Route("/model/{model_id:path}/converse", converse, methods=["POST"]),
        Route("/model/{model_id:path}/converse-stream", converse_stream, methods=["POST"]),
    ]


async def _converse(sim: Any, request: Request, drop: type[Exception], *, stream: bool) -> Response:
    body, faults = await sim._prologue(request, json_body=True)
    model = request.path_params["model_id"]
    request_id = str(uuid.uuid4())
    try:
        if model not in sim.models:
            raise ValidationError("The provided model identifier is invalid.")
        _validate(body)
    except ValidationError as exc:
        return JSONResponse({"message": str(exc)}, status_code=400, headers=error_headers(400, None))
    text, use, stop = plan(body)
    if not stream:
        content: list[dict[str, Any]] = [{"text": text}] if text else []
        if use is not None:
            content.append({"toolUse": use})
        out = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": _usage(body, text, use),
            "metrics": {"latencyMs": 42},
        }
        return JSONResponse(out, headers={"x-amzn-RequestId": request_id})
    frames = _events(body, text, use, stop)

    def on_end(outcome: str, sent: int) -> None:
        sim._stream_event(None, outcome, sent)

    async def produce() -> AsyncIterator[bytes]:
        sent = 0
        outcome = "cancelled"
        try:
            for frame in frames:
                if faults.drop_after is not None and sent >= faults.drop_after:
                    outcome = "dropped"
                    raise drop
                if faults.truncate_after is not None and sent >= faults.truncate_after:
                    break
                if faults.error_event_after is not None and sent >= faults.error_event_after:
                    yield exception_frame("modelStreamErrorException", "The model stream failed. Try again.")
                    break
                if sent and faults.slow_ms:
                    await asyncio.sleep(faults.slow_ms / 1000)
                yield frame
                sent += 1
            outcome = "completed"
        finally:
            on_end(outcome, sent)

    return StreamingResponse(
        produce(),
        media_type=EVENT_STREAM,
        headers={"x-amzn-RequestId": request_id},
    )
