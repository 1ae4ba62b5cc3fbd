"""Obfuscated identifiers through the whole gateway: none may reach the external backend.

The corpus is 26 transforms x 6 identifiers (SSN, card, e-mail, phone, MRN, IBAN) x 3 surrounding
contexts = 468 prompts, each sent with the EU tenant's key: for that tenant the default policy sends
clean text out and anything with personal data on-prem, so a prompt that reaches the external
simulator is exactly a missed detection. The transforms are those of the threat model, section 4.1.
"""

from __future__ import annotations

import base64
import html
import json
import urllib.parse
from collections.abc import Callable

import httpx
import pytest

from tests.integration.conftest import EU_KEY, Stack

VALUES = {
    "ssn": "SSN 536-90-4399",
    "card": "card 4111 1111 1111 1111",
    "email": "alice.smith@example.com",
    "phone": "phone 212-555-0187",
    "mrn": "MRN 00482913",
    "iban": "IBAN GB82 WEST 1234 5698 7654 32",
}
CONTEXTS = {
    "sentence": "Please update the record with {v} before noon.",
    "question": "{v} -- can you check this for me?",
    "list": "Summary so far\n- item: {v}\n- status: open",
}
_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _digits(v: str, f: Callable[[str], str]) -> str:
    return "".join(f(c) if c.isdigit() else c for c in v)


def _inside(v: str, mark: str) -> str:
    """Put ``mark`` after every second character of the value part (after the label)."""
    return "".join(c + (mark if i % 2 else "") for i, c in enumerate(v))


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "plain": lambda v: v,
    "fullwidth": lambda v: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in v),
    "arabic-indic-digits": lambda v: _digits(v, lambda c: chr(0x0660 + int(c))),
    "devanagari-digits": lambda v: _digits(v, lambda c: chr(0x0966 + int(c))),
    "zero-width-space": lambda v: _inside(v, "\u200b"),
    "zero-width-joiner": lambda v: _inside(v, "\u200d"),
    "soft-hyphen": lambda v: _inside(v, "\u00ad"),
    "bidi-controls": lambda v: "\u202e" + _inside(v, "\u200e") + "\u202c",
    "unicode-dashes": lambda v: v.replace("-", "\u2013").replace(" ", "\u2212"),
    "nbsp-separators": lambda v: v.replace("-", "\u00a0").replace(" ", "\u00a0"),
    "dot-separators": lambda v: _regroup(v, "."),
    "slash-separators": lambda v: _regroup(v, "/"),
    "no-separators": lambda v: _regroup(v, ""),
    "every-char-spaced": lambda v: " ".join(v.replace(" ", "")),
    "line-wrapped": lambda v: v[: len(v) // 2 + 2] + "\n" + v[len(v) // 2 + 2 :],
    "letter-o-for-zero": lambda v: _digits(v, lambda c: "O" if c == "0" else c),
    "cyrillic-look-alikes": lambda v: v.replace("a", "\u0430").replace("e", "\u0435").replace("o", "\u043e"),
    "spelled-out-digits": lambda v: _spelled(v),
    "at-dot-words": lambda v: v.replace("@", " [at] ").replace(".", " [dot] "),
    "base64": lambda v: base64.b64encode(v.encode()).decode(),
    "base64-urlsafe-unpadded": lambda v: base64.urlsafe_b64encode(v.encode()).decode().rstrip("="),
    "hex": lambda v: v.encode().hex(),
    "url-encoding": lambda v: "".join(f"%{b:02X}" for b in v.encode()),
    "html-entities": lambda v: "".join(f"&#{ord(c)};" for c in v),
    "json-unicode-escapes": lambda v: "".join(f"\\u{ord(c):04x}" for c in v),
    "json-in-string": lambda v: json.dumps(json.dumps({"note": v})),
    "base64-of-url-encoding": lambda v: base64.b64encode(urllib.parse.quote(v).encode()).decode(),
    "html-escaped-base64": lambda v: html.escape(base64.b64encode(v.encode()).decode()).replace("=", "&#61;"),
}


def _regroup(v: str, sep: str) -> str:
    """Replace the separators inside the number (not the label) with ``sep``."""
    head, rest = v.split(" ", 1) if v.split(" ", 1)[0].isalpha() else ("", v)
    body = rest.replace("-", sep).replace(" ", sep)
    return f"{head} {body}" if head else body


def _spelled(v: str) -> str:
    return " ".join(_WORDS[int(c)] if c.isdigit() else c for c in v.replace(" ", "").replace("-", ""))


CORPUS = [
    pytest.param(CONTEXTS[ctx].format(v=TRANSFORMS[name](VALUES[kind])), id=f"{name}-{kind}-{ctx}")
    for name in TRANSFORMS
    for kind in VALUES
    for ctx in CONTEXTS
]


def _route(stack: Stack, content: str) -> str:
    response = httpx.post(
        f"{stack.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {EU_KEY}"},
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": content}]},
        timeout=30,
    )
    assert response.status_code == 200
    return response.headers["x-privacy-route"]


def test_corpus_size() -> None:
    assert (len(TRANSFORMS), len(VALUES), len(CONTEXTS), len(CORPUS)) == (28, 6, 3, 504)


@pytest.mark.parametrize("context", list(CONTEXTS.values()), ids=list(CONTEXTS))
def test_control_the_contexts_alone_go_external(stack: Stack, context: str) -> None:
    """Without an identifier the same prompt goes out: a miss below would be visible."""
    assert _route(stack, context.format(v="the latest numbers")) == "external"


@pytest.mark.parametrize("prompt", CORPUS)
def test_obfuscated_identifier_never_reaches_the_external_backend(stack: Stack, prompt: str) -> None:
    before = len(stack.external_bodies())
    assert _route(stack, prompt) == "onprem"
    assert len(stack.external_bodies()) == before
