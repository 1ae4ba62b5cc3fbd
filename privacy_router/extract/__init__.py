"""Payload -> every text-bearing value (Segment), unscannable parts flagged; and the way back."""

from privacy_router.extract.payload import ENDPOINTS, apply_replacements, extract

__all__ = ["ENDPOINTS", "apply_replacements", "extract"]
