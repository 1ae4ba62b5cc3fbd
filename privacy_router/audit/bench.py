"""Append latency of the SQLite store (synchronous=FULL): ``python -m privacy_router.audit.bench [N] [DIR]``.

Each append is one durable transaction (fsync of the WAL), which is what the request path pays
before forwarding. Prints p50/p99/max in milliseconds.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from privacy_router.audit.records import decision_record
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.types import Decision, PolicyInfo, Principal


def bench_record() -> dict[str, Any]:
    """A realistic decision record (the same one every time; the store adds seq, ts, record_id)."""
    return decision_record(
        request_id="bench",
        principal=Principal("bench", "bench", "US"),
        endpoint="chat.completions",
        model="gpt-4o",
        decision=Decision(action="onprem", backend="vllm-a", reasons=("PHI present",)),
        backend_region="us-east",
        policy=PolicyInfo(revision="r1", files_hash="0" * 64, engine="embedded"),
        pack_versions={"core": "1.0.0"},
        entities=[{"type": "US_SSN", "count": 1, "max_score": 0.95, "fields": ["messages[0].content"]}],
        categories=["PHI"],
        unscannable_parts=0,
        prompt_hmac="0" * 64,
        policy_input={"request": {"endpoint": "chat.completions", "stream": False}},
    )


def run(n: int, directory: Path) -> dict[str, float]:
    record = bench_record()
    samples: list[float] = []
    with SqliteAuditStore(directory / "bench-audit.db") as store:
        for _ in range(n):
            t = time.perf_counter()
            store.append(record)
            samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {
        "n": n,
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[min(n - 1, int(n * 0.99))],
        "max_ms": samples[-1],
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory(dir=sys.argv[2] if len(sys.argv) > 2 else None) as d:
        result = run(n, Path(d))
    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
