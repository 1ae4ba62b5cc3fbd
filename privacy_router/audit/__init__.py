"""Append-only, hash-chained audit log (DESIGN.md "Audit record").

Build records with ``records``, append them through an ``AuditStore`` opened by ``open_store``
(``SqliteAuditStore`` is the embedded default, ``PostgresAuditStore`` serves several replicas),
check them with ``verify``; ``checkpoints`` signs heads so truncation and rewrites show off the box.
"""

from privacy_router.audit.base import AuditStore, QueryableStore, Receipt, StoredRow
from privacy_router.audit.canonical import GENESIS_HASH, canonical, entry_hash
from privacy_router.audit.checkpoints import Checkpoint, CheckpointingStore, Signer, Verifier
from privacy_router.audit.factory import open_store
from privacy_router.audit.postgresql import PostgresAuditStore, migrate
from privacy_router.audit.query import query_records
from privacy_router.audit.records import (
    completion_record,
    decision_record,
    load_hmac_key,
    prompt_hmac,
)
from privacy_router.audit.sqlite import SqliteAuditStore, open_verified
from privacy_router.audit.verify import VerifyReport, verify

__all__ = [
    "GENESIS_HASH",
    "AuditStore",
    "Checkpoint",
    "CheckpointingStore",
    "PostgresAuditStore",
    "QueryableStore",
    "Receipt",
    "Signer",
    "SqliteAuditStore",
    "StoredRow",
    "Verifier",
    "VerifyReport",
    "canonical",
    "completion_record",
    "decision_record",
    "entry_hash",
    "load_hmac_key",
    "migrate",
    "open_store",
    "open_verified",
    "prompt_hmac",
    "query_records",
    "verify",
]
