"""One real detection engine (spaCy + Presidio + the bundled packs) for the whole session."""

from __future__ import annotations

import pytest

from privacy_router.config import DetectionSettings
from privacy_router.detection.engine import DetectionEngine


@pytest.fixture(scope="session")
def engine() -> DetectionEngine:
    return DetectionEngine.from_settings(DetectionSettings())
