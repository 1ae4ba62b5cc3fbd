"""Strict JSON: everything the scanner and the forwarder could disagree on is a 400 (threats.md D5)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_router import strictjson
from privacy_router.errors import BadRequest


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(b'{"model":"a","model":"b"}', "duplicate_json_key", id="duplicate-key"),
        pytest.param(b'{"a":{"x":1,"x":2}}', "duplicate_json_key", id="nested-duplicate-key"),
        pytest.param(b'[{"k":1},{"k":1,"k":1}]', "duplicate_json_key", id="duplicate-key-in-list"),
        pytest.param(b'{"t":NaN}', "invalid_json_number", id="nan"),
        pytest.param(b'{"t":Infinity}', "invalid_json_number", id="infinity"),
        pytest.param(b'{"t":-Infinity}', "invalid_json_number", id="minus-infinity"),
        pytest.param(b'{"c":"\\ud800"}', "invalid_unicode", id="lone-high-surrogate"),
        pytest.param(b'{"c":"\\udc00x"}', "invalid_unicode", id="lone-low-surrogate"),
        pytest.param(b'{"\\ud800":"key"}', "invalid_unicode", id="surrogate-in-key"),
        pytest.param(b'{"c":"\xff"}', "invalid_utf8", id="invalid-utf8-byte"),
        pytest.param(b'{"c":"\xed\xa0\x80"}', "invalid_utf8", id="utf8-encoded-surrogate"),
        pytest.param(b"[" * 65 + b"]" * 65, "json_too_deep", id="depth-65"),
        pytest.param(b"[" * 10000 + b"]" * 10000, "json_too_deep", id="depth-10000"),
        pytest.param(b'{"a":' * 100 + b"1" + b"}" * 100, "json_too_deep", id="object-depth-100"),
        pytest.param(b"not json", "invalid_json", id="not-json"),
        pytest.param(b"", "invalid_json", id="empty"),
        pytest.param(b'{"a":1} {"b":2}', "invalid_json", id="two-documents"),
        pytest.param(b'{"a":1,}', "invalid_json", id="trailing-comma"),
        pytest.param(b"\xef\xbb\xbf{}", "invalid_json", id="utf8-bom"),
        pytest.param(b'{"a":"\\x41"}', "invalid_json", id="bad-escape"),
    ],
)
def test_hostile_json_is_a_bad_request(data: bytes, code: str) -> None:
    with pytest.raises(BadRequest) as err:
        strictjson.loads(data)
    assert (err.value.status_code, err.value.code) == (400, code)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b'{"c":"\\ud83d\\ude00"}', {"c": "\U0001f600"}, id="surrogate-pair"),
        pytest.param('{"c":"é"}'.encode(), {"c": "é"}, id="utf8-text"),
        pytest.param(b"[" * 64 + b"]" * 64, json.loads(b"[" * 64 + b"]" * 64), id="depth-64"),
        pytest.param(b'{"s":"' + b"[" * 100 + b'"}', {"s": "[" * 100}, id="brackets-in-string"),
        pytest.param(b'{"s":"\\"[[["}', {"s": '"[[['}, id="escaped-quote-then-brackets"),
        pytest.param(b'{"a":1,"b":{"a":2}}', {"a": 1, "b": {"a": 2}}, id="same-key-other-object"),
        pytest.param(b'{"n":1e308,"m":-0.0}', {"n": 1e308, "m": -0.0}, id="finite-numbers"),
    ],
)
def test_valid_json_parses_as_json_loads_would(data: bytes, expected: object) -> None:
    assert strictjson.loads(data) == expected


def test_error_messages_never_echo_the_input() -> None:
    secret = "536-90-4399"
    bodies = [
        f'{{"{secret}":1,"{secret}":2}}'.encode(),
        f'{{"c":"{secret}","t":NaN}}'.encode(),
        f'{{"c":"{secret}\\ud800"}}'.encode(),
        f'{{"c":"{secret}'.encode(),
    ]
    messages = []
    for body in bodies:
        with pytest.raises(BadRequest) as err:
            strictjson.loads(body)
        messages.append(err.value.message)
    assert [secret in m for m in messages] == [False] * 4


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_parse_or_raise_bad_request_only(data: bytes) -> None:
    try:
        value = strictjson.loads(data)
    except BadRequest as exc:
        assert exc.status_code == 400
    else:
        # Whatever parses re-serialises (no NaN, no lone surrogate): the forwarder cannot 500 on it.
        json.dumps(value, allow_nan=False).encode("utf-8")
