"""The anchored URL recognizer (detection/url.py) finds exactly what Presidio's finds.

Both run over the benchmark's prompts, every document of the two presidio-research datasets, and
strings built around URLs; spans, scores and recognizer names must be identical. The hostile runs
that made the stock pattern backtrack are in test_regex_cost.py.
"""

from __future__ import annotations

import pytest
from presidio_analyzer.predefined_recognizers import UrlRecognizer

from privacy_router.detection.url import AnchoredUrlRecognizer, with_anchored_urls
from tests.detection.test_phone import corpus_texts, presidio_research_texts

URLISH = [
    "see www.example.com for details",
    "mail me at jane.doe@example.org today",
    "host: api.internal-service.example.net:8443/path?q=1",
    "quoted 'docs.example.io' and \"https://example.com/a\"",
    "visit http://sub.domain.example.co.uk/x and ftp.example.com",
    "a-b.c-d.example.com.",
    "no url here, just text.",
    "trailing dots example.com... and (example.org)",
    "v1.2.3.4.example.com and 10.0.0.1",
]


def found(recognizer: UrlRecognizer, text: str) -> list[tuple[object, ...]]:
    results = recognizer.analyze(text, ["URL"])
    return sorted(
        (r.entity_type, r.start, r.end, r.score, (r.recognition_metadata or {}).get("recognizer_name"))
        for r in results
    )


@pytest.fixture(scope="module")
def pair() -> tuple[UrlRecognizer, AnchoredUrlRecognizer]:
    stock = UrlRecognizer()
    return stock, AnchoredUrlRecognizer.like(stock)


def test_same_findings_as_presidio(pair: tuple[UrlRecognizer, AnchoredUrlRecognizer]) -> None:
    stock, anchored = pair
    texts = corpus_texts() + presidio_research_texts() + URLISH
    differing = [t[:80] for t in texts if found(stock, t) != found(anchored, t)]
    assert len(texts) > 3000
    assert differing == []
    assert any(found(stock, t) for t in URLISH)  # the comparison is not vacuous


def test_only_difference_is_a_run_longer_than_a_host_name(
    pair: tuple[UrlRecognizer, AnchoredUrlRecognizer],
) -> None:
    """A host name is at most 253 characters: Presidio reports the last 253 characters of a longer
    run ending in a TLD; the anchored pattern reports nothing there (no valid host starts inside)."""
    stock, anchored = pair
    text = "x" * 300 + ".com"
    assert [f[1:3] for f in found(stock, text)] == [(47, 304)]
    assert found(anchored, text) == []


def test_replaces_only_the_stock_recognizer_in_place() -> None:
    stock, other = UrlRecognizer(), object()
    out = with_anchored_urls([other, stock])  # type: ignore[list-item]
    assert out[0] is other and type(out[1]) is AnchoredUrlRecognizer
    assert out[1].name == stock.name
