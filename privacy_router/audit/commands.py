"""``privacy-router audit ...``: query, verify and checkpoint the audit log; migrate PostgreSQL.

The lead's cli.py registers this ``app`` as the ``audit`` sub-command. Every reading command opens
the store named by ``--audit-db`` (SQLite file), ``--dsn`` (PostgreSQL, read-only use), or the
``audit`` section of ``--config``.
"""

from __future__ import annotations

import contextlib
import csv
import getpass
import json
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from privacy_router.audit.archive import (
    ArchiveError,
    Retention,
    archive_rows,
    load_checkpoints,
    now_utc,
    plan_archive,
    retention_status,
    seal,
    verify_with_archive,
    write_archive,
)
from privacy_router.audit.base import Anchor, AuditStore, StoredRow
from privacy_router.audit.checkpoints import (
    CheckpointError,
    Signer,
    Verifier,
    default_state_file,
    sign_head,
    verify_against_checkpoint,
    write_checkpoint,
)
from privacy_router.audit.factory import default_origin, load_signer
from privacy_router.audit.merkle import CompactRange, leaf_hash
from privacy_router.audit.postgresql import DEFAULT_SCHEMA, PostgresAuditStore, migrate
from privacy_router.audit.proofs import (
    archive_name,
    prove_consistency,
    prove_inclusion,
    prove_record,
    verify_bundle,
)
from privacy_router.audit.query import RecordFilter, get_record, query_records, record_stats, search_records
from privacy_router.audit.records import audit_query_record
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.audit.verify import VerifyReport, verify
from privacy_router.config import AuditSettings, load_settings
from privacy_router.errors import AuditWriteError, RouterError
from privacy_router.types import Principal

app = typer.Typer(help="Query and verify the append-only audit log.", no_args_is_help=True)

AuditDbOpt = Annotated[
    Path | None,
    typer.Option("--audit-db", help="SQLite audit file (default: the audit section of --config)."),
]
DsnOpt = Annotated[
    str | None,
    typer.Option("--dsn", help="PostgreSQL DSN of a role that may SELECT the audit table (read-only use)."),
]
SchemaOpt = Annotated[
    str | None,
    typer.Option("--schema", help=f"PostgreSQL schema (default: audit.pg_schema, {DEFAULT_SCHEMA})."),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="privacy-router YAML configuration file.")]
ArchiveOpt = Annotated[
    Path | None,
    typer.Option(
        "--archive", help="Folder of `audit archive` files: include the archived records (from seq 1)."
    ),
]


@dataclass(frozen=True)
class StoreOptions:
    """The store options every reading command takes: --audit-db or --dsn override --config."""

    audit_db: Path | None = None
    dsn: str | None = None
    schema: str | None = None
    config: Path | None = None

    def settings(self) -> AuditSettings:
        """The audit settings the command works on."""
        audit_db, dsn, schema, config = self.audit_db, self.dsn, self.schema, self.config
        base = (
            load_settings(config).audit if config is not None or (audit_db is None and dsn is None) else None
        )
        base = base or AuditSettings()
        if audit_db is not None and dsn is not None:
            _fail("give --audit-db or --dsn, not both", 2)
        if audit_db is not None:
            return base.model_copy(update={"store": "sqlite", "sqlite_path": audit_db})
        if dsn is not None:
            return base.model_copy(
                update={"store": "postgresql", "pg_dsn": dsn, "pg_schema": schema or base.pg_schema}
            )
        if schema is not None:
            return base.model_copy(update={"pg_schema": schema})
        return base

    @contextlib.contextmanager
    def reading(
        self, *, code: int = 2, prefix: str = "error"
    ) -> Iterator[SqliteAuditStore | PostgresAuditStore]:
        """The store opened for reading, closed afterwards; a ``RouterError`` (cannot open, cannot
        read) ends the command with ``prefix: message`` and exit ``code``."""
        try:
            with _open_reader(self.settings()) as store:
                yield store
        except RouterError as exc:
            _fail(f"{prefix}: {exc.message}", code)


