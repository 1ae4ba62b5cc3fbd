"""OpenAI chat <-> Anthropic Messages translation: requests, answers and streams, exact values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from privacy_router.errors import BadRequest
from privacy_router.upstream import translate as t


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _ant(obj: dict[str, Any]) -> bytes:
    return b"event: " + obj["type"].encode() + b"\ndata: " + json.dumps(obj).encode() + b"\n\n"


def _events(raw: bytes) -> list[tuple[str, Any]]:
    parser = t.SSEParser()
    return [(name, data if data == "[DONE]" else json.loads(data)) for name, data in parser.feed(raw)]


def test_messages_request_becomes_chat_with_system_tools_and_tool_results() -> None:
    body = {
        "model": "m",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "Be terse."}],
        "stop_sequences": ["END"],
        "chat_template_kwargs": {"enable_thinking": False},
        "metadata": {"user_id": "u1"},
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"c": "P"}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}],
            },
        ],
        "tools": [{"name": "w", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any"},
    }
    assert t.chat_request_from_messages(body) == {
        "chat_template_kwargs": {"enable_thinking": False},
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "w", "arguments": '{"c": "P"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        ],
        "max_tokens": 100,
        "stop": ["END"],
        "tools": [
            {
                "type": "function",
                "function": {"name": "w", "description": "d", "parameters": {"type": "object"}},
            }
        ],
        "tool_choice": "required",
    }


def test_chat_request_becomes_messages_with_alternating_turns() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "function": {"name": "w", "arguments": "nope"}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "18C"},
            {"role": "user", "content": "thanks"},
        ],
        "stop": "END",
        "tool_choice": {"type": "function", "function": {"name": "w"}},
    }
    assert t.messages_request_from_chat(body) == {
        "model": "m",
        "max_tokens": 4096,
        "system": "Be terse.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}}
                ],
            },
            {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "w", "input": {}}]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "c1", "content": "18C"},
                    {"type": "text", "text": "thanks"},
                ],
            },
        ],
        "stop_sequences": ["END"],
        "tool_choice": {"type": "tool", "name": "w"},
    }


def test_n_above_one_cannot_go_to_anthropic() -> None:
    with pytest.raises(BadRequest) as err:
        t.messages_request_from_chat({"model": "m", "messages": [], "n": 2})
    assert err.value.param == "n"


def test_answers_translate_both_ways() -> None:
    chat = {
        "id": "chatcmpl-abc",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {
                    "content": "hi",
                    "tool_calls": [{"id": "c1", "function": {"name": "w", "arguments": '{"a": 1}'}}],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }
    msg = t.messages_response_from_chat(chat, None)
    assert msg == {
        "id": "msg_abc",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [
            {"type": "text", "text": "hi"},
            {"type": "tool_use", "id": "c1", "name": "w", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }
    back = t.chat_response_from_messages(msg, None)
    assert back["id"] == "chatcmpl-abc"
    assert back["choices"][0]["message"] == {
        "role": "assistant",
        "content": "hi",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"a": 1}'}}],
    }
    assert back["choices"][0]["finish_reason"] == "tool_calls"
    assert back["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_chat_stream_becomes_anthropic_events() -> None:
    chunk = {"id": "chatcmpl-1", "model": "m"}
    raw = (
        _sse({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        + b": keep-alive\n\n"
        + _sse({**chunk, "choices": [{"index": 0, "delta": {"content": "Hel"}}]})
        + _sse(
            {
                **chunk,
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "content": None,
                            "tool_calls": [{"index": 0, "id": "c1", "function": {"name": "w"}}],
                        },
                    }
                ],
            }
        )
        + _sse(
            {
                **chunk,
                "choices": [
                    {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]}}
                ],
            }
        )
        + _sse({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        + _sse({**chunk, "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 5}})
        + b"data: [DONE]\n\n"
    )
    s = t.ChatToMessagesStream(None)
    events = _events(b"".join(s.feed(raw[i : i + 5]) for i in range(0, len(raw), 5)))
    assert [(n, e["type"]) for n, e in events] == [
        ("message_start", "message_start"),
        ("content_block_start", "content_block_start"),
        ("content_block_delta", "content_block_delta"),
        ("content_block_stop", "content_block_stop"),
        ("content_block_start", "content_block_start"),
        ("content_block_delta", "content_block_delta"),
        ("content_block_stop", "content_block_stop"),
        ("message_delta", "message_delta"),
        ("message_stop", "message_stop"),
    ]
    assert events[2][1] == {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "Hel"},
    }
    assert events[4][1]["content_block"] == {"type": "tool_use", "id": "c1", "name": "w", "input": {}}
    assert events[5][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"a"'}
    assert events[7][1]["delta"]["stop_reason"] == "tool_use"
    assert events[7][1]["usage"] == {"output_tokens": 5}
    assert (s.done, s.errored) == (True, False)


def test_chat_stream_error_becomes_an_anthropic_error_and_nothing_follows() -> None:
    s = t.ChatToMessagesStream("m")
    err = {"error": {"message": "Internal server error", "type": "InternalServerError", "code": 500}}
    out = s.feed(_sse(err) + b"data: [DONE]\n\n")
    assert _events(out) == [
        ("error", {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})
    ]
    assert (s.done, s.errored) == (True, True)


def test_anthropic_stream_becomes_chat_chunks_then_done() -> None:
    raw = (
        _ant({"type": "message_start", "message": {"usage": {"input_tokens": 7}}})
        + _ant({"type": "ping"})
        + _ant({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        + _ant({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}})
        + _ant({"type": "content_block_stop", "index": 0})
        + _ant(
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "w"},
            }
        )
        + _ant(
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": "{}"},
            }
        )
        + _ant({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}})
        + _ant({"type": "message_stop"})
    )
    s = t.MessagesToChatStream("m", include_usage=True)
    events = [e for _, e in _events(s.feed(raw))]
    deltas = [e["choices"][0]["delta"] if e != "[DONE]" and e["choices"] else e for e in events]
    assert deltas[:5] == [
        {"role": "assistant", "content": ""},
        {"content": "Hi"},
        {
            "content": None,
            "tool_calls": [
                {"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "w", "arguments": ""}}
            ],
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]},
        {},
    ]
    assert events[4]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[5]["choices"] == [] and events[5]["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "total_tokens": 10,
    }
    assert events[6] == "[DONE]"
    assert s.done is True


def test_anthropic_error_event_becomes_an_openai_error_without_done() -> None:
    s = t.MessagesToChatStream("m", include_usage=False)
    out = s.feed(_ant({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    assert out == _sse_compact(
        {"error": {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": None}}
    )
    assert (s.done, s.errored) == (True, True)


def _sse_compact(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


@pytest.mark.parametrize(
    ("status", "etype"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "api_error"),
    ],
    ids=["400", "401", "403", "429", "500", "502", "503", "504"],
)
def test_anthropic_error_types_by_status(status: int, etype: str) -> None:
    assert t.anthropic_error_body(status, "m") == {"type": "error", "error": {"type": etype, "message": "m"}}
