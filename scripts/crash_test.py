"""More kill -9 trials than the test suite runs: ``python scripts/crash_test.py [TRIALS] [--seed N]``.

Each trial starts a writer that appends through the real SqliteAuditStore from 4 threads, SIGKILLs
it at a random moment, and checks the file (privacy_router/audit/crashtest.py). Exit 1 on any
acknowledged record lost, any gap, or a chain that does not verify.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from privacy_router.audit.crashtest import run_trial


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("trials", type=int, nargs="?", default=200)
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(2**32))
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"seed {args.seed}")
    acked = bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "audit.db"
        for trial in range(args.trials):
            result = run_trial(db, rng, threads=args.threads)
            acked += len(result.acked)
            if result.problem is not None or result.lost:
                bad += 1
                print(f"trial {trial}: FAILED problem={result.problem} lost={result.lost}")
        print(f"{args.trials} kills, {acked} acknowledged appends, {result.records} records, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
