"""Configuration: the shipped example is valid, and errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from privacy_router.config import load_settings
from privacy_router.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_the_commented_example_config_is_valid() -> None:
    settings = load_settings(ROOT / "privacy-router.example.yaml")
    onprem = [b.name for b in settings.backends.onprem]
    assert onprem[0] == "vllm-a" and {"tgi-a", "trt-a"} <= set(onprem)
    assert settings.model_map["gpt-4o"] == "llama-3.1-8b"
    assert settings.principal_for_key("secret") is not None


def test_the_example_config_shows_every_backend_kind() -> None:
    from privacy_router.upstream.registry import BACKEND_KINDS

    settings = load_settings(ROOT / "privacy-router.example.yaml")
    kinds = {b.kind for b in (*settings.backends.onprem, *settings.backends.external)}
    assert kinds == set(BACKEND_KINDS)
    bedrock = next(b for b in settings.backends.external if b.kind == "bedrock")
    assert bedrock.signing_region() == "us-east-1"


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        pytest.param("server:\n  port: 0\n", "server.port", id="port-range"),
        pytest.param(
            "backends:\n  onprem:\n    - {name: a, url: ftp://x, region: r}\n",
            "backends.onprem.0.url",
            id="url",
        ),
        pytest.param(
            "api_keys:\n  - {key_sha256: abc, service: s, tenant: t}\n", "api_keys.0.key_sha256", id="hash"
        ),
        pytest.param("detecton: {}\n", "detecton", id="typo"),
        pytest.param(
            "backends:\n  external:\n    - {name: b, kind: bedrock, url: http://x, region: us}\n",
            "backends.external.0",
            id="bedrock-without-region",
        ),
    ],
)
def test_errors_name_the_key(tmp_path: Path, yaml_text: str, key: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert f"'{key}'" in err.value.message


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  port: 9000\n")
    monkeypatch.setenv("PRIVACY_ROUTER_SERVER__PORT", "9100")
    assert load_settings(path).server.port == 9100
