"""The arithmetic of the benchmark, kept apart so that it is tested (tests/bench/test_stats.py).

Percentiles use the nearest-rank method (the value at rank ceil(p/100 * n) of the sorted
samples), the definition load-testing tools such as wrk2 and HdrHistogram report: every reported
percentile is a latency that some request really had.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; ``p`` in (0, 100]. ValueError on no samples."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100]")
    ordered = sorted(samples)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def summary(samples: Sequence[float]) -> dict[str, float]:
    """n, mean, p50, p95, p99 and max of latencies (same unit in, same unit out)."""
    return {
        "n": float(len(samples)),
        "mean": sum(samples) / len(samples),
        "p50": percentile(samples, 50),
        "p95": percentile(samples, 95),
        "p99": percentile(samples, 99),
        "max": max(samples),
    }


def added(ours: dict[str, float], baseline: dict[str, float]) -> dict[str, float]:
    """Per-percentile difference: what the gateway adds over calling the upstream directly."""
    return {k: ours[k] - baseline[k] for k in ("p50", "p95", "p99")}


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator; infinity when the denominator is zero."""
    return math.inf if denominator == 0 else numerator / denominator


def max_sustained_rate(points: Iterable[tuple[float, float, float]], limit_ms: float) -> float | None:
    """Highest offered rate whose p99 stayed within ``limit_ms`` and whose error rate was 0,
    among ``(rate, p99_ms, error_fraction)`` points, and below which every rate also passed.
    None when even the lowest rate failed."""
    best: float | None = None
    for rate, p99, errors in sorted(points):
        if p99 > limit_ms or errors > 0:
            break
        best = rate
    return best


def covered(span: tuple[int, int], findings: Iterable[tuple[int, int]]) -> bool:
    """True when every character of ``span`` lies inside at least one finding."""
    start, end = span
    chars = set(range(start, end))
    for s, e in findings:
        chars.difference_update(range(s, e))
        if not chars:
            return True
    return not chars


def leak_rate(
    planted: Sequence[Sequence[tuple[int, int, str]]], found: Sequence[Sequence[tuple[int, int]]]
) -> tuple[float, dict[str, tuple[int, int]]]:
    """Fraction of planted identifiers not fully covered, and (leaked, planted) per kind."""
    if len(planted) != len(found):
        raise ValueError("one list of findings per text")
    per_kind: dict[str, list[int]] = {}
    leaked_total = total = 0
    for spans, fs in zip(planted, found, strict=True):
        for start, end, kind in spans:
            leaked = 0 if covered((start, end), fs) else 1
            counts = per_kind.setdefault(kind, [0, 0])
            counts[0] += leaked
            counts[1] += 1
            leaked_total += leaked
            total += 1
    rate = leaked_total / total if total else 0.0
    return rate, {k: (v[0], v[1]) for k, v in sorted(per_kind.items())}
