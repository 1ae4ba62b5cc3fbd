"""Streaming restore: placeholders split anywhere in an SSE stream come back whole and valid."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privacy_router.transform import SSERestorer, Vault

SSN = "536-90-4399"


def _vault() -> Vault:
    v = Vault([])
    v.placeholder_for("PERSON", 'Jane "JD" Dœ')
    v.placeholder_for("US_SSN", SSN)
    for i in range(2, 13):  # <PERSON_2>..<PERSON_12>: <PERSON_1> is a prefix of <PERSON_12>'s text
        v.placeholder_for("PERSON", f"p{i}\\")
    return v


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": choices,
        **extra,
    }


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


def _events(stream: bytes) -> list[Any]:
    out: list[Any] = []
    for block in stream.replace(b"\r\n", b"\n").split(b"\n\n"):
        if not block:
            continue
        data = [line[6:] for line in block.split(b"\n") if line.startswith(b"data: ")]
        if not data:
            out.append(block.decode())  # comment events
        elif data[0] == b"[DONE]":
            out.append("[DONE]")
        else:
            out.append(json.loads(b"\n".join(data)))
    return out


def _run(restorer: SSERestorer, pieces: list[bytes]) -> bytes:
    return b"".join(restorer.feed(p) for p in pieces) + restorer.finish()


def test_placeholder_split_across_content_events_is_restored_once() -> None:
    v = _vault()
    stream = b"".join(
        [
            _sse(
                _chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
            ),
            _sse(_chunk([{"index": 0, "delta": {"content": "Hi <PER"}, "finish_reason": None}])),
            _sse(
                _chunk(
                    [
                        {
                            "index": 0,
                            "delta": {"content": "SON_1>, ssn <US_SSN_1> <PERSON_99>"},
                            "finish_reason": None,
                        }
                    ]
                )
            ),
            _sse(_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])),
            b"data: [DONE]\n\n",
        ]
    )
    out = _run(SSERestorer(v, "chat.completions"), [stream])
    events = _events(out)
    assert [e["choices"][0]["delta"] for e in events[:-1]] == [
        {"role": "assistant", "content": ""},
        {"content": "Hi "},
        {"content": f'Jane "JD" Dœ, ssn {SSN} <PERSON_99>'},
        {},
    ]
    assert events[-1] == "[DONE]"
    # The untouched role chunk passes through byte for byte.
    assert out.startswith(
        _sse(_chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]))
    )


def test_keep_alive_comments_and_error_events_pass_through_and_nothing_follows_done() -> None:
    v = _vault()
    err = _sse({"error": {"message": "Internal server error", "type": "InternalServerError", "code": 500}})
    stream = (
        b": keep-alive\n\n"
        + _sse(_chunk([{"index": 0, "delta": {"content": "x <PERSON_1"}, "finish_reason": None}]))
        + err
        + b"data: [DONE]\n\n"
        + _sse(_chunk([{"index": 0, "delta": {"content": "late"}, "finish_reason": None}]))
    )
    r = SSERestorer(v, "chat.completions")
    out = _run(r, [stream[i : i + 7] for i in range(0, len(stream), 7)])
    assert out == (
        b": keep-alive\n\n"
        + _sse(_chunk([{"index": 0, "delta": {"content": "x "}, "finish_reason": None}]))
        + _sse(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [
                    {"index": 0, "delta": {"content": "<PERSON_1"}, "logprobs": None, "finish_reason": None}
                ],
            }
        )
        + err
        + b"data: [DONE]\n\n"
    )
    assert r.feed(b"data: [DONE]\n\n") == b""


def test_held_text_is_flushed_before_the_usage_chunk_per_choice() -> None:
    v = _vault()
    usage = _chunk([], usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})
    stream = (
        _sse(_chunk([{"index": 1, "delta": {"content": "b <US_SS"}, "finish_reason": None}]))
        + _sse(_chunk([{"index": 0, "delta": {"content": "a <PERS"}, "finish_reason": None}]))
        + _sse(usage)
        + b"data: [DONE]\n\n"
    )
    events = _events(_run(SSERestorer(v, "chat.completions"), [stream]))
    assert [(e["choices"][0]["index"], e["choices"][0]["delta"]) for e in events[:4]] == [
        (1, {"content": "b "}),
        (0, {"content": "a "}),
        (0, {"content": "<PERS"}),
        (1, {"content": "<US_SS"}),
    ]
    assert events[4:] == [usage, "[DONE]"]


def test_finish_reason_chunk_carries_held_text_of_every_key() -> None:
    v = _vault()
    stream = _sse(
        _chunk(
            [
                {
                    "index": 0,
                    "delta": {
                        "content": "c <PERSON_1",
                        "tool_calls": [{"index": 0, "function": {"arguments": '{"a": "<US_'}}],
                    },
                    "finish_reason": None,
                }
            ]
        )
    ) + _sse(_chunk([{"index": 0, "delta": {"content": ">"}, "finish_reason": "tool_calls"}]))
    events = _events(_run(SSERestorer(v, "chat.completions"), [stream]))
    assert [e["choices"][0]["delta"] for e in events] == [
        {"content": "c ", "tool_calls": [{"index": 0, "function": {"arguments": '{"a": "'}}]},
        {"content": 'Jane "JD" Dœ', "tool_calls": [{"index": 0, "function": {"arguments": "<US_"}}]},
    ]


def test_completions_stream_and_crlf_framing() -> None:
    v = _vault()

    def ev(text: str, finish: str | None = None) -> bytes:
        obj = {
            "id": "cmpl-7",
            "object": "text_completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "text": text, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\r\n\r\n"

    stream = ev(" <US_SSN") + ev("_1> done <PER") + ev("", "length") + b"data: [DONE]\r\n\r\n"
    events = _events(
        _run(SSERestorer(v, "completions"), [stream[i : i + 3] for i in range(0, len(stream), 3)])
    )
    assert [e["choices"][0]["text"] for e in events[:-1]] == [" ", f"{SSN} done ", "<PER"]
    assert events[-1] == "[DONE]"


def test_unfinished_last_event_and_held_text_are_emitted_at_finish() -> None:
    v = _vault()
    r = SSERestorer(v, "chat.completions")
    first = r.feed(_sse(_chunk([{"index": 0, "delta": {"content": "z <PERSON_"}, "finish_reason": None}])))
    assert r.held_lengths() == {(0, "content", -1): 8}
    rest = r.finish()
    assert _events(first + rest) == [
        _chunk([{"index": 0, "delta": {"content": "z "}, "finish_reason": None}]),
        _chunk([{"index": 0, "delta": {"content": "<PERSON_"}, "logprobs": None, "finish_reason": None}]),
    ]


def test_unknown_endpoint_is_refused() -> None:
    with pytest.raises(ValueError):
        SSERestorer(_vault(), "embeddings")


# --- property test ----------------------------------------------------------------------------------

_V = _vault()
_MAX_HOLD = _V.max_placeholder_len - 1
_TOKENS = [
    *list(_V.placeholders),
    "<PERSON_99>",
    "<",
    ">",
    "<PER",
    "_1>",
    "a",
    " ",
    "é",
    '"',
    "\\",
    "\n",
    "<US_SSN_",
]
_text = st.lists(st.sampled_from(_TOKENS), max_size=12).map("".join)


def _cuts(draw: st.DrawFn, text: str, max_pieces: int) -> list[str]:
    points = sorted(draw(st.sets(st.integers(0, len(text)), max_size=max_pieces)))
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def _scenario(draw: st.DrawFn) -> tuple[list[bytes], dict[int, str], dict[int, dict[str, Any]]]:
    n_choices = draw(st.integers(1, 2))
    contents = {i: draw(_text) for i in range(n_choices)}
    args = {i: {"who": draw(_text), "more": [draw(_text), 5]} for i in range(n_choices)}
    queues: dict[tuple[int, str], list[str]] = {}
    for i in range(n_choices):
        queues[(i, "content")] = _cuts(draw, contents[i], 6)
        queues[(i, "args")] = _cuts(draw, json.dumps(args[i], ensure_ascii=False), 8)
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    events: list[bytes] = []
    while any(queues.values()):
        key = draw(st.sampled_from(sorted(k for k, q in queues.items() if q)))
        frag = queues[key].pop(0)
        if key[1] == "content":
            delta: dict[str, Any] = {"content": frag}
        else:
            delta = {"content": None, "tool_calls": [{"index": 0, "function": {"arguments": frag}}]}
        events.append(_sse(_chunk([{"index": key[0], "delta": delta, "finish_reason": None}])))
        if draw(st.booleans()) and draw(st.booleans()):
            events.append(b": keep-alive\n\n")
    for i in range(n_choices):
        if draw(st.booleans()):
            events.append(_sse(_chunk([{"index": i, "delta": {}, "finish_reason": "stop"}])))
    if draw(st.booleans()):
        events.append(_sse(_chunk([], usage={"total_tokens": 1})))
    if draw(st.booleans()):
        events.append(b"data: [DONE]\n\n")
    stream = b"".join(events).replace(b"\n", nl.encode())
    points = sorted(draw(st.sets(st.integers(0, len(stream)), max_size=30)))
    bounds = [0, *points, len(stream)]
    pieces = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    return pieces, contents, args


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenario())
def test_any_chunking_restores_exactly_like_the_whole_text(
    scenario: tuple[list[bytes], dict[int, str], dict[int, dict[str, Any]]],
) -> None:
    """Random SSE events, random byte cuts: output == restore(full text); holdback stays bounded."""
    pieces, contents, args = scenario
    r = SSERestorer(_V, "chat.completions")
    out = bytearray()
    for piece in pieces:
        out += r.feed(piece)
        assert all(n <= _MAX_HOLD for n in r.held_lengths().values())
    out += r.finish()
    events = _events(bytes(out))
    got_content = dict.fromkeys(contents, "")
    got_args = dict.fromkeys(contents, "")
    for e in events:
        if not isinstance(e, dict):
            continue
        for choice in e["choices"]:
            delta = choice["delta"]
            got_content[choice["index"]] += delta.get("content") or ""
            for call in delta.get("tool_calls") or ():
                got_args[choice["index"]] += call["function"]["arguments"]
    for i, text in contents.items():
        assert got_content[i] == _V.restore(text)
        expected = {"who": _V.restore(args[i]["who"]), "more": [_V.restore(args[i]["more"][0]), 5]}
        assert json.loads(got_args[i]) == expected
    done = [k for k, e in enumerate(events) if e == "[DONE]"]
    assert done in ([], [len(events) - 1])