def _open_reader(settings: AuditSettings) -> SqliteAuditStore | PostgresAuditStore:
    """The store, opened for reading. Raises typer.Exit(2) with a message when it cannot be."""
    if settings.store == "sqlite":
        if not settings.sqlite_path.is_file():
            # Opening a missing path would create an empty log, which would then "verify".
            _fail(f"no audit database at {settings.sqlite_path}", 2)
        try:
            return SqliteAuditStore(settings.sqlite_path)
        except RouterError as exc:
            _fail(f"error: {exc.message}", 2)
    try:
        return PostgresAuditStore(settings.pg_dsn or "", schema=settings.pg_schema, read_only=True)
    except RouterError as exc:
        _fail(f"error: {exc.message}", 2)
    raise AssertionError("unreachable")  # _fail raises


def _fail(message: str, code: int) -> NoReturn:
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
    dsn: DsnOpt = None,
    schema: SchemaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Print audit records that match every given filter."""
    since_dt = _parse_when(since, end_of_day=False)
    until_dt = _parse_when(until, end_of_day=True)
    with StoreOptions(audit_db, dsn, schema, config).reading() as store:
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
    dsn: DsnOpt = None,
    schema: SchemaOpt = None,
    config: ConfigOpt = None,
    head: Annotated[
        str | None,
        typer.Option(
            help="Externally held head SEQ:HEX; fails if the log was truncated or rewritten behind it."
        ),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="A signed checkpoint file; fails on truncation, rewrite, bad signature, rollback."),
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="The checkpoint signer's public key file (keygen).")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            help="Where this verifier keeps the newest checkpoint it accepted (rollback detection)."
        ),
    ] = None,
    archive: ArchiveOpt = None,
) -> None:
    """Recompute the whole hash chain. Exit 0 when intact, 1 at the first bad record.

    After `audit archive` the live log is verified from its anchor (with --public-key, the anchor's
    signed checkpoint too); --archive DIR verifies archive and live log together from seq 1."""
    expect: tuple[int, str] | None = None
    if head is not None:
        seq_s, _, hex_s = head.partition(":")
        if not seq_s.isdigit() or len(hex_s) != 64:
            raise typer.BadParameter("--head must be SEQ:<64 hex digits>")
        expect = (int(seq_s), hex_s)
    if checkpoint is not None and public_key is None:
        raise typer.BadParameter("--checkpoint needs --public-key")
    opened = None
    if checkpoint is not None and public_key is not None:
        try:
            verifier = Verifier.from_text(public_key.read_text(encoding="utf-8"))
            opened = verifier.open(checkpoint.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"FAILED: cannot read checkpoint or key ({type(exc).__name__})", 1)
        except CheckpointError as exc:
            _fail(f"FAILED: {exc.message}", 1)
    key = _verifier(public_key) if public_key is not None else None
    with StoreOptions(audit_db, dsn, schema, config).reading(code=1, prefix="FAILED") as store:
        anchor = store.anchor()
        if archive is not None:
            report = verify_with_archive(
                archive, anchor, lambda start: _progress(store.iter_rows(start), "verify", None), key
            )
            anchor = None  # the rows below now start at seq 1 (archive first)
        else:
            report = _verify_with_progress(store)
            if report.ok and anchor is not None and key is not None:
                report = _check_anchor(anchor, key, report)

        def rows() -> Iterator[StoredRow]:
            return _all_rows(store, archive) if archive is not None else store.iter_rows()

        if report.ok and expect is not None:
            report = verify(rows(), expect_head=expect, anchor=anchor)
        if report.ok and opened is not None:
            report = verify_against_checkpoint(
                rows, opened, state_file=state or default_state_file(), anchor=anchor
            )
    _print_report(report)
    if opened is not None:
        typer.echo(f"checkpoint {opened.origin} size {opened.size} ({opened.time}) verified")


def _verifier(public_key: Path) -> Verifier:
    try:
        return Verifier.from_text(public_key.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"FAILED: cannot read the public key ({type(exc).__name__})", 1)
    except CheckpointError as exc:
        _fail(f"FAILED: {exc.message}", 1)


def _check_anchor(anchor: Anchor, verifier: Verifier, report: VerifyReport) -> VerifyReport:
    """The anchor's own signed checkpoint must verify and name the anchor's seq and head."""
    try:
        sealed = verifier.open(anchor.checkpoint)
    except CheckpointError as exc:
        return VerifyReport(
            False, anchor.seq, anchor.seq, f"anchor: {exc.message}", report.head_hash, anchor.seq
        )
    if (sealed.size, sealed.head) != (anchor.seq, anchor.entry_hash):
        return VerifyReport(
            False,
            anchor.seq,
            anchor.seq,
            "anchor differs from its signed checkpoint",
            report.head_hash,
            anchor.seq,
        )
    return report


def _all_rows(store: SqliteAuditStore | PostgresAuditStore, archive: Path | None) -> Iterator[StoredRow]:
    """Every record from seq 1: the archive's, then the live store's. Without ``archive`` the live
    store must hold the whole log."""
    anchor = store.anchor()
    if archive is None:
        if anchor is not None:
            raise ArchiveError(f"records 1..{anchor.seq} are archived; give --archive DIR")
        return store.iter_rows()

    def rows() -> Iterator[StoredRow]:
        last = 0
        for row in archive_rows(archive):
            last = row.seq
            yield row
        if last != (anchor.seq if anchor else 0):
            raise ArchiveError(f"the archive ends at seq {last}, the live store's anchor is elsewhere")
        yield from store.iter_rows(last + 1)

    return rows()


@app.command("archive")
def archive_cmd(
    before: Annotated[
        str,
        typer.Option(help="Archive whole checkpointed segments whose records are all older than this date."),
    ],
    to: Annotated[Path, typer.Option("--to", help="Folder for the archive files (JSONL + manifest).")],
    public_key: Annotated[
        Path,
        typer.Option(
            "--public-key", help="The checkpoint signer's public key: segments end at signed checkpoints."
        ),
    ],
    checkpoints: Annotated[
        Path | None,
        typer.Option("--checkpoints", help="Folder of signed checkpoints (default: audit.checkpoint_dir)."),
    ] = None,
    origin: Annotated[
        str | None,
        typer.Option(
            "--origin",
            help="The log's checkpoint origin (default: audit.checkpoint_origin, else the gateway's name "
            "for this log); checkpoints of other logs in the folder are skipped.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be archived; change nothing.")
    ] = False,
    audit_db: AuditDbOpt = None,
    dsn: Annotated[
        str | None,
        typer.Option("--dsn", help="PostgreSQL DSN of the OWNER role (the router's role cannot delete)."),
    ] = None,
    schema: SchemaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Seal records past their retention into a signed archive and remove them from the live store.

    Refuses (exit 2) when a record that --before would take is still within its retention
    (audit.retention). The live log keeps verifying from an anchor; `verify --archive DIR` checks
    archive and live log together."""
    cutoff = _parse_when(before, end_of_day=False)
    if cutoff is None:
        raise typer.BadParameter("--before is required")
    cutoff = cutoff if cutoff.tzinfo is not None else cutoff.replace(tzinfo=UTC)
    options = StoreOptions(audit_db, dsn, schema, config)
    settings = options.settings()
    folder = checkpoints or settings.checkpoint_dir
    if folder is None:
        _fail("no --checkpoints given and audit.checkpoint_dir is not set", 2)
    retention = Retention.from_settings(settings.retention)
    verifier = _verifier(public_key)
    now = now_utc()
    with options.reading() as store:
        log_origin = origin or default_origin(settings)
        signed = load_checkpoints(folder, verifier, log_origin)
        if not signed:
            typer.echo(f"nothing to archive: no signed checkpoint of {log_origin} in {folder}")
            return
        plan = plan_archive(store, signed, retention, before=cutoff, now=now)
        if plan is None:
            typer.echo("nothing to archive: no whole checkpointed segment is older than --before")
            return
        count = plan.last_seq - plan.first_seq + 1
        if dry_run:
            typer.echo(
                f"would archive seq {plan.first_seq}..{plan.last_seq} ({count} records); stops: {plan.reason}"
            )
            return
        manifest = write_archive(store, plan, to, retention, now)
        # Read the whole archive back and verify its chain before anything is deleted.
        written = verify(archive_rows(to, verifier))
        if not written.ok or written.records != plan.last_seq:
            _fail(
                f"error: the archive in {to} does not verify after writing ({written.problem}); "
                "nothing removed",
                2,
            )
        deleted = seal(store, plan, manifest)
    typer.echo(
        f"archived seq {plan.first_seq}..{plan.last_seq} ({count} records, {deleted} removed from the live "
        f"store) to {manifest}; the live log now starts at seq {plan.last_seq + 1}"
    )


