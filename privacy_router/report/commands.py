"""`privacy-router report economics`: cost per route and backend, on-prem share, crossover.

Method: docs/economics.md."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from privacy_router.audit.base import AuditStore, format_ts
from privacy_router.audit.commands import StoreOptions, record_cli_query
from privacy_router.audit.query import query_records
from privacy_router.config import Settings, load_settings
from privacy_router.errors import ConfigError
from privacy_router.report.economics import (
    EconomicsReport,
    build_report,
    collect,
    prices_from_settings,
    render_text,
    write_chart,
    write_csv,
)

app = typer.Typer(help="Reports from the audit log and the configuration.", no_args_is_help=True)

_RELATIVE = re.compile(r"(\d{1,5})([dh])")


def parse_when(value: str, *, end_of_day: bool, now: datetime | None = None) -> datetime:
    """ISO date or datetime, or a duration back from now (``7d``, ``12h``); always UTC-aware.
    A bare date is its start for --since and the end of that day for --until."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.fullmatch(value)
    if relative:
        n, unit = int(relative[1]), relative[2]
        return now - (timedelta(days=n) if unit == "d" else timedelta(hours=n))
    try:
        if len(value) == 10:
            start = datetime.fromisoformat(value).replace(tzinfo=UTC)
            return start + timedelta(days=1) if end_of_day else start
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date/datetime or a duration like 7d") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def economics_report(
    store: AuditStore, settings: Settings, since: datetime, until: datetime
) -> EconomicsReport:
    """Read the window's decision and completion records and price them (used by the CLI and the
    dashboard)."""
    records = query_records(store, since=since, until=until)
    return build_report(collect(records), prices_from_settings(settings), since, until)


@app.command("economics")
def economics_command(
    since: Annotated[str, typer.Option("--since", help="Start (inclusive): ISO date/datetime, or 7d, 12h")],
    until: Annotated[
        str | None, typer.Option("--until", help="End (exclusive): ISO date/datetime; default now")
    ] = None,
    audit_db: Annotated[
        Path | None,
        typer.Option("--audit", "--audit-db", help="SQLite audit file (default: the config's store)"),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="privacy-router YAML: backend prices and the audit store")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for economics.csv and economics.png")] = Path(
        "."
    ),
    chart: Annotated[
        bool, typer.Option("--chart/--no-chart", help="Draw economics.png (needs matplotlib)")
    ] = True,
) -> None:
    """Requests, tokens, API spend and on-prem cost per route and backend; the on-prem share and
    why; the daily volume above which moving the external share on-prem is cheaper."""
    start = parse_when(since, end_of_day=False)
    end = parse_when(until, end_of_day=True) if until is not None else datetime.now(UTC)
    if end <= start:
        typer.echo("error: --until must be after --since", err=True)
        raise typer.Exit(2)
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    if config is None:
        typer.echo("note: no --config: no backend prices, every cost is $0", err=True)
    options = StoreOptions(audit_db=audit_db, config=config)
    with options.reading() as store:
        report = economics_report(store, settings, start, end)
        record_cli_query(
            store,
            "report.economics",
            {"since": format_ts(start), "until": format_ts(end)},
            report.totals.requests + report.blocked,
        )
    for line in render_text(report):
        typer.echo(line)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(report, out / "economics.csv")
    typer.echo(f"\nwrote {out / 'economics.csv'}")
    if chart:
        try:
            write_chart(report, out / "economics.png")
        except ImportError:
            typer.echo("error: the chart needs matplotlib: pip install 'privacy-router[report]'", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"wrote {out / 'economics.png'}")
