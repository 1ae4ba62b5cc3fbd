"""The long-lived parts of one router process, built once from Settings.

Loading the spaCy pipeline and compiling the policy take seconds; both happen here, at start-up,
never per request. Readiness (``/readyz``) is true only when every part loaded and the audit store
accepts writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import structlog

from privacy_router.audit.base import AuditStore
from privacy_router.audit.records import load_hmac_key
from privacy_router.audit.sqlite import open_verified
from privacy_router.config import Settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.errors import AuditWriteError, ConfigError
from privacy_router.policy.base import PolicyEngine
from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.upstream.base import Backend
from privacy_router.upstream.openai_compat import HealthTracker, build_backends, create_upstream_client

log = structlog.get_logger("privacy_router.gateway")

HEALTH_INTERVAL_S = 5.0


@dataclass
class Gateway:
    settings: Settings
    detector: DetectionEngine
    policy: PolicyEngine
    audit: AuditStore
    onprem: list[Backend]
    external: list[Backend]
    http: httpx.AsyncClient
    health: HealthTracker
    hmac_key: bytes
    executor: ThreadPoolExecutor
    _health_task: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, detector: DetectionEngine | None = None) -> Gateway:
        """Build every part. ``detector`` lets tests share one loaded spaCy pipeline."""
        detector = detector or DetectionEngine.from_settings(settings.detection)
        if settings.policy.engine != "embedded":
            raise ConfigError("config key 'policy.engine': only 'embedded' is available in this version")
        policy = EmbeddedPolicyEngine.from_settings(settings.policy)
        if settings.audit.store != "sqlite":
            raise ConfigError("config key 'audit.store': only 'sqlite' is available in this version")
        try:
            # PRAGMA integrity_check and the whole chain, before serving (threats.md 1.6).
            audit = open_verified(settings.audit.sqlite_path)
        except AuditWriteError as exc:
            raise ConfigError(f"audit store: {exc.message}; refusing to start") from None
        http = create_upstream_client(settings.server)
        onprem, external = build_backends(settings, http)
        if not os.environ.get(settings.audit.hmac_key_env):
            log.warning("audit_hmac_key_ephemeral", env=settings.audit.hmac_key_env)
        hmac_key = load_hmac_key(settings.audit)
        return cls(
            settings=settings,
            detector=detector,
            policy=policy,
            audit=audit,
            onprem=onprem,
            external=external,
            http=http,
            health=HealthTracker(),
            hmac_key=hmac_key,
            executor=ThreadPoolExecutor(max_workers=2, thread_name_prefix="detect"),
        )

    def backend(self, name: str | None) -> Backend | None:
        for b in (*self.onprem, *self.external):
            if b.name == name:
                return b
        return None

    def is_onprem(self, backend: Backend) -> bool:
        return any(b is backend for b in self.onprem)

    async def start(self) -> None:
        await self.health.refresh([*self.onprem, *self.external])
        self._health_task = asyncio.create_task(self._health_loop())

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL_S)
            try:
                await self.health.refresh([*self.onprem, *self.external])
            except Exception:  # a failing probe must never stop the loop
                log.warning("health_refresh_failed")

    async def stop(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        await self.http.aclose()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.audit.close()

    def ready(self) -> tuple[bool, str]:
        try:
            self.audit.check_writable()
        except Exception:
            return False, "audit store not writable"
        return True, "ok"
