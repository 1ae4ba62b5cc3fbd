"""Detection worker processes: same findings as in-process, and a dead worker fails closed."""

from __future__ import annotations

import asyncio
import os
import signal
from concurrent.futures import Future

import pytest

from privacy_router.config import DetectionSettings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.detection.workers import WARM_UP_TEXT, DetectionPool
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


def test_every_fresh_pool_warms_its_workers_on_the_sample_not_a_word(
    detection_engine: DetectionEngine,
) -> None:
    """Start-up and the replacement of a dead pool both warm each worker on ``WARM_UP_TEXT``, which
    reaches the phone and e-mail validators (their data loads on first use); the stand-in executor
    records what would be sent to the worker processes."""
    submitted: list[list[str]] = []

    class Recording:
        def submit(self, fn: object, texts: list[str]) -> Future[list[list[object]]]:
            submitted.append(texts)
            done: Future[list[list[object]]] = Future()
            done.set_result([[]])
            return done

    pool = DetectionPool(DetectionSettings(), 2)
    pool._warm_up(Recording())  # type: ignore[arg-type]  # the stand-in has submit() only
    assert submitted == [[WARM_UP_TEXT], [WARM_UP_TEXT]]
    kinds = {f.entity_type for f in detection_engine.analyze([WARM_UP_TEXT])[0]}
    assert {"PHONE_NUMBER", "EMAIL_ADDRESS"} <= kinds


def test_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError):
        DetectionPool(DetectionSettings(), 0)
