"""The compatibility matrix of docs/compatibility.md: endpoint x stream x client x backend.

Each row id is the cell's name in that document. The backend is chosen through the policy as a
client would: PHI goes to on-prem vLLM, a clean prompt to the external backend (OpenAI-compatible
or Anthropic, depending on the gateway's configuration).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

import openai
import pytest

from tests.api.conftest import CLAUDE, CLEAN, PHI, Running, Sims, sdk
from tests.integration.conftest import US_KEY

pytestmark = pytest.mark.slow

# backend -> (gateway fixture, prompt that routes there, model the client names, route, simulator)
BACKENDS = {
    "vllm": ("gateway", PHI, "gpt-4o", "onprem", "onprem"),
    "openai": ("gateway", CLEAN, "gpt-4o", "external", "external"),
    "anthropic": ("anthropic_gateway", CLEAN, CLAUDE, "external", "anthropic"),
}
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    }
]


async def _value(x: Any) -> Any:
    return await x if inspect.isawaitable(x) else x


def call(gw: Running, mode: str, method: str, **kwargs: Any) -> tuple[dict[str, str], Any]:
    """``client.<method>.with_raw_response.create(**kwargs)`` with the sync or async openai client;
    streams are read to the end. Returns (headers, parsed answer or list of chunks)."""

    def resource(client: Any) -> Any:
        for part in method.split("."):
            client = getattr(client, part)
        return client.with_raw_response

    if mode == "sync":
        client = sdk(openai.OpenAI, base_url=gw.v1, api_key=US_KEY)
        raw = resource(client).create(**kwargs)
        parsed = raw.parse()
        return dict(raw.headers), list(parsed) if kwargs.get("stream") else parsed

    async def run() -> tuple[dict[str, str], Any]:
        async with openai.AsyncOpenAI(base_url=gw.v1, api_key=US_KEY, max_retries=0) as client:
            raw = await resource(client).create(**kwargs)
            parsed = await _value(raw.parse())
            if kwargs.get("stream"):
                parsed = [c async for c in parsed]
            return dict(raw.headers), parsed

    return asyncio.run(run())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_chat_completions(
    request: pytest.FixtureRequest, sims: Sims, backend: str, stream: bool, mode: str
) -> None:
    fixture, prompt, model, route, sim = BACKENDS[backend]
    gw: Running = request.getfixturevalue(fixture)
    headers, answer = call(
        gw,
        mode,
        "chat.completions",
        model=model,
        messages=[{"role": "user", "content": prompt}],
        stream=stream,
    )
    assert headers["x-privacy-route"] == route
    assert headers["x-privacy-audit-id"]
    if stream:
        assert "".join(c.choices[0].delta.content or "" for c in answer if c.choices) == prompt
        assert [c.choices[0].finish_reason for c in answer if c.choices][-1] == "stop"
    else:
        assert (answer.choices[0].message.content, answer.choices[0].finish_reason) == (prompt, "stop")
    recorded = [r for r in getattr(sims, sim).records() if r["method"] == "POST"][-1]
    assert recorded["path"] == ("/v1/messages" if backend == "anthropic" else "/v1/chat/completions")
    assert gw.completion(headers["x-request-id"])["outcome"] == "ok"


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_chat_completions_tools(
    request: pytest.FixtureRequest, backend: str, stream: bool, mode: str
) -> None:
    fixture, prompt, model, route, _ = BACKENDS[backend]
    gw: Running = request.getfixturevalue(fixture)
    messages: list[Any] = [{"role": "user", "content": prompt}]
    headers, answer = call(
        gw, mode, "chat.completions", model=model, messages=messages, tools=TOOLS, stream=stream
    )
    assert headers["x-privacy-route"] == route
    if stream:
        # Accumulate as the SDK's own helper does: by tool-call index (protocol.md §5).
        name, arguments, finish = "", "", None
        for chunk in answer:
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for tc in choice.delta.tool_calls or ():
                    assert tc.index == 0
                    name += (tc.function.name or "") if tc.function else ""
                    arguments += (tc.function.arguments or "") if tc.function else ""
    else:
        [tc] = answer.choices[0].message.tool_calls
        name, arguments, finish = tc.function.name, tc.function.arguments, answer.choices[0].finish_reason
    assert (name, json.loads(arguments), finish) == ("lookup", {"q": prompt}, "tool_calls")


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize("backend", ["vllm", "openai"])
def test_completions(request: pytest.FixtureRequest, backend: str, stream: bool, mode: str) -> None:
    fixture, prompt, model, route, _ = BACKENDS[backend]
    gw: Running = request.getfixturevalue(fixture)
    headers, answer = call(gw, mode, "completions", model=model, prompt=prompt, stream=stream)
    assert headers["x-privacy-route"] == route
    text = "".join(c.choices[0].text for c in answer if c.choices) if stream else answer.choices[0].text
    assert text == prompt


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("backend", ["vllm", "openai"])
def test_embeddings(request: pytest.FixtureRequest, backend: str, mode: str) -> None:
    fixture, prompt, model, route, _ = BACKENDS[backend]
    gw: Running = request.getfixturevalue(fixture)
    headers, answer = call(gw, mode, "embeddings", model=model, input=[prompt, "second"])
    assert headers["x-privacy-route"] == route
    assert [(d.index, len(d.embedding)) for d in answer.data] == [(0, 8), (1, 8)]


@pytest.mark.parametrize("endpoint", ["completions", "embeddings"])
def test_endpoints_an_anthropic_backend_lacks_are_400(
    anthropic_gateway: Running, sims: Sims, endpoint: str
) -> None:
    before = len([r for r in sims.anthropic.records() if r["method"] == "POST"])
    client = sdk(openai.OpenAI, base_url=anthropic_gateway.v1, api_key=US_KEY)
    with pytest.raises(openai.BadRequestError) as err:
        if endpoint == "completions":
            client.completions.create(model=CLAUDE, prompt=CLEAN)
        else:
            client.embeddings.create(model=CLAUDE, input=CLEAN)
    assert err.value.body == {  # type: ignore[comparison-overlap]
        "message": "this endpoint is not available on the backend chosen for this request",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_request",
    }
    assert len([r for r in sims.anthropic.records() if r["method"] == "POST"]) == before
