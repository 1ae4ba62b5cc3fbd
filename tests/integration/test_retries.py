"""Upstream faults through the whole gateway, over real sockets, with the real openai SDK (sync and
async, stream and not): 429 + Retry-After retried, 5xx retried then sent to the policy's next
allowed backend, an on-prem pool failing over between replicas, and sensitive or scrubbed traffic
never leaving for a backend the policy did not allow. The SDK runs with max_retries=0: every retry
seen here is the router's, and each one is in the audit log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from privacy_router.app import create_app
from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.gateway import Gateway
from privacy_router.testing import RunningSimulator, ServerThread
from tests.conftest import audit_record
from tests.integration.conftest import US_KEY, sha

CLEAN = "Name three primary colours."
PII = "Write to Maria Gonzalez at maria.gonzalez@example.com about the invoice."
PHI = "Patient MRN 00482913 was admitted with chest pain."
RAW_VALUES = ("Maria Gonzalez", "maria.gonzalez@example.com", "00482913")


@dataclass
class Sims:
    onprem_a: RunningSimulator
    onprem_b: RunningSimulator
    openai: RunningSimulator  # region us: clean and (scrubbed) personal data may go here
    openai_in: RunningSimulator  # region ap-south: clean data only (no export of US personal data)

    def all(self) -> tuple[RunningSimulator, ...]:
        return (self.onprem_a, self.onprem_b, self.openai, self.openai_in)


@pytest.fixture(scope="module")
def module_sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sims]:
    tmp = tmp_path_factory.mktemp("retry-sims")
    with (
        RunningSimulator("vllm", record_path=tmp / "a.jsonl") as a,
        RunningSimulator("vllm", record_path=tmp / "b.jsonl") as b,
        RunningSimulator("openai", record_path=tmp / "us.jsonl") as us,
        RunningSimulator("openai", record_path=tmp / "in.jsonl") as india,
    ):
        yield Sims(a, b, us, india)


@pytest.fixture
def sims(module_sims: Sims) -> Sims:
    for sim in module_sims.all():
        sim.set_fault(None)
        sim.clear_records()
    return module_sims


@dataclass
class Running:
    url: str
    audit_db: Path

    def records(self, request_id: str, record_type: str, wait_s: float = 10.0) -> dict[str, Any]:
        return audit_record(self.audit_db, request_id, record_type, wait_s)


@contextmanager
def gateway(
    tmp_path: Path, engine: DetectionEngine, sims: Sims, upstream_timeout_s: float = 10.0
) -> Iterator[Running]:
    settings = load_settings(
        None,
        server={"detection_timeout_s": 10.0, "upstream_timeout_s": upstream_timeout_s},
        audit={"sqlite_path": str(tmp_path / "audit.db")},
        backends={
            "onprem": [
                {
                    "name": "vllm-pool",
                    "replicas": [sims.onprem_a.url, sims.onprem_b.url],
                    "region": "us-east",
                    "models": ["llama-3.1-8b"],
                }
            ],
            "external": [
                {"name": "openai", "url": sims.openai.url, "region": "us", "models": ["gpt-4o"]},
                {"name": "openai-in", "url": sims.openai_in.url, "region": "ap-south", "models": ["gpt-4o"]},
            ],
            "retry": {
                "max_attempts": 2,
                "backoff_base_s": 0.05,
                "backoff_max_s": 0.1,
                "max_retry_after_s": 2,
            },
            "pool": {"eject_after_failures": 5},
        },
        model_map={"gpt-4o": "llama-3.1-8b"},
        api_keys=[{"key_sha256": sha(US_KEY), "service": "svc", "tenant": "acme", "jurisdiction": "US"}],
    )
    gw = Gateway.from_settings(settings, detector=engine)
    with ServerThread(create_app(gw)) as srv:
        yield Running(srv.url, tmp_path / "audit.db")


def posts(sim: RunningSimulator) -> list[dict[str, Any]]:
    return [r for r in sim.records() if r["method"] == "POST"]


def chat(
    url: str, content: str, *, stream: bool, mode: str, sim_fault: dict[str, Any] | None = None
) -> tuple[str, str]:
    """One chat completion through the router with the openai SDK; (answer text, request id)."""
    kwargs: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": content}],
        "stream": stream,
    }
    if sim_fault:
        kwargs["extra_body"] = {"sim_fault": sim_fault}
    if mode == "sync":
        with openai.OpenAI(base_url=url + "/v1", api_key=US_KEY, max_retries=0) as client:
            raw = client.chat.completions.with_raw_response.create(**kwargs)
            request_id = raw.headers["x-request-id"]
            result = raw.parse()
            if stream:
                return "".join(c.choices[0].delta.content or "" for c in result if c.choices), request_id
            return result.choices[0].message.content or "", request_id

    async def run() -> tuple[str, str]:
        async with openai.AsyncOpenAI(base_url=url + "/v1", api_key=US_KEY, max_retries=0) as client:
            raw = await client.chat.completions.with_raw_response.create(**kwargs)
            request_id = raw.headers["x-request-id"]
            result = raw.parse()
            if stream:
                text = "".join([c.choices[0].delta.content or "" async for c in result if c.choices])
                return text, request_id
            return result.choices[0].message.content or "", request_id

    return asyncio.run(run())


CELLS = [
    pytest.param(stream, mode, id=f"{'stream' if stream else 'json'}-{mode}")
    for stream in (False, True)
    for mode in ("sync", "async")
]


def summary(attempts: list[dict[str, Any]]) -> list[tuple[str, int | None, int | None, str | None]]:
    return [(a["backend"], a["replica"], a["status"], a["error"]) for a in attempts]


@pytest.mark.parametrize(("stream", "mode"), CELLS)
def test_external_429_with_retry_after_is_waited_for_and_retried(
    tmp_path: Path, detection_engine: DetectionEngine, sims: Sims, stream: bool, mode: str
) -> None:
    fault = {"fail": 429, "retry-after": 1, "fail-times": 1}  # the first attempt of each request
    with gateway(tmp_path, detection_engine, sims) as gw:
        text, request_id = chat(gw.url, CLEAN, stream=stream, mode=mode, sim_fault=fault)
        completion = gw.records(request_id, "completion")
    assert text == CLEAN
    assert len(posts(sims.openai)) == 2
    assert (completion["outcome"], completion["backend"]) == ("ok", "openai")
    assert completion["attempts"] == [
        {"backend": "openai", "replica": 0, "status": 429, "error": None, "wait_s": 1.0},
        {"backend": "openai", "replica": 0, "status": 200, "error": None, "wait_s": 0.0},
    ]
    assert posts(sims.openai_in) == []


@pytest.mark.parametrize(("stream", "mode"), CELLS)
def test_external_5xx_is_retried_then_sent_to_the_next_allowed_backend(
    tmp_path: Path, detection_engine: DetectionEngine, sims: Sims, stream: bool, mode: str
) -> None:
    sims.openai.set_fault("fail:503,health:200")
    with gateway(tmp_path, detection_engine, sims) as gw:
        text, request_id = chat(gw.url, CLEAN, stream=stream, mode=mode)
        decision = gw.records(request_id, "decision")
        completion = gw.records(request_id, "completion")
    assert text == CLEAN
    assert (decision["backend"], decision["fallbacks"]) == ("openai", ["openai-in"])
    assert (completion["outcome"], completion["backend"]) == ("ok", "openai-in")
    assert summary(completion["attempts"]) == [
        ("openai", 0, 503, None),
        ("openai", 0, 503, None),
        ("openai-in", 0, 200, None),
    ]
    assert (len(posts(sims.openai)), len(posts(sims.openai_in))) == (2, 1)


def test_a_retry_after_above_the_limit_is_not_waited_for_and_the_last_429_reaches_the_client(
    tmp_path: Path, detection_engine: DetectionEngine, sims: Sims
) -> None:
    for sim in (sims.openai, sims.openai_in):
        sim.set_fault("fail:429,retry-after:60,health:200")
    with gateway(tmp_path, detection_engine, sims) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=US_KEY, max_retries=0)
        with client, pytest.raises(openai.RateLimitError) as err:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": CLEAN}])
        request_id = err.value.response.headers["x-request-id"]
        completion = gw.records(request_id, "completion")
    assert err.value.response.headers["retry-after"] == "60"
    assert (completion["status"], completion["outcome"]) == (429, "upstream_error")
    # One attempt each: a 60 s wait is above backends.retry.max_retry_after_s (2 s).
    assert summary(completion["attempts"]) == [("openai", 0, 429, None), ("openai-in", 0, 429, None)]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_scrubbed_personal_data_never_falls_back_to_a_region_it_may_not_go_to(
    tmp_path: Path, detection_engine: DetectionEngine, sims: Sims, stream: bool
) -> None:
    sims.openai.set_fault("fail:503,health:200")
    with gateway(tmp_path, detection_engine, sims) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=US_KEY, max_retries=0)
        with client, pytest.raises(openai.InternalServerError) as err:
            messages = [{"role": "user", "content": PII}]
            client.chat.completions.create(model="gpt-4o", messages=messages, stream=stream)  # type: ignore[call-overload]
        request_id = err.value.response.headers["x-request-id"]
        decision = gw.records(request_id, "decision")
    assert err.value.status_code == 503
    assert err.value.response.headers["x-privacy-route"] == "external_scrubbed"
    assert "fallbacks" not in decision  # the US tenant may not export personal data to ap-south
    assert posts(sims.openai_in) == []
    sent = json.dumps(posts(sims.openai))
    assert len(posts(sims.openai)) == 2 and not any(v in sent for v in RAW_VALUES)


@pytest.mark.parametrize(("stream", "mode"), CELLS)
def test_phi_on_a_pool_with_a_failing_replica_is_served_by_the_other_replica(
    tmp_path: Path, detection_engine: DetectionEngine, sims: Sims, stream: bool, mode: str
) -> None:
    sims.onprem_a.set_fault("fail:503,health:200")  # passes its health check, fails requests
    with gateway(tmp_path, detection_engine, sims) as gw:
        text, request_id = chat(gw.url, PHI, stream=stream, mode=mode)
        completion = gw.records(request_id, "completion")
    assert text == PHI
    assert (completion["outcome"], completion["backend"]) == ("ok", "vllm-pool")
    assert summary(completion["attempts"]) == [("vllm-pool", 0, 503, None), ("vllm-pool", 1, 200, None)]
    assert posts(sims.openai) == [] and posts(sims.openai_in) == []


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        pytest.param("fail:503,health:200", 503, id="replicas-503"),
        pytest.param("stall:3", 504, id="replicas-hang"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_phi_with_every_onprem_replica_failing_gets_5xx_and_nothing_leaves(
    tmp_path: Path, detection_engine: DetectionEngine, sims: Sims, fault: str, status: int, stream: bool
) -> None:
    for sim in (sims.onprem_a, sims.onprem_b):
        sim.set_fault(fault)
    with gateway(tmp_path, detection_engine, sims, upstream_timeout_s=1.0) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=US_KEY, max_retries=0, timeout=60)
        with client, pytest.raises(openai.APIStatusError) as err:
            messages = [{"role": "user", "content": PHI}]
            client.chat.completions.create(model="gpt-4o", messages=messages, stream=stream)  # type: ignore[call-overload]
        completion = gw.records(err.value.response.headers["x-request-id"], "completion")
    assert (err.value.status_code, err.value.response.headers["x-privacy-route"]) == (status, "onprem")
    assert completion["outcome"] == "upstream_error"
    assert {a["backend"] for a in completion["attempts"]} == {"vllm-pool"}
    assert posts(sims.openai) == [] and posts(sims.openai_in) == []


def test_phi_is_blocked_once_the_monitor_sees_every_replica_down_and_clean_still_goes_out(
    tmp_path: Path, detection_engine: DetectionEngine, sims: Sims
) -> None:
    for sim in (sims.onprem_a, sims.onprem_b):
        sim.set_fault("fail:503")  # health fails too: the pool is unhealthy from the first probe
    with (
        gateway(tmp_path, detection_engine, sims) as gw,
        openai.OpenAI(base_url=gw.url + "/v1", api_key=US_KEY, max_retries=0) as client,
    ):
        with pytest.raises(openai.PermissionDeniedError) as err:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PHI}])
        clean = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": CLEAN}]
        )
    assert err.value.response.headers["x-should-retry"] == "false"  # a policy refusal: do not resend
    assert clean.headers["x-privacy-route"] == "external"
    assert posts(sims.onprem_a) == [] and posts(sims.onprem_b) == []
    assert "00482913" not in json.dumps(posts(sims.openai))
