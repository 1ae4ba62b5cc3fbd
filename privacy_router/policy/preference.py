"""The preference step (issue 11): after the privacy decision, the policy may reorder the backends
it allowed, by cost, latency or a designated backend (policies/privacy_router/preference.rego).

Both engines run it the same way: when the decision names a backend, they evaluate
``<package of the decision>.preference.result`` (``data.privacy_router.preference.result``) with
the decision's input plus ``decision`` {action, backend, fallbacks}, and pass the answer to
``apply_preference``. The answer may only reorder: ``order`` must hold exactly the decision's
backend and fallbacks, so the action, and so how far the data goes, never changes.

- undefined (a policy without a preference package, or one that does not answer for this input):
  the decision stands as the privacy rules made it;
- an answer that is not a reordering of the allowed names, or reasons that are not strings: the
  policy is broken, ``PolicyUnavailable`` (the caller fails closed, as for a broken decision).

It is a separate query, not part of the decision, because regopy 1.5.2 grows badly in memory when
the decision's rules get deeper (policies/README.md, "Preference").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from privacy_router.errors import PolicyUnavailable
from privacy_router.types import Decision


def preference_query(query: str) -> str:
    """``data.privacy_router.decision`` -> ``data.privacy_router.preference.result``."""
    package, _, _ = query.rpartition(".")
    return f"{package}.preference.result" if package else "data.preference.result"


def active_query(query: str) -> str:
    """``data.privacy_router.decision`` -> ``data.privacy_router.preference.active``: whether the
    preference can change any order. It depends on data only, so engines read it once per loaded
    policy; ``False`` skips the query for every request, undefined (no such rule) keeps it."""
    return preference_query(query).rpartition(".")[0] + ".active"


def wants_preference(decision: Decision) -> bool:
    """Only a decision that names a backend has anything to reorder."""
    return decision.action != "block" and decision.backend is not None


def preference_input(policy_input: dict[str, Any], decision: Decision) -> dict[str, Any]:
    """The decision's input plus the decision itself (the allowed backends, in list order)."""
    allowed = {"action": decision.action, "backend": decision.backend, "fallbacks": list(decision.fallbacks)}
    return {**policy_input, "decision": allowed}


def apply_preference(decision: Decision, raw: object) -> Decision:
    """The decision with its backends in the preferred order (see the module docstring).
    ``raw`` is the query's value, ``None`` when undefined."""
    if raw is None or decision.backend is None:
        return decision
    if not isinstance(raw, Mapping):
        raise PolicyUnavailable("policy preference must be an object")
    order = raw.get("order")
    reasons = raw.get("reasons", [])
    if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
        raise PolicyUnavailable("policy preference field 'order' must be a list of strings")
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise PolicyUnavailable("policy preference field 'reasons' must be a list of strings")
    allowed = [decision.backend, *decision.fallbacks]
    if sorted(order) != sorted(allowed):
        raise PolicyUnavailable("policy preference must reorder exactly the backends the decision allowed")
    return dataclasses.replace(
        decision,
        backend=order[0],
        fallbacks=tuple(order[1:]),
        reasons=(*decision.reasons, *reasons),
    )
