"""Translate between OpenAI chat completions and Anthropic Messages, both ways, stream included.

Used when the client's surface and the backend's wire format differ: an OpenAI chat request the
policy sends to an Anthropic backend, or an Anthropic Messages request sent to an OpenAI-compatible
backend (on-prem vLLM included). Scrubbing and restoring happen in the CLIENT's format, before the
request is translated and after the answer is translated back, so the vault never needs to know
about the other format.

Wire formats: /work/shared/reference/protocol.md §1 (OpenAI/vLLM) and §6 (Anthropic). Mapping
decisions, each a deviation a client could notice:

- OpenAI ``system``/``developer`` messages become Anthropic's top-level ``system`` (Anthropic has no
  system role); ``tool`` messages become ``tool_result`` blocks inside a user message (Anthropic has
  no tool role); consecutive same-role messages are merged (Anthropic requires alternation).
- ``tool_calls[].function.arguments`` (a JSON string) becomes ``tool_use.input`` (an object) and
  back; arguments that are not a JSON object become ``{}``, as vLLM does (protocol.md §1.2).
- Anthropic requires ``max_tokens``; a chat request without one gets ``DEFAULT_MAX_TOKENS``.
- Finish reasons: stop<->end_turn, length<->max_tokens, tool_calls<->tool_use,
  content_filter<->refusal; ``stop_sequence`` becomes ``stop``.
- Only ``n == 1`` can be translated to Anthropic (it has no ``n``); other values are a 400.
- Images: OpenAI ``image_url`` data URLs <-> Anthropic ``image`` base64 sources; http(s) URLs
  become ``{"type": "url"}`` sources.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from privacy_router.errors import BadRequest

DEFAULT_MAX_TOKENS = 4096
# Top-level fields of an Anthropic Messages request (anthropic 2.14 message_create_params.py).
_ANTHROPIC_KEYS = frozenset(
    {
        "model", "max_tokens", "messages", "system", "tools", "tool_choice", "stop_sequences", "temperature",
        "top_p", "top_k", "stream", "thinking", "metadata", "service_tier", "container", "mcp_servers",
        "context_management", "output_format",
    }
)  # fmt: skip

_STOP_TO_ANTHROPIC = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
_STOP_TO_OPENAI = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}
# Anthropic error types by HTTP status (vLLM entrypoints/anthropic/protocol.py:19-53, protocol.md §6).
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def anthropic_error_type(status: int) -> str:
    if status in ANTHROPIC_ERROR_TYPES:
        return ANTHROPIC_ERROR_TYPES[status]
    return (
        "overloaded_error" if status == 503 else ("api_error" if status >= 500 else "invalid_request_error")
    )


def anthropic_error_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": anthropic_error_type(status), "message": message}}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def anthropic_event(name: str, data: dict[str, Any]) -> bytes:
    """One Anthropic SSE event: an ``event:`` line AND a ``data:`` line (the SDK skips events
    without ``event:``, protocol.md §6)."""
    return b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n"


def openai_event(data: Any) -> bytes:
    return b"data: " + _dumps(data) + b"\n\n"


# --------------------------------------------------------------------------------------------
# SSE parsing (WHATWG rules: LF, CRLF or CR line ends; comments start with ':')


class SSEParser:
    """Incremental SSE parser: ``feed`` bytes, get complete ``(event, data)`` pairs."""

    def __init__(self) -> None:
        self._buf = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        self._buf += chunk
        text = self._buf.replace(b"\r\n", b"\n")
        # A trailing CR may be half of a CRLF: keep it until the next chunk.
        keep_cr = text.endswith(b"\r")
        text = text.replace(b"\r", b"\n") if not keep_cr else text[:-1].replace(b"\r", b"\n")
        *lines, rest = text.split(b"\n")
        self._buf = rest + (b"\r" if keep_cr else b"")
        out: list[tuple[str, str]] = []
        for raw in lines:
            line = raw.decode("utf-8", errors="replace")
            if not line:
                if self._data:
                    out.append((self._event or "message", "\n".join(self._data)))
                self._event, self._data = "", []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                self._event = value
            elif name == "data":
                self._data.append(value)
        return out


# --------------------------------------------------------------------------------------------
# Anthropic Messages request -> OpenAI chat request


def _text_of_blocks(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def _image_block_to_part(block: dict[str, Any]) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    else:
        url = str(source.get("url", ""))
    return {"type": "image_url", "image_url": {"url": url}}


def chat_request_from_messages(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request equivalent to an Anthropic Messages request."""
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _text_of_blocks(system)})
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            raise BadRequest("each message must be an object", param="messages")
        role = message.get("role")
        content = message.get("content")
        if isinstance(content, str):
            messages.append({"role": role, "content": content})
            continue
        parts: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for block in content or ():
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                parts.append({"type": "text", "text": block.get("text", "")})
            elif kind == "image":
                parts.append(_image_block_to_part(block))
            elif kind == "tool_use":
                calls.append(
                    {
                        "id": block.get("id"),
                        "type": "function",
                        "function": {
                            "name": block.get("name"),
                            "arguments": json.dumps(block.get("input") or {}),
                        },
                    }
                )
            elif kind == "tool_result":
                # Tool results come before any other part of the user turn (OpenAI: tool messages
                # follow the assistant message that called them).
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": block.get("tool_use_id"),
                        "content": _text_of_blocks(block.get("content")),
                    }
                )
            elif kind in ("thinking", "redacted_thinking"):
                continue  # provider-signed; an OpenAI-compatible backend cannot verify or use it
            else:
                raise BadRequest("unsupported content block type for this backend", param="messages")
        if role == "assistant":
            text = "".join(p.get("text", "") for p in parts if p["type"] == "text")
            out: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                out["tool_calls"] = calls
            messages.append(out)
        elif parts:
            messages.append({"role": role, "content": parts})
    # Keys Anthropic does not define travel on untouched (vLLM extras, protocol.md §1.1); the ones
    # it defines but chat completions lacks (metadata, thinking, ...) are dropped.
    chat: dict[str, Any] = {k: v for k, v in body.items() if k not in _ANTHROPIC_KEYS}
    chat.update({"model": body.get("model"), "messages": messages})
    if "max_tokens" in body:
        chat["max_tokens"] = body["max_tokens"]
    for key in ("temperature", "top_p", "stream"):
        if key in body:
            chat[key] = body[key]
    if "top_k" in body:
        chat["top_k"] = body["top_k"]  # a vLLM extra (protocol.md §1.1)
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    if body.get("stream"):
        chat["stream_options"] = {"include_usage": True}  # Anthropic always reports usage
    tools = body.get("tools")
    if tools:
        chat["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.get("name"),
                    "description": t.get("description", ""),
                    "parameters": t.get("input_schema") or {"type": "object"},
                },
            }
            for t in tools
            if isinstance(t, dict)
        ]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "tool":
            chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif kind in ("auto", "none"):
            chat["tool_choice"] = kind
        elif kind == "any":
            chat["tool_choice"] = "required"
    return chat


