"""Policy lifecycle: hot reload of the embedded engine, and shadow evaluation of a candidate.

Hot reload (``ReloadingPolicyEngine``): on SIGHUP, or when the files under the policy folder change
(polled every ``policy.reload_interval_s``), the folder is compiled into a NEW engine and the
policy's own Rego tests are run; only if both succeed does the new engine replace the active one,
by a single attribute assignment (atomic under the GIL: a request evaluates either the old or the
new engine, never a mix). A broken or failing policy never replaces a working one: the failure is
logged (``policy_reload_failed``) and counted (``privacy_router_policy_reloads_total{result=
"failed"}``). Each decision carries the ``PolicyInfo`` of the engine that made it, so the audit
record names the revision and files hash actually used, even across a swap.

The tests run in a spawned child process (``regotest.run_tests_in_child``), never in the gateway:
compiling the shipped suite costs regopy about 2.2 GB, which a replica would otherwise keep after
every reload. The child is killed after ``TEST_TIMEOUT_S`` seconds; a child that dies, times out or
answers garbage fails the reload like a failing test (the old policy stays).

Start-up compiles the folder, and with ``test_on_start`` (config ``policy.test_on_start``, off by
default: the shipped suite costs about 10 s of CPU) also runs its own Rego tests, in the same kind
of child, before the engine exists; a policy that does not compile, or whose tests fail or do not
complete, stops the start (``ConfigError``), so the gateway never serves, or reports ready, without
a valid policy. A folder whose exact files (tests included) already passed in this process is not
tested again (``_PASSED``).

Shadow mode (``ShadowPolicy``): a candidate folder evaluated beside the active policy on live
traffic. It never decides: its result is only compared (action and backend), counted
(``privacy_router_policy_shadow_total``) and written into the decision record's ``shadow`` field.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from privacy_router import signals
from privacy_router.errors import ConfigError
from privacy_router.policy import metrics
from privacy_router.policy.base import FailureAction
from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.policy.regotest import run_tests_in_child
from privacy_router.resources import resource_dir
from privacy_router.types import Decision, PolicyInfo

log = structlog.get_logger("privacy_router.policy.lifecycle")

# Seconds the child running a policy's Rego tests may take before it is killed and the reload (or
# the start) fails. The shipped suite takes about 30 s of wall time on a busy 2-core machine.
TEST_TIMEOUT_S = 300.0


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


# Digests (every file, tests included) of policy folders whose own tests passed in this process.
_PASSED: set[str] = set()
_PASSED_LOCK = threading.Lock()


def _suite_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".rego", ".json")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update((root / ".manifest").read_bytes() if (root / ".manifest").is_file() else b"")
    return digest.hexdigest()


def verified_engine(root: Path, query: str, timeout_s: float = TEST_TIMEOUT_S) -> EmbeddedPolicyEngine:
    """Compile the folder and run its own Rego tests in a child process (killed after
    ``timeout_s``); ``ConfigError`` unless both succeed."""
    digest = _suite_digest(root)
    engine = EmbeddedPolicyEngine(root, query)
    with _PASSED_LOCK:
        if digest in _PASSED:
            return engine
    report = run_tests_in_child(root, timeout_s)
    if report.failed:
        names = ", ".join(f"{r.package}.{r.name}" for r in report.results if not r.passed)
        raise ConfigError(f"{report.failed} policy test(s) failed: {names}"[:500])
    if _suite_digest(root) == digest:  # not memoised when the files changed under the run
        with _PASSED_LOCK:
            _PASSED.add(digest)
    log.info("policy_tests_passed", revision=engine.info.revision, tests_passed=report.passed)
    return engine


class ReloadingPolicyEngine:
    """``PolicyEngine`` that delegates to the active ``EmbeddedPolicyEngine`` and swaps it on reload."""

    def __init__(
        self,
        policy_dir: Path | None = None,
        query: str = "data.privacy_router.decision",
        *,
        test_on_start: bool = True,
        test_timeout_s: float = TEST_TIMEOUT_S,
    ) -> None:
        self.root = policy_dir if policy_dir is not None else resource_dir("policies")
        self.query = query
        self.test_timeout_s = test_timeout_s
        self._fingerprint = fingerprint(self.root)
        # policy.test_on_start (config): the gateway compiles only, unless told to test too.
        self._active = (
            verified_engine(self.root, query, test_timeout_s)
            if test_on_start
            else EmbeddedPolicyEngine(self.root, query)
        )
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

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
        """Compile the folder and run its Rego tests (in a child process); swap only if both succeed."""
        with self._reload_lock:
            current = self._active
            seen = fingerprint(self.root)
            try:
                candidate = verified_engine(self.root, self.query, self.test_timeout_s)
            except ConfigError as exc:
                return self._failed(current, seen, exc.message)
            self._active = candidate
            self._fingerprint = seen
            metrics.RELOADS.labels(result="ok").inc()
            log.info(
                "policy_reloaded",
                revision=candidate.info.revision,
                files_hash=candidate.info.files_hash,
                previous_files_hash=current.info.files_hash,
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
        """Watch the folder every ``interval_s`` seconds (0: no polling) and reload on SIGHUP.

        The signal is shared with the keys file through privacy_router/signals.py; where signals
        cannot be used (an app served from a thread, as in tests) reload by polling or reload().
        """
        signals.subscribe(self._signal_name, self.reload)
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
        signals.unsubscribe(self._signal_name)

    @property
    def _signal_name(self) -> str:
        return f"policy-{id(self):x}"

    def _watch(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.reload_if_changed()
            except Exception:  # the watcher must outlive any single failure
                log.exception("policy_watch_failed")


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
