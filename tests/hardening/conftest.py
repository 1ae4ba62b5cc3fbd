"""Harness for hostile-client tests: the gateway under the production uvicorn options, and backends
that record every raw byte they receive.

``RawBackend`` is a test double of an OpenAI-compatible backend (vLLM or OpenAI): a loopback TCP
server that reads HTTP/1.1 requests byte for byte, keeps them verbatim (request line, every header,
body), and answers with an OpenAI chat completion (JSON, or SSE when the request says
``"stream": true``). The raw bytes are the oracle for "which headers reached a backend".
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from privacy_router.app import create_app
from privacy_router.auth.keys import hash_key
from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.gateway import Gateway
from privacy_router.testing import ServerThread

CLIENT_KEY = "client-key-0f3c9a"
BACKEND_KEY = "sk-backend-own-7d21"


class RawBackend:
    """A loopback HTTP/1.1 server that records raw requests and answers like OpenAI."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def posts(self) -> list[bytes]:
        with self._lock:
            return [r for r in self.requests if r.startswith(b"POST ")]

    def __enter__(self) -> RawBackend:
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop = True
        self._sock.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(rest) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    rest += chunk
                body, buf = rest[:length], rest[length:]
                with self._lock:
                    self.requests.append(head + b"\r\n\r\n" + body)
                conn.sendall(self._answer(head, body))

    def _answer(self, head: bytes, body: bytes) -> bytes:
        if head.startswith(b"GET "):
            payload = json.dumps(
                {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "x"}]}
            ).encode()
            return _http(200, "application/json", payload)
        request = json.loads(body or b"{}")
        completion = {
            "id": "chatcmpl-raw",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        if not request.get("stream"):
            return _http(200, "application/json", json.dumps(completion).encode())
        chunk = {
            "id": "chatcmpl-raw",
            "object": "chat.completion.chunk",
            "created": completion["created"],
            "model": self.model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": None}],
        }
        sse = b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n"
        return _http(200, "text/event-stream", sse)


def _http(status: int, ctype: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} OK\r\ncontent-type: {ctype}\r\ncontent-length: {len(body)}\r\n"
        "connection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


class GatewayServer(ServerThread):
    """The in-process gateway on a real socket, with uvicorn configured by serving.uvicorn_config
    (exactly what ``privacy-router serve`` uses)."""

    def __init__(self, gw: Gateway, app: Any = None) -> None:
        self.gw = gw
        super().__init__(app if app is not None else create_app(gw), server=gw.settings.server)


def gateway_settings(tmp: Path, onprem_url: str, external_url: str, **server: Any) -> dict[str, Any]:
    return {
        "server": {"detection_timeout_s": 5.0, **server},
        "audit": {"sqlite_path": str(tmp / "audit.db")},
        "backends": {
            "onprem": [
                {"name": "vllm-a", "url": onprem_url, "region": "us-east", "models": ["llama-3.1-8b"]}
            ],
            "external": [
                {
                    "name": "openai",
                    "url": external_url,
                    "region": "us",
                    "models": ["gpt-4o"],
                    "api_key_env": "HARDENING_BACKEND_KEY",
                    "zero_data_retention": True,
                }
            ],
        },
        "model_map": {"gpt-4o": "llama-3.1-8b"},
        "api_keys": [
            {
                "key_sha256": hash_key(CLIENT_KEY),
                "service": "svc",
                "tenant": "acme",
                "jurisdiction": "US",
            }
        ],
    }


@dataclass
class Harness:
    server: GatewayServer
    onprem: RawBackend
    external: RawBackend

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def gw(self) -> Gateway:
        return self.server.gw


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine) -> Iterator[Harness]:
    """One gateway with short hostile-client limits (1 s head and body deadlines, 32 headers)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HARDENING_BACKEND_KEY", BACKEND_KEY)
    tmp = tmp_path_factory.mktemp("hardening")
    with RawBackend("llama-3.1-8b") as onprem, RawBackend("gpt-4o") as external:
        settings = load_settings(
            None,
            **gateway_settings(
                tmp,
                onprem.url,
                external.url,
                header_timeout_s=1.0,
                body_timeout_s=1.0,
                max_header_count=32,
                max_header_bytes=8192,
                max_body_bytes=64 * 1024,
            ),
        )
        gw = Gateway.from_settings(settings, detector=detection_engine)
        with GatewayServer(gw) as server:
            yield Harness(server, onprem, external)
    mp.undo()
