"""A test double of an OPA server: OPA's REST Data API over real HTTP, evaluated by regopy.

No OPA binary can be installed where this project is built and tested (it is not on any package
registry), so the ``opa`` engine is tested against this server instead. It speaks the subset of the
wire format the router uses (OPA REST API docs):

* ``POST /v1/data/<path>[?provenance=true]`` with ``{"input": ...}`` -> 200
  ``{"result": <value>, "decision_id": "<uuid>", "provenance": {"version": ..., "bundles":
  {"<name>": {"revision": "<.manifest revision>"}}}}``; an undefined document -> 200 without
  ``result``; an evaluation error -> 500 ``{"code": "internal_error", "message": ...}``; a body that
  is not ``{"input": ...}`` JSON -> 400 ``{"code": "invalid_parameter", ...}``.
* ``GET /health[?bundles=true]`` -> 200 ``{}`` once the bundle is active, else 500 ``{"error": ...}``.

Faults can be injected to test that the client fails closed: ``fault`` is one of ``undefined``,
``non_json``, ``http_500``, ``stall`` (answer after ``stall_s``), ``bad_result`` (a decision with an
unknown action) and ``not_ready``. Every request path is appended to ``calls``, and every decision id
sent to ``decision_ids``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from privacy_router.errors import ConfigError, PolicyUnavailable
from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.policy.loader import read_policy_dir

FAULTS = ("undefined", "non_json", "http_500", "stall", "bad_result", "not_ready")
VERSION = "regopy-1.5.2 (privacy-router OPA test double)"


class OpaTestServer:
    """Context manager: serves the policy folder ``policy_dir`` on 127.0.0.1:<free port>."""

    def __init__(self, policy_dir: Path, bundle_name: str = "privacy_router") -> None:
        self.policy_dir = policy_dir
        self.bundle_name = bundle_name
        self.revision = read_policy_dir(policy_dir).revision
        self.fault: str | None = None
        self.stall_s = 1.0
        self.decision_logging = True
        self.calls: list[str] = []
        self.decision_ids: list[str] = []
        self._engines: dict[str, EmbeddedPolicyEngine] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="opa-test", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> OpaTestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def engine_for(self, query: str) -> EmbeddedPolicyEngine:
        """One compiled engine per queried path, as OPA compiles a query plan once per path."""
        with self._lock:
            if query not in self._engines:
                self._engines[query] = EmbeddedPolicyEngine(self.policy_dir, query)
            return self._engines[query]


def _handler_for(server: OpaTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes; without TCP_NODELAY the second waits for the
            # client's delayed ACK (about 40 ms per call on Linux).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            return  # keep test output clean; ``calls`` records the traffic

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, doc: dict[str, Any]) -> None:
            self._send(status, json.dumps(doc).encode())

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            server.calls.append(f"GET {url.path}")
            if url.path != "/health":
                self._json(404, {"code": "resource_not_found", "message": "not found"})
            elif server.fault == "not_ready" and "bundles" in parse_qs(url.query):
                self._json(500, {"error": "one or more bundles are not activated"})
            else:
                self._json(200, {})

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            server.calls.append(f"POST {url.path}")
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not url.path.startswith("/v1/data/"):
                self._json(404, {"code": "resource_not_found", "message": "not found"})
                return
            try:
                doc = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                self._json(400, {"code": "invalid_parameter", "message": "body must be JSON"})
                return
            if not isinstance(doc, dict):
                self._json(400, {"code": "invalid_parameter", "message": "body must be an object"})
                return
            query = "data." + url.path[len("/v1/data/") :].strip("/").replace("/", ".")
            self._answer(query, doc.get("input"), "provenance=true" in (url.query or ""))

        def _answer(self, query: str, policy_input: Any, provenance: bool) -> None:
            fault = server.fault
            if fault == "stall":
                time.sleep(server.stall_s)
            if fault == "http_500":
                self._json(500, {"code": "internal_error", "message": "injected fault"})
                return
            if fault == "non_json":
                self._send(200, b"<html>proxy error</html>", "text/html")
                return
            body: dict[str, Any] = {}
            if server.decision_logging:
                body["decision_id"] = str(uuid.uuid4())
                server.decision_ids.append(body["decision_id"])
            if provenance:
                body["provenance"] = {
                    "version": VERSION,
                    "bundles": {server.bundle_name: {"revision": server.revision}},
                }
            if fault == "undefined":
                self._json(200, body)
                return
            if fault == "bad_result":
                self._json(200, {**body, "result": {"action": "teleport", "backend": None}})
                return
            try:
                engine = server.engine_for(query)
                defined, value = engine.document(policy_input if isinstance(policy_input, dict) else {})
                if defined:  # OPA: an undefined document is 200 without "result"
                    body["result"] = value
            except (ConfigError, PolicyUnavailable) as exc:
                message = exc.message if isinstance(exc, ConfigError) else "evaluation error"
                self._json(500, {"code": "internal_error", "message": message})
                return
            self._json(200, body)

    return Handler
