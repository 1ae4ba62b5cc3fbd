"""Validation of a policy's raw output against the decision contract (defence in depth).

A policy is code written by another team and loaded at run time: its output is checked here before
the router acts on it. Error messages name the field and the rule broken, never a value taken from
the request (backend names come from configuration, actions from a closed set).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from privacy_router.errors import PolicyUnavailable
from privacy_router.types import ACTIONS, Action, Decision

# Data classes that must never reach an external backend, scrubbed or not, whatever the policy says.
NEVER_EXTERNAL: frozenset[str] = frozenset({"PHI"})

_KIND_OF_ACTION = {"onprem": "onprem", "external": "external", "external_scrubbed": "external"}


def _string_list(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyUnavailable(f"policy decision field {key!r} must be a list of strings")
    return tuple(value)


def _backend_names(policy_input: Mapping[str, Any], kind: str) -> set[str]:
    backends = policy_input.get("backends")
    entries = backends.get(kind) if isinstance(backends, Mapping) else None
    if not isinstance(entries, list):
        return set()
    return {b["name"] for b in entries if isinstance(b, Mapping) and isinstance(b.get("name"), str)}


def _categories(policy_input: Mapping[str, Any]) -> set[str]:
    detection = policy_input.get("detection")
    cats = detection.get("categories") if isinstance(detection, Mapping) else None
    return {c for c in cats if isinstance(c, str)} if isinstance(cats, list) else set()


def validate_decision(raw: object, policy_input: dict[str, Any]) -> Decision:
    """Turn a policy's raw output into a ``Decision``, or raise ``PolicyUnavailable``."""
    if not isinstance(raw, Mapping):
        raise PolicyUnavailable("policy decision must be an object")
    action = raw.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise PolicyUnavailable(
            f"policy decision has an unknown action; expected one of {', '.join(ACTIONS)}"
        )

    backend = raw.get("backend")
    if action == "block":
        if backend is not None:
            raise PolicyUnavailable("policy decision 'block' must not name a backend")
    else:
        kind = _KIND_OF_ACTION[action]
        if not isinstance(backend, str):
            raise PolicyUnavailable(f"policy decision {action!r} must name a backend")
        if backend not in _backend_names(policy_input, kind):
            raise PolicyUnavailable(
                f"policy decision {action!r} names a backend that is not a configured {kind} backend"
            )
        if kind == "external":
            forbidden = sorted(NEVER_EXTERNAL & _categories(policy_input))
            if forbidden:
                raise PolicyUnavailable(
                    f"policy decision {action!r} would send {', '.join(forbidden)} to an external backend"
                )

    reasons = _string_list(raw, "reasons")
    scrub_entities = _string_list(raw, "scrub_entities")
    fallbacks = _string_list(raw, "fallbacks")  # optional: absent means no fallback
    if fallbacks:
        if action == "block":
            raise PolicyUnavailable("policy decision 'block' must not name fallbacks")
        kind = _KIND_OF_ACTION[action]
        if not set(fallbacks) <= _backend_names(policy_input, kind) or backend in fallbacks:
            raise PolicyUnavailable(
                f"policy decision {action!r} has fallbacks that are not other configured {kind} backends"
            )
        if len(set(fallbacks)) != len(fallbacks):
            raise PolicyUnavailable("policy decision field 'fallbacks' repeats a backend")
    policy_id = raw.get("policy_id", "privacy_router.decision")
    if not isinstance(policy_id, str) or not policy_id:
        raise PolicyUnavailable("policy decision field 'policy_id' must be a non-empty string")
    return Decision(
        action=cast(Action, action),
        backend=backend if isinstance(backend, str) else None,
        scrub_entities=scrub_entities,
        reasons=reasons,
        policy_id=policy_id,
        fallbacks=fallbacks,
    )
