"""Streams stay streams through the gateway: framing, faults, cancellation (real sockets, real SDKs).

The simulator gets its fault through the ``sim_fault`` body key, which the gateway forwards like any
unknown (vLLM extra) key; client headers never reach an upstream.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from privacy_router.detection.engine import DetectionEngine
from privacy_router.testing import RunningSimulator
from tests.api.conftest import PHI, PII, Running, Sims, running_gateway, sdk
from tests.integration.conftest import US_KEY

AUTH = {"authorization": f"Bearer {US_KEY}"}
ROUTES = [
    pytest.param(PHI, "onprem", id="onprem-relay"),
    pytest.param(PII, "external_scrubbed", id="scrubbed"),
]
# Long enough that a slowed stream is still running when the client walks away.
LONG = " ".join([PII] * 6)

pytestmark = pytest.mark.slow


def sse_events(raw: bytes) -> list[Any]:
    """Events of an SSE body: dicts, "[DONE]", or the text of a comment-only event."""
    out: list[Any] = []
    for block in raw.split(b"\n\n"):
        if not block:
            continue
        data = [line[6:] for line in block.split(b"\n") if line.startswith(b"data: ")]
        if not data:
            out.append(block.decode())
        elif data[0] == b"[DONE]":
            out.append("[DONE]")
        else:
            out.append(json.loads(b"\n".join(data)))
    return out


def post_stream(gw: Running, content: str, timeout: float = 30.0, **extra: Any) -> httpx.Response:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": content}], "stream": True, **extra}
    with httpx.stream(
        "POST", f"{gw.v1}/chat/completions", json=body, headers=AUTH, timeout=timeout
    ) as response:
        response.read()
    return response


def posts(sim: RunningSimulator) -> int:
    """Requests that carried a body (health probes are GETs)."""
    return sum(1 for r in sim.records() if r["method"] == "POST")


def sim_for(sims: Sims, route: str) -> RunningSimulator:
    return sims.onprem if route == "onprem" else sims.external


def stream_end(sim: RunningSimulator, request_id: str, wait_s: float = 10.0) -> dict[str, Any]:
    """How the simulator saw the stream of ``request_id`` end (completed, dropped, cancelled)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = [e for e in sim.stream_events() if e["request_id"] == request_id]
        if found:
            return found[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"the simulator saw no end of stream {request_id}")
        time.sleep(0.05)


def texts_by_choice(events: list[Any]) -> dict[int, str]:
    out: dict[int, str] = {}
    for event in events:
        if isinstance(event, dict):
            for choice in event.get("choices", []):
                out[choice["index"]] = out.get(choice["index"], "") + (choice["delta"].get("content") or "")
    return out


@pytest.mark.parametrize(("content", "route"), ROUTES)
def test_stream_relays_keepalives_interleaved_choices_usage_and_ends_at_done(
    gateway: Running, sims: Sims, content: str, route: str
) -> None:
    r = post_stream(gateway, content, n=2, stream_options={"include_usage": True}, sim_fault={"keepalive": 3})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-privacy-route"] == route
    assert r.headers["x-privacy-audit-id"]
    assert r.content.endswith(b"data: [DONE]\n\n")
    events = sse_events(r.content)
    data = [e for e in events if isinstance(e, dict)]
    comments = [e for e in events if isinstance(e, str) and e != "[DONE]"]
    # The simulator sends one comment after every third event (vLLM --sse-keep-alive-interval).
    assert comments == [": keep-alive"] * ((len(data) - 1) // 3)
    assert [d["choices"][0]["index"] for d in data[:4]] == [0, 1, 0, 1]
    assert data[-1]["choices"] == []
    assert set(data[-1]["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert events[-1] == "[DONE]"
    assert texts_by_choice(data) == {0: content, 1: content}
    assert gateway.completion(r.headers["x-request-id"])["outcome"] == "ok"
    assert stream_end(sim_for(sims, route), r.headers["x-request-id"])["event"] == "completed"


@pytest.mark.parametrize(("content", "route"), ROUTES)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_openai_sdk_reads_n2_stream_with_usage(gateway: Running, content: str, route: str, mode: str) -> None:
    kwargs: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": content}],
        "stream": True,
        "n": 2,
        "stream_options": {"include_usage": True},
    }

    def collect(chunks: list[Any]) -> tuple[dict[int, str], Any]:
        texts: dict[int, str] = {}
        for chunk in chunks:
            for choice in chunk.choices:
                texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
        return texts, chunks[-1]

    if mode == "sync":
        client = sdk(openai.OpenAI, base_url=gateway.v1, api_key=US_KEY)
        raw = client.chat.completions.with_raw_response.create(**kwargs)
        headers, chunks = raw.headers, list(raw.parse())
    else:

        async def run() -> tuple[httpx.Headers, list[Any]]:
            async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=US_KEY, max_retries=0) as client:
                raw = await client.chat.completions.with_raw_response.create(**kwargs)
                chunks = [c async for c in raw.parse()]
            return raw.headers, chunks

        headers, chunks = asyncio.run(run())
    texts, last = collect(chunks)
    assert headers["x-privacy-route"] == route
    assert texts == {0: content, 1: content}
    assert last.choices == []
    assert last.usage is not None and last.usage.total_tokens > 0


def test_gateway_closes_right_after_done_even_if_upstream_lingers(gateway: Running, sims: Sims) -> None:
    # The upstream keeps its body open 60 s after [DONE]; the 10 s read timeout proves we closed.
    r = post_stream(gateway, PHI, timeout=10.0, sim_fault={"linger": 60})
    assert r.content.endswith(b"data: [DONE]\n\n")
    assert gateway.completion(r.headers["x-request-id"])["outcome"] == "ok"
    # We hung up on the lingering upstream instead of waiting for it.
    assert stream_end(sims.onprem, r.headers["x-request-id"])["event"] == "cancelled"


@pytest.mark.parametrize(("content", "route"), ROUTES)
@pytest.mark.parametrize(
    ("fault", "upstream_end", "code"),
    [
        pytest.param("drop:3", "dropped", "upstream_error", id="drop"),
        pytest.param("truncate:3", "completed", "stream_truncated", id="truncate"),
        pytest.param("error-event:3", "completed", None, id="error-event"),
    ],
)
def test_upstream_failure_mid_stream_is_an_error_event_without_done(
    gateway: Running, sims: Sims, content: str, route: str, fault: str, upstream_end: str, code: str | None
) -> None:
    r = post_stream(gateway, content, sim_fault=dict([fault.split(":")]))
    assert (r.status_code, r.headers["x-privacy-route"]) == (200, route)
    events = sse_events(r.content)
    assert "[DONE]" not in events
    assert [e for e in events if isinstance(e, dict) and "error" in e] == [events[-1]]
    error = events[-1]["error"]
    if code is None:  # the upstream's own event is relayed in its own shape (vLLM: int code)
        assert error["code"] == (500 if route == "onprem" else None)
    else:
        assert (error["code"], error["type"]) == (code, "upstream_error")
    assert len([e for e in events if isinstance(e, dict) and "choices" in e]) == 3
    assert gateway.completion(r.headers["x-request-id"])["outcome"] == "truncated"
    assert stream_end(sim_for(sims, route), r.headers["x-request-id"])["event"] == upstream_end


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_openai_sdk_raises_on_the_in_band_error(gateway: Running, mode: str) -> None:
    kwargs: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": PHI}],
        "stream": True,
        "extra_body": {"sim_fault": {"drop": 2}},
    }
    seen = 0
    with pytest.raises(openai.APIError) as err:
        if mode == "sync":
            for _ in sdk(openai.OpenAI, base_url=gateway.v1, api_key=US_KEY).chat.completions.create(
                **kwargs
            ):
                seen += 1
        else:

            async def run() -> int:
                client = openai.AsyncOpenAI(base_url=gateway.v1, api_key=US_KEY, max_retries=0)
                n = 0
                try:
                    async for _ in await client.chat.completions.create(**kwargs):
                        n += 1
                finally:
                    await client.close()
                return n

            asyncio.run(run())
    assert err.value.message == "backend 'vllm-a' failed (RemoteProtocolError)"
    if mode == "sync":
        assert seen == 2


