"""Presidio's URL recognizer with its host-name patterns anchored at the start of a host name.

Presidio's "Non schema URL" patterns (``[a-z0-9.\\-]{1,253}[.](?:tld|...)``) have no left
boundary, so the regex engine starts them again at every character of a long run of host-name
characters and tries up to 253 lengths with the whole TLD alternation at each: 8 KB of "a." cost
4.4 s of CPU (tests/detection/test_regex_cost.py). Here they may only start where a host name
can start, after a character that cannot be part of one. ``finditer`` reports the leftmost match,
which is at the start of the run anyway, so findings only differ when no match starts there but
one starts inside the run: a run of more than 253 host-name characters (longer than any valid host
name) ending in a TLD, of which Presidio reports the last 253 (tests/detection/test_url.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from presidio_analyzer import EntityRecognizer, Pattern
from presidio_analyzer.predefined_recognizers import UrlRecognizer

# Where a bare host name may start: not after a host-name character (nor inside a word).
_HOST_START = r"(?<![a-z0-9.\-])"
_UNANCHORED = ("Non schema URL",)


def _anchored(pattern: Pattern) -> Pattern:
    if pattern.name not in _UNANCHORED:
        return pattern
    flags, _, body = pattern.regex.partition(")") if pattern.regex.startswith("(?i)") else ("", "", "")
    if not flags:
        return Pattern(pattern.name, _HOST_START + pattern.regex, pattern.score)
    return Pattern(pattern.name, f"{flags}){_HOST_START}{body}", pattern.score)


class AnchoredUrlRecognizer(UrlRecognizer):
    """``UrlRecognizer`` with its bare host-name patterns anchored (module docstring)."""

    @classmethod
    def like(cls, stock: UrlRecognizer) -> AnchoredUrlRecognizer:
        # Read through vars(): Presidio assigns both without annotations mypy can follow.
        patterns: list[Pattern] = vars(stock)["patterns"]
        name: str = vars(stock)["name"]
        return cls(
            patterns=[_anchored(p) for p in patterns],
            context=stock.context,
            supported_language=stock.supported_language,
            supported_entity=stock.supported_entities[0],
            name=name,  # findings keep the stock detector name
        )


def with_anchored_urls(recognizers: Iterable[EntityRecognizer]) -> list[EntityRecognizer]:
    """``recognizers`` with the stock ``UrlRecognizer`` replaced at the same place."""
    return [AnchoredUrlRecognizer.like(r) if type(r) is UrlRecognizer else r for r in recognizers]
