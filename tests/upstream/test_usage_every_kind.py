"""Issue 11: token usage in the audit log for every backend kind, streamed and not.

For each kind (azure_openai, gemini, bedrock, tgi, tensorrt_llm) the gateway runs in front of that
kind's simulator flavor on a real socket, driven by the real ``openai`` SDK. The completion record
must hold the backend's input and output token counts, and a client that did not ask for usage
must get exactly the stream the same adapter gives without the gateway's question: no usage chunk,
and a ``usage`` key only where the backend sends one anyway (TGI: ``"usage": null`` on every chunk).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from privacy_router.config import BackendSettings, ServerSettings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.upstream import BACKEND_KINDS, create_upstream_client
from privacy_router.upstream.simulator import RunningSimulator
from tests.conftest import audit_record
from tests.integration.conftest import US_KEY
from tests.upstream.conftest import CLEAN, PHI, GatewayUnderTest, gateway_over, posts
from tests.upstream.test_bedrock import KEY_ID, SECRET, _set_aws_env, settings_for
from tests.upstream.test_bedrock import MODEL as BEDROCK_MODEL

pytestmark = pytest.mark.slow

GEMINI_MODEL = "gemini-2.5-flash"


@dataclass(frozen=True)
class Kind:
    kind: str
    flavor: str
    model: str  # what the client asks for
    upstream_model: str  # what the gateway forwards (model_map: gpt-4o -> llama-3.1-8b on-prem)
    content: str  # PHI routes on-prem, CLEAN to the external backend
    route: str


KINDS = {
    "azure_openai": Kind("azure_openai", "azure", "gpt-4o", "gpt-4o", CLEAN, "external"),
    "gemini": Kind("gemini", "gemini", GEMINI_MODEL, GEMINI_MODEL, CLEAN, "external"),
    "bedrock": Kind("bedrock", "bedrock", BEDROCK_MODEL, BEDROCK_MODEL, CLEAN, "external"),
    "tgi": Kind("tgi", "tgi", "gpt-4o", "llama-3.1-8b", PHI, "onprem"),
    "tensorrt_llm": Kind("tensorrt_llm", "trtllm", "gpt-4o", "llama-3.1-8b", PHI, "onprem"),
}


def _simulator(kind: Kind) -> RunningSimulator:
    if kind.flavor == "azure":
        return RunningSimulator("azure", model="prod-gpt4o", api_key="azure-key")
    if kind.flavor == "gemini":
        return RunningSimulator("gemini", api_key="gemini-key")
    if kind.flavor == "bedrock":
        return RunningSimulator("bedrock", api_key=f"{KEY_ID}:{SECRET}")
    return RunningSimulator(kind.flavor)


def _backend(kind: Kind, sim: RunningSimulator) -> dict[str, Any]:
    if kind.kind == "azure_openai":
        return {
            "name": "azure",
            "kind": "azure_openai",
            "url": sim.root_url,
            "region": "us",
            "models": ["gpt-4o"],
            "api_key_env": "TEST_USAGE_KEY",
            "deployments": {"gpt-4o": "prod-gpt4o"},
        }
    if kind.kind == "gemini":
        return {
            "name": "gemini",
            "kind": "gemini",
            "url": sim.root_url + "/v1beta/openai",
            "region": "us",
            "models": [GEMINI_MODEL],
            "api_key_env": "TEST_USAGE_KEY",
        }
    if kind.kind == "bedrock":
        return settings_for(sim)
    return {
        "name": kind.kind,
        "kind": kind.kind,
        "url": sim.url,
        "region": "us-east",
        "models": ["llama-3.1-8b"],
    }


@dataclass
class Setup:
    kind: Kind
    sim: RunningSimulator
    gateway: GatewayUnderTest
    backend: dict[str, Any]
    audit_db: Path

    def completion(self, request_id: str, wait_s: float = 10.0) -> dict[str, Any]:
        """The completion record (waits for a stream's, see ``audit_record``)."""
        return audit_record(self.audit_db, request_id, "completion", wait_s)


def _set_env(mp: pytest.MonkeyPatch, tmp: Path) -> None:
    mp.setenv("TEST_USAGE_KEY", "azure-key")
    _set_aws_env(mp, tmp)  # the bedrock adapter's credentials, as tests/upstream/test_bedrock.py sets them


@pytest.fixture(scope="module", params=list(KINDS))
def setup(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    detection_engine: DetectionEngine,
) -> Iterator[Setup]:
    kind = KINDS[request.param]
    tmp = tmp_path_factory.mktemp(kind.kind)
    with pytest.MonkeyPatch.context() as mp, _simulator(kind) as sim:
        _set_env(mp, tmp)
        if kind.flavor == "gemini":
            mp.setenv("TEST_USAGE_KEY", "gemini-key")
        backend = _backend(kind, sim)
        where = {"onprem": [backend]} if kind.route == "onprem" else {"external": [backend]}
        with gateway_over(tmp, detection_engine, **where) as running:
            yield Setup(kind, sim, running, backend, tmp / "audit.db")


def _forwarded(setup: Setup) -> dict[str, Any]:
    body: dict[str, Any] = posts(setup.sim)[-1]["body"]
    return body


def _assert_counts(usage: dict[str, Any] | None) -> None:
    assert usage is not None
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_non_streamed_answer_records_the_backends_usage(setup: Setup) -> None:
    with setup.gateway.client() as client:
        raw = client.chat.completions.with_raw_response.create(
            model=setup.kind.model, messages=[{"role": "user", "content": setup.kind.content}]
        )
    answer = raw.parse()
    assert raw.headers["x-privacy-route"] == setup.kind.route
    assert answer.choices[0].message.content == setup.kind.content
    assert answer.usage is not None
    recorded = setup.completion(raw.headers["x-request-id"])["usage"]
    _assert_counts(recorded)
    assert (recorded["prompt_tokens"], recorded["completion_tokens"]) == (
        answer.usage.prompt_tokens,
        answer.usage.completion_tokens,
    )


def test_stream_the_client_asked_usage_for_carries_it_once_and_records_it(setup: Setup) -> None:
    with setup.gateway.client() as client:
        raw = client.chat.completions.with_raw_response.create(
            model=setup.kind.model,
            messages=[{"role": "user", "content": setup.kind.content}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == setup.kind.content
    usage_chunks = [c for c in chunks if not c.choices]
    assert len(usage_chunks) == 1 and chunks[-1] is usage_chunks[0]
    sent = usage_chunks[0].usage
    assert sent is not None
    recorded = setup.completion(raw.headers["x-request-id"])["usage"]
    _assert_counts(recorded)
    assert (recorded["prompt_tokens"], recorded["completion_tokens"]) == (
        sent.prompt_tokens,
        sent.completion_tokens,
    )


def _events(raw: bytes) -> list[Any]:
    out: list[Any] = []
    for block in raw.split(b"\n\n"):
        data = [line[6:] for line in block.split(b"\n") if line.startswith(b"data: ")]
        if data:
            out.append("[DONE]" if data[0] == b"[DONE]" else json.loads(b"\n".join(data)))
    return out


def _shapes(events: list[Any]) -> list[tuple[str, ...]]:
    """Each event's keys, with whether it carries choices and a non-null usage."""
    return sorted(
        {
            (*sorted(e), f"choices={bool(e.get('choices'))}", f"usage={e.get('usage') is not None}")
            for e in events
            if isinstance(e, dict)
        }
    )


async def _adapter_stream(setup: Setup) -> bytes:
    """The same request through the kind's adapter alone, without ``stream_options``: the stream a
    client gets from that backend when nobody asked for usage."""
    body = {
        "model": setup.kind.upstream_model,
        "messages": [{"role": "user", "content": setup.kind.content}],
        "stream": True,
    }
    async with create_upstream_client(ServerSettings()) as http:
        adapter = BACKEND_KINDS[setup.kind.kind](BackendSettings(**setup.backend), http, ServerSettings())
        async with adapter.stream("/chat/completions", body, request_id="direct") as upstream:
            assert upstream.status == 200
            return b"".join([piece async for piece in upstream.aiter_bytes()])


def test_stream_the_client_did_not_ask_usage_for_is_unchanged_and_usage_is_recorded(setup: Setup) -> None:
    body = {
        "model": setup.kind.model,
        "messages": [{"role": "user", "content": setup.kind.content}],
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {US_KEY}"}
    with httpx.stream(
        "POST", setup.gateway.url + "/v1/chat/completions", json=body, headers=headers, timeout=60
    ) as r:
        r.read()
    assert (r.status_code, r.headers["x-privacy-route"]) == (200, setup.kind.route)
    events = _events(r.content)
    assert events[-1] == "[DONE]"
    assert all(e["choices"] for e in events if isinstance(e, dict))  # no usage chunk
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if isinstance(e, dict))
    assert text == setup.kind.content
    # The gateway asked the backend for usage all the same (Bedrock reports it unasked).
    if setup.kind.kind != "bedrock":
        assert _forwarded(setup)["stream_options"] == {"include_usage": True}
    _assert_counts(setup.completion(r.headers["x-request-id"])["usage"])
    direct = _events(asyncio.run(_adapter_stream(setup)))
    assert _shapes(events) == _shapes(direct)
    with_usage_key = {("usage" in e) for e in events if isinstance(e, dict)}
    assert with_usage_key == {setup.kind.kind == "tgi"}  # TGI: "usage": null on every chunk


def test_openai_sdk_without_stream_options_sees_no_usage(setup: Setup) -> None:
    with setup.gateway.client() as client:
        raw = client.chat.completions.with_raw_response.create(
            model=setup.kind.model, messages=[{"role": "user", "content": setup.kind.content}], stream=True
        )
        chunks = list(raw.parse())
    assert chunks and all(c.choices and c.usage is None for c in chunks)
    _assert_counts(setup.completion(raw.headers["x-request-id"])["usage"])


# --------------------------------------------------------------------------------------------
# /v1/completions streams: the gateway asks only where the server takes stream_options there.


@pytest.fixture(scope="module")
def completions_gateways(
    tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine, vllm_sim: RunningSimulator
) -> Iterator[dict[str, Setup]]:
    """vLLM (kind openai: asked) and TGI (not asked) behind one gateway each."""
    with contextlib.ExitStack() as stack:
        tgi_sim = stack.enter_context(RunningSimulator("tgi"))
        out: dict[str, Setup] = {}
        for kind, sim in (("openai", vllm_sim), ("tgi", tgi_sim)):
            tmp = tmp_path_factory.mktemp(f"completions-{kind}")
            backend = {
                "name": kind,
                "kind": kind,
                "url": sim.url,
                "region": "us-east",
                "models": ["llama-3.1-8b"],
            }
            running = stack.enter_context(gateway_over(tmp, detection_engine, onprem=[backend]))
            case = Kind(kind, sim.flavor, "gpt-4o", "llama-3.1-8b", PHI, "onprem")
            out[kind] = Setup(case, sim, running, backend, tmp / "audit.db")
        yield out


@pytest.mark.parametrize("asked", [False, True], ids=["not-asked", "asked"])
def test_completions_stream_records_usage_where_the_kind_takes_stream_options(
    completions_gateways: dict[str, Setup], asked: bool
) -> None:
    setup = completions_gateways["openai"]
    setup.sim.clear_records()
    extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if asked else {}
    with setup.gateway.client() as client:
        raw = client.completions.with_raw_response.create(
            model="gpt-4o", prompt=PHI, max_tokens=64, stream=True, **extra
        )
        chunks = list(raw.parse())
    assert raw.headers["x-privacy-route"] == "onprem"
    assert _forwarded(setup)["stream_options"] == {"include_usage": True}
    usage_chunks = [c for c in chunks if not c.choices]
    assert len(usage_chunks) == (1 if asked else 0)
    assert all(c.usage is None for c in chunks if c.choices)
    _assert_counts(setup.completion(raw.headers["x-request-id"])["usage"])


def test_completions_stream_to_tgi_is_not_asked_and_records_no_usage(
    completions_gateways: dict[str, Setup],
) -> None:
    setup = completions_gateways["tgi"]
    setup.sim.clear_records()
    with setup.gateway.client() as client:
        raw = client.completions.with_raw_response.create(
            model="gpt-4o", prompt=PHI, max_tokens=64, stream=True
        )
        chunks = list(raw.parse())
    assert chunks and all(c.choices for c in chunks)
    assert "stream_options" not in _forwarded(setup)
    record = setup.completion(raw.headers["x-request-id"])
    assert (record["outcome"], record.get("usage")) == ("ok", None)


async def test_azure_api_versions_before_stream_options_are_not_sent_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Azure refuses ``stream_options`` before API version 2024-10-21: the adapter leaves it out."""
    monkeypatch.setenv("TEST_USAGE_KEY", "azure-key")
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": CLEAN}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with RunningSimulator("azure", model="prod-gpt4o", api_key="azure-key") as sim:
        async with create_upstream_client(ServerSettings()) as http:
            for version, sent in (("2024-06-01", False), ("2024-10-21", True), ("2025-04-01-preview", True)):
                backend = _backend(KINDS["azure_openai"], sim) | {"api_version": version}
                adapter = BACKEND_KINDS["azure_openai"](BackendSettings(**backend), http, ServerSettings())
                async with adapter.stream("/chat/completions", body, request_id="v") as upstream:
                    raw = b"".join([piece async for piece in upstream.aiter_bytes()])
                usage_chunks = [e for e in _events(raw) if isinstance(e, dict) and not e["choices"]]
                assert (len(usage_chunks), "stream_options" in posts(sim)[-1]["body"]) == (int(sent), sent)
