"""Prometheus metrics. Labels carry actions, steps, reasons and backend names: never content."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DECISIONS = Counter("privacy_router_decisions_total", "Routing decisions by action.", ["action"])
REQUESTS = Counter(
    "privacy_router_requests_total",
    "Requests answered, by endpoint, route and status.",
    ["endpoint", "route", "status"],
)
FAIL_CLOSED = Counter(
    "privacy_router_fail_closed_total",
    "Requests refused or kept on-prem because a dependency failed.",
    ["reason"],
)
STEP_SECONDS = Histogram(
    "privacy_router_step_seconds",
    "Time spent in each pipeline step.",
    ["step"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
UPSTREAM_ERRORS = Counter(
    "privacy_router_upstream_errors_total", "Upstream failures by backend.", ["backend", "kind"]
)
REJECTED = Counter(
    "privacy_router_rejected_total",
    "Requests refused by the hostile-input guards before any routing, by reason.",
    ["reason"],
)
PENDING_DETECTIONS = Gauge(
    "privacy_router_pending_detections", "Requests waiting for or in detection on this replica."
)
SHED = Counter(
    "privacy_router_shed_total",
    "Requests refused with 503 overloaded before any work, by reason: in_flight (whole-path cap), "
    "detection_queue (pending detections cap), standing_queue (slow detections, CoDel).",
    ["reason"],
)
IN_FLIGHT = Gauge("privacy_router_in_flight", "/v1/* requests in flight on this replica (head to last byte).")
