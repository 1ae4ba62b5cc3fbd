"""The JSON report, the PNG chart and the printed ratios against the goals of issue 4."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

# Goals of issue 4: (label, path into the report, comparison, target).
GOALS: list[tuple[str, tuple[str, ...], str, float]] = [
    (
        "detection throughput, workers vs stock Presidio (1 KB)",
        ("detection", "pool_1kb", "throughput_ratio_vs_stock"),
        ">=",
        3.0,
    ),
    (
        "detection throughput, one process vs stock (1 KB)",
        ("detection", "sets", "prompt_1kb", "throughput_ratio"),
        ">=",
        3.0,
    ),
    (
        "detection throughput, one process vs stock (1 KB), CPU time",
        ("detection", "sets", "prompt_1kb", "cpu_throughput_ratio"),
        ">=",
        3.0,
    ),
    (
        "20-turn chat: request / newest message alone (gateway: answers pre-analysed)",
        ("detection", "chat", "ratio_prewarmed_to_newest_median"),
        "<=",
        1.5,
    ),
    (
        "20-turn chat: request / newest message alone (history cached only)",
        ("detection", "chat", "ratio_cached_to_newest_median"),
        "<=",
        1.5,
    ),
    ("gateway added p50 at 20 req/s (ms)", ("summary", "added_p50_at_20"), "<=", 10.0),
    ("gateway added p99 at 20 req/s (ms)", ("summary", "added_p99_at_20"), "<=", 40.0),
    (
        "added TTFB, on-prem stream, excl. detection (ms)",
        ("gateway", "onprem_stream_ttfb", "added_p50_excluding_pre_forward_ms"),
        "<=",
        5.0,
    ),
    ("policy evaluation p50 (ms)", ("policy", "ms", "p50"), "<=", 0.3),
    ("audit append p99 (ms)", ("audit", "ms", "p99"), "<=", 1.0),
]


def lookup(report: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = report
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def verdict(value: Any, op: str, target: float) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return "n/a"
    ok = value >= target if op == ">=" else value <= target
    return "met" if ok else "NOT met"


def summarise(report: dict[str, Any]) -> None:
    """Adds ``summary`` (added latency at 20 req/s, non-streamed) to the report."""
    points = lookup(report, ("gateway", "points")) or []
    at20 = [p for p in points if p["rate"] == 20 and not p["stream"] and "added_ms" in p]
    summary: dict[str, Any] = {}
    if at20:
        summary["added_p50_at_20"] = at20[0]["added_ms"]["p50"]
        summary["added_p99_at_20"] = at20[0]["added_ms"]["p99"]
    report["summary"] = summary


def goal_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for label, path, op, target in GOALS:
        value = lookup(report, path)
        shown = f"{value:.3f}" if isinstance(value, int | float) else "n/a"
        rows.append((label, f"{shown} (goal {op} {target:g})", verdict(value, op, target)))
    return rows


def write(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path | None]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return json_path, chart(report, out_dir / "latency.png")


def chart(report: dict[str, Any], path: Path) -> Path | None:
    points = lookup(report, ("gateway", "points")) or []
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display: render to a file
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, stream in zip(axes, (False, True), strict=True):
        pts = sorted((p for p in points if p["stream"] == stream), key=lambda p: p["rate"])
        for who, style in (("gateway", "-"), ("direct", "--")):
            for pct, marker in (("p50", "o"), ("p99", "s")):
                xs = [p["rate"] for p in pts if "latency_ms" in p[who]]
                ys = [p[who]["latency_ms"][pct] for p in pts if "latency_ms" in p[who]]
                label = f"{'privacy-router' if who == 'gateway' else 'upstream direct'} {pct}"
                ax.plot(xs, ys, style, marker=marker, label=label)
        limit = lookup(report, ("gateway", "limit_ms"))
        if isinstance(limit, int | float):
            ax.axhline(limit, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title("streamed" if stream else "non-streamed")
        ax.set_xlabel("offered rate (req/s, open loop, 1 KB prompts)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("latency (ms)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
