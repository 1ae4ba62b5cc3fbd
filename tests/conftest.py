"""Shared fixtures: the no-egress guard, the PostgreSQL DSN (mandatory in CI), one detection engine.

No egress (issue 8): tests/noegress/sitecustomize.py refuses connections to anything but loopback.
It is installed here, at import, before any test module (or the library it imports) can reach
the network, and exported to subprocesses through PYTHONPATH, so the gateway and the simulators
that tests start are guarded too. A test during which the pytest process or any subprocess tried
to leave loopback fails, even if the code under test swallowed the error.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

_NOEGRESS_DIR = Path(__file__).parent / "noegress"


def _load_guard() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_noegress_guard", _NOEGRESS_DIR / "sitecustomize.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("tests/noegress/sitecustomize.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NOEGRESS = _load_guard()
NOEGRESS.install()
NOEGRESS.LOG_TO_FILE = False
os.environ["PRIVACY_ROUTER_TEST_NO_EGRESS"] = "1"
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(_NOEGRESS_DIR), os.environ.get("PYTHONPATH", "")) if p
)
_EGRESS_LOG = Path(tempfile.mkdtemp(prefix="pr-noegress-")) / "attempts.log"
_EGRESS_LOG.touch()
os.environ[NOEGRESS.ENV_LOG] = str(_EGRESS_LOG)


@pytest.fixture(autouse=True)
def no_egress() -> Iterator[None]:
    """Fails the test if it, or a subprocess it started, tried to connect beyond loopback."""
    attempts_before = len(NOEGRESS.ATTEMPTS)
    log_before = _EGRESS_LOG.stat().st_size
    yield
    new = NOEGRESS.ATTEMPTS[attempts_before:]
    with _EGRESS_LOG.open("rb") as f:
        f.seek(log_before)
        new_sub = f.read().decode("utf-8", "replace").splitlines()
    if new or new_sub:
        pytest.fail(f"outbound connection beyond loopback attempted: {[*new, *new_sub]}")


from privacy_router.config import DetectionSettings  # noqa: E402  (after the guard, on purpose)
from privacy_router.detection.engine import DetectionEngine  # noqa: E402

PG_DSN = os.environ.get("PRIVACY_ROUTER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_REQUIRED = os.environ.get("PRIVACY_ROUTER_REQUIRE_PG") == "1"


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A reachable PostgreSQL DSN. In CI (PRIVACY_ROUTER_REQUIRE_PG=1) an unreachable server FAILS the
    test; on a developer machine without PostgreSQL the test is skipped with the reason."""
    import psycopg

    try:
        with psycopg.connect(PG_DSN, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        message = f"PostgreSQL at {PG_DSN} unreachable: {type(exc).__name__}"
        if PG_REQUIRED:
            pytest.fail(message + " (PRIVACY_ROUTER_REQUIRE_PG=1: PostgreSQL tests are mandatory)")
        pytest.skip(message)
    yield PG_DSN


@pytest.fixture(scope="session")
def detection_engine() -> DetectionEngine:
    """spaCy takes seconds to load: one engine for the whole session."""
    return DetectionEngine.from_settings(DetectionSettings())


def audit_record(audit_db: Path, request_id: str, record_type: str, wait_s: float = 10.0) -> dict[str, Any]:
    """The ``record_type`` record of ``request_id`` in a SQLite audit log, waiting up to ``wait_s``
    for it: a streamed answer's completion record is written when the stream ends, which may be
    just after the client stopped reading."""
    deadline = time.monotonic() + wait_s
    while True:
        with sqlite3.connect(audit_db) as conn:
            row = conn.execute(
                "SELECT canon FROM audit_log WHERE request_id = ? AND record_type = ?",
                (request_id, record_type),
            ).fetchone()
        if row is not None:
            record: dict[str, Any] = json.loads(row[0])
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"no {record_type} record for {request_id}")
        time.sleep(0.05)
