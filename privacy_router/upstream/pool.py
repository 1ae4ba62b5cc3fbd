"""A backend made of several identical replicas (a vLLM pool), and the health monitor.

Every configured backend is a ``Pool``: one ``url`` is a pool of one, ``replicas: [...]`` a pool of
several. To the policy a pool is ONE backend (its name, region and models); it is healthy when at
least one replica is admitted. Inside the pool:

- **health**: ``HealthMonitor`` probes every replica (``GET /health``, see the adapters) every
  ``backends.pool.health_interval_s`` in a background task started and stopped with the app;
- **balancing**: least outstanding requests among admitted replicas (ties: round robin);
- **ejection**: a replica whose requests failed ``eject_after_failures`` times in a row (connection
  error, timeout, 5xx answer) is out for ``cooldown_s``; it is admitted again once the cool-down is
  over AND its last health check passed (probes go on while it is out). A success resets the count;
  a failure right after re-admission ejects it again at once. The last admitted replica is never
  ejected (a pool of one is taken out only by its health check);
- **failover**: a request that failed on one replica before any answer byte came back is sent to
  the next best replica, up to ``max_attempts`` replicas. With no other replica left, only a dropped
  connection is retried on the same replica (the keep-alive race: the replica closed an idle
  connection just as the router reused it, so the request never ran); a 5xx or a timeout is not.
- **model aliasing**: ``model_aliases`` rewrites the ``model`` of the body just before sending.

Each replica attempt is appended to the list in ``ATTEMPTS`` when the caller set one (api/proxy.py
audits them); entries hold the backend name, the replica index, and a status or an error code. Never
a URL or anything from the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from prometheus_client import Counter, Gauge

from privacy_router.config import BackendSettings, PoolSettings, ServerSettings, Settings
from privacy_router.errors import UpstreamError
from privacy_router.upstream.base import Backend, UpstreamResponse, UpstreamStream
from privacy_router.upstream.registry import BACKEND_KINDS

log = structlog.get_logger("privacy_router.pool")

REPLICAS_ADMITTED = Gauge(
    "privacy_router_backend_replicas_admitted",
    "Replicas of a backend currently taking requests.",
    ["backend"],
)
EJECTIONS = Counter(
    "privacy_router_replica_ejections_total", "Replicas ejected after consecutive failures.", ["backend"]
)

# The per-request list the pool appends its replica attempts to (set by api/proxy.py).
ATTEMPTS: ContextVar[list[dict[str, Any]] | None] = ContextVar("privacy_router_attempts", default=None)

# UpstreamError codes that mean "the connection broke before an answer": safe to resend once.
_DROPPED = "upstream_error"


@dataclass
class Replica:
    index: int
    backend: Backend
    healthy: bool = False  # last health check; never probed counts as unhealthy
    outstanding: int = 0
    failures: int = 0  # consecutive failed requests
    ejected_until: float = 0.0  # monotonic deadline of the current ejection

    def admitted(self, now: float) -> bool:
        return self.healthy and now >= self.ejected_until


class Pool:
    """``Backend`` over one or more replicas of the same backend (same models, same region)."""

    def __init__(
        self,
        settings: BackendSettings,
        replicas: Sequence[Backend],
        pool: PoolSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not replicas:
            raise ValueError("a pool needs at least one replica")
        self.settings = settings
        self.name = settings.name
        self.region = settings.region
        self.kind = replicas[0].kind
        self.replicas = [Replica(i, r) for i, r in enumerate(replicas)]
        self._pool = pool or PoolSettings()
        self._clock = clock
        self._turn = itertools.count()

    # -- state -------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """At least one replica takes requests (what the policy input reports)."""
        now = self._clock()
        return any(r.admitted(now) for r in self.replicas)

    def _publish(self) -> None:
        now = self._clock()
        REPLICAS_ADMITTED.labels(backend=self.name).set(sum(r.admitted(now) for r in self.replicas))

    def _pick(self, tried: set[int]) -> Replica | None:
        """The admitted, untried replica with the fewest outstanding requests; ties rotate."""
        now = self._clock()
        free = [r for r in self.replicas if r.index not in tried and r.admitted(now)]
        if not free:
            return None
        start = next(self._turn) % len(self.replicas)
        return min(free, key=lambda r: (r.outstanding, (r.index - start) % len(self.replicas)))

    def _succeeded(self, replica: Replica) -> None:
        replica.failures = 0

    def _failed(self, replica: Replica) -> None:
        replica.failures += 1
        now = self._clock()
        # Never eject the last admitted replica: ejection moves load to the others, and with none
        # left it would turn one request's 5xx into an outage of the whole backend for cooldown_s
        # (Envoy's outlier detection has the same floor). Whether a backend is down at all is the
        # health monitor's call.
        others = any(r.admitted(now) for r in self.replicas if r is not replica)
        if replica.failures >= self._pool.eject_after_failures and others:
            replica.ejected_until = now + self._pool.cooldown_s
            EJECTIONS.labels(backend=self.name).inc()
            log.warning(
                "replica_ejected", backend=self.name, replica=replica.index, failures=replica.failures
            )
        self._publish()

    def _record(self, replica: Replica, *, status: int | None = None, error: str | None = None) -> None:
        attempts = ATTEMPTS.get()
        if attempts is not None:
            attempts.append(
                {"backend": self.name, "replica": replica.index, "status": status, "error": error}
            )

    def _next(self, tried: set[int], last: Replica, error: UpstreamError | None) -> Replica | None:
        """Where the next attempt goes, or None to give up (see the module doc, "failover")."""
        if len(tried) >= self._pool.max_attempts:
            return None
        other = self._pick(tried)
        if other is not None:
            return other
        if error is not None and error.code == _DROPPED and len(tried) == 1 and self._admits(last):
            return last
        return None

    def _admits(self, replica: Replica) -> bool:
        return replica.admitted(self._clock())

    def _unavailable(self) -> UpstreamError:
        return UpstreamError(
            f"backend {self.name!r} has no healthy replica", status_code=503, code="upstream_unavailable"
        )

    def _body(self, body: dict[str, Any]) -> dict[str, Any]:
        model = body.get("model")
        target = self.settings.model_aliases.get(model) if isinstance(model, str) else None
        return {**body, "model": target} if target else body

    # -- Backend -------------------------------------------------------------------------------

    async def send(self, path: str, body: dict[str, Any], *, request_id: str) -> UpstreamResponse:
        body = self._body(body)
        replica = self._pick(set())
        if replica is None:
            raise self._unavailable()
        tried: set[int] = set()
        while True:
            tried.add(replica.index)
            replica.outstanding += 1
            try:
                response = await replica.backend.send(path, body, request_id=request_id)
            except UpstreamError as exc:
                error: UpstreamError | None = exc
            else:
                error = None
            finally:
                replica.outstanding -= 1
            if error is None and response.status < 500:
                self._record(replica, status=response.status)
                self._succeeded(replica)
                return response
            self._record(
                replica, status=None if error else response.status, error=error.code if error else None
            )
            self._failed(replica)
            nxt = self._next(tried, replica, error)
            if nxt is None:
                if error is not None:
                    raise error
                return response
            replica = nxt

    def stream(
        self, path: str, body: dict[str, Any], *, request_id: str
    ) -> AbstractAsyncContextManager[UpstreamStream]:
        return self._stream(path, self._body(body), request_id)

    @asynccontextmanager
    async def _stream(
        self, path: str, body: dict[str, Any], request_id: str
    ) -> AsyncIterator[UpstreamStream]:
        replica = self._pick(set())
        if replica is None:
            raise self._unavailable()
        tried: set[int] = set()
        while True:
            tried.add(replica.index)
            attempt = contextlib.AsyncExitStack()
            replica.outstanding += 1
            attempt.callback(_release, replica)
            try:
                upstream = await attempt.enter_async_context(
                    replica.backend.stream(path, body, request_id=request_id)
                )
            except UpstreamError as exc:
                await attempt.aclose()
                self._record(replica, error=exc.code)
                self._failed(replica)
                nxt = self._next(tried, replica, exc)
                if nxt is None:
                    raise
                replica = nxt
                continue
            except BaseException:
                await attempt.aclose()
                raise
            self._record(replica, status=upstream.status)
            if upstream.status < 500:
                self._succeeded(replica)
                break
            self._failed(replica)
            nxt = self._next(tried, replica, None)
            if nxt is None:
                break  # hand the last error answer to the caller, unread
            await attempt.aclose()
            replica = nxt
        async with attempt:
            yield upstream

    async def health(self) -> bool:
        await self.refresh(self._pool.health_timeout_s)
        return self.healthy

    async def refresh(self, timeout_s: float) -> bool:
        """Probe every replica concurrently; a probe that raises or overruns counts as failed."""

        async def probe(replica: Replica) -> bool:
            try:
                return await asyncio.wait_for(replica.backend.health(), timeout_s)
            except (TimeoutError, UpstreamError, httpx.HTTPError):
                return False

        results = await asyncio.gather(*(probe(r) for r in self.replicas))
        for replica, ok in zip(self.replicas, results, strict=True):
            if ok != replica.healthy:
                log.info("replica_health", backend=self.name, replica=replica.index, healthy=ok)
            replica.healthy = ok
        self._publish()
        return self.healthy


def _release(replica: Replica) -> None:
    replica.outstanding -= 1


def build_pools(settings: Settings, client: httpx.AsyncClient) -> tuple[list[Pool], list[Pool]]:
    """Every configured backend as a pool: ``(onprem, external)``, in configuration order.
    Each replica is an adapter of the backend's kind (``BACKEND_KINDS``) for one URL."""
    server: ServerSettings = settings.server

    def build(items: Sequence[BackendSettings]) -> list[Pool]:
        pools = []
        for b in items:
            replicas = [
                BACKEND_KINDS[b.kind](b.model_copy(update={"url": url, "replicas": ()}), client, server)
                for url in b.urls
            ]
            pools.append(Pool(b, replicas, settings.backends.pool))
        return pools

    return build(settings.backends.onprem), build(settings.backends.external)


class HealthMonitor:
    """Probes every pool in the background; ``healthy(name)`` is what the policy input reports."""

    def __init__(self, pools: Sequence[Pool], settings: PoolSettings | None = None) -> None:
        self._pools = {p.name: p for p in pools}
        self._settings = settings or PoolSettings()
        self._task: asyncio.Task[None] | None = None

    def healthy(self, name: str) -> bool:
        pool = self._pools.get(name)
        return pool is not None and pool.healthy

    def snapshot(self) -> dict[str, bool]:
        return {name: pool.healthy for name, pool in self._pools.items()}

    async def refresh(self) -> dict[str, bool]:
        timeout = self._settings.health_timeout_s
        await asyncio.gather(*(p.refresh(timeout) for p in self._pools.values()))
        return self.snapshot()

    async def start(self) -> None:
        """One probe round before serving, then one every ``health_interval_s``."""
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name="privacy-router-health")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.health_interval_s)
            try:
                await self.refresh()
            except Exception:  # a failing probe round must never stop the loop
                log.warning("health_refresh_failed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
