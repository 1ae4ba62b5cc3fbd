"""Upstream backends: the ``Backend`` protocol, one adapter per kind, the simulator.

The simulator is deliberately not imported here, so that ``python -m
privacy_router.upstream.simulator`` runs without importing that module twice.
"""

from privacy_router.upstream.base import Backend, UpstreamResponse, UpstreamStream
from privacy_router.upstream.openai_compat import (
    OpenAICompatBackend,
    create_upstream_client,
)
from privacy_router.upstream.registry import BACKEND_KINDS, build_backends

__all__ = [
    "BACKEND_KINDS",
    "Backend",
    "OpenAICompatBackend",
    "UpstreamResponse",
    "UpstreamStream",
    "build_backends",
    "create_upstream_client",
]
