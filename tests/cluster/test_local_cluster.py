"""The local kind cluster (make cluster) works: nodes, system pods, DNS, storage, networking and
the fake-GPU extended resource. Runs against the real cluster in $KUBECONFIG."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
from mlops_components.contract import FAKE_GPU_LABEL

from tests.support.cluster import ROOT, TOOL_IMAGE, kubectl, nodes, wait_for

pytestmark = pytest.mark.e2e


def pinned_kubernetes_version() -> str:
    go_mod = (ROOT / "offline" / "go" / "kubernetes" / "go.mod").read_text()
    match = re.search(r"^\s*(?:require\s+)?k8s\.io/kubernetes\s+(v\S+)", go_mod, re.MULTILINE)
    assert match, "offline/go/kubernetes/go.mod pins no k8s.io/kubernetes version"
    return match.group(1)


@pytest.fixture(scope="module")
def namespace():
    name = f"cluster-test-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_nodes_are_ready_at_the_pinned_version():
    items = nodes()
    assert items, "the cluster has nodes"
    for node in items:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", f"node {node['metadata']['name']} not Ready: {ready.get('message')}"
        assert node["status"]["nodeInfo"]["kubeletVersion"] == pinned_kubernetes_version()


def test_system_pods_are_running():
    def probe():
        pods = json.loads(kubectl("get", "pods", "-n", "kube-system", "-o", "json"))["items"]
        not_running = {p["metadata"]["name"]: p["status"].get("phase") for p in pods if p["status"].get("phase") != "Running"}
        return bool(pods) and not not_running, not_running
    wait_for("kube-system pods Running", probe)
    names = kubectl("get", "pods", "-n", "kube-system", "-o", "jsonpath={.items[*].metadata.name}").split()
    for prefix in ("etcd-", "kube-apiserver-", "kube-controller-manager-", "kube-scheduler-", "kube-proxy-", "coredns-", "cni-agent-"):
        assert any(n.startswith(prefix) for n in names), f"no {prefix}* pod in kube-system: {names}"


def run_pod(namespace: str, name: str, command: str, node: str | None = None, claim: str | None = None,
            limits: dict | None = None) -> None:
    container = {"name": "main", "image": TOOL_IMAGE, "imagePullPolicy": "Never", "command": ["/bin/bash", "-c", command]}
    spec = {"restartPolicy": "Never", "containers": [container]}
    if node:
        spec["nodeName"] = node
    if claim:
        spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
        container["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    if limits:
        container["resources"] = {"limits": limits}
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "Pod",
                                                                    "metadata": {"name": name, "labels": {"app": name}},
                                                                    "spec": spec}))


def pod_phase(namespace: str, name: str) -> str:
    return kubectl("get", "pod", "-n", namespace, name, "-o", "jsonpath={.status.phase}", check=False)


def wait_succeeded(namespace: str, name: str, timeout: int = 180) -> str:
    def probe():
        phase = pod_phase(namespace, name)
        if phase == "Failed":
            status = kubectl("get", "pod", "-n", namespace, name, "-o", "jsonpath={.status.containerStatuses}", check=False)
            raise AssertionError(f"pod {name} failed: {kubectl('logs', '-n', namespace, name, check=False)}\n"
                                 f"container status: {status}")
        return phase == "Succeeded", phase
    wait_for(f"pod {name} to succeed", probe, timeout)
    return kubectl("logs", "-n", namespace, name)


def test_dns_resolves_a_service_name_from_a_pod(namespace):
    # On a cluster made seconds ago CoreDNS may run without being Ready yet (no endpoints behind
    # the DNS Service): wait for it, so that a failure below is DNS's, not the start's.
    kubectl("wait", "-n", "kube-system", "pods", "-l", "k8s-app=kube-dns", "--for=condition=Ready", "--timeout=120s",
            timeout=150)
    run_pod(namespace, "dns", "getent hosts kubernetes.default.svc.cluster.local")
    logs = wait_succeeded(namespace, "dns")
    assert "kubernetes.default.svc.cluster.local" in logs, logs


def test_pvc_binds_through_the_default_storage_class(namespace):
    default = kubectl("get", "storageclass", "-o",
                      "jsonpath={.items[?(@.metadata.annotations.storageclass\\.kubernetes\\.io/is-default-class==\"true\")].metadata.name}")
    assert default.strip() == "standard", f"default StorageClass: {default!r}"
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}}}
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(claim))
    run_pod(namespace, "writer", "echo persisted > /data/file && cat /data/file", claim="data")
    assert "persisted" in wait_succeeded(namespace, "writer")
    phase = kubectl("get", "pvc", "-n", namespace, "data", "-o", "jsonpath={.status.phase}")
    assert phase == "Bound"


def test_pod_reaches_a_service_backed_by_a_pod_on_another_node(namespace):
    names = [n["metadata"]["name"] for n in nodes()]
    if len(names) < 2:
        pytest.skip("LOUD SKIP: single-node cluster; cross-node networking needs MLOPS_WORKERS>=1 (make cluster MLOPS_WORKERS=1)")
    server, client = names[0], names[1]
    run_pod(namespace, "web", "while true; do printf 'HTTP/1.0 200 OK\\r\\n\\r\\nhello-from-%s\\n' $HOSTNAME | nc -l -p 8080 -q 1; done",
            node=server)
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(service))
    # The fully qualified name (trailing dot) never falls through to the host's search domains, and
    # the loop waits for the web pod's own answer: until kube-proxy on the client node has programmed
    # the Service's ClusterIP, a connection can leave the cluster and be answered by whatever sits on
    # the host's network (CI once got a 426 from an intercepting proxy there).
    host = f"web.{namespace}.svc.cluster.local."
    fetch = f"exec 3<>/dev/tcp/{host}/80 && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"
    script = (f"for i in $(seq 45); do out=$( ( {fetch} ) 2>&1 ); "
              "case \"$out\" in *hello-from-web*) echo \"$out\"; exit 0;; esac; "
              "echo \"attempt $i: $out\"; sleep 2; done; exit 1")
    run_pod(namespace, "client", script, node=client)
    logs = wait_succeeded(namespace, "client")
    assert "hello-from-web" in logs, logs


def test_fake_gpu_is_schedulable_when_advertised(namespace):
    gpu_nodes = [n["metadata"]["name"] for n in nodes() if "nvidia.com/gpu" in n["status"].get("allocatable", {})]
    if not gpu_nodes:
        pytest.skip("LOUD SKIP: no node advertises nvidia.com/gpu; create the cluster with MLOPS_FAKE_GPUS=N")
    run_pod(namespace, "gpu", "echo scheduled", limits={"nvidia.com/gpu": "1"})
    wait_succeeded(namespace, "gpu")
    node = kubectl("get", "pod", "-n", namespace, "gpu", "-o", "jsonpath={.spec.nodeName}")
    assert node in gpu_nodes, f"GPU pod ran on {node}, not on a GPU node {gpu_nodes}"
    labels = next(n for n in nodes() if n["metadata"]["name"] == node)["metadata"].get("labels", {})
    assert labels.get(FAKE_GPU_LABEL) == "true", \
        f"kind's advertised GPUs are fake and {node} must say so ({FAKE_GPU_LABEL}=true): {labels}"


def test_a_service_without_endpoints_is_refused_at_once_not_sent_out_of_the_node(namespace):
    """kube-proxy refuses a connection to a Service that has no endpoints; the NetworkPolicy engine
    (kube-router) ACCEPTs allowed traffic before kube-proxy's REJECT can, so without the routing
    rules of its manifest (ansible/roles/control_plane/files/kube-router.yaml) the connection leaves the
    node: it hangs, or something on the host's network answers it (on CI: an HTTP 404)."""
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nobody"},
               "spec": {"selector": {"app": "no-such-pod"}, "ports": [{"port": 8888}]}}
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(service))
    host = f"nobody.{namespace}.svc.cluster.local."
    run_pod(namespace, "no-endpoints", f"getent hosts {host} || exit 3; "
            f"timeout 5 bash -c 'exec 3<>/dev/tcp/{host}/8888' 2>&1; echo \"exit=$?\"")
    logs = wait_succeeded(namespace, "no-endpoints")
    assert "exit=0" not in logs, f"a connection to a Service without endpoints was accepted by something: {logs}"
    assert "exit=124" not in logs, f"a connection to a Service without endpoints hung instead of being refused: {logs}"
    assert "unreachable" in logs.lower() or "refused" in logs.lower(), logs


