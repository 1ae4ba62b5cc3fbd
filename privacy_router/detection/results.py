"""The one way the code recognizers (address, names, places, proper nouns) report a finding."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer, RecognizerResult


def recognizer_result(
    recognizer: EntityRecognizer, entity_type: str, start: int, end: int, score: float
) -> RecognizerResult:
    """A Presidio result that names the recognizer, as the engine reads it (``_recognizer_name``)."""
    name: str = getattr(recognizer, "name")  # noqa: B009 (Presidio leaves the attribute unannotated)
    return RecognizerResult(
        entity_type,
        start,
        end,
        score,
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
        },
    )
