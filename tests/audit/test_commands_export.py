"""`privacy-router audit show|stats|export` through typer's CliRunner, and the audit_query record
each of them leaves in a writable store (issue 6: every query and export is itself recorded)."""

from __future__ import annotations

import csv
import getpass
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from privacy_router.audit import SqliteAuditStore
from privacy_router.audit.commands import EXPORT_COLUMNS, app
from privacy_router.audit.postgresql import PostgresAuditStore
from privacy_router.audit.verify import verify
from tests.audit.conftest import PgCluster, make_decision

runner = CliRunner()
T0 = datetime(2026, 1, 31, 22, 0, 0, tzinfo=UTC)


@pytest.fixture
def log(db_path: Path, decision_factory: Callable[..., dict[str, Any]]) -> Path:
    times = iter(T0 + timedelta(hours=h) for h in range(3))
    with SqliteAuditStore(db_path, clock=lambda: next(times)) as store:
        store.append(decision_factory(0, tenant="acme", action="onprem"))
        store.append(decision_factory(1, tenant="beta", action="block", entity="PERSON", backend=None))
        store.append(decision_factory(2, tenant="acme", action="external_scrubbed", backend="openai"))
    return db_path


def _rows(path: Path) -> list[dict[str, Any]]:
    with SqliteAuditStore(path) as store:
        assert verify(store.iter_rows()).ok is True
        return [json.loads(r.canon) for r in store.iter_rows()]


def _user() -> str:
    return f"os-user:{getpass.getuser()}"


def test_show_prints_the_record_and_records_the_read(log: Path) -> None:
    target = _rows(log)[1]
    result = runner.invoke(app, ["show", target["record_id"], "--audit-db", str(log)])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert {k: shown[k] for k in ("seq", "record_id", "action")} == {
        "seq": 2,
        "record_id": target["record_id"],
        "action": "block",
    }
    read = _rows(log)[-1]
    assert {k: read[k] for k in ("seq", "record_type", "surface", "operation", "rows", "record_id_read")} == {
        "seq": 4,
        "record_type": "audit_query",
        "surface": "cli",
        "operation": "record",
        "rows": 1,
        "record_id_read": target["record_id"],
    }
    assert read["principal"] == {
        "service": "privacy-router-cli",
        "tenant": _user(),
        "jurisdiction": "local",
        "key_id": "cli",
    }


def test_show_of_an_unknown_id_exits_1_and_is_still_recorded(log: Path) -> None:
    result = runner.invoke(app, ["show", "01890000-0000-7000-8000-000000000000", "--audit-db", str(log)])
    assert (result.exit_code, result.stderr) == (
        1,
        "no record with id '01890000-0000-7000-8000-000000000000'\n",
    )
    assert [(r["operation"], r["rows"], "record_id_read" in r) for r in _rows(log)[3:]] == [
        ("record", 0, False)
    ]


def test_stats_counts_decisions_and_records_the_filter(log: Path) -> None:
    result = runner.invoke(app, ["stats", "--tenant", "acme", "--audit-db", str(log)])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert (stats["requests"], stats["by_action"], stats["left_premises"]) == (
        2,
        {"external_scrubbed": 1, "onprem": 1},
        1,
    )
    read = _rows(log)[-1]
    assert (read["operation"], read["filters"], read["rows"]) == ("stats", {"tenant": "acme"}, 2)


def test_export_csv_has_one_row_per_record(log: Path, tmp_path: Path) -> None:
    out = tmp_path / "export.csv"
    result = runner.invoke(
        app,
        ["export", "--format", "csv", "--record-type", "decision", "--out", str(out), "--audit-db", str(log)],
    )
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert table[0] == list(EXPORT_COLUMNS)
    col = {name: i for i, name in enumerate(EXPORT_COLUMNS)}
    assert [(r[col["seq"]], r[col["tenant"]], r[col["action"]], r[col["backend"]]) for r in table[1:]] == [
        ("1", "acme", "onprem", "vllm-a"),
        ("2", "beta", "block", ""),
        ("3", "acme", "external_scrubbed", "openai"),
    ]
    assert table[2][col["entity_types"]] == "PERSON"
    assert table[1][col["policy_revision"]] == "rev-7"
    read = _rows(log)[-1]
    assert (read["operation"], read["filters"], read["rows"]) == (
        "export.csv",
        {"record_type": "decision"},
        3,
    )


def test_export_jsonl_streams_the_hashed_records_to_stdout(log: Path) -> None:
    result = runner.invoke(app, ["export", "--format", "jsonl", "--action", "block", "--audit-db", str(log)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    stored = _rows(log)
    assert [(r["seq"], r["request_id"]) for r in lines] == [(2, "req-0001")]
    assert {k: v for k, v in lines[0].items() if k not in ("entry_hash", "prev_hash")} == stored[1]
    assert (stored[-1]["operation"], stored[-1]["rows"]) == ("export.jsonl", 1)


def test_export_refuses_an_unknown_format(log: Path) -> None:
    result = runner.invoke(app, ["export", "--format", "xml", "--audit-db", str(log)])
    assert result.exit_code == 2
    assert len(_rows(log)) == 3  # nothing read, nothing recorded


def test_a_read_only_postgresql_reader_is_told_its_read_was_not_recorded(
    pg_cluster: PgCluster, pg_schema: str
) -> None:
    with PostgresAuditStore(pg_cluster.writer_dsn, schema=pg_schema) as store:
        store.append(make_decision(0))
    result = runner.invoke(app, ["stats", "--dsn", pg_cluster.writer_dsn, "--schema", pg_schema])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["requests"] == 1
    assert result.stderr == "note: this read was not recorded in the audit log (store not writable)\n"
    with PostgresAuditStore(pg_cluster.writer_dsn, schema=pg_schema) as store:
        assert [r.record_type for r in store.iter_rows()] == ["decision"]
