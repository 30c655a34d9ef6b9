"""The cost of the local cluster's NetworkPolicy engine (kube-router, offline/images/manifests/
network-policy.yaml), measured with it on and then switched off, on what `make up` deployed:
- start: from `kubectl create` of a pod in the first research group's namespace to its process
  running (the host's clock against the pod's: kind nodes share the host's clock);
- first connection: from that process's start to its first TCP connection to the object store's
  S3 port that succeeds (the engine refuses a new pod until it has seen the pod's address);
- the engine's memory (its container's working set, from the kubelet's summary API).
Each figure is the median of COUNT pods, created one after the other. The engine is switched on
again at the end, also when a step fails.
    .venv/bin/python -m smoke_tests.measure_network_policy [COUNT] [OUTPUT.json]    (default 8)
"""

import json
import statistics
import sys
import time
import uuid
from pathlib import Path

from smoke_tests.measure_overhead import machine
from tests.cluster.test_local_cluster import kubectl, nodes, wait_for
from tests.platform.test_network_policies import _image
from tests.platform.test_platform import CFG, S3_TARGET

ENGINE = "kube-router"
OFF_LABEL = "mlops-platform.org/network-policy-engine"  # no node carries it: the DaemonSet runs nowhere

SCRIPT = r"""
import json, socket, sys, time
started, tries = time.time(), 0
host, port = sys.argv[1], int(sys.argv[2])
while True:
    tries += 1
    try:
        socket.create_connection((host, port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.02)
print("RESULT " + json.dumps({"started": started, "connected": time.time(), "tries": tries}))
"""


# Removes the engine's rules and sets from a node. (`kube-router --cleanup-config` of v2.1.0 removes
# nothing with only the firewall configured and then crashes in the service proxy's cleanup.) Its
# chains are KUBE-ROUTER-*, KUBE-POD-FW-* and KUBE-NWPLCY-*; the filter table is written back without
# them and every rule that jumps to them; its ipsets (KUBE-SRC-*, KUBE-DST-*, ...) are then unused.
CLEANUP = r"""
iptables-save -t filter | grep -v -E 'KUBE-(ROUTER|POD-FW|NWPLCY)' | iptables-restore -T filter
ipset list -n | grep '^KUBE-' | while read -r set; do ipset destroy "$set"; done
left=$(iptables-save -t filter | grep -c -E 'KUBE-(ROUTER|POD-FW|NWPLCY)' || true)
echo "kube-router rules left: $left"; [ "$left" = 0 ]
"""


def finished(phase: str) -> tuple[bool, str]:
    return phase in ("Succeeded", "Failed"), phase


def one_pod(namespace: str) -> dict:
    name = f"netpol-cost-{uuid.uuid4().hex[:6]}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "restartPolicy": "Never", "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "probe", "image": _image(), "imagePullPolicy": "IfNotPresent",
                        "command": ["python3", "-c", SCRIPT, S3_TARGET[0], str(S3_TARGET[1])],
                        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                      "limits": {"cpu": "500m", "memory": "128Mi"}}}]}}
    created = time.time()
    kubectl("create", "-n", namespace, "-f", "-", stdin=json.dumps(pod))
    try:
        phase = wait_for(f"pod {name}", lambda: finished(kubectl(
            "get", "pod", "-n", namespace, name, "-o", "jsonpath={.status.phase}", check=False)), timeout=120, interval=0.5)
        logs = kubectl("logs", "-n", namespace, name)
        if phase != "Succeeded":
            raise RuntimeError(f"pod {namespace}/{name} {phase}: {logs}")
        result = json.loads(next(line for line in logs.splitlines() if line.startswith("RESULT "))[7:])
        return {"start_s": result["started"] - created, "first_connection_s": result["connected"] - result["started"],
                "tries": result["tries"]}
    finally:
        kubectl("delete", "pod", "-n", namespace, name, "--wait=false", check=False)


def engine_memory_mib() -> float | None:
    """The engine's working set on the first node (kubelet summary API), or None when it is off."""
    node = nodes()[0]["metadata"]["name"]
    summary = json.loads(kubectl("get", "--raw", f"/api/v1/nodes/{node}/proxy/stats/summary"))
    for pod in summary.get("pods", []):
        if pod["podRef"]["namespace"] == "kube-system" and pod["podRef"]["name"].startswith(ENGINE):
            return round(sum(c["memory"]["workingSetBytes"] for c in pod["containers"]) / 2**20, 1)
    return None


def switch(on: bool) -> None:
    """Runs the engine's DaemonSet everywhere (on), or nowhere and removes its rules (off)."""
    selector = None if on else {OFF_LABEL: "off"}
    kubectl("patch", "daemonset", ENGINE, "-n", "kube-system", "--type=merge",
            "-p", json.dumps({"spec": {"template": {"spec": {"nodeSelector": selector}}}}))
    kubectl("rollout", "status", "daemonset", ENGINE, "-n", "kube-system", "--timeout=180s", timeout=200)
    if on:
        return
    wait_for("the engine's pods to be gone", lambda: (not kubectl(
        "get", "pods", "-n", "kube-system", "-l", f"app={ENGINE}", "-o", "name"), "still there"), timeout=120)
    image = json.loads(kubectl("get", "daemonset", ENGINE, "-n", "kube-system", "-o", "json")
                       )["spec"]["template"]["spec"]["containers"][0]["image"]
    for node in nodes():
        name = f"{ENGINE}-cleanup-{uuid.uuid4().hex[:6]}"
        kubectl("apply", "-n", "kube-system", "-f", "-", stdin=json.dumps({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
                "restartPolicy": "Never", "hostNetwork": True, "nodeName": node["metadata"]["name"],
                "tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "cleanup", "image": image, "imagePullPolicy": "Never",
                                "command": ["/bin/sh", "-ec", CLEANUP],
                                "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}}}]}}))
        phase = wait_for(f"{name} to finish", lambda name=name: finished(kubectl(
            "get", "pod", "-n", "kube-system", name, "-o", "jsonpath={.status.phase}", check=False)), timeout=120)
        logs = kubectl("logs", "-n", "kube-system", name, check=False)
        kubectl("delete", "pod", "-n", "kube-system", name, "--wait=false", check=False)
        if phase != "Succeeded":
            raise RuntimeError(f"removing the engine's rules from {node['metadata']['name']} failed: {logs}")


def measure(count: int) -> dict:
    namespace = CFG.tenancy.tenants[0].namespace
    results = {}
    for state in ("on", "off"):
        if state == "off":
            switch(on=False)
        memory = engine_memory_mib()
        pods = [one_pod(namespace) for _ in range(count)]
        results[state] = {
            "engine_memory_mib": memory,
            "start_s_median": round(statistics.median(p["start_s"] for p in pods), 2),
            "first_connection_s_median": round(statistics.median(p["first_connection_s"] for p in pods), 2),
            "first_connection_s_max": round(max(p["first_connection_s"] for p in pods), 2),
            "pods": pods,
        }
        print(f"engine {state}: start {results[state]['start_s_median']} s, first connection "
              f"{results[state]['first_connection_s_median']} s (max {results[state]['first_connection_s_max']} s), "
              f"engine memory {memory} MiB (medians of {count} pods)", file=sys.stderr)
    return results


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    output = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    try:
        results = measure(count)
    finally:
        switch(on=True)
    document = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
                "pods_per_state": count, "engine": ENGINE, **results}
    text = json.dumps(document, indent=2)
    if output:
        output.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
