"""No egress for the test suite: outbound connections only to loopback (issue 8, "No egress").

Loaded two ways: tests/conftest.py installs it in the pytest process, and, because conftest puts
this folder first on PYTHONPATH, every Python subprocess a test starts (the gateway, simulators,
the CLI) imports it as ``sitecustomize`` at start-up (https://docs.python.org/3/library/site.html)
and is guarded the same way. Nothing in the product knows about it.

What is refused: ``socket.connect``/``connect_ex`` to an address that is not loopback (or the
unspecified address, which Linux connects to loopback), and name resolution (``getaddrinfo``,
``gethostbyname``) of any name other than ``localhost`` and this machine's own name. That catches
libraries that fetch at run time (tldextract's public-suffix list, model hubs, telemetry) before a
packet leaves. The refusal is an ``OSError`` (what a library expects from a network failure), so
it is also recorded: in-process in ``ATTEMPTS``, and by subprocesses as one line per attempt in
the file named by ``PRIVACY_ROUTER_TEST_EGRESS_LOG``; tests/conftest.py fails the test in which
either grows. Native clients that do not use Python's socket module (libpq) are not covered; their
DSNs in the tests are loopback.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from typing import Any

ENV_LOG = "PRIVACY_ROUTER_TEST_EGRESS_LOG"
ATTEMPTS: list[str] = []
# The pytest process reads ATTEMPTS directly and turns this off; subprocesses write to the file.
LOG_TO_FILE = True


class EgressBlocked(OSError):
    """A test tried to reach a non-loopback address."""


def _local_host(host: Any) -> bool:
    if host is None or host in ("", "localhost", "localhost.", b"localhost"):
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host == socket.gethostname()
    return ip.is_loopback or ip.is_unspecified


def _is_ip(host: Any) -> bool:
    try:
        ipaddress.ip_address(host if isinstance(host, str) else "")
    except ValueError:
        return False
    return True


def _refuse(what: str) -> EgressBlocked:
    ATTEMPTS.append(what)
    path = os.environ.get(ENV_LOG)
    if path and LOG_TO_FILE:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {what}\n")
    print(f"no-egress guard: refused {what}", file=sys.stderr)
    return EgressBlocked(f"no-egress guard (tests): refused {what}")


def _check_address(sock: socket.socket, address: Any) -> None:
    inet = sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple)
    if inet and not _local_host(address[0]):
        raise _refuse(f"connect to {address[0]}:{address[1]}")


def install() -> None:
    if getattr(socket, "_privacy_router_no_egress", False):
        return
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo
    real_gethostbyname = socket.gethostbyname

    def connect(self: socket.socket, address: Any) -> None:
        _check_address(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check_address(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, port: Any = None, *args: Any, **kwargs: Any) -> Any:
        if not _local_host(host):
            raise _refuse(f"connect to {host}:{port}" if _is_ip(host) else f"resolve {host!r}")
        return real_getaddrinfo(host, port, *args, **kwargs)

    def gethostbyname(host: str) -> str:
        if not _local_host(host):
            raise _refuse(f"resolve {host!r}")
        return real_gethostbyname(host)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket._privacy_router_no_egress = True  # type: ignore[attr-defined]


if os.environ.get("PRIVACY_ROUTER_TEST_NO_EGRESS") == "1":
    install()
