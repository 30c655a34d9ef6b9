"""What the platform tests share: the local stack's configuration (CFG), the people's tokens for
Kubeflow Pipelines, script pods that run a Python script inside the cluster as a tenant would, and
what a failed pipeline run left behind. Not tests themselves."""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import uuid

import pytest
from mlops_components.contract import GPU_RESOURCE

from infra.components.kubeflow_pipelines import TOKEN_AUDIENCE
from tests.support.cluster import kubeconfig, kubectl, wait_for
from tests.support.scripts import pod_script
from tests.support.stacks import stack_config

CFG = stack_config("local")


def pipeline_image() -> str:
    """The pipeline base image as the local stack resolves it: Python, the kfp SDK and the tests' tools."""
    return CFG.images.resolve("pipeline-base")


MLFLOW_NS = CFG.mlflow.namespace
STORE_NS = CFG.object_store.namespace


def mlflow_image() -> str:
    """The image MLflow's server runs (Python with mlflow and boto3), as deployed."""
    return kubectl("get", "deployment", "-n", MLFLOW_NS, "mlflow", "-o", "jsonpath={.spec.template.spec.containers[0].image}")


# Programs reach the KFP API with a Kubernetes token (people sign in to the UI through the Login
# component instead): the people of the local stack's research groups (stacks/Pulumi.local.yaml:
# members system:serviceaccount:mlops-people:<name>) act through the token of a ServiceAccount of
# this namespace, made here.
PEOPLE_NAMESPACE = "mlops-people"


def person_token(name: str) -> str:
    """A one-hour token of person `name` for the Kubeflow Pipelines API (its audience)."""
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PEOPLE_NAMESPACE, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted", "app.kubernetes.io/part-of": "mlops-platform-tests"}}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": PEOPLE_NAMESPACE}}]}))
    return kubectl("create", "token", name, "-n", PEOPLE_NAMESPACE, "--audience", TOKEN_AUDIENCE,
                   "--duration", "3600s").strip()


def tenant_named(name: str):
    return next(tenant for tenant in CFG.tenancy.tenants if tenant.name == name)


# A new pod's connections are refused for about a second after it starts: the NetworkPolicy engine
# (kube-router on the local cluster) learns the pod's address from the API server, and until then
# the destinations' ingress rules do not count it among their peers (Kubernetes' NetworkPolicy docs,
# "Pod lifecycle": pods must tolerate this, for example by waiting for what they need). The engine
# programs every policy in one sync, so once one destination answers, all that the pod may reach do.
# Every script pod first waits (up to 60 s) for the object store's S3 port, which every namespace the
# tests run in may reach; its TCP connections only, no request.
WAIT_FOR_NETWORK = pod_script("wait_for_network")
S3_TARGET = (f"object-store.{STORE_NS}.svc.cluster.local.", 8333)


def submit_run_script(definitions: str, pipeline: str, run_name: str, arguments: str = "{}") -> str:
    """A script for run_script_pod that compiles the pipeline function `pipeline` from
    `definitions` (its components and @dsl.pipeline; `os` and kfp's `dsl` are imported), submits one
    run of it with `arguments` (a Python expression evaluated in the pod) as the tenant's member
    (KFP_HOST, KFP_TOKEN, NAMESPACE), cache off, and prints RESULT {"run_id": ...}."""
    return f"""
import json, os
import kfp
from kfp import compiler, dsl

{definitions.strip()}

compiler.Compiler().compile({pipeline}, "/tmp/pipeline.yaml")
namespace = os.environ["NAMESPACE"]
client = kfp.Client(host=os.environ["KFP_HOST"], existing_token=os.environ["KFP_TOKEN"], namespace=namespace)
run = client.create_run_from_pipeline_package("/tmp/pipeline.yaml", arguments={arguments}, run_name={run_name!r},
                                              experiment_name="platform-tests", namespace=namespace,
                                              enable_caching=False)
print("RESULT " + json.dumps({{"run_id": run.run_id}}))
"""


