"""Shared inputs for the policy tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from privacy_router.policy.embedded import EmbeddedPolicyEngine

BASE_INPUT: dict[str, Any] = {
    "principal": {
        "service": "claims-bot",
        "tenant": "acme-health",
        "jurisdiction": "US",
        "roles": ["client"],
    },
    "request": {
        "endpoint": "chat.completions",
        "model": "gpt-4o",
        "stream": True,
        "unscannable_parts": 0,
        "declared_classification": None,
    },
    "detection": {"status": "ok", "categories": [], "entities": []},
    "backends": {
        "onprem": [{"name": "vllm-a", "region": "us-east", "healthy": True, "models": ["llama-3.1-8b"]}],
        "external": [
            {"name": "openai", "region": "us", "zero_data_retention": True, "healthy": True},
            {"name": "mistral", "region": "eu-west", "zero_data_retention": True, "healthy": True},
        ],
    },
}


def make_input(**changes: Any) -> dict[str, Any]:
    """BASE_INPUT with top-level sections updated key by key, e.g. ``request={"model": "x"}``."""
    out = copy.deepcopy(BASE_INPUT)
    for section, values in changes.items():
        if isinstance(values, dict):
            out[section].update(values)
        else:
            out[section] = values
    return out


@pytest.fixture(scope="session")
def engine() -> EmbeddedPolicyEngine:
    return EmbeddedPolicyEngine()


def write_policy(tmp_path: Path, rego: str, data: dict[str, str] | None = None) -> Path:
    """A one-module policy folder for fail-closed tests."""
    (tmp_path / "p.rego").write_text(rego, "utf-8")
    for name, text in (data or {}).items():
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "data" / name).write_text(text, "utf-8")
    return tmp_path
