"""The benchmark's arithmetic: percentiles, added latency, sustained rate, leak rate."""

from __future__ import annotations

import math

import pytest

from privacy_router.bench import stats

HUNDRED = [float(i) for i in range(1, 101)]


@pytest.mark.parametrize(
    ("samples", "p", "expected"),
    [
        pytest.param(HUNDRED, 50, 50.0, id="median-of-1-to-100"),
        pytest.param(HUNDRED, 99, 99.0, id="p99-of-1-to-100"),
        pytest.param(HUNDRED, 100, 100.0, id="p100-is-max"),
        pytest.param([3.0, 1.0, 2.0], 50, 2.0, id="unsorted-input"),
        pytest.param([5.0], 99, 5.0, id="one-sample"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 50, 2.0, id="nearest-rank-not-interpolated"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 1, 1.0, id="tiny-p-is-min"),
    ],
)
def test_percentile_is_nearest_rank(samples: list[float], p: float, expected: float) -> None:
    assert stats.percentile(samples, p) == expected


@pytest.mark.parametrize(("samples", "p"), [([], 50), ([1.0], 0), ([1.0], 101)], ids=["empty", "p0", "p101"])
def test_percentile_rejects_bad_input(samples: list[float], p: float) -> None:
    with pytest.raises(ValueError):
        stats.percentile(samples, p)


def test_summary_of_1_to_100() -> None:
    assert stats.summary(HUNDRED) == {
        "n": 100.0,
        "mean": 50.5,
        "p50": 50.0,
        "p95": 95.0,
        "p99": 99.0,
        "max": 100.0,
    }


def test_added_is_per_percentile_difference() -> None:
    ours = {"p50": 12.0, "p95": 30.0, "p99": 45.5}
    direct = {"p50": 2.0, "p95": 4.0, "p99": 5.5}
    assert stats.added(ours, direct) == {"p50": 10.0, "p95": 26.0, "p99": 40.0}


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [pytest.param(6.0, 2.0, 3.0, id="plain"), pytest.param(1.0, 0.0, math.inf, id="zero-denominator")],
)
def test_ratio(num: float, den: float, expected: float) -> None:
    assert stats.ratio(num, den) == expected


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        pytest.param([(5, 20.0, 0.0), (10, 40.0, 0.0), (20, 150.0, 0.0)], 10, id="p99-crosses-at-20"),
        pytest.param([(20, 150.0, 0.0), (5, 20.0, 0.0), (10, 40.0, 0.0)], 10, id="unordered-points"),
        pytest.param([(5, 20.0, 0.0), (10, 40.0, 0.01), (20, 50.0, 0.0)], 5, id="errors-count-as-failure"),
        pytest.param(
            [(5, 20.0, 0.0), (10, 140.0, 0.0), (20, 50.0, 0.0)], 5, id="no-recovery-above-a-failure"
        ),
        pytest.param([(5, 101.0, 0.0)], None, id="lowest-rate-fails"),
        pytest.param([(5, 100.0, 0.0)], 5, id="limit-is-inclusive"),
    ],
)
def test_max_sustained_rate(points: list[tuple[float, float, float]], expected: float | None) -> None:
    assert stats.max_sustained_rate(points, 100.0) == expected


@pytest.mark.parametrize(
    ("span", "findings", "expected"),
    [
        pytest.param((10, 20), [(10, 20)], True, id="exact"),
        pytest.param((10, 20), [(0, 30)], True, id="inside-longer"),
        pytest.param((10, 20), [(10, 15), (15, 20)], True, id="two-adjacent-pieces"),
        pytest.param((10, 20), [(10, 19)], False, id="last-char-exposed"),
        pytest.param((10, 20), [(10, 14), (15, 20)], False, id="gap-in-the-middle"),
        pytest.param((10, 20), [], False, id="no-findings"),
    ],
)
def test_covered(span: tuple[int, int], findings: list[tuple[int, int]], expected: bool) -> None:
    assert stats.covered(span, findings) is expected


def test_leak_rate_counts_uncovered_spans_per_kind() -> None:
    planted = [[(0, 5, "EMAIL"), (10, 15, "PHONE")], [(3, 8, "EMAIL")], []]
    found = [[(0, 5)], [(3, 6)], [(0, 4)]]
    rate, per_kind = stats.leak_rate(planted, found)
    assert (rate, per_kind) == (2 / 3, {"EMAIL": (1, 2), "PHONE": (1, 1)})


def test_leak_rate_needs_one_result_per_text() -> None:
    with pytest.raises(ValueError):
        stats.leak_rate([[(0, 1, "X")]], [])
