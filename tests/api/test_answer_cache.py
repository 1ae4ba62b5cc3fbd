"""A delivered chat answer is analysed after the response, under the client's tenant only."""

from __future__ import annotations

import time
from typing import Any

import openai

from privacy_router.api.answers import answer_texts
from privacy_router.detection.cache import cache_key
from tests.api.conftest import CLEAN, Running, sdk
from tests.integration.conftest import US_KEY

# A conversation whose answer is a text no request carried: the simulator answers a tool result
# with "Tool said: <content>". Shared with tests/api/test_stream_usage.py (the streamed answer).
TOOL_TURN: list[Any] = [
    {"role": "user", "content": CLEAN},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "count", "arguments": "{}"}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "Forty two apples."},
]
TOOL_ANSWER = "Tool said: Forty two apples."


def _cached(running: Running, tenant: str, text: str) -> bool:
    cache = running.gw.cache
    assert cache is not None
    return cache_key(tenant, running.gw.fingerprint, text) in cache._data


def assert_cached_for_acme_only(running: Running, text: str) -> None:
    """The answer's analysis reaches the cache under the client's tenant ("acme") within 30 s (it
    runs after the response), and is not there under another tenant."""
    deadline = time.monotonic() + 30
    while not _cached(running, "acme", text) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (_cached(running, "acme", text), _cached(running, "other-tenant", text)) == (True, False)


def test_delivered_answer_is_cached_under_the_clients_tenant_only(gateway: Running) -> None:
    client = sdk(openai.OpenAI, base_url=gateway.v1, api_key=US_KEY)
    answer = client.chat.completions.create(model="gpt-4o", messages=TOOL_TURN)
    text = answer.choices[0].message.content
    assert text == TOOL_ANSWER
    assert_cached_for_acme_only(gateway, text)


def test_answer_texts_reads_each_choice_of_a_chat_completion() -> None:
    body = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Red, green, blue."}},
            {"index": 1, "message": {"role": "assistant", "content": None, "tool_calls": []}},
            {"index": 2, "message": {"role": "assistant", "content": "Red, green, blue."}},
        ]
    }
    assert answer_texts("chat.completions", body) == ["Red, green, blue."]
    assert answer_texts("completions", {"choices": [{"text": "x"}]}) == []
    assert answer_texts("chat.completions", {"choices": "not a list"}) == []
