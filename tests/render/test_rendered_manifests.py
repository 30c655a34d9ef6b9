"""Checks every object that a real `pulumi up` in render mode wrote (make render).

The manifests come from the Pulumi engine, the built Kubernetes provider and the project's
program and chart together; nothing here is mocked."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import yaml

from infra.config import parse
from tests.unit.test_config import stack_values

pytestmark = pytest.mark.render
ROOT = Path(__file__).resolve().parents[2]
RENDER_DIR = Path(os.environ.get("MLOPS_RENDER_DIR", ROOT / "build" / "render"))
STACKS = ("local", "university")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}
REGISTRY = {"local": "mlops.local/", "university": "registry.ml.example.edu/"}


def load(stack: str) -> list[dict]:
    manifests = RENDER_DIR / stack / "manifests"
    files = sorted(manifests.rglob("*.yaml"))
    assert files, f"no rendered manifests in {manifests}: run `make render` (part of `make test`)"
    objects = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                doc["_file"] = str(path.relative_to(manifests))
                objects.append(doc)
    return objects


@pytest.fixture(scope="module", params=STACKS)
def rendered(request):
    return request.param, load(request.param)


def pod_spec(obj: dict) -> dict:
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def all_containers(obj: dict) -> list[dict]:
    spec = pod_spec(obj)
    return spec.get("initContainers", []) + spec["containers"]


def name_of(obj: dict) -> str:
    return f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata'].get('name', '?')} ({obj['_file']})"


def test_expected_objects_are_rendered(rendered):
    stack, objects = rendered
    kinds = {}
    for obj in objects:
        kinds.setdefault(obj["kind"], []).append(obj["metadata"].get("name"))
    cfg = parse(*stack_values(stack))
    assert set(kinds["Namespace"]) == {cfg.object_store.namespace, cfg.mlflow.namespace}
    assert "object-store" in kinds["StatefulSet"]
    assert "mlflow" in kinds["Deployment"]
    assert any(name.startswith("object-store-buckets") for name in kinds["Job"]), "bucket-creation Job rendered"
    assert len(kinds["NetworkPolicy"]) >= 3
    has_postgres = any("postgres" in name for name in kinds["StatefulSet"])
    assert has_postgres == (cfg.mlflow.database.mode == "inCluster"), "in-cluster PostgreSQL only for mode inCluster"
    if cfg.mlflow.ingress_host:
        hosts = [rule["host"] for ing in objects if ing["kind"] == "Ingress" for rule in ing["spec"]["rules"]]
        assert hosts == [cfg.mlflow.ingress_host]


def test_namespaced_objects_live_in_platform_namespaces(rendered):
    stack, objects = rendered
    cfg = parse(*stack_values(stack))
    allowed = {cfg.object_store.namespace, cfg.mlflow.namespace}
    for obj in objects:
        if obj["kind"] in {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass"}:
            continue
        assert obj["metadata"].get("namespace") in allowed, f"{name_of(obj)} is outside the platform namespaces"


def test_no_secret_value_outside_secret_objects(rendered):
    _, objects = rendered
    values = []
    for obj in objects:
        if obj["kind"] != "Secret":
            continue
        values += [v for v in (obj.get("stringData") or {}).values()]
        values += [base64.b64decode(v).decode() for v in (obj.get("data") or {}).values()]
    values = [v for v in values if len(v) >= 12]
    assert values, "the rendered Secrets carry generated passwords"
    for obj in objects:
        if obj["kind"] == "Secret":
            continue
        text = yaml.safe_dump(obj)
        for value in values:
            for line in value.splitlines():
                if len(line) >= 12 and "password" not in line.lower():
                    assert line not in text, f"{name_of(obj)} contains a value of a Secret in plain text"


def test_images_follow_the_registry_override(rendered):
    stack, objects = rendered
    workloads = [obj for obj in objects if obj["kind"] in WORKLOAD_KINDS]
    assert workloads
    for obj in workloads:
        for container in all_containers(obj):
            assert container["image"].startswith(REGISTRY[stack]), f"{name_of(obj)} runs {container['image']}"


def test_every_workload_has_requests_limits_and_runs_as_non_root(rendered):
    _, objects = rendered
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        spec = pod_spec(obj)
        for container in all_containers(obj):
            resources = container.get("resources", {})
            where = f"{name_of(obj)} container {container['name']}"
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{where} lacks cpu/memory requests"
            assert {"cpu", "memory"} <= set(resources.get("limits", {})), f"{where} lacks cpu/memory limits"
            non_root = container.get("securityContext", {}).get("runAsNonRoot", spec.get("securityContext", {}).get("runAsNonRoot"))
            assert non_root is True, f"{where} may run as root"
            assert container.get("securityContext", {}).get("allowPrivilegeEscalation") is False, f"{where} allows escalation"


def test_secrets_are_referenced_not_inlined_in_env(rendered):
    _, objects = rendered
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        for container in all_containers(obj):
            for env in container.get("env", []):
                if any(word in env["name"].upper() for word in ("PASSWORD", "SECRET", "DSN")):
                    assert "valueFrom" in env, f"{name_of(obj)} sets {env['name']} inline"
