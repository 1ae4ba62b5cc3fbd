"""Upstream backends: the ``Backend`` protocol, the OpenAI-compatible adapter, health, the simulator.

The simulator is deliberately not imported here, so that ``python -m
privacy_router.upstream.simulator`` runs without importing that module twice.
"""

from privacy_router.upstream.base import Backend, UpstreamResponse, UpstreamStream
from privacy_router.upstream.openai_compat import (
    BACKEND_KINDS,
    HealthTracker,
    OpenAICompatBackend,
    build_backends,
    create_upstream_client,
)

__all__ = [
    "BACKEND_KINDS",
    "Backend",
    "HealthTracker",
    "OpenAICompatBackend",
    "UpstreamResponse",
    "UpstreamStream",
    "build_backends",
    "create_upstream_client",
]