def run_script_pod(namespace: str, prefix: str, image: str, script: str, env: list[dict],
                   env_from: list[dict] | None = None, timeout: int = 300,
                   memory_limit: str = "1Gi", service_account: str | None = None,
                   needs: tuple[tuple[str, int], ...] = (S3_TARGET,), labels: dict | None = None) -> dict:
    """Runs `script` with python in a restricted, non-root pod and returns the JSON it printed on
    its `RESULT ` line; the pod's phase and logs are in the error when it fails. The script starts
    once every (host, port) of `needs` accepts a TCP connection (WAIT_FOR_NETWORK)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": {
        "restartPolicy": "Never",
        **({"serviceAccountName": service_account} if service_account else {"automountServiceAccountToken": False}),
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "client", "image": image, "imagePullPolicy": "IfNotPresent",
            # From a file, not `python3 -c`: kfp's @dsl.component reads its function's source.
            "command": ["sh", "-c", 'python3 -c "$WAIT_SCRIPT" && printf "%s" "$SCRIPT" >/tmp/script.py'
                                    ' && exec python3 /tmp/script.py'],
            "env": [*env, {"name": "SCRIPT", "value": script},
                    {"name": "WAIT_SCRIPT", "value": WAIT_FOR_NETWORK},
                    {"name": "WAIT_FOR", "value": json.dumps(needs)},
                    {"name": "HOME", "value": "/tmp"}],  # noqa: S108 - the pod's own /tmp
            "envFrom": env_from or [],
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                          "limits": {"cpu": "1", "memory": memory_limit}}}]}}
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(pod))
    try:
        def done():
            phase = kubectl("get", "pod", "-n", namespace, name, "-o", "jsonpath={.status.phase}", check=False)
            return phase in ("Succeeded", "Failed"), phase
        phase = wait_for(f"pod {namespace}/{name}", done, timeout=timeout)
        logs = kubectl("logs", "-n", namespace, name, check=False)
        assert phase == "Succeeded", f"pod {namespace}/{name} {phase}:\n{logs}"
        return json.loads(next(line for line in logs.splitlines() if line.startswith("RESULT "))[7:])
    finally:
        kubectl("delete", "pod", "-n", namespace, name, "--wait=false", check=False)


def secret_values(namespace: str, name: str) -> dict[str, str]:
    data = json.loads(kubectl("get", "secret", "-n", namespace, name, "-o", "json"))["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


@contextlib.contextmanager
def port_forward(namespace: str, service: str, port: int):
    """`kubectl port-forward` to `service`:`port` on a free local port; yields that port."""
    process = subprocess.Popen(["kubectl", "--kubeconfig", kubeconfig(), "port-forward", "-n", namespace,
                                f"svc/{service}", f":{port}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline()  # "Forwarding from 127.0.0.1:<local> -> <port>"
        assert line.startswith("Forwarding from 127.0.0.1:"), f"port-forward to {namespace}/{service}: {line}"
        yield int(line.split(":")[1].split()[0])
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_workflow(namespace: str, run_id: str) -> dict:
    """The Argo Workflow of KFP run `run_id` ({} until the API server has created it)."""
    items = json.loads(kubectl("get", "workflows.argoproj.io", "-n", namespace, "-l", f"pipeline/runid={run_id}",
                               "-o", "json"))["items"]
    return items[0] if items else {}


def workflow_diagnostics(namespace: str, run_ids: list[str] | None = None) -> str:
    """The Argo Workflows' node messages and the failed pods' logs: what a failed run left behind
    (only the workflows of the KFP runs `run_ids`, when given)."""
    lines = []
    workflows = json.loads(kubectl("get", "workflows.argoproj.io", "-n", namespace, "-o", "json", check=False) or '{"items": []}')
    if run_ids is not None:
        workflows["items"] = [w for w in workflows["items"] if w["metadata"].get("labels", {}).get("pipeline/runid") in run_ids]
    names = {w["metadata"]["name"] for w in workflows["items"]}
    for workflow in workflows["items"]:
        status = workflow.get("status", {})
        lines.append(f"workflow {workflow['metadata']['name']}: {status.get('phase')} {status.get('message', '')}")
        for node in status.get("nodes", {}).values():
            if node.get("phase") not in ("Succeeded", "Skipped", "Omitted"):
                lines.append(f"  node {node.get('displayName')} ({node.get('type')}): {node.get('phase')} {node.get('message', '')}")
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-o", "json", check=False) or '{"items": []}')
    for pod in pods["items"]:
        if run_ids is not None and pod["metadata"].get("labels", {}).get("workflows.argoproj.io/workflow") not in names:
            continue
        if pod["status"].get("phase") == "Failed":
            for container in pod["spec"]["containers"]:
                logs = kubectl("logs", "-n", namespace, pod["metadata"]["name"], "-c", container["name"], "--tail=30",
                               check=False)
                lines.append(f"--- {pod['metadata']['name']}/{container['name']} (node {pod['spec'].get('nodeName')}):\n{logs}")
    return "\n".join(lines)


def kfp_enabled():
    """The local stack's Kubeflow Pipelines settings; skips (loudly) when it is off."""
    if not CFG.kubeflow_pipelines.enabled:
        pytest.skip("LOUD SKIP: kubeflowPipelines.enabled is false in the local stack")
    return CFG.kubeflow_pipelines


