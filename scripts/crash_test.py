"""More kill -9 trials than the test suite runs:

    python scripts/crash_test.py [TRIALS] [--seed N]                                  # SQLite
    python scripts/crash_test.py [TRIALS] --pg-owner-dsn OWNER_DSN --pg-runtime-dsn RUNTIME_DSN

Each trial starts a writer that appends through the real store from 4 threads (SqliteAuditStore on a
temporary file, or PostgresAuditStore on a fresh schema that the owner role migrates for the run and
drops afterwards; the writer connects as the runtime role, as the router does), SIGKILLs it at a
random moment, and checks the store (privacy_router/audit/crashtest.py). Exit 1 on any acknowledged
record lost, any gap, or a chain that does not verify.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from privacy_router.audit.crashtest import Target, run_trial
from privacy_router.audit.postgresql import migrate


@contextmanager
def _target(args: argparse.Namespace) -> Iterator[Target]:
    if args.pg_owner_dsn is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield Target("sqlite", str(Path(tmp) / "audit.db"))
        return
    runtime_role = conninfo_to_dict(args.pg_runtime_dsn).get("user")
    if not runtime_role:
        raise SystemExit("--pg-runtime-dsn must name its user (the router's role)")
    schema = f"crash_test_{uuid.uuid4().hex[:8]}"
    migrate(args.pg_owner_dsn, schema=schema, runtime_role=str(runtime_role))
    try:
        yield Target("postgresql", args.pg_runtime_dsn, schema)
    finally:
        with psycopg.connect(args.pg_owner_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("trials", type=int, nargs="?", default=200)
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(2**32))
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--pg-owner-dsn", help="PostgreSQL owner role: migrates a fresh schema, drops it after"
    )
    parser.add_argument("--pg-runtime-dsn", help="PostgreSQL runtime role the writer connects as")
    args = parser.parse_args()
    if (args.pg_owner_dsn is None) != (args.pg_runtime_dsn is None):
        parser.error("--pg-owner-dsn and --pg-runtime-dsn go together")
    rng = random.Random(args.seed)
    print(f"seed {args.seed}")
    acked = bad = records = 0
    with _target(args) as target:
        for trial in range(args.trials):
            result = run_trial(target, rng, threads=args.threads)
            acked += len(result.acked)
            records = result.records
            if result.problem is not None or result.lost:
                bad += 1
                print(f"trial {trial}: FAILED problem={result.problem} lost={result.lost}")
        summary = f"{args.trials} kills, {acked} acknowledged appends, {records} records, {bad} failed"
        print(f"{target.store}: {summary}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
