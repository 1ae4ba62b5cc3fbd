"""Token-bucket rate limits per API key and per tenant; in-process, or shared through Redis.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; a request takes one
token or is refused with the time until one is available (the 429's ``Retry-After``).

``RedisRateLimiter`` runs the whole read-refill-take-write in one Lua script, so two replicas never
both take the last token, and reads the time from the Redis server (``TIME``) so replicas with
skewed clocks still agree. If Redis cannot be reached the limiter falls back to the in-process
buckets of this replica (counted in ``privacy_router_ratelimit_backend_errors_total`` and logged):
rate limits protect capacity, not data, so a Redis outage must not refuse every request; each
replica still enforces its own limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

import structlog
from prometheus_client import Counter

log = structlog.get_logger("privacy_router.ratelimit")

LIMITED = Counter(
    "privacy_router_rate_limited_total", "Requests refused with 429, by bucket kind.", ["scope"]
)
BACKEND_ERRORS = Counter(
    "privacy_router_ratelimit_backend_errors_total",
    "Shared rate-limit store failures (the replica falls back to its own buckets).",
    ["backend"],
)


class RateLimiter(Protocol):
    async def acquire(self, bucket: str, rate: float, burst: int) -> float:
        """Take one token. Returns 0.0 when allowed, else the seconds until a token is available."""

    async def aclose(self) -> None: ...


class MemoryRateLimiter:
    """Buckets in this process. ``clock`` is injectable so tests step time instead of sleeping."""

    # Buckets idle long enough to be full again are dropped, so one-off keys do not pile up.
    _SWEEP_EVERY = 4096

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # bucket -> (tokens, last refill time)
        self._lock = threading.Lock()
        self._ops = 0

    def take(self, bucket: str, rate: float, burst: int) -> float:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(bucket, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[bucket] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[bucket] = (tokens, now)
                wait = (1.0 - tokens) / rate
            self._ops += 1
            if self._ops % self._SWEEP_EVERY == 0:
                self._sweep(now, rate, burst)
        return wait

    def _sweep(self, now: float, rate: float, burst: int) -> None:
        full_after = burst / rate
        for name in [b for b, (_, last) in self._buckets.items() if now - last > full_after]:
            del self._buckets[name]

    async def acquire(self, bucket: str, rate: float, burst: int) -> float:
        return self.take(bucket, rate, burst)

    async def aclose(self) -> None:
        return None


# KEYS[1] bucket; ARGV rate, burst. Returns the wait in seconds as a string (Redis truncates Lua
# numbers to integers in replies: https://redis.io/docs/latest/develop/interact/programmability/lua-api/).
_BUCKET_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter:
    """Buckets in Redis, shared by every replica that points at the same server and prefix."""

    def __init__(self, url: str, *, prefix: str, timeout_s: float) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
        )
        self._script = self._redis.register_script(_BUCKET_LUA)
        self._prefix = prefix
        self._fallback = MemoryRateLimiter()

    async def acquire(self, bucket: str, rate: float, burst: int) -> float:
        try:
            wait = await self._script(keys=[self._prefix + bucket], args=[rate, burst])
            return float(wait)
        except Exception as exc:  # redis errors and timeouts: this replica limits alone
            BACKEND_ERRORS.labels(backend="redis").inc()
            log.warning("ratelimit_backend_failed", backend="redis", error=type(exc).__name__)
            return self._fallback.take(bucket, rate, burst)

    async def aclose(self) -> None:
        await self._redis.aclose()


def retry_after_seconds(wait_s: float) -> int:
    """``Retry-After`` is whole seconds (RFC 9110 §10.2.3); round up so a retry is not early."""
    return max(1, math.ceil(wait_s))
