"""Vault placeholders, scrubbing by policy type, and restoring non-streamed answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from privacy_router.errors import ScrubError
from privacy_router.extract import extract
from privacy_router.transform import Vault, restore_response, scrub
from privacy_router.types import Finding

SSN = "536-90-4399"


def _f(kind: str, start: int, end: int, score: float = 0.9) -> Finding:
    return Finding(entity_type=kind, start=start, end=end, score=score, detector="test")


def test_same_value_gets_same_placeholder_and_numbering_is_per_type() -> None:
    v = Vault(["hello"])
    assert v.placeholder_for("PERSON", "Jane") == "<PERSON_1>"
    assert v.placeholder_for("US_SSN", SSN) == "<US_SSN_1>"
    assert v.placeholder_for("PERSON", "John") == "<PERSON_2>"
    assert v.placeholder_for("PERSON", "Jane") == "<PERSON_1>"
    assert v.placeholders == {"<PERSON_1>": "Jane", "<US_SSN_1>": SSN, "<PERSON_2>": "John"}


def test_placeholder_already_in_the_request_is_skipped() -> None:
    """A client's own literal <PERSON_1> can never be restored into someone's name."""
    v = Vault(["call me <PERSON_1> and <PERSON_2>", "x"])
    assert v.placeholder_for("PERSON", "Jane") == "<PERSON_3>"
    assert v.restore("<PERSON_1> <PERSON_3>") == "<PERSON_1> Jane"


def test_restore_leaves_placeholders_it_did_not_mint() -> None:
    v = Vault([])
    v.placeholder_for("PERSON", "Jane")
    assert (
        v.restore("<PERSON_1>, <PERSON_9>, <US_SSN_1>, <PERSON_1")
        == "Jane, <PERSON_9>, <US_SSN_1>, <PERSON_1"
    )


def test_restore_json_string_fragment_escapes_the_value() -> None:
    v = Vault([])
    v.placeholder_for("PERSON", 'Jo "JJ" \\ Doe')
    assert v.restore_json_string_fragment('{"n": "<PERSON_1>"}') == '{"n": "Jo \\"JJ\\" \\\\ Doe"}'
    assert json.loads(v.restore_json_string_fragment('{"n": "<PERSON_1>"}')) == {"n": 'Jo "JJ" \\ Doe'}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("abc", 0, id="no-angle"),
        pytest.param("abc <", 1, id="lone-angle"),
        pytest.param("abc <PER", 4, id="partial"),
        pytest.param("abc <PERSON_1", 9, id="partial-before-close"),
        pytest.param("abc <PERSON_1>", 0, id="complete"),
        pytest.param("abc <PERX", 0, id="diverged"),
        pytest.param("<<PERSON_", 8, id="second-angle"),
    ],
)
def test_pending_prefix_len(text: str, expected: int) -> None:
    v = Vault([])
    v.placeholder_for("PERSON", "Jane")
    assert v.pending_prefix_len(text) == expected


# --- scrub ----------------------------------------------------------------------------------------


def _payload() -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": f"Jane Doe has SSN {SSN}."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {
                            "name": "lookup",
                            "arguments": json.dumps({"who": "Jane Doe", "ssn": SSN}),
                        },
                    }
                ],
            },
            {"role": "user", "content": [{"type": "text", "text": f"Again: {SSN}, call jane@x.test"}]},
        ],
    }


def test_scrub_replaces_all_occurrences_consistently_and_keeps_unlisted_types() -> None:
    payload = _payload()
    ext = extract("chat.completions", payload)
    findings = {
        "messages[0].content": [_f("PERSON", 0, 8), _f("US_SSN", 17, 28)],
        "messages[1].tool_calls[0].function.arguments.$.who": [_f("PERSON", 0, 8)],
        "messages[1].tool_calls[0].function.arguments.$.ssn": [_f("US_SSN", 0, 11)],
        "messages[2].content[0].text": [_f("US_SSN", 7, 18), _f("EMAIL_ADDRESS", 25, 35)],
    }
    vault = Vault(s.text for s in ext.segments)
    out = scrub(payload, ext, findings, ["PERSON", "US_SSN"], vault)
    assert out["messages"][0]["content"] == "<PERSON_1> has SSN <US_SSN_1>."
    assert (
        out["messages"][1]["tool_calls"][0]["function"]["arguments"]
        == '{"who": "<PERSON_1>", "ssn": "<US_SSN_1>"}'
    )
    assert out["messages"][2]["content"][0]["text"] == "Again: <US_SSN_1>, call jane@x.test"
    assert vault.placeholders == {"<PERSON_1>": "Jane Doe", "<US_SSN_1>": SSN}
    assert payload == _payload()  # input untouched


def test_scrub_merges_overlapping_findings_and_longest_names_the_placeholder() -> None:
    payload = {"model": "m", "messages": [{"role": "user", "content": "Dr Jane Doe 2024-01-01 ok"}]}
    ext = extract("chat.completions", payload)
    findings = {
        "messages[0].content": [
            _f("PERSON", 3, 7, 0.85),  # "Jane"
            _f("PERSON_FULL", 3, 11, 0.6),  # "Jane Doe" (longest wins)
            _f("NAME", 8, 11, 0.99),  # "Doe"
            _f("DATE_TIME", 12, 22),  # touching is not overlapping
        ]
    }
    vault = Vault(s.text for s in ext.segments)
    out = scrub(payload, ext, findings, ["PERSON", "PERSON_FULL", "NAME", "DATE_TIME"], vault)
    assert out["messages"][0]["content"] == "Dr <PERSON_FULL_1> <DATE_TIME_1> ok"


def test_scrub_with_no_listed_type_changes_nothing() -> None:
    payload = _payload()
    ext = extract("chat.completions", payload)
    out = scrub(payload, ext, {"messages[0].content": [_f("US_SSN", 17, 28)]}, [], Vault([]))
    assert out == payload


def test_scrub_rejects_offsets_outside_the_segment_without_echoing_text() -> None:
    payload = {"model": "m", "messages": [{"role": "user", "content": "short"}]}
    ext = extract("chat.completions", payload)
    with pytest.raises(ScrubError) as info:
        scrub(payload, ext, {"messages[0].content": [_f("PERSON", 2, 40)]}, ["PERSON"], Vault([]))
    assert "short" not in str(info.value)


# --- restore_response -----------------------------------------------------------------------------


def _vault() -> Vault:
    v = Vault([])
    v.placeholder_for("PERSON", 'Jane "JD" Doe')
    v.placeholder_for("US_SSN", SSN)
    return v


def test_restore_chat_response_fields_and_tool_arguments_stay_json() -> None:
    body = {
        "id": "chatcmpl-1",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello <PERSON_1>, <PERSON_9> stays",
                    "reasoning": "SSN is <US_SSN_1>",
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "t",
                            "type": "function",
                            "function": {
                                "name": "f",
                                "arguments": '{"who": "<PERSON_1>", "ssn": "<US_SSN_1>"}',
                            },
                        }
                    ],
                },
                "logprobs": {"content": [{"token": "<PERSON_1>"}]},
                "finish_reason": "tool_calls",
            }
        ],
    }
    out = restore_response("chat.completions", body, _vault())
    msg = out["choices"][0]["message"]
    assert msg["content"] == 'Hello Jane "JD" Doe, <PERSON_9> stays'
    assert msg["reasoning"] == f"SSN is {SSN}"
    assert json.loads(msg["tool_calls"][0]["function"]["arguments"]) == {"who": 'Jane "JD" Doe', "ssn": SSN}
    assert out["choices"][0]["logprobs"] == {"content": [{"token": "<PERSON_1>"}]}  # documented: not restored
    assert body["choices"][0]["message"]["content"] == "Hello <PERSON_1>, <PERSON_9> stays"


def test_restore_completions_and_anthropic_and_embeddings() -> None:
    v = _vault()
    comp = restore_response("completions", {"choices": [{"index": 0, "text": "<US_SSN_1>!"}]}, v)
    assert comp == {"choices": [{"index": 0, "text": f"{SSN}!"}]}
    ant = restore_response(
        "messages",
        {
            "content": [
                {"type": "text", "text": "Hi <PERSON_1>"},
                {"type": "tool_use", "id": "x", "name": "f", "input": {"p": ["<US_SSN_1>", 3]}},
            ]
        },
        v,
    )
    assert ant["content"] == [
        {"type": "text", "text": 'Hi Jane "JD" Doe'},
        {"type": "tool_use", "id": "x", "name": "f", "input": {"p": [SSN, 3]}},
    ]
    emb = {"data": [{"embedding": "<PERSON_1>"}]}
    assert restore_response("embeddings", emb, v) == emb
