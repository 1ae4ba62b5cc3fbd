"""privacy_router/tracing.py: off by default, a span per step when on, never content."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from privacy_router import tracing
from privacy_router.pipeline import RequestContext
from privacy_router.types import Decision, DetectionResult, Finding

CANARY_EMAIL = "jane.canary@example.org"


@pytest.fixture(autouse=True)
def _tracing_off() -> Iterator[None]:
    tracing.shutdown()
    yield
    tracing.shutdown()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    assert tracing.setup({}, span_processor=SimpleSpanProcessor(memory)) is True
    return memory


def test_tracing_is_off_without_an_otlp_endpoint() -> None:
    assert tracing.setup({}) is False
    with tracing.span("privacy_router.detect", request_id="r1") as s:
        s.update({"route": "onprem"})
    assert tracing.enabled() is False


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"route": "external_scrubbed"}, {"privacy_router.route": "external_scrubbed"}),
        ({"privacy_router.entity_count": 3}, {"privacy_router.entity_count": 3}),
        ({"stream": True}, {"privacy_router.stream": True}),
        (
            {"entity_types": ["EMAIL_ADDRESS", "PERSON"]},
            {"privacy_router.entity_types": ["EMAIL_ADDRESS", "PERSON"]},
        ),
        ({"prompt": "hello"}, {}),
        ({"backend": CANARY_EMAIL}, {}),
        ({"route": "send this to Jane Doe"}, {}),
        ({"entity_types": ["PERSON", "Jane Doe"]}, {}),
        ({"backend": "x" * 65}, {}),
        ({"backend": None}, {}),
    ],
    ids=[
        "identifier-kept",
        "prefixed-number-kept",
        "bool-kept",
        "identifier-list-kept",
        "unknown-key-dropped",
        "email-value-dropped",
        "sentence-value-dropped",
        "list-with-free-text-dropped",
        "overlong-value-dropped",
        "none-dropped",
    ],
)
def test_clean_attributes(attributes: dict[str, Any], expected: dict[str, Any]) -> None:
    assert tracing.clean_attributes(attributes) == expected


def test_step_spans_are_children_of_the_request_span(exporter: InMemorySpanExporter) -> None:
    with tracing.span("privacy_router.request", request_id="r1", endpoint="chat.completions"):
        with tracing.span("privacy_router.detect") as s:
            s.update({"entity_types": ["PERSON"], "entity_count": 2, "detection_status": "ok"})
        with tracing.span("privacy_router.decide") as s:
            s.update({"route": "onprem", "backend": "vllm-a"})
    detect, decide, request = exporter.get_finished_spans()
    assert [detect.name, decide.name, request.name] == [
        "privacy_router.detect",
        "privacy_router.decide",
        "privacy_router.request",
    ]
    assert detect.parent is not None and detect.parent.span_id == request.context.span_id
    assert dict(detect.attributes or {}) == {
        "privacy_router.entity_types": ("PERSON",),
        "privacy_router.entity_count": 2,
        "privacy_router.detection_status": "ok",
    }
    assert dict(request.attributes or {}) == {
        "privacy_router.request_id": "r1",
        "privacy_router.endpoint": "chat.completions",
    }


def test_an_exception_is_recorded_by_class_name_only(exporter: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError), tracing.span("privacy_router.parse"):
        raise ValueError(f"bad field holding {CANARY_EMAIL}")
    (span,) = exporter.get_finished_spans()
    assert (span.status.status_code.name, span.status.description) == ("ERROR", "ValueError")
    assert dict(span.attributes or {}) == {"error.type": "ValueError"}
    assert list(span.events) == []


def test_context_attributes_carry_types_counts_route_backend_never_text() -> None:
    ctx = RequestContext(
        gw=None,  # type: ignore[arg-type]  # context_attributes reads no gateway state
        endpoint="chat.completions",
        upstream_path="/chat/completions",
        headers={},
        header_items=[],
        raw_body=b"{}",
        request_id="req-1",
    )
    ctx.payload = {"stream": True, "messages": [{"role": "user", "content": f"mail {CANARY_EMAIL}"}]}
    ctx.detection = DetectionResult(
        findings={
            "messages[0].content": [
                Finding("EMAIL_ADDRESS", 5, 28, 1.0, "presidio"),
                Finding("PERSON", 5, 9, 0.6, "spacy"),
            ]
        }
    )
    ctx.decision = Decision(action="external_scrubbed", backend="openai")
    ctx.backend = SimpleNamespace(name="openai")  # type: ignore[assignment]
    assert tracing.clean_attributes(tracing.context_attributes(ctx)) == {
        "privacy_router.request_id": "req-1",
        "privacy_router.endpoint": "chat.completions",
        "privacy_router.detection_status": "ok",
        "privacy_router.entity_types": ["EMAIL_ADDRESS", "PERSON"],
        "privacy_router.entity_count": 2,
        "privacy_router.route": "external_scrubbed",
        "privacy_router.backend": "openai",
        "privacy_router.stream": True,
    }


class _Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP collector endpoint: records each POST body (protobuf) by path."""

    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


def test_spans_are_exported_over_otlp_http_without_content(monkeypatch: pytest.MonkeyPatch) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Collector.received = []
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "privacy-router-test")
    try:
        assert tracing.setup() is True
        with tracing.span("privacy_router.transform", route="external_scrubbed") as s:
            s.update({"entity_types": ["EMAIL_ADDRESS"], "prompt": f"write to {CANARY_EMAIL}"})
        tracing.shutdown()  # flushes the batch processor
    finally:
        server.shutdown()
        server.server_close()
    ((path, content_type, body),) = _Collector.received
    request = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = request.resource_spans
    (span,) = resource_spans.scope_spans[0].spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
    attributes = {a.key for a in span.attributes}
    assert (path, content_type, service, span.name) == (
        "/v1/traces",
        "application/x-protobuf",
        "privacy-router-test",
        "privacy_router.transform",
    )
    assert attributes == {"privacy_router.route", "privacy_router.entity_types"}
    assert CANARY_EMAIL.encode() not in body
