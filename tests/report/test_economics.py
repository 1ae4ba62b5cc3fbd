"""The economics arithmetic (privacy_router/report/economics.py), against hand-computed numbers.

The window is 2 days. openai costs $2.50 / $10 per million input / output tokens; vllm-a costs
$2/h and serves 2000 tokens/s. 6 requests went to openai at 1000 in + 500 out tokens each, 4
stayed on vllm-a at 800 + 200, 2 were blocked:
  openai API spend = (6000 x 2.5 + 3000 x 10) / 1e6 = $0.045 -> $7.50 per 1000 requests
  vllm-a cost = $2 x 48 h = $96 -> $24,000 per 1000 requests
  crossover: f = 6/10 = 0.6, c = 0.045/6 = $0.0075, t = 9000/6 = 1500 tokens,
  U = $2 x 24 = $48/day, K = 2000 x 86400 = 172,800,000 tokens/day,
  m = 48 x 1500 / 172.8e6 = $0.000417 <= c, V* = 48 / (0.6 x 0.0075) = 10,666.67 requests/day.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from privacy_router.config import BackendPricing
from privacy_router.report.economics import (
    BackendPrice,
    Line,
    Served,
    build_report,
    collect,
    render_text,
    why_onprem,
    write_csv,
)

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=2)
OPENAI = BackendPrice("openai", False, BackendPricing(input_usd_per_mtok=2.5, output_usd_per_mtok=10))
VLLM = BackendPrice("vllm-a", True, BackendPricing(hourly_usd=2.0, capacity_tokens_per_s=2000))
PRICES = {"openai": OPENAI, "vllm-a": VLLM}


def served(action: str, backend: str | None, tin: int, tout: int, why: str | None = None) -> Served:
    return Served(action, backend, tin, tout, usage_recorded=True, why_onprem=why)


TRAFFIC = (
    [served("external", "openai", 1000, 500) for _ in range(6)]
    + [served("onprem", "vllm-a", 800, 200, "sensitivity") for _ in range(3)]
    + [served("onprem", "vllm-a", 800, 200, "residency")]
    + [served("block", None, 0, 0) for _ in range(2)]
)


def test_lines_price_api_tokens_and_on_prem_hours() -> None:
    report = build_report(TRAFFIC, PRICES, SINCE, UNTIL)
    assert report.lines == (
        Line("external", "openai", 6, 6000, 3000, pytest.approx(0.045), 0.0),
        Line("onprem", "vllm-a", 4, 3200, 800, 0.0, 96.0),
    )
    assert report.lines[0].cost_per_1k_requests == pytest.approx(7.5)
    assert report.lines[1].cost_per_1k_requests == pytest.approx(24_000.0)
    assert report.totals == Line("all", "all", 10, 9200, 3800, pytest.approx(0.045), 96.0)


def test_on_prem_share_and_why() -> None:
    report = build_report(TRAFFIC, PRICES, SINCE, UNTIL)
    assert report.blocked == 2
    assert report.onprem_share == pytest.approx(0.4)
    assert report.onprem_reasons == {"sensitivity": 3, "residency": 1}


def test_crossover_is_unit_cost_over_external_spend_per_day() -> None:
    cross = build_report(TRAFFIC, PRICES, SINCE, UNTIL).crossover
    assert cross.daily_requests == pytest.approx(5.0)
    assert cross.external_share == pytest.approx(0.6)
    assert cross.api_cost_per_request == pytest.approx(0.0075)
    assert cross.tokens_per_external_request == pytest.approx(1500)
    assert (cross.unit, cross.unit_daily_cost, cross.unit_daily_tokens) == ("vllm-a", 48.0, 172_800_000)
    assert cross.fixed_daily_cost == 48.0
    assert cross.volume == pytest.approx(10_666.666, rel=1e-6)
    # Both options cost the same at the crossover: F + U = 48 + 48.
    assert cross.hybrid_cost(cross.volume) == pytest.approx(96.0)
    assert cross.onprem_cost(cross.volume) == pytest.approx(96.0)
    # Below it the hybrid is cheaper, above it on-prem.
    assert cross.hybrid_cost(10_000) == pytest.approx(93.0)
    assert cross.onprem_cost(10_000) == pytest.approx(96.0)
    assert cross.hybrid_cost(20_000) == pytest.approx(138.0)
    assert cross.onprem_cost(20_000) == pytest.approx(96.0)


def test_arithmetic_is_printed() -> None:
    text = "\n".join(render_text(build_report(TRAFFIC, PRICES, SINCE, UNTIL)))
    assert "external share f = 6 / 10 = 0.600" in text
    assert "c = $0.045000 / 6 = $0.007500" in text
    assert "U = $2.00/h x 24 h = $48.00/day" in text
    assert "K = 2,000 tokens/s x 86,400 s = 172,800,000 tokens/day" in text
    assert "m = U x t / K = $0.000417" in text
    assert "V* = U / (f x c) = $48.00 / (0.600 x $0.007500) = 10,667 requests/day" in text
    assert "observed 5.0/day is below it" in text
    assert "kept on-prem: 40.0% of served requests" in text


def test_no_crossover_when_the_api_is_cheaper_than_a_full_unit() -> None:
    cheap = BackendPrice("openai", False, BackendPricing(input_usd_per_mtok=0.01, output_usd_per_mtok=0.01))
    # c = 9000 x 0.01 / 1e6 / 6 = $0.000015 < m = $0.000417
    cross = build_report(TRAFFIC, {"openai": cheap, "vllm-a": VLLM}, SINCE, UNTIL).crossover
    assert cross.api_cost_per_request == pytest.approx(0.000015)
    assert cross.volume is None
    assert "on-prem is never cheaper" in cross.arithmetic[-1]


def test_no_crossover_without_on_prem_capacity() -> None:
    no_capacity = BackendPrice("vllm-a", True, BackendPricing(hourly_usd=2.0))
    cross = build_report(TRAFFIC, {"openai": OPENAI, "vllm-a": no_capacity}, SINCE, UNTIL).crossover
    assert (cross.unit, cross.volume) == (None, None)


def test_the_cheapest_unit_per_token_is_the_one_added() -> None:
    dear = BackendPrice("vllm-big", True, BackendPricing(hourly_usd=10.0, capacity_tokens_per_s=4000))
    cross = build_report(TRAFFIC, {**PRICES, "vllm-big": dear}, SINCE, UNTIL).crossover
    assert cross.unit == "vllm-a"  # $2/2000 = 0.001 per token/s against $10/4000 = 0.0025
    assert cross.fixed_daily_cost == pytest.approx(48.0 + 240.0)


def test_unused_on_prem_backend_still_costs_its_hours() -> None:
    report = build_report([served("external", "openai", 10, 10)], PRICES, SINCE, UNTIL)
    assert report.lines[1] == Line("onprem", "vllm-a", 0, 0, 0, 0.0, 96.0)
    assert report.lines[1].cost_per_1k_requests is None


def test_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="window is empty"):
        build_report([], PRICES, UNTIL, SINCE)


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("sensitive data: routed to a healthy on-prem backend", "sensitivity"),
        ("PHI present: sensitive class stays on-prem", "sensitivity"),
        (
            "no healthy external backend in a region tenant jurisdiction DE may export personal data to: "
            "routed on-prem",
            "residency",
        ),
        ("cost preference: lowest estimated cost for this request (vllm-a): routed on-prem", "cost"),
        ("latency preference: lowest recent p95 latency (vllm-a): routed on-prem", "latency"),
        ("long-context request: designated backend (vllm-a): routed on-prem", "designated model"),
        ("requested model is served on-prem: routed on-prem", "model pinned on-prem"),
        ("no healthy external backend: routed on-prem", "availability"),
        ("something a custom policy says", "other"),
    ],
    ids=[
        "sensitive",
        "class",
        "residency",
        "cost",
        "latency",
        "long-context",
        "pin",
        "availability",
        "other",
    ],
)
def test_why_on_prem_reads_the_route_reason(reason: str, category: str) -> None:
    assert why_onprem([reason]) == category


def test_why_on_prem_prefers_the_route_reason_over_class_reasons() -> None:
    reasons = [
        "PII present: may leave only scrubbed, to a permitted region",
        "cost preference: lowest estimated cost for this request (vllm-a): routed on-prem",
    ]
    assert why_onprem(reasons) == "cost"


def record(kind: str, **fields: Any) -> dict[str, Any]:
    return {"record_type": kind, **fields}


def test_collect_joins_usage_and_falls_back_to_the_estimate() -> None:
    records = [
        record("decision", record_id="d1", action="external", backend="openai", reasons=["clean"]),
        record("completion", decision_record_id="d1", usage={"prompt_tokens": 12, "completion_tokens": 7}),
        record(
            "decision",
            record_id="d2",
            action="onprem",
            backend="vllm-a",
            reasons=["sensitive data: routed to a healthy on-prem backend"],
            policy_input={"request": {"estimated_input_tokens": 40}},
        ),
        record("completion", decision_record_id="d2", usage=None),
        record("decision", record_id="d3", action="block", backend=None, reasons=["blocked"]),
        record("completion", decision_record_id="d4", usage={"input_tokens": 5, "output_tokens": 6}),
    ]
    assert collect(records) == [
        Served("external", "openai", 12, 7, True, None),
        Served("onprem", "vllm-a", 40, 0, False, "sensitivity"),
        Served("block", None, 0, 0, False, None),
    ]


def test_csv_has_one_row_per_line_and_the_total(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    write_csv(build_report(TRAFFIC, PRICES, SINCE, UNTIL), path)
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        [
            "route",
            "backend",
            "requests",
            "input_tokens",
            "output_tokens",
            "api_spend_usd",
            "onprem_cost_usd",
            "cost_per_1k_requests_usd",
        ],
        ["external", "openai", "6", "6000", "3000", "0.045000", "0.000000", "7.500000"],
        ["onprem", "vllm-a", "4", "3200", "800", "0.000000", "96.000000", "24000.000000"],
        ["all", "all", "10", "9200", "3800", "0.045000", "96.000000", "9604.500000"],
    ]
