"""``privacy-router audit ...``: query and verify the audit log (for compliance officers).

The lead's cli.py registers this ``app`` as the ``audit`` sub-command.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from privacy_router.audit.query import query_records
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.audit.verify import VerifyReport, verify
from privacy_router.config import load_settings
from privacy_router.errors import RouterError

app = typer.Typer(help="Query and verify the append-only audit log.", no_args_is_help=True)

AuditDbOpt = Annotated[
    Path | None,
    typer.Option("--audit-db", help="SQLite audit file (default: audit.sqlite_path from --config)."),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="privacy-router YAML configuration file.")]


def _store_path(audit_db: Path | None, config: Path | None) -> Path:
    if audit_db is not None:
        path = audit_db
    else:
        settings = load_settings(config)
        if settings.audit.store != "sqlite":
            _fail(f"audit.store is {settings.audit.store!r}; these commands read SQLite: pass --audit-db", 2)
        path = settings.audit.sqlite_path
    if not path.is_file():
        # Opening a missing path would create an empty log, which would then "verify".
        _fail(f"no audit database at {path}", 2)
    return path


def _fail(message: str, code: int) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _parse_when(value: str | None, *, end_of_day: bool) -> datetime | None:
    """ISO date or datetime. A bare date means its start for --since and its end for --until
    (``--until 2026-01-31`` includes the whole of that day). Naive values are UTC."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            start = datetime(d.year, d.month, d.day)
            return start + timedelta(days=1) if end_of_day else start
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO date or datetime (e.g. 2026-01-31T09:00Z)"
        ) from None


@app.command("query")
def query_cmd(
    since: Annotated[str | None, typer.Option(help="From this ISO date/datetime (inclusive).")] = None,
    until: Annotated[
        str | None, typer.Option(help="Up to this ISO date/datetime (a date includes that day).")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    action: Annotated[str | None, typer.Option(help="onprem | external | external_scrubbed | block")] = None,
    entity_type: Annotated[
        str | None, typer.Option("--entity-type", help="Only records with this entity.")
    ] = None,
    record_type: Annotated[
        str | None, typer.Option("--record-type", help="decision | completion | ...")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most N records.")] = None,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="One JSON record per line instead of a table.")
    ] = False,
    audit_db: AuditDbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Print audit records that match every given filter."""
    since_dt = _parse_when(since, end_of_day=False)
    until_dt = _parse_when(until, end_of_day=True)
    path = _store_path(audit_db, config)
    try:
        with SqliteAuditStore(path) as store:
            records = query_records(
                store,
                since=since_dt,
                until=until_dt,
                tenant=tenant,
                action=action,
                entity_type=entity_type,
                record_type=record_type,
                limit=limit,
            )
    except RouterError as exc:
        _fail(f"error: {exc.message}", 2)
    if jsonl:
        for r in records:
            typer.echo(json.dumps(r, sort_keys=True, separators=(",", ":")))
        return
    table = Table(title=f"{len(records)} audit records")
    for col in ("seq", "ts", "type", "tenant", "action", "backend", "entities", "request_id"):
        table.add_column(col, overflow="fold")
    for r in records:
        entities = ", ".join(f"{e['type']}x{e['count']}" for e in r.get("entities") or [])
        table.add_row(
            str(r["seq"]),
            r["ts"],
            r["record_type"],
            (r.get("principal") or {}).get("tenant") or "",
            r.get("action") or r.get("outcome") or "",
            r.get("backend") or "",
            entities,
            r.get("request_id") or "",
        )
    Console(width=160).print(table)


@app.command("verify")
def verify_cmd(
    audit_db: AuditDbOpt = None,
    config: ConfigOpt = None,
    head: Annotated[
        str | None,
        typer.Option(
            help="Externally held head SEQ:HEX; fails if the log was truncated or rewritten behind it."
        ),
    ] = None,
) -> None:
    """Recompute the whole hash chain. Exit 0 when intact, 1 at the first bad record."""
    expect: tuple[int, str] | None = None
    if head is not None:
        seq_s, _, hex_s = head.partition(":")
        if not seq_s.isdigit() or len(hex_s) != 64:
            raise typer.BadParameter("--head must be SEQ:<64 hex digits>")
        expect = (int(seq_s), hex_s)
    path = _store_path(audit_db, config)
    try:
        with SqliteAuditStore(path) as store:
            report = store.verify()
            if report.ok and expect is not None:
                report = verify(store.iter_rows(), expect_head=expect)
    except RouterError as exc:
        _fail(f"FAILED: {exc.message}", 1)
    _print_report(report)


def _print_report(report: VerifyReport) -> None:
    if report.ok:
        typer.echo(f"OK: {report.records} records, head {report.head_hash}")
        return
    where = f" at seq {report.first_bad_seq}" if report.first_bad_seq is not None else ""
    typer.echo(f"FAILED{where}: {report.problem}")
    raise typer.Exit(1)