@app.command("writers")
def writers_cmd(
    audit_db: AuditDbOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Per writer (router replica) of the one chain: records, first and last seq, last append (JSON)."""
    with StoreOptions(audit_db, dsn, schema, config).reading() as store:
        status = [asdict(w) for w in store.writer_status()]
    typer.echo(json.dumps(status, indent=2, sort_keys=True))


@app.command("migrate")
def migrate_cmd(
    dsn: Annotated[str, typer.Option("--dsn", help="DSN of the OWNER role (never the router's role).")],
    schema: Annotated[str, typer.Option(help="Schema to create or upgrade.")] = DEFAULT_SCHEMA,
    runtime_role: Annotated[
        str | None,
        typer.Option("--runtime-role", help="Role the router runs as: gets INSERT and SELECT only."),
    ] = None,
    reader_role: Annotated[
        str | None, typer.Option("--reader-role", help="Role for compliance tools: gets SELECT only.")
    ] = None,
) -> None:
    """Create or upgrade the PostgreSQL audit schema (audit/postgresql/NNN_*.sql) and grant roles."""
    try:
        applied = migrate(dsn, schema=schema, runtime_role=runtime_role, reader_role=reader_role)
    except RouterError as exc:
        _fail(f"error: {exc.message}", 2)
    typer.echo(f"applied: {', '.join(applied)}" if applied else "up to date")


@app.command("keygen")
def keygen_cmd(
    name: Annotated[str, typer.Argument(help="Key name, e.g. acme-audit-2026 (printable ASCII, no '+').")],
    public_key: Annotated[
        Path, typer.Option("--public-key", help="Where to write the public (verifier) key.")
    ],
) -> None:
    """Create an Ed25519 checkpoint signing key. Prints the PRIVATE key: put it in the environment
    variable named by audit.signing_key_env (from a secret store), never in the config file."""
    try:
        signer = Signer.generate(name)
    except CheckpointError as exc:
        _fail(f"error: {exc.message}", 2)
    public_key.write_text(signer.verifier().text() + "\n", encoding="utf-8")
    typer.echo(signer.private_text())


@app.command("checkpoint")
def checkpoint_cmd(
    audit_db: AuditDbOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = None,
    config: ConfigOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--dir", help="Folder to write to (default: audit.checkpoint_dir).")
    ] = None,
) -> None:
    """Verify the whole chain, then sign its head now and write the checkpoint file."""
    options = StoreOptions(audit_db, dsn, schema, config)
    settings = options.settings()
    directory = out_dir or settings.checkpoint_dir
    if directory is None:
        _fail("no --dir given and audit.checkpoint_dir is not set", 2)
    try:
        signer = load_signer(settings)
        with options.reading() as store:
            report = store.verify()
            if not report.ok:
                _print_report(report)
            anchor = store.anchor()
            compact = anchor.compact() if anchor is not None else CompactRange()
            for row in store.iter_rows(compact.size + 1):
                if row.seq > report.records:
                    break
                compact.append(leaf_hash(row.canon))
            merkle = compact.root()
        note = sign_head(
            signer, default_origin(settings), report.records, report.head_hash, merkle_root=merkle
        )
        path = write_checkpoint(directory, note, report.records)
    except RouterError as exc:
        _fail(f"error: {exc.message}", 2)
    typer.echo(f"wrote {path}")
    typer.echo(note, nl=False)


def _verify_with_progress(store: SqliteAuditStore | PostgresAuditStore) -> VerifyReport:
    """``store.verify()`` (SQLite integrity check, then the live chain from its anchor) with a
    progress bar."""
    if isinstance(store, SqliteAuditStore):
        problem = store.integrity_check()
        if problem is not None:
            return VerifyReport(False, 0, None, f"integrity_check: {problem}", "00" * 32)
    anchor = store.anchor()
    start = anchor.seq + 1 if anchor is not None else 1
    return verify(_progress(store.iter_rows(start), "verify", None), anchor=anchor)


def _print_report(report: VerifyReport) -> None:
    if report.ok:
        typer.echo(f"OK: {report.records} records, head {report.head_hash}")
        if report.archived:
            typer.echo(
                f"records 1..{report.archived} are archived: the live log was verified from its anchor "
                "(add --archive DIR to verify them too)"
            )
        return
    where = f" at seq {report.first_bad_seq}" if report.first_bad_seq is not None else ""
    typer.echo(f"FAILED{where}: {report.problem}")
    raise typer.Exit(1)


@app.command("prove")
def prove_cmd(
    checkpoint: Annotated[Path, typer.Option(help="The signed checkpoint the proof is against.")],
    public_key: Annotated[
        Path, typer.Option("--public-key", help="The checkpoint signer's public key file.")
    ],
    seq: Annotated[int | None, typer.Option(help="Prove that record SEQ is in the log (inclusion).")] = None,
    old: Annotated[
        Path | None, typer.Option(help="An older checkpoint: prove the log only grew since (consistency).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the bundle here instead of printing it.")] = None,
    archive: ArchiveOpt = None,
    audit_db: AuditDbOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Make an inclusion (--seq) or consistency (--old) proof bundle, checkable offline by verify-proof.

    After `audit archive` a live record is proved from the store's anchor, without the archive; an
    archived record (and a consistency proof) needs --archive DIR."""
    if (seq is None) == (old is None):
        raise typer.BadParameter("give exactly one of --seq or --old")
    try:
        verifier = Verifier.from_text(public_key.read_text(encoding="utf-8"))
        note = checkpoint.read_text(encoding="utf-8")
        with StoreOptions(audit_db, dsn, schema, config).reading(code=1) as store:
            if seq is not None and archive is None:
                anchor = store.anchor()
                if anchor is not None and 1 <= seq <= anchor.seq:
                    raise ArchiveError(
                        f"record seq {seq} is archived (records 1..{anchor.seq} are in "
                        f"{archive_name(anchor)}); give --archive DIR"
                    )
                bundle = prove_record(store.iter_rows, anchor, note, verifier, seq)
            elif seq is not None:
                bundle = prove_inclusion(_all_rows(store, archive), note, verifier, seq)
            elif old is not None:
                rows = _all_rows(store, archive)
                bundle = prove_consistency(rows, old.read_text(encoding="utf-8"), note, verifier)
            else:
                raise typer.BadParameter("give exactly one of --seq or --old")
    except OSError as exc:
        _fail(f"error: cannot read checkpoint or key ({type(exc).__name__})", 2)
    except RouterError as exc:
        _fail(f"error: {exc.message}", 1)
    text = json.dumps(bundle, indent=1, sort_keys=True) + "\n"
    if out is not None:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text, nl=False)


