"""Load shedding at the one place CPU is spent: detection.

A replica that queues every request it is offered stays alive but answers everything late, and
under a 3x overload its queue (and memory, and every request's latency) grows for as long as the
overload lasts. Instead, two rules refuse a new request at once with 503 ``overloaded`` and
Retry-After (errors.Overloaded); nothing is scanned, audited or forwarded for it, and the client
(or the load balancer) retries later or elsewhere:

* a standing queue (the idea of CoDel, RFC 8289): when even the fastest detection that finished
  during the last ``interval_s`` took longer than ``target_s``, requests are waiting behind a queue
  that does not drain, not behind a burst; new requests are shed until a detection again finishes
  within the target. A request is always admitted while no more than ``parallelism`` are in
  detection, so shedding never starves the replica;
* a hard cap: ``limit`` requests already waiting for or in detection.

Streams being relayed hold no slot here: only the CPU-bound part of the request path is counted.
The whole path (event loop, policy call, stream relay) is bounded one level up, before the body is
read, by middleware.InFlightLimit (``server.max_in_flight``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from privacy_router import metrics
from privacy_router.errors import Overloaded


class Admission:
    """Used from the event loop only, so plain attributes are enough."""

    def __init__(
        self,
        limit: int | None,
        *,
        target_s: float | None = 1.0,
        interval_s: float = 1.0,
        parallelism: int = 1,
        retry_after_s: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.target_s = target_s
        self.interval_s = interval_s
        self.parallelism = max(1, parallelism)
        self.retry_after_s = retry_after_s
        self.pending = 0
        self.standing_queue = False
        self._clock = clock
        self._window_start = clock()
        self._window_min: float | None = None

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a detection slot, or raise Overloaded. Time the detection with ``observe``."""
        reason = self._refuse()
        if reason is not None:
            metrics.SHED.labels(reason=reason).inc()
            raise Overloaded("the gateway is overloaded; retry later", retry_after_s=self.retry_after_s)
        self.pending += 1
        metrics.PENDING_DETECTIONS.set(self.pending)
        try:
            yield
        finally:
            self.pending -= 1
            metrics.PENDING_DETECTIONS.set(self.pending)

    def observe(self, elapsed_s: float) -> None:
        """A detection finished after ``elapsed_s`` (queueing included)."""
        if self._window_min is None or elapsed_s < self._window_min:
            self._window_min = elapsed_s
        if self.target_s is not None and self._window_min <= self.target_s:
            self.standing_queue = False  # one fast detection: the queue drained
        self._roll()

    def _refuse(self) -> str | None:
        """Why a new request is refused (the shed metric's reason), or None to admit it."""
        if self.limit is not None and self.pending >= self.limit:
            return "detection_queue"
        self._roll()
        if self.standing_queue and self.pending >= self.parallelism:
            return "standing_queue"
        return None

    def _roll(self) -> None:
        now = self._clock()
        if now - self._window_start < self.interval_s:
            return
        if self.target_s is not None and self._window_min is not None:
            self.standing_queue = self._window_min > self.target_s
        elif self._window_min is None and self.pending == 0:
            self.standing_queue = False  # nothing finished and nothing waits: idle
        self._window_start = now
        self._window_min = None