def _host_cgroup_v1() -> bool:
    # kind's nodes are containers on this host's kernel: they see its cgroup version.
    return Path("/sys/fs/cgroup").exists() and not Path("/sys/fs/cgroup/cgroup.controllers").exists()


def test_the_kubelet_uses_the_cgroup_driver_that_starts_pods_reliably_on_this_host():
    """On a cgroup v1 host runc's systemd driver freezes each new container's cgroup, which fails
    under load ("unable to freeze"); the node image uses cgroupfs there (offline/images/kind-node.sh)."""
    expected = "cgroupfs" if _host_cgroup_v1() else "systemd"
    for node in nodes():
        name = node["metadata"]["name"]
        config = json.loads(kubectl("get", "--raw", f"/api/v1/nodes/{name}/proxy/configz"))["kubeletconfig"]
        assert config["cgroupDriver"] == expected, \
            f"node {name}: the kubelet's cgroup driver is {config['cgroupDriver']}, expected {expected} on this host"


def test_the_api_server_reaches_aggregated_apis_at_their_endpoints():
    """dev_cluster/cluster.sh: --enable-aggregator-routing, so that an aggregated API (Kueue's
    visibility API) is not reached through a Service IP that kube-proxy may not have programmed
    yet (a connection that left the node by the default route stayed open, got 404s from a proxy
    outside, and blocked every namespace deletion)."""
    pods = json.loads(kubectl("get", "pods", "-n", "kube-system", "-l", "component=kube-apiserver", "-o", "json"))["items"]
    assert pods, "no kube-apiserver pod in kube-system"
    for pod in pods:
        command = pod["spec"]["containers"][0]["command"]
        assert "--enable-aggregator-routing=true" in command, f"{pod['metadata']['name']}: {command}"


