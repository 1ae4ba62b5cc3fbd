"""Replace findings of the policy's ``scrub_entities`` by placeholders from the request's vault.

Findings of types that are NOT listed stay in the text on purpose: the pipeline re-scans the
scrubbed payload and fails closed on any residual finding of a scrubbed type (DESIGN.md step 6),
and the policy, not this module, decides what unlisted types mean.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from privacy_router.errors import ScrubError
from privacy_router.extract import apply_replacements
from privacy_router.transform.vault import Vault
from privacy_router.types import Extraction, Finding, Segment


def _merge(findings: list[Finding]) -> list[Finding]:
    """Merge overlapping spans; the longest finding (then the highest score) names the merged span."""
    merged: list[Finding] = []
    group: list[Finding] = []
    group_end = 0
    for f in sorted(findings, key=lambda f: (f.start, -f.end)):
        if group and f.start >= group_end:  # touching spans stay separate
            merged.append(_combine(group))
            group = []
        group_end = max(group_end, f.end) if group else f.end
        group.append(f)
    if group:
        merged.append(_combine(group))
    return merged


def _combine(group: list[Finding]) -> Finding:
    lead = max(group, key=lambda f: (f.end - f.start, f.score))
    return Finding(
        entity_type=lead.entity_type,
        start=min(f.start for f in group),
        end=max(f.end for f in group),
        score=max(f.score for f in group),
        detector=lead.detector,
    )


def scrub_segment(text: str, findings: list[Finding], vault: Vault) -> str:
    """``text`` with each (merged) finding replaced by its placeholder, minted left to right."""
    for f in findings:
        if not (0 <= f.start < f.end <= len(text)):
            # Offsets only; never the text or the value (errors.py).
            raise ScrubError("finding offsets fall outside their segment", code="scrub_bad_offsets")
    spans = _merge(findings)
    pieces: list[str] = []
    cursor = 0
    for f in spans:
        pieces.append(text[cursor : f.start])
        pieces.append(vault.placeholder_for(f.entity_type, text[f.start : f.end]))
        cursor = f.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def scrub(
    payload: dict[str, Any],
    extraction: Extraction,
    findings: dict[str, list[Finding]],
    scrub_entities: Collection[str],
    vault: Vault,
) -> dict[str, Any]:
    """A new payload where every finding of a type in ``scrub_entities`` is a placeholder.

    ``findings`` is keyed by ``Segment.path``. Segments are processed in request order so the
    numbering of placeholders is deterministic. The input payload is not mutated.
    """
    wanted = set(scrub_entities)
    replacements: dict[Segment, str] = {}
    for seg in extraction.segments:
        selected = [f for f in findings.get(seg.path, ()) if f.entity_type in wanted]
        if selected:
            replacements[seg] = scrub_segment(seg.text, selected, vault)
    return apply_replacements(payload, replacements)
