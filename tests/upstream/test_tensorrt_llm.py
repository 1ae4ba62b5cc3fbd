"""Kind ``tensorrt_llm``: the trtllm-serve adapter against the trtllm-flavored simulator, alone and
through the gateway with the openai SDK (PHI routes on-prem under the mapped model)."""

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
from privacy_router.upstream.tensorrt_llm import TensorRTLLMBackend
from tests.upstream.conftest import PHI, TOOLS, GatewayUnderTest, gateway_over, posts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trt_sim() -> Iterator[RunningSimulator]:
    with RunningSimulator("trtllm") as sim:
        yield sim


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine, trt_sim: RunningSimulator
) -> Iterator[GatewayUnderTest]:
    onprem = [
        {
            "name": "trt-a",
            "kind": "tensorrt_llm",
            "url": trt_sim.url,
            "region": "us-east",
            "models": ["llama-3.1-8b"],
        }
    ]
    with gateway_over(tmp_path_factory.mktemp("trt"), detection_engine, onprem=onprem) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_records(trt_sim: RunningSimulator) -> None:
    trt_sim.clear_records()


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_phi_for_gpt_4o_is_served_on_prem_with_tools(
    gateway: GatewayUnderTest, trt_sim: RunningSimulator, stream: bool
) -> None:
    with gateway.client() as client:
        if stream:
            with client.chat.completions.stream(
                model="gpt-4o", messages=[{"role": "user", "content": PHI}], tools=TOOLS
            ) as events:
                answer = events.get_final_completion()
        else:
            answer = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": PHI}], tools=TOOLS
            )
    [call] = answer.choices[0].message.tool_calls or []
    assert answer.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == ("lookup", {"q": PHI})
    [record] = posts(trt_sim)
    assert (record["path"], record["body"]["model"]) == ("/v1/chat/completions", "llama-3.1-8b")


def test_plain_answer(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": PHI}]
        )
    answer = raw.parse()
    assert raw.headers["x-privacy-route"] == "onprem"
    assert (answer.model, answer.choices[0].message.content) == ("llama-3.1-8b", PHI)


def test_flat_error_event_fails_the_stream_instead_of_looking_complete(gateway: GatewayUnderTest) -> None:
    """trtllm's in-band error has no "error" key; unmapped, the stream would end with [DONE]."""
    with gateway.client() as client, pytest.raises(openai.APIError) as err:
        list(
            client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": PHI}],
                stream=True,
                extra_body={"sim_fault": "error-event:2"},
            )
        )
    assert err.value.message == "Internal server error"


@pytest.fixture
async def backend(trt_sim: RunningSimulator) -> AsyncIterator[TensorRTLLMBackend]:
    async with create_upstream_client(ServerSettings()) as client:
        settings = BackendSettings(name="trt-a", kind="tensorrt_llm", url=trt_sim.url, region="us-east")
        yield TensorRTLLMBackend(settings, client, ServerSettings())


async def test_adapter_maps_flat_error_body_and_stream(backend: TensorRTLLMBackend) -> None:
    body = {"model": "llama-3.1-8b", "messages": [{"role": "user", "content": "hi"}], "sim_fault": "fail:400"}
    expected = {
        "error": {"message": "simulated failure 400", "type": "BadRequestError", "param": None, "code": 400}
    }
    response = await backend.send("/chat/completions", body, request_id="r1")
    assert (response.status, response.json) == (400, expected)
    async with backend.stream("/chat/completions", {**body, "stream": True}, request_id="r2") as upstream:
        raw = b"".join([c async for c in upstream.aiter_bytes()])
    assert (upstream.status, json.loads(raw)) == (400, expected)
    assert await backend.health() is True


def test_simulator_speaks_the_flat_error_shape(trt_sim: RunningSimulator) -> None:
    body = {"model": "llama-3.1-8b", "messages": [{"role": "user", "content": "x"}]}
    error = httpx.post(
        trt_sim.url + "/chat/completions", json=body, headers={"x-sim-fault": "fail:400"}, timeout=10
    )
    assert (error.status_code, error.json()) == (
        400,
        {
            "object": "error",
            "message": "simulated failure 400",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
    )
