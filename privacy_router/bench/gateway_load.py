"""The gateway under open-loop load, against calling the upstream simulator directly.

Two simulators (on-prem vLLM, external OpenAI) and the gateway (``privacy-router serve``, with
detection workers, the embedded policy and the SQLite audit store at synchronous=FULL) run as
separate processes on loopback; the load generator is a third process (``loadgen.py``). At each
rate the same prompts go once straight to the simulator the gateway would choose and once
through the gateway; "added" is the per-percentile difference.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from privacy_router.bench import corpus, stats
from privacy_router.testing import RunningGateway, RunningSimulator

KEY = "bench-key"


def write_config(
    path: Path,
    onprem: str,
    external: str,
    audit_db: Path,
    workers: int,
    *,
    key: str = KEY,
    service: str = "bench",
    extra: dict[str, Any] | None = None,
) -> Path:
    """The gateway's config for load runs (this benchmark and scripts/soak.py): one on-prem and one
    external simulator, the SQLite audit store, ``workers`` detection processes, one API key whose
    service and tenant are ``service``, no per-key rate limits. ``extra`` adds or replaces whole
    top-level sections (e.g. ``{"policy": {...}}``)."""
    config: dict[str, Any] = {
        "audit": {"sqlite_path": str(audit_db)},
        "detection": {"workers": workers},
        "backends": {
            "onprem": [{"name": "vllm-a", "url": onprem, "region": "us-east", "models": ["llama-3.1-8b"]}],
            "external": [
                {
                    "name": "openai",
                    "url": external,
                    "region": "us",
                    "models": ["gpt-4o"],
                    "zero_data_retention": True,
                }
            ],
        },
        "model_map": {"gpt-4o": "llama-3.1-8b"},
        "api_keys": [
            {
                "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
                "service": service,
                "tenant": service,
                "jurisdiction": "US",
            }
        ],
        # Load runs offer more than the default per-key rate; token buckets are not what they measure.
        "auth": {"rate_limit": {"key_rps": None, "tenant_rps": None}},
        **(extra or {}),
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def bodies(docs: Sequence[corpus.Doc]) -> list[dict[str, Any]]:
    return [
        {"model": "gpt-4o", "messages": [{"role": "user", "content": d.text}], "max_tokens": 16} for d in docs
    ]


def load(
    url: str,
    body_list: list[dict[str, Any]],
    rate: float,
    duration: float,
    stream: bool,
    healthz: str | None,
    headers: dict[str, str],
    work: Path,
) -> dict[str, Any]:
    spec = {
        "url": url,
        "headers": headers,
        "bodies": body_list,
        "rate": rate,
        "duration_s": duration,
        "stream": stream,
        "healthz_url": healthz,
    }
    spec_path, out_path = work / "spec.json", work / "out.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "privacy_router.bench.loadgen", str(spec_path), str(out_path)],
        check=True,
        timeout=duration * 10 + 120,
    )
    raw = json.loads(out_path.read_text(encoding="utf-8"))
    results = raw["results"]
    ok = [r for r in results if 200 <= r[2] < 300]
    errors = (len(results) - len(ok)) / len(results)
    summary: dict[str, Any] = {"rate": rate, "stream": stream, "n": len(results), "error_fraction": errors}
    if ok:
        summary["latency_ms"] = stats.summary([r[0] for r in ok])
        summary["ttfb_ms"] = stats.summary([r[1] for r in ok])
    health = [h for h in raw["healthz_ms"] if h >= 0]
    if health:
        summary["healthz_ms"] = stats.summary(health)
    return summary


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def step_timings(log_path: Path) -> dict[str, dict[str, float]]:
    """Per-step latencies (detect, policy, audit, scrub) from the gateway's JSON request log."""
    steps: dict[str, list[float]] = {}
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"request"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        for k, v in (event.get("timings_ms") or {}).items():
            steps.setdefault(k, []).append(float(v))
    return {k: stats.summary(v) for k, v in steps.items() if v}


WARMUP_REQUESTS = 10


