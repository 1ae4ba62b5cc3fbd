"""Shared fixtures: the PostgreSQL DSN (mandatory in CI) and one loaded detection engine."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from privacy_router.config import DetectionSettings
from privacy_router.detection.engine import DetectionEngine

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
