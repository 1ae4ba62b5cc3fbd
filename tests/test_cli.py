"""`privacy-router` as a user runs it: the real entry point in a subprocess."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "privacy_router"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_detect_speaks_the_jsonl_interface() -> None:
    lines = [
        {"id": "a", "text": "Patient MRN 00482913 called."},
        {"id": 7, "text": "Explain how photosynthesis works in two sentences."},
    ]
    out = run("detect", stdin="\n".join(json.dumps(x) for x in lines) + "\n")
    assert out.returncode == 0, out.stderr
    got = [json.loads(line) for line in out.stdout.splitlines()]
    assert [g["id"] for g in got] == ["a", 7]
    assert set(got[0]) == {"id", "entities", "sensitive"}
    mrn = [e for e in got[0]["entities"] if e["type"] == "MEDICAL_RECORD_NUMBER"]
    assert len(mrn) == 1
    assert lines[0]["text"][mrn[0]["start"] : mrn[0]["end"]].endswith("00482913")
    assert set(mrn[0]) == {"type", "start", "end", "score"}
    assert got[0]["sensitive"] is True
    assert got[1] == {"id": 7, "entities": [], "sensitive": False}


def test_serve_refuses_to_start_without_keys(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"audit: {{sqlite_path: {tmp_path / 'a.db'}}}\n")
    out = run("serve", "--config", str(config))
    assert out.returncode == 2
    assert "no API keys configured" in out.stderr


def test_serve_rejects_an_unknown_config_key_by_name(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("server:\n  prot: 8080\n")
    out = run("serve", "--config", str(config))
    assert out.returncode == 2
    assert "server.prot" in out.stderr


def test_keys_hash_prints_sha256() -> None:
    out = run("keys", "hash", "secret")
    assert out.stdout.strip() == hashlib.sha256(b"secret").hexdigest()


def test_policy_eval_prints_the_decision(tmp_path: Path) -> None:
    policy_input = {
        "principal": {"service": "s", "tenant": "t", "jurisdiction": "US", "roles": ["client"]},
        "request": {
            "endpoint": "chat.completions",
            "model": "gpt-4o",
            "stream": False,
            "unscannable_parts": 0,
            "declared_classification": None,
        },
        "detection": {
            "status": "ok",
            "categories": ["PHI"],
            "entities": [
                {
                    "type": "MEDICAL_RECORD_NUMBER",
                    "count": 1,
                    "max_score": 0.9,
                    "fields": ["messages[0].content"],
                }
            ],
        },
        "backends": {
            "onprem": [{"name": "vllm-a", "region": "us-east", "healthy": True, "models": ["llama"]}],
            "external": [{"name": "openai", "region": "us", "zero_data_retention": True, "healthy": True}],
        },
    }
    path = tmp_path / "input.json"
    path.write_text(json.dumps(policy_input))
    out = run("policy", "eval", "--input", str(path))
    assert out.returncode == 0, out.stderr
    decision = json.loads(out.stdout)
    assert (decision["action"], decision["backend"]) == ("onprem", "vllm-a")
