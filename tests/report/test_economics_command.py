"""`privacy-router report economics` on a recorded audit log: records appended with the store API
(the same builders the gateway uses), prices from a config file, text + CSV + PNG out."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from typer.testing import CliRunner

from privacy_router.audit.query import query_records
from privacy_router.audit.records import completion_record, decision_record
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.cli import app
from privacy_router.types import Decision, PolicyInfo, Principal

PRINCIPAL = Principal("claims-bot", "acme-health", "US", ("client",), key_id="k1")
POLICY = PolicyInfo(revision="2025.1.0", files_hash="ab" * 32, engine="embedded")
ONPREM_REASON = "sensitive data: routed to a healthy on-prem backend"
EXTERNAL_REASON = "no sensitive or personal data detected: routed external"


def append_request(
    store: SqliteAuditStore,
    n: int,
    action: str,
    backend: str | None,
    reason: str,
    usage: dict[str, int] | None,
) -> None:
    decision = Decision(action=action, backend=backend, reasons=(reason,))  # type: ignore[arg-type]
    receipt = store.append(
        decision_record(
            request_id=f"req-{n}",
            principal=PRINCIPAL,
            endpoint="chat.completions",
            model="gpt-4o",
            decision=decision,
            backend_region="us" if backend else None,
            policy=POLICY,
            pack_versions={"core": "1"},
            entities=[],
            categories=[],
            unscannable_parts=0,
            prompt_hmac="0" * 64,
            policy_input={"request": {"estimated_input_tokens": 300}},
        )
    )
    if action != "block":
        store.append(
            completion_record(
                request_id=f"req-{n}",
                decision_record_id=receipt.record_id,
                status=200,
                outcome="ok",
                latency_ms=12.5,
                usage=usage,
                backend=backend,
                principal=PRINCIPAL,
            )
        )


def test_report_on_a_recorded_audit_log(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    store = SqliteAuditStore(db)
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    for n in range(6):
        append_request(store, n, "external", "openai", EXTERNAL_REASON, usage)
    for n in range(6, 9):
        append_request(
            store, n, "onprem", "vllm-a", ONPREM_REASON, {"prompt_tokens": 800, "completion_tokens": 200}
        )
    append_request(store, 9, "onprem", "vllm-a", ONPREM_REASON, None)  # a stream: no usage recorded
    append_request(store, 10, "block", None, "sensitive data and no healthy on-prem backend: blocked", None)
    store.close()
    config = tmp_path / "pr.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "audit": {"sqlite_path": str(db)},
                "backends": {
                    "onprem": [
                        {
                            "name": "vllm-a",
                            "url": "http://127.0.0.1:1/v1",
                            "region": "us-east",
                            "pricing": {"hourly_usd": 2.0, "capacity_tokens_per_s": 2000},
                        }
                    ],
                    "external": [
                        {
                            "name": "openai",
                            "url": "http://127.0.0.1:2/v1",
                            "region": "us",
                            "pricing": {"input_usd_per_mtok": 2.5, "output_usd_per_mtok": 10},
                        }
                    ],
                },
            }
        ),
        "utf-8",
    )
    # A 2-day window around now holds every record.
    since = datetime.now(UTC) - timedelta(days=1)
    until = since + timedelta(days=2)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "report",
            "economics",
            "--config",
            str(config),
            "--audit",
            str(db),
            "--out",
            str(out),
            "--since",
            since.isoformat(),
            "--until",
            until.isoformat(),
        ],
    )
    assert result.exit_code == 0, result.output
    text = result.output
    # openai: 6 x (1000 x 2.5 + 500 x 10) / 1e6 = $0.045; vllm-a: $2 x 48 h = $96.
    lines = text.splitlines()
    assert lines[3].split() == ["external", "openai", "6", "6,000", "3,000", "$0.045000", "$0.00", "$7.50"]
    # 3 x 800 reported + 300 estimated for the request without usage.
    assert lines[4].split() == ["onprem", "vllm-a", "4", "2,700", "600", "$0.00", "$96.00", "$24,000.00"]
    assert "blocked: 1" in text
    assert "kept on-prem: 40.0% of served requests" in text
    assert "  sensitivity: 4" in text
    assert "note: 1 served request(s) had no usage in the audit log" in text
    assert "V* = U / (f x c) = $48.00 / (0.600 x $0.007500) = 10,667 requests/day" in text
    with (out / "economics.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[1] == ["external", "openai", "6", "6000", "3000", "0.045000", "0.000000", "7.500000"]
    assert rows[2] == ["onprem", "vllm-a", "4", "2700", "600", "0.000000", "96.000000", "24000.000000"]
    assert (out / "economics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The read itself is audited, as every CLI read of the log is.
    reads = [r for r in query_records(SqliteAuditStore(db), record_type="audit_query")]
    assert [(r["operation"], r["rows"], r["surface"]) for r in reads] == [("report.economics", 11, "cli")]
    assert json.dumps(reads[0]["filters"]).count("Z") == 2


def test_report_refuses_an_empty_window(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "report",
            "economics",
            "--audit",
            str(tmp_path / "none.db"),
            "--since",
            "2026-11-02",
            "--until",
            "2026-11-01",
        ],
    )
    assert result.exit_code == 2
    assert "--until must be after --since" in result.output
