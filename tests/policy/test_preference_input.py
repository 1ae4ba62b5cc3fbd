"""Policy input contract v2: per-backend price, the gateway's latency window and load, and the
request's estimated input tokens and tool count (pipeline.build_policy_input, upstream/stats.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.gateway import Gateway
from privacy_router.pipeline import RequestContext, build_policy_input, detect, estimated_tokens, extract_step
from privacy_router.types import Principal
from privacy_router.upstream.stats import BackendStats, nearest_rank


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (nearest_rank(values, 50), nearest_rank(values, 95)) == (50.0, 95.0)
    assert nearest_rank([7.0], 95) == 7.0


def test_stats_window_keeps_the_last_samples_and_counts_outstanding() -> None:
    stats = BackendStats(window=4)
    assert stats.latency("a") == {"p50": None, "p95": None, "samples": 0}
    stats.begin("a", "r1")
    stats.begin("a", "r2")
    assert stats.outstanding("a") == 2
    for i, ms in enumerate([1000.0, 10.0, 20.0, 30.0, 40.0]):
        stats.end("a", f"r{i}", ms)
    # 1000 fell out of the 4-sample window; r1 and r2 ended.
    assert stats.latency("a") == {"p50": 20.0, "p95": 40.0, "samples": 4}
    assert stats.outstanding("a") == 0


def test_failed_exchange_ends_the_load_but_records_no_latency() -> None:
    stats = BackendStats()
    stats.begin("a", "r1")
    stats.end("a", "r1", None)
    stats.end("a", "never-begun", None)
    assert (stats.outstanding("a"), stats.latency("a")["samples"]) == (0, 0)


@pytest.mark.parametrize(
    ("texts", "tokens"), [([], 0), (["abcd"], 1), (["abcde"], 2), (["ab", "cd", "e"], 2)]
)
def test_estimated_tokens_is_characters_over_four_rounded_up(texts: list[str], tokens: int) -> None:
    assert estimated_tokens(texts) == tokens


def test_policy_input_carries_prices_latency_load_and_request_size(
    tmp_path: Path, detection_engine: DetectionEngine
) -> None:
    settings = load_settings(
        None,
        audit={"sqlite_path": str(tmp_path / "audit.db")},
        backends={
            "onprem": [
                {
                    "name": "vllm-a",
                    "url": "http://127.0.0.1:1/v1",
                    "region": "us-east",
                    "models": ["llama-3.1-8b"],
                    "pricing": {"hourly_usd": 2.0, "capacity_tokens_per_s": 2000},
                }
            ],
            "external": [{"name": "openai", "url": "http://127.0.0.1:2/v1", "region": "us"}],
        },
    )
    gw = Gateway.from_settings(settings, detector=detection_engine)
    try:
        gw.stats.begin("openai", "r1")
        gw.stats.end("vllm-a", "r0", 120.0)
        body = {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "Name three primary colours."}],  # 28 characters
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        }
        ctx = RequestContext(gw, "chat.completions", "/chat/completions", {}, [], json.dumps(body).encode())
        ctx.payload = body
        ctx.principal = Principal("svc", "acme", "US", ("client",), key_id="k")
        asyncio.run(extract_step(ctx))
        asyncio.run(detect(ctx))
        policy_input = build_policy_input(ctx)
    finally:
        gw.audit.close()
        gw.executor.shutdown(wait=False)
    texts = [s.text for s in ctx.extraction.segments] if ctx.extraction else []
    assert policy_input["request"]["estimated_input_tokens"] == estimated_tokens(texts)
    assert policy_input["request"]["estimated_input_tokens"] >= 7  # ceil(28 / 4) from the message alone
    assert policy_input["request"]["tool_count"] == 1
    onprem = policy_input["backends"]["onprem"][0]
    assert onprem["price"] == {
        "input_usd_per_mtok": 0.0,
        "output_usd_per_mtok": 0.0,
        "hourly_usd": 2.0,
        "capacity_tokens_per_s": 2000.0,
    }
    assert onprem["latency_ms"] == {"p50": 120.0, "p95": 120.0, "samples": 1}
    assert onprem["load"] == {"outstanding": 0}
    external = policy_input["backends"]["external"][0]
    assert (external["price"], external["load"]) == (None, {"outstanding": 1})
    assert external["latency_ms"] == {"p50": None, "p95": None, "samples": 0}
