"""An in-process gateway on a real socket in front of two simulator processes (vLLM on-prem,
OpenAI-compatible external), so tests drive it with the real SDKs and can read its audit log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from privacy_router.app import create_app
from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.gateway import Gateway
from privacy_router.testing import RunningSimulator, ServerThread
from tests.conftest import audit_record
from tests.integration.conftest import US_KEY, sha

CLEAN = "Name three primary colours."
# Personal data a US tenant may send out scrubbed (the default policy): two placeholders.
PII = "Write to Maria Gonzalez at maria.gonzalez@example.com about the invoice."
PHI = "Patient MRN 00482913 was admitted with chest pain."


CLAUDE = "claude-opus-4-8"


@dataclass
class Sims:
    onprem: RunningSimulator
    external: RunningSimulator
    anthropic: RunningSimulator


@pytest.fixture(scope="session")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sims]:
    tmp = tmp_path_factory.mktemp("api-sims")
    with (
        RunningSimulator("vllm", record_path=tmp / "onprem.jsonl") as onprem,
        RunningSimulator("openai", record_path=tmp / "external.jsonl") as external,
        RunningSimulator("anthropic", record_path=tmp / "anthropic.jsonl") as anthropic,
    ):
        yield Sims(onprem, external, anthropic)


_OPEN_CLIENTS: list[Any] = []


def sdk(cls: Any, **kwargs: Any) -> Any:
    """An SDK client (``openai.OpenAI``, ``anthropic.Anthropic``) without retries, closed when the
    test ends: an unclosed connection pool surfaces later as a ResourceWarning (an error here)."""
    client = cls(max_retries=0, **kwargs)
    _OPEN_CLIENTS.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    yield
    while _OPEN_CLIENTS:
        _OPEN_CLIENTS.pop().close()


@dataclass
class Running:
    url: str
    gw: Gateway
    audit_db: Path

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def completion(self, request_id: str, wait_s: float = 10.0) -> dict[str, Any]:
        """The completion record of ``request_id`` (waits for a stream's, see ``audit_record``)."""
        return audit_record(self.audit_db, request_id, "completion", wait_s)


def settings_for(
    tmp_path: Path, onprem: list[dict[str, Any]], external: list[dict[str, Any]], **server: Any
) -> Any:
    return load_settings(
        None,
        server={"detection_timeout_s": 5.0, **server},
        audit={"sqlite_path": str(tmp_path / "audit.db")},
        backends={"onprem": onprem, "external": external},
        model_map={"gpt-4o": "llama-3.1-8b"},
        api_keys=[{"key_sha256": sha(US_KEY), "service": "svc", "tenant": "acme", "jurisdiction": "US"}],
    )


@contextmanager
def running_gateway(
    tmp_path: Path,
    engine: DetectionEngine,
    onprem_url: str,
    external_url: str,
    external_kind: str = "openai",
    **server: Any,
) -> Iterator[Running]:
    external = (
        {"name": "openai", "url": external_url, "region": "us", "models": ["gpt-4o"]}
        if external_kind == "openai"
        else {
            "name": "anthropic",
            "kind": "anthropic",
            "url": external_url,
            "region": "us",
            "models": [CLAUDE],
        }
    )
    settings = settings_for(
        tmp_path,
        [{"name": "vllm-a", "url": onprem_url, "region": "us-east", "models": ["llama-3.1-8b"]}],
        [external],
        **server,
    )
    gw = Gateway.from_settings(settings, detector=engine)
    with ServerThread(create_app(gw)) as srv:
        yield Running(srv.url, gw, tmp_path / "audit.db")


@pytest.fixture
def gateway(tmp_path: Path, detection_engine: DetectionEngine, sims: Sims) -> Iterator[Running]:
    with running_gateway(tmp_path, detection_engine, sims.onprem.url, sims.external.url) as running:
        yield running


@pytest.fixture
def anthropic_gateway(tmp_path: Path, detection_engine: DetectionEngine, sims: Sims) -> Iterator[Running]:
    """External backend of kind ``anthropic`` (the anthropic-flavored simulator)."""
    with running_gateway(
        tmp_path, detection_engine, sims.onprem.url, sims.anthropic.url, external_kind="anthropic"
    ) as running:
        yield running
