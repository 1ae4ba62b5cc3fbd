"""The long-lived parts of one router process, built once from Settings.

Loading the spaCy pipeline and compiling the policy take seconds; both happen here, at start-up,
never per request. What the parts still load on first use is loaded by ``warm_up`` before the server
accepts connections. Readiness (``/readyz``) is true only when every part loaded and warmed up and
the audit store accepts writes.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import structlog

from privacy_router import signals
from privacy_router.admission import Admission
from privacy_router.audit.base import AuditStore
from privacy_router.audit.factory import open_store
from privacy_router.audit.records import load_hmac_key
from privacy_router.auth.guard import Authenticator
from privacy_router.config import Settings
from privacy_router.detection.cache import FindingsCache, engine_fingerprint
from privacy_router.detection.engine import DetectionEngine
from privacy_router.detection.workers import WARM_UP_TEXT, DetectionPool
from privacy_router.errors import AuditWriteError, ConfigError, DetectionError
from privacy_router.policy.base import PolicyEngine
from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.policy.factory import policy_engine_from_settings
from privacy_router.policy.lifecycle import ReloadingPolicyEngine, ShadowPolicy
from privacy_router.types import Finding
from privacy_router.upstream.base import Backend
from privacy_router.upstream.openai_compat import create_upstream_client
from privacy_router.upstream.pool import HealthMonitor, Pool, build_pools
from privacy_router.upstream.stats import BackendStats

log = structlog.get_logger("privacy_router.gateway")


@dataclass
class Gateway:
    settings: Settings
    detector: DetectionEngine
    policy: PolicyEngine
    audit: AuditStore
    onprem: list[Pool]
    external: list[Pool]
    http: httpx.AsyncClient
    # Replica health probes in the background (upstream/pool.py); healthy(name) feeds the policy.
    health: HealthMonitor
    hmac_key: bytes
    executor: ThreadPoolExecutor
    # A candidate policy evaluated beside the active one; it never decides (policy/lifecycle.py).
    shadow: ShadowPolicy | None = None
    # Latency window and outstanding requests per backend, for the policy input (upstream/stats.py).
    stats: BackendStats = field(default_factory=BackendStats)
    # API keys, roles and rate limits (auth/guard.py), built from settings.
    auth: Authenticator = field(init=False, repr=False)
    # Detection worker processes (detection.workers > 0); None = the thread path (``executor``).
    pool: DetectionPool | None = None
    # Findings of already analysed segments (detection/cache.py); None when detection.cache_entries is 0.
    cache: FindingsCache | None = field(init=False, repr=False)
    fingerprint: str = field(init=False, repr=False)
    # Load shedding in front of detection (admission.py).
    admission: Admission = field(init=False, repr=False)
    # Set once warm_up() has run; until then the gateway is not ready.
    warm_up_done: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.auth = Authenticator.from_settings(self.settings)
        self.admission = Admission(
            self.settings.server.max_pending_detections,
            target_s=self.settings.server.detection_queue_target_s,
            parallelism=max(1, self.settings.detection.workers),
        )
        d = self.settings.detection
        self.cache = FindingsCache(d.cache_entries, d.cache_bytes) if d.cache_entries > 0 else None
        self.fingerprint = engine_fingerprint(
            spacy_model=self.detector.spacy_model,
            pack_versions=dict(self.detector.pack_versions),
            score_threshold=d.score_threshold,
            allow_list=d.allow_list,
        )

    async def analyze(self, texts: list[str], tenant: str) -> list[list[Finding]]:
        """Findings per text: cached segments are reused, the rest go to the workers (or a thread).

        Raises TimeoutError past ``server.detection_timeout_s`` and DetectionError on any other
        failure; the caller treats both as "sensitive" (fail closed).
        """
        timeout = self.settings.server.detection_timeout_s
        plan = self.cache.plan(tenant, self.fingerprint, texts) if self.cache is not None else None
        todo = plan.missing if plan is not None else texts
        fresh: list[list[Finding]] = []
        if todo and self.pool is not None:
            fresh = await self.pool.analyze(todo, timeout)
        elif todo:
            loop = asyncio.get_running_loop()
            # ``self.detector.analyze`` is looked up per call: tests replace it to inject faults.
            future = loop.run_in_executor(self.executor, self.detector.analyze, todo)
            fresh = await asyncio.wait_for(future, timeout=timeout)
        if plan is None:
            return fresh
        try:
            return plan.complete(fresh)
        except ValueError:
            raise DetectionError("detector returned a result of the wrong length") from None

    @classmethod
    def from_settings(cls, settings: Settings, *, detector: DetectionEngine | None = None) -> Gateway:
        """Build every part. ``detector`` lets tests share one loaded spaCy pipeline."""
        detector = detector or DetectionEngine.from_settings(settings.detection)
        policy = policy_engine_from_settings(settings.policy)
        shadow = None
        if settings.policy.shadow_dir is not None:
            shadow = ShadowPolicy.from_dir(settings.policy.shadow_dir, settings.policy.query)
        try:
            # Role self-check (PostgreSQL) or PRAGMA integrity_check (SQLite), then the whole chain,
            # before serving (threats.md 1.5, 1.6).
            audit = open_store(settings.audit)
        except AuditWriteError as exc:
            raise ConfigError(f"audit store: {exc.message}; refusing to start") from None
        http = create_upstream_client(settings.server)
        onprem, external = build_pools(settings, http)
        if not os.environ.get(settings.audit.hmac_key_env):
            log.warning("audit_hmac_key_ephemeral", env=settings.audit.hmac_key_env)
        hmac_key = load_hmac_key(settings.audit)
        pool = None
        if settings.detection.workers > 0:
            try:
                pool = DetectionPool(settings.detection, settings.detection.workers).start()
            except Exception as exc:
                raise ConfigError(
                    f"config key 'detection.workers': detection workers did not start ({type(exc).__name__})"
                ) from None
        return cls(
            settings=settings,
            detector=detector,
            policy=policy,
            audit=audit,
            onprem=onprem,
            external=external,
            http=http,
            health=HealthMonitor([*onprem, *external], settings.backends.pool),
            hmac_key=hmac_key,
            executor=ThreadPoolExecutor(max_workers=2, thread_name_prefix="detect"),
            shadow=shadow,
            pool=pool,
        )

    def backend(self, name: str | None) -> Backend | None:
        for b in (*self.onprem, *self.external):
            if b.name == name:
                return b
        return None

    def is_onprem(self, backend: Backend) -> bool:
        return any(b is backend for b in self.onprem)

    async def warm_up(self) -> None:
        """Do the first-use work of each in-process part once, before serving, so that no user's
        request pays it. Nothing leaves the process: no backend, OPA or audit store is called, the
        findings cache, admission and request metrics are bypassed, and the sample is not logged.

        The sample goes to the engines that serve requests: one scan per detection worker (sent
        together: an idle worker takes the next call, so each gets one), or the in-process engine,
        within the deadline a request's scan has. A scan that fails is logged and not retried: warming
        up never decides whether the gateway starts (the first request then pays the cost, and a
        broken detector fails it closed as always). The embedded policy runs once on an empty input,
        whatever it answers: regopy's first query costs a few ms more than the next."""
        t0 = time.perf_counter()
        timeout = self.settings.server.detection_timeout_s
        try:
            if self.pool is not None:
                pool = self.pool
                await asyncio.gather(*(pool.analyze([WARM_UP_TEXT], timeout) for _ in range(pool.workers)))
            else:
                loop = asyncio.get_running_loop()
                scan = loop.run_in_executor(self.executor, self.detector.analyze, [WARM_UP_TEXT])
                await asyncio.wait_for(scan, timeout=timeout)
        except Exception as exc:
            log.warning("warm_up_failed", part="detection", error=type(exc).__name__)
        active = self.policy.active if isinstance(self.policy, ReloadingPolicyEngine) else self.policy
        shadow = self.shadow.engine if self.shadow is not None else None
        for engine in (active, shadow):
            if isinstance(engine, EmbeddedPolicyEngine):
                try:
                    engine.evaluate_raw({})
                except Exception as exc:  # warming never decides whether the gateway starts
                    log.warning("warm_up_failed", part="policy", error=type(exc).__name__)
        self.warm_up_done = True
        log.info("warmed_up", duration_ms=round((time.perf_counter() - t0) * 1000, 1))

    async def start(self) -> None:
        await self.warm_up()
        await self.health.start()
        if self.auth.keys.keys_file is not None:
            signals.subscribe("keys", self.auth.keys.reload)  # kill -HUP: re-read the keys file now
        if isinstance(self.policy, ReloadingPolicyEngine):
            self.policy.start(self.settings.policy.reload_interval_s)

    async def stop(self) -> None:
        signals.unsubscribe("keys")
        await self.health.stop()
        if isinstance(self.policy, ReloadingPolicyEngine):
            self.policy.stop()
        close_policy = getattr(self.policy, "close", None)  # the OPA engine's HTTP session
        if callable(close_policy):
            close_policy()
        await self.http.aclose()
        await self.auth.aclose()
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self.pool is not None:
            self.pool.close()
        self.audit.close()

    def ready(self) -> tuple[bool, str]:
        if not self.warm_up_done:
            return False, "warming up"
        # The OPA engine is ready only once OPA reports its bundles active (GET /health?bundles=true).
        policy_ready = getattr(self.policy, "ready", None)
        if callable(policy_ready) and not policy_ready():
            return False, "policy not loaded"
        try:
            self.audit.check_writable()
        except Exception:
            return False, "audit store not writable"
        return True, "ok"
