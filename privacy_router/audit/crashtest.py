"""kill -9 harness for the audit store (issue 6 "Durability"): used by tests/audit/test_durability.py
and scripts/crash_test.py.

A *writer* process opens the store exactly as the router does (SQLite: ``open_verified``, integrity
check and the whole chain; PostgreSQL: the runtime role's self-check and the whole chain), then
several threads append decision records through the real ``SqliteAuditStore`` or
``PostgresAuditStore`` and print ``ack <seq> <request_id>`` only after ``append`` returned, which is
the moment the router would forward the request and answer its client. The *driver* SIGKILLs the
writer at a random moment, then checks, on the file or schema left behind:

* every acknowledged record is there, at its seq, with its request id (0 acknowledged and lost);
* the chain verifies from seq 1 with no gap (``open_verified`` passes, as at the router's restart);
* the store accepts appends again (the next trial's writer continues the same chain).

Each ack line is one ``os.write`` of fewer than PIPE_BUF (4096) bytes, which POSIX makes atomic, so
a kill never leaves half a line that could be mistaken for an ack; a trailing partial line is
ignored anyway.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from privacy_router.audit.postgresql import PostgresAuditStore
from privacy_router.audit.records import decision_record
from privacy_router.audit.sqlite import SqliteAuditStore, open_verified
from privacy_router.audit.store import require_ok
from privacy_router.errors import AuditWriteError
from privacy_router.types import Decision, PolicyInfo, Principal

_POLICY = PolicyInfo(revision="crash-test", files_hash="0" * 64, engine="embedded")


def _record(n: int, worker: int) -> dict[str, object]:
    return decision_record(
        request_id=f"crash-{os.getpid()}-{worker}-{n}",
        principal=Principal("crash-test", f"tenant-{worker}", "US", key_id="k-crash"),
        endpoint="chat.completions",
        model="gpt-4o",
        decision=Decision(action="onprem", backend="vllm-a", reasons=("crash test",)),
        backend_region="us-east",
        policy=_POLICY,
        pack_versions={"core": "1.0.0"},
        entities=[{"type": "US_SSN", "count": 1, "max_score": 0.9, "fields": ["messages[0].content"]}],
        categories=["PII"],
        unscannable_parts=0,
        prompt_hmac="ab" * 32,
        policy_input={"request": {"endpoint": "chat.completions", "stream": False}},
    )


@dataclass(frozen=True)
class Target:
    """The store under test: a SQLite file, or a PostgreSQL schema reached with the RUNTIME role."""

    store: Literal["sqlite", "postgresql"]
    location: str  # file path, or the runtime role's DSN
    schema: str = ""

    def argv(self) -> list[str]:
        return [self.store, self.location, self.schema]

    def open(self) -> SqliteAuditStore | PostgresAuditStore:
        """Open and verify as the router does at start-up; ``AuditWriteError`` when it fails."""
        if self.store == "sqlite":
            return open_verified(Path(self.location))
        # A generous statement timeout: the kill leaves the server to notice a dead client, and
        # the test machines are shared.
        store = PostgresAuditStore(self.location, schema=self.schema, timeout_s=60)
        try:
            require_ok(store.verify(), f"{self.schema} (postgresql)")
        except BaseException:
            store.close()
            raise
        return store


def writer_main(target: Target, threads: int) -> None:
    """Append forever from ``threads`` threads; print an ack line after each durable append."""
    store = target.open()
    os.write(1, b"ready\n")

    def work(worker: int) -> None:
        n = 0
        while True:
            receipt = store.append(_record(n, worker))
            os.write(1, f"ack {receipt.seq} crash-{os.getpid()}-{worker}-{n}\n".encode())
            n += 1

    for worker in range(threads):
        threading.Thread(target=work, args=(worker,), daemon=True).start()
    threading.Event().wait()


@dataclass
class TrialResult:
    acked: dict[int, str] = field(default_factory=dict)  # seq -> request_id, as acknowledged
    records: int = 0  # records in the log after the kill
    lost: list[int] = field(default_factory=list)  # acknowledged seqs missing or different
    problem: str | None = None  # verification failure after the kill
    killed_before_ready: bool = False


def run_trial(
    target: Target | Path, rng: random.Random, *, threads: int = 4, max_delay_s: float = 0.5
) -> TrialResult:
    """One writer, one SIGKILL at a random moment, then the checks of the module docstring.

    One trial in ten kills the writer while it is still opening and verifying the store. A bare
    ``Path`` is a SQLite file."""
    if isinstance(target, Path):
        target = Target("sqlite", str(target))
    proc = subprocess.Popen(
        [sys.executable, "-m", "privacy_router.audit.crashtest", "writer", *target.argv(), str(threads)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    result = TrialResult()
    early = rng.random() < 0.1
    try:
        if early:
            time.sleep(rng.uniform(0.0, 0.3))
            result.killed_before_ready = True
        else:
            line = proc.stdout.readline()
            if line != b"ready\n":
                raise RuntimeError(f"writer did not start (exit code {proc.poll()})")
            time.sleep(rng.uniform(0.0, max_delay_s))
    finally:
        proc.send_signal(signal.SIGKILL)
        out = proc.stdout.read()
        proc.wait()
        proc.stdout.close()
    for raw in out.split(b"\n")[:-1]:  # the text after the last newline may be a cut line
        parts = raw.decode().split()
        if parts[0] == "ack":
            result.acked[int(parts[1])] = parts[2]
        elif parts[0] == "ready":
            result.killed_before_ready = False
    try:
        store = _reopen(target)
    except Exception as exc:
        result.problem = str(exc)
        return result
    with store:
        stored = {row.seq: row.request_id for row in store.iter_rows()}
    result.records = len(stored)
    result.lost = sorted(seq for seq, rid in result.acked.items() if stored.get(seq) != rid)
    return result


def _reopen(target: Target) -> SqliteAuditStore | PostgresAuditStore:
    """``target.open()``, retried when PostgreSQL does not accept the connection in time (an
    overloaded server right after a kill); any other failure, e.g. a chain that does not verify,
    is reported at once."""
    for _ in range(2):
        try:
            return target.open()
        except AuditWriteError as exc:
            if "connect failed" not in exc.message:
                raise
            time.sleep(2.0)
    return target.open()


def main(argv: list[str]) -> int:
    if argv[:1] == ["writer"] and argv[1] in ("sqlite", "postgresql"):
        kind: Literal["sqlite", "postgresql"] = "sqlite" if argv[1] == "sqlite" else "postgresql"
        writer_main(Target(kind, argv[2], argv[3]), int(argv[4]))
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
