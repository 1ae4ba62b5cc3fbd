"""One example policy input, and variants of it, for the policy tests and the policy benchmark.

The shape is the policy input the gateway builds (pipeline.py): a US client of tenant
``acme-health`` asks for a streamed chat completion, detection found nothing, one on-prem vLLM
and two external backends are healthy. ``example_input`` returns a fresh copy with some sections changed.
"""

from __future__ import annotations

import copy
from typing import Any

EXAMPLE_INPUT: dict[str, Any] = {
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


def example_input(**changes: Any) -> dict[str, Any]:
    """A deep copy of ``EXAMPLE_INPUT``; a dict value updates its section key by key, any other
    value replaces the section, e.g. ``example_input(request={"model": "x"})``."""
    out = copy.deepcopy(EXAMPLE_INPUT)
    for section, values in changes.items():
        if isinstance(values, dict):
            out[section].update(values)
        else:
            out[section] = values
    return out
