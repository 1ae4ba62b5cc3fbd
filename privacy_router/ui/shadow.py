"""Shadow-mode disagreements for the policy page.

With ``policy.shadow_dir`` set, every decision record carries a ``shadow`` field: the candidate
policy's verdict on the same input (policy/lifecycle.py ``ShadowPolicy.compare``), with ``agrees``
false when its (action, backend) differs from the active policy's, or when it failed (``error``).
This summary counts them over the decisions of the page's filter and keeps the newest
disagreements, in one pass over the records (constant memory: a bounded deque).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

LATEST = 20


@dataclass
class ShadowSummary:
    decisions: int = 0  # decisions in the filter
    shadowed: int = 0  # of which carried a shadow verdict
    disagreements: int = 0  # of which the candidate disagreed (an error counts: it did not agree)
    errors: int = 0  # of which the candidate failed to evaluate
    latest: list[dict[str, Any]] = field(default_factory=list)  # newest disagreement first


def shadow_summary(records: Iterable[dict[str, Any]], latest: int = LATEST) -> ShadowSummary:
    """Count shadow verdicts over decision ``records`` (seq order) and keep the newest disagreements."""
    out = ShadowSummary()
    kept: deque[dict[str, Any]] = deque(maxlen=latest)
    for record in records:
        out.decisions += 1
        shadow = record.get("shadow")
        if not isinstance(shadow, dict):
            continue
        out.shadowed += 1
        if shadow.get("error") is True:
            out.errors += 1
        if shadow.get("agrees") is True:
            continue
        out.disagreements += 1
        principal = record.get("principal") or {}
        kept.append(
            {
                "seq": record.get("seq"),
                "record_id": record.get("record_id"),
                "ts": str(record.get("ts", "")).replace("T", " ").rstrip("Z"),
                "tenant": principal.get("tenant"),
                "service": principal.get("service"),
                "active_action": record.get("action"),
                "active_backend": record.get("backend"),
                "active_revision": (record.get("policy") or {}).get("revision"),
                "shadow_action": shadow.get("action"),
                "shadow_backend": shadow.get("backend"),
                "shadow_revision": shadow.get("revision"),
                "error": shadow.get("error") is True,
            }
        )
    out.latest = list(reversed(kept))
    return out
