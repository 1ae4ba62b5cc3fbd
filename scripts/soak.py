"""Soak and overload (issue 8, "Load, soak, overload"; results in docs/reliability.md).

    python scripts/soak.py                  # make soak: 10 min at 70% of capacity, then 3x for 60 s
    python scripts/soak.py --quick          # 40 s + 15 s, to check the script itself works
    python scripts/soak.py --capacity 30    # skip the capacity ramp

What it does, in order:
1. starts two upstream simulators (vLLM on-prem, OpenAI external), an OPA server (the project's
   OPA test double, in its own process) and ``privacy-router serve`` with the OPA engine, the
   SQLite audit store and detection workers, as separate processes on loopback; the gateway gets
   a known audit HMAC key, so the script can recompute each request's ``prompt_hmac``;
2. capacity: ``--capacity`` if given, else a ramp of open-loop rates (12 s each) with the soak's
   own mix (streamed and not, public / PII / PHI) but no faults, until a request fails or the p99
   of the response time passes 500 ms (time to the last byte for a non-streamed answer, to the
   first body byte for a stream); the highest rate that held is the capacity. The ramp's gateway
   has the default settings; the gateway is then restarted (same audit database) with
   ``server.max_in_flight`` sized as the capacity times 1 s (Little's law, docs/reliability.md;
   ``--max-in-flight`` to choose it);
3. soak: ``--soak-s`` at 70% of capacity, open loop, the same mix with faults: 2.5% of requests
   ask the simulator for a 500 (``sim_fault: {"fail": 500}``), 2.5% for a slow answer, and the OPA
   server stalls 100 ms (inside the 200 ms policy deadline) for 1 s of every 20 s; resident memory
   (gateway + worker processes) and open file descriptors are sampled every 5 s;
4. overload: ``--overload-s`` at 3x capacity; then probes every 250 ms until 8 in a row are
   answered 200 within 500 ms: the time that takes is the recovery time;
5. stops the gateway and checks: it never died; RSS growth from the first sample after warm-up to
   the last < 10%; no FD growth (tolerance 5); the soak was served; the overload was shed (429, or
   503 ``overloaded``) and nothing else failed; records equal requests, matched per request by
   ``prompt_hmac`` (every request's text is unique); ``audit verify`` passes; recovery < 10 s;
6. prints ``CHECK name PASS|FAIL`` lines and the figures, writes them as JSON (``--out``), and
   exits 1 if a check failed.

Prompts are the benchmark's synthetic texts (privacy_router/bench/corpus.py); nothing here
prints them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from privacy_router.audit.records import prompt_hmac
from privacy_router.bench import corpus, stats
from privacy_router.bench.gateway_load import children, rss_kb, write_config
from privacy_router.config import ServerSettings
from privacy_router.extract import extract
from privacy_router.testing import RunningGateway, RunningSimulator

KEY = "soak-key"
# The gateway's audit HMAC key (at least 32 characters). Known here, so the script recomputes the
# ``prompt_hmac`` each decision record stores and matches records to requests one by one.
HMAC_KEY = "soak-audit-hmac-key-not-a-secret-0123456789"
INJECTED_STATUS = 500  # what the client sees for an injected upstream 500
# A rate "holds" while the p99 response time stays under this (time to the last byte of a
# non-streamed answer, to the first body byte of a stream: the rest of a stream is the simulator
# echoing the prompt chunk by chunk). Past saturation the open-loop p99 grows by seconds within
# one 12 s step, so the exact bound matters little.
RAMP_P99_MS = 500.0
RAMP_RATES = (4, 8, 12, 16, 20, 25, 30, 40, 50, 60)
RAMP_STEP_S = 12.0
WARMUP_REQUESTS = 10  # sent at 2/s before the ramp, not measured
CLIENT_TIMEOUT_S = 120.0
# How long an admitted request may wait in the gateway: server.max_in_flight is sized as the
# capacity times this (Little's law), as docs/reliability.md tells operators to size it.
IN_FLIGHT_WAIT_S = 1.0
HEADERS = {"authorization": f"Bearer {KEY}"}
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Job:
    """One request to send: its body, the prompt_hmac its decision record will carry, its fault."""

    body: dict[str, Any]
    digest: str
    fault: str | None


@dataclass
class Result:
    phase: str
    digest: str
    stream: bool
    fault: str | None
    status: int = 0  # 0: no response head arrived
    code: str | None = None  # error.code of an error answer (request_blocked: with its reasons)
    audit_id: str | None = None
    latency_ms: float = 0.0  # from the due time to the last byte (or the client error)
    ttfb_ms: float | None = None  # from the due time to the first body byte
    client_error: str | None = None  # "timeout" (the client gave up) or "transport"

    @property
    def shed(self) -> bool:
        return self.status == 429 or (self.status == 503 and self.code == "overloaded")

    @property
    def injected(self) -> bool:
        # An injected upstream 500 is relayed to the client (after the router's own retries).
        return self.fault == "fail" and self.status == INJECTED_STATUS

    @property
    def outcome(self) -> str:
        if self.client_error:
            return f"client_{self.client_error}"
        return f"{self.status}:{self.code}" if self.code else str(self.status)


@dataclass
class Sample:
    t: float
    rss_kb: int
    fds: int


@dataclass
class Run:
    results: list[Result] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)


# --- the OPA server, in its own process so its threads do not share the load generator's GIL ---


def _opa_process(policy_dir: str, urls: Any, commands: Any) -> None:
    from privacy_router.policy.opa_testserver import OpaTestServer

    with OpaTestServer(Path(policy_dir)) as opa:
        opa.stall_s = 0.1
        urls.put(opa.url)
        while True:
            command = commands.get()
            if command == "stop":
                return
            opa.fault = "stall" if command == "slow" else None
            opa.calls.clear()  # the list would grow for the whole soak


# --- load ---


def request_bodies(seed: int) -> list[dict[str, Any]]:
    """40 bodies: public, PII and PHI prompts; one asks the simulator for a 500, one to be slow."""
    rng = random.Random(seed)
    texts = [d.text for d in corpus.prompts(14, 1024, 0, corpus.PII_KINDS, seed=seed)]
    texts += [d.text for d in corpus.prompts(13, 1024, 3, corpus.PII_KINDS, seed=seed + 1)]
    texts += [
        d.text for d in corpus.prompts(13, 1024, 3, corpus.PHI_KINDS + corpus.COMMON_KINDS, seed=seed + 2)
    ]
    rng.shuffle(texts)
    bodies: list[dict[str, Any]] = [
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": t}],
            "max_tokens": 16,
            "stream": i % 2 == 1,
        }
        for i, t in enumerate(texts)
    ]
    # The {"kind": number} form: a number is not text, so the gateway's scan leaves it alone.
    bodies[7]["sim_fault"] = {"fail": 500}  # upstream 500 (2.5%)
    bodies[23]["sim_fault"] = {"slow": 10}  # 10 ms between chunks: seconds for an echoed 1 KB (2.5%)
    return bodies


def unique(body: dict[str, Any], phase: str, i: int) -> dict[str, Any]:
    """The body with a sentence that makes its text unique: real traffic does not repeat prompts,
    a repeated one would be answered from the detection cache, and the unique text gives each
    request its own prompt_hmac."""
    first = body["messages"][0]
    return {**body, "messages": [{**first, "content": f"{first['content']} Ticket {phase}-{i}."}]}


def make_job(body: dict[str, Any], phase: str, i: int) -> Job:
    sent = unique(body, phase, i)
    texts = [segment.text for segment in extract("chat.completions", sent).segments]
    fault = next(iter(sent["sim_fault"]), None) if "sim_fault" in sent else None
    return Job(sent, prompt_hmac(HMAC_KEY.encode(), texts), fault)


def make_jobs(bodies: list[dict[str, Any]], phase: str, n: int) -> list[Job]:
    """Prepared before the run, so the load generator spends no CPU on them while it runs."""
    return [make_job(bodies[i % len(bodies)], phase, i) for i in range(n)]


def _error_code(raw: bytes) -> str | None:
    try:
        error = json.loads(raw).get("error")
    except (ValueError, AttributeError):
        return "unreadable"
    if not isinstance(error, dict):
        return "unreadable"
    code = str(error.get("code"))
    reasons = error.get("reasons")
    if isinstance(reasons, list) and reasons:
        code += ":" + ";".join(str(r) for r in reasons)[:60]  # policy reason names, never content
    return code


async def _one(client: httpx.AsyncClient, url: str, job: Job, due: float, phase: str) -> Result:
    delay = due - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
    r = Result(phase, job.digest, bool(job.body.get("stream")), job.fault)
    try:
        async with client.stream("POST", url, json=job.body, headers=HEADERS) as response:
            r.status = response.status_code
            r.audit_id = response.headers.get("x-privacy-audit-id")
            error_body = b""
            async for chunk in response.aiter_raw():
                if r.ttfb_ms is None:
                    r.ttfb_ms = (time.perf_counter() - due) * 1000
                if r.status != 200:
                    error_body += chunk
            if r.status != 200:
                r.code = _error_code(error_body)
    except httpx.TimeoutException:
        r.client_error = "timeout"
    except httpx.HTTPError:
        r.client_error = "transport"
    r.latency_ms = (time.perf_counter() - due) * 1000
    return r


async def drive(
    base: str,
    jobs: list[Job],
    rate: float,
    phase: str,
    run: Run | None = None,
    pid: int | None = None,
    opa: Any = None,
) -> list[Result]:
    """Open loop: request i is due at t0 + i/rate whatever happened before (no coordinated omission)."""
    url = f"{base}/v1/chat/completions"
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=400)
    duration_s = len(jobs) / rate
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT_S, limits=limits) as client:
        t0 = time.perf_counter() + 0.2
        tasks = [
            asyncio.create_task(_one(client, url, job, t0 + i / rate, phase)) for i, job in enumerate(jobs)
        ]
        side = asyncio.create_task(_side(t0, duration_s, run, pid, opa)) if run is not None else None
        results = await asyncio.gather(*tasks)
        if side is not None:
            await side
    return list(results)


async def _side(t0: float, duration_s: float, run: Run | None, pid: int | None, opa: Any) -> None:
    """Every 5 s a memory/FD sample; the OPA server is slow for 1 s of every 20 s."""
    tick = 0
    while time.perf_counter() - t0 < duration_s:
        await asyncio.sleep(1.0)
        tick += 1
        if opa is not None:
            opa.put("slow" if tick % 20 == 10 else "ok")
        if run is not None and pid is not None and tick % 5 == 0:
            run.samples.append(Sample(time.perf_counter() - t0, process_rss_kb(pid), open_fds(pid)))
    if opa is not None:
        opa.put("ok")


def process_rss_kb(pid: int) -> int:
    return rss_kb(pid) + sum(rss_kb(c) for c in children(pid))


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def response_ms(r: Result) -> float:
    """What the ramp bounds: the last byte of a non-streamed answer, the first of a stream."""
    if r.stream and r.ttfb_ms is not None:
        return r.ttfb_ms
    return r.latency_ms


def capacity_ramp(
    base: str, bodies: list[dict[str, Any]], out: list[Result]
) -> tuple[float, list[dict[str, Any]]]:
    """The soak's mix without faults, at rising rates; every request goes to ``out`` (audited)."""
    steps: list[dict[str, Any]] = []
    held = 0.0
    # Warm-up, not measured (but audited and checked like every request): the first requests of a
    # fresh gateway open its upstream connections and load what is loaded on first use, and one
    # such request is the p99 of a 48-request step.
    out += asyncio.run(drive(base, make_jobs(bodies, "warmup", WARMUP_REQUESTS), 2.0, "warmup"))
    for rate in RAMP_RATES:
        phase = f"ramp{rate}"  # a phase per step: no prompt repeats across steps
        results = asyncio.run(drive(base, make_jobs(bodies, phase, int(rate * RAMP_STEP_S)), rate, phase))
        out += results
        ok = [r for r in results if r.status == 200 and not r.client_error]
        failed = Counter(r.outcome for r in results if r.status != 200 or r.client_error)
        p99 = stats.summary([response_ms(r) for r in ok])["p99"] if ok else float("inf")
        streams = [r.latency_ms for r in ok if r.stream]
        stream_total = stats.summary(streams)["p99"] if streams else float("nan")
        steps.append(
            {
                "rate": rate,
                "p99_ms": round(p99, 1),
                "stream_total_p99_ms": round(stream_total, 1),
                "failed": dict(failed),
            }
        )
        print(
            f"ramp {rate:>3} req/s: p99 {p99:7.1f} ms (stream to last byte {stream_total:7.1f} ms), "
            f"failed {dict(failed) or 0}",
            flush=True,
        )
        if p99 > RAMP_P99_MS or failed:
            break
        held = float(rate)
    return held, steps


