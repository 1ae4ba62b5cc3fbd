"""The one registration place: every configurable kind has exactly one adapter class."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator

import httpx
import pytest

from privacy_router.config import BackendSettings, ServerSettings, Settings
from privacy_router.upstream import BACKEND_KINDS, build_backends, create_upstream_client


def test_config_kinds_and_registered_adapters_are_the_same_set() -> None:
    kinds = typing.get_args(BackendSettings.model_fields["kind"].annotation)
    assert sorted(kinds) == sorted(BACKEND_KINDS)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with create_upstream_client(ServerSettings()) as c:
        yield c


async def test_each_kind_builds_its_own_adapter(client: httpx.AsyncClient) -> None:
    def backend(kind: str) -> dict[str, str]:
        return {
            "name": kind,
            "kind": kind,
            "url": "http://127.0.0.1:9/v1",
            "region": "us",
            "aws_region": "us-east-1",
        }

    settings = Settings(backends={"external": [backend(k) for k in BACKEND_KINDS]})
    _, external = build_backends(settings, client)
    assert [(b.kind, type(b).__name__) for b in external] == [
        ("openai", "OpenAICompatBackend"),
        ("anthropic", "AnthropicBackend"),
        ("azure_openai", "AzureOpenAIBackend"),
        ("gemini", "GeminiBackend"),
        ("bedrock", "BedrockBackend"),
        ("tgi", "TGIBackend"),
        ("tensorrt_llm", "TensorRTLLMBackend"),
    ]
