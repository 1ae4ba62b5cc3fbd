"""Kind ``azure_openai``: the Azure adapter against the azure-flavored simulator, alone and through
the gateway with the openai SDK (clean and scrubbed prompts go to the external backend)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest

from privacy_router.config import BackendSettings, ServerSettings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.upstream import create_upstream_client
from privacy_router.upstream.azure_openai import AzureOpenAIBackend
from privacy_router.upstream.simulator import RunningSimulator
from tests.upstream.conftest import CLEAN, PII, TOOLS, GatewayUnderTest, gateway_over, posts

pytestmark = pytest.mark.slow

KEY = "azure-backend-key"
DEPLOYMENT = "prod-gpt4o"


@pytest.fixture(scope="module")
def azure_sim() -> Iterator[RunningSimulator]:
    with RunningSimulator("azure", model=DEPLOYMENT, api_key=KEY) as sim:
        yield sim


def azure_backend(url: str, **extra: object) -> dict[str, object]:
    return {
        "name": "azure",
        "kind": "azure_openai",
        "url": url,
        "region": "us",
        "models": ["gpt-4o", "gpt-4o-mini"],
        "api_key_env": "TEST_AZURE_KEY",
        "deployments": {"gpt-4o": DEPLOYMENT},
        **extra,
    }


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine, azure_sim: RunningSimulator
) -> Iterator[GatewayUnderTest]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TEST_AZURE_KEY", KEY)
        external = [azure_backend(azure_sim.root_url)]
        with gateway_over(tmp_path_factory.mktemp("azure"), detection_engine, external=external) as running:
            yield running


@pytest.fixture(autouse=True)
def _fresh_records(azure_sim: RunningSimulator) -> None:
    azure_sim.clear_records()


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_clean_prompt_goes_to_the_deployment_with_api_key(
    gateway: GatewayUnderTest, azure_sim: RunningSimulator, stream: bool
) -> None:
    with gateway.client() as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": CLEAN}], stream=stream
        )
        if stream:
            chunks = list(raw.parse())
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert all(c.object == "chat.completion.chunk" for c in chunks)  # filter preamble dropped
        else:
            text = raw.parse().choices[0].message.content or ""
    assert raw.headers["x-privacy-route"] == "external"
    assert text == CLEAN
    [record] = posts(azure_sim)
    assert record["path"] == f"/openai/deployments/{DEPLOYMENT}/chat/completions"
    assert record["headers"]["api-key"] == KEY
    assert "authorization" not in record["headers"]  # the client's Bearer key never travels


def test_personal_data_is_scrubbed_out_and_restored_in_the_stream(
    gateway: GatewayUnderTest, azure_sim: RunningSimulator
) -> None:
    with gateway.client() as client:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": PII}], stream=True
            )
        )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == PII
    sent = json.dumps(posts(azure_sim)[0]["body"])
    assert "Maria Gonzalez" not in sent and "maria.gonzalez@example.com" not in sent


def test_tool_call_stream_and_non_stream(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client:
        answer = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": CLEAN}], tools=TOOLS
        )
        with client.chat.completions.stream(
            model="gpt-4o", messages=[{"role": "user", "content": CLEAN}], tools=TOOLS
        ) as stream:
            streamed = stream.get_final_completion()
    for completion in (answer, streamed):
        [call] = completion.choices[0].message.tool_calls or []
        assert completion.choices[0].finish_reason == "tool_calls"
        assert (call.function.name, json.loads(call.function.arguments)) == ("lookup", {"q": CLEAN})


def test_unknown_deployment_is_404_in_openai_shape(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client, pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": CLEAN}])
    assert isinstance(err.value.body, dict)
    assert (err.value.body["type"], err.value.body["code"]) == ("not_found_error", "DeploymentNotFound")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with create_upstream_client(ServerSettings()) as c:
        yield c


async def test_adapter_wrong_key_and_health(
    azure_sim: RunningSimulator, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_AZURE_KEY", "wrong")
    backend = AzureOpenAIBackend(BackendSettings(**azure_backend(azure_sim.root_url)), client)  # type: ignore[arg-type]
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    response = await backend.send("/chat/completions", body, request_id="r1")
    assert response.status == 401
    assert isinstance(response.json, dict)
    assert (response.json["error"]["type"], response.json["error"]["code"]) == ("authentication_error", "401")
    assert await backend.health() is False
    monkeypatch.setenv("TEST_AZURE_KEY", KEY)
    assert await backend.health() is True


def test_simulator_requires_api_version_and_refuses_bearer(azure_sim: RunningSimulator) -> None:
    url = f"{azure_sim.root_url}/openai/deployments/{DEPLOYMENT}/chat/completions"
    body = {"messages": [{"role": "user", "content": "x"}], "model": "gpt-4o"}
    assert httpx.post(url, json=body, headers={"api-key": KEY}, timeout=10).status_code == 404
    bearer = httpx.post(
        url + "?api-version=2024-10-21", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=10
    )
    assert bearer.status_code == 401
