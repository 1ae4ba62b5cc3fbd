"""Backend of kind ``gemini``: Google's OpenAI-compatible Gemini endpoint.

``url`` is ``https://generativelanguage.googleapis.com/v1beta/openai``; the API key travels as
``Authorization: Bearer <key>`` (Gemini API docs, "OpenAI compatibility"). Quirks handled here, as
reported against that endpoint (vercel/ai#6663, googleapis/python-genai#2868, AstrBot#6661):

- tool calls may carry an empty ``id``: a unique ``call_...`` id is filled in (a client answers
  the call with ``tool_call_id``, so an empty or repeated id breaks the next turn);
- streamed tool-call deltas have no ``index`` (OpenAI's SDK drops such deltas): it is added;
- a streamed tool-call answer finishes with ``"stop"``: it becomes ``"tool_calls"``, as the
  non-streamed answer says;
- usage comes attached to the last chunk whether or not ``stream_options.include_usage`` asked for
  it: it is removed from that chunk and sent, when asked for, as OpenAI's own final usage chunk
  (``choices: []``) just before ``[DONE]``;
- errors are a JSON list ``[{"error": {"code": 400, "message": ..., "status": "INVALID_ARGUMENT"}}]``:
  they become OpenAI's error shape (``type`` = Google's ``status``);
- no ``/health``: ``GET {url}/models`` answering 200 means healthy.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from privacy_router.upstream.base import JSONBody
from privacy_router.upstream.openai_compat import OpenAICompatBackend, SSERewriter, openai_error


def _call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def google_error(status: int, payload: Any) -> dict[str, Any] | None:
    """Google's ``[{"error": {...}}]`` (or the same without the list) in OpenAI's shape; None if
    ``payload`` is not a Google error document."""
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        payload = payload[0]
    err = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(err, dict) or "type" in err:
        return None
    message = err.get("message")
    code = err.get("code", status)
    return openai_error(
        message if isinstance(message, str) else "upstream error",
        str(err.get("status") or "upstream_error"),
        str(code) if code is not None else None,
    )


class GeminiBackend(OpenAICompatBackend):
    kind = "gemini"
    # Google's OpenAI-compatible endpoint serves chat only (no ``/completions``).
    completions_stream_usage = False

    def _adapt(self, status: int, payload: JSONBody, sent: dict[str, Any]) -> JSONBody:
        if status >= 400:
            return google_error(status, payload) or payload
        if isinstance(payload, dict):
            for choice in payload.get("choices") or ():
                message = choice.get("message") if isinstance(choice, dict) else None
                for call in (message or {}).get("tool_calls") or ():
                    if isinstance(call, dict) and not call.get("id"):
                        call["id"] = _call_id()
        return payload

    def _stream_rewriter(self, sent: dict[str, Any]) -> SSERewriter:
        options = sent.get("stream_options")
        return _GeminiStream(isinstance(options, dict) and bool(options.get("include_usage")))

    async def health(self) -> bool:
        try:
            response = await self._client.get(
                self._base + "/models", headers=self._headers(None), timeout=self._health_timeout
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200


class _GeminiStream(SSERewriter):
    def __init__(self, include_usage: bool) -> None:
        super().__init__()
        self._include_usage = include_usage
        self._usage: Any = None
        self._head: dict[str, Any] = {}
        # per choice index: tool-call id -> OpenAI index; whether a tool call went by
        self._calls: dict[int, dict[str, int]] = {}

    def event(self, obj: Any) -> list[Any]:
        mapped = google_error(500, obj)
        if mapped is not None:
            return [mapped]
        if not isinstance(obj, dict):
            return [obj]
        self._head = {k: obj.get(k) for k in ("id", "object", "created", "model")}
        if obj.get("usage") is not None:
            self._usage = obj["usage"]
        obj.pop("usage", None)
        for choice in obj.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            calls = self._calls.setdefault(int(choice.get("index") or 0), {})
            delta = choice.get("delta") or {}
            for call in delta.get("tool_calls") or ():
                if not isinstance(call, dict):
                    continue
                if not call.get("id"):
                    # No id: a continuation of the last call, or (none yet) a new call.
                    call["id"] = next(reversed(calls)) if calls else _call_id()
                known = call["id"] in calls
                call.setdefault("index", calls.setdefault(call["id"], len(calls)))
                if known:  # OpenAI sends id, type and name once per call; the SDK concatenates repeats
                    call.pop("id")
                    call.pop("type", None)
                    if isinstance(call.get("function"), dict):
                        call["function"].pop("name", None)
            if calls and choice.get("finish_reason") == "stop":
                choice["finish_reason"] = "tool_calls"
        if not obj.get("choices"):
            return []  # a usage-only chunk; usage is sent from done()
        return [obj]

    def done(self) -> list[Any]:
        if not self._include_usage or self._usage is None:
            return []
        return [{**self._head, "choices": [], "usage": self._usage}]
