"""The per-request map between typed placeholders and the values they stand for.

A vault lives exactly as long as one request: it is never persisted, logged or shared, so the
original values exist only in this process's memory for the request's duration.

Placeholders look like ``<PERSON_1>``: typed (the external model can still reason about "a person"),
numbered per type, and made only of ``<``, ``>``, ``A-Z``, ``0-9`` and ``_``. None of these needs a
JSON escape (RFC 8259 section 7), so a placeholder appears literally inside JSON string literals, such
as streamed tool-call arguments, which the streaming restorer relies on. A placeholder is never
one that already occurs in the request, so restoring cannot turn a client's own literal
``<PERSON_1>`` into someone else's value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

# Any token shaped like a placeholder; only those this vault minted are replaced.
_PLACEHOLDER_SHAPE = re.compile(r"<[A-Z0-9_]+_[0-9]+>")
_TYPE_CLEAN = re.compile(r"[^A-Z0-9_]")


class Vault:
    """Typed placeholders for one request; ``restore`` replaces only placeholders minted here."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        # Joined with NUL so a placeholder cannot be "found" across two texts' boundary.
        self._request_text = "\x00".join(texts)
        self.placeholders: dict[str, str] = {}  # placeholder -> original value
        self._by_value: dict[str, str] = {}  # original value -> placeholder
        self._counters: dict[str, int] = {}
        self._prefixes: frozenset[str] = frozenset()

    def placeholder_for(self, entity_type: str, value: str) -> str:
        """The placeholder for ``value``: the same value always gets the same placeholder."""
        existing = self._by_value.get(value)
        if existing is not None:
            return existing
        kind = _TYPE_CLEAN.sub("_", entity_type.upper()) or "ENTITY"
        n = self._counters.get(kind, 0)
        while True:
            n += 1
            candidate = f"<{kind}_{n}>"
            if candidate not in self.placeholders and candidate not in self._request_text:
                break
        self._counters[kind] = n
        self.placeholders[candidate] = value
        self._by_value[value] = candidate
        self._prefixes = frozenset(p[:i] for p in self.placeholders for i in range(1, len(p)))
        return candidate

    @property
    def max_placeholder_len(self) -> int:
        return max((len(p) for p in self.placeholders), default=0)

    def _sub(self, text: str, escape: bool) -> str:
        if not self.placeholders or "<" not in text:
            return text

        def repl(match: re.Match[str]) -> str:
            token = match.group(0)
            value = self.placeholders.get(token)
            if value is None:
                return token  # not ours: the model (or the client) wrote it; leave it
            return json.dumps(value, ensure_ascii=False)[1:-1] if escape else value

        return _PLACEHOLDER_SHAPE.sub(repl, text)

    def restore(self, text: str) -> str:
        """Replace every placeholder minted by this vault with its original value."""
        return self._sub(text, escape=False)

    def restore_json_string_fragment(self, text: str) -> str:
        """Like ``restore`` for text inside a JSON string literal: the value is JSON-escaped."""
        return self._sub(text, escape=True)

    def pending_prefix_len(self, text: str) -> int:
        """Length of the longest suffix of ``text`` that is a proper prefix of a minted placeholder.

        That suffix may be the start of a placeholder split across stream chunks, so a streaming
        restorer must hold it back; it is at most ``max_placeholder_len - 1`` characters.
        """
        if not self._prefixes:
            return 0
        start = max(0, len(text) - self.max_placeholder_len + 1)
        i = text.find("<", start)
        while i != -1:
            # The first "<" whose suffix is a prefix gives the longest such suffix.
            if text[i:] in self._prefixes:
                return len(text) - i
            i = text.find("<", i + 1)
        return 0
