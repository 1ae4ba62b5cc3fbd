"""Streamed answers: the backend's usage lands in the audit log whether or not the client asked for
it, the client gets exactly the stream it asked for, and the answer text is pre-analysed for the
detection cache once the stream completed (issues 11 and 4). Real sockets, real openai SDK."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from privacy_router.transform import SSERestorer, Vault
from tests.api.conftest import CLAUDE, CLEAN, PHI, PII, Running, Sims, sdk
from tests.api.test_answer_cache import TOOL_ANSWER, TOOL_TURN, assert_cached_for_acme_only
from tests.api.test_proxy_streaming import post_stream, sse_events
from tests.integration.conftest import US_KEY

pytestmark = pytest.mark.slow

# (content, route, simulator flavor behind it): vLLM sends usage only in its usage chunk; OpenAI
# also puts "usage": null on every chunk once usage is asked for.
ROUTES = [
    pytest.param(PHI, "onprem", id="onprem-vllm"),
    pytest.param(CLEAN, "external", id="external-openai"),
    pytest.param(PII, "external_scrubbed", id="scrubbed-openai"),
]


def key_sets(events: list[Any]) -> set[tuple[str, ...]]:
    return {tuple(sorted(e)) for e in events if isinstance(e, dict)}


def direct_stream(url: str, content: str, model: str) -> list[Any]:
    """The same request straight to the simulator, without stream_options."""
    body = {"model": model, "messages": [{"role": "user", "content": content}], "stream": True}
    with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=30) as r:
        r.read()
    return sse_events(r.content)


@pytest.mark.parametrize(("content", "route"), ROUTES)
def test_usage_is_recorded_and_the_client_that_did_not_ask_gets_no_usage(
    gateway: Running, sims: Sims, content: str, route: str
) -> None:
    r = post_stream(gateway, content)
    assert (r.status_code, r.headers["x-privacy-route"]) == (200, route)
    assert b'"usage"' not in r.content
    events = sse_events(r.content)
    assert events[-1] == "[DONE]"
    assert all(e["choices"] for e in events if isinstance(e, dict))
    # The gateway asked the backend for usage all the same, and recorded it.
    sim, model = (sims.onprem, "llama-3.1-8b") if route == "onprem" else (sims.external, "gpt-4o")
    forwarded = [x for x in sim.records() if x["method"] == "POST"][-1]["body"]
    assert forwarded["stream_options"] == {"include_usage": True}
    # Same event shapes as the backend sends a client that did not ask for usage.
    assert key_sets(events) == key_sets(direct_stream(sim.url, content, model))
    usage = gateway.completion(r.headers["x-request-id"])["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.parametrize(("content", "route"), ROUTES)
@pytest.mark.parametrize("asked", [False, True], ids=["not-asked", "asked"])
def test_openai_sdk_sees_the_usage_chunk_once_only_when_it_asked(
    gateway: Running, content: str, route: str, asked: bool
) -> None:
    client = sdk(openai.OpenAI, base_url=gateway.v1, api_key=US_KEY)
    extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if asked else {}
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": content}], stream=True, **extra
    )
    chunks = list(raw.parse())
    assert raw.headers["x-privacy-route"] == route
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == content
    usage_chunks = [c for c in chunks if not c.choices]
    assert [c.usage is not None for c in usage_chunks] == ([True] if asked else [])
    assert all(c.usage is None for c in chunks if c.choices)
    recorded = gateway.completion(raw.headers["x-request-id"])["usage"]
    assert recorded["completion_tokens"] > 0
    if asked:
        assert recorded["total_tokens"] == usage_chunks[0].usage.total_tokens


@pytest.mark.parametrize("asked", [False, True], ids=["not-asked", "asked"])
def test_chat_stream_to_an_anthropic_backend_records_its_usage(
    anthropic_gateway: Running, asked: bool
) -> None:
    client = sdk(openai.OpenAI, base_url=anthropic_gateway.v1, api_key=US_KEY)
    extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if asked else {}
    raw = client.chat.completions.with_raw_response.create(
        model=CLAUDE, messages=[{"role": "user", "content": CLEAN}], stream=True, **extra
    )
    chunks = list(raw.parse())
    assert len([c for c in chunks if not c.choices]) == (1 if asked else 0)
    usage = anthropic_gateway.completion(raw.headers["x-request-id"])["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0


def test_a_truncated_stream_records_no_usage(gateway: Running) -> None:
    r = post_stream(gateway, PHI, sim_fault={"truncate": 3})
    record = gateway.completion(r.headers["x-request-id"])
    assert (record["outcome"], record.get("usage")) == ("truncated", None)


def test_streamed_answer_is_pre_analysed_so_the_next_turn_hits_the_cache(gateway: Running) -> None:
    client = sdk(openai.OpenAI, base_url=gateway.v1, api_key=US_KEY)
    stream = client.chat.completions.create(model="gpt-4o", messages=TOOL_TURN, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == TOOL_ANSWER
    assert_cached_for_acme_only(gateway, text)
    # Turn 2 resends the answer and repeats the first question: every segment is a cache hit.
    cache = gateway.gw.cache
    assert cache is not None
    hits, misses = cache.stats.hits, cache.stats.misses
    turn2 = [*TOOL_TURN, {"role": "assistant", "content": text}, {"role": "user", "content": CLEAN}]
    client.chat.completions.create(model="gpt-4o", messages=turn2)
    assert cache.stats.misses == misses
    assert cache.stats.hits > hits


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": choices,
        **extra,
    }


@pytest.mark.parametrize("strip", [False, True], ids=["keep-usage", "strip-usage"])
def test_restorer_reads_usage_and_keeps_the_restored_text(strip: bool) -> None:
    vault = Vault([])
    name = vault.placeholder_for("PERSON", "Maria Gonzalez")
    usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    stream = b"".join(
        [
            _sse(_chunk({"role": "assistant", "content": ""}, usage=None)),
            _sse(_chunk({"content": "Dear " + name[:4]}, usage=None)),
            _sse(_chunk({"content": name[4:] + ","}, usage=None)),
            _sse(_chunk({}, "stop", usage=None)),
            _sse(_chunk(None, usage=usage)),
            b"data: [DONE]\n\n",
        ]
    )
    restorer = SSERestorer(vault, "chat.completions", strip_usage=strip, keep_text=True)
    # Fed in 5-byte pieces: events and placeholders are split anywhere.
    out = b"".join(restorer.feed(stream[i : i + 5]) for i in range(0, len(stream), 5)) + restorer.finish()
    events = sse_events(out)
    assert restorer.usage == usage
    assert restorer.answer_texts() == ["Dear Maria Gonzalez,"]
    assert events[-1] == "[DONE]"
    if strip:
        assert b'"usage"' not in out
    else:
        assert events[-2] == _chunk(None, usage=usage)
