"""`privacy-router policy test|eval` through typer's CliRunner."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from privacy_router.policy.commands import app
from privacy_router.resources import resource_dir

from .conftest import make_input, write_policy

runner = CliRunner()


def test_policy_test_passes_on_default_policy() -> None:
    result = runner.invoke(app, ["test"])
    assert result.exit_code == 0
    assert "PASS privacy_router_test.test_phi_routes_onprem" in result.output
    shipped = resource_dir("policies")
    suite = [f.read_text("utf-8") for f in shipped.rglob("*_test.rego")]
    rules = sum(len(re.findall(r"^test_\w+", text, re.M)) for text in suite)
    assert rules > 50  # every test rule of the shipped suite ran and passed
    assert result.output.rstrip().splitlines()[-1] == f"{rules} passed, 0 failed"


def test_policy_test_fails_with_exit_1(tmp_path: Path) -> None:
    write_policy(tmp_path, "package p\n\nimport rego.v1\n\nx := 1\n")
    (tmp_path / "p_test.rego").write_text("package p_test\n\nimport rego.v1\n\ntest_x if data.p.x == 2\n")
    result = runner.invoke(app, ["test", str(tmp_path)])
    assert result.exit_code == 1
    assert "FAIL p_test.test_x: undefined" in result.output
    assert result.output.rstrip().splitlines()[-1] == "0 passed, 1 failed"


def test_policy_test_coverage_prints_the_lines_never_reached(tmp_path: Path) -> None:
    write_policy(tmp_path, "package p\n\nimport rego.v1\n\nx := 1\n\ny := 2\n")
    (tmp_path / "p_test.rego").write_text("package p_test\n\nimport rego.v1\n\ntest_x if data.p.x == 1\n")
    result = runner.invoke(app, ["test", "--coverage", str(tmp_path)])
    assert result.exit_code == 0
    assert result.output.splitlines()[-3:] == [
        "coverage: 50.0% of policy lines reached by the tests",
        "  not reached: p.rego: 7",
        "1 passed, 0 failed",
    ]


def test_policy_eval_prints_decision(tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_text(json.dumps(make_input()))
    result = runner.invoke(app, ["eval", "--input", str(path)])
    assert result.exit_code == 0
    out = json.loads(result.output)
    assert (out["action"], out["backend"], out["policy_revision"]) == ("external", "openai", "2025.1.0")


def test_policy_eval_undefined_decision_exits_1(tmp_path: Path) -> None:
    root = (
        write_policy(tmp_path / "pol", "package privacy_router\n")
        if (tmp_path / "pol").mkdir() is None
        else tmp_path
    )
    path = tmp_path / "input.json"
    path.write_text(json.dumps(make_input()))
    result = runner.invoke(app, ["eval", "--input", str(path), "--policy", str(root)])
    assert result.exit_code == 1
    assert "error: policy decision is undefined for this input" in result.output


def test_policy_eval_unreadable_input_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_text("{not json")
    result = runner.invoke(app, ["eval", "--input", str(path)])
    assert result.exit_code == 1
    assert f"error: cannot read {str(path)!r} as JSON (JSONDecodeError)" in result.output
