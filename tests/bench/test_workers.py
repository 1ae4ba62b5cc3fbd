"""Detection worker processes: same findings as in-process, and a dead worker fails closed."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from privacy_router.config import DetectionSettings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.detection.workers import DetectionPool
from privacy_router.errors import DetectionError

TEXTS = ["Patient MRN 00482913, call 212-555-0187 or write to jane.roe@example.com.", "Name three colours."]


def test_worker_findings_equal_in_process_findings_and_a_killed_worker_fails_closed(
    detection_engine: DetectionEngine,
) -> None:
    pool = DetectionPool(DetectionSettings(), 1).start()
    try:
        assert asyncio.run(pool.analyze(TEXTS, timeout_s=120)) == detection_engine.analyze(TEXTS)
        (pid,) = pool.pids()
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(DetectionError, match=r"^detection worker died$"):
            asyncio.run(pool.analyze(TEXTS, timeout_s=120))
        assert pool.restarts == 1
        # The replacement pool serves the next request.
        assert asyncio.run(pool.analyze(TEXTS[1:], timeout_s=300)) == [[]]
        assert pool.pids() != [pid]
    finally:
        pool.close()


def test_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError):
        DetectionPool(DetectionSettings(), 0)
