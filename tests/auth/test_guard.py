"""Who may call, over real sockets: 401/403/429 in the OpenAI shape, role gates, live key reload."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml
from fastapi import Request

from privacy_router.app import create_app
from privacy_router.auth import hash_key, require_role
from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.gateway import Gateway
from tests.hardening.conftest import CLIENT_KEY, GatewayServer, RawBackend, gateway_settings

COMPLIANCE_KEY = "compliance-key-11"
ADMIN_KEY = "admin-key-22"
LIMITED_KEY = "limited-key-33"
FILE_KEY = "file-key-44"


class Served:
    def __init__(self, server: GatewayServer, keys_file: Path) -> None:
        self.server = server
        self.keys_file = keys_file

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("guard")
    keys_file = tmp / "keys.yaml"
    keys_file.write_text(yaml.safe_dump([]))
    with RawBackend("llama-3.1-8b") as onprem, RawBackend("gpt-4o") as external:
        data = gateway_settings(tmp, onprem.url, external.url)
        data["api_keys"] += [
            {
                "key_sha256": hash_key(COMPLIANCE_KEY),
                "service": "console",
                "tenant": "acme",
                "roles": ["compliance"],
            },
            {"key_sha256": hash_key(ADMIN_KEY), "service": "ops", "tenant": "acme", "roles": ["admin"]},
            # Its own tenant, so the per-tenant bucket below is not shared with the other tests.
            {"key_sha256": hash_key(LIMITED_KEY), "service": "burst", "tenant": "bursty"},
        ]
        data["auth"] = {
            "keys_file": str(keys_file),
            "reload_interval_s": 0,
            # A refill of one token per 1000 s: the third request in a row is refused, whatever the timing.
            "rate_limit": {"key_rps": 0.001, "key_burst": 2, "tenant_rps": 1000.0, "tenant_burst": 1000},
        }
        gw = Gateway.from_settings(load_settings(None, **data), detector=detection_engine)
        app = create_app(gw)

        @app.get("/v1/audit/ping")
        async def audit_ping(request: Request) -> dict[str, str]:
            principal = await require_role(request, "compliance")
            return {"service": principal.service}

        server = GatewayServer(gw, app)
        with server:
            yield Served(server, keys_file)


def chat(url: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        pytest.param({}, "missing API key: send 'Authorization: Bearer <key>'", id="missing"),
        pytest.param({"authorization": "Bearer nope"}, "invalid API key", id="unknown-bearer"),
        pytest.param({"x-api-key": "nope"}, "invalid API key", id="unknown-x-api-key"),
        pytest.param(
            {"authorization": "Basic dXNlcjpwYXNz"},
            "missing API key: send 'Authorization: Bearer <key>'",
            id="basic-scheme",
        ),
    ],
)
def test_missing_or_unknown_key_is_401_in_openai_shape(
    served: Served, headers: dict[str, str], message: str
) -> None:
    r = httpx.post(f"{served.url}/v1/chat/completions", json={"messages": []}, headers=headers, timeout=30)
    assert r.status_code == 401
    assert r.json() == {
        "error": {
            "message": message,
            "type": "authentication_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }


def test_x_api_key_header_is_accepted(served: Served) -> None:
    r = httpx.post(
        f"{served.url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]},
        headers={"x-api-key": CLIENT_KEY},
        timeout=30,
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("key", "chat_status", "audit_status"),
    [
        pytest.param(CLIENT_KEY, 200, 403, id="client"),
        pytest.param(COMPLIANCE_KEY, 403, 200, id="compliance"),
        pytest.param(ADMIN_KEY, 200, 200, id="admin"),
    ],
)
def test_roles_gate_the_endpoints(served: Served, key: str, chat_status: int, audit_status: int) -> None:
    assert chat(served.url, key).status_code == chat_status
    r = httpx.get(f"{served.url}/v1/audit/ping", headers={"authorization": f"Bearer {key}"}, timeout=30)
    assert r.status_code == audit_status
    if audit_status == 403:
        assert r.json()["error"]["type"] == "permission_error"


def test_rate_limit_answers_429_with_retry_after_through_the_openai_sdk(served: Served) -> None:
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=LIMITED_KEY, max_retries=0)
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    response = err.value.response
    assert 999 <= int(response.headers["retry-after"]) <= 1000
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert response.json()["error"]["type"] == "requests"


def test_keys_file_adds_and_revokes_a_key_without_a_restart(served: Served) -> None:
    assert chat(served.url, FILE_KEY).status_code == 401
    served.keys_file.write_text(
        yaml.safe_dump([{"key_sha256": hash_key(FILE_KEY), "service": "new", "tenant": "t"}])
    )
    os.utime(served.keys_file, ns=(2_000_000_000, 2_000_000_000))
    assert chat(served.url, FILE_KEY).status_code == 200
    served.keys_file.write_text("- not: [valid\n")  # broken: the key in force stays
    os.utime(served.keys_file, ns=(3_000_000_000, 3_000_000_000))
    assert chat(served.url, FILE_KEY).status_code == 200
    served.keys_file.write_text(yaml.safe_dump([]))
    os.utime(served.keys_file, ns=(4_000_000_000, 4_000_000_000))
    assert chat(served.url, FILE_KEY).status_code == 401
