"""EmbeddedPolicyEngine: exact decisions of the default policy, identity, fail-closed loading."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest

from privacy_router.config import PolicySettings
from privacy_router.errors import ConfigError, PolicyUnavailable
from privacy_router.policy import EmbeddedPolicyEngine, PolicyEngine
from privacy_router.resources import resource_dir
from privacy_router.types import Decision, PolicyInfo

from .conftest import make_input, write_policy

PHI = {
    "categories": ["PHI"],
    "entities": [{"type": "US_SSN", "count": 1, "max_score": 0.95, "fields": ["messages[2].content"]}],
}
PII = {
    "categories": ["PII"],
    "entities": [
        {"type": "PERSON", "count": 1, "max_score": 0.85, "fields": ["messages[0].content"]},
        {"type": "EMAIL_ADDRESS", "count": 1, "max_score": 1.0, "fields": ["messages[0].content"]},
    ],
}
ONPREM_DOWN = {"onprem": [{"name": "vllm-a", "region": "us-east", "healthy": False, "models": []}]}
SENSITIVE_ONPREM = ("sensitive data: routed to a healthy on-prem backend",)

CASES: list[tuple[str, dict[str, Any], Decision]] = [
    (
        "clean-goes-external",
        make_input(),
        Decision("external", "openai", (), ("no sensitive or personal data detected: routed external",)),
    ),
    (
        "phi-goes-onprem",
        make_input(detection=PHI),
        Decision("onprem", "vllm-a", (), ("PHI present: sensitive class stays on-prem", *SENSITIVE_ONPREM)),
    ),
    (
        "pci-goes-onprem",
        make_input(detection={"categories": ["PCI", "PII"], "entities": [{"type": "CREDIT_CARD"}]}),
        Decision("onprem", "vllm-a", (), ("PCI present: sensitive class stays on-prem", *SENSITIVE_ONPREM)),
    ),
    (
        "pii-us-scrubbed-to-us",
        make_input(detection=PII),
        Decision(
            "external_scrubbed",
            "openai",
            ("EMAIL_ADDRESS", "PERSON"),
            (
                "PII present: may leave only scrubbed, to a permitted region",
                "personal data scrubbed for external backends in EU, US, export destinations permitted for "
                "tenant jurisdiction US",
            ),
        ),
    ),
    (
        "pii-de-scrubbed-to-eu",
        make_input(detection=PII, principal={"jurisdiction": "DE"}),
        Decision(
            "external_scrubbed",
            "mistral",
            ("EMAIL_ADDRESS", "PERSON"),
            (
                "PII present: may leave only scrubbed, to a permitted region",
                "personal data scrubbed for external backends in EU, export destinations permitted for "
                "tenant jurisdiction DE",
            ),
        ),
    ),
    (
        "detector-timeout-goes-onprem",
        make_input(detection={"status": "timeout"}),
        Decision(
            "onprem",
            "vllm-a",
            (),
            ('detector status "timeout": content handled as sensitive', *SENSITIVE_ONPREM),
        ),
    ),
    (
        "unscannable-image-goes-onprem",
        make_input(request={"unscannable_parts": 1}),
        Decision(
            "onprem",
            "vllm-a",
            (),
            (
                "1 unscannable part(s) (image, audio, file or token ids): content handled as sensitive",
                *SENSITIVE_ONPREM,
            ),
        ),
    ),
    (
        "public-hint-cannot-release-phi",
        make_input(detection=PHI, request={"declared_classification": "public"}),
        Decision("onprem", "vllm-a", (), ("PHI present: sensitive class stays on-prem", *SENSITIVE_ONPREM)),
    ),
    (
        "credentials-hint-keeps-clean-text-onprem",
        make_input(request={"declared_classification": "credentials"}),
        Decision(
            "onprem",
            "vllm-a",
            (),
            ('client declared classification "credentials": handled as sensitive', *SENSITIVE_ONPREM),
        ),
    ),
    (
        "onprem-model-stays-onprem",
        make_input(request={"model": "llama-3.1-8b"}),
        Decision("onprem", "vllm-a", (), ("requested model is served on-prem: routed on-prem",)),
    ),
    (
        "phi-without-onprem-blocks",
        make_input(detection=PHI, backends=ONPREM_DOWN | {"external": make_input()["backends"]["external"]}),
        Decision(
            "block",
            None,
            (),
            (
                "PHI present: sensitive class stays on-prem",
                "sensitive data and no healthy on-prem backend: blocked",
            ),
        ),
    ),
]


@pytest.mark.parametrize(("policy_input", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_default_policy_decisions(
    engine: EmbeddedPolicyEngine, policy_input: dict[str, Any], expected: Decision
) -> None:
    assert engine.evaluate(policy_input) == expected


def test_engine_satisfies_protocol(engine: EmbeddedPolicyEngine) -> None:
    assert isinstance(engine, PolicyEngine)


def test_policy_info_has_manifest_revision_and_files_hash(engine: EmbeddedPolicyEngine) -> None:
    root = resource_dir("policies")
    digest = hashlib.sha256()
    loaded = [p for p in root.rglob("*.rego") if not p.name.endswith("_test.rego")]
    loaded += list((root / "data").glob("*.json"))
    for p in sorted(loaded, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    assert engine.info == PolicyInfo(revision="2025.1.0", files_hash=digest.hexdigest(), engine="embedded")


def test_unversioned_policy_and_data_mounted_by_file_stem(tmp_path: Path) -> None:
    root = write_policy(
        tmp_path,
        'package privacy_router\n\nimport rego.v1\n\ndecision := {"action": "onprem", '
        '"backend": data.pick.name, "reasons": ["r"]}\n',
        {"pick.json": '{"name": "vllm-a"}'},
    )
    e = EmbeddedPolicyEngine(root)
    assert e.info.revision == "unversioned"
    assert e.evaluate(make_input()) == Decision("onprem", "vllm-a", (), ("r",))


def test_from_settings_uses_dir_and_query(tmp_path: Path) -> None:
    root = write_policy(
        tmp_path, 'package custom\n\nimport rego.v1\n\nd := {"action": "block", "backend": null}\n'
    )
    e = EmbeddedPolicyEngine.from_settings(PolicySettings(dir=root, query="data.custom.d"))
    assert e.evaluate(make_input()) == Decision("block", None)


def test_evaluate_is_thread_safe(engine: EmbeddedPolicyEngine) -> None:
    inputs = [make_input(detection=PHI), make_input(detection=PII), make_input()]
    expected = [engine.evaluate(i).action for i in inputs]
    got: list[list[str]] = []

    def worker() -> None:
        got.append([engine.evaluate(inputs[n % 3]).action for n in range(60)])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [[expected[n % 3] for n in range(60)]] * 4


# --- fail closed ---------------------------------------------------------------------------------

FAIL_CLOSED = [
    ("undefined", 'decision := {"action": "onprem", "backend": "vllm-a"} if input.nothing', "undefined"),
    ("unknown-action", 'decision := {"action": "send_anywhere", "backend": "openai"}', "unknown action"),
    ("unknown-backend", 'decision := {"action": "onprem", "backend": "gpu-99"}', "not a configured onprem"),
    (
        "external-for-onprem",
        'decision := {"action": "onprem", "backend": "openai"}',
        "not a configured onprem",
    ),
    ("phi-external", 'decision := {"action": "external", "backend": "openai"}', "would send PHI"),
    ("not-an-object", 'decision := ["onprem"]', "must be an object"),
    (
        "conflict",
        'decision := {"action": "block"} if true\ndecision := {"action": "onprem"} if true',
        "error",
    ),
]


@pytest.mark.parametrize(("rule", "message"), [c[1:] for c in FAIL_CLOSED], ids=[c[0] for c in FAIL_CLOSED])
def test_bad_policy_output_is_policy_unavailable(tmp_path: Path, rule: str, message: str) -> None:
    root = write_policy(tmp_path, f"package privacy_router\n\nimport rego.v1\n\n{rule}\n")
    e = EmbeddedPolicyEngine(root)
    with pytest.raises(PolicyUnavailable) as info:
        e.evaluate(make_input(detection=PHI))
    assert message in info.value.message
    assert "US_SSN" not in info.value.message


def test_broken_rego_syntax_fails_at_load(tmp_path: Path) -> None:
    root = write_policy(tmp_path, "package privacy_router\n\ndecision := {\n")
    with pytest.raises(ConfigError) as info:
        EmbeddedPolicyEngine(root)
    assert info.value.message.startswith(f"policy in {str(root)!r} failed to load: p.rego:")


def test_broken_data_json_fails_at_load(tmp_path: Path) -> None:
    root = write_policy(tmp_path, "package privacy_router\n", {"residency.json": "{nope"})
    with pytest.raises(ConfigError) as info:
        EmbeddedPolicyEngine(root)
    assert info.value.message == "policy data file 'data/residency.json' is not valid JSON (line 1)"


def test_folder_without_policy_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        EmbeddedPolicyEngine(tmp_path)
    assert info.value.message == f"policy.dir {str(tmp_path)!r} holds no .rego policy module"


def test_non_json_input_is_policy_unavailable(engine: EmbeddedPolicyEngine) -> None:
    with pytest.raises(PolicyUnavailable) as info:
        engine.evaluate(make_input(request={"stream": float("nan")}))
    assert info.value.message == "policy input is not JSON-serialisable"
