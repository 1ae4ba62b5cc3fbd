"""deploy/compose: the structural checks of `docker compose config`, offline."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import yaml

from privacy_router.config import load_settings

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose"


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())


def test_compose_file_has_no_structural_problems(validate: ModuleType) -> None:
    assert validate.compose_problems() == []


def test_compose_check_reports_broken_references(validate: ModuleType, tmp_path: Path) -> None:
    """The check can fail: unknown dependency, undeclared volume, missing file, unpinned image."""
    (tmp_path / ".env.example").write_text("KNOWN=1\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  a:\n"
        "    image: postgres\n"
        "    depends_on: {b: {condition: service_started}}\n"
        "    volumes: [data:/x, ./missing.yaml:/y]\n"
        "    environment: {X: '${UNKNOWN:?set it}', Y: '${KNOWN}'}\n"
    )
    assert validate.compose_problems(tmp_path / "compose.yaml") == [
        "variable UNKNOWN is used but not listed in .env.example",
        "a: image 'postgres' has no pinned tag",
        "a: depends_on unknown service 'b'",
        "a: named volume 'data' is not declared",
        "a: bind mount source ./missing.yaml does not exist",
    ]


def test_cpu_trial_has_two_gateways_postgres_opa_and_both_simulators() -> None:
    services = _compose()["services"]
    default = sorted(n for n, s in services.items() if "profiles" not in s)
    assert default == [
        "audit-migrate",
        "external-sim",
        "gateway-1",
        "gateway-2",
        "opa",
        "postgres",
        "vllm-sim",
    ]
    sims = {n: services[n]["command"][:2] for n in ("vllm-sim", "external-sim")}
    assert sims == {"vllm-sim": ["--flavor", "vllm"], "external-sim": ["--flavor", "openai"]}
    assert services["gateway-1"]["read_only"] is True
    assert services["gateway-2"]["depends_on"]["audit-migrate"] == {
        "condition": "service_completed_successfully"
    }


def test_gpu_profile_runs_vllm_with_tool_calling_and_a_health_check() -> None:
    vllm = _compose()["services"]["vllm"]
    assert vllm["profiles"] == ["gpu"]
    assert vllm["image"] == "vllm/vllm-openai:v0.10.1.1"
    assert vllm["command"][4:7] == ["--enable-auto-tool-choice", "--tool-call-parser", "llama3_json"]
    assert "/health" in vllm["healthcheck"]["test"][-1]


@pytest.mark.parametrize(
    ("config", "onprem_url"),
    [
        ("privacy-router.yaml", "http://vllm-sim:8001/v1"),
        ("privacy-router.gpu.yaml", "http://vllm:8000/v1"),
    ],
    ids=["cpu-trial", "gpu-profile"],
)
def test_compose_router_configs_load(config: str, onprem_url: str) -> None:
    settings = load_settings(COMPOSE / config, audit={"pg_dsn": "postgresql://r@postgres/audit"})
    assert [b.url for b in settings.backends.onprem] == [onprem_url]
    assert (settings.policy.opa_url, settings.audit.store) == ("http://opa:8181", "postgresql")
