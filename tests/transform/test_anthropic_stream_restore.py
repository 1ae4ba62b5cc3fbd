"""Anthropic SSE restore: placeholders split anywhere in text and tool-input deltas come back whole."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privacy_router.transform import Vault
from privacy_router.transform.stream import AnthropicSSERestorer, SSERestorer

NAME = 'Jane "JD" Doe'


def _vault() -> Vault:
    v = Vault([])
    v.placeholder_for("PERSON", NAME)
    v.placeholder_for("US_SSN", "536-90-4399")
    return v


def _ev(obj: dict[str, Any]) -> bytes:
    return (
        b"event: "
        + obj["type"].encode()
        + b"\ndata: "
        + json.dumps(obj, separators=(",", ":")).encode()
        + b"\n\n"
    )


def _delta(index: int, kind: str, field: str, text: str) -> bytes:
    return _ev({"type": "content_block_delta", "index": index, "delta": {"type": kind, field: text}})


def _stream(text_parts: list[str], json_parts: list[str]) -> bytes:
    out = _ev({"type": "message_start", "message": {"id": "msg_1", "content": []}}) + _ev({"type": "ping"})
    out += _ev({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    out += b"".join(_delta(0, "text_delta", "text", p) for p in text_parts)
    out += _ev({"type": "content_block_stop", "index": 0})
    out += _ev(
        {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "input": {}}}
    )
    out += b"".join(_delta(1, "input_json_delta", "partial_json", p) for p in json_parts)
    out += _ev({"type": "content_block_stop", "index": 1})
    out += _ev({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}})
    return out + _ev({"type": "message_stop"})


def _collect(raw: bytes) -> tuple[str, str, list[str]]:
    """(text of block 0, tool input JSON of block 1, event names in order)."""
    text, partial, names = "", "", []
    for block in raw.split(b"\n\n"):
        if not block:
            continue
        name_line, data_line = block.split(b"\n")
        names.append(name_line.decode()[7:])
        data = json.loads(data_line[6:])
        if data["type"] == "content_block_delta":
            delta = data["delta"]
            if data["index"] == 0:
                text += delta["text"]
            else:
                partial += delta["partial_json"]
    return text, partial, names


def test_split_placeholders_are_restored_per_block_and_json_escaped() -> None:
    raw = _stream(["Hi <PER", "SON_1> and <US_", "SSN_1>!"], ['{"who": "<PERSON', '_1>"}'])
    r = AnthropicSSERestorer(_vault())
    out = r.feed(raw) + r.finish()
    text, partial, names = _collect(out)
    assert text == f"Hi {NAME} and 536-90-4399!"
    assert json.loads(partial) == {"who": NAME}
    assert names[:2] == ["message_start", "ping"] and names[-2:] == ["message_delta", "message_stop"]
    assert (r.done, r.errored) == (True, False)


def test_held_fragment_is_flushed_before_the_block_stops_and_error_is_noted() -> None:
    raw = (
        _ev({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        + _delta(0, "text_delta", "text", "ends with <PERS")
        + _ev({"type": "content_block_stop", "index": 0})
        + _ev({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    )
    r = AnthropicSSERestorer(_vault())
    out = r.feed(raw) + r.finish()
    assert out == (
        _ev({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        + _delta(0, "text_delta", "text", "ends with ")
        + _delta(0, "text_delta", "text", "<PERS")
        + _ev({"type": "content_block_stop", "index": 0})
        + _ev({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    )
    assert (r.done, r.errored) == (False, True)


def test_without_a_vault_events_pass_byte_for_byte() -> None:
    raw = _stream(["<PERSON_1>"], ["{}"])
    r = AnthropicSSERestorer(None)
    assert r.feed(raw) + r.finish() == raw
    assert r.done is True


def test_openai_restorer_swallows_done_after_an_error_event_when_asked() -> None:
    body = {"error": {"message": "Internal server error", "type": "InternalServerError", "code": 500}}
    err = b"data: " + json.dumps(body).encode() + b"\n\n"
    r = SSERestorer(None, "chat.completions", drop_done_after_error=True)
    assert r.feed(err + b"data: [DONE]\n\n") == err
    assert (r.done, r.errored) == (True, True)
    plain = SSERestorer(None, "chat.completions")
    assert plain.feed(err + b"data: [DONE]\n\n") == err + b"data: [DONE]\n\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=40))
def test_any_byte_chunking_restores_like_the_whole_stream(cuts: list[int]) -> None:
    raw = _stream(["a <PE", "RSON_1", "> b <US_SSN_1> <PERSON_9> c <"], ['{"x": "<US_', 'SSN_1>", "y": 1}'])
    whole = AnthropicSSERestorer(_vault())
    expected = _collect(whole.feed(raw) + whole.finish())
    r = AnthropicSSERestorer(_vault())
    points = sorted({c % len(raw) for c in cuts})
    pieces = [raw[i:j] for i, j in zip([0, *points], [*points, len(raw)], strict=True)]
    assert _collect(b"".join(r.feed(p) for p in pieces) + r.finish()) == expected
    assert expected[0] == "a " + NAME + " b 536-90-4399 <PERSON_9> c <"
