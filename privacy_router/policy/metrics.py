"""Prometheus metrics of the policy lifecycle. Labels are closed sets: never content."""

from __future__ import annotations

from prometheus_client import Counter

RELOADS = Counter(
    "privacy_router_policy_reloads_total",
    "Policy hot reloads by result (ok: swapped in; failed: compile error or failing Rego tests, "
    "the previous policy stays active).",
    ["result"],
)
SHADOW = Counter(
    "privacy_router_policy_shadow_total",
    "Shadow (candidate) policy evaluations by result: agree, disagree (action or backend differs), "
    "error (the candidate failed; the active decision stands).",
    ["result"],
)
