"""Who may call: API key -> principal -> role check -> rate limits. One instance per gateway.

    key = Authorization: Bearer <key> | x-api-key: <key>     (the OpenAI and Anthropic spellings)
    missing or unknown key                  -> 401 authentication_error (OpenAI shape)
    known key without the endpoint's role   -> 403 permission_error
    key's or tenant's token bucket empty    -> 429 rate_limit_exceeded + Retry-After

Roles: ``client`` calls the model endpoints, ``compliance`` reads the audit API, ``admin`` does
both. Other routers gate themselves with ``await require_role(request, "compliance")``.

The client's key is only ever hashed here; no adapter copies a client header to a backend (each
backend gets its own credentials, upstream/openai_compat.py ``_headers``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from fastapi import Request

from privacy_router.auth.keys import KeyStore
from privacy_router.auth.ratelimit import (
    LIMITED,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    retry_after_seconds,
)
from privacy_router.config import RateLimitSettings, Settings
from privacy_router.errors import Forbidden, RateLimited, RouterError, Unauthorized
from privacy_router.types import Principal

MODEL_ROLES = ("client", "admin")
AUDIT_ROLES = ("compliance", "admin")


def key_from_headers(headers: Mapping[str, str]) -> str:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return headers.get("x-api-key", "").strip()


class Authenticator:
    def __init__(
        self,
        keys: KeyStore,
        limiter: RateLimiter,
        limits: RateLimitSettings,
        *,
        dev_principal: Principal | None = None,
    ) -> None:
        self.keys = keys
        self.limiter = limiter
        self.limits = limits
        # Set only under --insecure-dev: requests without a (known) key become this principal.
        self.dev_principal = dev_principal

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        auth = settings.auth
        keys = KeyStore(settings.api_keys, auth.keys_file, reload_interval_s=auth.reload_interval_s)
        limiter: RateLimiter
        if auth.rate_limit.backend == "redis":
            limiter = RedisRateLimiter(
                auth.rate_limit.redis_url,
                prefix=auth.rate_limit.redis_prefix,
                timeout_s=auth.rate_limit.redis_timeout_s,
            )
        else:
            limiter = MemoryRateLimiter()
        dev = settings.dev_principal() if settings.server.insecure_dev else None
        return cls(keys, limiter, auth.rate_limit, dev_principal=dev)

    async def authenticate(self, headers: Mapping[str, str], roles: Collection[str]) -> Principal:
        """The caller's principal, if its key is known, holds one of ``roles`` and is within limits."""
        key = key_from_headers(headers)
        principal = self.keys.lookup(key) if key else None
        if principal is None:
            if self.dev_principal is not None:
                principal = self.dev_principal
            elif key:
                raise Unauthorized("invalid API key")
            else:
                raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        if not set(principal.roles) & set(roles):
            raise Forbidden(f"this key lacks the role for this endpoint (needs one of: {', '.join(roles)})")
        await self._limit(principal)
        return principal

    async def _limit(self, principal: Principal) -> None:
        lim = self.limits
        if lim.key_rps is not None:
            wait = await self.limiter.acquire(f"key:{principal.key_id}", lim.key_rps, lim.key_burst)
            if wait > 0:
                LIMITED.labels(scope="key").inc()
                raise RateLimited(
                    "rate limit reached for this API key", retry_after_s=retry_after_seconds(wait)
                )
        if lim.tenant_rps is not None:
            wait = await self.limiter.acquire(f"tenant:{principal.tenant}", lim.tenant_rps, lim.tenant_burst)
            if wait > 0:
                LIMITED.labels(scope="tenant").inc()
                raise RateLimited(
                    "rate limit reached for this tenant", retry_after_s=retry_after_seconds(wait)
                )

    async def aclose(self) -> None:
        await self.limiter.aclose()


async def require_role(request: Request, *roles: str) -> Principal:
    """For routers outside the proxy path: ``principal = await require_role(request, "compliance")``.

    ``admin`` always qualifies. Raises Unauthorized (401), Forbidden (403) or RateLimited (429),
    which the app's RouterError handler turns into the OpenAI error shape.
    """
    gw = getattr(request.app.state, "gateway", None)
    authenticator = getattr(gw, "auth", None)
    if not isinstance(authenticator, Authenticator):
        raise RouterError("gateway has no authenticator")
    wanted = {*roles, "admin"}
    return await authenticator.authenticate(request.headers, wanted)
