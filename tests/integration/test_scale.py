"""``scripts/scale_test.py --quick``: two replicas, one PostgreSQL chain, Redis rate limits, a SIGKILL.

The script is the test (docs/scaling.md "Method"); here it runs in its bounded form as a subprocess,
as ``make scale-test`` runs it, and every check it prints must have passed. Its figures are printed
for the record and never asserted (timings are measured, not asserted: STYLE.md).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "scale_test.py"

EXPECTED_CHECKS = {
    "no_pii_or_phi_reached_external",
    "chain_verifies",
    "acknowledged_have_one_decision",
    "completions_exactly_once",
    "routes_as_expected",
    "answers_restored",
    "every_instance_served",
    "no_client_errors_few_upstream_errors",
    "checkpoints_of_both_writers_verify",
}


@pytest.mark.pg
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_replicas_share_one_chain_through_a_sigkill(pg_dsn: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--dsn", pg_dsn],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    out = proc.stdout
    checks = dict(re.findall(r"^CHECK (\S+) (PASS|FAIL)", out, flags=re.MULTILINE))
    assert checks == dict.fromkeys(EXPECTED_CHECKS, "PASS"), out + proc.stderr[-4000:]
    assert re.search(r"^RESULT PASS failed_checks=0$", out, flags=re.MULTILINE) is not None, out
    assert re.search(r"^FIGURE total requests=\d+ seconds=[\d.]+ rps=[\d.]+ ", out, flags=re.MULTILINE), out
    assert re.search(
        r"^INFO dropped schema pr_scale_\w+, role pr_scale_router_\w+ ", out, flags=re.MULTILINE
    ), out
    assert proc.returncode == 0, out + proc.stderr[-4000:]