def run(
    *, rates: Sequence[float], duration: float, workers: int, limit_ms: float, log: Callable[[str], None]
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {KEY}"}
    # Unique prompts, so the cache never hides detection cost: every step (each rate, streamed and
    # not) gets its own slice, never sent before. PII without PHI goes out scrubbed for a US tenant
    # (detect, policy, scrub, rescan, audit); PHI stays on-prem.
    per_step = [int(rate * duration) + 5 for rate in rates]
    pii = bodies(corpus.prompts(2 * sum(per_step), 1024, 4, corpus.PII_KINDS, seed=21))
    phi = bodies(
        corpus.prompts(
            max(40, int(5 * duration) + 5), 1024, 4, corpus.PHI_KINDS + corpus.COMMON_KINDS, seed=22
        )
    )
    out: dict[str, Any] = {"limit_ms": limit_ms, "duration_s": duration, "workers": workers, "points": []}
    with tempfile.TemporaryDirectory(prefix="pr-bench-") as tmp:
        work = Path(tmp)
        with (
            RunningSimulator("vllm", record_path=work / "onprem.jsonl") as onprem,
            RunningSimulator("openai", record_path=work / "external.jsonl") as external,
        ):
            config = write_config(work / "config.yaml", onprem.url, external.url, work / "audit.db", workers)
            env = {"PRIVACY_ROUTER_AUDIT_HMAC_KEY": "bench-" + "0" * 32}
            log_path = work / "gateway.log"
            with RunningGateway(config, env=env, log_path=log_path) as gw:
                gw_url = f"{gw.url}/v1/chat/completions"
                ext_url = f"{external.url}/chat/completions"
                # Warm-up, not measured: a fresh gateway's first requests open its upstream
                # connections and load what is loaded on first use; with 50 requests a step, one
                # such request would be the step's p99. Prompts of their own, never sent again.
                warm = bodies(corpus.prompts(WARMUP_REQUESTS, 1024, 4, corpus.PII_KINDS, seed=23))
                load(gw_url, warm, 2.0, WARMUP_REQUESTS / 2.0, False, None, headers, work)
                offset = 0
                for stream in (False, True):
                    for rate, n in zip(rates, per_step, strict=True):
                        log(f"gateway: {rate:g} req/s, stream={stream}")
                        fresh, offset = pii[offset : offset + n], offset + n
                        direct = load(ext_url, fresh, rate, duration, stream, None, headers, work)
                        ours = load(gw_url, fresh, rate, duration, stream, f"{gw.url}/healthz", headers, work)
                        point = {"rate": rate, "stream": stream, "direct": direct, "gateway": ours}
                        if "latency_ms" in ours and "latency_ms" in direct:
                            point["added_ms"] = stats.added(ours["latency_ms"], direct["latency_ms"])
                        out["points"].append(point)
                        p99 = ours.get("latency_ms", {}).get("p99", float("inf"))
                        if p99 > limit_ms * 3 or ours["error_fraction"] > 0.05:
                            break  # far past the limit: higher rates only queue up
                for stream in (False, True):
                    key = "streamed" if stream else "non_streamed"
                    pts = [
                        (
                            p["rate"],
                            p["gateway"].get("latency_ms", {}).get("p99", float("inf")),
                            p["gateway"]["error_fraction"],
                        )
                        for p in out["points"]
                        if p["stream"] == stream
                    ]
                    out[f"max_rate_{key}"] = stats.max_sustained_rate(pts, limit_ms)

                log("gateway: on-prem streaming time to first byte (PHI prompts, 5 req/s)")
                first = log_path.stat().st_size
                direct = load(
                    f"{onprem.url}/chat/completions",
                    [{**b, "model": "llama-3.1-8b"} for b in phi],
                    5,
                    duration,
                    True,
                    None,
                    headers,
                    work,
                )
                ours = load(gw_url, phi, 5, duration, True, None, headers, work)
                tail = work / "tail.log"
                with log_path.open("rb") as f:
                    f.seek(first)
                    tail.write_bytes(f.read())
                steps = step_timings(tail)
                pre = sum(steps.get(k, {}).get("p50", 0.0) for k in ("detect", "policy", "audit", "scrub"))
                added_ttfb = ours["ttfb_ms"]["p50"] - direct["ttfb_ms"]["p50"]
                out["onprem_stream_ttfb"] = {
                    "direct_ms": direct["ttfb_ms"],
                    "gateway_ms": ours["ttfb_ms"],
                    "added_p50_ms": added_ttfb,
                    "pre_forward_steps_p50_ms": pre,
                    "added_p50_excluding_pre_forward_ms": added_ttfb - pre,
                    "steps": steps,
                }
                out["step_timings_all"] = step_timings(log_path)
                pid = gw.proc.pid if gw.proc else 0
                kids = children(pid)
                out["rss_mb"] = {"gateway": rss_kb(pid) / 1024, "workers": [rss_kb(k) / 1024 for k in kids]}
    return out