# Pods started at once, each with init containers that fork while the next container is created:
# the load under which runc's systemd driver failed on cgroup v1 (Argo's StartError).
STORM_PODS = 40
STORM_STEP = "for i in $(seq 300); do /bin/true & done; wait"


def test_many_pods_started_at_once_all_start(namespace):
    containers = [{"name": f"step{i}", "image": TOOL_IMAGE, "imagePullPolicy": "Never",
                   "command": ["/bin/bash", "-c", STORM_STEP],
                   "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "256Mi"}}}
                  for i in range(3)]
    pods = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"storm-{n}", "labels": {"app": "storm"}},
             "spec": {"restartPolicy": "Never", "initContainers": containers[:2], "containers": containers[2:]}}
            for n in range(STORM_PODS)]
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))

    def probe():
        items = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "app=storm", "-o", "json"))["items"]
        phases = {p["metadata"]["name"]: p["status"].get("phase") for p in items}
        return sum(phase in ("Succeeded", "Failed") for phase in phases.values()) == STORM_PODS, phases
    wait_for(f"{STORM_PODS} pods to finish", probe, timeout=300)
    items = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "app=storm", "-o", "json"))["items"]
    failed = {}
    for pod in items:
        for status in pod["status"].get("initContainerStatuses", []) + pod["status"].get("containerStatuses", []):
            terminated = status.get("state", {}).get("terminated") or {}
            if terminated.get("exitCode", 0) != 0:
                failed[f"{pod['metadata']['name']}/{status['name']}"] = \
                    f"{terminated.get('reason')}: {(terminated.get('message') or '')[:300]}"
    reasons = sorted({reason.split(":")[0] for reason in failed.values()})
    assert not failed, (f"{len(failed)} container(s) of {STORM_PODS} pods started at once did not run "
                        f"(reasons: {', '.join(reasons)}): {failed}")


def _load(*images: str, reserve_gb: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "dev_cluster" / "up.sh"), "load", *images], capture_output=True, text=True,
                          timeout=600, check=False, env={**os.environ, "MLOPS_LOAD_RESERVE_GB": reserve_gb})


def test_an_image_load_the_disk_cannot_hold_is_refused_before_anything_is_loaded():
    """dev_cluster/up.sh load checks the space first (dev_cluster/load_space.py): with a reserve no disk
    has, a load of an image the nodes lack is refused, saying how much it needs and what could be freed,
    and no node got the image; an image every node already has needs no space and goes through."""
    cluster = os.environ.get("MLOPS_CLUSTER_NAME", "mlops")
    node_names = [node["metadata"]["name"] for node in nodes()]

    def held() -> tuple[set[str], set[str]]:
        """The image IDs all nodes hold and those any node holds (kind loads by ID)."""
        ids = []
        for node in node_names:
            listed = subprocess.run(["docker", "exec", node, "crictl", "images", "-o", "json"], capture_output=True,
                                    text=True, check=True).stdout
            ids.append({image["id"] for image in json.loads(listed)["images"]})
        return set.intersection(*ids), set.union(*ids)

    listed = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", "--no-trunc"],
                            capture_output=True, text=True, check=True).stdout
    local = dict(line.split() for line in listed.splitlines() if "<none>" not in line)
    on_all, on_any = held()
    everywhere = [image for image, image_id in local.items() if image_id in on_all]
    # The node image itself (make cluster built it) is an image no node holds; the refused load writes nothing.
    absent = sorted((image for image, image_id in local.items() if image_id not in on_any),
                    key=lambda image: "/kind-node:" not in image)
    assert everywhere, f"no image of the engine is on every node of {cluster}: {local}"
    assert absent, f"no image of the engine that the nodes lack (the node image at least should be): {local}"

    refused = _load(absent[0], reserve_gb="100000")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"not loading 1 images into the nodes of {cluster}: the disk cannot hold it" in refused.stderr, refused.stderr
    assert "100000 GB kept free" in refused.stderr, refused.stderr
    assert "Free space, then run make up again" in refused.stderr, refused.stderr
    assert local[absent[0]] not in held()[1], "a refused load loaded nothing"

    passed = _load(everywhere[0], reserve_gb="2")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "room enough: about 0.0 GB for 0 image copies on 0 node(s)" in passed.stderr, passed.stderr
