"""`privacy-router bench`: one run, one machine, ratios against stock Presidio and the upstream."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(add_completion=False)


@app.callback(invoke_without_command=True)
def bench(
    out: Annotated[Path, typer.Option(help="Directory for report.json and latency.png.")] = Path(
        "docs/bench"
    ),
    quick: Annotated[bool, typer.Option(help="Small corpora and short load steps (a smoke run).")] = False,
    rates: Annotated[str, typer.Option(help="Offered rates, req/s, comma-separated.")] = "5,10,20,30,40",
    duration: Annotated[float, typer.Option(help="Seconds per load step.")] = 10.0,
    workers: Annotated[int, typer.Option(help="Detection worker processes in the gateway.")] = 2,
    skip_gateway: Annotated[bool, typer.Option(help="Detection and micro benchmarks only.")] = False,
) -> None:
    """Detection vs stock Presidio, gateway added latency under open-loop load, policy, audit."""
    from privacy_router.bench import detection, gateway_load, micro, report
    from privacy_router.config import DetectionSettings

    def log(message: str) -> None:
        typer.echo(f"[{time.strftime('%H:%M:%S')}] {message}", err=True)

    started = time.time()
    load = os.getloadavg()
    result: dict[str, Any] = {
        "command": "privacy-router bench " + ("--quick" if quick else ""),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_at_start": load},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    log("policy and audit micro benchmarks")
    result["policy"] = micro.policy(200 if quick else 2000)
    result["audit"] = micro.audit(100 if quick else 1000)
    result["detection"] = detection.run(DetectionSettings(), quick=quick, workers=workers, log=log)
    if not skip_gateway:
        rate_list = [2.0, 5.0] if quick else [float(r) for r in rates.split(",") if r.strip()]
        result["gateway"] = gateway_load.run(
            rates=rate_list, duration=3.0 if quick else duration, workers=workers, limit_ms=100.0, log=log
        )
    result["elapsed_s"] = time.time() - started
    result["machine"]["loadavg_at_end"] = os.getloadavg()
    report.summarise(result)
    json_path, png = report.write(result, out)
    _print(result, report.goal_rows(result))
    typer.echo(f"wrote {json_path}" + (f" and {png}" if png else ""))


def _print(result: dict[str, Any], rows: list[tuple[str, str, str]]) -> None:
    d = result["detection"]
    typer.echo(f"\ndetection ({d['spacy_model']}), ours vs stock Presidio on the same texts:")
    typer.echo(
        f"  {'set':16} {'stock docs/s':>12} {'ours docs/s':>11} {'ratio':>6} {'cpu ratio':>9} "
        f"{'stock p50/p99 ms':>17} {'ours p50/p99 ms':>16} {'leak stock':>10} {'leak ours':>9}"
    )
    for name, s in d["sets"].items():
        st, ou = s["stock"], s["ours"]
        typer.echo(
            f"  {name:16} {st['docs_per_s']:12.1f} {ou['docs_per_s']:11.1f} {s['throughput_ratio']:6.2f} "
            f"{s['cpu_throughput_ratio']:9.2f} {st['ms']['p50']:8.1f}/{st['ms']['p99']:<8.1f} "
            f"{ou['ms']['p50']:7.1f}/{ou['ms']['p99']:<8.1f} "
            f"{st['leak_rate']:10.3f} {ou['leak_rate']:9.3f}"
        )
    for p in d.get("pool_1kb_by_workers", {}).values():
        typer.echo(
            f"  1 KB through {p['workers']} worker process(es): {p['docs_per_s']:.1f} docs/s "
            f"({p['throughput_ratio_vs_stock']:.2f}x stock in one process)"
        )
    c = d["chat"]
    typer.echo(
        f"  chat (CPU time): cached/newest {c['ratio_cached_to_newest_median']:.2f}x, "
        f"with answers pre-analysed "
        f"{c['ratio_prewarmed_to_newest_median']:.2f}x, "
        f"uncached turn 20 {c['ratio_full_to_newest_turn20']:.1f}x"
    )
    g = result.get("gateway")
    if g:
        typer.echo("\ngateway vs upstream direct (ms; added = gateway - direct, per percentile):")
        for p in g["points"]:
            gw = p["gateway"]
            add = p.get("added_ms", {})
            health = gw.get("healthz_ms", {})
            typer.echo(
                f"  {p['rate']:5.0f} req/s {'stream' if p['stream'] else 'plain ':6} "
                f"added p50/p95/p99 {add.get('p50', float('nan')):7.1f}/{add.get('p95', float('nan')):7.1f}/"
                f"{add.get('p99', float('nan')):7.1f}  errors {gw['error_fraction']:.2f}  "
                f"/healthz p99 {health.get('p99', float('nan')):6.1f}"
            )
        typer.echo(
            f"  highest rate with p99 <= 100 ms: plain {g.get('max_rate_non_streamed')}, "
            f"streamed {g.get('max_rate_streamed')}"
        )
        t = g["onprem_stream_ttfb"]
        typer.echo(
            f"  on-prem stream TTFB added p50 {t['added_p50_ms']:.1f} ms, of which pre-forward steps "
            f"{t['pre_forward_steps_p50_ms']:.1f} ms"
        )
        typer.echo(
            f"  resident memory: gateway {g['rss_mb']['gateway']:.0f} MB, children "
            f"{[round(x) for x in g['rss_mb']['workers']]} MB"
        )
    typer.echo(
        f"\npolicy p50/p99 {result['policy']['ms']['p50']:.3f}/{result['policy']['ms']['p99']:.3f} ms; "
        f"audit append p50/p99 {result['audit']['ms']['p50']:.3f}/{result['audit']['ms']['p99']:.3f} ms"
    )
    typer.echo("\ngoals (issue 4):")
    for label, value, v in rows:
        typer.echo(f"  {v:8} {label}: {value}")
    typer.echo(
        f"elapsed {result['elapsed_s']:.0f} s; load average at start {result['machine']['loadavg_at_start']}"
    )
