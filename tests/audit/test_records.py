"""Record builders: exact shapes, and request text kept out structurally."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from privacy_router.audit import canonical, completion_record, decision_record, prompt_hmac
from privacy_router.audit.records import REDACTED, load_hmac_key, sanitise_path
from privacy_router.config import AuditSettings
from privacy_router.errors import AuditWriteError, ConfigError
from privacy_router.types import Decision, PolicyInfo, Principal

SSN, EMAIL, NAME = "123-45-6789", "jane.doe@example.com", "Jane Q Public"
CANARIES = (SSN, EMAIL, NAME)
PRINCIPAL = Principal("claims-bot", "acme-health", "US", key_id="k-1")
POLICY = PolicyInfo(revision="rev-7", files_hash="0123456789abcdef" * 4, engine="embedded")
DECISION = Decision(
    action="external_scrubbed",
    backend="openai",
    scrub_entities=("US_SSN",),
    reasons=("PII present; scrubbed",),
)
HMAC_HEX = "ab" * 32


def _kwargs(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "request_id": "req-1",
        "principal": PRINCIPAL,
        "endpoint": "chat.completions",
        "model": "gpt-4o",
        "decision": DECISION,
        "backend_region": "us",
        "policy": POLICY,
        "pack_versions": {"core": "1.2.0", "health": "0.3.1"},
        "entities": [
            {"type": "US_SSN", "count": 2, "max_score": 0.85, "fields": ["messages[2].content"]},
        ],
        "categories": ["PII"],
        "unscannable_parts": 1,
        "prompt_hmac": HMAC_HEX,
        "policy_input": {
            "request": {"endpoint": "chat.completions", "stream": True, "declared_classification": None},
            "detection": {
                "status": "ok",
                "entities": [
                    {"type": "US_SSN", "count": 2, "max_score": 0.85, "fields": ["messages[2].content"]}
                ],
            },
        },
    }
    base.update(over)
    return base


def test_decision_record_has_the_exact_documented_shape() -> None:
    assert decision_record(**_kwargs()) == {
        "record_type": "decision",
        "request_id": "req-1",
        "principal": {
            "service": "claims-bot",
            "tenant": "acme-health",
            "jurisdiction": "US",
            "key_id": "k-1",
        },
        "endpoint": "chat.completions",
        "model": "gpt-4o",
        "action": "external_scrubbed",
        "backend": "openai",
        "backend_region": "us",
        "reasons": ["PII present; scrubbed"],
        "scrub_entities": ["US_SSN"],
        "policy": {
            "id": "privacy_router.decision",
            "revision": "rev-7",
            "files_hash": "0123456789abcdef" * 4,
            "engine": "embedded",
        },
        "detector": {"packs": {"core": "1.2.0", "health": "0.3.1"}},
        "entities": [{"type": "US_SSN", "count": 2, "max_score": 0.85, "fields": ["messages[2].content"]}],
        "categories": ["PII"],
        "unscannable_parts": 1,
        "prompt_hmac": HMAC_HEX,
        "policy_input": {
            "request": {"endpoint": "chat.completions", "stream": True, "declared_classification": None},
            "detection": {
                "status": "ok",
                "entities": [
                    {"type": "US_SSN", "count": 2, "max_score": 0.85, "fields": ["messages[2].content"]}
                ],
            },
        },
    }


def test_completion_record_has_the_exact_documented_shape() -> None:
    record = completion_record(
        request_id="req-1",
        decision_record_id="0190a8c4-0000-7000-8000-000000000001",
        status=200,
        outcome="truncated",
        latency_ms=1234.56789,
        usage={
            "prompt_tokens": 7,
            "completion_tokens": 3,
            "total_tokens": 10,
            "prompt_tokens_details": {"x": 1},
        },
        backend="vllm-a",
        principal=PRINCIPAL,
    )
    assert record == {
        "record_type": "completion",
        "request_id": "req-1",
        "decision_record_id": "0190a8c4-0000-7000-8000-000000000001",
        "status": 200,
        "outcome": "truncated",
        "latency_ms": 1234.568,
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        "backend": "vllm-a",
        "principal": {
            "service": "claims-bot",
            "tenant": "acme-health",
            "jurisdiction": "US",
            "key_id": "k-1",
        },
    }


# Where a canary may appear as input: client-influenced places are sanitised (the canary never
# reaches the bytes), router-made identifiers are refused (a canary there is a router bug).
SANITISED = (
    [
        pytest.param({"model": canary}, ("model",), REDACTED, id=f"model-{i}")
        for i, canary in enumerate(CANARIES)
    ]
    + [
        pytest.param(
            {
                "entities": [
                    {
                        "type": "PERSON",
                        "count": 1,
                        "max_score": 0.5,
                        "fields": [f"tools[0].function.arguments.$.{canary}"],
                    }
                ]
            },
            ("entities", 0, "fields", 0),
            expected,
            id=f"field-path-key-{i}",
        )
        for i, (canary, expected) in enumerate(
            [
                (SSN, "tools[0].function.arguments.$.*"),
                # '.' splits a key: identifier-shaped pieces stay, the rest becomes '*'.
                (EMAIL, "tools[0].function.arguments.$.jane.*.com"),
                (NAME, "tools[0].function.arguments.$.*"),
            ]
        )
    ]
    + [
        pytest.param(
            {"policy_input": {"request": {"declared_classification": canary}}},
            ("policy_input", "request", "declared_classification"),
            REDACTED,
            id=f"policy-input-string-{i}",
        )
        for i, canary in enumerate(CANARIES)
    ]
    + [
        pytest.param(
            {"policy_input": {"detection": {"entities": [{"fields": [f'messages[0]["{EMAIL}"]']}]}}},
            ("policy_input", "detection", "entities", 0, "fields", 0),
            "messages[0][*]",
            id="policy-input-field-path",
        ),
    ]
)


@pytest.mark.parametrize(("override", "where", "expected"), SANITISED)
def test_client_influenced_strings_are_sanitised(
    override: dict[str, Any], where: tuple[Any, ...], expected: str
) -> None:
    record = decision_record(**_kwargs(**override))
    value: Any = record
    for key in where:
        value = value[key]
    assert value == expected
    canon = canonical(record)
    for canary in CANARIES:
        assert canary.encode() not in canon


REFUSED = [
    pytest.param({"request_id": EMAIL}, "request_id is not an identifier", id="request-id"),
    pytest.param({"request_id": NAME}, "request_id is not an identifier", id="request-id-spaces"),
    pytest.param(
        {"principal": Principal("svc", EMAIL, "US")}, "principal.tenant is not an identifier", id="tenant"
    ),
    pytest.param({"endpoint": NAME}, "endpoint is not an identifier", id="endpoint"),
    pytest.param({"backend_region": EMAIL}, "backend_region is not an identifier", id="region"),
    pytest.param({"decision": Decision("onprem", EMAIL)}, "backend is not an identifier", id="backend"),
    pytest.param(
        {"decision": Decision("onprem", None, reasons=(f"user {EMAIL}",))},
        "reason must be printable",
        id="reason-email",
    ),
    pytest.param(
        {"decision": Decision("onprem", None, reasons=("a\nb",))},
        "reason must be printable",
        id="reason-multiline",
    ),
    pytest.param(
        {"decision": Decision("onprem", None, scrub_entities=(SSN,))}, "UPPER_CASE name", id="scrub-entity"
    ),
    pytest.param({"decision": Decision("yolo", None)}, "action must be one of", id="action"),  # type: ignore[arg-type]
    pytest.param({"categories": [NAME]}, "UPPER_CASE name", id="category"),
    pytest.param(
        {"entities": [{"type": SSN, "count": 1, "max_score": 0.5, "fields": []}]},
        "UPPER_CASE name",
        id="entity-type",
    ),
    pytest.param(
        {"entities": [{"type": "US_SSN", "count": 1, "max_score": 0.5, "fields": [], "value": SSN}]},
        "exactly type, count, max_score, fields",
        id="entity-extra-key",
    ),
    pytest.param(
        {"entities": [{"type": "US_SSN", "count": True, "max_score": 0.5, "fields": []}]},
        "entities.count",
        id="count-bool",
    ),
    pytest.param(
        {"entities": [{"type": "US_SSN", "count": 1, "max_score": 1.5, "fields": []}]},
        "max_score",
        id="score-range",
    ),
    pytest.param({"pack_versions": {"core": NAME}}, "detector.packs is not an identifier", id="pack-version"),
    pytest.param({"prompt_hmac": SSN}, "prompt_hmac is not 64 lowercase hex", id="prompt-hmac"),
    pytest.param(
        {"policy": PolicyInfo(NAME, "ab" * 32, "embedded")}, "policy.revision", id="policy-revision"
    ),
    pytest.param({"policy_input": {SSN: 1}}, "policy_input keys must be identifiers", id="policy-input-key"),
    pytest.param({"policy_input": {"x": float("nan")}}, "non-JSON value", id="policy-input-nan"),
    pytest.param({"unscannable_parts": -1}, "unscannable_parts must be an integer", id="unscannable"),
]


@pytest.mark.parametrize(("override", "message"), REFUSED)
def test_router_identifiers_holding_free_text_are_refused(override: dict[str, Any], message: str) -> None:
    with pytest.raises(AuditWriteError, match=message) as info:
        decision_record(**_kwargs(**override))
    for canary in CANARIES:
        assert canary not in str(info.value)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("messages[2].content", "messages[2].content"),
        (
            "messages[1].tool_calls[0].function.arguments.$.city",
            "messages[1].tool_calls[0].function.arguments.$.city",
        ),
        (
            "tools[0].function.parameters.properties.patient-ssn.description",
            "tools[0].function.parameters.properties.*.description",
        ),
        ("messages[0].content[1].text", "messages[0].content[1].text"),
        ("a.jane doe.b", "a.*.b"),
        ("a.9lives", "a.*"),
        ("x[abc]", "x[*]"),
        ("", "*"),
    ],
    ids=[
        "simple",
        "tool-args",
        "hyphen-key",
        "parts",
        "space-key",
        "digit-start",
        "non-index-bracket",
        "empty",
    ],
)
def test_sanitise_path_keeps_identifiers_and_indices_only(path: str, expected: str) -> None:
    assert sanitise_path(path) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"outcome": "fine"}, "outcome must be one of"),
        ({"status": 42}, "HTTP status code"),
        ({"latency_ms": float("inf")}, "latency_ms"),
        ({"request_id": NAME}, "request_id is not an identifier"),
        ({"usage": {"total_tokens": "many"}}, "usage.total_tokens"),
    ],
    ids=["outcome", "status", "latency", "request-id", "usage"],
)
def test_completion_record_refuses_bad_values(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "request_id": "req-1",
        "decision_record_id": "d-1",
        "status": 200,
        "outcome": "ok",
        "latency_ms": 1.0,
        "usage": None,
        "backend": None,
    }
    with pytest.raises(AuditWriteError, match=message):
        completion_record(**{**base, **kwargs})


def test_prompt_hmac_matches_an_independent_length_prefixed_hmac() -> None:
    key = b"k" * 32
    framed = len(b"hello").to_bytes(8, "big") + b"hello" + len("é".encode()).to_bytes(8, "big") + "é".encode()
    expected = hmac.new(key, framed, hashlib.sha256).hexdigest()
    assert prompt_hmac(key, ["hello", "é"]) == expected
    # NFC: a decomposed e + combining acute digests like the precomposed character.
    assert prompt_hmac(key, ["hello", "e\u0301"]) == expected


def test_prompt_hmac_framing_cannot_be_confused_by_splitting_or_key() -> None:
    key = b"k" * 32
    assert prompt_hmac(key, ["ab"]) != prompt_hmac(key, ["a", "b"])
    assert prompt_hmac(key, ["a", "b"]) != prompt_hmac(b"j" * 32, ["a", "b"])
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        prompt_hmac(b"short", ["a"])


def test_hmac_key_comes_from_the_configured_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = AuditSettings(hmac_key_env="TEST_AUDIT_KEY")
    monkeypatch.setenv("TEST_AUDIT_KEY", "x" * 40)
    assert load_hmac_key(settings) == b"x" * 40
    monkeypatch.setenv("TEST_AUDIT_KEY", "tooshort")
    with pytest.raises(ConfigError, match="TEST_AUDIT_KEY must hold at least 32 characters"):
        load_hmac_key(settings)
    monkeypatch.delenv("TEST_AUDIT_KEY")
    first, second = load_hmac_key(settings), load_hmac_key(settings)
    assert (len(first), first != second) == (32, True)
