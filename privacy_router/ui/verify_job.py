"""The integrity page's full verification, run as a background job so the page can show progress.

``POST /ui/integrity/verify`` starts one ``VerifyJob`` (at most one runs at a time: a second click
while one runs follows the running one); ``GET /ui/integrity/verify/{id}`` answers its progress as
JSON and the page script polls it. The job does what ``privacy-router audit verify`` does (SQLite's
``PRAGMA integrity_check``, then every link of the live chain from its anchor) while counting the
rows it has checked against the live log's size, then checks each checkpoint against the chain and
reads which writers appended what. Like every read on the dashboard it is audited (an
``audit_query`` record, operation ``ui.verify``) before its result is shown; a result whose read
could not be audited is not shown.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import structlog

from privacy_router.audit.base import WriterStatus
from privacy_router.audit.verify import VerifyReport, verify
from privacy_router.errors import RouterError

log = structlog.get_logger("privacy_router.ui.verify_job")

State = Literal["running", "done", "failed"]
KEEP_JOBS = 8


@dataclass
class VerifyJob:
    id: str
    by: str
    total: int = 0  # rows of the live log when the job started (appends during the run add to it)
    checked: int = 0
    state: State = "running"
    error: str | None = None
    result: dict[str, Any] | None = None  # the page's "last verification" once done
    started: float = field(default_factory=time.perf_counter)

    def progress(self) -> dict[str, Any]:
        """A consistent snapshot for the page and its script, while the job thread moves on: the
        state is read once and first (``_run`` sets ``error`` before it marks the job failed)."""
        state = self.state
        checked, total = self.checked, self.total
        if state != "running":
            percent = 100
        elif total <= 0:
            percent = 0
        else:
            percent = min(99, checked * 100 // total)  # 100 only once the report exists
        return {
            "id": self.id,
            "state": state,
            "percent": percent,
            "checked": checked,
            "total": total,
            "error": self.error,
        }


def counted(rows: Iterable[Any], job: VerifyJob) -> Iterator[Any]:
    """``rows``, counting each one on the job as it is handed to the verifier."""
    for row in rows:
        job.checked += 1
        yield row


def writer_rows(store: Any) -> list[WriterStatus]:
    status = getattr(store, "writer_status", None)
    return list(status()) if callable(status) else []


def writer_verdicts(writers: list[WriterStatus], report: VerifyReport) -> list[dict[str, Any]]:
    """Each writer's records against the one chain they share: intact when all of them are in the
    verified prefix, else affected by the first bad seq."""
    out = []
    for w in writers:
        if report.ok or report.first_bad_seq is None or w.last_seq < report.first_bad_seq:
            verdict = f"intact: its {w.records} records (seq {w.first_seq} to {w.last_seq}) verified"
        else:
            verdict = f"broken: the chain breaks at seq {report.first_bad_seq}, within or before its records"
        out.append({**asdict(w), "status": verdict, "ok": verdict.startswith("intact")})
    return out


def full_verification(store: Any, job: VerifyJob) -> VerifyReport:
    """``store.verify()`` with progress: SQLite integrity check, then the live chain from its anchor."""
    writers = writer_rows(store)
    job.total = sum(w.records for w in writers) or sum(1 for _ in store.iter_rows())
    integrity_check = getattr(getattr(store, "inner", store), "integrity_check", None)  # under checkpoints
    if callable(integrity_check):
        problem = integrity_check()
        if problem is not None:
            return VerifyReport(False, 0, None, f"integrity_check: {problem}", "00" * 32)
    anchor_of = getattr(store, "anchor", None)
    anchor = anchor_of() if callable(anchor_of) else None
    start = anchor.seq + 1 if anchor is not None else 1
    return verify(counted(rows_of(store, start), job), anchor=anchor)


def rows_of(store: Any, start: int) -> Iterator[Any]:
    """The rows the job verifies (a seam: the browser test slows it down to watch the progress)."""
    yield from store.iter_rows(start)


class VerifyJobs:
    """The jobs of one gateway: at most one running, the last few kept for their result."""

    def __init__(self) -> None:
        self._jobs: dict[str, VerifyJob] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> VerifyJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def running(self) -> VerifyJob | None:
        with self._lock:
            return next((j for j in self._jobs.values() if j.state == "running"), None)

    def start(self, by: str, work: Callable[[VerifyJob], dict[str, Any]]) -> VerifyJob:
        """Start ``work(job)`` in a thread (or return the job already running)."""
        with self._lock:
            for job in self._jobs.values():
                if job.state == "running":
                    return job
            job = VerifyJob(id=secrets.token_urlsafe(12), by=by)
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP_JOBS:
                del self._jobs[next(iter(self._jobs))]
        threading.Thread(target=self._run, args=(job, work), name="ui-verify", daemon=True).start()
        return job

    @staticmethod
    def _run(job: VerifyJob, work: Callable[[VerifyJob], dict[str, Any]]) -> None:
        # The state is set last: ``work`` stores the page's last verification before it returns, and
        # ``error`` is set before "failed", so a reader that sees the final state sees its outcome.
        try:
            job.result = work(job)
            job.state = "done"
        except RouterError as exc:  # e.g. the audit_query record could not be written
            job.error = exc.message
            job.state = "failed"
        except Exception as exc:  # a failed job is shown as failed; the page never hangs on it
            log.error("ui_verify_failed", error=type(exc).__name__)
            # The exception's type names the failure on the page; its message may hold record content.
            job.error = f"the verification failed unexpectedly ({type(exc).__name__}); see the gateway log"
            job.state = "failed"
