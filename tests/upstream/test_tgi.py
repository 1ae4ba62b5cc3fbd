"""Kind ``tgi``: the TGI adapter against the tgi-flavored simulator, alone and through the gateway
with the openai SDK (PHI routes on-prem; clients keep asking for gpt-4o)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest

from privacy_router.config import BackendSettings, ServerSettings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.upstream import create_upstream_client
from privacy_router.upstream.simulator import RunningSimulator
from privacy_router.upstream.tgi import TGIBackend
from tests.upstream.conftest import PHI, TOOLS, GatewayUnderTest, gateway_over, posts

pytestmark = pytest.mark.slow

SERVED = "meta-llama/Llama-3.1-8B-Instruct"  # what TGI reports; the router asks for llama-3.1-8b


@pytest.fixture(scope="module")
def tgi_sim() -> Iterator[RunningSimulator]:
    with RunningSimulator("tgi", model=SERVED) as sim:
        yield sim


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine, tgi_sim: RunningSimulator
) -> Iterator[GatewayUnderTest]:
    onprem = [
        {"name": "tgi-a", "kind": "tgi", "url": tgi_sim.url, "region": "us-east", "models": ["llama-3.1-8b"]}
    ]
    with gateway_over(tmp_path_factory.mktemp("tgi"), detection_engine, onprem=onprem) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_records(tgi_sim: RunningSimulator) -> None:
    tgi_sim.clear_records()


@pytest.fixture
async def backend(tgi_sim: RunningSimulator) -> AsyncIterator[TGIBackend]:
    async with create_upstream_client(ServerSettings()) as client:
        settings = BackendSettings(name="tgi-a", kind="tgi", url=tgi_sim.url, region="us-east")
        yield TGIBackend(settings, client, ServerSettings())


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_phi_for_gpt_4o_is_served_by_tgi_under_the_mapped_model(
    gateway: GatewayUnderTest, tgi_sim: RunningSimulator, stream: bool
) -> None:
    with gateway.client() as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": PHI}], stream=stream
        )
        if stream:
            chunks = list(raw.parse())
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            models = {c.model for c in chunks}
            finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        else:
            answer = raw.parse()
            text, models, finish = (
                answer.choices[0].message.content or "",
                {answer.model},
                [answer.choices[0].finish_reason],
            )
    assert raw.headers["x-privacy-route"] == "onprem"
    assert text == PHI
    assert models == {"llama-3.1-8b"}  # not TGI's own model id
    assert finish == ["stop"]
    [record] = posts(tgi_sim)
    assert record["path"] == "/v1/chat/completions"
    assert record["body"]["model"] == "llama-3.1-8b"  # model_map: gpt-4o -> llama-3.1-8b


def test_tool_call_non_stream_has_openai_shape(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client:
        answer = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": PHI}], tools=TOOLS
        )
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.id.startswith("call_") and call.id != "0"
    assert call.type == "function"
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"q": PHI}


def test_tool_call_stream_accumulates_in_the_sdk(gateway: GatewayUnderTest) -> None:
    """TGI repeats id and type in every delta; the SDK would concatenate them into "000..."."""
    with (
        gateway.client() as client,
        client.chat.completions.stream(
            model="gpt-4o",
            messages=[{"role": "user", "content": PHI}],
            tools=TOOLS,
            stream_options={"include_usage": True},
        ) as stream,
    ):
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.id.startswith("call_") and len(call.id) == len("call_") + 24
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"q": PHI}
    assert (
        final.usage is not None
        and final.usage.total_tokens == final.usage.prompt_tokens + final.usage.completion_tokens
    )


def test_tool_result_round_trip(gateway: GatewayUnderTest, tgi_sim: RunningSimulator) -> None:
    messages = [
        {"role": "user", "content": PHI},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "MRN 00482913 found"},
    ]  # fmt: skip
    with gateway.client() as client:
        answer = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "Tool said: MRN 00482913 found"
    assert posts(tgi_sim)[0]["body"]["messages"][2]["tool_call_id"] == "call_1"


def test_validation_error_reaches_the_client_in_openai_shape(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client, pytest.raises(openai.UnprocessableEntityError) as err:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": PHI}], extra_body={"sim_fault": "fail:422"}
        )
    assert err.value.body == {
        "message": "simulated failure 422", "type": "validation", "param": None, "code": "422"
    }  # fmt: skip


def test_in_band_generation_error_fails_the_stream(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client, pytest.raises(openai.APIError) as err:
        list(client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": PHI}], stream=True,
            extra_body={"sim_fault": "error-event:2"},
        ))  # fmt: skip
    assert "CUDA out of memory" in err.value.message


async def test_adapter_maps_tgi_error_and_health(backend: TGIBackend) -> None:
    body = {"model": "llama-3.1-8b", "messages": [{"role": "user", "content": "hi"}], "sim_fault": "fail:429"}
    response = await backend.send("/chat/completions", body, request_id="r1")
    assert (response.status, response.json) == (
        429,
        {"error": {"message": "simulated failure 429", "type": "overloaded", "param": None, "code": 429}},
    )
    assert await backend.health() is True


async def test_adapter_health_is_false_when_tgi_is_down() -> None:
    async with create_upstream_client(ServerSettings()) as client:
        settings = BackendSettings(name="t", kind="tgi", url="http://127.0.0.1:9/v1", region="us")
        assert await TGIBackend(settings, client, ServerSettings()).health() is False


def test_simulator_speaks_tgi_wire_format(tgi_sim: RunningSimulator) -> None:
    """The raw shapes the adapter handles: object arguments, id "0", no content key, error_type."""
    body = {"model": "tgi", "messages": [{"role": "user", "content": "x"}], "tools": TOOLS}
    answer = httpx.post(tgi_sim.url + "/chat/completions", json=body, timeout=10).json()
    assert answer["model"] == SERVED
    assert answer["choices"][0]["message"] == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "0",
                "type": "function",
                "function": {"description": None, "name": "lookup", "arguments": {"q": "x"}},
            }
        ],
    }
    error = httpx.post(
        tgi_sim.url + "/chat/completions", json=body, headers={"x-sim-fault": "fail:422"}, timeout=10
    )
    assert (error.status_code, error.json()) == (
        422,
        {"error": "simulated failure 422", "error_type": "validation"},
    )
    assert httpx.get(tgi_sim.root_url + "/health", timeout=10).status_code == 200