# --- checks ---


def audit_records(db: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "privacy_router",
            "audit",
            "export",
            "--format",
            "jsonl",
            "--audit-db",
            str(db),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def recovery(
    base: str, bodies: list[dict[str, Any]], out: list[Result], deadline_s: float = 60.0
) -> float:
    """Seconds from now until the first of 8 probes in a row answered 200 within 500 ms (inf if
    never). The probes are real requests: they go to ``out`` for the audit check."""
    t0 = time.perf_counter()
    streak = 0
    clean = [b for b in bodies if "sim_fault" not in b and not b["stream"]]
    async with httpx.AsyncClient(timeout=30.0) as client:
        i = 0
        while time.perf_counter() - t0 < deadline_s:
            job = make_job(clean[i % len(clean)], "probe", i)
            started = time.perf_counter()
            r = await _one(client, f"{base}/v1/chat/completions", job, started, "probe")
            out.append(r)
            i += 1
            streak = streak + 1 if r.status == 200 and r.latency_ms <= 500 else 0
            if streak == 8:
                return started - t0 - 7 * 0.25 if started - t0 > 7 * 0.25 else 0.0
            await asyncio.sleep(max(0.0, 0.25 - (time.perf_counter() - started)))
    return float("inf")


def start_gateway(config: Path, log_path: Path) -> RunningGateway:
    env = {"PRIVACY_ROUTER_AUDIT_HMAC_KEY": HMAC_KEY}
    try:
        return RunningGateway(config, env=env, log_path=log_path).start()
    except RuntimeError:
        print(log_path.read_text(encoding="utf-8", errors="replace")[-3000:])
        raise


def sized_in_flight(capacity: float) -> int:
    """server.max_in_flight as docs/reliability.md says to size it (Little's law): the rate the
    replica sustains times how long an admitted request may wait, IN_FLIGHT_WAIT_S."""
    return max(8, math.ceil(capacity * IN_FLIGHT_WAIT_S))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--capacity", type=float, help="requests/s the gateway sustains (default: measure)")
    parser.add_argument(
        "--max-in-flight", type=int, help="server.max_in_flight for the soak and overload (default: sized)"
    )
    parser.add_argument("--soak-s", type=float, default=600.0)
    parser.add_argument("--overload-s", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="40 s soak and 15 s overload")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "soak.json")
    args = parser.parse_args()
    if args.quick:
        args.soak_s, args.overload_s = 40.0, 15.0
    bodies = request_bodies(seed=81)
    checks: list[tuple[str, bool, str]] = []
    figures: dict[str, Any] = {
        "command": " ".join(["python", "scripts/soak.py", *sys.argv[1:]]),
        "max_pending_detections": ServerSettings().max_pending_detections,
    }
    ctx = multiprocessing.get_context("spawn")
    urls, commands = ctx.Queue(), ctx.Queue()
    opa = ctx.Process(target=_opa_process, args=(str(ROOT / "policies"), urls, commands), daemon=True)
    opa.start()
    run = Run()
    with tempfile.TemporaryDirectory(prefix="pr-soak-") as tmp:
        work = Path(tmp)
        db = work / "audit.db"
        try:
            with RunningSimulator("vllm") as onprem, RunningSimulator("openai") as external:
                policy = {"engine": "opa", "opa_url": urls.get(timeout=60), "dir": str(ROOT / "policies")}

                def config(server: dict[str, Any]) -> Path:
                    # 2 detection workers, as deployed (docs/performance.md): detection off the event loop.
                    extra = {"policy": policy, "server": server}
                    path = work / "config.yaml"
                    return write_config(
                        path, onprem.url, external.url, db, 2, key=KEY, service="soak", extra=extra
                    )

                capacity = args.capacity
                if not capacity:
                    # The ramp runs with the default settings; its requests are audited and checked too.
                    ramp_log = work / "ramp.log"
                    gw = start_gateway(config({}), ramp_log)
                    try:
                        clean = [b for b in bodies if "sim_fault" not in b]
                        capacity, figures["ramp"] = capacity_ramp(gw.url, clean, run.results)
                    finally:
                        gw.stop()
                        figures["ramp_gateway_log"] = log_events(ramp_log)
                if capacity <= 0:
                    print("CHECK capacity FAIL (not even the lowest rate held)")
                    return 1
                figures["capacity_rps"] = capacity
                figures["max_in_flight"] = max_in_flight = args.max_in_flight or sized_in_flight(capacity)
                log_path = work / "gateway.log"
                # The same audit database: one chain for the whole run.
                gw = start_gateway(config({"max_in_flight": max_in_flight}), log_path)
                try:
                    assert gw.proc is not None
                    pid = gw.proc.pid
                    soak_rate = 0.7 * capacity
                    soak_jobs = make_jobs(bodies, "soak", max(1, int(soak_rate * args.soak_s)))
                    print(f"soak: {soak_rate:.1f} req/s for {args.soak_s:.0f} s", flush=True)
                    run.results += asyncio.run(
                        drive(gw.url, soak_jobs, soak_rate, "soak", run, pid, commands)
                    )
                    over_rate = 3 * capacity
                    over_jobs = make_jobs(bodies, "overload", max(1, int(over_rate * args.overload_s)))
                    print(f"overload: {over_rate:.1f} req/s for {args.overload_s:.0f} s", flush=True)
                    run.results += asyncio.run(drive(gw.url, over_jobs, over_rate, "overload"))
                    recovered_s = asyncio.run(recovery(gw.url, bodies, run.results))
                    alive = gw.proc.poll() is None
                finally:
                    gw.stop()
                    figures["gateway_log"] = log_events(log_path)
            records = audit_records(db)
            verified = (
                subprocess.run(
                    [sys.executable, "-m", "privacy_router", "audit", "verify", "--audit-db", str(db)],
                    capture_output=True,
                    timeout=600,
                ).returncode
                == 0
            )
        finally:
            commands.put("stop")
            opa.join(timeout=10)
    evaluate(run, records, verified, alive, recovered_s, soak_rate, over_rate, checks, figures)
    for name, ok, detail in checks:
        print(f"CHECK {name} {'PASS' if ok else 'FAIL'} ({detail})")
    figures["checks"] = {name: ok for name, ok, _ in checks}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in figures.items() if k not in ("checks", "memory")}, indent=2))
    return 0 if all(ok for _, ok, _ in checks) else 1


