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
    gpu_node = testinfra.get_host("docker://molecule-worker-02")
    gpu_config = gpu_node.check_output("containerd config dump")
    assert "runtimes.nvidia]" in gpu_config
    assert 'default_runtime_name = "nvidia"' in gpu_config
    assert (
        "BinaryName = '/usr/local/bin/nvidia-container-runtime'" in gpu_config
        or 'BinaryName = "/usr/local/bin/nvidia-container-runtime"' in gpu_config
    ), gpu_config
    assert "runtimes.nvidia]" not in testinfra.get_host("docker://molecule-worker-01").check_output("containerd config dump")
    # The air-gapped binaries, at the pinned version, where the role put them.
    for binary in ("nvidia-container-runtime", "nvidia-cdi-hook", "nvidia-ctk"):
        assert "version v1.18.0" in gpu_node.check_output(f"/usr/local/bin/{binary} --version"), binary


def _runtime_settings(node):
    runtime_config = node.file("/etc/nvidia-container-runtime/config.toml")
    settings, table = {}, ""
    for line in runtime_config.content_string.splitlines():
        line = line.strip()
        if line.startswith("["):
            table = line.strip("[]") + "."
        elif line and not line.startswith("#"):
            key, value = (part.strip() for part in line.split("=", 1))
            settings[table + key] = value
    return settings


def _pod_on(host, name, node, privileged, script):
    """Starts pod NAME on NODE (tolerating the GPU taint) with NVIDIA_VISIBLE_DEVICES=all and returns, once it
    finished or its container could not be started: its phase, its container's state, its log and its events."""
    container = {
        "name": name,
        "image": SHELL_IMAGE,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", script],
        "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}],
        "securityContext": {"privileged": privileged},
    }
    overrides = json.dumps(
        {"spec": {"nodeName": node, "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}], "containers": [container]}}
    )
    host.run(f"{KUBECTL} delete pod {name} --ignore-not-found --wait")
    created = host.run(f"{KUBECTL} run {name} --image={SHELL_IMAGE} --restart=Never --overrides='{overrides}'")
    assert created.rc == 0, created.stderr

    def settled():
        pod = kubectl_json(host, f"get pod {name}")
        state = next(iter(pod["status"].get("containerStatuses", [])), {}).get("state", {})
        refused = state.get("waiting", {}).get("reason") in ("CreateContainerError", "RunContainerError")
        return pod["status"].get("phase") in ("Succeeded", "Failed") or refused, (pod["status"].get("phase"), state)

    phase, state = wait_for(f"pod {name} to finish or be refused", settled, timeout_s=180)
    logs = host.run(f"{KUBECTL} logs {name}").stdout
    events = host.run(f"{KUBECTL} get events --field-selector involvedObject.name={name} -o jsonpath='{{.items[*].message}}'").stdout
    host.run(f"{KUBECTL} delete pod {name} --wait=false")
    return phase, state, logs, events


def test_the_gpu_node_gives_gpus_only_on_request(host):
    """On the GPU node every container starts through the air-gapped nvidia-container-runtime (jit-cdi mode). An
    unprivileged container's NVIDIA_VISIBLE_DEVICES=all is ignored: it runs and sees no GPU. A privileged one's is
    honoured, so the runtime must give it every GPU: with no driver here it refuses to start the container, which
    shows the runtime is in the path. The same privileged pod on the plain worker starts (control)."""
    settings = _runtime_settings(testinfra.get_host("docker://molecule-worker-02"))
    assert settings.get("accept-nvidia-visible-devices-envvar-when-unprivileged") == "false", settings
    assert settings.get("accept-nvidia-visible-devices-as-volume-mounts") == "true", settings
    assert settings.get("nvidia-container-runtime.mode") == '"jit-cdi"', settings
    assert settings.get("nvidia-ctk.path") == '"/usr/local/bin/nvidia-cdi-hook"', settings
    assert not testinfra.get_host("docker://molecule-worker-01").file("/etc/nvidia-container-runtime").exists

    phase, state, logs, events = _pod_on(host, "gpu-unrequested", "molecule-worker-02", False, "ls /dev/nvidia* 2>/dev/null; echo no GPU device")
    assert phase == "Succeeded", (phase, state, logs, events)
    assert logs.strip() == "no GPU device", logs

    phase, state, logs, events = _pod_on(host, "gpu-all-privileged", "molecule-worker-02", True, "echo started")
    assert phase != "Succeeded", (phase, state, logs, events)
    assert "started" not in logs, logs
    refusal = json.dumps(state) + " " + events
    assert "nvidia-container-runtime" in refusal or "CDI" in refusal or "NVML" in refusal, refusal
    print(f"the NVIDIA runtime refused a privileged pod asking for every GPU: {refusal}")

    phase, state, logs, events = _pod_on(host, "gpu-all-privileged-runc", "molecule-worker-01", True, "echo started")
    assert phase == "Succeeded", (phase, state, logs, events)
    assert logs.strip() == "started", logs
