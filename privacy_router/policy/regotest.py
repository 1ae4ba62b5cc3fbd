"""A runner for Rego unit tests (``*_test.rego``), in the spirit of ``opa test``.

Every rule named ``test_*`` in a test file's package is evaluated on its own and passes only when its
value is exactly ``true``. With ``coverage=True`` the tests run instead in a child process with the
VM's statement trace on, and ``RegoTestReport.coverage`` lists the policy lines they never reached
(``coverage.py``).
"""

from __future__ import annotations

import re
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
