"""deploy/observability: alert rules and dashboard parse and name only metrics that exist."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
import yaml

OBS = Path(__file__).resolve().parents[2] / "deploy" / "observability"


def test_alert_rules_parse_and_reference_only_known_metrics(validate: ModuleType) -> None:
    assert validate.alert_rule_problems() == []


def test_alert_rules_cover_what_issue_9_asks_for() -> None:
    groups = yaml.safe_load((OBS / "alerts.yaml").read_text())["groups"]
    alerts = {r["alert"]: r["labels"]["severity"] for g in groups for r in g["rules"]}
    assert alerts == {
        "PrivacyRouterFailClosed": "page",
        "PrivacyRouterResidualFinding": "ticket",
        "PrivacyRouterBlockedRateHigh": "ticket",
        "PrivacyRouterExternalShareJump": "ticket",
        "PrivacyRouterAuditWriteFailures": "page",
        "PrivacyRouterAuditWriteSlow": "ticket",
        "PrivacyRouterChainCheckpointFailed": "page",
        "PrivacyRouterChainCheckpointStale": "page",
        "PrivacyRouterDetectorSlow": "ticket",
        "PrivacyRouterShedding": "ticket",
        "PrivacyRouterUpstreamErrors": "page",
        "PrivacyRouterReplicasDown": "page",
    }


def test_alert_check_reports_a_metric_the_router_does_not_define(
    validate: ModuleType, tmp_path: Path
) -> None:
    """The check can fail: a misspelt metric name is reported by alert name."""
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        "groups:\n- name: g\n  rules:\n  - alert: Typo\n"
        "    expr: sum(rate(privacy_router_decision_total[5m])) > 0\n"
        "    labels: {severity: page}\n    annotations: {summary: s}\n"
    )
    assert validate.alert_rule_problems(rules) == ["Typo: unknown metric privacy_router_decision_total"]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (reason) (rate(a_total{reason="x y"}[5m])) > 0.1', {"a_total"}),
        ("histogram_quantile(0.99, sum by (le) (rate(b_bucket[$__rate_interval])))", {"b_bucket"}),
        ("a / clamp_min(sum(rate(b[1h] offset 1w)), 1e-9) > 1.5 * c", {"a", "b", "c"}),
        (
            'time() - max(kube_cronjob_status_last_successful_time{cronjob="x"}) > 3600',
            {"kube_cronjob_status_last_successful_time"},
        ),
    ],
    ids=["grouping-and-labels", "histogram-and-grafana-interval", "offset-and-exponent", "time-function"],
)
def test_promql_metric_names(validate: ModuleType, expr: str, names: set[str]) -> None:
    assert validate.promql_metric_names(expr) == names


def test_router_metric_names_expand_counters_and_histograms(validate: ModuleType) -> None:
    names = validate.router_metric_names()
    expected = {
        "privacy_router_decisions_total",
        "privacy_router_fail_closed_total",
        "privacy_router_requests_total",
        "privacy_router_upstream_errors_total",
        "privacy_router_step_seconds_bucket",
        "privacy_router_step_seconds_count",
        "privacy_router_step_seconds_sum",
    }
    assert expected - names == set()
    assert "privacy_router_step_seconds" not in names  # a histogram has no bare series


def test_dashboard_is_valid_json_with_known_metrics(validate: ModuleType) -> None:
    dashboard = json.loads((OBS / "grafana-dashboard.json").read_text())
    assert validate.dashboard_problems() == []
    assert (dashboard["uid"], len(dashboard["panels"])) == ("privacy-router", 12)
    assert len({p["id"] for p in dashboard["panels"]}) == 12


def test_every_router_metric_is_documented_in_docs_metrics(validate: ModuleType) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    families = {
        n.removesuffix("_total").removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
        for n in validate.router_metric_names()
        if not n.endswith("_created")
    }
    assert sorted(f for f in families if f"`{f}" not in doc) == []
    assert sorted(m for m in validate.EXTERNAL_METRICS if f"`{m}`" not in doc) == []
