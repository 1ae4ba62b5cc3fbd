"""Pseudonymise a request with a per-request vault, and restore the answer (whole or streamed)."""

from privacy_router.transform.restore import restore_response
from privacy_router.transform.scrub import scrub, scrub_segment
from privacy_router.transform.stream import SSERestorer
from privacy_router.transform.vault import Vault

__all__ = ["SSERestorer", "Vault", "restore_response", "scrub", "scrub_segment"]
