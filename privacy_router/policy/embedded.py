"""The embedded policy engine: Rego evaluated in-process by regopy (Microsoft's rego-cpp).

The policy folder is read and compiled ONCE into a regopy ``Bundle`` (a compiled plan for the
query); each request only sets the input and runs the plan. regopy interpreters are not documented
as thread-safe, so evaluation is serialised by a lock (a query takes well under a millisecond; see
policies/README.md for the measurement).

Every regopy failure is translated to ``PolicyUnavailable`` here, at the one boundary.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import regopy

from privacy_router.config import PolicySettings
from privacy_router.errors import ConfigError, PolicyUnavailable
from privacy_router.policy.base import (
    FailureAction,
    UndefinedDecision,
    check_failure_action,
    failure_query,
)
from privacy_router.policy.loader import engine_error_text, new_interpreter, read_policy_dir
from privacy_router.policy.schema import validate_decision
from privacy_router.resources import resource_dir
from privacy_router.types import Decision, PolicyInfo

ENGINE_NAME = "embedded"


class EmbeddedPolicyEngine:
    """``PolicyEngine`` over regopy; see the module docstring."""

    def __init__(self, policy_dir: Path | None = None, query: str = "data.privacy_router.decision") -> None:
        root = policy_dir if policy_dir is not None else resource_dir("policies")
        files = read_policy_dir(root)
        self.query = query
        self.info = PolicyInfo(revision=files.revision, files_hash=files.files_hash, engine=ENGINE_NAME)
        self._lock = threading.Lock()
        self._interp = new_interpreter(files)
        problem = f"policy in {str(root)!r} does not compile for query {query!r}"
        try:
            self._bundle = self._interp.build(query)
        except regopy.RegoError as exc:
            raise ConfigError(f"{problem}: {engine_error_text(self._interp)}") from exc
        if not self._bundle.ok():
            raise ConfigError(f"{problem}: {engine_error_text(self._interp)}")
        self.failure_action: FailureAction = self._declared_failure_action(str(root))

    def _declared_failure_action(self, where: str) -> FailureAction:
        """``failure_action`` of the decision's package, read once (it must not depend on input)."""
        try:
            output = self._interp.query(failure_query(self.query))
            results = output.results if output.ok() else None
        except regopy.RegoError as exc:
            raise ConfigError(f"policy in {where!r}: failure_action does not evaluate") from exc
        if results is None:
            raise ConfigError(f"policy in {where!r}: failure_action does not evaluate")
        value = results[0].expressions[0] if results and results[0].expressions else None
        try:
            return check_failure_action(value, f"policy in {where!r}")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    @classmethod
    def from_settings(cls, settings: PolicySettings) -> EmbeddedPolicyEngine:
        return cls(settings.dir, settings.query)

    def evaluate_raw(self, policy_input: dict[str, Any]) -> object:
        """Run the query and return its raw value (unvalidated); ``PolicyUnavailable`` on failure."""
        try:
            term = json.dumps(policy_input, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise PolicyUnavailable("policy input is not JSON-serialisable") from exc
        with self._lock:
            try:
                self._interp.set_input_term(term)
                output = self._interp.query_bundle(self._bundle)
                ok = output.ok()
                results = output.results
            except Exception as exc:  # regopy raises RegoError, and JSONDecodeError on a broken result
                raise PolicyUnavailable(f"policy engine error ({type(exc).__name__})") from exc
        if not ok:
            raise PolicyUnavailable("policy engine error while evaluating the decision")
        if len(results) != 1 or len(results[0].expressions) != 1:
            raise UndefinedDecision(f"policy decision is undefined for this input (query {self.query})")
        return results[0].expressions[0]

    def evaluate(self, policy_input: dict[str, Any]) -> Decision:
        decision = validate_decision(self.evaluate_raw(policy_input), policy_input)
        return dataclasses.replace(decision, policy_info=self.info)
