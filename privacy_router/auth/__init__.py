"""Who may call the gateway: hashed API keys (reloadable), roles, per-key and per-tenant rate limits."""

from privacy_router.auth.guard import AUDIT_ROLES, MODEL_ROLES, Authenticator, require_role
from privacy_router.auth.keys import KeyStore, hash_key

__all__ = ["AUDIT_ROLES", "MODEL_ROLES", "Authenticator", "KeyStore", "hash_key", "require_role"]
