"""Open-loop load generator, run as its own process: ``python -m privacy_router.bench.loadgen SPEC OUT``.

Request i is sent at ``t0 + i / rate`` whatever happened to earlier requests (a constant arrival
rate), and its latency is measured from that intended start: a stalled server cannot slow the
generator down and hide its own queueing (coordinated omission, as wrk2 corrects it). Loopback
only; the duration is bounded. A second task probes ``healthz_url`` every 50 ms: if CPU work ran
on the gateway's event loop, these probes would wait behind it.

SPEC (JSON): url, headers, bodies (cycled), rate, duration_s, stream, healthz_url (optional).
OUT (JSON): per request [latency_ms, ttfb_ms, status], and the health probe latencies.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx


async def _one(
    client: httpx.AsyncClient, spec: dict[str, Any], body: dict[str, Any], due: float
) -> list[float]:
    delay = due - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
    ttfb = -1.0
    status = 0
    try:
        async with client.stream("POST", spec["url"], json=body, headers=spec["headers"]) as r:
            status = r.status_code
            async for _ in r.aiter_raw():
                if ttfb < 0:
                    ttfb = (time.perf_counter() - due) * 1000
    except httpx.HTTPError:
        status = -1
    latency = (time.perf_counter() - due) * 1000
    return [latency, ttfb if ttfb >= 0 else latency, float(status)]


async def _probe(client: httpx.AsyncClient, url: str, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            await client.get(url)
            out.append((time.perf_counter() - t0) * 1000)
        except httpx.HTTPError:
            out.append(-1.0)
        await asyncio.sleep(0.05)


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    rate = float(spec["rate"])
    n = max(1, int(rate * float(spec["duration_s"])))
    bodies = spec["bodies"]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
    async with (
        httpx.AsyncClient(timeout=60.0, limits=limits) as client,
        httpx.AsyncClient(timeout=10) as probe,
    ):
        stop = asyncio.Event()
        health: list[float] = []
        prober = (
            asyncio.create_task(_probe(probe, spec["healthz_url"], stop, health))
            if spec.get("healthz_url")
            else None
        )
        t0 = time.perf_counter() + 0.2
        tasks = [
            asyncio.create_task(
                _one(client, spec, {**bodies[i % len(bodies)], "stream": spec["stream"]}, t0 + i / rate)
            )
            for i in range(n)
        ]
        results = await asyncio.gather(*tasks)
        stop.set()
        if prober is not None:
            await prober
    return {"rate": rate, "results": results, "healthz_ms": health}


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    Path(sys.argv[2]).write_text(json.dumps(asyncio.run(run(spec))), encoding="utf-8")


if __name__ == "__main__":
    main()
