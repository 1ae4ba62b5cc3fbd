"""Policy tooling behind ``privacy-router policy check`` and ``policy replay``.

Both go through ``EmbeddedPolicyEngine.evaluate``, as the router does: the decision is validated,
then the preference step (``preference.py``) orders its backends when ``preference.active`` is
not false.

``check_policy``: compile a folder and validate its output against the decision contract over a
generated matrix of inputs (``matrix.py``): an unknown action, a backend that is not in the input,
an external action for a PHI request, an undefined decision, a preference answer that is not a
reordering of the allowed backends are errors, grouped by message.

``replay``: re-evaluate the ``policy_input`` of every decision record in the audit log (it holds
entity types, counts, field paths, backends and identifier-shaped strings only; never a value:
``audit/records.py``) against a candidate policy, and count old -> new actions. A decision whose
action stays the same but whose backend order differs (``backend``, then ``fallbacks``) counts
as changed too: the router would send it elsewhere.
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
from privacy_router.types import Decision

UNAVAILABLE = "unavailable"  # the candidate failed on this input: the router would fail closed


@dataclass
class CheckReport:
    inputs: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    errors: dict[str, list[str]] = field(default_factory=dict)  # message -> case ids
    preference_active: bool = False  # the router runs the preference step for this policy

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
    report = CheckReport(preference_active=engine.preference_active)
    for case, doc in cases:
        report.inputs += 1
        try:
            decision = engine.evaluate(doc)  # validated, then ordered by the preference step
        except PolicyUnavailable as exc:
            report.errors.setdefault(exc.message, []).append(case)
            continue
        report.actions[decision.action] += 1
    return report


# How a replayed decision differs from the recorded one, from the most to the least important.
SAME, ACTION, BACKEND, FALLBACKS = "no", "yes", "backend", "fallbacks"


@dataclass
class ReplayReport:
    records: int = 0
    skipped: int = 0  # decision records without a policy_input (written before it was recorded)
    # (old action, new action, change): change is SAME, ACTION, BACKEND or FALLBACKS
    transitions: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str, str], list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def changed(self) -> int:
        return sum(n for (_, _, change), n in self.transitions.items() if change != SAME)

    @property
    def changed_action(self) -> int:
        return sum(n for (_, _, change), n in self.transitions.items() if change == ACTION)


def _recorded_route(record: dict[str, Any]) -> tuple[object, list[object]]:
    """The backend and fallbacks a decision record names (``fallbacks`` is absent when empty)."""
    fallbacks = record.get("fallbacks", [])
    return record.get("backend"), list(fallbacks) if isinstance(fallbacks, list) else [fallbacks]


def _change(record: dict[str, Any], new: Decision | None) -> str:
    backend, fallbacks = _recorded_route(record)
    if new is None or new.action != record.get("action"):
        return ACTION
    if new.backend != backend:
        return BACKEND
    if list(new.fallbacks) != fallbacks:
        return FALLBACKS
    return SAME


def replay(
    records: Iterable[dict[str, Any]], engine: EmbeddedPolicyEngine, *, examples: int = 5
) -> ReplayReport:
    """Compare each recorded decision with the one ``engine`` makes now, as the router makes it
    (``evaluate``: validated, with the preference step's order)."""
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
        decision: Decision | None
        try:
            decision = engine.evaluate(policy_input)
        except PolicyUnavailable:
            decision = None
        key = (old, decision.action if decision is not None else UNAVAILABLE, _change(record, decision))
        report.transitions[key] += 1
        if key[2] != SAME and len(report.examples[key]) < examples:
            report.examples[key].append(str(record.get("record_id") or record.get("request_id")))
    return report


def transition_lines(report: ReplayReport) -> Iterator[str]:
    """The table: one line per old -> new pair and kind of change (``yes``: the action;
    ``backend``: same action, another first backend; ``fallbacks``: same first backend, other
    fallbacks or order), changed ones first, then the examples."""
    width = max((len(f"{o} -> {n}") for o, n, _ in report.transitions), default=10)
    ordered = sorted(report.transitions.items(), key=lambda kv: (kv[0][2] == SAME, kv[0]))
    yield f"{'old -> new':<{width}}  count  changed"
    for (old, new, change), count in ordered:
        yield f"{f'{old} -> {new}':<{width}}  {count:>5}  {change}"
    for (old, new, change), ids in sorted(report.examples.items()):
        if ids:
            what = "" if change == ACTION else f" ({change})"
            yield f"examples {old} -> {new}{what}: {', '.join(ids)}"
