"""Record builders: the only way the router makes audit records.

They make raw request text structurally unable to enter the chain (DESIGN.md invariant: the audit
log holds entity types, counts, fields, scores and keyed HMACs, never values). Every string that
reaches a record is one of:

* an identifier the router or its configuration produced (request id, tenant, backend, entity
  type, pack version...): it must match a strict pattern, otherwise the builder raises
  ``AuditWriteError`` and the request fails closed: a mismatch is a router bug, not client input;
* a value the client influences (requested model, JSON keys inside field paths, strings inside
  the policy input such as a declared classification): kept only when it is identifier-shaped
  (no spaces, no ``@``, not starting with a digit), else replaced by ``REDACTED`` / ``*``;
* a policy-authored reason: bounded free text written by the policy team, never request text,
  because the policy only ever sees the abstracted input below.

Numbers are counts, scores, status codes and latencies. The prompt itself appears only as
``prompt_hmac``: HMAC-SHA256 with a secret key (a plain hash of an SSN is brute-forced in 10^9
tries, threats.md 1.4).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
import struct
import unicodedata
from typing import Any

from privacy_router.config import AuditSettings
from privacy_router.errors import AuditWriteError, ConfigError
from privacy_router.types import ACTIONS, Decision, PolicyInfo, Principal

REDACTED = "<redacted>"
OUTCOMES: tuple[str, ...] = ("ok", "upstream_error", "truncated", "client_cancelled", "blocked", "rejected")

# Router/config identifiers: tenants, services, backends, regions, pack names and versions,
# request ids, policy revisions. No whitespace, no '@'.
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+\-]{0,127}")
_ENTITY = re.compile(r"[A-Z][A-Z0-9_]{0,63}")  # Presidio entity names: US_SSN, PERSON
_HEX = re.compile(r"[0-9a-f]{16,128}")
_HMAC_HEX = re.compile(r"[0-9a-f]{64}")
# Client-influenced strings kept only when identifier-shaped and not starting with a digit (an
# SSN, card or phone number starts with one): model names, declared classification...
_SAFE_TOKEN = re.compile(r"[A-Za-z_$][A-Za-z0-9._:/+\-]{0,127}")
# One name inside a field path: strictly identifier (no '-', no '.'), as JSON keys from tool
# arguments and schemas are client-chosen. Anything else becomes '*'.
_PATH_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]{0,63}")
_PATH_TOKEN = re.compile(r"\[(\d{1,6})\]|([^.\[\]]+)|\.|\[[^\]]*\]?")
_MAX_REASON = 256
_MAX_LIST = 256


def decision_record(
    *,
    request_id: str,
    principal: Principal,
    endpoint: str,
    model: str | None,
    decision: Decision,
    backend_region: str | None,
    policy: PolicyInfo,
    pack_versions: dict[str, str],
    entities: list[dict[str, Any]],
    categories: list[str],
    unscannable_parts: int,
    prompt_hmac: str,
    policy_input: dict[str, Any],
    shadow: dict[str, Any] | None = None,
    record_type: str = "decision",
) -> dict[str, Any]:
    """The write-ahead record of one routing decision (appended before any byte is forwarded).

    ``record_type="explain"``: the same content for ``POST /v1/route/explain``, which decides but
    never forwards. ``shadow``: the candidate policy's verdict (policy/lifecycle.py), when shadow
    mode is on. ``decision.decision_id`` (OPA engine) is kept under ``policy.decision_id``. The
    three are additive: a record without them has exactly the fields it had before."""
    if decision.action not in ACTIONS:
        raise AuditWriteError(f"audit record rejected: action must be one of {list(ACTIONS)}")
    if record_type not in ("decision", "explain"):
        raise AuditWriteError("audit record rejected: record_type must be decision or explain")
    record: dict[str, Any] = {
        "record_type": record_type,
        "request_id": _ident(request_id, "request_id"),
        "principal": _principal(principal),
        "endpoint": _ident(endpoint, "endpoint"),
        "model": _client_token(model),
        "action": decision.action,
        "backend": _opt_ident(decision.backend, "backend"),
        "backend_region": _opt_ident(backend_region, "backend_region"),
        "reasons": [_reason(r) for r in _bounded(decision.reasons, "reasons")],
        "scrub_entities": [_entity(e) for e in _bounded(decision.scrub_entities, "scrub_entities")],
        "policy": {
            "id": _ident(decision.policy_id, "policy.id"),
            "revision": _ident(policy.revision, "policy.revision"),
            "files_hash": _hex(policy.files_hash, "policy.files_hash"),
            "engine": _ident(policy.engine, "policy.engine"),
        },
        "detector": {
            "packs": {
                _ident(k, "detector.packs"): _ident(v, "detector.packs")
                for k, v in sorted(pack_versions.items())
            }
        },
        "entities": [_entity_summary(e) for e in _bounded(entities, "entities")],
        "categories": [_entity(c) for c in _bounded(categories, "categories")],
        "unscannable_parts": _count(unscannable_parts, "unscannable_parts"),
        "prompt_hmac": _hmac_hex(prompt_hmac),
        "policy_input": _policy_input(policy_input),
    }
    if decision.decision_id is not None:
        record["policy"]["decision_id"] = _ident(decision.decision_id, "policy.decision_id")
    if decision.fallbacks:
        record["fallbacks"] = [_ident(b, "fallbacks") for b in _bounded(decision.fallbacks, "fallbacks")]
    if shadow is not None:
        record["shadow"] = _shadow(shadow)
    return record


def _shadow(value: dict[str, Any]) -> dict[str, Any]:
    action = value.get("action")
    if action is not None and action not in ACTIONS:
        raise AuditWriteError("audit record rejected: shadow.action must be an action or null")
    for flag in ("agrees", "error"):
        if not isinstance(value.get(flag), bool):
            raise AuditWriteError(f"audit record rejected: shadow.{flag} must be a boolean")
    return {
        "action": action,
        "backend": _opt_ident(value.get("backend"), "shadow.backend"),
        "agrees": value["agrees"],
        "error": value["error"],
        "revision": _ident(value.get("revision"), "shadow.revision"),
        "files_hash": _hex(value.get("files_hash"), "shadow.files_hash"),
    }


def completion_record(
    *,
    request_id: str,
    decision_record_id: str,
    status: int,
    outcome: str,
    latency_ms: float,
    usage: dict[str, Any] | None,
    backend: str | None,
    principal: Principal | None = None,
    attempts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The outcome of a forwarded (or refused) request, linked to its decision record.

    ``principal`` is optional; when given, the record is indexed by tenant like the decision.
    ``attempts``: every upstream attempt when there was more than one (retries, replica failover,
    fallback; api/proxy.py), each ``{backend, replica, status, error, wait_s}``; additive."""
    if outcome not in OUTCOMES:
        raise AuditWriteError(f"audit record rejected: outcome must be one of {list(OUTCOMES)}")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise AuditWriteError("audit record rejected: status must be an HTTP status code")
    if (
        isinstance(latency_ms, bool)
        or not isinstance(latency_ms, int | float)
        or not math.isfinite(latency_ms)
        or latency_ms < 0
    ):
        raise AuditWriteError("audit record rejected: latency_ms must be a finite number >= 0")
    record: dict[str, Any] = {
        "record_type": "completion",
        "request_id": _ident(request_id, "request_id"),
        "decision_record_id": _ident(decision_record_id, "decision_record_id"),
        "status": status,
        "outcome": outcome,
        # Rounded to microseconds: keeps the canonical bytes short and stable.
        "latency_ms": round(float(latency_ms), 3),
        "usage": _usage(usage),
        "backend": _opt_ident(backend, "backend"),
    }
    if principal is not None:
        record["principal"] = _principal(principal)
    if attempts is not None:
        record["attempts"] = [_attempt(a) for a in _bounded(attempts, "attempts")]
    return record


