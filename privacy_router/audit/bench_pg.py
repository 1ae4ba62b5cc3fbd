"""Appends per second of the PostgreSQL store with several writer processes, for the two chain designs.

    python -m privacy_router.audit.bench_pg OWNER_DSN RUNTIME_DSN [PROCESSES] [SECONDS]

``serialised``: every process appends to one schema, one chain, under ``pg_advisory_xact_lock``
(what ``PostgresAuditStore`` does). ``per-writer``: each process appends to its own schema, i.e.
an independent chain with no lock contention, the upper bound that per-writer chains could give.
Each mode creates fresh schemas with ``migrate`` (as OWNER_DSN, granting the RUNTIME_DSN user),
verifies every chain afterwards, and drops the schemas. Prints one line per mode.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from privacy_router.audit.bench import bench_record
from privacy_router.audit.postgresql import PostgresAuditStore, migrate


def _writer(dsn: str, schema: str, seconds: float, ready: Any, out: mp.Queue[int]) -> None:
    record = bench_record()
    n = 0
    with PostgresAuditStore(dsn, schema=schema) as store:
        ready.wait()  # every process imported and connected before any clock runs
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            store.append(record)
            n += 1
    out.put(n)


def run(owner_dsn: str, runtime_dsn: str, processes: int, seconds: float) -> dict[str, float]:
    role = str(conninfo_to_dict(runtime_dsn)["user"])
    results: dict[str, float] = {}
    ctx = mp.get_context("spawn")
    for mode in ("serialised", "per-writer"):
        tag = f"bench_{os.getpid()}_{mode.replace('-', '_')}"
        schemas = [tag] if mode == "serialised" else [f"{tag}_{i}" for i in range(processes)]
        for s in schemas:
            migrate(owner_dsn, schema=s, runtime_role=role)
        try:
            queue: mp.Queue[int] = ctx.Queue()
            ready = ctx.Barrier(processes)
            procs = [
                ctx.Process(
                    target=_writer, args=(runtime_dsn, schemas[i % len(schemas)], seconds, ready, queue)
                )
                for i in range(processes)
            ]
            for p in procs:
                p.start()
            total = sum(queue.get(timeout=seconds + 60) for _ in procs)
            for p in procs:
                p.join()
            for s in schemas:
                with PostgresAuditStore(runtime_dsn, schema=s) as store:
                    report = store.verify()
                if not report.ok:
                    raise SystemExit(f"{mode}: chain {s} FAILED at seq {report.first_bad_seq}")
            results[mode] = total / seconds
        finally:
            with psycopg.connect(owner_dsn, autocommit=True) as conn:
                for s in schemas:
                    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(s)))
    return results


def main() -> None:
    owner, runtime = sys.argv[1], sys.argv[2]
    processes = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
    for mode, rate in run(owner, runtime, processes, seconds).items():
        print(f"mode={mode} processes={processes} seconds={seconds:g} appends_per_s={rate:.0f}")


if __name__ == "__main__":
    main()
