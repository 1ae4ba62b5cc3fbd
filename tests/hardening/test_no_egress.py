"""The suite's no-egress guard refuses non-loopback connections, in-process and in subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import NOEGRESS

# 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never routed, so even a broken guard sends nothing real.
TEST_NET = "192.0.2.1"


@pytest.fixture
def forget_attempts() -> list[str]:
    """These tests trigger the guard on purpose: their attempts are checked here, then forgotten
    so the autouse no_egress fixture does not fail them."""
    start = len(NOEGRESS.ATTEMPTS)
    yield NOEGRESS.ATTEMPTS
    del NOEGRESS.ATTEMPTS[start:]


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param(
            lambda: socket.create_connection((TEST_NET, 443), timeout=1),
            f"connect to {TEST_NET}:443",
            id="create_connection-ip",
        ),
        pytest.param(
            lambda: socket.getaddrinfo("publicsuffix.org", 443),
            "resolve 'publicsuffix.org'",
            id="getaddrinfo",
        ),
        pytest.param(lambda: socket.gethostbyname("pypi.org"), "resolve 'pypi.org'", id="gethostbyname"),
        pytest.param(
            lambda: httpx.get("https://publicsuffix.org/list/public_suffix_list.dat", timeout=1),
            "resolve 'publicsuffix.org'",
            id="httpx-fetch",
        ),
    ],
)
def test_non_loopback_is_refused_and_recorded(
    call: object, expected: str, forget_attempts: list[str]
) -> None:
    before = len(forget_attempts)
    with pytest.raises((OSError, httpx.ConnectError)) as err:
        call()  # type: ignore[operator]
    assert "no-egress guard" in str(err.value)
    assert forget_attempts[before:] == [expected]


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(("localhost", server.getsockname()[1]), timeout=2) as client:
            assert client.getpeername()[0] == "127.0.0.1"


def test_subprocesses_get_the_same_guard(tmp_path: Path) -> None:
    log = tmp_path / "egress.log"
    code = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('{TEST_NET}', 80), timeout=1)\n"
        "except OSError as e:\n"
        "    print(type(e).__name__)\n"
    )
    # Own log file: this attempt is expected, the suite-wide log must stay clean.
    env = {**os.environ, NOEGRESS.ENV_LOG: str(log)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "EgressBlocked"
    assert log.read_text().split(" ", 1)[1] == f"connect to {TEST_NET}:80\n"
