"""Policy tooling behind ``privacy-router policy check`` and ``policy replay``.

``check_policy``: compile a folder and validate its output against the decision contract over a
generated matrix of inputs (``matrix.py``): an unknown action, a backend that is not in the input,
an external action for a PHI request, an undefined decision are errors, grouped by message.

``replay``: re-evaluate the ``policy_input`` of every decision record in the audit log (it holds
entity types, counts, field paths, backends and identifier-shaped strings only; never a value:
``audit/records.py``) against a candidate policy, and count old -> new actions.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privacy_router.errors import PolicyUnavailable
from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.policy.matrix import covering_matrix, full_matrix
from privacy_router.policy.schema import validate_decision

UNAVAILABLE = "unavailable"  # the candidate failed on this input: the router would fail closed


@dataclass
class CheckReport:
    inputs: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    errors: dict[str, list[str]] = field(default_factory=dict)  # message -> case ids

    @property
    def ok(self) -> bool:
        return not self.errors and self.inputs > 0


def _residency(policy_dir: Path) -> dict[str, Any]:
    path = policy_dir / "data" / "residency.json"
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text("utf-8"))
    return doc if isinstance(doc, dict) else {}


def check_policy(
    policy_dir: Path, query: str = "data.privacy_router.decision", *, quick: bool = False
) -> CheckReport:
    """Raises ``ConfigError`` when the folder does not compile (or declares a bad failure action)."""
    engine = EmbeddedPolicyEngine(policy_dir, query)
    residency = _residency(policy_dir)
    cases: Iterable[tuple[str, dict[str, Any]]] = (
        covering_matrix(residency) if quick else full_matrix(residency)
    )
    report = CheckReport()
    for case, doc in cases:
        report.inputs += 1
        try:
            decision = validate_decision(engine.evaluate_raw(doc), doc)
        except PolicyUnavailable as exc:
            report.errors.setdefault(exc.message, []).append(case)
            continue
        report.actions[decision.action] += 1
    return report


@dataclass
class ReplayReport:
    records: int = 0
    skipped: int = 0  # decision records without a policy_input (written before it was recorded)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def changed(self) -> int:
        return sum(n for (old, new), n in self.transitions.items() if old != new)


def replay(
    records: Iterable[dict[str, Any]], engine: EmbeddedPolicyEngine, *, examples: int = 5
) -> ReplayReport:
    report = ReplayReport()
    for record in records:
        if record.get("record_type") != "decision":
            continue
        policy_input = record.get("policy_input")
        old = record.get("action")
        if not isinstance(policy_input, dict) or not isinstance(old, str):
            report.skipped += 1
            continue
        report.records += 1
        try:
            new: str = engine.evaluate(policy_input).action
        except PolicyUnavailable:
            new = UNAVAILABLE
        report.transitions[(old, new)] += 1
        if old != new and len(report.examples[(old, new)]) < examples:
            report.examples[(old, new)].append(str(record.get("record_id") or record.get("request_id")))
    return report


def transition_lines(report: ReplayReport) -> Iterator[str]:
    """The table: one line per old -> new pair, changed ones first, then the examples."""
    width = max((len(f"{o} -> {n}") for o, n in report.transitions), default=10)
    ordered = sorted(report.transitions.items(), key=lambda kv: (kv[0][0] == kv[0][1], kv[0]))
    yield f"{'old -> new':<{width}}  count  changed"
    for (old, new), count in ordered:
        yield f"{f'{old} -> {new}':<{width}}  {count:>5}  {'yes' if old != new else 'no'}"
    for (old, new), ids in sorted(report.examples.items()):
        if ids:
            yield f"examples {old} -> {new}: {', '.join(ids)}"
