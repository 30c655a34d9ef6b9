"""What the platform deployed by `make up` asks for and uses: per platform namespace the pods and
the sum of their containers' CPU/memory requests and limits (from the API server), and the
memory each kind node container uses (`docker stats`, the whole node: Kubernetes and the
platform). Run with the platform idle.
    .venv/bin/python -m smoke_tests.measure_resources [OUTPUT.json]
"""

import json
import subprocess
import sys
from pathlib import Path

from smoke_tests.measure_overhead import CFG, measured, report
from tests.support.cluster import kubectl
from tests.support.deployed import deployed

UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}


def cpu_millis(value: str) -> float:
    return float(value[:-1]) if value.endswith("m") else float(value) * 1000


def memory_mib(value: str) -> float:
    for suffix, factor in UNITS.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor / 2**20
    return float(value) / 2**20


def namespaces() -> list[str]:
    platform = deployed()
    names = [platform.object_store_namespace, platform.mlflow_namespace]
    if platform.kfp_namespace:
        names.append(platform.kfp_namespace)
    return names


def requests_by_namespace() -> dict[str, dict]:
    result = {}
    for namespace in namespaces():
        # The platform's own pods (Deployments, StatefulSets), not pipeline runs or test pods.
        pods = [p for p in json.loads(kubectl("get", "pods", "-n", namespace, "-o", "json"))["items"]
                if p["status"].get("phase") == "Running"
                and any(o["kind"] in ("ReplicaSet", "StatefulSet") for o in p["metadata"].get("ownerReferences", []))]
        totals = {"pods": len(pods), "cpu_request_m": 0.0, "cpu_limit_m": 0.0, "memory_request_mib": 0.0,
                  "memory_limit_mib": 0.0}
        for pod in pods:
            for container in pod["spec"]["containers"]:
                resources = container.get("resources", {})
                for kind in ("requests", "limits"):
                    values = resources.get(kind, {})
                    key = "request" if kind == "requests" else "limit"
                    totals[f"cpu_{key}_m"] += cpu_millis(values.get("cpu", "0"))
                    totals[f"memory_{key}_mib"] += memory_mib(values.get("memory", "0"))
        result[namespace] = {key: round(value, 1) if isinstance(value, float) else value for key, value in totals.items()}
    return result


def node_memory() -> dict[str, float]:
    nodes = [n["metadata"]["name"] for n in json.loads(kubectl("get", "nodes", "-o", "json"))["items"]]
    out = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", *nodes],
                         capture_output=True, text=True, check=True).stdout
    usage = {}
    for line in out.splitlines():
        name, used = line.split()[0], line.split()[1]
        usage[name] = round(memory_mib(used.replace("iB", "").replace("B", "")), 1)
    return usage


def main(output: Path | None) -> dict:
    return report({**measured(), "resource_profile": CFG.kubeflow_pipelines.resource_profile,
                   "namespaces": requests_by_namespace(), "node_memory_mib": node_memory()}, output)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
