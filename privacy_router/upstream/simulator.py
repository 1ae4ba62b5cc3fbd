"""A GPU-free upstream: a real HTTP server speaking the wire format of vLLM or OpenAI.

Used by tests, the demo and ``privacy-router simulate-upstream``. Every request it receives is
appended to a JSONL file before the answer starts: that file is the leak oracle (what actually left
the router). The wire details follow /work/shared/reference/protocol.md (cited below as §n):

- vLLM non-stream bodies are ``model_dump()``ed, so vLLM-only keys appear as ``null`` (§1.3);
  stream chunks are dumped with ``exclude_unset``: no ``"usage": null``, the role delta is
  ``{"role":"assistant","content":""}`` (§1.4); tool-call ids are ``chatcmpl-tool-<uuid>``;
  errors are ``{"error":{"message","type","param","code":<int status>}}`` (§1.5).
- OpenAI tool-call ids are ``call_...``; with ``stream_options.include_usage`` every ordinary
  chunk carries ``"usage": null`` (openai-python ``chat_completion_stream_options_param.py``);
  errors carry a string ``code`` or null.

The ``anthropic`` flavor serves ``POST /v1/messages`` and ``GET /v1/models`` in Anthropic's wire
format (§6): ``event:`` lines, ``message_start``/``ping``/``content_block_*``/``message_delta``/
``message_stop``, no ``[DONE]``, ``{"type":"error",...}`` errors, ``tool_use`` with an object input.

Answers are deterministic: the text of the last user message is echoed (so placeholders the
router put in must come back), a tool result is answered ``Tool said: <content>``, and with
``tools`` the first (or the named) tool is called with ``{"<first property>": "<user text>"}``.

Faults, per request with the ``x-sim-fault`` header (or a ``sim_fault`` body key, as a spec
string or as ``{"drop": 3, ...}``) or for every
request with ``--fault``
(comma-separated, e.g. ``slow:5,drop:3``):
``fail:<status>`` error body of the flavor; ``stall:<seconds>`` before the first byte;
``drop:<k>`` abort the TCP connection after k stream chunks (no terminating chunk, no [DONE]);
``truncate:<k>`` end the body cleanly after k chunks without [DONE]; ``slow:<ms>`` between chunks;
``error-event:<k>`` the flavor's in-band error event after k chunks, then ``[DONE]`` (§1.5; the
anthropic flavor sends ``event: error`` and, as Anthropic, no ``[DONE]``);
``keepalive:<k>`` a ``: keep-alive`` comment after every k chunks (vLLM ``--sse-keep-alive-interval``,
§1.4); ``linger:<seconds>`` keep the body open that long after the last event (a server that does
not close after ``[DONE]``); ``retry-after:<seconds>`` adds ``Retry-After`` to a ``fail`` answer;
``fail-times:<n>`` applies ``fail`` only to the first n attempts of each request (counted per
``X-Request-Id``, which the router keeps across its retries); ``health:<status>`` is what
``GET /health`` and ``GET /v1/models`` answer (else ``fail``'s), so a replica can pass its health check
and still fail requests. ``POST /sim/fault {"fault": spec}`` replaces the ``--fault`` spec at run
time (``RunningSimulator.set_fault``).

Every stream's end is written to ``<record>.events.jsonl`` as ``{"event": "completed" |
"dropped" | "cancelled", "request_id", "sent", "ts"}``: ``cancelled`` means the client (the router) closed the
connection before the stream ended, which is how tests prove an upstream request was cancelled.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import math
import random
import secrets
import socket
import string
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from privacy_router.upstream import sim_bedrock, sim_flavors

Flavor = Literal["vllm", "openai", "anthropic", "azure", "gemini", "bedrock", "tgi", "trtllm"]
# azure, gemini, tgi and trtllm: upstream/sim_flavors.py; bedrock: upstream/sim_bedrock.py.
FLAVORS: tuple[str, ...] = ("vllm", "openai", "anthropic", "azure", "gemini", "bedrock", "tgi", "trtllm")
DEFAULT_MODELS: dict[str, str] = {
    "vllm": "llama-3.1-8b",
    "openai": "gpt-4o",
    "anthropic": "claude-opus-4-8",
    "azure": "gpt-4o",
    "gemini": "gemini-2.5-flash",
    "bedrock": "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "tgi": "meta-llama/Llama-3.1-8B-Instruct",
    "trtllm": "llama-3.1-8b",
}
EMBEDDING_DIM = 8
FAULT_HEADER = "x-sim-fault"
BODY_FAULT_KEY = "sim_fault"
_FAULT_KINDS = (
    *("fail", "stall", "drop", "truncate", "slow", "error-event", "keepalive", "linger"),
    *("retry-after", "fail-times", "health"),
)
_ALNUM = string.ascii_letters + string.digits


# --------------------------------------------------------------------------------------------
# Faults


@dataclass(frozen=True)
class Faults:
    fail: int | None = None
    stall_s: float = 0.0
    drop_after: int | None = None
    truncate_after: int | None = None
    slow_ms: float = 0.0
    error_event_after: int | None = None
    keepalive_every: int | None = None
    linger_s: float = 0.0
    retry_after_s: float | None = None
    fail_times: int | None = None
    health: int | None = None

    @classmethod
    def parse(cls, *specs: str | None) -> Faults:
        """Parse ``kind:value[,kind:value...]``; later specs override earlier ones per kind."""
        values: dict[str, str] = {}
        for spec in specs:
            for part in (spec or "").split(","):
                part = part.strip()
                if not part:
                    continue
                kind, sep, value = part.partition(":")
                if not sep or kind not in _FAULT_KINDS:
                    raise ValueError(
                        f"unknown fault {part!r}; use one of {', '.join(_FAULT_KINDS)} as kind:N"
                    )
                values[kind] = value
        try:
            return cls(
                fail=int(values["fail"]) if "fail" in values else None,
                stall_s=float(values.get("stall", 0.0)),
                drop_after=int(values["drop"]) if "drop" in values else None,
                truncate_after=int(values["truncate"]) if "truncate" in values else None,
                slow_ms=float(values.get("slow", 0.0)),
                error_event_after=int(values["error-event"]) if "error-event" in values else None,
                keepalive_every=int(values["keepalive"]) if "keepalive" in values else None,
                linger_s=float(values.get("linger", 0.0)),
                retry_after_s=float(values["retry-after"]) if "retry-after" in values else None,
                fail_times=int(values["fail-times"]) if "fail-times" in values else None,
                health=int(values["health"]) if "health" in values else None,
            )
        except ValueError:
            raise ValueError(f"bad fault value in {values}") from None


class _DropConnection(Exception):
    """Raised inside a streaming body: the server aborts the connection mid-body (fault ``drop``)."""


class _QuietDrop(logging.Filter):
    """Keep uvicorn from logging a traceback for the connection drops we cause on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        seen: set[int] = set()
        while exc is not None and id(exc) not in seen:
            if isinstance(exc, _DropConnection):
                return False
            seen.add(id(exc))
            group = getattr(exc, "exceptions", None)
            exc = group[0] if group else (exc.__cause__ or exc.__context__)
        return True