def _attempt(value: object) -> dict[str, Any]:
    """One upstream attempt: where it went and how it ended; no URL, nothing from the request."""
    if not isinstance(value, dict):
        raise AuditWriteError("audit record rejected: attempts[] must be objects")
    replica, status, wait = value.get("replica"), value.get("status"), value.get("wait_s", 0.0)
    if replica is not None:
        _count(replica, "attempts[].replica")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
    ):
        raise AuditWriteError("audit record rejected: attempts[].status must be an HTTP status code")
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not math.isfinite(wait) or wait < 0:
        raise AuditWriteError("audit record rejected: attempts[].wait_s must be a finite number >= 0")
    return {
        "backend": _ident(value.get("backend"), "attempts[].backend"),
        "replica": replica,
        "status": status,
        "error": _opt_ident(value.get("error"), "attempts[].error"),
        "wait_s": round(float(wait), 3),
    }


def prompt_hmac(key: bytes, segments_text: list[str]) -> str:
    """HMAC-SHA256 (hex) of the normalised prompt, for proving later what was asked without storing it.

    Normalisation: each segment's text in Unicode NFC (canonically equivalent spellings, e.g. a
    precomposed and a decomposed "é", give the same digest; NFKC is not used because it would
    conflate visibly different text). Framing: each segment is UTF-8 encoded and prefixed with its
    byte length as 8-byte big-endian, in the order given (the extraction order). Deviation from "join
    with a separator": a separator character can occur inside a text, so ["a|b"] and ["a", "b"]
    would collide; length prefixes cannot. Lone surrogates are encoded with ``surrogatepass``.
    """
    if len(key) < 16:
        raise ConfigError("audit HMAC key must be at least 16 bytes")
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for text in segments_text:
        data = unicodedata.normalize("NFC", text).encode("utf-8", "surrogatepass")
        mac.update(struct.pack(">Q", len(data)))
        mac.update(data)
    return mac.hexdigest()


