"""The tenant objects that `make render` wrote for the local stack (a real `pulumi up` in render
mode) enforced by a real API server and scheduler: GPU quota, GPU placement, container defaults.

The objects are applied with kubectl, not by `pulumi up` against the cluster (that needs the
platform images, which come with `make up`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from infra.config import parse
from tests.support.cluster import TOOL_IMAGE, kubectl, nodes, wait_for
from tests.support.stacks import stack_values

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = Path(os.environ.get("MLOPS_RENDER_DIR", ROOT / "build" / "render")) / "local" / "manifests"
TENANT_KINDS = {"Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "RoleBinding"}
RESTRICTED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
              "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}


@pytest.fixture(scope="module")
def tenant():
    """Applies the rendered tenant objects; yields the first tenant with a GPU quota."""
    cfg = parse(*stack_values("local"))
    namespaces = {t.namespace for t in cfg.tenancy.tenants}
    objects = []
    for path in sorted(MANIFESTS.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] in TENANT_KINDS and namespaces & {doc["metadata"].get("namespace"), doc["metadata"]["name"]}:
                objects.append(doc)
    assert objects, f"no rendered tenant objects under {MANIFESTS}: run `make render`"
    for first in (True, False):  # namespaces before what lives in them
        batch = [o for o in objects if (o["kind"] == "Namespace") == first]
        kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": batch}))
    chosen = next(t for t in cfg.tenancy.tenants if t.quota.gpu > 0)
    yield chosen
    for namespace in namespaces:
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def gpu_pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "main", "image": TOOL_IMAGE, "imagePullPolicy": "Never", "command": ["sleep", "300"],
                        "securityContext": RESTRICTED,
                        "resources": {"limits": {"nvidia.com/gpu": "1", "cpu": "100m", "memory": "64Mi"}}}]}}


def allowed_gpus(tenant) -> int:
    """The GPUs the tenant's rendered ResourceQuota allows (with queueing: its quota plus its
    borrowing limit; Kueue, not deployed here, holds it to its quota)."""
    for path in sorted(MANIFESTS.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "ResourceQuota" and doc["metadata"].get("namespace") == tenant.namespace:
                return int(doc["spec"]["hard"]["requests.nvidia.com/gpu"])
    raise AssertionError(f"no rendered ResourceQuota for {tenant.namespace} under {MANIFESTS}")


def test_gpu_pod_lands_on_the_gpu_node_and_quota_refuses_one_more(tenant):
    allowed = allowed_gpus(tenant)
    gpu_nodes = [n["metadata"]["name"] for n in nodes() if "nvidia.com/gpu" in n["status"].get("allocatable", {})]
    assert gpu_nodes, "the cluster advertises no nvidia.com/gpu: create it with MLOPS_FAKE_GPUS=N (make cluster-check does)"
    assert allowed >= tenant.quota.gpu >= 1, f"the rendered quota allows {allowed} GPUs, the tenant's quota is {tenant.quota.gpu}"
    for i in range(1, allowed + 1):
        kubectl("apply", "-n", tenant.namespace, "-f", "-", stdin=json.dumps(gpu_pod(f"gpu-{i}")))

    def placed():
        node = kubectl("get", "pod", "-n", tenant.namespace, "gpu-1", "-o", "jsonpath={.spec.nodeName}", check=False)
        return bool(node), node
    node = wait_for("the GPU pod to be scheduled", placed, timeout=120)
    assert node in gpu_nodes, f"GPU pod placed on {node}, which advertises no GPU ({gpu_nodes} do)"

    refused = kubectl("apply", "-n", tenant.namespace, "-f", "-", stdin=json.dumps(gpu_pod(f"gpu-{allowed + 1}")),
                      check=False, capture_stderr=True)
    assert "exceeded quota" in refused, refused
    assert "tenant-quota" in refused, f"the refusal names the tenant's quota: {refused}"
    assert "requests.nvidia.com/gpu" in refused, refused


def test_pods_without_resources_get_the_tenant_defaults(tenant):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "defaults"}, "spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "main", "image": TOOL_IMAGE, "imagePullPolicy": "Never", "command": ["true"],
                        "securityContext": RESTRICTED}]}}
    kubectl("apply", "-n", tenant.namespace, "-f", "-", stdin=json.dumps(pod))
    resources = json.loads(kubectl("get", "pod", "-n", tenant.namespace, "defaults", "-o",
                                   "jsonpath={.spec.containers[0].resources}"))
    assert resources["requests"]["cpu"], f"LimitRange default requests applied: {resources}"
    assert resources["limits"]["memory"], f"LimitRange default limits applied: {resources}"


def test_pod_security_refuses_a_privileged_pod_and_warns_about_a_root_pod(tenant):
    """A pipelines namespace enforces `baseline` (KFP's launcher init container sets no security
    context) and warns at `restricted`: a privileged pod is refused, a root pod admitted with a
    warning (server-side dry run: nothing is created)."""
    container = {"name": "main", "image": TOOL_IMAGE, "imagePullPolicy": "Never", "command": ["true"]}
    privileged = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "privileged"}, "spec": {
        "containers": [{**container, "securityContext": {"privileged": True}}]}}
    refused = kubectl("apply", "--dry-run=server", "-n", tenant.namespace, "-f", "-", stdin=json.dumps(privileged),
                      check=False, capture_stderr=True)
    assert "violates PodSecurity" in refused, refused
    assert '"baseline:latest"' in refused, refused
    root = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root"}, "spec": {"containers": [container]}}
    warned = kubectl("apply", "--dry-run=server", "-n", tenant.namespace, "-f", "-", stdin=json.dumps(root),
                     capture_stderr=True)
    assert 'would violate PodSecurity "restricted:latest"' in warned, warned
