"""The one place that turns ``AuditSettings`` into a store (STYLE.md: one registry per extension point).

``open_store`` opens the configured store and verifies the whole chain before returning it, so the
router never appends to a log that is already broken; with ``checkpoint_dir`` set, the store is
wrapped so that signed checkpoints are written as records arrive (checkpoints.py).
"""

from __future__ import annotations

import os

from psycopg.conninfo import conninfo_to_dict

from privacy_router.audit.base import AuditStore
from privacy_router.audit.checkpoints import CheckpointingStore, Signer
from privacy_router.audit.postgresql import PostgresAuditStore
from privacy_router.audit.sqlite import SqliteAuditStore, open_verified
from privacy_router.audit.store import require_ok
from privacy_router.config import AuditSettings
from privacy_router.errors import AuditWriteError


def open_raw(settings: AuditSettings, *, read_only: bool = False) -> SqliteAuditStore | PostgresAuditStore:
    """The configured store, not verified and without checkpointing (CLI readers use this)."""
    if settings.store == "postgresql":
        if not settings.pg_dsn:
            raise AuditWriteError("config key 'audit.pg_dsn' is required for the postgresql store")
        return PostgresAuditStore(settings.pg_dsn, schema=settings.pg_schema, read_only=read_only)
    return SqliteAuditStore(settings.sqlite_path)


def open_store(settings: AuditSettings) -> AuditStore:
    """Open the configured store for serving: role self-check (PostgreSQL), integrity check
    (SQLite), then the whole chain. Raises ``AuditWriteError`` naming the first bad seq; the router
    must then refuse to start."""
    if settings.store == "sqlite":
        return _with_checkpoints(open_verified(settings.sqlite_path), settings)
    store = open_raw(settings)
    try:
        report = store.verify()
    except BaseException:
        store.close()
        raise
    if not report.ok:
        store.close()
        require_ok(report, f"{settings.pg_schema} (postgresql)")
    return _with_checkpoints(store, settings)


def default_origin(settings: AuditSettings) -> str:
    """The checkpoint origin line: ``audit.checkpoint_origin``, else a name for the configured log."""
    if settings.checkpoint_origin:
        return settings.checkpoint_origin
    if settings.store == "postgresql":
        info = conninfo_to_dict(settings.pg_dsn or "")
        host, db = info.get("host") or "localhost", info.get("dbname") or info.get("user") or "postgres"
        return f"privacy-router/audit/postgresql/{host}/{db}/{settings.pg_schema}"
    return f"privacy-router/audit/sqlite/{settings.sqlite_path.resolve()}"


def load_signer(settings: AuditSettings) -> Signer:
    text = os.environ.get(settings.signing_key_env)
    if not text:
        raise AuditWriteError(
            f"config key 'audit.signing_key_env': environment variable {settings.signing_key_env} holds no "
            "signing key (create one with `privacy-router audit keygen NAME --public-key FILE`)"
        )
    return Signer.from_text(text)


def _with_checkpoints(store: SqliteAuditStore | PostgresAuditStore, settings: AuditSettings) -> AuditStore:
    if settings.checkpoint_dir is None:
        return store
    try:
        signer = load_signer(settings)
    except BaseException:
        store.close()
        raise
    return CheckpointingStore(
        store,
        signer=signer,
        origin=default_origin(settings),
        directory=settings.checkpoint_dir,
        every=settings.checkpoint_every,
        interval_s=settings.checkpoint_interval_s,
    )
