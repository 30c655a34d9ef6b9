"""The cost of the local cluster's NetworkPolicy engine (kube-router, ansible/roles/control_plane/
files/kube-router.yaml), measured with it on and then switched off, on what `make up` deployed:
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
from tests.cluster.network_policy_engine import ENGINE, finished, switch
from tests.support.cluster import kubectl, nodes, wait_for
from tests.support.deployed import deployed
from tests.support.platform import CFG, S3_TARGET, pipeline_image
from tests.support.scripts import pod_script

SCRIPT = pod_script("policy_latency_probe")


def one_pod(namespace: str) -> dict:
    name = f"netpol-cost-{uuid.uuid4().hex[:6]}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "restartPolicy": "Never", "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "probe", "image": pipeline_image(), "imagePullPolicy": "IfNotPresent",
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


def measure(count: int) -> dict:
    namespace = deployed().tenant(CFG.tenancy.tenants[0].name).namespace
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
