"""kill -9 at random moments under concurrent load (issue 6 "Durability and tamper tests").

Two harnesses, both SIGKILL a real process and then check the file it left behind:

* the writer of privacy_router/audit/crashtest.py: 4 threads appending through the real
  ``SqliteAuditStore`` (24 kills) and ``PostgresAuditStore`` on the real server (12 kills) as the
  router does (cheap: no spaCy to load);
* the real gateway (``privacy-router serve``) under 6 concurrent clients with a vLLM simulator
  behind it, 3 kills, each followed by a restart that verifies the whole chain.

After every kill: 0 requests acknowledged without their committed decision record, no gap, and the
chain verifies. The seed is printed; scripts/crash_test.py runs many more trials.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from pathlib import Path

import httpx

from privacy_router.audit.crashtest import Target, run_trial
from privacy_router.audit.sqlite import open_verified
from privacy_router.testing import RunningGateway, RunningSimulator
from tests.audit.conftest import PgCluster
from tests.integration.conftest import US_KEY, write_config

WRITER_TRIALS = 24
PG_WRITER_TRIALS = 12
GATEWAY_TRIALS = 3
# How long a gateway trial waits for its first acknowledged request before it kills the gateway
# (generous: the test machine is shared and a cold request loads the detector).
FIRST_ACK_DEADLINE_S = 180.0


def _seed() -> int:
    text = os.environ.get("PRIVACY_ROUTER_CRASH_SEED")
    return int(text) if text else random.SystemRandom().randrange(2**32)


def test_sigkilled_writer_loses_no_acknowledged_record(tmp_path: Path) -> None:
    _kill_trials(Target("sqlite", str(tmp_path / "audit.db")), WRITER_TRIALS)


def test_sigkilled_postgresql_writer_loses_no_acknowledged_record(
    pg_cluster: PgCluster, pg_schema: str
) -> None:
    """The same kills against the real PostgreSQL server: an acknowledged append is a committed,
    flushed transaction; the killed writer's open transaction and chain lock are rolled back."""
    _kill_trials(Target("postgresql", pg_cluster.writer_dsn, pg_schema), PG_WRITER_TRIALS)


def _kill_trials(target: Target, trials: int) -> None:
    seed = _seed()
    print(f"crash seed: {seed} (PRIVACY_ROUTER_CRASH_SEED={seed} reproduces the kill times)")
    rng = random.Random(seed)
    failures: list[tuple[object, ...]] = []
    acked = previous = 0
    for trial in range(trials):
        result = run_trial(target, rng)
        acked += len(result.acked)
        if result.problem is not None or result.lost or result.records < previous:
            failures.append((trial, result.problem, result.lost, result.records, previous))
        # Every acknowledged seq is within the log, which only grows across kills.
        if result.acked and max(result.acked) > result.records:
            failures.append((trial, "ack beyond the log", max(result.acked), result.records, previous))
        previous = result.records
    assert failures == [], f"seed {seed}: (trial, problem, lost seqs, records, records before)"
    with target.open() as store:
        report = store.verify()
    assert (report.ok, report.records) == (True, previous)
    # The kills landed under load: records were acknowledged and then the process died.
    assert acked > 0, f"seed {seed}"


def _load(
    url: str, stop: threading.Event, acked: list[str], statuses: list[int], lock: threading.Lock
) -> None:
    """One client: sequential chat completions until ``stop``; records the audit id of each 200."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Name three colours."}]}
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            try:
                r = client.post(
                    f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {US_KEY}"}
                )
            except httpx.HTTPError:
                continue  # the gateway died mid-request: not acknowledged
            with lock:
                statuses.append(r.status_code)
            if r.status_code == 200:
                with lock:
                    acked.append(r.headers["x-privacy-audit-id"])


def test_sigkilled_gateway_loses_no_acknowledged_decision(tmp_path: Path) -> None:
    seed = _seed()
    print(f"gateway crash seed: {seed}")
    rng = random.Random(seed)
    audit_db = tmp_path / "audit.db"
    acked: list[str] = []
    statuses: list[int] = []
    lock = threading.Lock()
    with (
        RunningSimulator("vllm", record_path=tmp_path / "onprem.jsonl") as onprem,
        RunningSimulator("openai", record_path=tmp_path / "external.jsonl") as external,
    ):
        config = write_config(tmp_path / "config.yaml", onprem.url, external.url, audit_db)
        for _ in range(GATEWAY_TRIALS):
            # start() verifies the chain left by the previous kill before it reports ready.
            gw = RunningGateway(config, log_path=tmp_path / "gateway.log").start()
            assert gw.proc is not None
            stop = threading.Event()
            clients = [
                threading.Thread(target=_load, args=(gw.url, stop, acked, statuses, lock)) for _ in range(6)
            ]
            with lock:
                before = len(acked)
            for c in clients:
                c.start()
            # Kill only once this run has acknowledged at least one request (under load the first
            # one can take long), then at a random moment after it.
            deadline = time.monotonic() + FIRST_ACK_DEADLINE_S
            while len(acked) == before and time.monotonic() < deadline and gw.proc.poll() is None:
                time.sleep(0.05)
            got_ack = len(acked) > before
            if got_ack:
                time.sleep(rng.uniform(0.0, 1.5))
            gw.proc.send_signal(signal.SIGKILL)
            gw.proc.wait()
            stop.set()
            for c in clients:
                c.join()
            gw.stop()
            assert got_ack, f"seed {seed}: no request acknowledged within {FIRST_ACK_DEADLINE_S} s"
        with open_verified(audit_db) as store:
            report = store.verify()
            rows = [json.loads(r.canon) for r in store.iter_rows()]
        forwarded = [r for r in onprem.records() if r["method"] == "POST"]
    decisions = {r["record_id"] for r in rows if r["record_type"] == "decision"}
    assert report.ok is True
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert sorted(set(acked) - decisions) == []  # acknowledged without a committed decision: none
    assert len(acked) > 0, f"seed {seed}, statuses {sorted(set(statuses))}"
    # Write-ahead: no request reached the backend without its decision record.
    assert len(forwarded) <= len(decisions)
