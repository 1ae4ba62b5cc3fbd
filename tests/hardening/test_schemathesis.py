"""Schemathesis over the gateway's own OpenAPI description: no generated request gets a 5xx.

The description is fetched from the running gateway (``/openapi.json``). The proxied endpoints take
raw JSON (they must forward unknown fields untouched), so FastAPI describes no request body for
them; this test adds one per endpoint, a small subset of OpenAI's request schemas
(reference/openai-openapi) with extra properties allowed, so that schemathesis generates both
valid-looking and invalid bodies (its positive and negative modes). The number of examples is
bounded so the run stays well under two minutes in ``make test``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.gateway import Gateway
from tests.hardening.conftest import CLIENT_KEY, GatewayServer, RawBackend, gateway_settings

_TEXT_PART = {
    "type": "object",
    "properties": {"type": {"enum": ["text", "image_url"]}, "text": {"type": "string"}},
    "required": ["type"],
}
_MESSAGE = {
    "type": "object",
    "properties": {
        "role": {"enum": ["system", "developer", "user", "assistant", "tool"]},
        "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": _TEXT_PART}, {"type": "null"}]},
        "name": {"type": "string"},
        "tool_call_id": {"type": "string"},
    },
    "required": ["role"],
}
_COMMON = {
    "model": {"type": "string"},
    "stream": {"type": "boolean"},
    "temperature": {"type": "number"},
    "max_tokens": {"type": "integer"},
    "user": {"type": "string"},
}
BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {
        "type": "object",
        "properties": {**_COMMON, "messages": {"type": "array", "items": _MESSAGE}},
        "required": ["model", "messages"],
    },
    "/v1/completions": {
        "type": "object",
        "properties": {
            **_COMMON,
            "prompt": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        },
        "required": ["model", "prompt"],
    },
    "/v1/embeddings": {
        "type": "object",
        "properties": {
            "model": {"type": "string"},
            "input": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        },
        "required": ["model", "input"],
    },
}


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    mp = pytest.MonkeyPatch()
    mp.setenv("HARDENING_BACKEND_KEY", "sk-external-own")
    with RawBackend("llama-3.1-8b") as onprem, RawBackend("gpt-4o") as external:
        data = gateway_settings(tmp, onprem.url, external.url)
        # Rate limits off: every generated request must reach the code under test, not a 429.
        data["auth"] = {"rate_limit": {"key_rps": None, "tenant_rps": None}}
        gw = Gateway.from_settings(load_settings(None, **data), detector=detection_engine)
        with GatewayServer(gw) as server:
            yield server.url
    mp.undo()


@pytest.fixture(scope="module")
def gateway_schema(gateway_url: str) -> Any:
    doc = httpx.get(f"{gateway_url}/openapi.json", timeout=10).json()
    assert sorted(p for p in BODIES if "post" in doc["paths"].get(p, {})) == sorted(BODIES)
    for path, body in BODIES.items():
        doc["paths"][path]["post"]["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return schemathesis.openapi.from_dict(doc)


# schemathesis's own pytest integration (subtests) does not run under pytest 9; its generation
# API is driven directly instead: one Hypothesis run per (operation, mode).
POSTS = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]
# GET /v1/models takes no input: there is no negative case to generate for it.
CASES = [
    *[
        pytest.param("POST", path, mode, id=f"POST {path}-{mode.value}")
        for path in POSTS
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ],
    pytest.param("GET", "/v1/models", GenerationMode.POSITIVE, id="GET /v1/models-positive"),
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_generated_request_gets_a_5xx(
    gateway_schema: Any, gateway_url: str, method: str, path: str, mode: GenerationMode
) -> None:
    operation = gateway_schema[path][method]
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        # Each example goes through spaCy and the audit fsync: slow by Hypothesis standards, on purpose.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: Any) -> None:
        response = case.call(base_url=gateway_url, headers={"authorization": f"Bearer {CLIENT_KEY}"})
        statuses.append(response.status_code)
        assert response.status_code < 500, f"{method} {path} answered {response.status_code}"

    run()
    assert statuses, "schemathesis generated no request"
