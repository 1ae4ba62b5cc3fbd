"""Optional OpenTelemetry traces: a span per pipeline step, never content.

Off by default. Spans are exported only when the ``otel`` extra is installed
(``pip install 'privacy-router[otel]'``) **and** ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (OpenTelemetry's standard variables, read by the
OTLP/HTTP exporter itself). Otherwise ``span()`` yields a no-op and the SDK is never imported.

    tracing.setup()                                     # once per process (app start-up)
    with tracing.span("privacy_router.detect", request_id=ctx.request_id) as s:
        await detect(ctx)
        s.update(tracing.context_attributes(ctx))

Never content (DESIGN.md invariants: no raw value in logs, metrics or traces). Two guards, both
here, so a caller cannot get it wrong:
* only the keys in ``ALLOWED_ATTRIBUTES`` are ever set; any other key is dropped;
* a string value must look like an identifier (``_IDENTIFIER``: letters, digits, ``_ . : / -``,
  at most 64 characters), so even an allowed key cannot carry a sentence, a name or an e-mail
  address (``@`` and spaces are refused); numbers and booleans pass; lists of identifiers pass.
An exception is recorded by class name only: its message may quote the request.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import structlog

log = structlog.get_logger("privacy_router.tracing")

PREFIX = "privacy_router."
ALLOWED_ATTRIBUTES = frozenset(
    PREFIX + k
    for k in (
        "request_id",
        "endpoint",
        "route",
        "backend",
        "entity_types",
        "entity_count",
        "detection_status",
        "stream",
        "status_code",
        "fail_closed_reason",
    )
)
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:/\-]{1,64}")
AttributeValue = str | bool | int | float | list[str]


def clean_attributes(attributes: Mapping[str, object]) -> dict[str, AttributeValue]:
    """The subset of ``attributes`` that may be exported; keys without the prefix get it."""
    out: dict[str, AttributeValue] = {}
    for key, value in attributes.items():
        name = key if key.startswith(PREFIX) else PREFIX + key
        if name not in ALLOWED_ATTRIBUTES or value is None:
            continue
        if isinstance(value, bool | int | float) or (isinstance(value, str) and _IDENTIFIER.fullmatch(value)):
            out[name] = value
        elif isinstance(value, list | tuple) and all(
            isinstance(v, str) and _IDENTIFIER.fullmatch(v) for v in value
        ):
            out[name] = [str(v) for v in value]
    return out


class Span(Protocol):
    def update(self, attributes: Mapping[str, object]) -> None: ...


class _NoopSpan:
    def update(self, attributes: Mapping[str, object]) -> None:
        return None


class _OtelSpan:
    def __init__(self, span: Any) -> None:
        self._span = span

    def update(self, attributes: Mapping[str, object]) -> None:
        self._span.set_attributes(clean_attributes(attributes))


_NOOP = _NoopSpan()
_lock = threading.Lock()
_tracer: Any = None  # an opentelemetry Tracer once setup() enabled tracing
_provider: Any = None


def enabled() -> bool:
    return _tracer is not None


def setup(environ: Mapping[str, str] | None = None, *, span_processor: Any = None) -> bool:
    """Turn tracing on if the extra is installed and an OTLP endpoint is configured.

    ``span_processor`` replaces the OTLP batch exporter (tests pass the SDK's in-memory exporter).
    Returns whether spans will be recorded. Safe to call more than once: the first call wins.
    """
    global _tracer, _provider
    env = os.environ if environ is None else environ
    configured = bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    if span_processor is None and not configured:
        return False
    with _lock:
        if _tracer is not None:
            return True
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            log.warning("tracing_unavailable", hint="pip install 'privacy-router[otel]'")
            return False
        provider = TracerProvider(
            resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "privacy-router")})
        )
        if span_processor is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            span_processor = BatchSpanProcessor(OTLPSpanExporter())
        provider.add_span_processor(span_processor)
        # Our own provider, not the global one: the router's spans never mix with what another
        # library in the process might emit through the global API.
        _provider = provider
        _tracer = provider.get_tracer("privacy_router")
    log.info("tracing_enabled")
    return True


def shutdown() -> None:
    """Flush and stop the exporter (app shutdown); tracing is off afterwards."""
    global _tracer, _provider
    with _lock:
        provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


@contextmanager
def span(name: str, **attributes: object) -> Iterator[Span]:
    """A span named ``name`` around the block, child of the current one; a no-op when off."""
    tracer = _tracer
    if tracer is None:
        yield _NOOP
        return
    from opentelemetry.trace import Status, StatusCode

    with tracer.start_as_current_span(
        name, attributes=clean_attributes(attributes), record_exception=False, set_status_on_exception=False
    ) as otel_span:
        try:
            yield _OtelSpan(otel_span)
        except BaseException as exc:
            # Class name only: the message of e.g. a BadRequest or a psycopg error can quote input.
            otel_span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            otel_span.set_attribute("error.type", type(exc).__name__)
            raise


def context_attributes(ctx: Any) -> dict[str, object]:
    """Span attributes from a pipeline ``RequestContext`` (duck-typed: no import cycle).

    Entity types and counts, route, backend, stream: never the text, the findings' offsets or the
    vault. ``clean_attributes`` filters the result again when it is set on a span.
    """
    attrs: dict[str, object] = {
        "request_id": getattr(ctx, "request_id", None),
        "endpoint": getattr(ctx, "endpoint", None),
    }
    detection = getattr(ctx, "detection", None)
    if detection is not None:
        findings = list(detection.all_findings())
        attrs["detection_status"] = detection.status
        attrs["entity_types"] = sorted({f.entity_type for _, f in findings})
        attrs["entity_count"] = len(findings)
    if getattr(ctx, "decision", None) is not None:
        attrs["route"] = ctx.route
    backend = getattr(ctx, "backend", None)
    if backend is not None:
        attrs["backend"] = getattr(backend, "name", None)
    if getattr(ctx, "payload", None):
        attrs["stream"] = bool(ctx.stream)
    return attrs
