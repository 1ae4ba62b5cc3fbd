"""Backend of kind ``azure_openai``: Azure OpenAI Service (data-plane REST API).

What differs from OpenAI's own API (Azure OpenAI REST reference, "Chat completions"):

- the deployment is in the path and the API version in the query:
  ``POST {url}/openai/deployments/{deployment}/chat/completions?api-version={api_version}``, where
  ``url`` is the resource endpoint (``https://<resource>.openai.azure.com``); the deployment is
  ``deployments[model]``, else the model name itself (``BackendSettings.deployments``);
- the key goes in the ``api-key`` header (never ``Authorization``; a client's header never travels);
- a stream starts with a chunk that holds only ``prompt_filter_results`` (empty ``id``, ``model``
  and ``object``, no choices): it is dropped, so clients see OpenAI's chunk sequence;
- errors are ``{"error": {"code": "DeploymentNotFound", "message": ...}}`` without ``type``, and a
  bad key gets ``{"statusCode": 401, "message": ...}``: both become OpenAI's error shape;
- no ``/health``: ``GET {url}/openai/models?api-version=...`` answering 200 means healthy;
- ``stream_options`` (usage on streams) is sent only with ``api_version`` 2024-10-21 or later:
  older versions refuse the field, so their streams carry no usage (docs/compatibility.md).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from privacy_router.errors import UpstreamError
from privacy_router.upstream.base import JSONBody
from privacy_router.upstream.openai_compat import (
    USER_AGENT,
    OpenAICompatBackend,
    SSERewriter,
    openai_error,
)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


# The first GA API version whose chat completions take ``stream_options`` (include_usage).
STREAM_OPTIONS_SINCE = "2024-10-21"


def error_type(status: int) -> str:
    return _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


class AzureOpenAIBackend(OpenAICompatBackend):
    kind = "azure_openai"
    # ``/completions`` (legacy models only) is not asked for usage (docs/compatibility.md).
    completions_stream_usage = False

    def _query(self) -> str:
        return "?api-version=" + quote(self.settings.api_version, safe="")

    def _url(self, path: str, body: dict[str, Any]) -> str:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise UpstreamError(
                f"backend {self.name!r} needs a model name to choose the Azure deployment",
                status_code=400,
                code="model_required",
            )
        deployment = self.settings.deployments.get(model, model)
        return f"{self._base}/openai/deployments/{quote(deployment, safe='')}{path}{self._query()}"

    def _prepare(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if "stream_options" in body and self.settings.api_version[:10] < STREAM_OPTIONS_SINCE:
            # An older API version refuses the field (400): the stream goes without usage.
            return {k: v for k, v in body.items() if k != "stream_options"}
        return body

    def _headers(self, request_id: str | None) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": USER_AGENT,
        }
        key = self.settings.api_key()
        if key:
            headers["api-key"] = key
        if request_id is not None:
            headers["x-ms-client-request-id"] = request_id
        return headers

    def _adapt(self, status: int, payload: JSONBody, sent: dict[str, Any]) -> JSONBody:
        if status < 400 or not isinstance(payload, dict):
            return payload
        inner = payload.get("error")
        err: dict[str, Any] = inner if isinstance(inner, dict) else payload
        message = err.get("message")
        code = err.get("code", payload.get("statusCode"))
        return openai_error(
            message if isinstance(message, str) else "upstream error",
            str(err.get("type") or error_type(status)),
            str(code) if code is not None else None,
            err.get("param") if isinstance(err.get("param"), str) else None,
        )

    def _stream_rewriter(self, sent: dict[str, Any]) -> SSERewriter:
        return _AzureStream()

    async def health(self) -> bool:
        try:
            response = await self._client.get(
                f"{self._base}/openai/models{self._query()}",
                headers=self._headers(None),
                timeout=self._health_timeout,
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200


class _AzureStream(SSERewriter):
    def event(self, obj: Any) -> list[Any]:
        preamble = isinstance(obj, dict) and obj.get("choices") == [] and obj.get("usage") is None
        if preamble and "prompt_filter_results" in obj:
            return []  # the content-filter preamble chunk
        return [obj]
