"""``kill -HUP`` re-reads the API keys file at once (signals.py), in a real ``privacy-router serve``
process; with a check interval of a day, only the signal can have made the new key work."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import yaml

from privacy_router.auth.keys import hash_key
from privacy_router.testing import RunningGateway

ONPREM = "http://127.0.0.1:9/v1"  # never called: /v1/models answers from the configuration


def entry(key: str) -> dict[str, object]:
    return {"key_sha256": hash_key(key), "service": "svc", "tenant": "acme", "roles": ["client"]}


def models_status(gw: RunningGateway, key: str) -> int:
    r = httpx.get(f"{gw.url}/v1/models", headers={"authorization": f"Bearer {key}"}, timeout=10)
    return r.status_code


def test_sighup_reloads_the_keys_file_without_a_restart(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(yaml.safe_dump([entry("old-key-1")]))
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "audit": {"sqlite_path": str(tmp_path / "audit.db")},
                "backends": {
                    "onprem": [{"name": "vllm-a", "url": ONPREM, "region": "us-east", "models": ["m"]}],
                    "external": [],
                },
                "auth": {"keys_file": str(keys), "reload_interval_s": 86400},
            }
        )
    )
    with RunningGateway(config, log_path=tmp_path / "gateway.log") as gw:
        assert gw.proc is not None
        assert models_status(gw, "old-key-1") == 200
        keys.write_text(yaml.safe_dump([entry("new-key-2")]))  # rotate: add the new key, revoke the old
        assert models_status(gw, "new-key-2") == 401  # the day-long interval has not passed
        gw.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while models_status(gw, "new-key-2") != 200:
            assert time.monotonic() < deadline, "the keys file was not re-read after SIGHUP"
            time.sleep(0.1)
        assert models_status(gw, "old-key-1") == 401
        assert gw.proc.poll() is None  # SIGHUP's default action (exit) was replaced
    assert "keys_file_reloaded" in (tmp_path / "gateway.log").read_text()
