"""AnthropicBackend and the anthropic-flavored simulator over real sockets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import anthropic
import httpx
import pytest

from privacy_router.config import BackendSettings, ServerSettings, Settings
from privacy_router.upstream import build_backends, create_upstream_client
from privacy_router.upstream.anthropic import AnthropicBackend
from privacy_router.upstream.simulator import RunningSimulator
from privacy_router.upstream.translate import SSEParser

pytestmark = pytest.mark.slow

KEY = "sk-ant-backend-own"


@pytest.fixture(scope="module")
def ant_sim() -> Iterator[RunningSimulator]:
    with RunningSimulator("anthropic", api_key=KEY) as sim:
        yield sim


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with create_upstream_client(ServerSettings()) as c:
        yield c


def backend(url: str, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> AnthropicBackend:
    monkeypatch.setenv("TEST_ANT_KEY", KEY)
    settings = BackendSettings(name="ant", url=url, region="us", kind="anthropic", api_key_env="TEST_ANT_KEY")
    return AnthropicBackend(settings, client, ServerSettings())


def test_kind_anthropic_is_registered(client: httpx.AsyncClient) -> None:
    settings = Settings(
        backends={
            "external": [
                {"name": "ant", "kind": "anthropic", "url": "https://api.anthropic.com/v1", "region": "us"}
            ]
        }
    )
    _, external = build_backends(settings, client)
    assert [(type(b).__name__, b.kind) for b in external] == [("AnthropicBackend", "anthropic")]


async def test_send_uses_x_api_key_and_version_and_gets_a_message(
    ant_sim: RunningSimulator, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ant_sim.clear_records()
    b = backend(ant_sim.url, client, monkeypatch)
    body = {
        "model": "claude-opus-4-8",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hello <PERSON_1>"}],
    }
    response = await b.send("/messages", body, request_id="r1")
    assert response.status == 200
    assert isinstance(response.json, dict)
    assert response.json["content"] == [{"type": "text", "text": "hello <PERSON_1>"}]
    assert response.json["stop_reason"] == "end_turn"
    [record] = ant_sim.records()
    assert record["headers"]["anthropic-version"] == "2023-06-01"
    assert record["headers"]["x-api-key"] == KEY
    assert "authorization" not in record["headers"]
    assert await b.health() is True


async def test_stream_is_anthropic_sse_without_done(
    ant_sim: RunningSimulator, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = backend(ant_sim.url, client, monkeypatch)
    body = {
        "model": "claude-opus-4-8",
        "max_tokens": 10,
        "stream": True,
        "messages": [{"role": "user", "content": "hey"}],
    }
    async with b.stream("/messages", body, request_id="r2") as upstream:
        raw = b"".join([c async for c in upstream.aiter_bytes()])
    events = SSEParser().feed(raw)
    names = [n for n, _ in events]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert b"[DONE]" not in raw
    text = "".join(json.loads(d)["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == "hey"


async def test_wrong_key_is_401_in_anthropic_shape(
    ant_sim: RunningSimulator, client: httpx.AsyncClient
) -> None:
    settings = BackendSettings(name="ant", url=ant_sim.url, region="us", kind="anthropic")
    response = await AnthropicBackend(settings, client, ServerSettings()).send(
        "/messages", {"model": "claude-opus-4-8", "max_tokens": 1, "messages": []}, request_id="r3"
    )
    assert response.status == 401
    assert response.json == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "Unauthorized"},
    }


def test_simulator_speaks_what_the_anthropic_sdk_reads(ant_sim: RunningSimulator) -> None:
    with anthropic.Anthropic(base_url=ant_sim.root_url, api_key=KEY, max_retries=0) as sdk:
        _tool_use_and_error_event(sdk)


def _tool_use_and_error_event(sdk: anthropic.Anthropic) -> None:
    tools = [{"name": "find", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]
    with sdk.messages.stream(
        model="claude-opus-4-8", max_tokens=10, messages=[{"role": "user", "content": "Ada"}], tools=tools
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in final.content] == [("tool_use", {"q": "Ada"})]
    with (
        pytest.raises(anthropic.APIStatusError) as err,
        sdk.messages.stream(
            model="claude-opus-4-8",
            max_tokens=10,
            messages=[{"role": "user", "content": "Ada"}],
            extra_headers={"x-sim-fault": "error-event:2"},
        ) as stream,
    ):
        stream.get_final_message()
    assert err.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
