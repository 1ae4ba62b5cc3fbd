"""Detection: stock Presidio against our engine on the same texts, in one process, one run.

Each corpus is a list of requests; a request is the list of segment texts the gateway would hand
the detector in one call. Timed per request after one warm-up request, twice: wall time
(``perf_counter``) and this process's CPU time (``process_time``). On a quiet machine they agree;
on a shared one the wall time includes waiting for a core and the CPU time does not, so the
CPU-time ratios are the ones to trust when ``machine.loadavg_at_start`` is high. The leak rate
comes from the very outputs that were timed, so speed is never bought with misses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from privacy_router.bench import corpus, stats
from privacy_router.bench.corpus import Doc
from privacy_router.config import DetectionSettings
from privacy_router.detection.cache import FindingsCache
from privacy_router.detection.engine import DetectionEngine
from privacy_router.detection.evaluate import stock_presidio
from privacy_router.detection.workers import DetectionPool

Spans = list[tuple[int, int]]
Detect = Callable[[list[str]], list[Spans]]


def ours_detect(engine: DetectionEngine) -> Detect:
    def detect(texts: list[str]) -> list[Spans]:
        return [[(f.start, f.end) for f in fs] for fs in engine.analyze(texts)]

    return detect


def stock_detect(spacy_model: str) -> Detect:
    inner = stock_presidio(spacy_model)

    def detect(texts: list[str]) -> list[Spans]:
        return [[(s, e) for s, e, _ in spans] for spans in inner(texts)]

    return detect


def timed(detect: Detect, requests: Sequence[Sequence[Doc]]) -> tuple[list[float], list[float], list[Spans]]:
    """Wall and CPU milliseconds per request, and the spans found per text (in request order)."""
    detect([d.text for d in requests[0]])  # warm-up: first-call allocations are not the steady state
    wall: list[float] = []
    cpu: list[float] = []
    found: list[Spans] = []
    for request in requests:
        texts = [d.text for d in request]
        t0, c0 = time.perf_counter(), time.process_time()
        out = detect(texts)
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - t0) * 1000)
        found.extend(out)
    return wall, cpu, found


def measure(detect: Detect, requests: Sequence[Sequence[Doc]]) -> dict[str, Any]:
    samples, cpu, found = timed(detect, requests)
    planted = [d.planted for r in requests for d in r]
    rate, per_kind = stats.leak_rate(planted, found)
    docs = sum(len(r) for r in requests)
    return {
        "requests": len(requests),
        "docs": docs,
        "docs_per_s": docs / (sum(samples) / 1000),
        "docs_per_cpu_s": docs / (sum(cpu) / 1000),
        "ms": stats.summary(samples),
        "cpu_ms": stats.summary(cpu),
        "leak_rate": rate,
        "leaks_by_kind": {k: {"leaked": v[0], "planted": v[1]} for k, v in per_kind.items()},
    }


def pool_throughput(
    pool: DetectionPool, requests: Sequence[Sequence[Doc]], concurrency: int
) -> dict[str, Any]:
    """Docs per second through the worker pool with ``concurrency`` requests in flight."""

    async def run() -> tuple[float, list[float]]:
        sem = asyncio.Semaphore(concurrency)
        samples: list[float] = []

        async def one(texts: list[str]) -> None:
            async with sem:
                t0 = time.perf_counter()
                await pool.analyze(texts, timeout_s=600)
                samples.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(one([d.text for d in r]) for r in requests))
        return time.perf_counter() - t0, samples

    wall, samples = asyncio.run(run())
    docs = sum(len(r) for r in requests)
    return {"docs": docs, "workers": pool.workers, "docs_per_s": docs / wall, "ms": stats.summary(samples)}


def chat_costs(engine: DetectionEngine, chat: corpus.Chat, fingerprint: str) -> dict[str, Any]:
    """Per turn: the whole history uncached, with the cache, with the cache and the previous
    answer already analysed (what the gateway does: api/proxy.py analyses each delivered answer
    after the response), and the newest message alone. CPU time of this process
    (``process_time``): the ratios compare work, not waiting for a shared core."""
    analyze = engine.analyze
    analyze([corpus.SYSTEM])
    cache = FindingsCache(4096, 64 * 1024 * 1024)
    warmed = FindingsCache(4096, 64 * 1024 * 1024)
    rows: list[dict[str, float]] = []
    for i in range(len(chat.turns)):
        texts = [d.text for d in chat.request(i)]
        newest = [texts[-1]]

        t0 = time.process_time()
        analyze(texts)
        full = time.process_time() - t0

        t0 = time.process_time()
        plan = cache.plan("bench", fingerprint, texts)
        plan.complete(analyze(plan.missing) if plan.missing else [])
        cached = time.process_time() - t0

        # What the gateway would pay if it analysed each answer as it delivered it (after the
        # response, off the request path): the previous answer is then a cache hit too.
        if i > 0:
            answer = chat.turns[i - 1][1].text
            p = warmed.plan("bench", fingerprint, [answer])
            p.complete(analyze(p.missing) if p.missing else [])
        t0 = time.process_time()
        plan = warmed.plan("bench", fingerprint, texts)
        plan.complete(analyze(plan.missing) if plan.missing else [])
        prewarmed = time.process_time() - t0

        t0 = time.process_time()
        analyze(newest)
        alone = time.process_time() - t0
        rows.append(
            {
                "turn": i + 1,
                "full_ms": full * 1000,
                "cached_ms": cached * 1000,
                "cached_answer_prewarmed_ms": prewarmed * 1000,
                "newest_alone_ms": alone * 1000,
            }
        )
    later = rows[1:]
    return {
        "turns": rows,
        "ratio_cached_to_newest_median": stats.percentile(
            [r["cached_ms"] / r["newest_alone_ms"] for r in later], 50
        ),
        "ratio_prewarmed_to_newest_median": stats.percentile(
            [r["cached_answer_prewarmed_ms"] / r["newest_alone_ms"] for r in later], 50
        ),
        "ratio_full_to_newest_turn20": rows[-1]["full_ms"] / rows[-1]["newest_alone_ms"],
        "cache_entries": len(cache),
        "cache_bytes": cache.stats.bytes,
    }


def run(
    settings: DetectionSettings, *, quick: bool, workers: int, log: Callable[[str], None]
) -> dict[str, Any]:
    n1, n4, turns, batches = (6, 2, 6, 1) if quick else (40, 12, 20, 3)
    kinds = corpus.COMMON_KINDS + corpus.PHI_KINDS
    sets: dict[str, list[list[Doc]]] = {
        "prompt_1kb": [[d] for d in corpus.prompts(n1, 1024, 4, kinds, seed=11)],
        "prompt_4kb": [[d] for d in corpus.prompts(n4, 4096, 10, kinds, seed=12)],
        "embeddings_64": [corpus.short_inputs(64, seed=13 + b) for b in range(batches)],
    }
    chat = corpus.chat(turns, seed=14)
    sets["chat_20_turns"] = [chat.request(i) for i in range(turns)]

    log("detection: loading stock Presidio and our engine")
    engine = DetectionEngine.from_settings(settings)
    stock = stock_detect(settings.spacy_model)
    ours = ours_detect(engine)
    out: dict[str, Any] = {
        "spacy_model": engine.spacy_model,
        "pack_versions": engine.pack_versions,
        "sets": {},
    }
    for name, requests in sets.items():
        log(f"detection: {name} ({len(requests)} requests)")
        s = measure(stock, requests)
        o = measure(ours, requests)
        out["sets"][name] = {
            "stock": s,
            "ours": o,
            "throughput_ratio": stats.ratio(o["docs_per_s"], s["docs_per_s"]),
            "cpu_throughput_ratio": stats.ratio(o["docs_per_cpu_s"], s["docs_per_cpu_s"]),
            "leak_rate_ok": o["leak_rate"] <= s["leak_rate"],
        }

    from privacy_router.detection.cache import engine_fingerprint

    fingerprint = engine_fingerprint(
        spacy_model=engine.spacy_model,
        pack_versions=dict(engine.pack_versions),
        score_threshold=settings.score_threshold,
        allow_list=settings.allow_list,
    )
    log("detection: chat with and without the cache")
    out["chat"] = chat_costs(engine, chat, fingerprint)

    # Worker processes: 1 and then ``workers`` of them (the measurement behind the default of
    # detection.workers), 2 requests in flight per worker, wall-clock throughput.
    stock_rate = out["sets"]["prompt_1kb"]["stock"]["docs_per_s"]
    out["pool_1kb_by_workers"] = {}
    for n in sorted({1, workers}) if workers > 0 else []:
        log(f"detection: 1 KB prompts through {n} worker process(es)")
        pool = DetectionPool(settings, n).start()
        try:
            result = pool_throughput(pool, sets["prompt_1kb"], concurrency=n * 2)
        finally:
            pool.close()
        result["throughput_ratio_vs_stock"] = stats.ratio(result["docs_per_s"], stock_rate)
        out["pool_1kb_by_workers"][str(n)] = result
        out["pool_1kb"] = result  # the largest pool measured: the goal row
    return out
