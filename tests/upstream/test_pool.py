"""Pools of replicas (upstream/pool.py) against real simulator processes over real sockets:
least-outstanding balancing, failover before the first byte, ejection and re-admission, health as
the policy sees it, model aliasing."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from privacy_router.config import BackendSettings, PoolSettings, ServerSettings, load_settings
from privacy_router.errors import UpstreamError
from privacy_router.upstream.pool import ATTEMPTS, HealthMonitor, Pool, build_pools
from privacy_router.upstream.registry import BACKEND_KINDS
from privacy_router.upstream.simulator import RunningSimulator, free_port

CHAT = {"model": "llama-3.1-8b", "messages": [{"role": "user", "content": "Name three colours."}]}


class Clock:
    """A monotonic clock the test moves by hand (cool-downs without sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10, trust_env=False) as c:
        yield c


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[RunningSimulator, RunningSimulator]]:
    with RunningSimulator("vllm") as a, RunningSimulator("vllm") as b:
        yield a, b


@pytest.fixture
def sims(pair: tuple[RunningSimulator, RunningSimulator]) -> tuple[RunningSimulator, RunningSimulator]:
    for sim in pair:
        sim.set_fault(None)
        sim.clear_records()
    return pair


def make_pool(
    urls: list[str],
    client: httpx.AsyncClient,
    clock: Clock | None = None,
    aliases: dict[str, str] | None = None,
    name: str = "vllm-pool",
    **pool: Any,
) -> Pool:
    settings = BackendSettings(
        name=name,
        replicas=tuple(urls),
        region="us-east",
        models=("llama-3.1-8b",),
        model_aliases=aliases or {},
    )
    replicas = [
        BACKEND_KINDS["openai"](
            settings.model_copy(update={"url": u, "replicas": ()}), client, ServerSettings()
        )
        for u in settings.urls
    ]
    return Pool(settings, replicas, PoolSettings(**pool), clock=clock or Clock())


def posts(sim: RunningSimulator) -> list[dict[str, Any]]:
    return [r for r in sim.records() if r["method"] == "POST"]


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


async def test_ties_rotate_and_every_replica_gets_traffic(
    sims: tuple[RunningSimulator, RunningSimulator], client: httpx.AsyncClient
) -> None:
    a, b = sims
    pool = make_pool([a.url, b.url], client)
    assert await pool.health() is True
    for _ in range(6):
        response = await pool.send("/chat/completions", CHAT, request_id="r")
        assert response.status == 200
    assert (len(posts(a)), len(posts(b))) == (3, 3)


async def test_least_outstanding_replica_gets_the_next_request(
    sims: tuple[RunningSimulator, RunningSimulator], client: httpx.AsyncClient
) -> None:
    """While replica X holds an open stream, every new request goes to the other one."""
    a, b = sims
    pool = make_pool([a.url, b.url], client)
    await pool.health()
    slow = {**CHAT, "stream": True, "sim_fault": {"slow": 200}}
    async with pool.stream("/chat/completions", slow, request_id="long") as held:
        assert held.status == 200
        busy = a if posts(a) else b
        idle = b if busy is a else a
        for _ in range(4):
            assert (await pool.send("/chat/completions", CHAT, request_id="r")).status == 200
        assert (len(posts(busy)), len(posts(idle))) == (1, 4)
    assert [r.outstanding for r in pool.replicas] == [0, 0]


@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
async def test_a_failing_replica_is_retried_on_the_other_before_the_first_byte(
    sims: tuple[RunningSimulator, RunningSimulator], client: httpx.AsyncClient, stream: bool
) -> None:
    a, b = sims
    a.set_fault("fail:503,health:200")  # passes its health check, fails every request
    pool = make_pool([a.url, b.url], client, eject_after_failures=10)
    await pool.health()
    attempts: list[dict[str, Any]] = []
    token = ATTEMPTS.set(attempts)
    try:
        for _ in range(2):
            if stream:
                async with pool.stream("/chat/completions", {**CHAT, "stream": True}, request_id="r") as up:
                    status = up.status
                    body = b"".join([c async for c in up.aiter_bytes()])
                assert body.endswith(b"data: [DONE]\n\n")
            else:
                status = (await pool.send("/chat/completions", CHAT, request_id="r")).status
            assert status == 200
    finally:
        ATTEMPTS.reset(token)
    # Ties rotate from replica 0: each request tried the bad replica first, then the good one.
    assert (len(posts(a)), len(posts(b))) == (2, 2)
    assert [(x["replica"], x["status"]) for x in attempts] == [(0, 503), (1, 200), (0, 503), (1, 200)]