@app.command("verify-proof")
def verify_proof_cmd(
    bundle: Annotated[Path, typer.Argument(help="A bundle written by `audit prove`.")],
    public_key: Annotated[
        Path, typer.Option("--public-key", help="The checkpoint signer's public key file.")
    ],
) -> None:
    """Check a proof bundle offline (no database): exit 0 when it holds, 1 otherwise."""
    try:
        verifier = Verifier.from_text(public_key.read_text(encoding="utf-8"))
        summary = verify_bundle(bundle.read_text(encoding="utf-8"), verifier)
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"FAILED: cannot read bundle or key ({type(exc).__name__})", 1)
    except CheckpointError as exc:
        _fail(f"FAILED: {exc.message}", 1)
    typer.echo(f"OK: {summary}")


# -- show / stats / export (the CLI side of GET /v1/audit/records/{id}, /stats, /export) ----------

EXPORT_COLUMNS: tuple[str, ...] = (
    "seq",
    "ts",
    "record_id",
    "record_type",
    "request_id",
    "tenant",
    "service",
    "key_id",
    "endpoint",
    "action",
    "backend",
    "backend_region",
    "policy_id",
    "policy_revision",
    "entity_types",
    "categories",
    "status",
    "outcome",
    "entry_hash",
)


def _cli_principal() -> Principal:
    """Who ran the command, as far as the machine knows: the OS account (an identifier or
    ``unknown``). The CLI has no API key; the audit_query record says so with ``key_id=cli``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}", user):
        user = "unknown"
    return Principal(
        service="privacy-router-cli", tenant=f"os-user:{user}", jurisdiction="local", key_id="cli"
    )


def record_cli_query(
    store: AuditStore, operation: str, filters: dict[str, Any], rows: int, record_id: str | None = None
) -> bool:
    """Append the ``audit_query`` record of one CLI read (issue 6: every query and export is
    recorded). Returns False when the store is read-only (``--dsn`` opens PostgreSQL read-only; a
    reader role may not INSERT): the read is then not recorded, which the command says on stderr."""
    try:
        store.append(
            audit_query_record(
                request_id=f"aq-{uuid.uuid4().hex}",
                principal=_cli_principal(),
                surface="cli",
                operation=operation,
                filters=filters,
                rows=rows,
                record_id=record_id,
            )
        )
    except AuditWriteError:
        typer.echo("note: this read was not recorded in the audit log (store not writable)", err=True)
        return False
    return True


def _progress(rows: Iterable[Any], label: str, total: int | None) -> Iterator[Any]:
    """``rows`` with a rich progress bar on stderr when it is a terminal (nothing otherwise)."""
    console = Console(stderr=True)
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        for row in rows:
            yield row
            progress.advance(task)


def _filter(
    since: str | None,
    until: str | None,
    tenant: str | None,
    service: str | None,
    action: str | None,
    backend: str | None,
    entity_type: str | None,
    policy_revision: str | None,
    record_type: str | None,
) -> RecordFilter:
    return RecordFilter(
        since=_parse_when(since, end_of_day=False),
        until=_parse_when(until, end_of_day=True),
        tenant=tenant,
        service=service,
        action=action,
        backend=backend,
        entity_type=entity_type,
        policy_revision=policy_revision,
        record_type=record_type,
    )


SinceOpt = Annotated[str | None, typer.Option(help="From this ISO date/datetime (inclusive).")]
UntilOpt = Annotated[
    str | None, typer.Option(help="Up to this ISO date/datetime (a date includes that day).")
]
TenantOpt = Annotated[str | None, typer.Option(help="Only this tenant.")]
ServiceOpt = Annotated[str | None, typer.Option(help="Only this calling service.")]
ActionOpt = Annotated[str | None, typer.Option(help="onprem | external | external_scrubbed | block")]
BackendOpt = Annotated[str | None, typer.Option(help="Only this backend.")]
EntityOpt = Annotated[str | None, typer.Option("--entity-type", help="Only records with this entity type.")]
RevisionOpt = Annotated[str | None, typer.Option("--policy-revision", help="Only this policy revision.")]


@app.command("show")
def show_cmd(
    record_id: Annotated[str, typer.Argument(help="The record id (x-privacy-audit-id).")],
    audit_db: AuditDbOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Print one record as JSON (with its entry_hash and prev_hash). Exit 1 when there is none."""
    with StoreOptions(audit_db, dsn, schema, config).reading() as store:
        record = get_record(store, record_id)
        found = record is not None
        record_cli_query(store, "record", {}, 1 if found else 0, record_id=record_id if found else None)
    if record is None:
        _fail(f"no record with id {record_id!r}" if _SAFE_ID.fullmatch(record_id) else "no such record", 1)
    typer.echo(json.dumps(record, indent=2, sort_keys=True))


