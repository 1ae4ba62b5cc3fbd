"""deploy/k8s: every kustomization renders and every object passes the Kubernetes schemas."""

from __future__ import annotations

import copy
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml

from privacy_router.config import load_settings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"

BASE_OBJECTS = [
    ("ConfigMap", "opa-config"),
    ("ConfigMap", "privacy-router-config"),
    ("CronJob", "privacy-router-audit-checkpoint"),
    ("Deployment", "privacy-router"),
    ("Deployment", "vllm"),
    ("HorizontalPodAutoscaler", "privacy-router"),
    ("NetworkPolicy", "privacy-router"),
    ("NetworkPolicy", "privacy-router-audit-checkpoint"),
    ("NetworkPolicy", "vllm"),
    ("PersistentVolumeClaim", "vllm-model-cache"),
    ("PodDisruptionBudget", "privacy-router"),
    ("Secret", "opa-bundle-verification"),
    ("Secret", "privacy-router-secrets"),
    ("Service", "privacy-router"),
    ("Service", "vllm"),
    ("ServiceAccount", "privacy-router"),
]


def _by_kind(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("rel", ["k8s/base", "k8s/overlays/staging", "k8s/overlays/production"])
def test_every_kustomization_renders_the_same_objects(validate: ModuleType, rel: str) -> None:
    objects = validate.render(validate.DEPLOY / rel)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == BASE_OBJECTS


def test_every_rendered_manifest_passes_strict_schema_validation(validate: ModuleType) -> None:
    assert validate.manifest_problems() == []


def test_strict_validation_rejects_an_unknown_field(validate: ModuleType) -> None:
    """The check can fail: a misspelt probe field is an error, not silently dropped."""
    deploy = copy.deepcopy(_by_kind(validate.render(K8S / "base"), "Deployment", "privacy-router"))
    probe = deploy["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["httpGett"] = probe.pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError) as info:
        kubernetes_validate.validate(deploy, validate.K8S_VERSION, strict=True)
    assert "httpGett" in info.value.message


def test_render_refuses_a_kustomization_field_it_does_not_implement(
    validate: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "resources: []\nconfigMapGenerator:\n  - name: x\n    literals: [a=b]\n"
    )
    with pytest.raises(validate.RenderError) as info:
        validate.render(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'kustomization.yaml'}: fields not implemented by deploy/validate.py: "
        "['configMapGenerator']"
    )


def test_a_patch_whose_target_does_not_exist_is_an_error(validate: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        f"resources: [{K8S / 'base'}]\npatches:\n  - target: {{kind: Deployment, name: nope}}\n"
        "    patch: '[{op: replace, path: /spec/replicas, value: 1}]'\n"
    )
    with pytest.raises(validate.RenderError) as info:
        validate.render(tmp_path)
    assert "patch target {'kind': 'Deployment', 'name': 'nope'} matches no object" in str(info.value)


def test_production_overlay_sets_namespace_image_replicas_and_database_range(validate: ModuleType) -> None:
    objects = validate.render(K8S / "overlays" / "production")
    deploy = _by_kind(objects, "Deployment", "privacy-router")
    hpa = _by_kind(objects, "HorizontalPodAutoscaler", "privacy-router")
    netpol = _by_kind(objects, "NetworkPolicy", "privacy-router")
    images = [c["image"] for c in deploy["spec"]["template"]["spec"]["containers"]]
    assert {o["metadata"]["namespace"] for o in objects} == {"privacy-router"}
    assert images == ["registry.example.internal/privacy-router:0.1.0", "openpolicyagent/opa:1.10.1-static"]
    assert (deploy["spec"]["replicas"], hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 3, 30)
    assert netpol["spec"]["egress"][1]["to"][0]["ipBlock"]["cidr"] == "10.20.30.0/24"


def test_staging_overlay_uses_the_release_candidate_image(validate: ModuleType) -> None:
    objects = validate.render(K8S / "overlays" / "staging")
    cron = _by_kind(objects, "CronJob", "privacy-router-audit-checkpoint")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["image"] for c in pod["initContainers"]] == [
        "registry.example.internal/privacy-router:0.1.0-rc1"
    ]
    assert {o["metadata"]["namespace"] for o in objects} == {"privacy-router-staging"}


def test_gateway_probes_resources_and_security_context(validate: ModuleType) -> None:
    deploy = _by_kind(validate.render(K8S / "base"), "Deployment", "privacy-router")
    gateway, opa = deploy["spec"]["template"]["spec"]["containers"]
    assert (gateway["name"], opa["name"]) == ("gateway", "opa")
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert gateway["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert deploy["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert opa["args"][-1] == "--config-file=/config/config.yaml"


def test_gateway_network_policy_allows_only_vllm_postgres_dns_and_the_egress_proxy(
    validate: ModuleType,
) -> None:
    netpol = _by_kind(validate.render(K8S / "base"), "NetworkPolicy", "privacy-router")
    allowed = []
    for rule in netpol["spec"]["egress"]:
        (peer,) = rule["to"]
        who = (
            peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
            or peer.get("podSelector", {}).get("matchLabels", {}).get("k8s-app")
            or peer["ipBlock"]["cidr"]
        )
        allowed.append((who, sorted(f"{p['protocol']}/{p['port']}" for p in rule["ports"])))
    assert netpol["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert allowed == [
        ("vllm", ["TCP/8000"]),
        ("10.0.0.0/16", ["TCP/5432"]),
        ("kube-dns", ["TCP/53", "UDP/53"]),
        ("egress-proxy", ["TCP/8080"]),
    ]


def test_vllm_runs_on_gpu_nodes_with_tool_calling_and_no_egress(validate: ModuleType) -> None:
    objects = validate.render(K8S / "base")
    pod = _by_kind(objects, "Deployment", "vllm")["spec"]["template"]["spec"]
    (vllm,) = pod["containers"]
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert vllm["args"][4:7] == ["--enable-auto-tool-choice", "--tool-call-parser", "llama3_json"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "vllm-model-cache"
    assert _by_kind(objects, "NetworkPolicy", "vllm")["spec"]["egress"] == []


def test_checkpoint_cronjob_signs_with_the_router_cli_then_uploads(validate: ModuleType) -> None:
    cron = _by_kind(validate.render(K8S / "base"), "CronJob", "privacy-router-audit-checkpoint")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (checkpoint,) = pod["initContainers"]
    (upload,) = pod["containers"]
    assert checkpoint["command"] == ["privacy-router", "audit", "checkpoint"]
    assert (cron["spec"]["schedule"], cron["spec"]["concurrencyPolicy"]) == ("*/15 * * * *", "Forbid")
    assert upload["image"] == "curlimages/curl:8.16.0"


def test_gateway_config_in_the_configmap_is_a_valid_router_config(validate: ModuleType) -> None:
    cm = _by_kind(validate.render(K8S / "base"), "ConfigMap", "privacy-router-config")
    data = yaml.safe_load(cm["data"]["config.yaml"])
    data["audit"]["pg_dsn"] = "postgresql://r@db/audit"  # from the Secret at run time
    settings = load_settings(None, **data)
    assert (settings.policy.engine, settings.audit.store, str(settings.auth.keys_file)) == (
        "opa",
        "postgresql",
        "/etc/privacy-router/keys/api-keys.yaml",
    )
    assert [b.url for b in settings.backends.onprem] == ["http://vllm:8000/v1"]
