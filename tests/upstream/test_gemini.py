"""Kind ``gemini``: the Gemini adapter against the gemini-flavored simulator (Google's
OpenAI-compatible endpoint and its quirks), alone and through the gateway with the openai SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest

from privacy_router.config import BackendSettings, ServerSettings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.upstream import create_upstream_client
from privacy_router.upstream.gemini import GeminiBackend
from privacy_router.upstream.simulator import RunningSimulator
from tests.upstream.conftest import CLEAN, PII, TOOLS, GatewayUnderTest, gateway_over, posts

pytestmark = pytest.mark.slow

KEY = "gemini-backend-key"
MODEL = "gemini-2.5-flash"


@pytest.fixture(scope="module")
def gemini_sim() -> Iterator[RunningSimulator]:
    with RunningSimulator("gemini", api_key=KEY) as sim:
        yield sim


def base_url(sim: RunningSimulator) -> str:
    return sim.root_url + "/v1beta/openai"


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine, gemini_sim: RunningSimulator
) -> Iterator[GatewayUnderTest]:
    external = [
        {
            "name": "gemini",
            "kind": "gemini",
            "url": base_url(gemini_sim),
            "region": "us",
            "models": [MODEL],
            "api_key_env": "TEST_GEMINI_KEY",
        }
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TEST_GEMINI_KEY", KEY)
        with gateway_over(tmp_path_factory.mktemp("gemini"), detection_engine, external=external) as running:
            yield running


@pytest.fixture(autouse=True)
def _fresh_records(gemini_sim: RunningSimulator) -> None:
    gemini_sim.clear_records()


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_clean_and_scrubbed_prompts_through_gemini(
    gateway: GatewayUnderTest, gemini_sim: RunningSimulator, stream: bool
) -> None:
    with gateway.client() as client:
        for prompt in (CLEAN, PII):
            if stream:
                chunks = list(
                    client.chat.completions.create(
                        model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True
                    )
                )
                assert [c.usage for c in chunks if c.usage] == []  # not asked for: removed
                text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            else:
                answer = client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": prompt}]
                )
                text = answer.choices[0].message.content or ""
            assert text == prompt
    records = posts(gemini_sim)
    assert [r["path"] for r in records] == ["/v1beta/openai/chat/completions"] * 2
    assert "Maria Gonzalez" not in json.dumps(records[1]["body"])


def test_tool_call_ids_index_and_finish_reason_are_repaired(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client:
        answer = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": CLEAN}], tools=TOOLS
        )
        with client.chat.completions.stream(
            model=MODEL,
            messages=[{"role": "user", "content": CLEAN}],
            tools=TOOLS,
            stream_options={"include_usage": True},
        ) as stream:
            streamed = stream.get_final_completion()
    for completion in (answer, streamed):
        [call] = completion.choices[0].message.tool_calls or []
        assert completion.choices[0].finish_reason == "tool_calls"
        assert call.id.startswith("call_")
        assert (call.function.name, json.loads(call.function.arguments)) == ("lookup", {"q": CLEAN})
    assert streamed.usage is not None and streamed.usage.completion_tokens > 0


def test_tool_result_round_trip(gateway: GatewayUnderTest) -> None:
    messages = [
        {"role": "user", "content": CLEAN},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "red, yellow, blue"},
    ]  # fmt: skip
    with gateway.client() as client:
        answer = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "Tool said: red, yellow, blue"


def test_error_list_becomes_openai_error(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client, pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": CLEAN}],
            extra_body={"sim_fault": {"fail": 400}},
        )
    assert err.value.body == {
        "message": "simulated failure 400", "type": "INVALID_ARGUMENT", "param": None, "code": "400"
    }  # fmt: skip


@pytest.fixture
async def backend(
    gemini_sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[GeminiBackend]:
    monkeypatch.setenv("TEST_GEMINI_KEY", KEY)
    async with create_upstream_client(ServerSettings()) as client:
        settings = BackendSettings(
            name="g", kind="gemini", url=base_url(gemini_sim), region="us", api_key_env="TEST_GEMINI_KEY"
        )
        yield GeminiBackend(settings, client, ServerSettings())


async def test_adapter_health_and_usage_chunk_on_request(backend: GeminiBackend) -> None:
    assert await backend.health() is True
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with backend.stream("/chat/completions", body, request_id="r1") as upstream:
        raw = b"".join([c async for c in upstream.aiter_bytes()])
    events = [line[6:] for line in raw.decode().split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    usage_chunk = json.loads(events[-2])
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["total_tokens"] > 0
    assert all("usage" not in json.loads(e) for e in events[:-2])


def test_simulator_speaks_gemini_quirks(gemini_sim: RunningSimulator) -> None:
    headers = {"authorization": f"Bearer {KEY}"}
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "tools": TOOLS}
    answer = httpx.post(
        base_url(gemini_sim) + "/chat/completions", json=body, headers=headers, timeout=10
    ).json()
    assert answer["choices"][0]["message"]["tool_calls"][0]["id"] == ""
    denied = httpx.post(base_url(gemini_sim) + "/chat/completions", json=body, timeout=10)
    assert (denied.status_code, denied.json()) == (
        401,
        [{"error": {"code": 401, "message": "Unauthorized", "status": "UNAUTHENTICATED"}}],
    )
