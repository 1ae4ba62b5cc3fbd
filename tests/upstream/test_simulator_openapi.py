"""Simulator responses and stream chunks conform to OpenAI's OpenAPI description.

``jsonschema`` is not a dependency of the project, so this file carries a small validator for the
subset of JSON Schema the OpenAPI document uses on these response types: ``$ref``, ``type``
(string or list, with OpenAPI 3.0 ``nullable``), ``enum``, ``const``, ``required``, ``properties``,
``items``, ``anyOf``/``oneOf``/``allOf``. Extra properties are allowed, as in the document (vLLM adds
its own keys). Source: /work/shared/reference/openai-openapi/openapi.yaml (OpenAPI 3.1.0).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from privacy_router.upstream.simulator import RunningSimulator

pytestmark = pytest.mark.slow

OPENAPI = Path("/work/shared/reference/openai-openapi/openapi.yaml")
TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
}
_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    document = yaml.load(OPENAPI.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    return dict(document["components"]["schemas"])


def _type_ok(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def errors(value: Any, schema: dict[str, Any], schemas: dict[str, Any], at: str = "$") -> Iterator[str]:
    if value is None and schema.get("nullable"):
        return  # also when it sits beside a $ref (OpenAPI 3.1 allows siblings of $ref)
    if "$ref" in schema:
        yield from errors(value, schemas[schema["$ref"].rsplit("/", 1)[1]], schemas, at)
        return
    for sub in schema.get("allOf", []):
        yield from errors(value, sub, schemas, at)
    for key in ("anyOf", "oneOf"):
        if key in schema and not any(not list(errors(value, s, schemas, at)) for s in schema[key]):
            yield f"{at}: matches none of {key}"
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, n) for n in names):
            yield f"{at}: {value!r} is not of type {names}"
            return
    if "enum" in schema and value not in schema["enum"]:
        yield f"{at}: {value!r} not in {schema['enum']}"
    if "const" in schema and value != schema["const"]:
        yield f"{at}: {value!r} != {schema['const']!r}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                yield f"{at}: missing required {key!r}"
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                yield from errors(value[key], sub, schemas, f"{at}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield from errors(item, schema["items"], schemas, f"{at}[{i}]")


def deviations(value: Any, schema_name: str, schemas: dict[str, Any], flavor: str) -> list[str]:
    """Schema errors, minus the one documented vLLM deviation: vLLM ``model_dump()``s its responses,
    so optional fields it did not set arrive as ``null`` where OpenAI's schema says "absent or a
    value" (protocol.md §1.3). Every other error (missing key, bad enum, wrong type) still counts."""
    found = list(errors(value, schemas[schema_name], schemas))
    if flavor == "vllm":
        found = [e for e in found if ": None is not of type" not in e]
    return found


def stream_chunks(sim: RunningSimulator, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = httpx.post(sim.url + path, json=body, timeout=10).content.decode()
    events = [e.removeprefix("data: ") for e in raw.split("\n\n") if e]
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def test_validator_rejects_a_broken_response(schemas: dict[str, Any]) -> None:
    """Guard: the small validator really fails on a response missing required keys and with bad enums."""
    broken = {"id": "x", "object": "chat.completion", "created": 1, "model": "m",
              "choices": [{"index": 0, "finish_reason": "done", "logprobs": None}]}  # fmt: skip
    found = list(errors(broken, schemas["CreateChatCompletionResponse"], schemas))
    assert found == [
        "$.choices[0]: missing required 'message'",
        "$.choices[0].finish_reason: 'done' not in"
        " ['stop', 'length', 'tool_calls', 'content_filter', 'function_call']",
    ]


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tool_call"])
def test_chat_response_conforms(sim: RunningSimulator, schemas: dict[str, Any], tools: bool) -> None:
    body: dict[str, Any] = {"model": sim.model, "messages": [{"role": "user", "content": "hi <P_1>"}], "n": 2}
    if tools:
        body["tools"] = [TOOL]
    reply = httpx.post(sim.url + "/chat/completions", json=body, timeout=10).json()
    assert deviations(reply, "CreateChatCompletionResponse", schemas, sim.flavor) == []


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tool_call"])
def test_chat_stream_chunks_conform(sim: RunningSimulator, schemas: dict[str, Any], tools: bool) -> None:
    body: dict[str, Any] = {
        "model": sim.model,
        "messages": [{"role": "user", "content": "hi <P_1>"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if tools:
        body["tools"] = [TOOL]
    chunks = stream_chunks(sim, "/chat/completions", body)
    problems = [
        e for c in chunks for e in deviations(c, "CreateChatCompletionStreamResponse", schemas, sim.flavor)
    ]
    assert problems == []
    assert chunks[-1]["choices"] == []


def test_completion_response_and_chunks_conform(sim: RunningSimulator, schemas: dict[str, Any]) -> None:
    reply = httpx.post(
        sim.url + "/completions", json={"model": sim.model, "prompt": ["a", "b"]}, timeout=10
    ).json()
    assert deviations(reply, "CreateCompletionResponse", schemas, sim.flavor) == []
    chunks = stream_chunks(sim, "/completions", {"model": sim.model, "prompt": "abc def", "stream": True})
    problems = [e for c in chunks for e in deviations(c, "CreateCompletionResponse", schemas, sim.flavor)]
    # The document reuses CreateCompletionResponse for stream chunks, whose finish_reason is null
    # until the last one (also on api.openai.com): the only error allowed, one per non-final chunk
    # (already filtered for vLLM as a null).
    expected = 0 if sim.flavor == "vllm" else len(chunks) - 1
    assert problems == ["$.choices[0].finish_reason: None is not of type ['string']"] * expected


def test_embeddings_and_models_conform(sim: RunningSimulator, schemas: dict[str, Any]) -> None:
    body = {"model": sim.model, "input": ["a", "b"], "encoding_format": "float"}
    reply = httpx.post(sim.url + "/embeddings", json=body, timeout=10).json()
    assert deviations(reply, "CreateEmbeddingResponse", schemas, sim.flavor) == []
    models = httpx.get(sim.url + "/models", timeout=10).json()
    assert deviations(models, "ListModelsResponse", schemas, sim.flavor) == []
