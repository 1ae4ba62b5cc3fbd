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
from privacy_router.policy.preference import (
    active_query,
    apply_preference,
    preference_input,
    preference_query,
    wants_preference,
)
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
        # The preference step (policy/preference.py): undefined when the folder has none.
        try:
            self._preference = self._interp.build(preference_query(query))
        except regopy.RegoError as exc:
            raise ConfigError(f"{problem} (preference): {engine_error_text(self._interp)}") from exc
        if not self._preference.ok():
            raise ConfigError(f"{problem} (preference): {engine_error_text(self._interp)}")
        self.preference_active = self._read_once(active_query(query)) is not False
        self._bound: regopy.Bundle | None = None
        self.failure_action: FailureAction = self._declared_failure_action(str(root))

    def _read_once(self, ref: str) -> object:
        """The value of an input-independent rule (None when undefined); read at load time. Bound
        to a variable: as a bare query, a rule whose value is ``false`` would come back undefined."""
        try:
            output = self._interp.query(f"value := {ref}")
        except regopy.RegoError:
            return None
        if not output.ok() or not output.results:
            return None
        return output.results[0].bindings.get("value")

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

    def _run(
        self, bundle: regopy.Bundle, policy_input: dict[str, Any], *, bound: bool = False
    ) -> tuple[bool, object]:
        """``(defined, value)`` of one compiled query; ``PolicyUnavailable`` on failure.

        The input goes in as JSON text (``set_input_term``), not as ``regopy.Input``, although
        that is ~0.15 ms faster: in regopy 1.5.2 ``Input`` changes what the policy sees. It keeps
        6 decimals of a float (a price of 1.5e-06 becomes 2e-06, 1e-07 becomes 0), gives strings
        with quotes, backslashes, control or non-ASCII characters another value than the JSON
        text does, and ``json.marshal`` of an array it built is undefined (docs/performance.md).
        """
        try:
            term = json.dumps(policy_input, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise PolicyUnavailable("policy input is not JSON-serialisable") from exc
        with self._lock:
            try:
                self._interp.set_input_term(term)
                output = self._interp.query_bundle(bundle)
                ok = output.ok()
                results = output.results
            except Exception as exc:  # regopy raises RegoError, and JSONDecodeError on a broken result
                raise PolicyUnavailable(f"policy engine error ({type(exc).__name__})") from exc
        if not ok:
            raise PolicyUnavailable("policy engine error while evaluating the decision")
        if bound:  # a ``value := <query>`` bundle (document())
            if len(results) != 1 or "value" not in results[0].bindings:
                return False, None
            return True, results[0].bindings["value"]
        if len(results) != 1 or len(results[0].expressions) != 1:
            return False, None
        return True, results[0].expressions[0]

    def document(self, policy_input: dict[str, Any]) -> tuple[bool, object]:
        """``(defined, value)`` of the query as OPA's Data API answers it, ``false`` included: as a
        bare query, a document whose value is ``false`` comes back undefined from regopy; bound to
        a variable it does not. Used by the OPA test double (opa_testserver.py)."""
        if self._bound is None:
            with self._lock:
                self._bound = self._interp.build(f"value := {self.query}")
        return self._run(self._bound, policy_input, bound=True)

    def evaluate_raw(self, policy_input: dict[str, Any]) -> object:
        """Run the query and return its raw value (unvalidated); ``PolicyUnavailable`` on failure."""
        defined, value = self._run(self._bundle, policy_input)
        if not defined:
            raise UndefinedDecision(f"policy decision is undefined for this input (query {self.query})")
        return value

    def evaluate(self, policy_input: dict[str, Any]) -> Decision:
        decision = validate_decision(self.evaluate_raw(policy_input), policy_input)
        if self.preference_active and wants_preference(decision):
            _, preferred = self._run(self._preference, preference_input(policy_input, decision))
            decision = apply_preference(decision, preferred)
        return dataclasses.replace(decision, policy_info=self.info)
