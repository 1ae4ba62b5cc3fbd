"""Test doubles and harnesses that ship with the package (like httpx.MockTransport).

- ``free_port()``: a loopback port nobody listens on.
- ``ServerThread``: runs an ASGI app under a real uvicorn server on a real socket, in a thread, so a
  test can drive it with the real ``openai`` SDK and still reach into the app (fault injection).
- ``RunningGateway``: the gateway as a separate process (``privacy-router serve``), as operators run it.
- ``RunningSimulator`` (re-exported from upstream/simulator.py): an upstream that records what it got.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from privacy_router.config import ServerSettings
from privacy_router.serving import uvicorn_config
from privacy_router.upstream.simulator import RunningSimulator

__all__ = ["RunningGateway", "RunningSimulator", "ServerThread", "free_port", "wait_http"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(
    url: str, timeout_s: float = 60.0, expect: int = 200, proc: subprocess.Popen[Any] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before {url} answered")
        try:
            r = httpx.get(url, timeout=2.0)
            if r.status_code == expect:
                return
            last = r.status_code
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer {expect} within {timeout_s}s (last: {last})")


class ServerThread:
    """A real uvicorn server for an in-process app, on 127.0.0.1:<free port>."""

    def __init__(self, app: Any, port: int | None = None, *, server: ServerSettings | None = None) -> None:
        """``server``: run under exactly the uvicorn options ``privacy-router serve`` derives from
        these settings (timeouts, limits; serving.uvicorn_config) instead of uvicorn's defaults."""
        self.port = port or free_port()
        if server is not None:
            config = uvicorn_config(app, server, port=self.port)
        else:
            config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


class RunningGateway:
    """``privacy-router serve --config FILE`` in a subprocess; waits for /readyz."""

    def __init__(
        self,
        config: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.port = port or free_port()
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_path
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunningGateway:
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        cmd = [
            sys.executable,
            "-m",
            "privacy_router",
            "serve",
            "--config",
            str(self.config),
            "--port",
            str(self.port),
            *self.extra_args,
        ]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self._log, stderr=self._log)
        try:
            wait_http(f"{self.url}/readyz", timeout_s=120, proc=self.proc)
        except BaseException:
            self.stop()  # never leave a half-started gateway (or its log file) behind
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()

    def __enter__(self) -> RunningGateway:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
