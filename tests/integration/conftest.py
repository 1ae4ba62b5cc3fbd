"""The whole product over real sockets: two upstream simulators and the gateway as a subprocess."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from privacy_router.config import Settings, load_settings
from privacy_router.testing import RunningGateway, RunningSimulator

US_KEY = "test-key-us"
EU_KEY = "test-key-eu"
COMPLIANCE_KEY = "test-key-compliance"


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class Stack:
    gateway: RunningGateway
    onprem: RunningSimulator
    external: RunningSimulator
    audit_db: Path
    config: Path
    log_path: Path

    @property
    def url(self) -> str:
        return self.gateway.url

    def external_bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.external.records() if r["method"] == "POST"]

    def onprem_bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.onprem.records() if r["method"] == "POST"]

    def external_text(self) -> str:
        return "\n".join(json.dumps(b, ensure_ascii=False) for b in self.external_bodies())


def gateway_settings(tmp_path: Path, onprem_url: str, external_url: str, **sections: Any) -> Settings:
    """In-process gateway settings: one on-prem vLLM and one external OpenAI simulator, a SQLite audit
    log in ``tmp_path``, one US key (tenant "acme"); ``sections`` add or replace settings sections."""
    return load_settings(
        None,
        audit={"sqlite_path": str(tmp_path / "audit.db")},
        backends={
            "onprem": [
                {"name": "vllm-a", "url": onprem_url, "region": "us-east", "models": ["llama-3.1-8b"]}
            ],
            "external": [{"name": "openai", "url": external_url, "region": "us", "models": ["gpt-4o"]}],
        },
        api_keys=[{"key_sha256": sha(US_KEY), "service": "svc", "tenant": "acme", "jurisdiction": "US"}],
        **sections,
    )


def write_config(path: Path, onprem_url: str, external_url: str, audit_db: Path, **extra: Any) -> Path:
    config: dict[str, Any] = {
        "audit": {"sqlite_path": str(audit_db)},
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
                    "api_key_env": "TEST_EXTERNAL_KEY",
                    "zero_data_retention": True,
                }
            ],
        },
        "model_map": {"gpt-4o": "llama-3.1-8b"},
        "api_keys": [
            {
                "key_sha256": sha(US_KEY),
                "service": "claims-bot",
                "tenant": "acme-health",
                "jurisdiction": "US",
            },
            {"key_sha256": sha(EU_KEY), "service": "portal", "tenant": "euro-clinic", "jurisdiction": "DE"},
            {
                "key_sha256": sha(COMPLIANCE_KEY),
                "service": "console",
                "tenant": "acme-health",
                "jurisdiction": "US",
                "roles": ["compliance"],
            },
        ],
        **extra,
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    with (
        RunningSimulator("vllm", record_path=tmp / "onprem.jsonl") as onprem,
        RunningSimulator("openai", record_path=tmp / "external.jsonl") as external,
    ):
        audit_db = tmp / "audit.db"
        config = write_config(tmp / "config.yaml", onprem.url, external.url, audit_db)
        with RunningGateway(
            config, env={"TEST_EXTERNAL_KEY": "sk-backend-own-key"}, log_path=tmp / "gateway.log"
        ) as gw:
            yield Stack(gw, onprem, external, audit_db, config, tmp / "gateway.log")
