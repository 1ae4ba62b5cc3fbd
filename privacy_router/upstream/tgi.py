"""Backend of kind ``tgi``: Hugging Face Text Generation Inference, Messages API (on-prem).

``url`` is TGI's ``/v1`` base; ``POST {url}/chat/completions``; health is ``GET /health`` next to
``/v1`` (200 when the model is loaded). Quirks handled here (TGI router/src/lib.rs and chat.rs):

- TGI serves one model and ignores the requested ``model`` (its docs send ``"tgi"``); answers carry
  TGI's own model id. The adapter puts back the model the router asked for, so a client sees the
  same name whatever served it (model aliasing: ``model_map`` picked it);
- tool calls: ``id`` is ``"0"`` for every call, ``function.arguments`` is a JSON *object* (OpenAI:
  a string), ``function.description: null`` is added, and the message has no ``content`` key; the
  finish reason is ``"stop"``. The adapter returns OpenAI's shape: unique ``call_...`` ids, string
  arguments, ``content: null``, ``finish_reason: "tool_calls"``;
- streamed tool-call deltas repeat ``id`` and ``type`` in every chunk (OpenAI's SDK would
  concatenate the ids): only the first delta of a call keeps them;
- finish reasons ``eos_token`` and ``stop_sequence`` become ``stop``;
- errors are ``{"error": "<text>", "error_type": "validation" | "generation" | "overloaded" ...}``
  (status 422, 424, 429, 500), in the body or as an SSE event: they become OpenAI's error shape.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from privacy_router.upstream.base import JSONBody
from privacy_router.upstream.openai_compat import OpenAICompatBackend, SSERewriter, openai_error

_FINISH = {"eos_token": "stop", "stop_sequence": "stop"}


def _call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def tgi_error(status: int, payload: Any) -> dict[str, Any] | None:
    """TGI's ``{"error": str, "error_type": str}`` in OpenAI's shape; None for anything else."""
    if not isinstance(payload, dict) or not isinstance(payload.get("error"), str):
        return None
    return openai_error(payload["error"], str(payload.get("error_type") or "upstream_error"), status)


def _arguments(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _finish(reason: Any, tool_calls: bool) -> Any:
    reason = _FINISH.get(reason, reason) if isinstance(reason, str) else reason
    return "tool_calls" if tool_calls and reason == "stop" else reason


class TGIBackend(OpenAICompatBackend):
    kind = "tgi"
    # Chat streams: TGI honours ``stream_options.include_usage`` (router/src/chat.rs: a last chunk
    # with ``choices: []`` and ``usage``) and puts ``"usage": null`` on every other chunk either way.
    usage_key_on_every_chunk = True
    # ``/v1/completions`` streams: not asked for usage (docs/compatibility.md, "Token usage").
    completions_stream_usage = False

    def _adapt(self, status: int, payload: JSONBody, sent: dict[str, Any]) -> JSONBody:
        if status >= 400:
            return tgi_error(status, payload) or payload
        if not isinstance(payload, dict):
            return payload
        if isinstance(sent.get("model"), str):
            payload["model"] = sent["model"]
        for choice in payload.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            if not isinstance(message, dict):
                continue
            calls = [c for c in message.get("tool_calls") or () if isinstance(c, dict)]
            for call in calls:
                call["id"] = _call_id()
                function = call.get("function") or {}
                function.pop("description", None)
                function["arguments"] = _arguments(function.get("arguments", {}))
            message.setdefault("content", None)
            choice["finish_reason"] = _finish(choice.get("finish_reason"), bool(calls))
        return payload

    def _stream_rewriter(self, sent: dict[str, Any]) -> SSERewriter:
        return _TGIStream(sent.get("model") if isinstance(sent.get("model"), str) else None)


class _TGIStream(SSERewriter):
    def __init__(self, model: str | None) -> None:
        super().__init__()
        self._model = model
        self._ids: dict[int, str] = {}  # (choice index) -> the id given to its tool call

    def event(self, obj: Any) -> list[Any]:
        mapped = tgi_error(500, obj)
        if mapped is not None:
            return [mapped]
        if not isinstance(obj, dict):
            return [obj]
        if self._model is not None and "model" in obj:
            obj["model"] = self._model
        for choice in obj.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = int(choice.get("index") or 0)
            delta = choice.get("delta") or {}
            for call in delta.get("tool_calls") or ():
                if not isinstance(call, dict):
                    continue
                function = call.get("function") or {}
                function.pop("description", None)
                if "arguments" in function:
                    function["arguments"] = _arguments(function["arguments"])
                if index in self._ids:
                    call.pop("id", None)
                    call.pop("type", None)
                    if function.get("name") is None:
                        function.pop("name", None)
                else:
                    call["id"] = self._ids[index] = _call_id()
            choice["finish_reason"] = _finish(choice.get("finish_reason"), index in self._ids)
        return [obj]