def kfp_api() -> str:
    return f"http://ml-pipeline.{CFG.kubeflow_pipelines.namespace}.svc.cluster.local.:8888"


def platform_pods_ready() -> None:
    """Every platform pod (the object store's, MLflow's, Kubeflow Pipelines') Ready within 5 minutes."""
    namespaces = [STORE_NS, MLFLOW_NS]
    if CFG.kubeflow_pipelines.enabled:
        namespaces.append(CFG.kubeflow_pipelines.namespace)
    for namespace in namespaces:
        def probe(namespace=namespace):
            pods = json.loads(kubectl("get", "pods", "-n", namespace, "-o", "json"))["items"]
            state = {}
            for pod in pods:
                if pod["status"].get("phase") == "Succeeded":
                    continue  # finished Jobs (bucket setup)
                owners = {owner["kind"] for owner in pod["metadata"].get("ownerReferences", [])}
                if not owners & {"ReplicaSet", "StatefulSet", "DaemonSet", "Job"}:
                    continue  # pipeline runs' and tests' pods: not the platform's
                ready = any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
                if not ready:
                    state[pod["metadata"]["name"]] = pod["status"].get("phase")
            return bool(pods) and not state, state or [p["metadata"]["name"] for p in pods]
        wait_for(f"pods in {namespace} to be Ready", probe, timeout=300)


def gpu_pod(created: list, namespace: str, prefix: str, seconds: int, command: list[str] | None = None) -> str:
    """A pod asking for one GPU that sleeps `seconds` (or runs `command`), as a pipeline step would be
    created (no queue named: the namespace's default LocalQueue); appended to `created`."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    resources = {"cpu": "10m", "memory": "32Mi", GPU_RESOURCE: "1"}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "mlops-platform-tests"}},
           "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "work", "image": pipeline_image(), "imagePullPolicy": "IfNotPresent",
                                    "command": command or ["sleep", str(seconds)],
                                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                                    "resources": {"requests": resources, "limits": {**resources, "cpu": "100m"}}}]}}
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(pod))
    created.append((namespace, name))
    return name


def saved_policy(namespace: str, name: str) -> dict:
    """A NetworkPolicy as it can be created again after a test deleted it (no server-set fields)."""
    policy = json.loads(kubectl("get", "networkpolicy", "-n", namespace, name, "-o", "json"))
    for key in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
        policy["metadata"].pop(key, None)
    return policy


def cluster_gpus() -> int:
    """The nvidia.com/gpu the cluster's nodes advertise (fake ones on the kind cluster)."""
    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    return sum(int(node["status"].get("allocatable", {}).get(GPU_RESOURCE, "0")) for node in nodes)
