"""Fixtures for the audit tests: a fresh store, record factories, and raw 'attacker' access."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from privacy_router.audit import SqliteAuditStore, completion_record, decision_record
from privacy_router.types import Decision, PolicyInfo, Principal

HMAC_HEX = "ab" * 32
POLICY = PolicyInfo(revision="rev-7", files_hash="0123456789abcdef" * 4, engine="embedded")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteAuditStore]:
    s = SqliteAuditStore(db_path, busy_timeout_s=2.0)
    yield s
    s.close()


def make_decision(
    n: int = 0,
    *,
    tenant: str = "acme-health",
    action: str = "onprem",
    entity: str = "US_SSN",
    backend: str | None = "vllm-a",
) -> dict[str, Any]:
    """A realistic decision record; n varies the request id."""
    return decision_record(
        request_id=f"req-{n:04d}",
        principal=Principal("claims-bot", tenant, "US", key_id="k-1"),
        endpoint="chat.completions",
        model="gpt-4o",
        decision=Decision(action=action, backend=backend, reasons=("PHI present",)),  # type: ignore[arg-type]
        backend_region="us-east" if backend else None,
        policy=POLICY,
        pack_versions={"core": "1.0.0"},
        entities=[{"type": entity, "count": 1, "max_score": 0.95, "fields": ["messages[0].content"]}],
        categories=["PHI"],
        unscannable_parts=0,
        prompt_hmac=HMAC_HEX,
        policy_input={"request": {"endpoint": "chat.completions", "stream": False}},
    )


def make_completion(n: int = 0, *, decision_record_id: str = "0000") -> dict[str, Any]:
    return completion_record(
        request_id=f"req-{n:04d}",
        decision_record_id=decision_record_id,
        status=200,
        outcome="ok",
        latency_ms=12.5,
        usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        backend="vllm-a",
    )


@pytest.fixture
def decision_factory() -> Callable[..., dict[str, Any]]:
    return make_decision


@pytest.fixture
def completion_factory() -> Callable[..., dict[str, Any]]:
    return make_completion


def attacker_connection(path: Path) -> sqlite3.Connection:
    """A raw connection by someone with write access to the file, who drops the triggers first."""
    conn = sqlite3.connect(path, isolation_level=None)
    for name in ("audit_log_no_update", "audit_log_no_delete", "audit_log_insert_next"):
        conn.execute(f"DROP TRIGGER {name}")
    return conn


@pytest.fixture
def attacker() -> Callable[[Path], sqlite3.Connection]:
    return attacker_connection
