"""Verify of the cluster scenario: the kubeadm cluster that site.yml and add_nodes.yml built is real and works.

Runs kubectl on the control-plane node with the admin kubeconfig control_plane wrote. The node is reached through
Docker by its container name (the inventory's ansible_host is its cluster address, which testinfra would use).
"""

import json
import time

import pytest
import testinfra

KUBECTL = "kubectl --kubeconfig=/etc/kubernetes/admin.conf"
NODES = ["molecule-cp-01", "molecule-worker-01", "molecule-worker-02"]
# The only images on the nodes are the imported archives; the CNI agent's has a shell.
SHELL_IMAGE = "mlops.local/cni-agent:v1.35.4"


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host("docker://molecule-cp-01")


def kubectl_json(host, args):
    return json.loads(host.check_output(f"{KUBECTL} {args} -o json"))


def wait_for(what, check, timeout_s=240, interval_s=3):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        ok, last = check()
        if ok:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; last state: {last}")


def test_every_node_joined_and_is_ready(host):
    def ready():
        nodes = kubectl_json(host, "get nodes")["items"]
        state = {node["metadata"]["name"]: next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready") for node in nodes}
        return sorted(state) == NODES and set(state.values()) == {"True"}, state

    wait_for("three Ready nodes", ready)
    nodes = kubectl_json(host, "get nodes")["items"]
    assert {n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes} == {"v1.35.4"}
    roles = {n["metadata"]["name"]: n["metadata"]["labels"] for n in nodes}
    assert "node-role.kubernetes.io/control-plane" in roles["molecule-cp-01"]
    # Each node got its pod CIDR from the pod network kubeadm was configured with.
    assert all(n["spec"]["podCIDR"].startswith("10.244.") for n in nodes)
    addresses = {n["metadata"]["name"]: next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP") for n in nodes}
    assert addresses == {
        "molecule-cp-01": "172.31.250.11",
        "molecule-worker-01": "172.31.250.21",
        "molecule-worker-02": "172.31.250.22",
    }


def test_control_plane_and_system_pods_run(host):
    def running():
        pods = kubectl_json(host, "get pods -n kube-system")["items"]
        state = {p["metadata"]["name"]: p["status"]["phase"] for p in pods}
        wanted = ("etcd-", "kube-apiserver-", "kube-controller-manager-", "kube-scheduler-", "coredns-", "kube-proxy-")
        return all(any(name.startswith(w) for name in state) for w in wanted) and set(state.values()) == {"Running"}, state

    wait_for("running kube-system pods", running)
    ready = host.run(f"{KUBECTL} -n kube-system wait --for=condition=Available deployment/coredns --timeout=120s")
    assert ready.rc == 0, ready.stderr


def test_pods_run_on_the_workers_and_resolve_services(host):
    for worker in NODES[1:]:
        name = f"hello-{worker}"
        # The GPU node's taint keeps pods off it unless they tolerate it, as GPU jobs do.
        overrides = json.dumps({"spec": {"nodeName": worker, "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]}})
        host.run(f"{KUBECTL} delete pod {name} --ignore-not-found --wait")
        created = host.run(
            f"{KUBECTL} run {name} --image={SHELL_IMAGE} --image-pull-policy=Never --restart=Never "
            f"--overrides='{overrides}' --command -- "
            "sh -c 'getent hosts kubernetes.default.svc.cluster.local && echo ran on $(hostname)'"
        )
        assert created.rc == 0, created.stderr

        def finished(name=name):
            phase = kubectl_json(host, f"get pod {name}")["status"].get("phase")
            return phase in ("Succeeded", "Failed"), phase

        phase = wait_for(f"pod {name} to finish", finished, timeout_s=180)
        logs = host.check_output(f"{KUBECTL} logs {name}")
        assert phase == "Succeeded", logs
        pod = kubectl_json(host, f"get pod {name}")
        assert pod["spec"]["nodeName"] == worker
        # The pod got an address from its node's pod CIDR, and cluster DNS (CoreDNS on another node) answered.
        assert pod["status"]["podIP"].startswith("10.244.")
        assert "10.96.0.1" in logs, logs
        host.run(f"{KUBECTL} delete pod {name} --wait=false")


def test_the_gpu_node_is_labelled_tainted_and_has_the_nvidia_runtime(host):
    nodes = {n["metadata"]["name"]: n for n in kubectl_json(host, "get nodes")["items"]}
    gpu = nodes["molecule-worker-02"]
    assert gpu["metadata"]["labels"].get("nvidia.com/gpu.present") == "true"
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"} in gpu["spec"].get("taints", [])
    for name in ("molecule-cp-01", "molecule-worker-01"):
        assert "nvidia.com/gpu.present" not in nodes[name]["metadata"]["labels"]
    gpu_config = testinfra.get_host("docker://molecule-worker-02").check_output("containerd config dump")
    assert "runtimes.nvidia]" in gpu_config
    assert 'default_runtime_name = "runc"' in gpu_config
    assert "runtimes.nvidia]" not in testinfra.get_host("docker://molecule-worker-01").check_output("containerd config dump")


def test_the_gpu_node_gives_gpus_only_on_request():
    """The NVIDIA runtime ignores NVIDIA_VISIBLE_DEVICES from unprivileged containers and takes the
    device plugin's volume mounts instead (the runtime itself cannot run here: no GPU, no toolkit)."""
    runtime_config = testinfra.get_host("docker://molecule-worker-02").file("/etc/nvidia-container-runtime/config.toml")
    settings = dict(line.replace(" ", "").split("=", 1) for line in runtime_config.content_string.splitlines()
                    if line.strip() and not line.lstrip().startswith(("#", "[")))
    assert settings.get("accept-nvidia-visible-devices-envvar-when-unprivileged") == "false", settings
    assert settings.get("accept-nvidia-visible-devices-as-volume-mounts") == "true", settings
    assert not testinfra.get_host("docker://molecule-worker-01").file("/etc/nvidia-container-runtime").exists
