"""Detection: Presidio + spaCy + detector packs (``detectors/*.yaml``) -> findings per text."""

from privacy_router.detection.engine import DetectionEngine, is_sensitive

__all__ = ["DetectionEngine", "is_sensitive"]
