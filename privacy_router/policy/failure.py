"""What the router does when the policy engine fails: the policy's declared failure action.

A policy declares ``failure_action := "onprem"`` (or ``"block"``, the default when undefined) in the
package of its decision (``policies/privacy_router/failure.rego``). When evaluation fails (engine
error, timeout, undefined result, output breaking the contract) the router:
  * routes on-prem only if the active policy declared ``onprem`` AND an on-prem backend is healthy
    (one serving the requested model first, as the policy's own model pin does);
  * else blocks (503).
It never routes externally: with no working policy there is no judgement of the content.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from privacy_router.types import Decision

FAILURE_POLICY_ID = "privacy_router.failure_action"
FAILURE_REASON = "policy unavailable: the policy's declared failure action keeps the request on-prem"


def failure_decision(failure_action: str, policy_input: Mapping[str, Any]) -> Decision | None:
    """The on-prem decision to use instead of the failed one, or None (block)."""
    if failure_action != "onprem":
        return None
    backends = policy_input.get("backends")
    onprem = backends.get("onprem") if isinstance(backends, Mapping) else None
    if not isinstance(onprem, list):
        return None
    healthy = [
        b
        for b in onprem
        if isinstance(b, Mapping) and b.get("healthy") is True and isinstance(b.get("name"), str)
    ]
    request = policy_input.get("request")
    model = request.get("model") if isinstance(request, Mapping) else None
    serving = [b for b in healthy if isinstance(b.get("models"), list) and model in b["models"]]
    chosen = (serving or healthy)[:1]
    if not chosen:
        return None
    return Decision(
        action="onprem",
        backend=str(chosen[0]["name"]),
        reasons=(FAILURE_REASON,),
        policy_id=FAILURE_POLICY_ID,
    )
