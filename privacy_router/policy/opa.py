"""The ``opa`` policy engine: an OPA server asked over its REST Data API (opa-python-client).

One call per request: ``POST /v1/data/<query path>?provenance=true`` with ``{"input": ...}``
(OPA REST API, "Get a Document (with Input)"). The answer holds ``result`` (the decision),
``decision_id`` (present when OPA's decision logging is on) and ``provenance.bundles.<name>.revision``
(the revision of every activated bundle). Both are returned on the ``Decision`` so the audit record
carries them (threats.md 2.1: OPA's own decision log is best effort, ours is durable).

Fail closed (threats.md 2.2), every case becomes ``PolicyUnavailable`` here, at the one boundary:
  * HTTP 200 without ``result``: the path is an undefined document (OPA docs: "the response will
    not contain a result property"); a client reading ``.get("result", {})`` would fail open;
  * a body that is not JSON, or a result that breaks the decision contract (``schema.py``);
  * any non-2xx status (OPA answers 500 on evaluation errors, 400 on bad input);
  * connect or read timeout (``policy.timeout_s``), connection refused.
opa-python-client retries 500/502/504 with back-off by default; retries are turned off so that the
deadline is the deadline (a policy call is on every request's path).

The files hash recorded with each decision is the one of the LOCAL policy folder (``policy.dir``,
default the bundled ``policies/``): the folder the OPA bundle is expected to be built from. The
revision is the one OPA reports for its bundles, else the local ``.manifest``'s.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import structlog
from opa_client.opa import OpaClient

from privacy_router.errors import ConfigError, PolicyUnavailable
from privacy_router.policy.base import (
    FailureAction,
    UndefinedDecision,
    check_failure_action,
    failure_query,
)
from privacy_router.policy.loader import read_policy_dir
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

ENGINE_NAME = "opa"

log = structlog.get_logger("privacy_router.policy.opa")

# Same shape the audit record accepts for identifiers (audit/records.py ``_IDENT``): a revision or a
# decision id that is not identifier-shaped is refused rather than written to the audit log.
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+\-]{0,127}")


def _data_path(query: str) -> str:
    """``data.privacy_router.decision`` -> ``privacy_router.decision`` (opa-python-client turns the
    dots into the URL path ``/v1/data/privacy_router/decision``)."""
    if not re.fullmatch(r"data(\.[A-Za-z_][A-Za-z0-9_]*)+", query):
        raise ConfigError(
            f"policy.query {query!r}: the opa engine needs a plain path such as data.privacy_router.decision"
        )
    return query[len("data.") :]


class OpaPolicyEngine:
    """``PolicyEngine`` over an OPA server; see the module docstring."""

    # The call does network I/O: the pipeline runs it in a worker thread, off the event loop.
    blocking_io = True

    def __init__(
        self,
        url: str,
        query: str = "data.privacy_router.decision",
        timeout_s: float = 0.2,
        policy_dir: Path | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("policy.opa_url must be http[s]://host[:port]")
        self.url = url
        self.query = query
        self._path = _data_path(query)
        self._failure_path = _data_path(failure_query(query))
        self._preference_path = _data_path(preference_query(query))
        self._active_path = _data_path(active_query(query))
        # Until OPA says the preference step is inactive, it is evaluated (policy/preference.py).
        self.preference_active = True
        files = read_policy_dir(policy_dir if policy_dir is not None else resource_dir("policies"))
        self.info = PolicyInfo(revision=files.revision, files_hash=files.files_hash, engine=ENGINE_NAME)
        https = parts.scheme == "https"
        self._client = OpaClient(
            host=parts.hostname,
            port=parts.port or (443 if https else 80),
            ssl=https,
            timeout=timeout_s,
            retries=0,
        )
        self.failure_action: FailureAction = "block"
        self._failure_action_known = False
        self._refresh_failure_action()

    @classmethod
    def from_settings(
        cls, url: str, query: str, timeout_s: float, policy_dir: Path | None
    ) -> OpaPolicyEngine:
        return cls(url, query, timeout_s, policy_dir)

    def close(self) -> None:
        self._client.close_connection()

    def _post(self, path: str, policy_input: dict[str, Any]) -> dict[str, Any]:
        """One Data API call; every transport, status and body failure is ``PolicyUnavailable``."""
        try:
            body = self._client.query_rule(
                input_data=policy_input, package_path=path, query_params={"provenance": "true"}
            )
        except requests.Timeout as exc:
            raise PolicyUnavailable("OPA did not answer within policy.timeout_s") from exc
        except requests.ConnectionError as exc:
            raise PolicyUnavailable("OPA unreachable (connection failed)") from exc
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            raise PolicyUnavailable(f"OPA answered HTTP {status}") from exc
        except ValueError as exc:  # requests' JSONDecodeError; also a non-serialisable input
            raise PolicyUnavailable("OPA answered a body that is not JSON") from exc
        except requests.RequestException as exc:
            raise PolicyUnavailable(f"OPA request failed ({type(exc).__name__})") from exc
        if not isinstance(body, dict):
            raise PolicyUnavailable("OPA answered JSON that is not an object")
        return body

    def _refresh_failure_action(self) -> None:
        """Ask OPA once for the policy's declared failure action; until it answers, ``block``."""
        try:
            body = self._post(self._failure_path, {})
            self.failure_action = check_failure_action(body.get("result"), "OPA policy")
            self.preference_active = self._post(self._active_path, {}).get("result") is not False
            self._failure_action_known = True
        except (PolicyUnavailable, ValueError):
            log.warning("opa_failure_action_unknown", fallback="block")

    def ready(self) -> bool:
        """OPA's ``GET /health?bundles=true``: 200 only once every configured bundle is active."""
        healthy = bool(self._client.check_health(query={"bundles": "true"}))
        if healthy and not self._failure_action_known:
            self._refresh_failure_action()
        return healthy

    def evaluate_raw(self, policy_input: dict[str, Any]) -> tuple[object, str | None, str | None]:
        """``(result, decision_id, bundle_revision)``; ``UndefinedDecision`` when there is no result."""
        body = self._post(self._path, policy_input)
        if "result" not in body:
            raise UndefinedDecision(f"OPA: policy decision is undefined for this input (query {self.query})")
        decision_id = body.get("decision_id")
        if decision_id is not None and (
            not isinstance(decision_id, str) or not _IDENT.fullmatch(decision_id)
        ):
            raise PolicyUnavailable("OPA answered a decision_id that is not an identifier")
        return body["result"], decision_id, _bundle_revision(body.get("provenance"))

    def evaluate(self, policy_input: dict[str, Any]) -> Decision:
        raw, decision_id, revision = self.evaluate_raw(policy_input)
        decision = validate_decision(raw, policy_input)
        if self.preference_active and wants_preference(decision):
            # The preference step, a second Data API call; the decision id recorded stays the
            # decision's. No result (a policy without the step) leaves the decision as it is.
            body = self._post(self._preference_path, preference_input(policy_input, decision))
            decision = apply_preference(decision, body.get("result"))
        info = self.info if revision is None else dataclasses.replace(self.info, revision=revision)
        return dataclasses.replace(decision, policy_info=info, decision_id=decision_id)


def _bundle_revision(provenance: object) -> str | None:
    """The revision of the activated bundle(s): one bundle gives its revision, several give
    ``name:revision`` joined by ``+`` in name order; no bundle (policies pushed over the Policy API)
    gives None, and the local manifest revision is recorded instead."""
    if not isinstance(provenance, dict):
        return None
    bundles = provenance.get("bundles")
    if not isinstance(bundles, dict) or not bundles:
        return None
    revisions: list[tuple[str, str]] = []
    for name in sorted(bundles):
        entry = bundles[name]
        revision = entry.get("revision") if isinstance(entry, dict) else None
        if not isinstance(revision, str):
            raise PolicyUnavailable("OPA answered a bundle without a revision")
        revisions.append((name, revision))
    text = revisions[0][1] if len(revisions) == 1 else "+".join(f"{n}:{r}" for n, r in revisions)
    if not _IDENT.fullmatch(text):
        raise PolicyUnavailable("OPA answered a bundle revision that is not an identifier")
    return text
