"""`privacy-router policy check`, `policy replay` and `policy test --coverage` through typer's CliRunner."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from privacy_router.audit.records import decision_record
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.policy.commands import app
from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.policy.loader import read_policy_dir
from privacy_router.policy.regotest import run_tests
from privacy_router.policy.replay import check_policy, replay
from privacy_router.resources import resource_dir
from privacy_router.types import PolicyInfo, Principal

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
        "preference step: off (preference.active is false: the decision's own order)",
        "286 inputs checked: block 94, external 19, external_scrubbed 48, onprem 125; 0 error(s)",
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


def with_preference(root: Path, *, rego: str | None = None, data: dict[str, object] | None = None) -> Path:
    """``root`` with its preference package or its data/preference.json replaced."""
    if rego is not None:
        (root / "privacy_router" / "preference.rego").write_text(rego, "utf-8")
    if data is not None:
        path = root / "data" / "preference.json"
        path.write_text(json.dumps({**json.loads(path.read_text("utf-8")), **data}), "utf-8")
    return root


NOT_A_REORDERING = "ERROR policy preference must reorder exactly the backends the decision allowed"


@pytest.mark.parametrize(
    "order",
    ['["elsewhere"]', "[]", "array.concat(allowed, allowed)", 'array.concat(allowed, ["vllm-z"])'],
    ids=["unknown", "empty", "duplicated", "added"],
)
def test_check_reports_a_preference_that_is_not_a_reordering(tmp_path: Path, order: str) -> None:
    """The router refuses such an order (fails closed): check reports every decision it breaks."""
    good = check_policy(small_policy(tmp_path / "good"))
    assert good.ok and not good.preference_active
    with_backend = good.inputs - good.actions["block"]
    rego = (
        "package privacy_router.preference\n\nimport rego.v1\n\n"
        "allowed := array.concat([input.decision.backend], input.decision.fallbacks)\n\n"
        f'result := {{"order": {order}, "reasons": []}}\n'
    )
    root = with_preference(small_policy(tmp_path / "bad"), rego=rego)
    result = runner.invoke(app, ["check", str(root)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == "preference step: on (each decision's backends in the order the preference answers)"
    errors = [line for line in lines if line.startswith("ERROR")]
    assert len(errors) == 1 and errors[0].startswith(f"{NOT_A_REORDERING}: {with_backend} input(s), e.g. ")
    assert lines[-1].endswith(f"; {with_backend} error(s)")


def test_check_skips_the_preference_when_the_policy_says_it_is_inactive(tmp_path: Path) -> None:
    """As the router does: ``active`` false, the preference query never runs."""
    rego = (
        "package privacy_router.preference\n\nimport rego.v1\n\nactive := false\n\n"
        'result := {"order": ["elsewhere"], "reasons": []}\n'
    )
    root = with_preference(small_policy(tmp_path), rego=rego)
    result = runner.invoke(app, ["check", str(root)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("preference step: off")


def test_check_passes_a_shipped_strategy_and_says_the_preference_ran(tmp_path: Path) -> None:
    root = with_preference(small_policy(tmp_path), data={"strategy": "fastest"})
    result = runner.invoke(app, ["check", str(root)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("preference step: on")
    assert result.output.splitlines()[-1].endswith("; 0 error(s)")


def _audit_db(tmp_path: Path) -> Path:
    """Four decisions made by the default policy, as the router records them: clean, PII (US),
    PII (DE), PHI."""
    db = tmp_path / "audit.db"
    store = SqliteAuditStore(db)
    pii = {
        "categories": ["PII"],
        "entities": [{"type": "PERSON", "count": 1, "max_score": 0.85, "fields": ["messages[0].content"]}],
    }
    inputs = [
        make_input(),
        make_input(detection=pii),
        make_input(detection=pii, principal={"jurisdiction": "DE"}),
        make_input(detection={"categories": ["PHI"], "entities": []}),
    ]
    engine = EmbeddedPolicyEngine(POLICIES)
    for i, doc in enumerate(inputs):
        decision = engine.evaluate(doc)
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


def _stricter_eu_rule(candidate: Path) -> None:
    """EU tenants' personal data never leaves: one decision's action changes."""
    residency = candidate / "data" / "residency.json"
    doc = json.loads(residency.read_text("utf-8"))
    doc["exports"]["EU"] = []
    residency.write_text(json.dumps(doc), "utf-8")


def _mistral_preferred(candidate: Path) -> None:
    """Same actions, but the preference puts mistral first wherever privacy allows it: the router
    would send those requests elsewhere, so they count as changed (backend order only)."""
    designated = {"backend": "mistral", "min_input_tokens": 0, "min_tool_count": None}
    with_preference(candidate, data={"designated": designated})


@pytest.mark.parametrize(
    ("edit", "since", "summary", "table", "examples"),
    [
        pytest.param(
            _stricter_eu_rule,
            ["--since", "7d"],
            "1 would change (1 action, 0 backend order only)",
            [
                "external_scrubbed -> onprem                 1  yes",
                "external -> external                        1  no",
                "external_scrubbed -> external_scrubbed      1  no",
                "onprem -> onprem                            1  no",
            ],
            [("examples external_scrubbed -> onprem", 1)],
            id="stricter-eu-rule",
        ),
        pytest.param(
            _mistral_preferred,
            [],
            "2 would change (0 action, 2 backend order only)",
            [
                "external -> external                        1  backend",
                "external_scrubbed -> external_scrubbed      1  backend",
                "external_scrubbed -> external_scrubbed      1  no",
                "onprem -> onprem                            1  no",
            ],
            [
                ("examples external -> external (backend)", 1),
                ("examples external_scrubbed -> external_scrubbed (backend)", 1),
            ],
            id="preference-backend-order",
        ),
    ],
)
def test_replay_counts_the_decisions_a_candidate_policy_changes(
    tmp_path: Path,
    edit: Callable[[Path], None],
    since: list[str],
    summary: str,
    table: list[str],
    examples: list[tuple[str, int]],
) -> None:
    db = _audit_db(tmp_path)
    candidate = tmp_path / "candidate"
    shutil.copytree(POLICIES, candidate)
    edit(candidate)
    result = runner.invoke(app, ["replay", "--policy", str(candidate), "--audit-db", str(db), *since])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith(f": 4 decision(s) replayed, {summary}, 0 without a recorded policy input")
    assert lines[1:6] == ["old -> new                              count  changed", *table]
    # One line per changed row: its label, then its example request ids.
    shown = [line.partition(": ") for line in lines[6:]]
    assert [(label, len(ids.split(", "))) for label, _, ids in shown] == examples


def test_replay_of_an_unchanged_policy_changes_nothing(tmp_path: Path) -> None:
    db = _audit_db(tmp_path)
    result = runner.invoke(app, ["replay", "--policy", str(POLICIES), "--audit-db", str(db)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith(
        ": 4 decision(s) replayed, 0 would change (0 action, 0 backend order only), "
        "0 without a recorded policy input"
    )


def test_replay_compares_the_fallbacks_and_their_order() -> None:
    """A record that named the same first backend with other fallbacks: the router would fail over
    elsewhere now, so it counts as changed."""
    engine = EmbeddedPolicyEngine(POLICIES)
    doc = make_input()
    now = engine.evaluate(doc)
    assert (now.action, now.backend, now.fallbacks) == ("external", "openai", ("mistral",))
    base = {"record_type": "decision", "action": "external", "backend": "openai", "policy_input": doc}
    records = [
        {**base, "record_id": "same", "fallbacks": ["mistral"]},
        {**base, "record_id": "none"},
        {**base, "record_id": "other", "fallbacks": ["vllm-a"]},
        {**base, "record_id": "first", "backend": "mistral", "fallbacks": ["openai"]},
        {"record_type": "decision", "action": "onprem", "record_id": "old"},
    ]
    report = replay(records, engine)
    assert dict(report.transitions) == {
        ("external", "external", "no"): 1,
        ("external", "external", "fallbacks"): 2,
        ("external", "external", "backend"): 1,
    }
    assert (report.records, report.skipped, report.changed, report.changed_action) == (4, 1, 3, 0)
    assert report.examples[("external", "external", "fallbacks")] == ["none", "other"]


def test_replay_window_excludes_records_before_since(tmp_path: Path) -> None:
    db = _audit_db(tmp_path)
    result = runner.invoke(
        app, ["replay", "--policy", str(POLICIES), "--audit-db", str(db), "--since", "2999-01-01"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith(
        ": 0 decision(s) replayed, 0 would change (0 action, 0 backend order only), "
        "0 without a recorded policy input"
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