def test_idle_upstream_between_chunks_times_out_as_truncated(
    tmp_path: Path, detection_engine: DetectionEngine, sims: Sims
) -> None:
    with running_gateway(
        tmp_path, detection_engine, sims.onprem.url, sims.external.url, upstream_timeout_s=1.0
    ) as gw:
        r = post_stream(gw, PHI, sim_fault={"slow": 3000})
        events = sse_events(r.content)
        assert "[DONE]" not in events
        assert events[-1]["error"]["code"] == "upstream_timeout"
        assert len([e for e in events if isinstance(e, dict) and "choices" in e]) == 1
        assert gw.completion(r.headers["x-request-id"])["outcome"] == "truncated"


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize(
    ("fault", "status"),
    [pytest.param("fail:503", 503, id="onprem-503"), pytest.param("stall:3", 504, id="onprem-hangs")],
)
def test_onprem_failing_before_first_byte_never_falls_back(
    tmp_path: Path, detection_engine: DetectionEngine, sims: Sims, fault: str, status: int, stream: bool
) -> None:
    before = posts(sims.external)
    with running_gateway(
        tmp_path, detection_engine, sims.onprem.url, sims.external.url, upstream_timeout_s=1.0
    ) as gw:
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": PHI}], "stream": stream}
        r = httpx.post(
            f"{gw.v1}/chat/completions",
            json={**body, "sim_fault": dict([fault.split(":")])},
            headers=AUTH,
            timeout=30,
        )
        assert (r.status_code, r.headers["x-privacy-route"]) == (status, "onprem")
        assert r.json()["error"]["message"] != ""
        assert gw.completion(r.headers["x-request-id"])["outcome"] == "upstream_error"
    assert posts(sims.external) == before


@pytest.mark.parametrize(("content", "route"), ROUTES)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_client_disconnect_cancels_the_upstream_and_is_audited(
    gateway: Running, sims: Sims, content: str, route: str, mode: str
) -> None:
    kwargs: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": LONG if route != "onprem" else PHI + " " + LONG}],
        "stream": True,
        "extra_body": {"sim_fault": {"slow": 100}},  # ~180 chunks: about 18 s if nobody hangs up
    }
    if mode == "sync":
        stream = sdk(openai.OpenAI, base_url=gateway.v1, api_key=US_KEY).chat.completions.create(**kwargs)
        it = iter(stream)
        next(it), next(it), next(it)
        request_id = stream.response.headers["x-request-id"]
        assert stream.response.headers["x-privacy-route"] == route
        stream.close()
    else:

        async def run() -> str:
            client = openai.AsyncOpenAI(base_url=gateway.v1, api_key=US_KEY, max_retries=0)
            astream = await client.chat.completions.create(**kwargs)
            it = astream.__aiter__()
            for _ in range(3):
                await it.__anext__()
            rid = astream.response.headers["x-request-id"]
            await astream.close()
            await client.close()
            return rid

        request_id = asyncio.run(run())
    end = stream_end(sim_for(sims, route), request_id)
    assert end["event"] == "cancelled"
    assert end["sent"] < 100
    assert gateway.completion(request_id)["outcome"] == "client_cancelled"
