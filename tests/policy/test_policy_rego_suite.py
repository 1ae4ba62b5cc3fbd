"""The Rego unit tests beside the default policy pass, run through our own runner; and the runner's
line coverage (the VM trace walked along the compiled plan) on a small policy with known answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from privacy_router.policy.coverage import CoverageUnavailable, PlanWalker
from privacy_router.policy.regotest import COVERAGE_OFF, discover_tests, run_tests
from privacy_router.resources import resource_dir


def test_default_policy_rego_suite_passes() -> None:
    report = run_tests(resource_dir("policies"))
    failing = [f"{r.package}.{r.name}: {r.error}" for r in report.results if not r.passed]
    assert failing == []
    assert report.passed == len(report.results)
    assert report.passed >= 30  # the suite exists and was discovered, not silently empty


def test_runner_reports_a_false_test_as_failed(tmp_path: Path) -> None:
    """A test rule that is undefined or false fails; a true one passes."""
    (tmp_path / "p.rego").write_text("package p\n\nimport rego.v1\n\nx := 1\n", "utf-8")
    (tmp_path / "p_test.rego").write_text(
        "package p_test\n\nimport rego.v1\n\ntest_one if data.p.x == 1\n\ntest_two if data.p.x == 2\n",
        "utf-8",
    )
    report = run_tests(tmp_path)
    assert [(r.package, r.name, r.passed, r.error) for r in report.results] == [
        ("p_test", "test_one", True, None),
        ("p_test", "test_two", False, "undefined"),
    ]
    assert (report.passed, report.failed, report.ok) == (1, 1, False)
    assert (report.coverage, report.coverage_lines()) == (None, [COVERAGE_OFF])


def test_discovery_dedupes_incremental_test_rules() -> None:
    sources = {
        "a_test.rego": "package a_test\ntest_x if true\ntest_x if false\ntest_y if true\n",
        "a.rego": "package a\ntest_not_a_test := 1\n",
    }
    assert discover_tests(sources) == [("a_test", "test_x"), ("a_test", "test_y")]


COVERED_POLICY = """package p

import rego.v1

a if {
	input.x == 1
	input.y == 2
}

size := "big" if {
	input.x > 10
} else := "small"

never_used := 5

double(v) := v * 2
"""
COVERED_TESTS = """package p_test

import rego.v1

test_a_is_false_for_another_x if {
	not data.p.a with input.x as 3
}

test_size_is_small if {
	data.p.size == "small" with input.x as 1
}
"""


def test_coverage_lists_the_policy_lines_the_tests_never_reached(tmp_path: Path) -> None:
    """Line 6 is evaluated (and fails), so line 7 is never reached; the two rules no test names
    (lines 14 and 16) are reported by their heads; test files are not counted."""
    (tmp_path / "p.rego").write_text(COVERED_POLICY, "utf-8")
    (tmp_path / "p_test.rego").write_text(COVERED_TESTS, "utf-8")
    report = run_tests(tmp_path, coverage=True)
    assert (report.passed, report.failed) == (2, 0)
    assert report.coverage is not None
    assert report.coverage.covered == {"p.rego": {5, 6, 10, 11}}
    assert report.coverage.not_reached == {"p.rego": [7, 14, 16]}
    assert report.coverage_lines() == [
        "coverage: 57.1% of policy lines reached by the tests",
        "  not reached: p.rego: 7, 14, 16",
    ]


def test_coverage_reaches_the_second_expression_when_a_test_takes_that_path(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(COVERED_POLICY, "utf-8")
    (tmp_path / "p_test.rego").write_text(
        COVERED_TESTS + "\ntest_a if {\n\tdata.p.a with input.x as 1 with input.y as 2\n}\n", "utf-8"
    )
    report = run_tests(tmp_path, coverage=True)
    assert report.coverage is not None and report.coverage.not_reached == {"p.rego": [14, 16]}


def test_a_trace_that_does_not_match_the_plan_is_refused_not_guessed() -> None:
    plan = {
        "static": {"files": [{"value": "p.rego"}]},
        "plans": {
            "plans": [{"name": "p/a", "blocks": [{"stmts": [{"type": "CallStmt", "stmt": {"func": "f"}}]}]}]
        },
        "funcs": {"funcs": []},
    }
    walker = PlanWalker(plan, {"p.rego"})
    with pytest.raises(CoverageUnavailable, match="does not match the plan"):
        walker.walk("p/a", ["++", " 00  DotStmt(source=local(0))"], {})
