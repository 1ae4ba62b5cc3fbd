"""Token buckets: burst, refill, Retry-After; in-process and shared through a real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis

from privacy_router.auth.ratelimit import MemoryRateLimiter, RedisRateLimiter, retry_after_seconds

REDIS_URL = "redis://127.0.0.1:6379/15"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_memory_bucket_allows_the_burst_then_says_how_long_to_wait() -> None:
    clock = Clock()
    lim = MemoryRateLimiter(clock)
    assert [lim.take("k", 2.0, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert lim.take("k", 2.0, 3) == 0.5  # one token at 2/s is 0.5 s away


def test_memory_bucket_refills_at_the_rate_and_caps_at_burst() -> None:
    clock = Clock()
    lim = MemoryRateLimiter(clock)
    for _ in range(3):
        lim.take("k", 2.0, 3)
    clock.now = 0.5
    assert lim.take("k", 2.0, 3) == 0.0
    assert lim.take("k", 2.0, 3) == 0.5
    clock.now = 100.0
    assert [lim.take("k", 2.0, 3) for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]


def test_memory_buckets_are_independent() -> None:
    lim = MemoryRateLimiter(Clock())
    assert lim.take("a", 1.0, 1) == 0.0
    assert lim.take("a", 1.0, 1) == 1.0
    assert lim.take("b", 1.0, 1) == 0.0


@pytest.mark.parametrize(
    ("wait", "header"), [(0.01, 1), (1.0, 1), (1.2, 2), (59.5, 60)], ids=["tiny", "one", "round-up", "long"]
)
def test_retry_after_is_whole_seconds_rounded_up(wait: float, header: int) -> None:
    assert retry_after_seconds(wait) == header


def test_redis_buckets_are_shared_between_two_replicas() -> None:
    """Two limiters (two replicas) on one Redis take from the same bucket."""
    prefix = f"test-{uuid.uuid4().hex}:"

    async def run() -> list[float]:
        a = RedisRateLimiter(REDIS_URL, prefix=prefix, timeout_s=1.0)
        b = RedisRateLimiter(REDIS_URL, prefix=prefix, timeout_s=1.0)
        try:
            # A slow refill (1 token per 1000 s) so the test does not depend on elapsed time.
            return [
                await a.acquire("key:x", 0.001, 2),
                await b.acquire("key:x", 0.001, 2),
                await a.acquire("key:x", 0.001, 2),
            ]
        finally:
            await a.aclose()
            await b.aclose()

    waits = asyncio.run(run())
    assert waits[:2] == [0.0, 0.0]
    assert 999.0 < waits[2] <= 1000.0
    r = redis.Redis.from_url(REDIS_URL)
    try:
        assert r.exists(f"{prefix}key:x") == 1
        ttl = r.pttl(f"{prefix}key:x")
        assert 0 < ttl <= 2_001_000  # expires once the bucket would be full again
        r.delete(f"{prefix}key:x")
    finally:
        r.close()


def test_redis_down_falls_back_to_this_replicas_own_buckets() -> None:
    from prometheus_client import REGISTRY

    def errors() -> float:
        v = REGISTRY.get_sample_value("privacy_router_ratelimit_backend_errors_total", {"backend": "redis"})
        return v or 0.0

    async def run() -> list[float]:
        # Port 1 on loopback: nothing listens there, the connection is refused at once.
        lim = RedisRateLimiter("redis://127.0.0.1:1/0", prefix="x:", timeout_s=0.2)
        try:
            return [await lim.acquire("k", 1.0, 1), await lim.acquire("k", 1.0, 1)]
        finally:
            await lim.aclose()

    before = errors()
    first, second = asyncio.run(run())
    assert first == 0.0
    assert 0.9 < second <= 1.0
    assert errors() == before + 2