async def test_ejection_after_consecutive_failures_then_readmission_after_cooldown_and_health(
    sims: tuple[RunningSimulator, RunningSimulator], client: httpx.AsyncClient
) -> None:
    a, b = sims
    clock = Clock()
    a.set_fault("fail:503,health:200")
    pool = make_pool([a.url, b.url], client, clock, eject_after_failures=1, cooldown_s=30, max_attempts=2)
    await pool.health()
    for _ in range(4):
        assert (await pool.send("/chat/completions", CHAT, request_id="r")).status == 200
    assert len(posts(a)) == 1  # failed once (retried on b): ejected
    assert pool.replicas[0].admitted(clock.now) is False
    assert pool.healthy is True  # the pool still has replica 1
    pool.replicas[1].failures = 5  # even a replica with failures on record beats an ejected one
    for _ in range(4):
        await pool.send("/chat/completions", CHAT, request_id="r")
    assert len(posts(a)) == 1  # nothing reaches an ejected replica

    a.set_fault("fail:503")  # now its health check fails too
    clock.now += 31
    await pool.health()
    assert pool.replicas[0].admitted(clock.now) is False  # cool-down over, health failing: still out

    a.set_fault(None)
    await pool.health()
    assert pool.replicas[0].admitted(clock.now) is True  # cool-down over and health passing: back
    pool.replicas[1].failures = 0
    for _ in range(4):
        assert (await pool.send("/chat/completions", CHAT, request_id="r")).status == 200
    assert len(posts(a)) == 3  # back in the rotation: half of the traffic


async def test_a_failure_right_after_readmission_ejects_again_at_once(
    sims: tuple[RunningSimulator, RunningSimulator], client: httpx.AsyncClient
) -> None:
    a, b = sims
    clock = Clock()
    a.set_fault("fail:503,health:200")
    pool = make_pool([a.url, b.url], client, clock, eject_after_failures=2, cooldown_s=5, max_attempts=1)
    await pool.health()
    failing = pool.replicas[0]
    for _ in range(4):  # balanced over both: two of them fail on a
        await pool.send("/chat/completions", CHAT, request_id="r")
    assert not failing.admitted(clock.now)
    sent_to_a = len(posts(a))
    for _ in range(3):  # nothing reaches the ejected replica
        assert (await pool.send("/chat/completions", CHAT, request_id="r")).status == 200
    assert len(posts(a)) == sent_to_a
    clock.now += 6
    assert failing.admitted(clock.now)
    while len(posts(a)) == sent_to_a:  # the next request a gets fails once: out again at once
        await pool.send("/chat/completions", CHAT, request_id="r")
    assert not failing.admitted(clock.now)


async def test_the_last_admitted_replica_is_never_ejected(
    sims: tuple[RunningSimulator, RunningSimulator], client: httpx.AsyncClient
) -> None:
    """A pool of one answering 503: each request gets the 503, but the backend stays in service (an
    outlier ejection would turn one request's error into an outage); only health checks take it out."""
    a, _ = sims
    a.set_fault("fail:503,health:200")
    pool = make_pool([a.url], client, Clock(), eject_after_failures=2, cooldown_s=5)
    await pool.health()
    for _ in range(4):
        assert (await pool.send("/chat/completions", CHAT, request_id="r")).status == 503
    assert pool.healthy is True
    assert len(posts(a)) == 4


async def test_pool_is_healthy_while_any_replica_is(
    sims: tuple[RunningSimulator, RunningSimulator], client: httpx.AsyncClient
) -> None:
    a, _ = sims
    mixed = make_pool([dead_url(), a.url], client, name="mixed")
    dead = make_pool([dead_url(), dead_url()], client, name="dead")
    monitor = HealthMonitor([mixed, dead])
    assert monitor.healthy("mixed") is False  # never probed counts as unhealthy
    assert await monitor.refresh() == {"mixed": True, "dead": False}
    assert [r.healthy for r in mixed.replicas] == [False, True]
    # Requests go only to the live replica.
    for _ in range(3):
        assert (await mixed.send("/chat/completions", CHAT, request_id="r")).status == 200
    with pytest.raises(UpstreamError) as err:
        await dead.send("/chat/completions", CHAT, request_id="r")
    assert err.value.code == "upstream_unavailable"


