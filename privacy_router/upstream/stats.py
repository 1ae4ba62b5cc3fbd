"""The gateway's own view of each backend's speed and load, for the routing policy.

``BackendStats`` keeps, per backend name, the latencies of its last ``window`` successful upstream
exchanges (from sending the request to the end of the answer, streamed or not) and the requests
currently outstanding (sent, answer not finished). ``pipeline.build_policy_input`` puts
``latency_ms {p50, p95, samples}`` and ``load {outstanding}`` of every backend in the policy input;
the shipped preference policy (policies/privacy_router/preference.rego) reads them.

Nearest-rank percentiles over a bounded window: cheap (a sort of at most ``window`` floats per
backend, only when the policy input is built) and no state that grows with traffic.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any

DEFAULT_WINDOW = 200


def nearest_rank(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0 < q <= 100) by the nearest-rank method: the smallest value with at
    least q% of the values at or below it."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


class BackendStats:
    """Rolling latency window and outstanding-request count per backend. Thread-safe."""

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self._window = window
        self._latencies: dict[str, deque[float]] = {}
        self._outstanding: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def begin(self, backend: str, request_id: str) -> None:
        """A request was sent to ``backend``."""
        with self._lock:
            self._outstanding.setdefault(backend, set()).add(request_id)

    def end(self, backend: str, request_id: str, latency_ms: float | None) -> None:
        """The exchange finished; ``latency_ms`` is recorded when given (successful answers only).

        Ending a request that was never begun is a no-op for the load count, so callers on error
        paths need not know whether ``begin`` ran."""
        with self._lock:
            self._outstanding.get(backend, set()).discard(request_id)
            if latency_ms is not None and math.isfinite(latency_ms) and latency_ms >= 0:
                window = self._latencies.setdefault(backend, deque(maxlen=self._window))
                window.append(latency_ms)

    def outstanding(self, backend: str) -> int:
        with self._lock:
            return len(self._outstanding.get(backend, ()))

    def latency(self, backend: str) -> dict[str, Any]:
        """``{"p50": ms, "p95": ms, "samples": n}``; p50 and p95 are null before the first sample."""
        with self._lock:
            values = sorted(self._latencies.get(backend, ()))
        if not values:
            return {"p50": None, "p95": None, "samples": 0}
        return {
            "p50": round(nearest_rank(values, 50), 3),
            "p95": round(nearest_rank(values, 95), 3),
            "samples": len(values),
        }
