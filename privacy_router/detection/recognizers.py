"""The engine's own recognizers that are code rather than pack data: the one place that lists them.

Pack detectors (``detectors/*.yaml``) are single patterns with context words. What a pattern cannot
express lives here, one module each: whole address blocks (``address.py``); person and organisation
names from rules and the census name lists (``gazetteer.py``); towns, countries and nationality,
religious and political group words from the GeoNames gazetteer and word lists (``places.py``);
capitalised mid-sentence words that are not English words, as possible names (``propernouns.py``).
One more code rule is not a recognizer, because it reads the other recognizers' findings: the lines
of a letterhead or signature block above an address (``blocks.py``, run by the engine afterwards).
"""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from privacy_router.detection.address import AddressRecognizer
from privacy_router.detection.gazetteer import NameRecognizer
from privacy_router.detection.places import PlaceRecognizer
from privacy_router.detection.propernouns import ProperNounRecognizer


def extra_recognizers() -> list[EntityRecognizer]:
    """Fresh instances of the code recognizers, registered next to Presidio's and the packs'."""
    return [AddressRecognizer(), NameRecognizer(), PlaceRecognizer(), ProperNounRecognizer()]
