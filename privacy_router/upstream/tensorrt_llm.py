"""Backend of kind ``tensorrt_llm``: NVIDIA TensorRT-LLM's ``trtllm-serve`` OpenAI-compatible server.

``url`` is its ``/v1`` base; ``POST {url}/chat/completions``; health is ``GET /health`` next to
``/v1`` (200 once the engine is ready). Tool calls need ``trtllm-serve --tool_parser``; without it
tools are ignored by the server (not by the router). Quirk handled here: errors use the flat
``ErrorResponse`` of the OpenAI-compatible servers it derives from,
``{"object": "error", "message", "type", "param", "code": <int>}``, in the body or as an SSE event;
they become OpenAI's nested ``{"error": {...}}`` shape (which is also what the router's stream
restorer recognises as an in-band error).
"""

from __future__ import annotations

from typing import Any

from privacy_router.upstream.base import JSONBody
from privacy_router.upstream.openai_compat import OpenAICompatBackend, SSERewriter, openai_error


def flat_error(status: int, payload: Any) -> dict[str, Any] | None:
    if not isinstance(payload, dict) or payload.get("object") != "error" or "error" in payload:
        return None
    message = payload.get("message")
    return openai_error(
        message if isinstance(message, str) else "upstream error",
        str(payload.get("type") or "upstream_error"),
        payload.get("code", status),
        payload.get("param") if isinstance(payload.get("param"), str) else None,
    )


class TensorRTLLMBackend(OpenAICompatBackend):
    kind = "tensorrt_llm"
    # Chat streams: usage chunk (``choices: []``) when asked, no ``usage`` key otherwise (chunks are
    # dumped without None fields). ``/v1/completions`` streams are not asked (docs/compatibility.md).
    completions_stream_usage = False

    def _adapt(self, status: int, payload: JSONBody, sent: dict[str, Any]) -> JSONBody:
        return (flat_error(status, payload) or payload) if status >= 400 else payload

    def _stream_rewriter(self, sent: dict[str, Any]) -> SSERewriter:
        return _TRTStream()


class _TRTStream(SSERewriter):
    def event(self, obj: Any) -> list[Any]:
        return [flat_error(500, obj) or obj]
