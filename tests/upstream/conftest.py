"""One simulator process per flavor for the whole upstream test folder (process start-up is slow)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from privacy_router.app import create_app
from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.gateway import Gateway
from privacy_router.testing import ServerThread
from privacy_router.upstream.simulator import RunningSimulator
from tests.integration.conftest import US_KEY, sha


@pytest.fixture(scope="session")
def vllm_sim() -> Iterator[RunningSimulator]:
    with RunningSimulator("vllm") as sim:
        yield sim


@pytest.fixture(scope="session")
def openai_sim() -> Iterator[RunningSimulator]:
    with RunningSimulator("openai") as sim:
        yield sim


@pytest.fixture(params=["vllm", "openai"])
def sim(request: pytest.FixtureRequest) -> RunningSimulator:
    """Both flavors, each test runs twice. Records are cleared so a test sees only its own requests."""
    running: RunningSimulator = request.getfixturevalue(f"{request.param}_sim")
    running.clear_records()
    return running


# --------------------------------------------------------------------------------------------
# The gateway in front of one simulator flavor (tests/upstream/test_<kind>.py): an in-process app
# on a real socket, driven by the real ``openai`` SDK.

PHI = "Patient MRN 00482913 was admitted with chest pain."  # sensitive: routes on-prem
CLEAN = "Name three primary colours."  # routes to the external backend
PII = "Write to Maria Gonzalez at maria.gonzalez@example.com about the invoice."  # scrubbed, external
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a term up.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    }
]


@dataclass
class GatewayUnderTest:
    url: str
    gw: Gateway

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=US_KEY, max_retries=0)


@contextmanager
def gateway_over(
    tmp_path: Path,
    engine: DetectionEngine,
    *,
    onprem: list[dict[str, Any]] | None = None,
    external: list[dict[str, Any]] | None = None,
) -> Iterator[GatewayUnderTest]:
    settings = load_settings(
        None,
        server={"detection_timeout_s": 5.0},
        audit={"sqlite_path": str(tmp_path / "audit.db")},
        backends={"onprem": onprem or [], "external": external or []},
        model_map={"gpt-4o": "llama-3.1-8b"},
        api_keys=[{"key_sha256": sha(US_KEY), "service": "svc", "tenant": "acme", "jurisdiction": "US"}],
    )
    gw = Gateway.from_settings(settings, detector=engine)
    with ServerThread(create_app(gw)) as srv:
        yield GatewayUnderTest(srv.url, gw)


def posts(sim: RunningSimulator) -> list[dict[str, Any]]:
    """What reached the simulator: recorded POST requests (path, headers, body)."""
    return [r for r in sim.records() if r["method"] == "POST"]
