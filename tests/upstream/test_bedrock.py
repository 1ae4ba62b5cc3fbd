"""Kind ``bedrock``: the Converse/ConverseStream adapter against the bedrock-flavored simulator.

The simulator verifies every SigV4 signature with the secret it was given; one test checks that the
adapter's signature equals the one botocore's own ``SigV4Auth`` computes for the same request and
time, another that the simulator's event-stream frames are what botocore's parser reads.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import botocore.auth
import httpx
import openai
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from privacy_router.config import BackendSettings, ServerSettings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.errors import UpstreamError
from privacy_router.upstream import create_upstream_client
from privacy_router.upstream.bedrock import BedrockBackend
from privacy_router.upstream.simulator import RunningSimulator
from tests.upstream.conftest import CLEAN, PII, TOOLS, GatewayUnderTest, gateway_over, posts

pytestmark = pytest.mark.slow

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
FROZEN = datetime.datetime(2026, 1, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def bedrock_sim() -> Iterator[RunningSimulator]:
    with RunningSimulator("bedrock", api_key=f"{KEY_ID}:{SECRET}") as sim:
        yield sim


def _set_aws_env(mp: pytest.MonkeyPatch, tmp: Path) -> None:
    """The standard chain finds these environment variables first; no file, no metadata endpoint."""
    mp.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    mp.delenv("AWS_SESSION_TOKEN", raising=False)
    mp.delenv("AWS_PROFILE", raising=False)
    mp.setenv("AWS_CONFIG_FILE", str(tmp / "none"))
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "none"))
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _set_aws_env(monkeypatch, tmp_path)


def settings_for(sim: RunningSimulator) -> dict[str, object]:
    return {
        "name": "bedrock",
        "kind": "bedrock",
        "url": sim.root_url,
        "region": "us",
        "aws_region": "us-east-1",
        "models": [MODEL],
    }


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine, bedrock_sim: RunningSimulator
) -> Iterator[GatewayUnderTest]:
    tmp = tmp_path_factory.mktemp("bedrock")
    with pytest.MonkeyPatch.context() as mp:
        _set_aws_env(mp, tmp)  # the adapter resolves (and keeps) credentials at its first health check
        with gateway_over(tmp, detection_engine, external=[settings_for(bedrock_sim)]) as running:
            yield running


@pytest.fixture(autouse=True)
def _fresh_records(bedrock_sim: RunningSimulator) -> None:
    bedrock_sim.clear_records()


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_clean_and_scrubbed_prompts_through_converse(
    gateway: GatewayUnderTest, bedrock_sim: RunningSimulator, stream: bool
) -> None:
    with gateway.client() as client:
        for prompt in (CLEAN, PII):
            messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}]
            if stream:
                chunks = list(
                    client.chat.completions.create(
                        model=MODEL,
                        messages=messages,  # type: ignore[arg-type]
                        stream=True,
                        stream_options={"include_usage": True},
                        max_tokens=50,
                    )
                )
                text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                finish = [
                    c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
                ]
                usage = chunks[-1].usage
            else:
                answer = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=50)  # type: ignore[arg-type]
                text, finish, usage = (
                    answer.choices[0].message.content,
                    [answer.choices[0].finish_reason],
                    answer.usage,
                )
            assert text == prompt
            assert finish == ["stop"]
            assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    records = posts(bedrock_sim)
    operation = "converse-stream" if stream else "converse"
    assert [r["path"] for r in records] == [f"/model/{MODEL}/{operation}"] * 2
    assert records[0]["body"] == {
        "messages": [{"role": "user", "content": [{"text": CLEAN}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 50},
    }
    assert "Maria Gonzalez" not in json.dumps(records[1]["body"])


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_tool_use_and_tool_result_round_trip(
    gateway: GatewayUnderTest, bedrock_sim: RunningSimulator, stream: bool
) -> None:
    with gateway.client() as client:
        if stream:
            with client.chat.completions.stream(
                model=MODEL,
                messages=[{"role": "user", "content": CLEAN}],
                tools=TOOLS,
                tool_choice="required",
            ) as events:
                answer = events.get_final_completion()
        else:
            answer = client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": CLEAN}],
                tools=TOOLS,
                tool_choice="required",
            )
        [call] = answer.choices[0].message.tool_calls or []
        assert answer.choices[0].finish_reason == "tool_calls"
        assert call.id.startswith("tooluse_")
        assert (call.function.name, json.loads(call.function.arguments)) == ("lookup", {"q": CLEAN})
        follow_up = client.chat.completions.create(
            model=MODEL,
            tools=TOOLS,
            messages=[
                {"role": "user", "content": CLEAN},
                {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},  # type: ignore[list-item]
                {"role": "tool", "tool_call_id": call.id, "content": "red, yellow, blue"},
            ],
        )
    assert follow_up.choices[0].message.content == "Tool said: red, yellow, blue"
    sent = posts(bedrock_sim)
    assert sent[0]["body"]["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "lookup",
                    "description": "Look a term up.",
                    "inputSchema": {"json": TOOLS[0]["function"]["parameters"]},
                }
            }
        ],
        "toolChoice": {"any": {}},
    }
    assert sent[1]["body"]["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": call.id, "name": "lookup", "input": {"q": CLEAN}}}],
        },
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": call.id, "content": [{"text": "red, yellow, blue"}]}}],
        },
    ]


async def test_stream_exception_frame_becomes_an_in_band_error(
    aws_env: None, http: httpx.AsyncClient
) -> None:
    with RunningSimulator("bedrock", api_key=f"{KEY_ID}:{SECRET}", fault="error-event:2") as faulty:
        backend = BedrockBackend(BackendSettings(**settings_for(faulty)), http)  # type: ignore[arg-type]
        body = {"model": MODEL, "messages": [{"role": "user", "content": CLEAN}], "stream": True}
        async with backend.stream("/chat/completions", body, request_id="r") as upstream:
            raw = b"".join([c async for c in upstream.aiter_bytes()])
    last = raw.decode().strip().split("\n\n")[-1]
    assert json.loads(last.removeprefix("data: ")) == {
        "error": {
            "message": "The model stream failed. Try again.",
            "type": "modelStreamErrorException",
            "param": None,
            "code": None,
        }
    }
    assert b"[DONE]" not in raw


# --------------------------------------------------------------------------------------------
# The adapter alone


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with create_upstream_client(ServerSettings()) as client:
        yield client


async def test_signature_equals_botocore_sigv4_for_the_same_request_and_time(
    bedrock_sim: RunningSimulator, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: FROZEN)
    sent: list[httpx.Request] = []

    async def capture(request: httpx.Request) -> None:
        sent.append(request)

    async with httpx.AsyncClient(trust_env=False, event_hooks={"request": [capture]}) as client:
        backend = BedrockBackend(BackendSettings(**settings_for(bedrock_sim)), client)  # type: ignore[arg-type]
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}
        response = await backend.send("/chat/completions", body, request_id="r1")
    assert response.status == 200  # the simulator recomputed the signature with the secret
    [request] = sent
    expected = AWSRequest(
        method="POST",
        url=str(request.url),
        data=request.content,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    SigV4Auth(ReadOnlyCredentials(KEY_ID, SECRET, None), "bedrock", "us-east-1").add_auth(expected)
    assert request.headers["x-amz-date"] == "20260102T030405Z" == expected.headers["X-Amz-Date"]
    assert request.headers["authorization"] == expected.headers["Authorization"]
    assert request.headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20260102/us-east-1/bedrock/aws4_request, "
    )
    assert request.url.raw_path == b"/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"


async def test_wrong_secret_is_refused_by_the_simulator(
    bedrock_sim: RunningSimulator, aws_env: None, monkeypatch: pytest.MonkeyPatch, http: httpx.AsyncClient
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    backend = BedrockBackend(BackendSettings(**settings_for(bedrock_sim)), http)  # type: ignore[arg-type]
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}
    response = await backend.send("/chat/completions", body, request_id="r1")
    assert response.status == 403
    assert isinstance(response.json, dict)
    assert response.json["error"]["type"] == "InvalidSignatureException"


async def test_without_credentials_nothing_is_sent(
    bedrock_sim: RunningSimulator, aws_env: None, monkeypatch: pytest.MonkeyPatch, http: httpx.AsyncClient
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    bedrock_sim.clear_records()
    backend = BedrockBackend(BackendSettings(**settings_for(bedrock_sim)), http)  # type: ignore[arg-type]
    assert await backend.health() is False
    with pytest.raises(UpstreamError) as err:
        await backend.send("/chat/completions", {"model": MODEL, "messages": []}, request_id="r1")
    assert (err.value.status_code, err.value.code) == (503, "upstream_credentials")
    assert posts(bedrock_sim) == []


async def test_validation_error_and_unsupported_endpoint(
    bedrock_sim: RunningSimulator, aws_env: None, http: httpx.AsyncClient
) -> None:
    backend = BedrockBackend(BackendSettings(**settings_for(bedrock_sim)), http)  # type: ignore[arg-type]
    assert await backend.health() is True
    body = {"model": "no.such-model-v1:0", "messages": [{"role": "user", "content": "hello"}]}
    response = await backend.send("/chat/completions", body, request_id="r1")
    assert (response.status, response.json) == (
        400,
        {
            "error": {
                "message": "The provided model identifier is invalid.",
                "type": "ValidationException",
                "param": None,
                "code": "400",
            }
        },
    )
    with pytest.raises(UpstreamError) as err:
        await backend.send("/embeddings", {"model": MODEL, "input": "x"}, request_id="r2")
    assert (err.value.status_code, err.value.code) == (400, "unsupported_endpoint")


async def test_simulator_frames_are_aws_event_stream(
    bedrock_sim: RunningSimulator, aws_env: None, http: httpx.AsyncClient
) -> None:
    """Real frames: botocore's parser reads them (CRCs included) and rejects a flipped byte."""
    backend = BedrockBackend(BackendSettings(**settings_for(bedrock_sim)), http)  # type: ignore[arg-type]
    url = f"{bedrock_sim.root_url}/model/{MODEL.replace(':', '%3A')}/converse-stream"
    content = json.dumps({"messages": [{"role": "user", "content": [{"text": "Hi!"}]}]}).encode()
    credentials = ReadOnlyCredentials(KEY_ID, SECRET, None)
    headers = backend.sign(url, content, "application/vnd.amazon.eventstream", credentials)
    response = await http.post(url, content=content, headers=headers)
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    buffer = EventStreamBuffer()
    buffer.add_data(response.content)
    messages = list(buffer)
    assert [m.headers[":event-type"] for m in messages] == [
        "messageStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"
    ]  # fmt: skip
    assert {m.headers[":message-type"] for m in messages} == {"event"}
    assert json.loads(messages[1].payload)["delta"] == {"text": "Hi!"}
    corrupt = bytearray(response.content)
    corrupt[20] ^= 0xFF
    broken = EventStreamBuffer()
    broken.add_data(bytes(corrupt))
    with pytest.raises(ChecksumMismatch):
        list(broken)


def test_simulator_refuses_unsigned_requests(bedrock_sim: RunningSimulator) -> None:
    url = f"{bedrock_sim.root_url}/model/{MODEL}/converse"
    response = httpx.post(url, json={"messages": []}, timeout=10)
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"].startswith("MissingAuthenticationTokenException:")
    assert response.json() == {"message": "Missing Authentication Token"}


def test_openai_sdk_sees_untranslatable_requests_as_400(
    gateway: GatewayUnderTest, bedrock_sim: RunningSimulator
) -> None:
    with gateway.client() as client, pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": CLEAN}], n=2)
    assert isinstance(err.value.body, dict)
    assert err.value.body["code"] == "unsupported_by_backend"
    assert posts(bedrock_sim) == []  # refused before anything was sent
