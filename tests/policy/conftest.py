"""Shared inputs for the policy tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.policy.inputs import example_input

# The example input lives in the product, where the policy benchmark (bench/micro.py) uses it too.
make_input = example_input


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