# --------------------------------------------------------------------------------------------
# Deterministic content


def embedding_for(text: str) -> list[float]:
    """The simulator's embedding of ``text``: 8 float32 values in [-1, 1) from SHA-256(text).

    Values are exactly representable as float32, so the float and base64 encodings agree bit for bit.
    """
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    raw = [(u / 2**31) - 1.0 for u in struct.unpack(">8I", digest)]
    return list(struct.unpack("<8f", struct.pack("<8f", *raw)))


def text_of(content: Any) -> str:
    """Text of a message ``content``: a string, or the concatenated text of its text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return ""


def _pieces(text: str, seed: str, low: int, high: int) -> list[str]:
    """Split ``text`` into pieces of low..high characters (deterministic per seed)."""
    rng = random.Random(seed)
    out = []
    i = 0
    while i < len(text):
        n = rng.randint(low, high)
        out.append(text[i : i + n])
        i += n
    return out


def _tokens(text: str) -> int:
    # A rough, deterministic stand-in for a tokenizer (~4 characters per token).
    return max(1, math.ceil(len(text) / 4)) if text else 0


@dataclass
class _Answer:
    content: str | None
    tool_name: str | None = None
    tool_arguments: str | None = None
    finish_reason: str = "stop"


def _plan(flavor: str, body: dict[str, Any]) -> _Answer:
    messages = body["messages"]
    last = messages[-1] if messages else {}
    role = last.get("role") if isinstance(last, dict) else None
    if role == "tool":
        return _Answer(content="Tool said: " + text_of(last.get("content")))
    user_text = ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            user_text = text_of(message.get("content"))
            break
    tools = body.get("tools") or []
    choice = body.get("tool_choice", "auto")
    if tools and choice != "none" and role == "user":
        tool = tools[0]
        named = isinstance(choice, dict)
        if named:
            wanted = choice.get("function", {}).get("name")
            tool = next((t for t in tools if t.get("function", {}).get("name") == wanted), tool)
        function = tool.get("function", {})
        properties = (function.get("parameters") or {}).get("properties") or {}
        arguments = {next(iter(properties)): user_text} if properties else {}
        # A forced named tool finishes with "stop", otherwise "tool_calls"
        # (vLLM serve/utils/tool_calls_utils.py:41-59, §1.3). With tool_choice required or named,
        # vLLM forces content to "" (message_assembly.py:60-61); OpenAI sends null.
        forced = named or choice == "required"
        return _Answer(
            content="" if (forced and flavor == "vllm") else None,
            tool_name=function.get("name", ""),
            tool_arguments=json.dumps(arguments, ensure_ascii=False),
            finish_reason="stop" if named else "tool_calls",
        )
    return _Answer(content=user_text)


# --------------------------------------------------------------------------------------------
# Wire shapes per flavor


class _HTTPError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}


_VLLM_TYPES = {
    400: "BadRequestError",
    401: "Unauthorized",
    404: "NotFoundError",
    500: "InternalServerError",
    501: "NotImplementedError",
    503: "ServiceUnavailableError",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_OPENAI_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error"}


def error_body(
    flavor: str, status: int, message: str, param: str | None = None, code: str | None = None
) -> Any:
    if flavor == "bedrock":
        return {"message": message}  # the exception name travels in x-amzn-ErrorType
    if flavor in sim_flavors.BASE:
        return sim_flavors.error_body(flavor, status, message, param, code)
    if flavor == "anthropic":
        # {"type":"error","error":{"type","message"}} (protocol.md §6)
        return {
            "type": "error",
            "error": {"type": _ANTHROPIC_TYPES.get(status, "api_error"), "message": message},
        }
    if flavor == "vllm":
        # V33 ErrorResponse: code is the integer HTTP status (serve/engine/protocol.py:79-87).
        return {
            "error": {
                "message": message,
                "type": _VLLM_TYPES.get(status, "Error"),
                "param": param,
                "code": status,
            }
        }
    if status == 429:
        etype = "requests"
    elif status >= 500:
        etype = "server_error"
    else:
        etype = _OPENAI_TYPES.get(status, "invalid_request_error")
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


def _stream_error_event(flavor: str) -> Any:
    if flavor == "vllm":
        # V33 chat_completion/serving.py:503-507 (§1.5).
        return error_body("vllm", 500, "Internal server error")
    return error_body(
        "openai", 500, "The server had an error while processing your request. Sorry about that!"
    )


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


_DONE = b"data: [DONE]\n\n"


@dataclass
class _Ctx:
    flavor: str
    model: str
    id: str
    created: int
    faults: Faults
    headers: dict[str, str] = field(default_factory=dict)


def _tool_call_id(flavor: str) -> str:
    if flavor == "vllm":
        return "chatcmpl-tool-" + uuid.uuid4().hex  # renderers/chat_utils/tool_call.py:27-32
    return "call_" + "".join(secrets.choice(_ALNUM) for _ in range(24))


def _usage(flavor: str, prompt: int, completion: int) -> dict[str, Any]:
    if flavor == "vllm":
        return {
            "prompt_tokens": prompt,
            "total_tokens": prompt + completion,
            "completion_tokens": completion,
            "prompt_tokens_details": None,
            "completion_tokens_details": None,
        }
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _prompt_tokens(body: dict[str, Any]) -> int:
    return sum(_tokens(text_of(m.get("content"))) for m in body["messages"] if isinstance(m, dict))


def _answer_tokens(answer: _Answer) -> int:
    return _tokens((answer.content or "") + (answer.tool_arguments or "") + (answer.tool_name or ""))


def _chat_message(ctx: _Ctx, answer: _Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content, "refusal": None}
    if ctx.flavor == "vllm":
        message.update({"annotations": None, "audio": None, "function_call": None, "reasoning": None})
    else:
        message["annotations"] = []
    if answer.tool_name is not None:
        message["tool_calls"] = [
            {
                "id": _tool_call_id(ctx.flavor),
                "type": "function",
                "function": {"name": answer.tool_name, "arguments": answer.tool_arguments},
            }
        ]
    return message


def _chat_response(ctx: _Ctx, body: dict[str, Any], answer: _Answer, n: int) -> dict[str, Any]:
    usage = _usage(ctx.flavor, _prompt_tokens(body), n * _answer_tokens(answer))
    choices = []
    for i in range(n):
        choice: dict[str, Any] = {
            "index": i,
            "message": _chat_message(ctx, answer),
            "logprobs": None,
            "finish_reason": answer.finish_reason,
        }
        if ctx.flavor == "vllm":
            choice.update(
                {"stop_reason": None, "token_ids": None, "routed_experts": None, "weight_versions": None}
            )
        choices.append(choice)
    out: dict[str, Any] = {
        "id": ctx.id,
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "choices": choices,
    }
    if ctx.flavor == "vllm":
        out.update({"service_tier": None, "system_fingerprint": None, "usage": usage})
        out.update(
            dict.fromkeys(
                (
                    "prompt_logprobs",
                    "prompt_token_ids",
                    "prompt_text",
                    "kv_transfer_params",
                    "ec_transfer_params",
                    "metrics",
                )
            )
        )
    else:
        out.update({"usage": usage, "service_tier": "default", "system_fingerprint": "fp_sim0001"})
    return out


def _chat_stream_events(ctx: _Ctx, body: dict[str, Any], answer: _Answer, n: int) -> Iterator[dict[str, Any]]:
    """Chunks in wire order: role chunks, then content/tool chunks interleaved by choice, finish chunks."""
    vllm = ctx.flavor == "vllm"
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(
        index: int, delta: dict[str, Any], finish: str | None = None, first: bool = False
    ) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        out: dict[str, Any] = {
            "id": ctx.id,
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": ctx.model,
        }
        if vllm:
            out["choices"] = [choice]
            if first:
                out.update({"prompt_token_ids": None, "prompt_text": None})
            else:
                choice["token_ids"] = None
                if finish is not None:
                    choice.update({"stop_reason": None, "weight_versions": None})
                out["kv_transfer_params"] = None
        else:
            out.update({"service_tier": "default", "system_fingerprint": "fp_sim0001", "choices": [choice]})
            if include_usage:
                out["usage"] = None
            # OpenAI pads chunks with a random "obfuscation" string by default (§5, Types).
            out["obfuscation"] = "".join(secrets.choice(_ALNUM) for _ in range(secrets.randbelow(8) + 1))
        return out

    per_choice: list[list[dict[str, Any]]] = []
    for i in range(n):
        seed = f"{ctx.id}:{i}"
        events: list[dict[str, Any]] = []
        if answer.tool_name is not None:
            fragments = _pieces(answer.tool_arguments or "", seed, 1, 5)
            call_id = _tool_call_id(ctx.flavor)
            if vllm:
                # Hermes parser: the first entry has id/type/name and no "arguments"; here it shares
                # the delta with the first fragment (two entries, same index; hermes_tool_parser.py:229-268).
                head: list[dict[str, Any]] = [
                    {"id": call_id, "type": "function", "index": 0, "function": {"name": answer.tool_name}}
                ]
                if fragments:
                    head.append({"index": 0, "function": {"arguments": fragments.pop(0)}})
                events.append({"content": None, "tool_calls": head})
            else:
                events.append(
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": call_id,
                                "type": "function",
                                "function": {"name": answer.tool_name, "arguments": ""},
                            }
                        ],
                        "refusal": None,
                    }
                )
            events += [{"tool_calls": [{"index": 0, "function": {"arguments": f}}]} for f in fragments]
        else:
            events += [{"content": p} for p in _pieces(answer.content or "", seed, 1, 4)]
        per_choice.append(events)

    for i in range(n):
        if vllm:
            yield chunk(i, {"role": "assistant", "content": ""}, first=True)
        elif answer.tool_name is None:
            yield chunk(i, {"role": "assistant", "content": "", "refusal": None})
    longest = max((len(e) for e in per_choice), default=0)
    for step in range(longest):
        for i in range(n):
            if step < len(per_choice[i]):
                yield chunk(i, per_choice[i][step])
    for i in range(n):
        yield chunk(i, {}, finish=answer.finish_reason)
    if include_usage:
        usage = _usage(ctx.flavor, _prompt_tokens(body), n * _answer_tokens(answer))
        final: dict[str, Any] = {
            "id": ctx.id,
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": ctx.model,
            "choices": [],
        }
        if vllm:
            # exclude_none on the usage chunk (serving.py:499-501): no null detail keys.
            final["usage"] = {k: v for k, v in usage.items() if v is not None}
        else:
            final.update({"service_tier": "default", "system_fingerprint": "fp_sim0001", "usage": usage})
        yield final


def _prompts(prompt: Any) -> list[str]:
    # str | list[str] | list[int] (token ids) | list[list[int]] (vLLM completion/protocol.py:53-59).
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, int) for p in prompt):
        return [" ".join(str(p) for p in prompt)]
    if isinstance(prompt, list) and prompt:
        out = []
        for p in prompt:
            if isinstance(p, str):
                out.append(p)
            elif isinstance(p, list) and all(isinstance(t, int) for t in p):
                out.append(" ".join(str(t) for t in p))
            else:
                raise _HTTPError(
                    400, "prompt must be a string, a list of strings or token ids", param="prompt"
                )
        return out
    raise _HTTPError(400, "prompt must be a string, a list of strings or token ids", param="prompt")


def _completion_choice(ctx: _Ctx, index: int, text: str, finish: str | None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": index, "text": text, "logprobs": None, "finish_reason": finish}
    if ctx.flavor == "vllm":
        choice.update(
            {"stop_reason": None, "prompt_logprobs": None, "prompt_token_ids": None, "token_ids": None}
        )
    return choice


def _completion_head(ctx: _Ctx) -> dict[str, Any]:
    return {"id": ctx.id, "object": "text_completion", "created": ctx.created, "model": ctx.model}


def _anthropic_tool_id() -> str:
    return "toolu_" + "".join(secrets.choice(_ALNUM) for _ in range(24))


def _anthropic_plan(body: dict[str, Any]) -> _Answer:
    """The Anthropic flavor's answer: same rules as ``_plan`` on Anthropic's message shapes
    (``tool_result`` blocks inside a user turn, tools with ``input_schema``)."""
    last: dict[str, Any] = body["messages"][-1] if isinstance(body["messages"][-1], dict) else {}
    content = last.get("content")
    blocks: list[Any] = content if isinstance(content, list) else []
    results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
    if results:
        return _Answer(content="Tool said: " + text_of(results[0].get("content")))
    user_text = text_of(last.get("content")) if last.get("role") == "user" else ""
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {"type": "auto"}
    if tools and choice.get("type") != "none" and last.get("role") == "user":
        tool = tools[0]
        if choice.get("type") == "tool":
            tool = next((t for t in tools if t.get("name") == choice.get("name")), tool)
        properties = (tool.get("input_schema") or {}).get("properties") or {}
        arguments = {next(iter(properties)): user_text} if properties else {}
        return _Answer(
            content=None,
            tool_name=tool.get("name", ""),
            tool_arguments=json.dumps(arguments, ensure_ascii=False),
        )
    return _Answer(content=user_text)


def _anthropic_frame(event: dict[str, Any]) -> bytes:
    # Every event has an `event:` line; the SDK skips events without one (protocol.md §6).
    return b"event: " + str(event["type"]).encode() + b"\n" + _sse(event)


def _anthropic_events(ctx: _Ctx, answer: _Answer, input_tokens: int) -> Iterator[dict[str, Any]]:
    """message_start, ping, one content block per part, message_delta, message_stop (§6)."""
    message: dict[str, Any] = {
        "id": ctx.id,
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
    }
    yield {"type": "message_start", "message": message}
    yield {"type": "ping"}
    index = 0
    if answer.content:
        yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
        for piece in _pieces(answer.content, f"{ctx.id}:text", 1, 4):
            yield {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": piece},
            }
        yield {"type": "content_block_stop", "index": index}
        index += 1
    if answer.tool_name is not None:
        block = {"type": "tool_use", "id": _anthropic_tool_id(), "name": answer.tool_name, "input": {}}
        yield {"type": "content_block_start", "index": index, "content_block": block}
        for piece in _pieces(answer.tool_arguments or "", f"{ctx.id}:tool", 1, 5):
            delta = {"type": "input_json_delta", "partial_json": piece}
            yield {"type": "content_block_delta", "index": index, "delta": delta}
        yield {"type": "content_block_stop", "index": index}
    stop = "tool_use" if answer.tool_name is not None else "end_turn"
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": None},
        "usage": {"output_tokens": _answer_tokens(answer)},
    }
    yield {"type": "message_stop"}


# --------------------------------------------------------------------------------------------
# The application


class _Simulator:
    def __init__(
        self, flavor: str, record: Path | None, models: list[str], fault: str | None, api_key: str | None
    ) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"unknown flavor {flavor!r}; use one of {FLAVORS}")
        self.flavor = flavor
        # The shape answers are generated in before sim_flavors rewrites them.
        self.base = sim_flavors.BASE.get(flavor, flavor)
        self.record = record
        self.models = models
        self.fault = fault
        Faults.parse(fault)  # refuse a bad --fault at start-up, not on the first request
        # fail-times: failures served so far per (x-request-id, fault spec): "fail the first n
        # attempts of each request", so a router's retry of the same request can succeed.
        self._failed: dict[tuple[str, str], int] = {}
        self.api_key = api_key
        self.started = int(time.time())

    # -- plumbing ------------------------------------------------------------------------------

    def _record(self, request: Request, body: Any, raw: bytes) -> None:
        if self.record is None:
            return
        entry: dict[str, Any] = {
            "ts": time.time(),
            "method": request.method,
            "path": request.url.path,
            # The authorization header is the one thing never written down: the oracle file may be
            # shared, and tests check its absence by other means (a wrong key gives 401).
            "headers": {k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"},
            "body": body,
        }
        if body is None and raw:
            entry["raw_body"] = raw.decode("utf-8", errors="replace")
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        # Opened, written and closed per request: the line is in the file before the answer starts.
        with self.record.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()

    def _error(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> JSONResponse:
        headers = sim_bedrock.error_headers(status, code) if self.flavor == "bedrock" else None
        return JSONResponse(
            error_body(self.flavor, status, message, param, code), status_code=status, headers=headers
        )

    def _ctx(self, request: Request, prefix: str, model: str, faults: Faults) -> _Ctx:
        if self.base == "vllm":
            # An incoming X-Request-Id becomes part of the id (serve/engine/serving.py:133-142, §4).
            suffix = request.headers.get("x-request-id") or uuid.uuid4().hex
        else:
            suffix = "".join(secrets.choice(_ALNUM) for _ in range(29))
        headers = {"x-request-id": request.headers.get("x-request-id", "")}
        return _Ctx(self.base, model, f"{prefix}{suffix}", int(time.time()), faults, headers)

    def _response_headers(self) -> dict[str, str]:
        if self.flavor == "openai":
            return {"x-request-id": "req_" + uuid.uuid4().hex}
        return {}

    async def _prologue(self, request: Request, *, json_body: bool) -> tuple[Any, Faults]:
        """Record, authenticate, apply ``fail`` and ``stall``. Returns the parsed body and the faults."""
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                body = None
        self._record(request, body, raw)
        # The fault may also travel as a top-level body key ``sim_fault``: the router forwards
        # unknown body keys untouched (vLLM extras) but never a client header, so this is how a
        # test behind the router reaches the simulator.
        body_fault = body.get(BODY_FAULT_KEY) if isinstance(body, dict) else None
        if isinstance(body_fault, dict):
            # {"drop": 3} form: numbers are not text, so a scanner in between leaves them alone.
            body_fault = ",".join(f"{k}:{v}" for k, v in body_fault.items())
        try:
            faults = Faults.parse(
                self.fault,
                body_fault if isinstance(body_fault, str) else None,
                request.headers.get(FAULT_HEADER),
            )
        except ValueError as exc:
            raise _HTTPError(400, str(exc), param=FAULT_HEADER) from None
        bearer = request.headers.get("authorization") == f"Bearer {self.api_key}"
        anthropic_key = self.flavor == "anthropic" and request.headers.get("x-api-key") == self.api_key
        if self.flavor == "bedrock":
            denied = sim_bedrock.auth_failure(request, raw, self.api_key)
            if denied is not None:
                raise _HTTPError(denied[0], denied[1], code=denied[2])
        elif self.flavor in sim_flavors.BASE:
            refused = sim_flavors.auth_failure(self.flavor, request.headers, self.api_key)
            if refused is not None:
                raise _HTTPError(*refused)
        elif self.api_key is not None and not (bearer or anthropic_key):
            raise _HTTPError(401, "Unauthorized")
        if faults.stall_s:
            await asyncio.sleep(faults.stall_s)
        if not json_body and faults.health is not None:
            # A listing (GET /v1/models) is what probes of OpenAI-style flavors read: ``health``
            # decides it, so a backend can pass its probe and still fail requests.
            if faults.health >= 400:
                raise _HTTPError(faults.health, f"simulated failure {faults.health}")
        elif faults.fail is not None and self._fails_now(request, faults):
            headers = {}
            if faults.retry_after_s is not None:
                headers["retry-after"] = f"{faults.retry_after_s:g}"
            raise _HTTPError(faults.fail, f"simulated failure {faults.fail}", headers=headers)
        if json_body and not isinstance(body, dict):
            raise _HTTPError(400, "request body must be a JSON object", param="body")
        return body, faults

    def _fails_now(self, request: Request, faults: Faults) -> bool:
        if faults.fail_times is None:
            return True
        if len(self._failed) > 10_000:
            self._failed.clear()
        key = (request.headers.get("x-request-id", ""), repr(faults))
        served = self._failed.get(key, 0)
        self._failed[key] = served + 1
        return served < faults.fail_times

    async def set_fault(self, request: Request) -> Response:
        """``POST /sim/fault`` ``{"fault": "fail:503"}``: replace the ``--fault`` spec at run time
        (``null`` clears it), e.g. to take a replica down and bring it back in a test."""
        body = json.loads(await request.body() or b"{}")
        spec = body.get("fault") if isinstance(body, dict) else None
        try:
            Faults.parse(spec)
        except ValueError as exc:
            raise _HTTPError(400, str(exc), param="fault") from None
        self.fault = spec
        self._failed.clear()
        return JSONResponse({"fault": spec})

    def _model(self, body: dict[str, Any]) -> str:
        model = body.get("model")
        if self.flavor in ("tgi", "azure"):
            # TGI serves its one model whatever was asked for; Azure's deployment (in the path)
            # decides, the body's model is ignored.
            return self.models[0]
        if model is None:
            if self.flavor == "openai":
                raise _HTTPError(400, "you must provide a model parameter", param="model")
            return self.models[0]  # model is optional in vLLM (chat_completion/protocol.py:239)
        if model not in self.models:
            if self.flavor == "vllm":
                raise _HTTPError(404, f"The model `{model}` does not exist.", param="model")
            raise _HTTPError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return str(model)

    def _stream_event(self, request_id: str | None, event: str, sent: int) -> None:
        if self.record is None:
            return
        line = json.dumps({"event": event, "request_id": request_id, "sent": sent, "ts": time.time()})
        with self.record.with_suffix(".events.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def _stream(
        self,
        ctx: _Ctx,
        events: Iterator[dict[str, Any]],
        *,
        frame: Callable[[dict[str, Any]], bytes] | None = None,
        error_event: bytes | None = None,
        done: bytes | None = _DONE,
    ) -> StreamingResponse:
        faults = ctx.faults
        flavor = self.flavor
        frame = frame or _sse
        error_event = error_event if error_event is not None else _sse(_stream_error_event(flavor))
        request_id = ctx.headers.get("x-request-id")
        tail = done or b""

        async def produce() -> AsyncIterator[bytes]:
            sent = 0
            for event in events:
                if faults.drop_after is not None and sent >= faults.drop_after:
                    raise _DropConnection
                if faults.truncate_after is not None and sent >= faults.truncate_after:
                    return
                if faults.error_event_after is not None and sent >= faults.error_event_after:
                    # vLLM sends [DONE] also after an error (chat_completion/serving.py:503-507).
                    yield error_event + tail
                    return
                if sent and faults.slow_ms:
                    await asyncio.sleep(faults.slow_ms / 1000)
                if sent and faults.keepalive_every and sent % faults.keepalive_every == 0:
                    yield b": keep-alive\n\n"
                yield frame(event)
                sent += 1
            if faults.drop_after is not None and sent >= faults.drop_after:
                raise _DropConnection
            if faults.error_event_after is not None and sent >= faults.error_event_after:
                yield error_event
            if tail:
                yield tail
            if faults.linger_s:
                await asyncio.sleep(faults.linger_s)

        async def body() -> AsyncIterator[bytes]:
            sent = 0
            outcome = "cancelled"
            try:
                async for piece in produce():
                    yield piece
                    sent += 1
                outcome = "completed"
            except _DropConnection:
                outcome = "dropped"
                raise
            finally:
                # Reached with CancelledError or GeneratorExit when the client closed the
                # connection: the request was cancelled upstream of here.
                self._stream_event(request_id, outcome, sent)

        return StreamingResponse(body(), media_type="text/event-stream", headers=self._response_headers())

    # -- routes --------------------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        body, faults = await self._prologue(request, json_body=True)
        model = self._model(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _HTTPError(400, "messages must be a non-empty list", param="messages")
        stream = body.get("stream") is True
        if body.get("stream_options") is not None and not stream:
            # chat_completion/protocol.py:860-868
            raise _HTTPError(
                400, "Stream options can only be defined when `stream=True`.", param="stream_options"
            )
        if (
            "tools" in body
            and body["tools"] is not None
            and (not isinstance(body["tools"], list) or not body["tools"])
        ):
            raise _HTTPError(
                400, "tools must be a non-empty list when given", param="tools"
            )  # protocol.py:974-985
        n = body.get("n") or 1
        if not isinstance(n, int) or n < 1:
            raise _HTTPError(400, "n must be a positive integer", param="n")
        answer = _plan(self.base, body)
        ctx = self._ctx(request, "chatcmpl-", model, faults)
        if self.flavor in sim_flavors.BASE:
            if stream:
                events = _chat_stream_events(ctx, sim_flavors.generation_body(self.flavor, body), answer, n)
                return self._stream(
                    ctx,
                    sim_flavors.chunks(self.flavor, events, model),
                    error_event=sim_flavors.stream_error(self.flavor),
                )
            out = sim_flavors.response(self.flavor, _chat_response(ctx, body, answer, n), model)
            return JSONResponse(out, headers=self._response_headers())
        if stream:
            return self._stream(ctx, _chat_stream_events(ctx, body, answer, n))
        return JSONResponse(_chat_response(ctx, body, answer, n), headers=self._response_headers())

    async def azure_chat(self, request: Request) -> Response:
        """Azure: the deployment is in the path, ``api-version`` is required (else 404)."""
        if not request.query_params.get("api-version"):
            raise _HTTPError(404, "Resource not found")
        if request.path_params["deployment"] not in self.models:
            raise _HTTPError(
                404,
                "The API deployment for this resource does not exist. If you created the deployment "
                "within the last 5 minutes, please wait a moment and try again.",
                code="DeploymentNotFound",
            )
        return await self.chat(request)

    async def completions(self, request: Request) -> Response:
        body, faults = await self._prologue(request, json_body=True)
        model = self._model(body)
        prompts = _prompts(body.get("prompt"))
        n = body.get("n") or 1
        if not isinstance(n, int) or n < 1:
            raise _HTTPError(400, "n must be a positive integer", param="n")
        stream = body.get("stream") is True
        if body.get("stream_options") is not None and not stream:
            raise _HTTPError(
                400, "Stream options can only be defined when `stream=True`.", param="stream_options"
            )
        ctx = self._ctx(request, "cmpl-", model, faults)
        prompt_tokens = sum(_tokens(p) for p in prompts)
        completion_tokens = n * prompt_tokens
        if not stream:
            choices = [
                # index = prompt_idx * n + i (vLLM completion/serving.py:348)
                _completion_choice(ctx, p * n + i, prompts[p], "stop")
                for p in range(len(prompts))
                for i in range(n)
            ]
            out = _completion_head(ctx) | {
                "choices": choices,
                "usage": _usage(self.flavor, prompt_tokens, completion_tokens),
            }
            if self.flavor == "vllm":
                out.update({"service_tier": None, "system_fingerprint": None, "kv_transfer_params": None})
            else:
                out["system_fingerprint"] = "fp_sim0001"
            return JSONResponse(out, headers=self._response_headers())
        return self._stream(
            ctx, self._completion_events(ctx, body, prompts, n, prompt_tokens, completion_tokens)
        )

    def _completion_events(
        self,
        ctx: _Ctx,
        body: dict[str, Any],
        prompts: list[str],
        n: int,
        prompt_tokens: int,
        completion_tokens: int,
    ) -> Iterator[dict[str, Any]]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        pieces = {
            p * n + i: _pieces(prompts[p], f"{ctx.id}:{p * n + i}", 1, 4)
            for p in range(len(prompts))
            for i in range(n)
        }
        longest = max((len(v) for v in pieces.values()), default=0)

        def chunk(index: int, text: str, finish: str | None) -> dict[str, Any]:
            out = _completion_head(ctx) | {"choices": [_completion_choice(ctx, index, text, finish)]}
            if self.flavor == "vllm":
                out["kv_transfer_params"] = None
            else:
                out["system_fingerprint"] = "fp_sim0001"
                if include_usage:
                    out["usage"] = None
            return out

        for step in range(longest):
            for index, parts in pieces.items():
                if step < len(parts):
                    yield chunk(index, parts[step], None)
        for index in pieces:
            yield chunk(index, "", "stop")
        if include_usage:
            usage = _usage(self.flavor, prompt_tokens, completion_tokens)
            if self.flavor == "vllm":
                usage = {k: v for k, v in usage.items() if v is not None}
            yield _completion_head(ctx) | {"choices": [], "usage": usage}

    async def embeddings(self, request: Request) -> Response:
        body, _ = await self._prologue(request, json_body=True)
        model = self._model(body)
        texts = _prompts(body.get("input"))
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise _HTTPError(400, "encoding_format must be 'float' or 'base64'", param="encoding_format")
        data = []
        for index, text in enumerate(texts):
            vector = embedding_for(text)
            embedding: list[float] | str
            if encoding == "base64":
                # Little-endian float32, as openai-python decodes it (lib/_parsing/_embeddings.py:13-35).
                embedding = base64.b64encode(struct.pack(f"<{EMBEDDING_DIM}f", *vector)).decode("ascii")
            else:
                embedding = vector
            data.append({"index": index, "object": "embedding", "embedding": embedding})
        prompt_tokens = sum(_tokens(t) for t in texts)
        out: dict[str, Any]
        if self.flavor == "vllm":
            out = {
                "id": f"embd-{uuid.uuid4().hex}",
                "object": "list",
                "created": int(time.time()),
                "model": model,
                "data": data,
                "usage": _usage("vllm", prompt_tokens, 0),
            }
        else:
            out = {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
            }
        return JSONResponse(out, headers=self._response_headers())

    async def models_route(self, request: Request) -> Response:
        await self._prologue(request, json_body=False)
        if self.flavor == "vllm":
            data = [
                {
                    "id": m,
                    "object": "model",
                    "created": self.started,
                    "owned_by": "vllm",
                    "root": m,
                    "parent": None,
                    "max_model_len": 8192,
                    "permission": [
                        {
                            "id": f"modelperm-{uuid.uuid4().hex}",
                            "object": "model_permission",
                            "created": self.started,
                            "allow_create_engine": False,
                            "allow_sampling": True,
                            "allow_logprobs": True,
                            "allow_search_indices": False,
                            "allow_view": True,
                            "allow_fine_tuning": False,
                            "organization": "*",
                            "group": None,
                            "is_blocking": False,
                        }
                    ],
                }
                for m in self.models
            ]
        else:
            data = [
                {"id": m, "object": "model", "created": self.started, "owned_by": "system"}
                for m in self.models
            ]
        return JSONResponse({"object": "list", "data": data}, headers=self._response_headers())

    async def health(self, request: Request) -> Response:
        # Not recorded (probes are not traffic) and never authenticated (serve/instrumentator/health.py).
        faults = Faults.parse(self.fault, request.headers.get(FAULT_HEADER))
        if self.flavor in ("openai", "azure", "gemini", "bedrock"):
            return self._error(404, "Invalid URL (GET /health)")
        if faults.health is not None:
            return Response(status_code=faults.health)
        if faults.fail is not None:
            return Response(status_code=faults.fail)
        return Response(status_code=200)  # vLLM: empty body

    # -- Anthropic flavor (protocol.md §6) --------------------------------------------------------

    async def messages(self, request: Request) -> Response:
        body, faults = await self._prologue(request, json_body=True)
        model = self._model(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _HTTPError(400, "messages: at least one message is required")
        if not isinstance(body.get("max_tokens"), int):
            raise _HTTPError(400, "max_tokens: Field required")
        answer = _anthropic_plan(body)
        ctx = self._ctx(request, "msg_", model, faults)
        input_tokens = _tokens(json.dumps(messages, ensure_ascii=False))
        if body.get("stream") is True:
            return self._stream(
                ctx,
                _anthropic_events(ctx, answer, input_tokens),
                frame=_anthropic_frame,
                error_event=_anthropic_frame(
                    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
                ),
                done=None,
            )
        content: list[dict[str, Any]] = []
        if answer.content:
            content.append({"type": "text", "text": answer.content})
        if answer.tool_name is not None:
            content.append(
                {
                    "type": "tool_use",
                    "id": _anthropic_tool_id(),
                    "name": answer.tool_name,
                    "input": json.loads(answer.tool_arguments or "{}"),
                }
            )
        out = {
            "id": ctx.id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "tool_use" if answer.tool_name is not None else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": _answer_tokens(answer),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return JSONResponse(out, headers={"request-id": "req_" + uuid.uuid4().hex})

    async def anthropic_models(self, request: Request) -> Response:
        await self._prologue(request, json_body=False)
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-09-29T00:00:00Z"}
            for m in self.models
        ]
        return JSONResponse(
            {"data": data, "has_more": False, "first_id": self.models[0], "last_id": self.models[-1]}
        )

    async def handle_error(self, request: Request, exc: Exception) -> Response:
        if not isinstance(exc, _HTTPError):
            raise exc
        if exc.status == 401 and self.flavor == "vllm":
            # vLLM's auth middleware answers with a *string* error (serve/middleware/authenticate.py:59-61).
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        response = self._error(exc.status, exc.message, exc.param, exc.code)
        response.headers.update(exc.headers)
        return response


def create_simulator_app(
    flavor: str, record: Path | None, model: str, fault: str | None, api_key: str | None = None
) -> Starlette:
    """The simulator as an ASGI app. ``model`` may list several served ids, comma-separated."""
    models = [m.strip() for m in model.split(",") if m.strip()] or [DEFAULT_MODELS.get(flavor, "model")]
    sim = _Simulator(flavor, Path(record) if record is not None else None, models, fault, api_key)
    if flavor == "anthropic":
        routes = [
            Route("/v1/messages", sim.messages, methods=["POST"]),
            Route("/v1/models", sim.anthropic_models, methods=["GET"]),
        ]
    elif flavor == "azure":
        routes = [
            Route("/openai/deployments/{deployment}/chat/completions", sim.azure_chat, methods=["POST"]),
            Route("/openai/models", sim.models_route, methods=["GET"]),
        ]
    elif flavor == "gemini":
        routes = [
            Route("/v1beta/openai/chat/completions", sim.chat, methods=["POST"]),
            Route("/v1beta/openai/models", sim.models_route, methods=["GET"]),
        ]
    elif flavor == "bedrock":
        routes = sim_bedrock.routes_for(sim, _DropConnection)
    else:
        routes = [
            Route("/v1/chat/completions", sim.chat, methods=["POST"]),
            Route("/v1/completions", sim.completions, methods=["POST"]),
            Route("/v1/embeddings", sim.embeddings, methods=["POST"]),
            Route("/v1/models", sim.models_route, methods=["GET"]),
            Route("/health", sim.health, methods=["GET"]),
        ]
    routes.append(Route("/sim/fault", sim.set_fault, methods=["POST"]))
    return Starlette(routes=routes, exception_handlers={_HTTPError: sim.handle_error})


def serve(
    flavor: str,
    port: int,
    record: Path | None = None,
    model: str | None = None,
    fault: str | None = None,
    host: str = "127.0.0.1",
    api_key: str | None = None,
) -> None:
    """Run the simulator in the foreground (blocking) with uvicorn."""
    import uvicorn

    app = create_simulator_app(flavor, record, model or DEFAULT_MODELS.get(flavor, "model"), fault, api_key)
    logging.getLogger("uvicorn.error").addFilter(_QuietDrop())
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


# --------------------------------------------------------------------------------------------
# Test helper


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (uvicorn's CLI cannot report the port it chose for 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RunningSimulator:
    """Start the simulator in a subprocess on a free port; stop it on exit.

    >>> with RunningSimulator("vllm") as sim:
    ...     openai.OpenAI(base_url=sim.url, api_key="x").models.list()
    """

    def __init__(
        self,
        flavor: str = "vllm",
        *,
        record_path: Path | None = None,
        model: str | None = None,
        fault: str | None = None,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.flavor = flavor
        self.host = host
        self.model = model or DEFAULT_MODELS[flavor]
        self._fault = fault
        self._api_key = api_key
        self._startup_timeout_s = startup_timeout_s
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if record_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="pr-sim-")
            record_path = Path(self._tmp.name) / "requests.jsonl"
        self.record_path = Path(record_path)
        self.log_path = self.record_path.with_suffix(".log")
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.root_url + "/v1"

    def records(self) -> list[dict[str, Any]]:
        if not self.record_path.exists():
            return []
        lines = self.record_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def stream_events(self) -> list[dict[str, Any]]:
        """How each stream ended: ``completed`` or ``cancelled`` (the client closed first)."""
        path = self.record_path.with_suffix(".events.jsonl")
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def clear_records(self) -> None:
        self.record_path.write_text("", encoding="utf-8")

    def set_fault(self, spec: str | None) -> None:
        """Replace the process's ``--fault`` spec while it runs (``None`` clears it)."""
        httpx.post(self.root_url + "/sim/fault", json={"fault": spec}, timeout=5).raise_for_status()

    def start(self) -> RunningSimulator:
        self.port = free_port(self.host)
        self.record_path.touch()
        args = [
            sys.executable, "-m", "privacy_router.upstream.simulator",
            "--flavor", self.flavor, "--port", str(self.port), "--host", self.host,
            "--record", str(self.record_path), "--model", self.model,
        ]  # fmt: skip
        if self._fault:
            args += ["--fault", self._fault]
        if self._api_key:
            args += ["--api-key", self._api_key]
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self._startup_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"simulator exited with {self._proc.returncode}:\n{tail}")
            try:
                httpx.get(self.root_url + "/health", timeout=1.0)  # any HTTP answer means it is up
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"simulator did not answer on port {self.port} within {self._startup_timeout_s}s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def __enter__(self) -> RunningSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


if __name__ == "__main__":
    import typer

    from privacy_router.upstream.commands import simulate_upstream

    typer.run(simulate_upstream)
