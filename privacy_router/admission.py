"""Load shedding at the one place CPU is spent: detection.

A replica that queues every request it is offered stays alive but answers everything late, and
under a 3x overload its queue (and memory) grows for as long as the overload lasts. Instead, a
request that finds ``limit`` others already waiting for or in detection is refused at once with
503 ``overloaded`` and Retry-After (errors.Overloaded): nothing is scanned, audited or forwarded,
and the client (or the load balancer) retries later or elsewhere. Streams being relayed hold no
slot: only the CPU-bound part of the request path is counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from privacy_router import metrics
from privacy_router.errors import Overloaded


class Admission:
    """Counts requests in the detection phase; ``slot()`` refuses past ``limit`` (None: no limit).

    Used from the event loop only, so a plain integer is enough.
    """

    def __init__(self, limit: int | None, retry_after_s: int = 1) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.pending = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.limit is not None and self.pending >= self.limit:
            metrics.SHED.inc()
            raise Overloaded("the gateway is overloaded; retry later", retry_after_s=self.retry_after_s)
        self.pending += 1
        metrics.PENDING_DETECTIONS.set(self.pending)
        try:
            yield
        finally:
            self.pending -= 1
            metrics.PENDING_DETECTIONS.set(self.pending)
