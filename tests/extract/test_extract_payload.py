"""Extraction finds every text-bearing field, flags unscannable parts, and puts text back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from privacy_router.extract import apply_replacements, extract

CANARY = "536-90-4399"
C = f"my ssn is {CANARY}"


def _chat(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": list(messages), **extra}


def _args(obj: Any) -> str:
    return json.dumps(obj)


# (endpoint, payload, exact display path of the segment holding the canary)
POSITIONS = [
    pytest.param(
        "chat.completions", _chat({"role": "system", "content": C}), "messages[0].content", id="system"
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "developer", "content": [{"type": "text", "text": C}]}),
        "messages[0].content[0].text",
        id="developer-text-part",
    ),
    pytest.param(
        "chat.completions", _chat({"role": "user", "content": C}), "messages[0].content", id="user-string"
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "user", "content": [{"type": "text", "text": C}]}),
        "messages[0].content[0].text",
        id="user-part-0",
    ),
    pytest.param(
        "chat.completions",
        _chat(
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hello"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                    {"type": "text", "text": C},
                ],
            }
        ),
        "messages[0].content[2].text",
        id="user-part-2-after-image",
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "user", "content": [{"type": "input_text", "text": C}]}),
        "messages[0].content[0].text",
        id="user-input-text-part",
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "user", "content": "hi"}, {"role": "assistant", "content": C}),
        "messages[1].content",
        id="assistant-history",
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "assistant", "content": None, "reasoning": C}),
        "messages[0].reasoning",
        id="assistant-reasoning",
    ),
    pytest.param(
        "chat.completions",
        _chat(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": _args({"patient": {"ids": ["x", C]}})},
                    }
                ],
            }
        ),
        "messages[0].tool_calls[0].function.arguments.$.patient.ids[1]",
        id="tool-call-arguments-nested",
    ),
    pytest.param(
        "chat.completions",
        _chat(
            {
                "role": "assistant",
                "function_call": {"name": "lookup", "arguments": _args({"q": C})},
            }
        ),
        "messages[0].function_call.arguments.$.q",
        id="legacy-function-call-arguments",
    ),
    pytest.param(
        "chat.completions",
        _chat(
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": C}}],
            }
        ),
        "messages[0].tool_calls[0].function.arguments",
        id="tool-call-arguments-not-json",
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "tool", "tool_call_id": "call_1", "content": C}),
        "messages[0].content",
        id="tool-message-string",
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": C}]}),
        "messages[0].content[0].text",
        id="tool-message-parts",
    ),
    pytest.param(
        "chat.completions",
        _chat(
            {"role": "user", "content": "x"},
            tools=[{"type": "function", "function": {"name": "f", "description": C, "parameters": {}}}],
        ),
        "tools[0].function.description",
        id="tool-description",
    ),
    pytest.param(
        "chat.completions",
        _chat(
            {"role": "user", "content": "x"},
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string", "description": C}},
                        },
                    },
                }
            ],
        ),
        "tools[0].function.parameters.properties.city.description",
        id="tool-schema-description",
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "user", "name": C, "content": "x"}),
        "messages[0].name",
        id="message-name",
    ),
    pytest.param(
        "chat.completions", _chat({"role": "user", "content": "x"}, user=C), "user", id="top-level-user"
    ),
    pytest.param(
        "chat.completions", _chat({"role": "user", "content": "x"}, stop=["a", C]), "stop[1]", id="stop-list"
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "user", "content": "x"}, metadata={"note": C}),
        "metadata.note",
        id="metadata",
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "user", "content": "x"}, my_extra=C),
        "my_extra",
        id="extra-top-level-string",
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "user", "content": "x"}, documents=[{"title": "t", "text": C}]),
        "documents[0].text",
        id="extra-vllm-documents",
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "user", "content": "x"}, chat_template_kwargs={"ctx": {"who": C}}),
        "chat_template_kwargs.ctx.who",
        id="chat-template-kwargs",
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "user", "content": "x"}, vllm_xargs={"nested": {"k": [C]}}),
        "vllm_xargs.nested.k[0]",
        id="extra-nested-dict",
    ),
    pytest.param("completions", {"model": "m", "prompt": C}, "prompt", id="completions-prompt-string"),
    pytest.param(
        "completions", {"model": "m", "prompt": ["a", C]}, "prompt[1]", id="completions-prompt-list"
    ),
    pytest.param(
        "completions", {"model": "m", "prompt": "a", "suffix": C}, "suffix", id="completions-suffix"
    ),
    pytest.param("embeddings", {"model": "m", "input": C}, "input", id="embeddings-input-string"),
    pytest.param(
        "embeddings", {"model": "m", "input": ["a", "b", C]}, "input[2]", id="embeddings-input-list"
    ),
    pytest.param(
        "messages",
        {"model": "claude", "max_tokens": 5, "system": C, "messages": []},
        "system",
        id="anthropic-system",
    ),
    pytest.param(
        "messages",
        {"model": "claude", "max_tokens": 5, "system": [{"type": "text", "text": C}], "messages": []},
        "system[0].text",
        id="anthropic-system-blocks",
    ),
    pytest.param(
        "messages",
        {
            "model": "claude",
            "max_tokens": 5,
            "messages": [
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"p": {"ssn": C}}}
                    ],
                }
            ],
        },
        "messages[0].content[0].input.p.ssn",
        id="anthropic-tool-use-input",
    ),
    pytest.param(
        "messages",
        {
            "model": "claude",
            "max_tokens": 5,
            "messages": [
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": C}]}
            ],
        },
        "messages[0].content[0].content",
        id="anthropic-tool-result-string",
    ),
    pytest.param(
        "messages",
        {
            "model": "claude",
            "max_tokens": 5,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": C}]}
                    ],
                }
            ],
        },
        "messages[0].content[0].content[0].text",
        id="anthropic-tool-result-blocks",
    ),
    pytest.param(
        "messages",
        {
            "model": "claude",
            "max_tokens": 5,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": C},
                        }
                    ],
                }
            ],
        },
        "messages[0].content[0].source.data",
        id="anthropic-text-document",
    ),
    pytest.param(
        "messages",
        {"model": "claude", "max_tokens": 5, "messages": [], "metadata": {"user_id": C}},
        "metadata.user_id",
        id="anthropic-metadata",
    ),
]


@pytest.mark.parametrize(("endpoint", "payload", "path"), POSITIONS)
def test_canary_in_every_position_yields_a_segment_at_its_path(
    endpoint: str, payload: dict[str, Any], path: str
) -> None:
    """The canary SSN is found in a segment with the exact display path, wherever it is planted."""
    ext = extract(endpoint, payload)
    with_canary = [s.path for s in ext.segments if CANARY in s.text]
    assert with_canary == [path]


NUMBER_POSITIONS = [
    pytest.param(
        "chat.completions",
        _chat(
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"ssn": 536904399}'},
                    }
                ],
            }
        ),
        "messages[0].tool_calls[0].function.arguments.$.ssn",
        id="number-in-arguments",
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "user", "content": "x"}, vllm_xargs={"acct": 536904399}),
        "vllm_xargs.acct",
        id="number-in-extra",
    ),
    pytest.param(
        "messages",
        {
            "model": "c",
            "max_tokens": 1,
            "messages": [
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"n": 536904399}}],
                }
            ],
        },
        "messages[0].content[0].input.n",
        id="number-in-tool-use-input",
    ),
]


@pytest.mark.parametrize(("endpoint", "payload", "path"), NUMBER_POSITIONS)
def test_numbers_in_user_data_are_scanned_as_json_text(
    endpoint: str, payload: dict[str, Any], path: str
) -> None:
    """A number that can be an identifier is a segment holding its JSON text."""
    ext = extract(endpoint, payload)
    assert [(s.path, s.text) for s in ext.segments if "536904399" in s.text] == [(path, "536904399")]


def test_routing_strings_and_sampling_numbers_are_not_segments() -> None:
    """model, role, type, ids, tool_choice string, encoding_format and numeric parameters are not content."""
    payload = _chat(
        {"role": "user", "content": [{"type": "text", "text": "hello"}]},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_9", "content": "ok"},
        tool_choice="auto",
        temperature=0.5,
        max_tokens=536904399,
        seed=7,
    )
    ext = extract("chat.completions", payload)
    assert [(s.path, s.text) for s in ext.segments] == [
        ("messages[0].content[0].text", "hello"),
        ("messages[1].tool_calls[0].function.name", "f"),
        ("messages[2].content", "ok"),
    ]
    assert ext.unscannable == []


def test_embeddings_encoding_format_is_not_a_segment() -> None:
    ext = extract("embeddings", {"model": "m", "input": "abc", "encoding_format": "base64"})
    assert [(s.path, s.text) for s in ext.segments] == [("input", "abc")]


def test_segments_come_in_request_order() -> None:
    """Order matters: the detector also scans the concatenation of all segments."""
    payload = _chat(
        {"role": "system", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}, {"type": "text", "text": "three"}]},
        user="four",
        extra_field="five",
    )
    assert [s.text for s in extract("chat.completions", payload).segments] == [
        "one",
        "two",
        "three",
        "four",
        "five",
    ]


def test_key_that_is_not_an_identifier_is_shown_by_position() -> None:
    """A value used as an object key never reaches the display path (policy input, audit log)."""
    ext = extract(
        "chat.completions", _chat({"role": "user", "content": "x"}, metadata={CANARY: "v", "ok": "w"})
    )
    assert [(s.path, s.text) for s in ext.segments][1:] == [("metadata{0}", "v"), ("metadata.ok", "w")]


UNSCANNABLE = [
    pytest.param(
        "chat.completions",
        _chat(
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}],
            }
        ),
        ["messages[0].content[0].image_url"],
        id="image-data-url",
    ),
    pytest.param(
        "chat.completions",
        _chat(
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}},
                ],
            }
        ),
        ["messages[0].content[1].image_url"],
        id="image-http-url",
    ),
    pytest.param(
        "chat.completions",
        _chat(
            {
                "role": "user",
                "content": [{"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}}],
            }
        ),
        ["messages[0].content[0].input_audio"],
        id="input-audio",
    ),
    pytest.param(
        "chat.completions",
        _chat(
            {
                "role": "user",
                "content": [{"type": "file", "file": {"file_data": "JVBERi0", "filename": "a.pdf"}}],
            }
        ),
        ["messages[0].content[0].file"],
        id="file-data",
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}),
        ["messages[0].content[0].file"],
        id="file-id",
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "user", "content": [{"type": "video_url", "video_url": {"url": "https://v"}}]}),
        ["messages[0].content[0].video_url"],
        id="video-url",
    ),
    pytest.param(
        "chat.completions",
        _chat({"role": "user", "content": [{"image_url": {"url": "https://x"}}]}),
        ["messages[0].content[0].image_url"],
        id="image-part-without-type",
    ),
    pytest.param("completions", {"model": "m", "prompt": [1, 2, 3]}, ["prompt"], id="token-id-prompt"),
    pytest.param(
        "completions",
        {"model": "m", "prompt": [[1, 2], [3, 4]]},
        ["prompt[0]", "prompt[1]"],
        id="token-id-lists",
    ),
    pytest.param(
        "embeddings", {"model": "m", "input": [[5, 6], "text"]}, ["input[0]"], id="embeddings-mixed"
    ),
    pytest.param(
        "messages",
        {
            "model": "c",
            "max_tokens": 1,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
                        },
                        {"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}},
                    ],
                }
            ],
        },
        ["messages[0].content[0].source", "messages[0].content[1].source"],
        id="anthropic-image-and-pdf",
    ),
]


@pytest.mark.parametrize(("endpoint", "payload", "expected"), UNSCANNABLE)
def test_unscannable_parts_are_counted_by_path(
    endpoint: str, payload: dict[str, Any], expected: list[str]
) -> None:
    """Images, audio, files and token ids are flagged, and their bytes are never segments."""
    ext = extract(endpoint, payload)
    assert ext.unscannable == expected
    assert [
        s for s in ext.segments if s.text.startswith(("data:", "iVBOR", "UklGR", "JVBER", "https://"))
    ] == []


def test_file_name_inside_a_file_part_is_still_scanned() -> None:
    payload = _chat(
        {"role": "user", "content": [{"type": "file", "file": {"file_data": "JVB", "filename": "jane.pdf"}}]}
    )
    assert [(s.path, s.text) for s in extract("chat.completions", payload).segments] == [
        ("messages[0].content[0].file.filename", "jane.pdf")
    ]


def test_unknown_endpoint_is_refused() -> None:
    from privacy_router.errors import BadRequest

    with pytest.raises(BadRequest):
        extract("responses", {"input": "x"})


# --- apply_replacements -----------------------------------------------------------------------


def _tool_payload(arguments: str) -> dict[str, Any]:
    return _chat(
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
            ],
        }
    )


def test_apply_replacements_keeps_arguments_valid_json_and_layout() -> None:
    """Replacing leaves inside arguments re-serialises with the original separators and key order."""
    original = '{"b":"Jane Doe","a":{"ssn":536904399,"keep":true}}'
    payload = _tool_payload(original)
    ext = extract("chat.completions", payload)
    repl = {s: f"<{i}>" for i, s in enumerate(s for s in ext.segments if s.inner is not None)}
    out = apply_replacements(payload, repl)
    new_args = out["messages"][0]["tool_calls"][0]["function"]["arguments"]
    assert new_args == '{"b":"<0>","a":{"ssn":"<1>","keep":true}}'
    assert json.loads(new_args) == {"b": "<0>", "a": {"ssn": "<1>", "keep": True}}
    assert payload["messages"][0]["tool_calls"][0]["function"]["arguments"] == original  # not mutated


def test_apply_replacements_default_python_layout_is_kept() -> None:
    payload = _tool_payload(json.dumps({"city": "Zürich", "n": 1}, ensure_ascii=False))
    ext = extract("chat.completions", payload)
    seg = next(s for s in ext.segments if s.inner == ("city",))
    out = apply_replacements(payload, {seg: 'Gen"ève'})
    assert out["messages"][0]["tool_calls"][0]["function"]["arguments"] == '{"city": "Gen\\"ève", "n": 1}'


def test_apply_replacements_round_trip_with_same_text_is_identity() -> None:
    payload = _chat(
        {"role": "user", "content": [{"type": "text", "text": "a"}]},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"x": ["y", 2]}'}}
            ],
        },
        vllm_xargs={"n": 5},
    )
    ext = extract("chat.completions", payload)
    same = {s: s.text for s in ext.segments}
    out = apply_replacements(payload, same)
    # Numbers given back as text become strings: that is the documented behaviour.
    assert out["vllm_xargs"] == {"n": "5"}
    assert out["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"x": ["y", "2"]}'
    assert out["messages"][0] == payload["messages"][0]
    assert payload["vllm_xargs"] == {"n": 5}