_SAFE_ID = re.compile(r"[0-9a-fA-F-]{1,64}")


@app.command("stats")
def stats_cmd(
    since: SinceOpt = None,
    until: UntilOpt = None,
    tenant: TenantOpt = None,
    service: ServiceOpt = None,
    action: ActionOpt = None,
    backend: BackendOpt = None,
    entity_type: EntityOpt = None,
    policy_revision: RevisionOpt = None,
    audit_db: AuditDbOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Counts of requests (decision records) by day, action, tenant, service, entity type, as JSON."""
    flt = _filter(since, until, tenant, service, action, backend, entity_type, policy_revision, None)
    options = StoreOptions(audit_db, dsn, schema, config)
    retention = Retention.from_settings(options.settings().retention)
    with options.reading() as store:
        stats = record_stats(store, flt)
        stats["retention"] = retention_status(store.iter_rows(), retention, now_utc())
        record_cli_query(store, "stats", dict(flt.audit_view()), int(stats["requests"]))
    if stats["retention"]["warning"]:
        typer.echo(f"warning: {stats['retention']['warning']}", err=True)
    typer.echo(json.dumps(stats, indent=2, sort_keys=True))


def csv_row(record: dict[str, Any]) -> list[str]:
    """One record flattened to EXPORT_COLUMNS (lists joined with ``;``; missing fields empty)."""
    principal = record.get("principal") or {}
    policy = record.get("policy") or {}
    values: dict[str, Any] = {
        **record,
        "tenant": principal.get("tenant"),
        "service": principal.get("service"),
        "key_id": principal.get("key_id"),
        "policy_id": policy.get("id"),
        "policy_revision": policy.get("revision"),
        "entity_types": ";".join(str(e.get("type")) for e in record.get("entities") or []),
        "categories": ";".join(str(c) for c in record.get("categories") or []),
    }
    return ["" if values.get(c) is None else str(values[c]) for c in EXPORT_COLUMNS]


@app.command("export")
def export_cmd(
    fmt: Annotated[str, typer.Option("--format", help="csv | jsonl")] = "jsonl",
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of standard output.")] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    tenant: TenantOpt = None,
    service: ServiceOpt = None,
    action: ActionOpt = None,
    backend: BackendOpt = None,
    entity_type: EntityOpt = None,
    policy_revision: RevisionOpt = None,
    record_type: Annotated[
        str | None, typer.Option("--record-type", help="decision | completion | ...")
    ] = None,
    audit_db: AuditDbOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Stream matching records as CSV (one row per record, EXPORT_COLUMNS) or JSONL (the whole
    canonical record plus entry_hash and prev_hash). Records are read in batches, never all at once."""
    if fmt not in ("csv", "jsonl"):
        raise typer.BadParameter("--format must be csv or jsonl")
    flt = _filter(since, until, tenant, service, action, backend, entity_type, policy_revision, record_type)
    count = 0
    with StoreOptions(audit_db, dsn, schema, config).reading() as store:
        stream = open(out, "w", encoding="utf-8", newline="") if out else sys.stdout  # noqa: SIM115
        try:
            writer = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
            if writer is not None:
                writer.writerow(EXPORT_COLUMNS)
            for record in _progress(search_records(store, flt), f"export {fmt}", None):
                if writer is not None:
                    writer.writerow(csv_row(record))
                else:
                    stream.write(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")
                count += 1
        finally:
            if out:
                stream.close()
        record_cli_query(store, f"export.{fmt}", dict(flt.audit_view()), count)
    if out:
        typer.echo(f"wrote {count} records to {out}", err=True)
