"""Detection in worker processes: CPU work off the event loop, on every core.

``DetectionEngine.analyze`` is pure Python and C extensions that hold the GIL (Presidio's
recognizer loop, spaCy's tokenizer); run in a thread of the gateway process it stalls the event
loop for the whole scan, and two scans never overlap. ``DetectionPool`` runs it in N processes
(``detection.workers``), each of which loads the engine once, at start-up:

* processes are started with ``spawn``: forking a process that already runs threads (uvicorn,
  httpx, the audit store) can copy a held lock into the child (Python docs, "Contexts and start
  methods"; the default changes away from fork in 3.14 for this reason);
* ``start()`` blocks until every worker has loaded its engine and answered, so a gateway that
  reports ready has warm workers;
* a batch of texts is one submission: pickling a few KB costs microseconds, next to the scan;
* a worker that dies (``BrokenProcessPool``) or a scan that outlives the deadline is a detection
  failure: ``analyze`` raises ``DetectionError`` or ``TimeoutError``, which the pipeline reports
  to the policy as ``error``/``timeout`` (fail closed). The pool is then replaced, because a
  process pool cannot cancel a running call: a worker stuck on one pathological text would
  otherwise stay stuck. Requests in flight on the old pool fail closed too.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import structlog

from privacy_router.config import DetectionSettings
from privacy_router.errors import DetectionError
from privacy_router.types import Finding

log = structlog.get_logger("privacy_router.detection.workers")

# The engine of this worker process (None in the gateway process).
_ENGINE: object | None = None

# Scanned by every fresh worker (and by ``Gateway.warm_up``) before it serves a request. A plain word
# loads spaCy but not what the validators load on their first candidate: phonenumbers' per-region
# metadata and patterns, and tldextract's suffix table for e-mail domains (a few hundred ms of a fresh
# process's first scan, docs/performance.md "Cold start"). Made up, with reserved values only:
# example.com and example.org (RFC 2606), a 555-01xx number (fictional in the NANP) and 192.0.2.10
# (RFC 5737).
WARM_UP_TEXT = (
    "Warm-up sample, no real data: Jane Doe (jane.doe@example.com, +1 202-555-0147) "
    "asked on 12 March 2024 about 192.0.2.10 and https://www.example.org/a."
)


def _init_worker(settings: DetectionSettings) -> None:
    global _ENGINE
    from privacy_router.detection.engine import DetectionEngine

    _ENGINE = DetectionEngine.from_settings(settings)


def _analyze_in_worker(texts: list[str]) -> list[list[Finding]]:
    from privacy_router.detection.engine import DetectionEngine

    engine = _ENGINE
    if not isinstance(engine, DetectionEngine):
        raise DetectionError("detection worker has no engine")
    return engine.analyze(texts)


def _worker_pid() -> int:
    return os.getpid()


class DetectionPool:
    """N detection worker processes behind one async ``analyze``."""

    def __init__(self, settings: DetectionSettings, workers: int, *, start_timeout_s: float = 300.0) -> None:
        if workers < 1:
            raise ValueError("a detection pool needs at least one worker")
        self.settings = settings
        self.workers = workers
        self.start_timeout_s = start_timeout_s
        self.restarts = 0
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        # ids of executors whose workers have all loaded their engine. A timeout while a fresh
        # pool is still loading is not the workers' fault: replacing it again would never end.
        self._warm: set[int] = set()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.settings,),
        )

    def start(self) -> DetectionPool:
        """Start every worker and wait until each has loaded its engine."""
        with self._lock:
            if self._executor is None:
                self._executor = self._new_executor()
            executor = self._executor
        self._warm_up(executor)
        return self

    def _warm_up(self, executor: ProcessPoolExecutor) -> None:
        # Python 3.9+ spawns a worker only when none is idle; submitting N calls back to back
        # makes all N start (and proves each engine answers). A pool that replaces a dead one warms
        # the same way, so the request after a worker crash does not pay the cold start either.
        warm: list[Future[list[list[Finding]]]] = [
            executor.submit(_analyze_in_worker, [WARM_UP_TEXT]) for _ in range(self.workers)
        ]
        for f in warm:
            f.result(timeout=self.start_timeout_s)
        with self._lock:
            self._warm.add(id(executor))

    def pids(self) -> list[int]:
        """Process ids of the live workers (for resident-memory measurements)."""
        executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        return sorted(int(pid) for pid in processes)

    async def analyze(self, texts: list[str], timeout_s: float) -> list[list[Finding]]:
        """Findings per text from a worker; DetectionError or TimeoutError on failure."""
        with self._lock:
            if self._executor is None:
                self._executor = self._new_executor()
            executor = self._executor
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(executor, _analyze_in_worker, texts)
            results = await asyncio.wait_for(future, timeout=timeout_s)
        except TimeoutError:
            self._replace(executor, "timeout")
            raise
        except BrokenProcessPool:
            self._replace(executor, "worker_died")
            raise DetectionError("detection worker died") from None
        except DetectionError:
            raise
        except Exception as exc:
            raise DetectionError(f"detection failed in worker ({type(exc).__name__})") from None
        if len(results) != len(texts):
            raise DetectionError("detector returned a result of the wrong length")
        return results

    def _replace(self, broken: ProcessPoolExecutor, reason: str) -> None:
        """Kill the workers of ``broken`` (a running call cannot be cancelled) and start afresh."""
        with self._lock:
            if self._executor is not broken:
                return  # another request already replaced it
            if reason == "timeout" and id(broken) not in self._warm:
                return  # still loading engines: the deadline says nothing about the workers
            fresh = self._new_executor()
            self._executor = fresh
            self._warm.discard(id(broken))
            self.restarts += 1
        log.warning("detection_pool_replaced", reason=reason, restarts=self.restarts)
        _kill(broken)
        threading.Thread(target=self._warm_quietly, args=(fresh,), daemon=True).start()

    def _warm_quietly(self, executor: ProcessPoolExecutor) -> None:
        try:
            self._warm_up(executor)
        except Exception:  # the next request on this pool fails closed and replaces it
            log.warning("detection_pool_warm_up_failed")

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            self._warm.discard(id(executor))
            _kill(executor)


def _kill(executor: ProcessPoolExecutor) -> None:
    processes = list((getattr(executor, "_processes", None) or {}).values())
    for p in processes:
        if p.is_alive():
            p.terminate()
    executor.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        p.join(timeout=5)
