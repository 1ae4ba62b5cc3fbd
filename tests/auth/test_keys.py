"""API keys: hashed lookup, roles, and a keys file reloaded without a restart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from privacy_router.auth.keys import KeyStore, hash_key, parse_keys_file
from privacy_router.config import ApiKeySettings
from privacy_router.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def entry(key: str, tenant: str = "acme", roles: tuple[str, ...] = ("client",)) -> dict[str, object]:
    return {"key_sha256": hash_key(key), "service": "svc", "tenant": tenant, "roles": list(roles)}


def write(path: Path, entries: list[dict[str, object]], mtime_ns: int) -> None:
    path.write_text(yaml.safe_dump(entries))
    # Explicit mtimes: a test must not depend on the file system's timestamp granularity.
    os.utime(path, ns=(mtime_ns, mtime_ns))


def reload_count(result: str) -> float:
    value = REGISTRY.get_sample_value("privacy_router_auth_keys_reload_total", {"result": result})
    return value or 0.0


def test_hash_key_is_the_hex_sha256_the_cli_prints() -> None:
    assert hash_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_config_key_maps_to_its_principal_and_unknown_key_to_none() -> None:
    store = KeyStore([ApiKeySettings(**entry("k1", tenant="t1", roles=("compliance",)))])  # type: ignore[arg-type]
    p = store.lookup("k1")
    assert p is not None
    assert (p.tenant, p.roles, p.key_id) == ("t1", ("compliance",), hash_key("k1")[:12])
    assert store.lookup("k2") is None


def test_key_added_to_the_file_is_accepted_after_the_check_interval(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "keys.yaml"
    write(path, [entry("old")], 1_000_000_000)
    store = KeyStore([], path, reload_interval_s=1.0, clock=clock)
    assert store.lookup("new") is None
    write(path, [entry("old"), entry("new", tenant="t2")], 2_000_000_000)
    clock.now += 0.5  # inside the interval: the file is not even stat'ed
    assert store.lookup("new") is None
    clock.now += 0.6
    p = store.lookup("new")
    assert p is not None and p.tenant == "t2"


def test_key_removed_from_the_file_is_revoked(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "keys.yaml"
    write(path, [entry("a"), entry("b")], 1_000_000_000)
    store = KeyStore([], path, reload_interval_s=1.0, clock=clock)
    assert store.lookup("b") is not None
    write(path, [entry("a")], 2_000_000_000)
    clock.now += 1.0
    assert store.lookup("b") is None
    assert store.lookup("a") is not None


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("- key_sha256: nothex\n  service: s\n  tenant: t\n", id="bad-digest"),
        pytest.param("- [unclosed\n", id="not-yaml"),
        pytest.param("just a string\n", id="not-a-list"),
        pytest.param(
            yaml.safe_dump([{**entry("a"), "roles": ["root"]}]),
            id="unknown-role",
        ),
        pytest.param(yaml.safe_dump([entry("a"), entry("a")]), id="duplicate-digest"),
    ],
)
def test_invalid_file_keeps_the_previous_keys_and_counts_the_failure(tmp_path: Path, content: str) -> None:
    clock = Clock()
    path = tmp_path / "keys.yaml"
    write(path, [entry("good")], 1_000_000_000)
    store = KeyStore([], path, reload_interval_s=1.0, clock=clock)
    before = reload_count("error")
    path.write_text(content)
    os.utime(path, ns=(2_000_000_000, 2_000_000_000))
    clock.now += 1.0
    assert store.lookup("good") is not None
    assert reload_count("error") == before + 1
    clock.now += 1.0  # the same bad file is not re-reported every second
    assert store.lookup("good") is not None
    assert reload_count("error") == before + 1


def test_deleted_file_keeps_the_previous_keys(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "keys.yaml"
    write(path, [entry("good")], 1_000_000_000)
    store = KeyStore([], path, reload_interval_s=1.0, clock=clock)
    path.unlink()
    clock.now += 1.0
    assert store.lookup("good") is not None


def test_missing_keys_file_at_start_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        KeyStore([], tmp_path / "absent.yaml")
    assert "auth.keys_file" in err.value.message


def test_reload_failure_message_names_fields_never_values() -> None:
    secretish = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeX"
    with pytest.raises(ValueError) as err:
        parse_keys_file(yaml.safe_dump([{"key_sha256": secretish, "service": "s", "tenant": "t"}]))
    assert str(err.value) == (
        "invalid entries: 0.key_sha256: Value error, must be the 64-character hex SHA-256 of the key"
    )


def test_file_accepts_a_mapping_with_api_keys() -> None:
    entries = parse_keys_file(yaml.safe_dump({"api_keys": [entry("a", tenant="t9")]}))
    assert [(e.key_sha256, e.tenant) for e in entries] == [(hash_key("a"), "t9")]
