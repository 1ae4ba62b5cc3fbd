"""The one place that registers backend kinds: ``kind`` (config) -> adapter class, one file each.

Every adapter takes ``(BackendSettings, httpx.AsyncClient, ServerSettings)`` and implements the
``Backend`` protocol (upstream/base.py) with OpenAI's chat shape on its surface, whatever its wire
format. docs/compatibility.md lists what each kind supports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx

from privacy_router.config import BackendSettings, ServerSettings, Settings
from privacy_router.upstream.anthropic import AnthropicBackend
from privacy_router.upstream.azure_openai import AzureOpenAIBackend
from privacy_router.upstream.base import Backend
from privacy_router.upstream.bedrock import BedrockBackend
from privacy_router.upstream.gemini import GeminiBackend
from privacy_router.upstream.openai_compat import OpenAICompatBackend
from privacy_router.upstream.tensorrt_llm import TensorRTLLMBackend
from privacy_router.upstream.tgi import TGIBackend

BackendFactory = Callable[[BackendSettings, httpx.AsyncClient, ServerSettings], Backend]

BACKEND_KINDS: dict[str, BackendFactory] = {
    "openai": OpenAICompatBackend,
    "anthropic": AnthropicBackend,
    "azure_openai": AzureOpenAIBackend,
    "gemini": GeminiBackend,
    "bedrock": BedrockBackend,
    "tgi": TGIBackend,
    "tensorrt_llm": TensorRTLLMBackend,
}


def build_backends(settings: Settings, client: httpx.AsyncClient) -> tuple[list[Backend], list[Backend]]:
    """Instantiate the configured backends: ``(onprem, external)``, in configuration order."""

    def build(items: Sequence[BackendSettings]) -> list[Backend]:
        return [BACKEND_KINDS[b.kind](b, client, settings.server) for b in items]

    return build(settings.backends.onprem), build(settings.backends.external)
