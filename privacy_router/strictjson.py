"""A JSON parser that refuses what the scanner and the forwarder could disagree on.

Python's ``json.loads`` takes the LAST of duplicate keys, accepts ``NaN``/``Infinity`` and lone
surrogates, and recurses until RecursionError (threats.md 4.3, observed on uvicorn 0.54). Any of
these lets a client show the scanner one thing and the backend another, or turns into a 500 on
re-serialisation. Each is a 400 here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from privacy_router.errors import BadRequest

MAX_DEPTH = 64

# A JSON escape for a UTF-16 surrogate. Pairs are fine; a lone one cannot be encoded as UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise BadRequest("duplicate key in JSON object", code="duplicate_json_key")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise BadRequest(f"JSON constant {name} is not allowed", code="invalid_json_number")


def _depth_ok(text: str, limit: int) -> bool:
    # Count bracket depth outside strings, without recursion, before json.loads recurses.
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _check_strings(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadRequest("lone surrogate in JSON string", code="invalid_unicode") from None
        elif isinstance(item, dict):
            for k, v in item.items():
                stack.append(k)
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse strictly; raise BadRequest (never anything else) on any problem."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("request body is not valid UTF-8", code="invalid_utf8") from None
    else:
        text = data
    if not _depth_ok(text, max_depth):
        raise BadRequest(f"JSON nested deeper than {max_depth} levels", code="json_too_deep")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except BadRequest:
        raise
    except (ValueError, RecursionError):
        raise BadRequest("request body is not valid JSON", code="invalid_json") from None
    if _SURROGATE_ESCAPE.search(text):
        _check_strings(value)
    return value
