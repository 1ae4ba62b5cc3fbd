"""The one place that turns ``PolicySettings`` into a ``PolicyEngine`` (STYLE.md: one extension
point, one place that registers its implementations)."""

from __future__ import annotations

from privacy_router.config import PolicySettings
from privacy_router.errors import ConfigError
from privacy_router.policy.base import PolicyEngine
from privacy_router.policy.lifecycle import ReloadingPolicyEngine
from privacy_router.policy.opa import OpaPolicyEngine


def policy_engine_from_settings(settings: PolicySettings) -> PolicyEngine:
    """``embedded``: the bundled or configured folder, compiled once, hot-reloadable
    (``ReloadingPolicyEngine``); ``opa``: an OPA server at ``policy.opa_url``.

    Raises ``ConfigError`` naming the key when the policy does not load."""
    if settings.engine == "opa":
        if not settings.opa_url:
            raise ConfigError("config key 'policy.opa_url' is required when policy.engine is 'opa'")
        return OpaPolicyEngine(settings.opa_url, settings.query, settings.timeout_s, settings.dir)
    return ReloadingPolicyEngine(settings.dir, settings.query, test_on_start=settings.test_on_start)
