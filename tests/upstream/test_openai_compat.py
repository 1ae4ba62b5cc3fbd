"""OpenAICompatBackend against the simulator over real sockets; error translation; health; registry."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from privacy_router.config import BackendSettings, ServerSettings, Settings
from privacy_router.errors import UpstreamError
from privacy_router.upstream import (
    OpenAICompatBackend,
    build_backends,
    create_upstream_client,
)
from privacy_router.upstream.simulator import RunningSimulator, free_port

pytestmark = pytest.mark.slow

ECHO = "Patient <PERSON_1> needs a refill"
MESSAGES = [{"role": "user", "content": ECHO}]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with create_upstream_client(ServerSettings()) as c:
        yield c


def backend_for(
    url: str,
    client: httpx.AsyncClient,
    *,
    name: str = "b1",
    timeout_s: float = 120.0,
    api_key_env: str | None = None,
) -> OpenAICompatBackend:
    settings = BackendSettings(name=name, url=url, region="us-east", api_key_env=api_key_env)
    return OpenAICompatBackend(settings, client, ServerSettings(upstream_timeout_s=timeout_s))


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


async def test_send_returns_status_json_and_headers(sim: RunningSimulator, client: httpx.AsyncClient) -> None:
    backend = backend_for(sim.url, client)
    response = await backend.send(
        "/chat/completions", {"model": sim.model, "messages": MESSAGES}, request_id="req-1"
    )
    assert response.status == 200
    assert isinstance(response.json, dict)
    assert response.json["choices"][0]["message"]["content"] == ECHO
    assert response.headers["content-type"] == "application/json"


async def test_upstream_http_errors_are_values_not_exceptions(
    sim: RunningSimulator, client: httpx.AsyncClient
) -> None:
    response = await backend_for(sim.url, client).send(
        "/chat/completions", {"model": "nope", "messages": MESSAGES}, request_id="r"
    )
    assert response.status == 404
    assert isinstance(response.json, dict)
    assert response.json["error"]["code"] == (404 if sim.flavor == "vllm" else "model_not_found")


async def test_stream_yields_the_sse_bytes_as_sent(sim: RunningSimulator, client: httpx.AsyncClient) -> None:
    body = {"model": sim.model, "messages": MESSAGES, "stream": True}
    async with backend_for(sim.url, client).stream("/chat/completions", body, request_id="r") as stream:
        assert stream.status == 200
        raw = b"".join([part async for part in stream.aiter_bytes()])
    events = raw.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    text = "".join(
        json.loads(e.removeprefix("data: "))["choices"][0]["delta"].get("content") or "" for e in events[:-2]
    )
    assert text == ECHO


async def test_only_the_adapters_own_headers_reach_the_upstream(
    sim: RunningSimulator, client: httpx.AsyncClient
) -> None:
    await backend_for(sim.url, client).send(
        "/chat/completions", {"model": sim.model, "messages": MESSAGES}, request_id="req-77"
    )
    (entry,) = sim.records()
    assert entry["headers"] == {
        "host": sim.url.removeprefix("http://").removesuffix("/v1"),
        "accept": "application/json",
        "accept-encoding": "identity",
        "connection": "keep-alive",
        "user-agent": "privacy-router",
        "content-type": "application/json",
        "content-length": str(len(json.dumps(entry["body"], separators=(",", ":")).encode())),
        "x-request-id": "req-77",
    }
    assert entry["body"] == {"model": sim.model, "messages": MESSAGES}


async def test_configured_key_is_sent_and_never_recorded(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_UPSTREAM_KEY", "upstream-key")
    with RunningSimulator("vllm", api_key="upstream-key") as sim:
        good = backend_for(sim.url, client, api_key_env="SIM_UPSTREAM_KEY")
        bad = backend_for(sim.url, client, api_key_env="UNSET_KEY_VARIABLE")
        body = {"messages": MESSAGES}
        assert (await good.send("/chat/completions", body, request_id="r")).status == 200
        denied = await bad.send("/chat/completions", body, request_id="r")
        assert (denied.status, denied.json) == (401, {"error": "Unauthorized"})
        assert ["authorization" in r["headers"] for r in sim.records()] == [False, False]


async def test_health_is_true_for_both_flavors(sim: RunningSimulator, client: httpx.AsyncClient) -> None:
    # vLLM answers GET /health; OpenAI 404s there and the adapter falls back to GET /v1/models.
    assert await backend_for(sim.url, client).health() is True


async def test_closed_port_is_unhealthy_and_503(client: httpx.AsyncClient) -> None:
    backend = backend_for(closed_port_url(), client)
    assert await backend.health() is False
    with pytest.raises(UpstreamError) as info:
        await backend.send("/chat/completions", {"messages": MESSAGES}, request_id="r")
    assert (info.value.status_code, info.value.code) == (503, "upstream_unavailable")
    assert ECHO not in str(info.value)
    with pytest.raises(UpstreamError) as info:
        async with backend.stream("/chat/completions", {"messages": MESSAGES}, request_id="r"):
            pass
    assert info.value.status_code == 503


async def test_read_timeout_maps_to_504_and_drop_to_502(client: httpx.AsyncClient) -> None:
    with RunningSimulator("vllm", fault="stall:2") as stalled:
        backend = backend_for(stalled.url, client, timeout_s=0.3)
        with pytest.raises(UpstreamError) as info:
            await backend.send("/chat/completions", {"messages": MESSAGES}, request_id="r")
        assert (info.value.status_code, info.value.code) == (504, "upstream_timeout")
    with RunningSimulator("vllm", fault="drop:2") as dropping:
        backend = backend_for(dropping.url, client)
        received = []
        with pytest.raises(UpstreamError) as info:
            async with backend.stream(
                "/chat/completions", {"messages": MESSAGES, "stream": True}, request_id="r"
            ) as stream:
                received = [part async for part in stream.aiter_bytes()]
        assert (info.value.status_code, info.value.code) == (502, "upstream_error")
        assert received == []


async def test_non_json_error_body_becomes_an_error_document() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad Gateway</html>")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        response = await backend_for("http://upstream.test/v1", client).send(
            "/chat/completions", {"messages": MESSAGES}, request_id="r"
        )
    assert response.status == 502
    assert response.json == {
        "error": {
            "message": "upstream returned non-JSON",
            "type": "upstream_error",
            "param": None,
            "code": 502,
        }
    }


async def test_non_json_success_body_is_a_502() -> None:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, text="ok"))
    ) as c:
        with pytest.raises(UpstreamError) as info:
            await backend_for("http://upstream.test/v1", c).send("/chat/completions", {}, request_id="r")
    assert (info.value.status_code, info.value.code) == (502, "upstream_bad_response")


def test_build_backends_registers_by_kind(client: httpx.AsyncClient) -> None:
    settings = Settings(
        backends={
            "onprem": [{"name": "vllm-a", "url": "http://127.0.0.1:8001/v1", "region": "us-east"}],
            "external": [{"name": "openai", "url": "https://api.openai.com/v1", "region": "us"}],
        }
    )
    onprem, external = build_backends(settings, client)
    assert [(b.name, b.region, b.kind) for b in onprem] == [("vllm-a", "us-east", "openai")]
    assert [(b.name, b.region, b.kind) for b in external] == [("openai", "us", "openai")]
    assert all(isinstance(b, OpenAICompatBackend) for b in (*onprem, *external))


async def test_vllm_health_503_is_unhealthy(client: httpx.AsyncClient) -> None:
    with RunningSimulator("vllm", fault="fail:503") as sim:
        assert await backend_for(sim.url, client).health() is False