def log_events(path: Path) -> dict[str, int]:
    """Warnings and errors in the gateway's JSON log, by level, event and entity type or status
    (names only: the log holds no content), to tell why requests failed."""
    counts = Counter[str]()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("level") not in ("warning", "error", "critical"):
            continue
        detail = event.get("entity_type") or event.get("status") or event.get("reason") or ""
        counts[f"{event.get('level')}:{event.get('event')}:{detail}"] += 1
    return dict(counts.most_common(20))


def match_records(results: list[Result], records: list[dict[str, Any]]) -> dict[str, int]:
    """Records equal requests, request by request (each request's prompt_hmac is unique).

    A decision record must exist exactly once for every response that carried
    ``x-privacy-audit-id`` (with that id, for that prompt); never for a shed request (it was not
    admitted) or for an answer without the header (an error path that drops it); at most once for
    a request the client gave up on (the gateway may have decided it: not a lost record); and
    every record must belong to a request the script sent.
    """
    decisions = [r for r in records if r.get("record_type") == "decision"]
    by_digest: dict[str, list[dict[str, Any]]] = {}
    for record in decisions:
        by_digest.setdefault(str(record.get("prompt_hmac")), []).append(record)
    sent = Counter(r.digest for r in results)
    counts = Counter[str]()
    counts["decision_records"] = len(decisions)
    counts["requests"] = len(results)
    counts["repeated_prompts"] = sum(1 for n in sent.values() if n > 1)  # would make matching ambiguous
    counts["records_of_unknown_requests"] = sum(len(v) for d, v in by_digest.items() if d not in sent)
    for r in results:
        mine = by_digest.get(r.digest, [])
        if len(mine) > 1:
            counts["duplicated_records"] += 1
        if r.client_error:
            counts["client_gave_up_with_record" if mine else "client_gave_up_without_record"] += 1
        elif r.audit_id:
            counts["acknowledged"] += 1
            if not any(m["record_id"] == r.audit_id for m in mine):
                counts["missing_records"] += 1
        elif r.shed:
            counts["shed"] += 1
            if mine:
                counts["shed_but_audited"] += 1
        elif mine:
            counts["records_without_header"] += 1
        else:
            counts["refused_before_decision"] += 1  # e.g. 401/400: nothing to record
    return dict(counts)


