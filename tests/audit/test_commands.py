"""`privacy-router audit query|verify` through typer's CliRunner."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from privacy_router.audit import SqliteAuditStore
from privacy_router.audit.commands import app

runner = CliRunner()
T0 = datetime(2026, 1, 31, 22, 0, 0, tzinfo=UTC)


@pytest.fixture
def log(db_path: Path, decision_factory: Callable[..., dict[str, Any]]) -> Path:
    times = iter(T0 + timedelta(hours=h) for h in range(4))  # 22:00, 23:00 on the 31st, 00:00, 01:00 on Feb 1
    with SqliteAuditStore(db_path, clock=lambda: next(times)) as store:
        store.append(decision_factory(0, tenant="acme", action="onprem"))
        store.append(decision_factory(1, tenant="beta", action="block", entity="PERSON", backend=None))
        store.append(decision_factory(2, tenant="acme", action="external_scrubbed", backend="openai"))
        store.append(decision_factory(3, tenant="acme", action="onprem", entity="PERSON"))
    return db_path


def _head(path: Path) -> str:
    with SqliteAuditStore(path) as store:
        return list(store.iter_rows())[-1].entry_hash.hex()


def test_verify_ok_prints_count_and_head_and_exits_0(log: Path) -> None:
    result = runner.invoke(app, ["verify", "--audit-db", str(log)])
    assert (result.exit_code, result.output) == (0, f"OK: 4 records, head {_head(log)}\n")


def test_verify_reports_the_first_bad_seq_and_exits_1(log: Path, attacker: Callable[[Path], Any]) -> None:
    conn = attacker(log)
    conn.execute(
        "UPDATE audit_log SET canon = CAST(replace(CAST(canon AS TEXT), 'beta', 'gamma') AS BLOB) "
        "WHERE seq = 2"
    )
    conn.close()
    result = runner.invoke(app, ["verify", "--audit-db", str(log)])
    assert (result.exit_code, result.output) == (
        1,
        "FAILED at seq 2: entry_hash does not match SHA-256(prev_hash || canon)\n",
    )


def test_verify_with_an_exported_head_catches_a_truncated_tail(
    log: Path, attacker: Callable[[Path], Any]
) -> None:
    head = f"4:{_head(log)}"
    conn = attacker(log)
    conn.execute("DELETE FROM audit_log WHERE seq = 4")
    conn.close()
    assert runner.invoke(app, ["verify", "--audit-db", str(log)]).exit_code == 0
    result = runner.invoke(app, ["verify", "--audit-db", str(log), "--head", head])
    assert (result.exit_code, result.output) == (
        1,
        "FAILED at seq 4: log ends at seq 3, expected head is at seq 4 (truncated)\n",
    )


def test_verify_takes_the_path_from_the_config_file(log: Path, tmp_path: Path) -> None:
    config = tmp_path / "router.yaml"
    config.write_text(f"audit:\n  sqlite_path: {log}\n", encoding="utf-8")
    result = runner.invoke(app, ["verify", "--config", str(config)])
    assert (result.exit_code, result.output) == (0, f"OK: 4 records, head {_head(log)}\n")


def test_verify_refuses_a_missing_file_instead_of_creating_one(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    result = runner.invoke(app, ["verify", "--audit-db", str(missing)])
    assert (result.exit_code, result.output) == (2, f"no audit database at {missing}\n")
    assert not missing.exists()


def test_query_jsonl_filters_by_tenant_action_and_entity(log: Path) -> None:
    result = runner.invoke(
        app,
        [
            "query",
            "--audit-db",
            str(log),
            "--tenant",
            "acme",
            "--action",
            "onprem",
            "--entity-type",
            "PERSON",
            "--jsonl",
        ],
    )
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [4]
    assert json.loads(lines[0])["request_id"] == "req-0003"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--since", "2026-02-01"], [3, 4]),
        (["--until", "2026-01-31"], [1, 2]),  # a bare date includes that whole day
        (["--since", "2026-01-31T23:00:00Z", "--until", "2026-02-01T00:30:00+00:00"], [2, 3]),
    ],
    ids=["since-date", "until-date-inclusive", "datetimes"],
)
def test_query_time_window(log: Path, args: list[str], expected: list[int]) -> None:
    result = runner.invoke(app, ["query", "--audit-db", str(log), "--jsonl", *args])
    assert result.exit_code == 0
    assert [json.loads(line)["seq"] for line in result.output.splitlines()] == expected


def test_query_table_lists_one_row_per_record(log: Path) -> None:
    result = runner.invoke(app, ["query", "--audit-db", str(log), "--tenant", "beta"])
    assert result.exit_code == 0
    assert "1 audit records" in result.output
    row = next(line for line in result.output.splitlines() if re.search(r"\breq-0001\b", line))
    assert re.findall(r"[\w-]+", row) == [
        "2",
        "2026-01-31T23",
        "00",
        "00",
        "000Z",
        "decision",
        "beta",
        "block",
        "PERSONx1",
        "req-0001",
    ]


def test_query_refuses_a_bad_date(log: Path) -> None:
    result = runner.invoke(app, ["query", "--audit-db", str(log), "--since", "yesterday"])
    assert result.exit_code == 2
    assert "'yesterday' is not an ISO date or datetime" in result.output