async def test_background_monitor_notices_a_replica_going_down_and_coming_back(
    sims: tuple[RunningSimulator, RunningSimulator], client: httpx.AsyncClient
) -> None:
    a, _ = sims
    pool = make_pool([a.url], client)
    monitor = HealthMonitor([pool], PoolSettings(health_interval_s=0.05))
    await monitor.start()
    try:
        assert monitor.snapshot() == {"vllm-pool": True}
        a.set_fault("health:503")
        await _until(lambda: not monitor.healthy("vllm-pool"))
        a.set_fault(None)
        await _until(lambda: monitor.healthy("vllm-pool"))
    finally:
        await monitor.stop()
    assert monitor._task is None


async def _until(predicate: Any, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_model_alias_is_rewritten_to_the_served_model(
    sims: tuple[RunningSimulator, RunningSimulator], client: httpx.AsyncClient
) -> None:
    a, _ = sims
    pool = make_pool([a.url], client, aliases={"llama": "llama-3.1-8b"})
    await pool.health()
    response = await pool.send("/chat/completions", {**CHAT, "model": "llama"}, request_id="r")
    assert response.status == 200
    assert [r["body"]["model"] for r in posts(a)] == ["llama-3.1-8b"]
    assert pool.settings.model_names == ("llama-3.1-8b", "llama")


class _DropFirst:
    """An HTTP/1.1 server that closes the first connection without answering (a replica closing
    an idle keep-alive connection just as it is reused) and answers later ones like vLLM."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(
                    next(
                        (
                            line.split(b":")[1]
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length")
                        ),
                        b"0",
                    )
                )
                while len(body) < length:
                    body += conn.recv(65536)
                if self.connections == 1:
                    continue  # close without a response
                answer = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "choices": []}).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
                    + f"content-length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )

    def close(self) -> None:
        self.sock.close()


async def test_a_dropped_connection_is_resent_once_to_the_same_single_replica(
    client: httpx.AsyncClient,
) -> None:
    server = _DropFirst()
    try:
        pool = make_pool([f"http://127.0.0.1:{server.port}/v1"], client)
        pool.replicas[0].healthy = True  # this stub has no /health
        attempts: list[dict[str, Any]] = []
        token = ATTEMPTS.set(attempts)
        try:
            response = await pool.send("/chat/completions", CHAT, request_id="r")
        finally:
            ATTEMPTS.reset(token)
    finally:
        server.close()
    assert response.status == 200
    assert server.connections == 2
    assert [(a["status"], a["error"]) for a in attempts] == [(None, "upstream_error"), (200, None)]


async def test_a_timeout_on_a_single_replica_is_not_resent(client: httpx.AsyncClient) -> None:
    with RunningSimulator("vllm", fault="stall:3") as stalled:
        settings = BackendSettings(name="slow", url=stalled.url, region="us-east")
        replica = BACKEND_KINDS["openai"](settings, client, ServerSettings(upstream_timeout_s=0.5))
        pool = Pool(settings, [replica])
        pool.replicas[0].healthy = True
        with pytest.raises(UpstreamError) as err:
            await pool.send("/chat/completions", CHAT, request_id="r")
        assert err.value.code == "upstream_timeout"
        assert len(posts(stalled)) == 1


async def test_build_pools_makes_one_backend_per_entry_with_its_replicas(client: httpx.AsyncClient) -> None:
    settings = load_settings(
        None,
        backends={
            "onprem": [
                {
                    "name": "vllm",
                    "replicas": ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1/"],
                    "region": "us-east",
                }
            ],
            "external": [{"name": "openai", "url": "https://api.example.com/v1", "region": "us"}],
        },
    )
    onprem, external = build_pools(settings, client)
    assert [(p.name, len(p.replicas), p.kind) for p in (*onprem, *external)] == [
        ("vllm", 2, "openai"),
        ("openai", 1, "openai"),
    ]
    assert [r.backend.settings.url for r in onprem[0].replicas] == [  # type: ignore[attr-defined]
        "http://10.0.0.1:8000/v1",
        "http://10.0.0.2:8000/v1",
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param({"name": "x", "region": "r"}, "exactly one of 'url' or 'replicas'", id="neither"),
        pytest.param(
            {"name": "x", "region": "r", "url": "http://a/v1", "replicas": ["http://b/v1"]},
            "exactly one of 'url' or 'replicas'",
            id="both",
        ),
        pytest.param(
            {"name": "x", "region": "r", "replicas": ["a:8000"]}, "must start with http", id="scheme"
        ),
        pytest.param(
            {"name": "x", "region": "r", "replicas": ["http://a/v1", "http://a/v1/"]}, "unique", id="dupes"
        ),
    ],
)
def test_pool_configuration_errors_name_the_key(entry: dict[str, Any], message: str) -> None:
    from privacy_router.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_settings(None, backends={"onprem": [entry]})
    assert message in str(err.value)
    assert "backends.onprem.0" in str(err.value)
