"""`privacy-router policy check`, `policy replay` and `policy test --coverage` through typer's CliRunner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from privacy_router.audit.records import decision_record
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.policy.commands import app
from privacy_router.policy.loader import read_policy_dir
from privacy_router.policy.regotest import run_tests
from privacy_router.resources import resource_dir
from privacy_router.types import Decision, PolicyInfo, Principal

from .conftest import make_input

runner = CliRunner()
POLICIES = resource_dir("policies")
SMALL_RESIDENCY = {
    "regions": {"us": "US", "eu-west": "EU"},
    "jurisdiction_aliases": {"DE": "EU"},
    "exports": {"US": ["US", "EU"], "EU": ["EU"]},
}


def small_policy(tmp_path: Path, decision_rego: str | None = None) -> Path:
    """The default policy with a two-region residency file (the full matrix stays small)."""
    root = tmp_path / "policy"
    shutil.copytree(POLICIES, root)
    (root / "data" / "residency.json").write_text(json.dumps(SMALL_RESIDENCY), "utf-8")
    if decision_rego is not None:
        for path in (root / "privacy_router").glob("*.rego"):
            path.unlink()
        (root / "privacy_router" / "decision.rego").write_text(decision_rego, "utf-8")
    return root


def test_check_passes_on_the_default_policy() -> None:
    result = runner.invoke(app, ["check", "--quick"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "286 inputs checked: block 94, external 19, external_scrubbed 48, onprem 125; 0 error(s)"
    ]


def test_check_full_matrix_on_small_residency_data(tmp_path: Path) -> None:
    # 3 jurisdictions + ZZ, 6 classes, 2 regions + 1 unknown, 4 health states, + 32 edge cases.
    result = runner.invoke(app, ["check", str(small_policy(tmp_path))])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith(f"{4 * 6 * 3 * 4 + 32} inputs checked: ")


PHI_OUT = """phi if "PHI" in input.detection.categories
decision := {"action": "external", "backend": "ext", "reasons": []} if phi
decision := {"action": "block", "backend": null, "reasons": []} if not phi
"""
UNKNOWN_ACTION = "unknown action; expected one of onprem, external, external_scrubbed, block"
UNDEFINED = "undefined for this input (query data.privacy_router.decision)"
BAD_POLICIES = [
    (
        "phi-external",
        PHI_OUT,
        "ERROR policy decision 'external' would send PHI to an external backend: 49 input(s)",
    ),
    (
        "unknown-action",
        'decision := {"action": "teleport", "backend": null, "reasons": []}\n',
        f"ERROR policy decision has an {UNKNOWN_ACTION}: 320 input(s)",
    ),
    (
        "missing-backend",
        'decision := {"action": "onprem", "backend": "vllm-z", "reasons": []}\n',
        "ERROR policy decision 'onprem' names a backend that is not a configured onprem backend: "
        "320 input(s)",
    ),
    (
        "undefined",
        'decision := {"action": "block", "backend": null, "reasons": []} if input.nothing\n',
        f"ERROR policy decision is {UNDEFINED}: 320 input(s)",
    ),
]


@pytest.mark.parametrize(
    ("rules", "expected"), [b[1:] for b in BAD_POLICIES], ids=[b[0] for b in BAD_POLICIES]
)
def test_check_reports_contract_errors(tmp_path: Path, rules: str, expected: str) -> None:
    root = small_policy(tmp_path, "package privacy_router\n\nimport rego.v1\n\n" + rules)
    result = runner.invoke(app, ["check", str(root)])
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.startswith(expected)] != [], result.output


def test_check_refuses_a_policy_that_does_not_compile(tmp_path: Path) -> None:
    root = small_policy(tmp_path, "package privacy_router\n\ndecision := {\n")
    result = runner.invoke(app, ["check", str(root)])
    assert result.exit_code == 1
    assert "does not compile" in result.output or "failed to load" in result.output


def _audit_db(tmp_path: Path) -> Path:
    """Four decisions made by the default policy: clean, PII (US), PII (DE), PHI."""
    db = tmp_path / "audit.db"
    store = SqliteAuditStore(db)
    pii = {
        "categories": ["PII"],
        "entities": [{"type": "PERSON", "count": 1, "max_score": 0.85, "fields": ["messages[0].content"]}],
    }
    inputs = [
        ("clean", make_input(), Decision("external", "openai")),
        ("pii-us", make_input(detection=pii), Decision("external_scrubbed", "openai", ("PERSON",))),
        (
            "pii-de",
            make_input(detection=pii, principal={"jurisdiction": "DE"}),
            Decision("external_scrubbed", "mistral", ("PERSON",)),
        ),
        ("phi", make_input(detection={"categories": ["PHI"], "entities": []}), Decision("onprem", "vllm-a")),
    ]
    for i, (_, doc, decision) in enumerate(inputs):
        store.append(
            decision_record(
                request_id=f"req{i}",
                principal=Principal("svc", "acme", doc["principal"]["jurisdiction"]),
                endpoint="chat.completions",
                model="gpt-4o",
                decision=decision,
                backend_region=None,
                policy=PolicyInfo("2025.1.0", "0" * 64, "embedded"),
                pack_versions={},
                entities=doc["detection"]["entities"],
                categories=doc["detection"]["categories"],
                unscannable_parts=0,
                prompt_hmac="a" * 64,
                policy_input=doc,
            )
        )
    store.close()
    return db


def test_replay_counts_changed_decisions_against_a_stricter_eu_rule(tmp_path: Path) -> None:
    db = _audit_db(tmp_path)
    candidate = tmp_path / "candidate"
    shutil.copytree(POLICIES, candidate)
    residency = candidate / "data" / "residency.json"
    doc = json.loads(residency.read_text("utf-8"))
    doc["exports"]["EU"] = []  # the EU rule under test: EU tenants' personal data never leaves
    residency.write_text(json.dumps(doc), "utf-8")
    result = runner.invoke(
        app, ["replay", "--policy", str(candidate), "--audit-db", str(db), "--since", "7d"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith(": 4 decision(s) replayed, 1 would change, 0 without a recorded policy input")
    assert lines[1:6] == [
        "old -> new                              count  changed",
        "external_scrubbed -> onprem                 1  yes",
        "external -> external                        1  no",
        "external_scrubbed -> external_scrubbed      1  no",
        "onprem -> onprem                            1  no",
    ]
    assert lines[6].startswith("examples external_scrubbed -> onprem: ")
    assert len(lines[6].split(": ")[1].split(", ")) == 1
    assert len(lines) == 7


def test_replay_of_an_unchanged_policy_changes_nothing(tmp_path: Path) -> None:
    db = _audit_db(tmp_path)
    result = runner.invoke(app, ["replay", "--policy", str(POLICIES), "--audit-db", str(db)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith(
        ": 4 decision(s) replayed, 0 would change, 0 without a recorded policy input"
    )


def test_replay_window_excludes_records_before_since(tmp_path: Path) -> None:
    db = _audit_db(tmp_path)
    result = runner.invoke(
        app, ["replay", "--policy", str(POLICIES), "--audit-db", str(db), "--since", "2999-01-01"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith(
        ": 0 decision(s) replayed, 0 would change, 0 without a recorded policy input"
    )


def test_replay_without_a_store_is_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["replay", "--policy", str(POLICIES), "--audit-db", str(tmp_path / "none.db")]
    )
    assert result.exit_code == 2


# -- policy test --coverage -------------------------------------------------------------------------
# A policy in two packages over three files in nested folders. The tests call level() with 9 and 3:
# the "negative" body is evaluated each time and its first expression (line 13) fails, so line 14
# is never reached; data.q.unused (pkg/sub/c.rego line 7) is read by no test.
MULTI_FILES = {
    "pkg/a.rego": 'package p\n\nimport rego.v1\n\nallow if {\n\tinput.role == "admin"\n'
    '\tlevel(input.level) == "high"\n}\n',
    "pkg/b.rego": 'package p\n\nimport rego.v1\n\nlevel(n) := "high" if n > 5\n\n'
    'level(n) := "low" if {\n\tn <= 5\n\tn >= 0\n}\n\n'
    'level(n) := "negative" if {\n\tn < 0\n\tn > -100\n}\n',
    "pkg/sub/c.rego": "package q\n\nimport rego.v1\n\nlimit := 3\n\nunused := 4\n",
    "pkg/p_test.rego": "package p_test\n\nimport rego.v1\n\n"
    'test_admin_high if {\n\tdata.p.allow with input.role as "admin" with input.level as 9\n}\n\n'
    'test_low if data.p.level(data.q.limit) == "low"\n\n'
    'test_user_denied if {\n\tnot data.p.allow with input.role as "user"\n}\n',
}


def multi_file_policy(tmp_path: Path) -> Path:
    root = tmp_path / "multi"
    for rel, text in MULTI_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, "utf-8")
    return root


def test_coverage_of_a_multi_file_policy_names_the_unreached_lines_by_their_path(tmp_path: Path) -> None:
    """Modules in subfolders keep their path in the report (rego-cpp's plan names files by their
    last part only, so a.rego in two folders would otherwise be mixed up or not found at all)."""
    result = runner.invoke(app, ["test", "--coverage", str(multi_file_policy(tmp_path))])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-4:] == [
        "coverage: 80.0% of policy lines reached by the tests",
        "  not reached: pkg/b.rego: 14",
        "  not reached: pkg/sub/c.rego: 7",
        "3 passed, 0 failed",
    ]


def test_coverage_reports_reached_lines_of_every_file(tmp_path: Path) -> None:
    report = run_tests(multi_file_policy(tmp_path), coverage=True)
    assert report.coverage is not None
    assert report.coverage.covered == {
        "pkg/a.rego": {5, 6, 7},
        "pkg/b.rego": {5, 8, 9, 13},  # 13 is evaluated (and fails), 14 after it is not
        "pkg/sub/c.rego": {5},
    }
    assert report.coverage.not_reached == {"pkg/b.rego": [14], "pkg/sub/c.rego": [7]}


def test_coverage_run_reports_failing_tests_like_a_plain_run(tmp_path: Path) -> None:
    """With --coverage the results come from the traced run (the suite is compiled once)."""
    root = multi_file_policy(tmp_path)
    test_file = root / "pkg" / "p_test.rego"
    test_file.write_text(test_file.read_text("utf-8") + '\ntest_wrong if data.p.level(1) == "high"\n')
    plain = runner.invoke(app, ["test", str(root)])
    traced = runner.invoke(app, ["test", "--coverage", str(root)])
    assert (plain.exit_code, traced.exit_code) == (1, 1)
    assert "FAIL p_test.test_wrong: undefined" in traced.output.splitlines()
    assert traced.output.splitlines()[:4] == plain.output.splitlines()[:4]
    assert traced.output.splitlines()[-1] == plain.output.splitlines()[-1] == "3 passed, 1 failed"
    assert "not reached: pkg/b.rego: 14" in traced.output  # line 9 (n >= 0) is reached by level(1)


@pytest.mark.slow
def test_coverage_of_the_shipped_suite_completes_and_covers_every_module() -> None:
    """The shipped suite (with its matrix tests) traced: one compile in the child process. Whether
    the suite passes is test_policy_rego_suite.py's business; here every test has a result."""
    report = run_tests(POLICIES, coverage=True)
    assert len(report.results) >= 30
    assert report.coverage is not None, report.coverage_note
    modules = {rel for rel in read_policy_dir(POLICIES).modules}
    assert set(report.coverage.coverable) == modules
    for rel, lines in report.coverage.covered.items():
        assert lines <= report.coverage.coverable[rel]
    assert report.coverage.percent > 90.0