def messages_response_from_chat(body: dict[str, Any], model: str | None) -> dict[str, Any]:
    """An Anthropic Messages response equivalent to an OpenAI chat completion (first choice)."""
    choices = body.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": fn.get("name"),
                "input": _json_object(fn.get("arguments")),
            }
        )
    usage = body.get("usage") or {}
    return {
        "id": "msg_" + str(body.get("id") or uuid.uuid4().hex).removeprefix("chatcmpl-"),
        "type": "message",
        "role": "assistant",
        "model": model or body.get("model"),
        "content": content,
        "stop_reason": _STOP_TO_ANTHROPIC.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.get("prompt_tokens", 0),
            "output_tokens": usage.get("completion_tokens", 0),
        },
    }


def _json_object(arguments: Any) -> dict[str, Any]:
    try:
        value = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class ChatToMessagesStream:
    """Per-request adapter: OpenAI chat SSE bytes in, Anthropic Messages SSE bytes out.

    Only choice 0 is translated (the Anthropic request had no ``n``). ``done`` and ``errored``
    mirror ``SSERestorer``: ``message_stop`` is emitted only when the upstream sent ``[DONE]``;
    an upstream error event becomes an ``event: error`` and nothing follows it.
    """

    def __init__(self, model: str | None) -> None:
        self._parser = SSEParser()
        self._model = model
        self._started = False
        self._block: tuple[str, int] | None = None  # ("text", -1) or ("tool", openai tool index)
        self._next_index = 0
        self._stop_reason = "end_turn"
        self._output_tokens = 0
        self._input_tokens = 0
        self.done = False
        self.errored = False

    def _start(self, chunk: dict[str, Any]) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": "msg_" + str(chunk.get("id") or uuid.uuid4().hex).removeprefix("chatcmpl-"),
            "type": "message",
            "role": "assistant",
            "model": self._model or chunk.get("model"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return anthropic_event("message_start", {"type": "message_start", "message": message})

    def _close_block(self) -> bytes:
        if self._block is None:
            return b""
        self._block = None
        index = self._next_index
        self._next_index += 1
        return anthropic_event("content_block_stop", {"type": "content_block_stop", "index": index})

    def _open(self, block: tuple[str, int], content_block: dict[str, Any]) -> bytes:
        out = self._close_block() if self._block != block else b""
        if self._block == block:
            return out
        self._block = block
        start = {"type": "content_block_start", "index": self._next_index, "content_block": content_block}
        return out + anthropic_event("content_block_start", start)

    def _delta(self, delta: dict[str, Any]) -> bytes:
        data = {"type": "content_block_delta", "index": self._next_index, "delta": delta}
        return anthropic_event("content_block_delta", data)

    def feed(self, chunk: bytes) -> bytes:
        out = bytearray()
        for _, data in self._parser.feed(chunk):
            if self.done:
                break
            out += self._on(data)
        return bytes(out)

    def _on(self, data: str) -> bytes:
        if data.strip() == "[DONE]":
            self.done = True
            if self.errored:
                return b""
            head = self._start({}) + self._close_block()
            final = {
                "type": "message_delta",
                "delta": {"stop_reason": self._stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": self._output_tokens},
            }
            return (
                head
                + anthropic_event("message_delta", final)
                + anthropic_event("message_stop", {"type": "message_stop"})
            )
        try:
            obj = json.loads(data)
        except ValueError:
            return b""
        if not isinstance(obj, dict):
            return b""
        if obj.get("error"):
            self.errored = True
            err: dict[str, Any] = obj["error"] if isinstance(obj["error"], dict) else {}
            code = err.get("code")
            status = code if isinstance(code, int) else 500
            message = str(err["message"]) if isinstance(err.get("message"), str) else "upstream error"
            return anthropic_event("error", anthropic_error_body(status, message))
        out = bytearray(self._start(obj))
        usage: Any = obj.get("usage")
        if isinstance(usage, dict):
            self._output_tokens = int(usage.get("completion_tokens") or 0)
            self._input_tokens = int(usage.get("prompt_tokens") or 0)
        for choice in obj.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta: dict[str, Any] = choice.get("delta") or {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                out += self._open(("text", -1), {"type": "text", "text": ""})
                out += self._delta({"type": "text_delta", "text": delta["content"]})
            call: dict[str, Any]
            for call in delta.get("tool_calls") or ():
                t = call.get("index", 0)
                fn = call.get("function") or {}
                if call.get("id") or self._block != ("tool", t):
                    block: dict[str, Any] = {
                        "type": "tool_use",
                        "id": call.get("id") or "",
                        "name": fn.get("name") or "",
                        "input": {},
                    }
                    out += self._open(("tool", t), block)
                if isinstance(fn.get("arguments"), str) and fn["arguments"]:
                    out += self._delta({"type": "input_json_delta", "partial_json": fn["arguments"]})
            if choice.get("finish_reason"):
                self._stop_reason = _STOP_TO_ANTHROPIC.get(choice["finish_reason"], "end_turn")
        return bytes(out)

    def finish(self) -> bytes:
        return b""  # without [DONE] the stream did not finish: the caller reports the truncation


# --------------------------------------------------------------------------------------------
# OpenAI chat request -> Anthropic Messages request


def _part_to_block(part: Any) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise BadRequest("each content part must be an object", param="messages")
    kind = part.get("type")
    if kind in ("text", "input_text", "output_text"):
        return {"type": "text", "text": part.get("text", "")}
    if kind == "image_url":
        url = str((part.get("image_url") or {}).get("url", ""))
        if url.startswith("data:") and ";base64," in url:
            media_type, _, data = url[5:].partition(";base64,")
            return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise BadRequest("unsupported content part type for this backend", param="messages")


def messages_request_from_chat(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request equivalent to an OpenAI chat request."""
    n = body.get("n")
    if n not in (None, 1):
        raise BadRequest("n > 1 is not available on this backend", param="n")
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)  # Anthropic requires alternating roles
        else:
            turns.append({"role": role, "content": blocks})

    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            raise BadRequest("each message must be an object", param="messages")
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.append(content if isinstance(content, str) else _text_of_blocks(content))
        elif role == "tool":
            text = content if isinstance(content, str) else _text_of_blocks(content)
            add(
                "user", [{"type": "tool_result", "tool_use_id": message.get("tool_call_id"), "content": text}]
            )
        elif role in ("user", "assistant"):
            if isinstance(content, str):
                blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if content else []
            else:
                blocks = [_part_to_block(p) for p in content or ()]
            for call in message.get("tool_calls") or ():
                fn = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id"),
                        "name": fn.get("name"),
                        "input": _json_object(fn.get("arguments")),
                    }
                )
            add(role, blocks)
        else:
            raise BadRequest("unsupported message role for this backend", param="messages")
    out: dict[str, Any] = {
        "model": body.get("model"),
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS,
        "messages": turns,
    }
    if system:
        out["system"] = "\n".join(system)
    for key in ("temperature", "top_p", "top_k", "stream"):
        if key in body:
            out[key] = body[key]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        out["tools"] = [
            {
                "name": (t.get("function") or {}).get("name"),
                "description": (t.get("function") or {}).get("description", ""),
                "input_schema": (t.get("function") or {}).get("parameters") or {"type": "object"},
            }
            for t in body["tools"]
            if isinstance(t, dict)
        ]
    choice = body.get("tool_choice")
    if choice == "required":
        out["tool_choice"] = {"type": "any"}
    elif choice in ("auto", "none"):
        out["tool_choice"] = {"type": choice}
    elif isinstance(choice, dict):
        out["tool_choice"] = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    return out


def chat_response_from_messages(body: dict[str, Any], model: str | None) -> dict[str, Any]:
    """An OpenAI chat completion equivalent to an Anthropic Messages response."""
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in body.get("content") or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            text.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False),
                    },
                }
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    usage = body.get("usage") or {}
    prompt, completion = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    return {
        "id": "chatcmpl-" + str(body.get("id") or uuid.uuid4().hex).removeprefix("msg_"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model or body.get("model"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _STOP_TO_OPENAI.get(body.get("stop_reason") or "end_turn", "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


class MessagesToChatStream:
    """Per-request adapter: Anthropic Messages SSE bytes in, OpenAI chat SSE bytes out.

    ``[DONE]`` is emitted only after ``message_stop``; an ``event: error`` becomes an OpenAI error
    event with nothing after it. ``ping`` events are dropped (OpenAI has none).
    """

    def __init__(self, model: str | None, include_usage: bool) -> None:
        self._parser = SSEParser()
        self._model = model
        self._include_usage = include_usage
        self._id = "chatcmpl-" + uuid.uuid4().hex
        self._created = int(time.time())
        self._tool_index: dict[int, int] = {}  # Anthropic block index -> OpenAI tool-call index
        self._usage = {"prompt_tokens": 0, "completion_tokens": 0}
        self.done = False
        self.errored = False

    def _chunk(self, delta: dict[str, Any] | None, finish: str | None = None) -> bytes:
        choices = (
            [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        )
        data: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }
        if delta is None:
            p, c = self._usage["prompt_tokens"], self._usage["completion_tokens"]
            data["usage"] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
        return openai_event(data)

    def feed(self, chunk: bytes) -> bytes:
        out = bytearray()
        for name, data in self._parser.feed(chunk):
            if self.done:
                break
            out += self._on(name, data)
        return bytes(out)

    def _on(self, name: str, data: str) -> bytes:
        try:
            obj = json.loads(data)
        except ValueError:
            return b""
        if not isinstance(obj, dict):
            return b""
        kind = obj.get("type", name)
        if kind == "error":
            self.errored = self.done = True
            err: dict[str, Any] = obj["error"] if isinstance(obj.get("error"), dict) else {}
            message = err.get("message") if isinstance(err.get("message"), str) else "upstream error"
            body = {
                "error": {
                    "message": message,
                    "type": err.get("type") or "api_error",
                    "param": None,
                    "code": None,
                }
            }
            return openai_event(body)
        if kind == "message_start":
            usage = (obj.get("message") or {}).get("usage") or {}
            self._usage["prompt_tokens"] = int(usage.get("input_tokens") or 0)
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "content_block_start":
            block = obj.get("content_block") or {}
            if block.get("type") == "tool_use":
                t = self._tool_index[obj.get("index", 0)] = len(self._tool_index)
                call = {
                    "index": t,
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""},
                }
                return self._chunk({"content": None, "tool_calls": [call]})
            return b""
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            if delta.get("type") == "text_delta":
                return self._chunk({"content": delta.get("text", "")})
            if delta.get("type") == "input_json_delta":
                t = self._tool_index.get(obj.get("index", 0), 0)
                return self._chunk(
                    {"tool_calls": [{"index": t, "function": {"arguments": delta.get("partial_json", "")}}]}
                )
            return b""  # thinking/signature/citations deltas have no chat-completions field here
        if kind == "message_delta":
            usage = obj.get("usage") or {}
            if "output_tokens" in usage:
                self._usage["completion_tokens"] = int(usage["output_tokens"] or 0)
            if usage.get("input_tokens"):  # cumulative usage (Anthropic; Bedrock's metadata event)
                self._usage["prompt_tokens"] = int(usage["input_tokens"])
            reason = (obj.get("delta") or {}).get("stop_reason")
            return self._chunk({}, _STOP_TO_OPENAI.get(reason or "end_turn", "stop"))
        if kind == "message_stop":
            self.done = True
            return (self._chunk(None) if self._include_usage else b"") + b"data: [DONE]\n\n"
        return b""  # ping, content_block_stop

    def finish(self) -> bytes:
        return b""
