"""Policy engines: the ``PolicyEngine`` protocol, the embedded (regopy) engine, decision validation."""

from privacy_router.policy.base import PolicyEngine
from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.policy.schema import validate_decision

__all__ = ["EmbeddedPolicyEngine", "PolicyEngine", "validate_decision"]
