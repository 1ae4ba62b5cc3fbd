"""Append-only, hash-chained audit log (DESIGN.md "Audit record").

Build records with ``records``, append them through an ``AuditStore`` (``SqliteAuditStore`` is the
embedded default), check them with ``verify``.
"""

from privacy_router.audit.base import AuditStore, QueryableStore, Receipt, StoredRow
from privacy_router.audit.canonical import GENESIS_HASH, canonical, entry_hash
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
    "QueryableStore",
    "Receipt",
    "SqliteAuditStore",
    "StoredRow",
    "VerifyReport",
    "canonical",
    "completion_record",
    "decision_record",
    "entry_hash",
    "load_hmac_key",
    "open_verified",
    "prompt_hmac",
    "query_records",
    "verify",
]
