"""The local cluster's NetworkPolicy engine (kube-router, ansible/roles/control_plane/files/kube-router.yaml)
switched off and on, for the tests and measurements that show what it refuses."""

from __future__ import annotations

import json
import uuid

from tests.support.cluster import kubectl, nodes, wait_for

ENGINE = "kube-router"
OFF_LABEL = "mlops-platform.org/network-policy-engine"  # no node carries it: the DaemonSet runs nowhere

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
