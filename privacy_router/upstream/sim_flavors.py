"""The simulator's wire flavors for Azure OpenAI, Gemini, TGI and TensorRT-LLM (``--flavor azure |
gemini | tgi | trtllm``); Bedrock is in sim_bedrock.py.

Each flavor is generated from the base flavor's answer (``BASE``: the openai or vllm shape the
simulator already speaks) and rewritten here into what that server puts on the wire, quirks
included, so the adapters (upstream/<kind>.py) are tested against them:

- ``azure``: ``/openai/deployments/{deployment}/chat/completions?api-version=``, ``api-key`` header
  (a Bearer header alone is refused), ``prompt_filter_results`` / ``content_filter_results`` in
  answers, a stream that starts with a filter-results-only chunk, errors
  ``{"error": {"code", "message"}}``;
- ``gemini``: ``/v1beta/openai/...``, Bearer key, tool calls with an empty ``id``, stream tool-call
  deltas without ``index`` and finished with ``"stop"``, usage on the last chunk always, errors as a
  list ``[{"error": {"code", "message", "status"}}]``;
- ``tgi``: any requested model is served by the one loaded model (its id in answers), tool calls
  with id ``"0"``, object arguments and no ``content``, ``id``/``type`` repeated in every stream
  delta, ``"usage": null`` on every stream chunk, errors ``{"error": str, "error_type": str}``;
- ``trtllm``: vLLM's shapes with the flat error ``{"object": "error", "message", "type", "param",
  "code"}``, in the body and as a stream event.

Sources: the adapter modules' docstrings cite where each quirk comes from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

BASE = {"azure": "openai", "gemini": "openai", "tgi": "vllm", "trtllm": "vllm"}
TGI_FINGERPRINT = "3.3.4-sha-sim"
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_TGI_ERROR_TYPES = {400: "validation", 422: "validation", 424: "generation", 429: "overloaded"}
_TRT_TYPES = {400: "BadRequestError", 404: "NotFoundError", 500: "InternalServerError"}
_FILTERS = {k: {"filtered": False, "severity": "safe"} for k in ("hate", "self_harm", "sexual", "violence")}
_AZURE_401 = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
    "valid key for an active subscription and use a correct regional API endpoint for your resource."
)


def error_body(flavor: str, status: int, message: str, param: str | None, code: str | None) -> Any:
    if flavor == "azure":
        if status == 401:
            message = _AZURE_401
        return {"error": {"code": code or str(status), "message": message}}
    if flavor == "gemini":
        google = {"code": status, "message": message, "status": _GOOGLE_STATUS.get(status, "UNKNOWN")}
        return [{"error": google}]
    if flavor == "tgi":
        return {"error": message, "error_type": _TGI_ERROR_TYPES.get(status, "generation")}
    # trtllm
    return {
        "object": "error",
        "message": message,
        "type": _TRT_TYPES.get(status, "Error"),
        "param": param,
        "code": status,
    }


def stream_error(flavor: str) -> bytes:
    if flavor == "gemini":
        body: Any = {
            "error": {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}
        }
    elif flavor == "tgi":
        body = {
            "error": "Request failed during generation: Server error: CUDA out of memory",
            "error_type": "generation",
        }
    elif flavor == "azure":
        body = {
            "error": {
                "code": "server_error",
                "message": "The server had an error while processing your request.",
            }
        }
    else:
        body = error_body(flavor, 500, "Internal server error", None, None)
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def auth_failure(flavor: str, headers: Any, api_key: str | None) -> tuple[int, str] | None:
    """None when the request may pass, else (status, message)."""
    if api_key is None:
        return None
    if flavor == "azure":
        # Azure's key header; a Bearer header here would be an Entra ID token, not this key.
        return None if headers.get("api-key") == api_key else (401, "Unauthorized")
    return None if headers.get("authorization") == f"Bearer {api_key}" else (401, "Unauthorized")


def generation_body(flavor: str, body: dict[str, Any]) -> dict[str, Any]:
    """The body the base flavor answers: Gemini reports usage whether asked for or not."""
    if flavor == "gemini" and body.get("stream") is True:
        return {**body, "stream_options": {"include_usage": True}}
    return body


def response(flavor: str, out: dict[str, Any], served_model: str) -> dict[str, Any]:
    """A non-streamed chat answer of the base flavor in ``flavor``'s shape."""
    if flavor == "azure":
        out.pop("service_tier", None)
        out["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": _FILTERS}]
        for choice in out["choices"]:
            choice["content_filter_results"] = _FILTERS
        return out
    if flavor == "gemini":
        out = {k: out[k] for k in ("id", "object", "created", "model", "choices", "usage")}
        for choice in out["choices"]:
            choice["message"] = {
                k: v for k, v in choice["message"].items() if k in ("role", "content", "tool_calls")
            }
            for call in choice["message"].get("tool_calls") or ():
                call["id"] = ""
        out["usage"] = {k: out["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        return out
    if flavor == "tgi":
        choices = []
        for choice in out["choices"]:
            message = choice["message"]
            tgi_message: dict[str, Any] = {"role": "assistant"}
            if message.get("tool_calls"):
                tgi_message["tool_calls"] = [
                    {
                        "id": "0",
                        "type": "function",
                        "function": {
                            "description": None,
                            "name": c["function"]["name"],
                            "arguments": json.loads(c["function"]["arguments"]),
                        },
                    }
                    for c in message["tool_calls"]
                ]
            else:
                tgi_message["content"] = message.get("content") or ""
            choices.append(
                {"index": choice["index"], "message": tgi_message, "logprobs": None, "finish_reason": "stop"}
            )
        usage = {k: out["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        return {
            "object": "chat.completion",
            "id": "",
            "created": out["created"],
            "model": served_model,
            "system_fingerprint": TGI_FINGERPRINT,
            "choices": choices,
            "usage": usage,
        }
    return out  # trtllm: vLLM's shape


def chunks(flavor: str, events: Iterator[dict[str, Any]], served_model: str) -> Iterator[dict[str, Any]]:
    """Streamed chat chunks of the base flavor in ``flavor``'s shape."""
    if flavor == "azure":
        yield {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _FILTERS}],
        }
        for event in events:
            event.pop("obfuscation", None)
            event.pop("service_tier", None)
            for choice in event["choices"]:
                choice["content_filter_results"] = _FILTERS if choice["delta"].get("content") else {}
            yield event
    elif flavor == "gemini":
        yield from _gemini_chunks(events)
    elif flavor == "tgi":
        yield from _tgi_chunks(events, served_model)
    else:
        yield from events


def _gemini_chunks(events: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """One delta per tool call (whole arguments, ``id: ""``, no ``index``), finish "stop", usage
    on the last chunk with choices."""
    calls: dict[int, dict[str, Any]] = {}
    last: dict[str, Any] | None = None
    for event in events:
        event = {
            k: v for k, v in event.items() if k in ("id", "object", "created", "model", "choices", "usage")
        }
        if not event.get("choices"):
            if last is not None and event.get("usage"):
                last["usage"] = event["usage"]
            continue
        event.pop("usage", None)
        choice = event["choices"][0]
        delta = choice["delta"]
        for call in delta.pop("tool_calls", None) or ():
            acc = calls.setdefault(
                choice["index"], {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
            fn = call.get("function") or {}
            acc["function"]["name"] += fn.get("name") or ""
            acc["function"]["arguments"] += fn.get("arguments") or ""
        delta.pop("refusal", None)
        if choice.get("finish_reason") is not None:
            if choice["index"] in calls:
                delta["tool_calls"] = [calls.pop(choice["index"])]
                choice["finish_reason"] = "stop"
        elif not delta.get("content"):
            continue  # role chunks and tool fragments: Gemini sends the call whole at the end
        choice.pop("logprobs", None)
        if last is not None:
            yield last
        last = event
    if last is not None:
        yield last


def _tgi_chunks(events: Iterator[dict[str, Any]], served_model: str) -> Iterator[dict[str, Any]]:
    """TGI's ``ChatCompletionChunk`` serialises ``usage`` always: ``null`` on every chunk, and with
    ``stream_options.include_usage`` one last chunk with ``choices: []`` and the counts
    (router/src/chat.rs, ``ChatState::push``)."""

    def chunk(created: int, delta: dict[str, Any] | None, finish: str | None) -> dict[str, Any]:
        return {
            "object": "chat.completion.chunk",
            "id": "",
            "created": created,
            "model": served_model,
            "system_fingerprint": TGI_FINGERPRINT,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": None,
        }

    def tool_delta(name: str | None, arguments: str) -> dict[str, Any]:
        call = {"index": 0, "id": "0", "type": "function", "function": {"name": name, "arguments": arguments}}
        return {"role": "assistant", "tool_calls": [call]}

    tool = False
    for event in events:
        created = event["created"]
        if not event.get("choices"):
            if event.get("usage"):
                usage = {k: event["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
                yield chunk(created, None, None) | {"usage": usage}
            continue
        choice = event["choices"][0]
        delta = choice["delta"]
        if choice.get("finish_reason") is not None:
            last = (
                tool_delta(None, "") if tool else {"role": "assistant", "content": "", "tool_call_id": None}
            )
            yield chunk(created, last, "length" if choice["finish_reason"] == "length" else "stop")
            continue
        for call in delta.get("tool_calls") or ():
            fn = call.get("function") or {}
            yield chunk(created, tool_delta(fn.get("name"), fn.get("arguments") or ""), None)
            tool = True
        if delta.get("content"):
            yield chunk(
                created, {"role": "assistant", "content": delta["content"], "tool_call_id": None}, None
            )
