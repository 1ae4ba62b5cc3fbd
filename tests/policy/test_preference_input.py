"""Policy input contract v2: per-backend price, the gateway's latency window and load, and the
request's estimated input tokens and tool count (pipeline.build_policy_input, upstream/stats.py);
and the preference step that acts on them, which can never move data further out."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import openai
import pytest

from privacy_router.app import create_app
from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.gateway import Gateway
from privacy_router.pipeline import RequestContext, build_policy_input, detect, estimated_tokens, extract_step
from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.policy.opa import OpaPolicyEngine
from privacy_router.policy.opa_testserver import OpaTestServer
from privacy_router.resources import resource_dir
from privacy_router.testing import RunningSimulator, ServerThread
from privacy_router.types import Principal
from privacy_router.upstream.stats import BackendStats, nearest_rank
from tests.integration.conftest import US_KEY, sha
from tests.policy.conftest import make_input


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


# -- preference routing (policies/privacy_router/preference.rego) ---------------------------------
# The property: whatever the security team sets in data/preference.json, and however the prices,
# latencies and loads fall, the action is the one list order gives, and the backend and fallbacks
# are exactly that action's candidates, reordered. Checked on the compiled shipped policy over a
# grid of data classes, tenants, backend health and extreme economics.

POLICIES = resource_dir("policies")
PHI_VALUE = "00482913"
PHI_PROMPT = f"Patient MRN {PHI_VALUE} was admitted with chest pain."

PREFERENCES: dict[str, dict[str, Any]] = {
    "order": {"strategy": "order"},
    "cheapest": {"strategy": "cheapest", "assumed_output_tokens": 300},
    "fastest": {"strategy": "fastest"},
    "cheapest-designated-external": {
        "strategy": "cheapest",
        "designated": {"backend": "openai-in", "min_input_tokens": 1000, "min_tool_count": 1},
    },
    "fastest-designated-onprem": {
        "strategy": "fastest",
        "designated": {"backend": "vllm-b", "min_input_tokens": 1, "min_tool_count": 1},
    },
}


def preference_policy(root: Path, preference: dict[str, Any]) -> Path:
    """A copy of the shipped policy folder with ``data/preference.json`` replaced."""
    shutil.copytree(POLICIES, root)
    (root / "data" / "preference.json").write_text(json.dumps(preference), "utf-8")
    return root


@pytest.fixture(scope="module")
def preference_engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, EmbeddedPolicyEngine]:
    tmp = tmp_path_factory.mktemp("preference")
    return {name: EmbeddedPolicyEngine(preference_policy(tmp / name, p)) for name, p in PREFERENCES.items()}


def api(input_per_mtok: float, output_per_mtok: float) -> dict[str, Any]:
    return {"input_usd_per_mtok": input_per_mtok, "output_usd_per_mtok": output_per_mtok, "hourly_usd": 0.0}


def economics(price: dict[str, Any] | None, p95: float | None, outstanding: int) -> dict[str, Any]:
    return {
        "price": price,
        "latency_ms": {"p50": p95, "p95": p95, "samples": 0 if p95 is None else 50},
        "load": {"outstanding": outstanding},
    }


# External: free, fast and idle; on-prem: very dear, slow and busy (or the other way round).
EXTREMES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "external-free-fast": (
        economics({"hourly_usd": 1e6, "capacity_tokens_per_s": 1.0}, 90_000.0, 500),
        economics(api(0.0, 0.0), 5.0, 0),
    ),
    "onprem-free-fast": (economics(api(0.0, 0.0), 5.0, 0), economics(api(1e6, 1e6), 90_000.0, 500)),
    "unpriced-unmeasured": (economics(None, None, 0), economics(None, None, 0)),
}

DETECTIONS: dict[str, dict[str, Any]] = {
    "phi": {
        "status": "ok",
        "categories": ["PHI", "PII"],
        "entities": [{"type": "MEDICAL_RECORD_NUMBER", "count": 1, "max_score": 0.9, "fields": ["m"]}],
    },
    "pci": {
        "status": "ok",
        "categories": ["PCI"],
        "entities": [{"type": "CREDIT_CARD", "count": 1, "max_score": 1.0, "fields": ["m"]}],
    },
    "pii": {
        "status": "ok",
        "categories": ["PII"],
        "entities": [{"type": "EMAIL_ADDRESS", "count": 1, "max_score": 1.0, "fields": ["m"]}],
    },
    "detector-error": {"status": "error", "categories": [], "entities": []},
    "clean": {"status": "ok", "categories": [], "entities": []},
}

# Regions: us (US), eu-west (EU), ap-south (IN, an export destination for no tenant).
EXTERNAL = [("openai", "us"), ("mistral", "eu-west"), ("openai-in", "ap-south")]
ONPREM = ["vllm-a", "vllm-b"]


def grid_input(
    detection: str, jurisdiction: str, onprem_up: bool, model: str, extreme: str
) -> dict[str, Any]:
    onprem_econ, external_econ = EXTREMES[extreme]
    onprem = [
        {"name": n, "region": "us-east", "healthy": onprem_up, "models": ["llama-3.1-8b"], **onprem_econ}
        for n in ONPREM
    ]
    external = [
        {"name": n, "region": r, "zero_data_retention": True, "healthy": True, **external_econ}
        for n, r in EXTERNAL
    ]
    return make_input(
        principal={"jurisdiction": jurisdiction},
        request={"model": model, "estimated_input_tokens": 50_000, "tool_count": 12},
        detection=DETECTIONS[detection],
        backends={"onprem": onprem, "external": external},
    )


GRID = [
    (detection, jurisdiction, onprem_up, model, extreme)
    for detection in DETECTIONS
    for jurisdiction in ("US", "DE", "BR")
    for onprem_up in (True, False)
    for model in ("gpt-4o", "llama-3.1-8b")
    for extreme in EXTREMES
]


def test_no_preference_changes_the_route_or_the_candidate_set(
    preference_engines: dict[str, EmbeddedPolicyEngine],
) -> None:
    checked = Counter[str]()
    for cell in GRID:
        policy_input = grid_input(*cell)
        base = preference_engines["order"].evaluate(policy_input)
        for name, engine in preference_engines.items():
            d = engine.evaluate(policy_input)
            assert d.action == base.action, (name, cell)
            assert {d.backend, *d.fallbacks} == {base.backend, *base.fallbacks}, (name, cell)
            assert len(d.fallbacks) == len(base.fallbacks), (name, cell)
            detection = cell[0]
            if detection in ("phi", "pci", "detector-error"):
                assert d.action in ("onprem", "block"), (name, cell)
                assert d.backend is None or d.backend in ONPREM, (name, cell)
            if d.action == "external_scrubbed":
                assert d.backend != "openai-in" and "openai-in" not in d.fallbacks, (name, cell)
            checked[d.action] += 1
    # The grid reaches every action, so the property is not vacuous.
    assert set(checked) == {"onprem", "block", "external", "external_scrubbed"}
    assert sum(checked.values()) == len(GRID) * len(PREFERENCES)


def test_the_preferences_do_reorder_where_privacy_allows(
    preference_engines: dict[str, EmbeddedPolicyEngine],
) -> None:
    """The positive side of the property: on clean traffic each strategy picks its own backend."""
    cheap_slow = {**economics(api(0.1, 0.1), 900.0, 0)}
    dear_fast = {**economics(api(10.0, 30.0), 20.0, 0)}
    policy_input = make_input(
        request={"estimated_input_tokens": 50, "tool_count": 0},
        backends={
            "onprem": [{"name": "vllm-a", "region": "us-east", "healthy": True, "models": ["x"]}],
            "external": [
                {"name": "openai", "region": "us", "zero_data_retention": True, "healthy": True, **dear_fast},
                {
                    "name": "mistral",
                    "region": "eu-west",
                    "zero_data_retention": True,
                    "healthy": True,
                    **cheap_slow,
                },
            ],
        },
    )
    got = {name: preference_engines[name].evaluate(policy_input) for name in ("order", "cheapest", "fastest")}
    assert {name: (d.backend, d.fallbacks) for name, d in got.items()} == {
        "order": ("openai", ("mistral",)),
        "cheapest": ("mistral", ("openai",)),
        "fastest": ("openai", ("mistral",)),
    }
    assert got["cheapest"].reasons[-1].startswith("cost preference:")


def test_cheap_external_backend_never_receives_a_phi_prompt(
    tmp_path: Path, detection_engine: DetectionEngine
) -> None:
    """Over real HTTP: the external backend is free, fastest and designated, on-prem is very dear;
    the PHI prompt goes on-prem and the external simulator never sees it, while a clean prompt
    does go to the cheap external backend (so the preference is in force)."""
    policy_dir = preference_policy(
        tmp_path / "policies",
        {
            "strategy": "cheapest",
            "assumed_output_tokens": 300,
            "designated": {"backend": "cheap", "min_input_tokens": 1, "min_tool_count": 1},
        },
    )
    with (
        RunningSimulator("vllm", record_path=tmp_path / "onprem.jsonl") as onprem,
        RunningSimulator("openai", record_path=tmp_path / "cheap.jsonl") as cheap,
        RunningSimulator("openai", record_path=tmp_path / "dear.jsonl") as dear,
    ):
        settings = load_settings(
            None,
            server={"detection_timeout_s": 5.0},
            policy={"dir": str(policy_dir)},
            audit={"sqlite_path": str(tmp_path / "audit.db")},
            backends={
                "onprem": [
                    {
                        "name": "vllm-a",
                        "url": onprem.url,
                        "region": "us-east",
                        "models": ["llama-3.1-8b"],
                        "pricing": {"hourly_usd": 1e6, "capacity_tokens_per_s": 1},
                    }
                ],
                "external": [
                    {
                        "name": "dear",
                        "url": dear.url,
                        "region": "us",
                        "models": ["gpt-4o"],
                        "pricing": {"input_usd_per_mtok": 50, "output_usd_per_mtok": 150},
                    },
                    {
                        "name": "cheap",
                        "url": cheap.url,
                        "region": "us",
                        "models": ["gpt-4o"],
                        "pricing": {"input_usd_per_mtok": 0, "output_usd_per_mtok": 0},
                    },
                ],
            },
            api_keys=[{"key_sha256": sha(US_KEY), "service": "svc", "tenant": "acme", "jurisdiction": "US"}],
        )
        gw = Gateway.from_settings(settings, detector=detection_engine)
        with ServerThread(create_app(gw)) as srv:
            client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key=US_KEY, max_retries=0)
            phi = client.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=[{"role": "user", "content": PHI_PROMPT}]
            )
            clean = client.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=[{"role": "user", "content": "Name three primary colours."}]
            )
        external_records = json.dumps(cheap.records() + dear.records())
        posts = {
            name: sum(1 for r in s.records() if r["method"] == "POST")
            for name, s in (("onprem", onprem), ("cheap", cheap), ("dear", dear))
        }
    assert (phi.status_code, phi.headers["x-privacy-route"]) == (200, "onprem")
    assert (clean.status_code, clean.headers["x-privacy-route"]) == (200, "external")
    assert posts == {"onprem": 1, "cheap": 1, "dear": 0}
    assert PHI_VALUE not in external_records


@pytest.mark.parametrize("name", ["order", "cheapest", "fastest-designated-onprem"])
def test_opa_engine_applies_the_same_preference(
    name: str, preference_engines: dict[str, EmbeddedPolicyEngine], tmp_path: Path
) -> None:
    """Both engines run the preference step alike (policy/preference.py): same backend and order
    for every grid input. With the shipped "order" data the step is inactive and OPA gets one call
    per decision; with a real preference, two."""
    policy_dir = preference_policy(tmp_path / name, PREFERENCES[name])
    with OpaTestServer(policy_dir) as server:
        opa = OpaPolicyEngine(server.url, timeout_s=10.0, policy_dir=policy_dir)
        assert opa.preference_active is (name != "order")
        assert preference_engines[name].preference_active is (name != "order")
        server.calls.clear()
        routed = 0
        for cell in GRID:
            policy_input = grid_input(*cell)
            want = preference_engines[name].evaluate(policy_input)
            routed += want.action != "block"
            got = opa.evaluate(policy_input)
            assert (got.action, got.backend, got.fallbacks, got.reasons) == (
                want.action,
                want.backend,
                want.fallbacks,
                want.reasons,
            ), cell
        calls = Counter(call.rsplit("/", 1)[-1] for call in server.calls)
        assert calls["decision"] == len(GRID)
        assert calls["result"] == (0 if name == "order" else routed)
