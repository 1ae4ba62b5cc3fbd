"""The one extension point for policy engines: ``PolicyEngine.evaluate(input) -> Decision``.

Implementations: ``embedded.EmbeddedPolicyEngine`` (regopy, in-process), ``opa.OpaPolicyEngine``
(an OPA server over its REST Data API) and ``lifecycle.ReloadingPolicyEngine`` (hot reload around
the embedded one); ``factory.policy_engine_from_settings`` is the one place that picks one.
Whatever goes wrong inside an engine (engine error, timeout, undefined or malformed result)
surfaces as ``errors.PolicyUnavailable``, and the caller fails closed: it blocks, or routes on-prem
when the policy declared ``failure_action := "onprem"`` (``failure.failure_decision``).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from privacy_router.errors import PolicyUnavailable
from privacy_router.types import Decision, PolicyInfo

FailureAction = Literal["onprem", "block"]
FAILURE_ACTIONS: tuple[str, ...] = ("onprem", "block")


class UndefinedDecision(PolicyUnavailable):
    """The query has no value for this input (OPA: HTTP 200 without ``result``). Fails closed."""


@runtime_checkable
class PolicyEngine(Protocol):
    """Evaluates the policy contract of DESIGN.md ("Policy contract")."""

    @property
    def info(self) -> PolicyInfo:
        """Identity of the loaded policy (revision, files hash, engine)."""
        ...

    def evaluate(self, policy_input: dict[str, Any]) -> Decision:
        """Return the validated decision; raise ``PolicyUnavailable`` on any failure."""
        ...


def failure_query(query: str) -> str:
    """``data.privacy_router.decision`` -> ``data.privacy_router.failure_action``: the rule the policy
    declares its failure action in sits in the package of the decision."""
    package, _, _ = query.rpartition(".")
    return f"{package}.failure_action" if package else "data.failure_action"


def check_failure_action(value: object, where: str) -> FailureAction:
    """The declared failure action; undefined means ``block``, any other value is a policy bug."""
    if value is None:
        return "block"
    if value == "onprem":
        return "onprem"
    if value == "block":
        return "block"
    raise ValueError(f'{where}: failure_action must be "onprem" or "block" (never an external route)')
