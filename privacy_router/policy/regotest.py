"""A runner for Rego unit tests (``*_test.rego``), in the spirit of ``opa test``.

Every rule named ``test_*`` in a test file's package is evaluated on its own and passes only when its
value is exactly ``true``. With ``coverage=True`` the tests run instead in a child process with the
VM's statement trace on, and ``RegoTestReport.coverage`` lists the policy lines they never reached
(``coverage.py``).

``run_tests`` runs the suite in the calling process (``privacy-router policy test``).
``run_tests_in_child`` runs it in a spawned child (``python -m privacy_router.policy.regotest``) and
reads back each test's PASS/FAIL: the gateway uses it at hot reload and with ``test_on_start``,
because compiling the shipped suite costs regopy about 2.2 GB, which a long-lived process would
otherwise keep (glibc does not always give it back). A child that dies, outlives its timeout or
answers anything but the expected JSON raises ``SuiteRunFailed``: the tests did not pass. The child
raises its own OOM score, so that under a memory limit the kernel kills it rather than the gateway.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import regopy

from privacy_router.errors import ConfigError
from privacy_router.policy.coverage import Coverage, CoverageUnavailable, measure
from privacy_router.policy.loader import engine_error_text, new_interpreter, read_policy_dir

COVERAGE_OFF = "coverage not measured (run with --coverage)"

# Rego package clause and test rule heads (OPA: "test rules are rules whose name starts with test_").
_PACKAGE_RE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)
_TEST_RULE_RE = re.compile(r"^(test_\w+)\b", re.MULTILINE)


@dataclass(frozen=True)
class RegoTestResult:
    package: str
    name: str
    passed: bool
    error: str | None = None


@dataclass
class RegoTestReport:
    results: list[RegoTestResult] = field(default_factory=list)
    coverage: Coverage | None = None
    coverage_note: str = COVERAGE_OFF

    def coverage_lines(self) -> list[str]:
        return list(self.coverage.lines()) if self.coverage is not None else [self.coverage_note]

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        return self.failed == 0 and bool(self.results)


def discover_tests(sources: dict[str, str]) -> list[tuple[str, str]]:
    """``(package, rule)`` for every ``test_*`` rule in the ``*_test.rego`` sources, in file order."""
    found: list[tuple[str, str]] = []
    for rel in sorted(sources):
        if not rel.endswith("_test.rego"):
            continue
        text = sources[rel]
        package = _PACKAGE_RE.search(text)
        if package is None:
            continue
        for name in _TEST_RULE_RE.findall(text):
            if (package.group(1), name) not in found:  # incremental definitions share one name
                found.append((package.group(1), name))
    return found


def compile_tests(interp: regopy.Interpreter, policy_dir: Path, entrypoints: list[str]) -> regopy.Bundle:
    """One bundle with every test as an entrypoint; ``ConfigError`` when the suite does not compile."""
    try:
        return interp.build(None, entrypoints)
    except Exception as exc:
        raise ConfigError(
            f"policy tests in {str(policy_dir)!r} do not compile: {engine_error_text(interp)}"
        ) from exc


def run_test(interp: regopy.Interpreter, bundle: regopy.Bundle, package: str, name: str) -> RegoTestResult:
    """Evaluate one test rule: it passes only when its value is exactly ``true``."""
    entrypoint = f"{package.replace('.', '/')}/{name}"
    try:
        output = interp.query_bundle_entrypoint(bundle, entrypoint)
        ok = output.ok()
        results = output.results
    except Exception as exc:  # a broken test is a failed test, not a crashed run
        return RegoTestResult(package, name, False, type(exc).__name__)
    if not ok:
        return RegoTestResult(package, name, False, engine_error_text(interp))
    if len(results) == 1 and results[0].expressions == [True]:
        return RegoTestResult(package, name, True)
    value = "undefined" if not results or not results[0].expressions else "not true"
    return RegoTestResult(package, name, False, value)


def run_tests(policy_dir: Path, *, coverage: bool = False) -> RegoTestReport:
    """Load policy, data and tests under ``policy_dir`` and run every test rule (with ``coverage``,
    run them traced in a child process, which also records which policy lines they reached).

    Load errors (bad syntax, bad JSON) raise ``ConfigError``.
    """
    files = read_policy_dir(policy_dir, include_tests=True)
    interp = new_interpreter(files)
    report = RegoTestReport()
    tests = discover_tests(files.modules)
    if not tests:
        return report
    if coverage:
        # The traced run gives the results too: compiling the suite here as well would hold a
        # second compiled copy (about 1 GB for the shipped suite) while the child runs.
        try:
            traced = measure(policy_dir)
        except CoverageUnavailable as exc:  # the child failed: run the tests here, without coverage
            report.coverage_note = f"coverage not available: {exc}"
        else:
            report.results = [RegoTestResult(*r) for r in traced.results]
            report.coverage = traced.coverage
            if traced.coverage is None:
                report.coverage_note = f"coverage not available: {traced.note}"
            return report
    # Compile once with every test as an entrypoint: a plain query() recompiles all modules each
    # time (about 2.5 s per test on the default policy), a bundle entrypoint runs in milliseconds.
    entrypoints = [f"{package.replace('.', '/')}/{name}" for package, name in tests]
    bundle = compile_tests(interp, policy_dir, entrypoints)
    report.results = [run_test(interp, bundle, package, name) for package, name in tests]
    return report


class SuiteRunFailed(ConfigError):
    """The child process running the suite died, timed out or answered garbage."""


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def parse_child_answer(text: str) -> RegoTestReport:
    """The report from the child's JSON: ``{"results": [[package, name, passed, error], ...]}``, or
    ``{"error": message}`` when the folder does not load or the suite does not compile (raised as
    ``ConfigError``). Anything else raises ``SuiteRunFailed``."""
    garbage = SuiteRunFailed("policy test child process answered garbage")
    try:
        doc = json.loads(text)
    except ValueError:
        raise garbage from None
    if not isinstance(doc, dict):
        raise garbage
    if set(doc) == {"error"} and isinstance(doc["error"], str):
        raise ConfigError(doc["error"])
    rows = doc.get("results")
    if set(doc) != {"results"} or not isinstance(rows, list):
        raise garbage
    report = RegoTestReport()
    for row in rows:
        if not (isinstance(row, list) and len(row) == 4):
            raise garbage
        package, name, passed, error = row
        if not (isinstance(package, str) and isinstance(name, str) and isinstance(passed, bool)):
            raise garbage
        if error is not None and not isinstance(error, str):
            raise garbage
        report.results.append(RegoTestResult(package, name, passed, error))
    return report


def run_tests_in_child(policy_dir: Path, timeout_s: float) -> RegoTestReport:
    """``run_tests(policy_dir)`` in a spawned child process (not forked: the caller may have threads
    and spaCy loaded), killed after ``timeout_s`` seconds. Its memory goes back to the system when
    it exits. ``ConfigError`` when the folder does not load; ``SuiteRunFailed`` when the child
    fails in any other way."""
    with tempfile.TemporaryDirectory(prefix="rego-test-") as tmp:
        out, err = Path(tmp) / "results.json", Path(tmp) / "stderr.txt"
        cmd = [sys.executable, "-m", "privacy_router.policy.regotest", str(policy_dir), str(out)]
        with err.open("wb") as stderr:
            try:
                done = subprocess.run(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    timeout=timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired:  # subprocess.run has killed and reaped the child
                raise SuiteRunFailed(
                    f"policy tests did not finish within {timeout_s:g} s (child process killed)"
                ) from None
            except OSError as exc:
                raise SuiteRunFailed(f"policy tests could not start ({type(exc).__name__})") from None
        if done.returncode != 0:
            tail = err.read_bytes()[-2000:].decode("utf-8", "replace").strip().splitlines()
            last = tail[-1][:200] if tail else "no output"
            raise SuiteRunFailed(f"policy test child process {_exit_text(done.returncode)} ({last})")
        try:
            text = out.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            raise SuiteRunFailed("policy test child process gave no answer") from None
    return parse_child_answer(text)


def _main(argv: list[str]) -> int:
    """The child: run the suite of ``argv[0]`` in this process and write the answer to ``argv[1]``."""
    policy_dir, out = Path(argv[0]), Path(argv[1])
    # Where memory runs out (a container limit), the kernel should kill this child, not the gateway:
    # the reload then fails and the old policy keeps serving. Raising one's own score needs no privilege.
    with contextlib.suppress(OSError):
        Path("/proc/self/oom_score_adj").write_text("1000", "utf-8")
    doc: dict[str, object]
    try:
        report = run_tests(policy_dir)
    except ConfigError as exc:
        doc = {"error": exc.message}
    else:
        doc = {"results": [[r.package, r.name, r.passed, r.error] for r in report.results]}
    out.write_text(json.dumps(doc), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
