"""`privacy-router policy check` and `policy replay` through typer's CliRunner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from privacy_router.audit.records import decision_record
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.policy.commands import app
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
