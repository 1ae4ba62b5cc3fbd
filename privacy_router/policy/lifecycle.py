"""Policy lifecycle: hot reload of the embedded engine, and shadow evaluation of a candidate.

Hot reload (``ReloadingPolicyEngine``): on SIGHUP, or when the files under the policy folder change
(polled every ``policy.reload_interval_s``), the folder is compiled into a NEW engine and the
policy's own Rego tests are run; only if both succeed does the new engine replace the active one,
by a single attribute assignment (atomic under the GIL: a request evaluates either the old or the
new engine, never a mix). A broken or failing policy never replaces a working one: the failure is
logged (``policy_reload_failed``) and counted (``privacy_router_policy_reloads_total{result=
"failed"}``). Each decision carries the ``PolicyInfo`` of the engine that made it, so the audit
record names the revision and files hash actually used, even across a swap.

Start-up compiles without running the Rego tests (they take seconds on the default policy; the
test suite and ``policy check`` run them before a policy ships); a policy that does not compile
stops the start.

Shadow mode (``ShadowPolicy``): a candidate folder evaluated beside the active policy on live
traffic. It never decides: its result is only compared (action and backend), counted
(``privacy_router_policy_shadow_total``) and written into the decision record's ``shadow`` field.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from privacy_router.errors import ConfigError
from privacy_router.policy import metrics
from privacy_router.policy.base import FailureAction
from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.policy.regotest import run_tests
from privacy_router.resources import resource_dir
from privacy_router.types import Decision, PolicyInfo

log = structlog.get_logger("privacy_router.policy.lifecycle")


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    revision: str
    files_hash: str
    error: str | None = None


def fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    """Cheap change detector: (relative path, mtime_ns, size) of every file under ``root``."""
    out: list[tuple[str, int, int]] = []
    for path in sorted(root.rglob("*")):
        with contextlib.suppress(OSError):  # a file removed mid-scan shows up on the next poll
            if path.is_file():
                st = path.stat()
                out.append((path.relative_to(root).as_posix(), st.st_mtime_ns, st.st_size))
    return tuple(out)


class ReloadingPolicyEngine:
    """``PolicyEngine`` that delegates to the active ``EmbeddedPolicyEngine`` and swaps it on reload."""

    def __init__(self, policy_dir: Path | None = None, query: str = "data.privacy_router.decision") -> None:
        self.root = policy_dir if policy_dir is not None else resource_dir("policies")
        self.query = query
        self._fingerprint = fingerprint(self.root)
        self._active = EmbeddedPolicyEngine(self.root, query)
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._previous_sighup: Any = None

    @property
    def active(self) -> EmbeddedPolicyEngine:
        return self._active

    @property
    def info(self) -> PolicyInfo:
        return self._active.info

    @property
    def failure_action(self) -> FailureAction:
        return self._active.failure_action

    def evaluate(self, policy_input: dict[str, Any]) -> Decision:
        return self._active.evaluate(policy_input)  # one read of _active: one engine per decision

    def ready(self) -> bool:
        return True  # an engine is always active: the constructor raises when none loads

    def reload(self) -> ReloadResult:
        """Compile the folder and run its Rego tests; swap only if both succeed."""
        with self._reload_lock:
            current = self._active
            seen = fingerprint(self.root)
            try:
                candidate = EmbeddedPolicyEngine(self.root, self.query)
                report = run_tests(self.root)
            except ConfigError as exc:
                return self._failed(current, seen, exc.message)
            if report.failed:
                names = ", ".join(f"{r.package}.{r.name}" for r in report.results if not r.passed)
                return self._failed(current, seen, f"{report.failed} policy test(s) failed: {names}"[:500])
            self._active = candidate
            self._fingerprint = seen
            metrics.RELOADS.labels(result="ok").inc()
            log.info(
                "policy_reloaded",
                revision=candidate.info.revision,
                files_hash=candidate.info.files_hash,
                previous_files_hash=current.info.files_hash,
                tests_passed=report.passed,
            )
            return ReloadResult(True, candidate.info.revision, candidate.info.files_hash)

    def _failed(self, current: EmbeddedPolicyEngine, seen: Any, error: str) -> ReloadResult:
        # Remember the fingerprint so a broken file is reported once, not on every poll.
        self._fingerprint = seen
        metrics.RELOADS.labels(result="failed").inc()
        log.error(
            "policy_reload_failed",
            error=error,
            active_revision=current.info.revision,
            active_files_hash=current.info.files_hash,
        )
        return ReloadResult(False, current.info.revision, current.info.files_hash, error)

    def reload_if_changed(self) -> ReloadResult | None:
        if fingerprint(self.root) == self._fingerprint:
            return None
        return self.reload()

    def start(self, interval_s: float) -> None:
        """Watch the folder every ``interval_s`` seconds (0: no polling) and reload on SIGHUP."""
        self._install_sighup()
        if interval_s > 0 and self._watcher is None:
            self._stop.clear()
            self._watcher = threading.Thread(
                target=self._watch, args=(interval_s,), name="policy-reload", daemon=True
            )
            self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
        if self._previous_sighup is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGHUP, self._previous_sighup)
            self._previous_sighup = None

    def _watch(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.reload_if_changed()
            except Exception:  # the watcher must outlive any single failure
                log.exception("policy_watch_failed")

    def _install_sighup(self) -> None:
        # signal.signal only works in the main thread (the uvicorn CLI runs the app there); an app
        # served from a thread (the tests' ServerThread) reloads by polling or by reload() calls.
        if os.name != "posix" or threading.current_thread() is not threading.main_thread():
            return
        if self._previous_sighup is None:
            self._previous_sighup = signal.getsignal(signal.SIGHUP)
            signal.signal(signal.SIGHUP, self._on_sighup)

    def _on_sighup(self, signum: int, frame: object) -> None:
        # A signal handler must return quickly: compiling and testing run in a thread.
        threading.Thread(target=self.reload, name="policy-reload-sighup", daemon=True).start()


class ShadowPolicy:
    """A candidate policy evaluated beside the active one; see the module docstring."""

    def __init__(self, engine: EmbeddedPolicyEngine) -> None:
        self.engine = engine

    @classmethod
    def from_dir(cls, policy_dir: Path, query: str) -> ShadowPolicy:
        return cls(EmbeddedPolicyEngine(policy_dir, query))

    def compare(self, policy_input: dict[str, Any], active: Decision) -> dict[str, Any]:
        """The audit record's ``shadow`` field; never raises (the candidate never decides)."""
        info = self.engine.info
        out: dict[str, Any] = {"revision": info.revision, "files_hash": info.files_hash}
        try:
            candidate = self.engine.evaluate(policy_input)
        except Exception:  # PolicyUnavailable or anything else: the candidate's problem, not the request's
            metrics.SHADOW.labels(result="error").inc()
            return {**out, "action": None, "backend": None, "agrees": False, "error": True}
        agrees = (candidate.action, candidate.backend) == (active.action, active.backend)
        metrics.SHADOW.labels(result="agree" if agrees else "disagree").inc()
        if not agrees:
            log.info(
                "policy_shadow_disagrees",
                active_action=active.action,
                shadow_action=candidate.action,
                shadow_revision=info.revision,
            )
        return {
            **out,
            "action": candidate.action,
            "backend": candidate.backend,
            "agrees": agrees,
            "error": False,
        }
