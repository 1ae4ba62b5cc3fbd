"""The Rego unit tests beside the default policy pass, run through our own runner."""

from __future__ import annotations

from pathlib import Path

from privacy_router.policy.regotest import COVERAGE_UNAVAILABLE, discover_tests, run_tests
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
    assert report.coverage == COVERAGE_UNAVAILABLE


def test_discovery_dedupes_incremental_test_rules() -> None:
    sources = {
        "a_test.rego": "package a_test\ntest_x if true\ntest_x if false\ntest_y if true\n",
        "a.rego": "package a\ntest_not_a_test := 1\n",
    }
    assert discover_tests(sources) == [("a_test", "test_x"), ("a_test", "test_y")]
