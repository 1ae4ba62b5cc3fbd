"""The one extension point for policy engines: ``PolicyEngine.evaluate(input) -> Decision``.

Implementations: ``embedded.EmbeddedPolicyEngine`` (regopy, in-process) and the OPA client. Whatever
goes wrong inside an engine (engine error, timeout, undefined or malformed result) surfaces as
``errors.PolicyUnavailable``, and the caller fails closed.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from privacy_router.types import Decision, PolicyInfo


@runtime_checkable
class PolicyEngine(Protocol):
    """Evaluates the policy contract of DESIGN.md ("Policy contract")."""

    info: PolicyInfo

    def evaluate(self, policy_input: dict[str, Any]) -> Decision:
        """Return the validated decision; raise ``PolicyUnavailable`` on any failure."""
        ...
