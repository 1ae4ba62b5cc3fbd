"""A canary SSN planted in every text-bearing position is detected and keeps the request on-prem.

The EU tenant's data may not go to the (US) external backend, so any detected personal data
routes on-prem; the clean control row proves the same request without the canary goes out.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.integration.conftest import EU_KEY, Stack

CANARY = "536-90-4399"
TEXT = f"my social security number is {CANARY}"


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


CHAT_CASES: list[tuple[str, dict[str, Any]]] = [
    ("system", {"messages": [{"role": "system", "content": TEXT}, user("hello")]}),
    ("user-string", {"messages": [user(TEXT)]}),
    ("user-part-0", {"messages": [user([{"type": "text", "text": TEXT}])]}),
    ("user-part-1", {"messages": [user([{"type": "text", "text": "hi"}, {"type": "text", "text": TEXT}])]}),
    ("assistant-history", {"messages": [user("hi"), {"role": "assistant", "content": TEXT}, user("ok")]}),
    (
        "tool-call-arguments",
        {
            "messages": [
                user("hi"),
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": json.dumps({"person": {"ssn": CANARY}})},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
            ]
        },
    ),
    (
        "tool-message",
        {
            "messages": [
                user("hi"),
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": TEXT},
            ]
        },
    ),
    (
        "tool-message-parts",
        {
            "messages": [
                user("hi"),
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": TEXT}]},
            ]
        },
    ),
    (
        "tools-schema-description",
        {
            "messages": [user("hi")],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "description": "helper",
                        "parameters": {
                            "type": "object",
                            "properties": {"x": {"type": "string", "description": TEXT}},
                        },
                    },
                }
            ],
        },
    ),
    (
        "tools-description",
        {
            "messages": [user("hi")],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "description": TEXT,
                        "parameters": {"type": "object", "properties": {}},
                    },
                }
            ],
        },
    ),
    ("message-name", {"messages": [{"role": "user", "name": f"ssn {CANARY}", "content": "hi"}]}),
    ("user-field", {"messages": [user("hi")], "user": TEXT}),
    ("unknown-extra-field", {"messages": [user("hi")], "vendor_notes": TEXT}),
    ("unknown-nested-extra", {"messages": [user("hi")], "chat_template_kwargs": {"note": TEXT}}),
]


def post(stack: Stack, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{stack.url}/v1/{path}",
        json={"model": "gpt-4o", **body},
        headers={"authorization": f"Bearer {EU_KEY}"},
        timeout=60,
    )


@pytest.mark.parametrize(("case", "body"), CHAT_CASES, ids=[c for c, _ in CHAT_CASES])
def test_chat_canary_routes_onprem(stack: Stack, case: str, body: dict[str, Any]) -> None:
    before = len(stack.external_bodies())
    r = post(stack, "chat/completions", body)
    assert r.status_code == 200, r.text
    assert r.headers["x-privacy-route"] == "onprem"
    assert len(stack.external_bodies()) == before
    assert CANARY not in stack.external_text()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("completions", {"prompt": ["hello", TEXT]}, id="completions-prompt-list"),
        pytest.param("completions", {"prompt": TEXT}, id="completions-prompt"),
        pytest.param("embeddings", {"input": ["hello", TEXT]}, id="embeddings-input-list"),
        pytest.param("embeddings", {"input": TEXT}, id="embeddings-input"),
    ],
)
def test_other_endpoints_canary_routes_onprem(stack: Stack, path: str, body: dict[str, Any]) -> None:
    r = post(stack, path, body)
    assert r.status_code == 200, r.text
    assert r.headers["x-privacy-route"] == "onprem"
    assert CANARY not in stack.external_text()


def test_clean_control_goes_external(stack: Stack) -> None:
    """The same shapes without the canary go out: the rows above are not on-prem by accident."""
    r = post(stack, "chat/completions", {"messages": [user("hello")], "vendor_notes": "nothing here"})
    assert r.headers["x-privacy-route"] == "external"
    r = post(stack, "embeddings", {"input": ["hello", "world"]})
    assert r.headers["x-privacy-route"] == "external"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(
            "chat/completions",
            {
                "messages": [
                    user(
                        [
                            {"type": "text", "text": "what is this?"},
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                        ]
                    )
                ]
            },
            id="image",
        ),
        pytest.param("completions", {"prompt": [1, 2, 3]}, id="token-ids"),
        pytest.param("embeddings", {"input": [[1, 2], [3, 4]]}, id="token-id-lists"),
    ],
)
def test_unscannable_parts_never_go_external(stack: Stack, path: str, body: dict[str, Any]) -> None:
    before = len(stack.external_bodies())
    r = post(stack, path, body)
    assert r.headers["x-privacy-route"] in ("onprem", "blocked")
    assert len(stack.external_bodies()) == before