def load_hmac_key(settings: AuditSettings) -> bytes:
    """The HMAC key from the environment variable named by ``audit.hmac_key_env`` (UTF-8, at least
    32 characters), else a random per-process key (digests then only correlate within one process)."""
    value = os.environ.get(settings.hmac_key_env)
    if value is None or value == "":
        return secrets.token_bytes(32)
    if len(value) < 32:
        raise ConfigError(
            f"environment variable {settings.hmac_key_env} must hold at least 32 characters "
            "(e.g. the output of: python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return value.encode("utf-8")


def sanitise_path(path: str) -> str:
    """A field path with every name that is not a plain identifier replaced by ``*``.

    ``messages[1].tool_calls[0].function.arguments.$.city`` is kept as is; a JSON key such as
    ``123-45-6789`` or ``jane doe`` (client-chosen) becomes ``*``. The result only ever holds
    identifier names, ``[n]`` indices, ``.`` and ``*``."""
    if not isinstance(path, str):
        raise AuditWriteError("audit record rejected: field path must be a string")
    parts: list[str] = []
    for m in _PATH_TOKEN.finditer(path[:1024]):
        index, name = m.group(1), m.group(2)
        if index is not None:
            parts.append(f"[{int(index)}]")
        elif name is not None:
            if parts:
                parts.append(".")
            parts.append(name if _PATH_NAME.fullmatch(name) else "*")
        elif m.group(0) != ".":
            parts.append("[*]")
    return "".join(parts) or "*"


# -- field checks ---------------------------------------------------------------------------------


def _ident(value: object, field: str) -> str:
    if not isinstance(value, str) or not _IDENT.fullmatch(value):
        raise AuditWriteError(f"audit record rejected: {field} is not an identifier")
    return value


def _opt_ident(value: object, field: str) -> str | None:
    return None if value is None else _ident(value, field)


def _entity(value: object) -> str:
    if not isinstance(value, str) or not _ENTITY.fullmatch(value):
        raise AuditWriteError("audit record rejected: entity type or category is not an UPPER_CASE name")
    return value


def _hex(value: object, field: str) -> str:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise AuditWriteError(f"audit record rejected: {field} is not lowercase hex")
    return value


def _hmac_hex(value: object) -> str:
    if not isinstance(value, str) or not _HMAC_HEX.fullmatch(value):
        raise AuditWriteError("audit record rejected: prompt_hmac is not 64 lowercase hex digits")
    return value


def _count(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AuditWriteError(f"audit record rejected: {field} must be an integer >= 0")
    return value


def _score(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise AuditWriteError("audit record rejected: max_score must be a number in [0, 1]")
    return round(float(value), 4)


def _client_token(value: str | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) and _SAFE_TOKEN.fullmatch(value) else REDACTED


def _reason(value: object) -> str:
    # Policy-authored text: printable, single line, bounded.
    if not isinstance(value, str) or len(value) > _MAX_REASON or not value.isprintable() or "@" in value:
        raise AuditWriteError("audit record rejected: reason must be printable text up to 256 characters")
    return value


def _bounded(values: Any, field: str) -> list[Any]:
    if not isinstance(values, list | tuple) or len(values) > _MAX_LIST:
        raise AuditWriteError(f"audit record rejected: {field} must be a list of at most {_MAX_LIST}")
    return list(values)


def _principal(p: Principal) -> dict[str, str]:
    return {
        "service": _ident(p.service, "principal.service"),
        "tenant": _ident(p.tenant, "principal.tenant"),
        "jurisdiction": _ident(p.jurisdiction, "principal.jurisdiction"),
        "key_id": _ident(p.key_id, "principal.key_id"),
    }


def _entity_summary(e: object) -> dict[str, Any]:
    if not isinstance(e, dict) or set(e) != {"type", "count", "max_score", "fields"}:
        raise AuditWriteError(
            "audit record rejected: each entity summary has exactly type, count, max_score, fields"
        )
    return {
        "type": _entity(e["type"]),
        "count": _count(e["count"], "entities.count"),
        "max_score": _score(e["max_score"]),
        "fields": [sanitise_path(f) for f in _bounded(e["fields"], "entities.fields")],
    }


def _usage(usage: dict[str, Any] | None) -> dict[str, int] | None:
    if usage is None:
        return None
    if not isinstance(usage, dict):
        raise AuditWriteError("audit record rejected: usage must be a mapping")
    # Only the OpenAI token counters; nested details objects are dropped.
    keep = ("prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens")
    return {k: _count(usage[k], f"usage.{k}") for k in keep if usage.get(k) is not None}


def _policy_input(value: Any, depth: int = 0, key: str = "") -> Any:
    """A copy where every string is identifier-shaped (else ``REDACTED``), every path sanitised."""
    if depth > 8:
        raise AuditWriteError("audit record rejected: policy_input nested too deeply")
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or not _PATH_NAME.fullmatch(k):
                raise AuditWriteError("audit record rejected: policy_input keys must be identifiers")
            out[k] = _policy_input(v, depth + 1, k)
        return out
    if isinstance(value, list | tuple):
        return [_policy_input(v, depth + 1, key) for v in _bounded(value, "policy_input")]
    if isinstance(value, str):
        # "fields" lists hold payload paths, whose names may be client-chosen JSON keys.
        return sanitise_path(value) if key == "fields" else _client_token(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise AuditWriteError("audit record rejected: policy_input holds a non-JSON value")


# -- audit_query: reads of the audit log are themselves audited (issue 6) -------------------------

# Who read the log through which surface: the compliance API, the dashboard, the CLI.
QUERY_SURFACES: tuple[str, ...] = ("api", "ui", "cli")
# Filter values are typed by the officer (a tenant name, an entity type, a revision, a time): kept
# when identifier-shaped or an RFC 3339 UTC time as base.format_ts writes it, else REDACTED, so a
# value pasted into a filter box never reaches the chain.
_FILTER_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def audit_query_record(
    *,
    request_id: str,
    principal: Principal,
    surface: str,
    operation: str,
    filters: dict[str, Any],
    rows: int,
    record_id: str | None = None,
) -> dict[str, Any]:
    """One read of the audit log: who (principal), where (``surface``), what (``operation``, e.g.
    ``records``, ``record``, ``stats``, ``verify``, ``export.csv``, ``ui.overview``), which filter,
    and how many records were returned. ``record_id`` names the record a detail view showed.
    Never any record content."""
    if surface not in QUERY_SURFACES:
        raise AuditWriteError(f"audit record rejected: surface must be one of {list(QUERY_SURFACES)}")
    if not isinstance(filters, dict) or len(filters) > 32:
        raise AuditWriteError("audit record rejected: filters must be a mapping of at most 32 entries")
    clean: dict[str, Any] = {}
    for key, value in sorted(filters.items()):
        if not isinstance(key, str) or not _PATH_NAME.fullmatch(key):
            raise AuditWriteError("audit record rejected: filter names must be identifiers")
        clean[key] = _filter_value(value)
    record: dict[str, Any] = {
        "record_type": "audit_query",
        "request_id": _ident(request_id, "request_id"),
        "principal": _principal(principal),
        "surface": surface,
        "operation": _ident(operation, "operation"),
        "filters": clean,
        "rows": _count(rows, "rows"),
    }
    if record_id is not None:
        record["record_id_read"] = _ident(record_id, "record_id_read")
    return record


def _filter_value(value: object) -> object:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return value if _FILTER_TS.fullmatch(value) else _client_token(value)
    raise AuditWriteError("audit record rejected: filter values must be strings, integers or booleans")