RECORD_FAILURES = (
    "repeated_prompts",
    "records_of_unknown_requests",
    "duplicated_records",
    "missing_records",
    "shed_but_audited",
    "records_without_header",
)


def evaluate(
    run: Run,
    records: list[dict[str, Any]],
    verified: bool,
    alive: bool,
    recovered_s: float,
    soak_rate: float,
    over_rate: float,
    checks: list[tuple[str, bool, str]],
    figures: dict[str, Any],
) -> None:
    soak = [r for r in run.results if r.phase == "soak"]
    over = [r for r in run.results if r.phase == "overload"]
    soak_status = Counter(r.outcome for r in soak)
    over_status = Counter(r.outcome for r in over)
    ok_soak = [r.latency_ms for r in soak if r.status == 200 and not r.client_error]
    ok_over = [r.latency_ms for r in over if r.status == 200 and not r.client_error]
    figures["soak"] = {
        "rate_rps": round(soak_rate, 1),
        "requests": len(soak),
        "status": dict(soak_status),
        "latency_ms": stats.summary(ok_soak) if ok_soak else None,
    }
    figures["overload"] = {
        "rate_rps": round(over_rate, 1),
        "requests": len(over),
        "status": dict(over_status),
        "served_latency_ms": stats.summary(ok_over) if ok_over else None,
        "recovery_s": round(recovered_s, 2),
    }
    checks.append(("gateway-alive", alive, "the process never exited"))

    warm = [s for s in run.samples if s.t >= min(60.0, run.samples[-1].t / 3)] if run.samples else []
    if len(warm) >= 2:
        growth = (warm[-1].rss_kb - warm[0].rss_kb) / warm[0].rss_kb
        fd_growth = warm[-1].fds - warm[0].fds
        figures["memory"] = [(round(s.t), s.rss_kb, s.fds) for s in run.samples]
        figures["rss_mb"] = {
            "first": round(warm[0].rss_kb / 1024, 1),
            "last": round(warm[-1].rss_kb / 1024, 1),
        }
        figures["rss_growth"] = round(growth, 4)
        figures["fd"] = {"first": warm[0].fds, "last": warm[-1].fds}
        checks.append(("rss-growth<10%", growth < 0.10, f"{growth:+.1%}"))
        checks.append(("no-fd-growth", fd_growth <= 5, f"{warm[0].fds} -> {warm[-1].fds}"))
    else:
        checks.append(("memory-sampled", False, "fewer than 2 samples after warm-up"))

    # Soak: everything served except the injected upstream 500s (a client timeout is a failure).
    unexpected = Counter(
        r.outcome for r in soak if not (r.status == 200 and not r.client_error) and not r.injected
    )
    injected_share = sum(1 for r in soak if r.injected) / max(1, len(soak))
    checks.append(("soak-served", not unexpected, f"unexpected {dict(unexpected) or 'none'}"))
    checks.append(
        (
            "soak-faults-injected",
            0.01 < injected_share < 0.05,
            f"{injected_share:.1%} answered {INJECTED_STATUS}",
        )
    )

    # Overload: shed with 429 or 503 overloaded; nothing else but the injected upstream errors.
    shed = sum(1 for r in over if r.shed)
    other = Counter(
        r.outcome
        for r in over
        if not (r.status == 200 and not r.client_error) and not r.shed and not r.injected
    )
    checks.append(("overload-shed", shed > 0 and not other, f"shed {shed}, other {dict(other) or 'none'}"))
    checks.append(("recovered<10s", recovered_s < 10.0, f"{recovered_s:.2f} s"))

    matched = match_records(run.results, records)
    figures["audit"] = matched
    failures = {k: matched.get(k, 0) for k in RECORD_FAILURES if matched.get(k, 0)}
    gave_up = matched.get("client_gave_up_with_record", 0) + matched.get("client_gave_up_without_record", 0)
    checks.append(
        (
            "records-equal-requests",
            not failures,
            f"{matched.get('acknowledged', 0)} acknowledged, {matched.get('shed', 0)} shed, "
            f"{gave_up} client gave up; failures {failures or 'none'}",
        )
    )
    checks.append(("chain-verifies", verified, "privacy-router audit verify"))


if __name__ == "__main__":
    sys.exit(main())
