"""Policy evaluation and audit append, each timed alone (threats.md 5: separate spans)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from privacy_router.audit.bench import bench_record
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.bench import stats
from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.policy.inputs import example_input

# One e-mail address found; one external backend (the policy tests' example otherwise).
POLICY_INPUT = example_input(
    detection={
        "categories": ["PII"],
        "entities": [
            {"type": "EMAIL_ADDRESS", "count": 1, "max_score": 1.0, "fields": ["messages[0].content"]}
        ],
    },
    backends={"external": [{"name": "openai", "region": "us", "zero_data_retention": True, "healthy": True}]},
)


def policy(n: int) -> dict[str, Any]:
    engine = EmbeddedPolicyEngine()
    engine.evaluate(POLICY_INPUT)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        engine.evaluate(POLICY_INPUT)
        samples.append((time.perf_counter() - t0) * 1000)
    return {"ms": stats.summary(samples), "action": engine.evaluate(POLICY_INPUT).action}


def audit(n: int, directory: Path | None = None) -> dict[str, Any]:
    record = bench_record()
    samples = []
    with tempfile.TemporaryDirectory(dir=directory) as d, SqliteAuditStore(Path(d) / "audit.db") as store:
        for _ in range(n):
            t0 = time.perf_counter()
            store.append(record)
            samples.append((time.perf_counter() - t0) * 1000)
    return {"ms": stats.summary(samples), "synchronous": "FULL"}
