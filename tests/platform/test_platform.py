"""The platform that `make up` deployed with `pulumi up --stack local`, checked for real: every
platform pod Ready; MLflow refuses anonymous requests and keeps each research group in its own
workspace, also for a researcher outside the cluster; a group uses its own bucket and is refused
another's; Kubeflow Pipelines runs a researcher's pipeline in the group's namespace, as its runner,
under its quota (a GPU step over quota is refused), and refuses other groups' members, callers
without a token and pipeline steps that reach for another namespace; the UI shows the run."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from mlops_components.contract import GPU_RESOURCE, PIPELINE_ENV_SECRET

from infra.components.kubeflow_pipelines import TOKEN_AUDIENCE
from infra.components.queueing import quota_ceiling
from infra.components.tenants import ARGO_WORKFLOW_LABEL
from infra.config import parse
from infra.images import resolve_image
from tests.cluster.test_local_cluster import kubeconfig, kubectl, wait_for
from tests.unit.test_config import stack_values

pytestmark = pytest.mark.e2e
CFG = parse(*stack_values("local"))


def pipeline_image() -> str:
    """The pipeline base image as the local stack resolves it: Python, the kfp SDK and the tests' tools."""
    return resolve_image("pipeline-base", CFG.images.registry, CFG.images.overrides)
MLFLOW_NS = CFG.mlflow.namespace
STORE_NS = CFG.object_store.namespace
ROOT = Path(__file__).resolve().parents[2]


def mlflow_image() -> str:
    """The image MLflow's server runs (Python with mlflow and boto3), as deployed."""
    return kubectl("get", "deployment", "-n", MLFLOW_NS, "mlflow", "-o", "jsonpath={.spec.template.spec.containers[0].image}")

# Runs inside the cluster, in MLflow's namespace, with the MLflow image (client, boto3).
CLIENT_SCRIPT = r"""
import json, os, urllib.error, urllib.request, uuid
import boto3, mlflow

uri = "http://mlflow:5000"
try:
    urllib.request.urlopen(uri + "/api/2.0/mlflow/experiments/search?max_results=1", timeout=30)
    anonymous = 200
except urllib.error.HTTPError as error:
    anonymous = error.code
mlflow.set_tracking_uri(uri)
mlflow.set_experiment("platform-test-" + uuid.uuid4().hex[:8])
with open("/tmp/artifact.txt", "w") as f:
    f.write("artifact-" + os.environ["MARKER"])
with mlflow.start_run() as run:
    mlflow.log_param("marker", os.environ["MARKER"])
    mlflow.log_metric("accuracy", 0.5)
    mlflow.log_artifact("/tmp/artifact.txt")
fetched = mlflow.get_run(run.info.run_id)
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=os.environ["BUCKET"])
        for o in page.get("Contents", []) if run.info.run_id in o["Key"]]
body = s3.get_object(Bucket=os.environ["BUCKET"], Key=keys[0])["Body"].read().decode() if keys else ""
print("RESULT " + json.dumps({"anonymous": anonymous, "param": fetched.data.params.get("marker"),
                              "metric": fetched.data.metrics.get("accuracy"), "keys": keys, "body": body}))
"""


# The local cluster has no identity provider yet: the people of the local stack's research groups
# (stacks/Pulumi.local.yaml: members system:serviceaccount:mlops-people:<name>) act through the
# token of a ServiceAccount of this namespace, made here.
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
WAIT_FOR_NETWORK = r"""
import json, os, socket, sys, time
deadline = time.monotonic() + 60
for host, port in json.loads(os.environ["WAIT_FOR"]):
    while True:
        try:
            socket.create_connection((host, port), timeout=2).close()
            break
        except OSError as error:
            if time.monotonic() > deadline:
                sys.exit(f"{host}:{port} did not answer within 60 s of the pod's start: {error}")
            time.sleep(0.2)
"""
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


def test_every_platform_pod_is_ready():
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


def test_mlflow_refuses_anonymous_and_stores_an_authenticated_run_with_its_artifact_in_the_bucket():
    marker = uuid.uuid4().hex[:12]
    image = mlflow_image()
    secret_env = [
        {"name": "MLFLOW_TRACKING_USERNAME", "valueFrom": {"secretKeyRef": {"name": "mlflow-auth", "key": "admin-username"}}},
        {"name": "MLFLOW_TRACKING_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "mlflow-auth", "key": "admin-password"}}},
        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "mlflow-s3", "key": "AWS_ACCESS_KEY_ID"}}},
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "mlflow-s3", "key": "AWS_SECRET_ACCESS_KEY"}}},
    ]
    endpoint = f"http://object-store.{STORE_NS}.svc.cluster.local:8333"  # no trailing dot: S3 signs the Host
    result = run_script_pod(MLFLOW_NS, "platform-test", image, CLIENT_SCRIPT, [
        *secret_env, {"name": "MARKER", "value": marker}, {"name": "MLFLOW_S3_ENDPOINT_URL", "value": endpoint},
        {"name": "BUCKET", "value": CFG.mlflow.artifact_bucket}])
    assert result["anonymous"] == 401, f"an anonymous request got {result['anonymous']}, expected 401"
    assert result["param"] == marker
    assert result["metric"] == 0.5
    assert result["keys"], f"no object of the run in bucket {CFG.mlflow.artifact_bucket}"
    assert result["body"] == f"artifact-{marker}", "the artifact's content came back from the object store"


# Runs in tenant A's namespace with A's `mlops-credentials`: A's own bucket works, tenant B's
# bucket is refused for reading, listing and writing.
ISOLATION_SCRIPT = r"""
import json, os
import boto3
from botocore.exceptions import ClientError

s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
own, other, marker = os.environ["MLOPS_ARTIFACT_BUCKET"], os.environ["OTHER_BUCKET"], os.environ["MARKER"]
result = {}
s3.put_object(Bucket=own, Key=f"isolation/{marker}", Body=marker.encode())
result["own"] = s3.get_object(Bucket=own, Key=f"isolation/{marker}")["Body"].read().decode()
s3.delete_object(Bucket=own, Key=f"isolation/{marker}")
for name, call in (("list", lambda: s3.list_objects_v2(Bucket=other)),
                   ("get", lambda: s3.get_object(Bucket=other, Key=f"isolation/{marker}")),
                   ("put", lambda: s3.put_object(Bucket=other, Key=f"isolation/{marker}", Body=b"x"))):
    try:
        call()
        result[name] = "allowed"
    except ClientError as error:
        result[name] = error.response["Error"]["Code"]
print("RESULT " + json.dumps(result))
"""


def test_a_tenant_uses_its_own_bucket_and_cannot_read_or_write_another_tenants_bucket():
    if len(CFG.tenancy.tenants) < 2:
        pytest.skip("LOUD SKIP: the local stack declares fewer than two tenants; isolation needs two")
    tenant, other = CFG.tenancy.tenants[0], CFG.tenancy.tenants[1]
    marker = uuid.uuid4().hex[:12]
    image = mlflow_image()
    result = run_script_pod(tenant.namespace, "isolation-test", image, ISOLATION_SCRIPT,
                            [{"name": "OTHER_BUCKET", "value": other.bucket}, {"name": "MARKER", "value": marker}],
                            env_from=[{"secretRef": {"name": "mlops-credentials"}}], memory_limit="512Mi")
    assert result["own"] == marker, f"tenant {tenant.name} could not use its own bucket: {result}"
    for operation in ("list", "get", "put"):
        assert result[operation] == "AccessDenied", \
            f"tenant {tenant.name} {operation} on {other.bucket}: {result[operation]} (expected AccessDenied)"


# Runs in a tenant's namespace with the MLflow image, as that tenant (its mlops-credentials: the
# editor user of its MLflow workspace); OTHER_* are another tenant's editor, READER_* this tenant's
# reader. Logs a run with an artifact and a registered model, then prints the HTTP status of what
# each identity tries.
MLFLOW_TENANT_SCRIPT = r"""
import json, os, uuid
import mlflow, requests
from mlflow import MlflowClient

uri, workspace, marker = os.environ["MLFLOW_TRACKING_URI"].rstrip("/"), os.environ["MLFLOW_WORKSPACE"], os.environ["MARKER"]
own = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"])
other = (os.environ["OTHER_USERNAME"], os.environ["OTHER_PASSWORD"])
reader = (os.environ["READER_USERNAME"], os.environ["READER_PASSWORD"])
mlflow.set_tracking_uri(uri)
experiment = mlflow.set_experiment(f"/{workspace}/platform-test-{marker}")
with open("/tmp/artifact.bin", "wb") as f:
    f.write(marker.encode() * 1024)
with mlflow.start_run() as run:
    mlflow.log_metric("accuracy", 0.5)
    mlflow.log_artifact("/tmp/artifact.bin")
model = f"platform-test-{marker}"
MlflowClient().create_registered_model(model)
downloaded = open(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="artifact.bin",
                                                      dst_path="/tmp/dl"), "rb").read()
run_id, ws = run.info.run_id, {"X-MLFLOW-WORKSPACE": workspace}

def status(method, path, auth, body=None, params=None):
    return requests.request(method, uri + path, auth=auth, json=body, params=params, headers=ws, timeout=30).status_code

metric = {"run_id": run_id, "key": "accuracy", "value": 0.9, "timestamp": 0, "step": 1}
result = {
    "downloaded": downloaded == marker.encode() * 1024,
    "anonymous": status("GET", "/api/2.0/mlflow/runs/get", None, params={"run_id": run_id}),
    "own_create_user": status("POST", "/api/2.0/mlflow/users/create", own, {"username": "x" + marker, "password": "x" * 16}),
    "other_get_run": status("GET", "/api/2.0/mlflow/runs/get", other, params={"run_id": run_id}),
    "other_get_experiment": status("GET", "/api/2.0/mlflow/experiments/get", other, params={"experiment_id": experiment.experiment_id}),
    "other_log_metric": status("POST", "/api/2.0/mlflow/runs/log-metric", other, metric),
    "other_create_experiment": status("POST", "/api/2.0/mlflow/experiments/create", other, {"name": f"/{workspace}/intruder-{marker}"}),
    "other_get_model": status("GET", "/api/2.0/mlflow/registered-models/get", other, params={"name": model}),
    "other_get_artifact": status("GET", "/get-artifact", other, params={"run_id": run_id, "path": "artifact.bin"}),
    "other_delete_experiment": status("POST", "/api/2.0/mlflow/experiments/delete", other, {"experiment_id": experiment.experiment_id}),
    "other_create_user": status("POST", "/api/2.0/mlflow/users/create", other, {"username": "y" + marker, "password": "y" * 16}),
    "reader_get_run": status("GET", "/api/2.0/mlflow/runs/get", reader, params={"run_id": run_id}),
    "reader_get_model": status("GET", "/api/2.0/mlflow/registered-models/get", reader, params={"name": model}),
    "reader_log_metric": status("POST", "/api/2.0/mlflow/runs/log-metric", reader, metric),
}
print("RESULT " + json.dumps(result))
"""


def secret_values(namespace: str, name: str) -> dict[str, str]:
    import base64
    data = json.loads(kubectl("get", "secret", "-n", namespace, name, "-o", "json"))["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def test_each_tenant_reaches_only_its_own_mlflow_workspace():
    """vision logs a run, an artifact and a model as its own MLflow identity (not the admin); nlp's
    identity is refused each of them (403), vision's reader may read but not write, neither tenant
    may create MLflow users, and a request without credentials is refused (401)."""
    from infra.components.tenants import CREDENTIALS_SECRET_NAME, MLFLOW_READER_SECRET_NAME

    vision, nlp = CFG.tenancy.tenants[:2]
    other = secret_values(nlp.namespace, CREDENTIALS_SECRET_NAME)
    reader = secret_values(vision.namespace, MLFLOW_READER_SECRET_NAME)
    assert other["MLFLOW_TRACKING_USERNAME"] != CFG.mlflow.admin_username
    image = resolve_image("mlflow", CFG.images.registry, CFG.images.overrides)
    result = run_script_pod(vision.namespace, "mlflow-tenant-test", image, MLFLOW_TENANT_SCRIPT, [
        {"name": "MARKER", "value": uuid.uuid4().hex[:10]},
        {"name": "OTHER_USERNAME", "value": other["MLFLOW_TRACKING_USERNAME"]},
        {"name": "OTHER_PASSWORD", "value": other["MLFLOW_TRACKING_PASSWORD"]},
        {"name": "READER_USERNAME", "value": reader["MLFLOW_TRACKING_USERNAME"]},
        {"name": "READER_PASSWORD", "value": reader["MLFLOW_TRACKING_PASSWORD"]}],
        env_from=[{"secretRef": {"name": CREDENTIALS_SECRET_NAME}}], timeout=300)
    assert result.pop("downloaded"), "the tenant could not download its own artifact through MLflow"
    expected = {"anonymous": 401, "own_create_user": 403, "reader_get_run": 200, "reader_get_model": 200,
                "reader_log_metric": 403}
    expected.update({key: 403 for key in result if key.startswith("other_")})
    assert result == expected, f"MLflow answered {result}, expected {expected}"


# Runs on this machine, outside the cluster, as a researcher's laptop would: the public mlflow
# client (the pipelines' virtualenv, the same packages as the pipeline image) with only the MLFLOW_*
# settings of the group's Secret, through a port-forward to MLflow. No S3 keys: every byte goes
# through MLflow's proxy. Logs a 12 MiB artifact and a model, downloads the one, loads the other.
LAPTOP_SCRIPT = r"""
import hashlib, json, os, sys, tempfile
import mlflow, numpy
from sklearn.linear_model import LogisticRegression

marker = os.environ["MARKER"]
work = tempfile.mkdtemp()
payload = os.urandom(12 * 2**20)
with open(os.path.join(work, "weights.bin"), "wb") as f:
    f.write(payload)
features = numpy.array([[0.0], [1.0], [2.0], [3.0]])
model = LogisticRegression().fit(features, [0, 0, 1, 1])
mlflow.set_experiment(os.environ["MLOPS_EXPERIMENT_PREFIX"] + "laptop-" + marker)
with mlflow.start_run() as run:
    mlflow.log_artifact(os.path.join(work, "weights.bin"))
    mlflow.sklearn.log_model(model, name="model", registered_model_name="laptop-" + marker)
downloaded = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="weights.bin",
                                                 dst_path=os.path.join(work, "down"))
with open(downloaded, "rb") as f:
    same = hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(payload).hexdigest()
loaded = mlflow.pyfunc.load_model(f"models:/laptop-{marker}/1")
print("RESULT " + json.dumps({"same_bytes": same, "predictions": [int(p) for p in loaded.predict(features)]}))
"""


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


def test_a_researcher_outside_the_cluster_downloads_artifacts_and_loads_models_through_mlflow():
    """From outside the cluster (a port-forward, as from a laptop), with vision's MLflow settings
    only: a 12 MiB artifact comes back byte for byte and a registered model loads and predicts.
    (Before the platform proxied downloads, the client got presigned URLs for the in-cluster object
    store host and retried until it timed out.)"""
    python = ROOT / ".venv-pipelines" / "bin" / "python"
    assert python.exists(), f"{python} is missing: run `make pipelines-venv` (the researcher's mlflow client)"
    vision = tenant_named("vision")
    settings = {key: value for key, value in secret_values(vision.namespace, PIPELINE_ENV_SECRET).items()
                if key.startswith(("MLFLOW_", "MLOPS_EXPERIMENT"))}
    assert "AWS_SECRET_ACCESS_KEY" not in settings
    with port_forward(MLFLOW_NS, "mlflow", 5000) as local_port:
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **settings,  # noqa: S108
               "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{local_port}", "MARKER": uuid.uuid4().hex[:10],
               "MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"}
        done = subprocess.run([str(python), "-c", LAPTOP_SCRIPT], env=env, capture_output=True, text=True,
                              timeout=600, check=False)
    assert done.returncode == 0, f"the laptop client failed ({done.returncode}):\n{done.stderr[-3000:]}"
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["same_bytes"], "the downloaded artifact differs from the logged one"
    assert result["predictions"] == [0, 0, 1, 1], result


# Runs in research group vision's namespace with the pipeline base image (kfp SDK 2.14.3, boto3),
# as alice (her token): lists the group's pipelines through the KFP API, compiles and submits a
# one-step pipeline whose component writes an output artifact, waits for the run, and reads the
# artifact back from the group's bucket with the group's keys (Secret `mlops-credentials`).
PIPELINE_SCRIPT = r"""
import json, os
import boto3, kfp
from kfp import compiler, dsl
from kfp.dsl import Dataset, Output

@dsl.component(base_image=os.environ["PIPELINE_IMAGE"])
def write_marker(marker: str, data: Output[Dataset]) -> int:
    with open(data.path, "w") as f:
        f.write(marker)
    return len(marker)

@dsl.pipeline(name="platform-test-one-step")
def one_step(marker: str):
    write_marker(marker=marker)

compiler.Compiler().compile(one_step, "/tmp/one_step.yaml")
namespace = os.environ["NAMESPACE"]
client = kfp.Client(host=os.environ["KFP_HOST"], existing_token=os.environ["KFP_TOKEN"], namespace=namespace)
listed = client.list_pipelines(page_size=5, namespace=namespace)
marker = os.environ["MARKER"]
run = client.create_run_from_pipeline_package("/tmp/one_step.yaml", arguments={"marker": marker},
                                              run_name="platform-test-" + marker,
                                              experiment_name="platform-tests", namespace=namespace)
finished = client.wait_for_run_completion(run.run_id, timeout=int(os.environ["RUN_TIMEOUT"]))
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
bucket = os.environ["BUCKET"]
keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", []) if run.run_id in o["Key"]]
bodies = [s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode(errors="replace") for key in keys]
print("RESULT " + json.dumps({"listed": type(listed).__name__, "state": str(finished.state), "run_id": run.run_id,
                              "error": str(finished.error) if finished.error else "",
                              "keys": keys, "has_marker": any(body == marker for body in bodies)}))
"""


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


def _kfp_enabled():
    if not CFG.kubeflow_pipelines.enabled:
        pytest.skip("LOUD SKIP: kubeflowPipelines.enabled is false in the local stack")
    return CFG.kubeflow_pipelines


def kfp_api() -> str:
    return f"http://ml-pipeline.{CFG.kubeflow_pipelines.namespace}.svc.cluster.local.:8888"


def test_kubeflow_pipelines_runs_a_one_step_pipeline_that_stores_its_artifact_in_the_bucket():
    """alice (vision) submits with her token: the run executes in research-vision as its pipeline
    runner (so under its quota) and stores its artifact in vision's bucket with vision's keys."""
    _kfp_enabled()
    vision = tenant_named("vision")
    namespace = vision.namespace
    image = pipeline_image()
    marker = uuid.uuid4().hex[:12]
    result = run_script_pod(namespace, "pipeline-test", image, PIPELINE_SCRIPT, [
        {"name": "PIPELINE_IMAGE", "value": image}, {"name": "MARKER", "value": marker},
        {"name": "KFP_HOST", "value": kfp_api()}, {"name": "KFP_TOKEN", "value": person_token("alice")},
        {"name": "NAMESPACE", "value": namespace},
        {"name": "BUCKET", "value": vision.bucket}, {"name": "RUN_TIMEOUT", "value": "600"}],
        env_from=[{"secretRef": {"name": PIPELINE_ENV_SECRET}}], timeout=720)
    assert result["state"] == "SUCCEEDED", \
        f"the run ended {result['state']}: {result['error']}\n{workflow_diagnostics(namespace)}"
    assert result["keys"], f"no object of the run in bucket {vision.bucket}"
    assert result["has_marker"], f"no artifact with the marker among {result['keys']}"
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "pipeline/runid", "-o", "json"))["items"]
    mine = [pod for pod in pods if pod["metadata"]["labels"].get("pipeline/runid") == result["run_id"]]
    assert mine, f"no pod of run {result['run_id']} in {namespace}"
    assert {pod["spec"]["serviceAccountName"] for pod in mine} == {"pipeline-runner"}


# alice submits a one-step pipeline whose step asks for GPUS GPUs, and only submits it.
GPU_QUOTA_SCRIPT = submit_run_script(r"""
@dsl.component(base_image=os.environ["PIPELINE_IMAGE"])
def wants_gpus() -> str:
    return "never runs"

@dsl.pipeline(name="platform-test-gpu-quota")
def over_quota():
    wants_gpus().set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(int(os.environ["GPUS"]))
""", "over_quota", "gpu-over-quota")


def test_a_pipeline_step_over_its_groups_gpu_quota_is_refused_with_the_quota_named():
    """Pipeline pods count in the group's ResourceQuota: a step asking for more GPUs than
    vision may ever hold (its quota, plus its borrowing limit when Kueue queues the group's work)
    never starts; Argo keeps it pending with the API server's refusal, which names the quota
    (whatever GPUs the nodes have: admission refuses before scheduling)."""
    _kfp_enabled()
    vision = tenant_named("vision")
    namespace = vision.namespace
    image = pipeline_image()
    ceiling = int(quota_ceiling(vision, CFG.tenancy.tenants)[GPU_RESOURCE]) if CFG.queueing.enabled else vision.quota.gpu
    # kfp's set_accelerator_limit takes 1, 2, 4, 8 or 16: the smallest one above the ceiling.
    gpus = min(n for n in (1, 2, 4, 8, 16) if n > ceiling)
    result = run_script_pod(namespace, "gpu-quota", image, GPU_QUOTA_SCRIPT, [
        {"name": "PIPELINE_IMAGE", "value": image}, {"name": "GPUS", "value": str(gpus)},
        {"name": "KFP_HOST", "value": kfp_api()}, {"name": "KFP_TOKEN", "value": person_token("alice")},
        {"name": "NAMESPACE", "value": namespace}], timeout=300)
    selector = f"pipeline/runid={result['run_id']}"
    try:
        def refused():
            workflows = json.loads(kubectl("get", "workflows.argoproj.io", "-n", namespace, "-l", selector,
                                           "-o", "json"))["items"]
            messages = [node.get("message", "") for workflow in workflows
                        for node in workflow.get("status", {}).get("nodes", {}).values()]
            return any("exceeded quota" in message for message in messages), messages
        messages = wait_for(f"the GPU step of run {result['run_id']} refused by the quota", refused, timeout=300)
        message = next(message for message in messages if "exceeded quota" in message)
        assert "tenant-quota" in message, message
        assert "nvidia.com/gpu" in message, message
        pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json"))["items"]
        gpu_pods = [pod["metadata"]["name"] for pod in pods for container in pod["spec"]["containers"]
                    if "nvidia.com/gpu" in container.get("resources", {}).get("limits", {})]
        assert not gpu_pods, f"a pod asking for {gpus} GPUs exists in {namespace}: {gpu_pods}"
    finally:
        kubectl("delete", "workflows.argoproj.io", "-n", namespace, "-l", selector, "--wait=false", check=False)


# As a person with a token (or none): what the KFP API answers. Prints the HTTP status of each call.
KFP_AUTHZ_SCRIPT = r"""
import json, os, urllib.error, urllib.request
api = os.environ["KFP_HOST"]

def call(method, path, token=None, body=None, headers=None):
    request = urllib.request.Request(api + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", **(headers or {}),
                                              **({"Authorization": "Bearer " + token} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, {}

alice, bob = os.environ["ALICE"], os.environ["BOB"]
vision, nlp = os.environ["VISION"], os.environ["NLP"]
status, body = call("GET", f"/apis/v2beta1/runs?namespace={vision}&page_size=5", alice)
runs = body.get("runs", [])
run_id = runs[0]["run_id"] if runs else ""
status_exp, body_exp = call("GET", f"/apis/v2beta1/experiments?namespace={vision}&page_size=5", alice)
experiment_id = (body_exp.get("experiments") or [{}])[0].get("experiment_id", "")
result = {
    "alice_lists_vision_runs": status, "vision_runs": len(runs), "alice_lists_vision_experiments": status_exp,
    "bob_lists_vision_runs": call("GET", f"/apis/v2beta1/runs?namespace={vision}", bob)[0],
    "bob_gets_alice_run": call("GET", f"/apis/v2beta1/runs/{run_id}", bob)[0],
    "bob_deletes_alice_run": call("DELETE", f"/apis/v2beta1/runs/{run_id}", bob)[0],
    "bob_lists_vision_experiments": call("GET", f"/apis/v2beta1/experiments?namespace={vision}", bob)[0],
    "bob_gets_alice_experiment": call("GET", f"/apis/v2beta1/experiments/{experiment_id}", bob)[0],
    "bob_creates_experiment_in_vision": call("POST", "/apis/v2beta1/experiments", bob,
                                             {"display_name": "bob-was-here", "namespace": vision})[0],
    "bob_lists_nlp_runs": call("GET", f"/apis/v2beta1/runs?namespace={nlp}", bob)[0],
    "no_token_lists_vision_runs": call("GET", f"/apis/v2beta1/runs?namespace={vision}")[0],
    "forged_token_lists_vision_runs": call("GET", f"/apis/v2beta1/runs?namespace={vision}", "not-a-token")[0],
    # Upstream trusts this header without a mesh; here no header names a user.
    "header_claims_alice": call("GET", f"/apis/v2beta1/runs?namespace={vision}",
                                headers={"kubeflow-userid": "system:serviceaccount:mlops-people:alice"})[0],
    "run_id": run_id, "experiment_id": experiment_id,
}
print("RESULT " + json.dumps(result))
"""


def test_a_person_reaches_only_the_pipelines_of_the_groups_they_belong_to():
    """bob (nlp) cannot list, get or delete alice's (vision's) runs and experiments, nor create one
    in vision: 403 from the API server's SubjectAccessReview; without a valid token: 401; a
    user-id header names nobody. Runs after the one-step pipeline test (alice's run)."""
    _kfp_enabled()
    vision, nlp = tenant_named("vision"), tenant_named("nlp")
    image = pipeline_image()
    result = run_script_pod(nlp.namespace, "kfp-authz-test", image, KFP_AUTHZ_SCRIPT, [
        {"name": "KFP_HOST", "value": kfp_api()}, {"name": "ALICE", "value": person_token("alice")},
        {"name": "BOB", "value": person_token("bob")}, {"name": "VISION", "value": vision.namespace},
        {"name": "NLP", "value": nlp.namespace}])
    assert (result["alice_lists_vision_runs"], result["alice_lists_vision_experiments"]) == (200, 200), result
    assert result["run_id"], f"alice sees no run in {vision.namespace}: {result}"
    assert result["experiment_id"], f"alice sees no experiment in {vision.namespace}: {result}"
    assert result["bob_lists_nlp_runs"] == 200, f"bob cannot use his own group's pipelines: {result}"
    refused = {key: result[key] for key in ("bob_lists_vision_runs", "bob_gets_alice_run", "bob_deletes_alice_run",
                                            "bob_lists_vision_experiments", "bob_gets_alice_experiment",
                                            "bob_creates_experiment_in_vision")}
    assert set(refused.values()) == {403}, f"bob reached vision's pipelines: {refused}"
    anonymous = {key: result[key] for key in ("no_token_lists_vision_runs", "forged_token_lists_vision_runs",
                                              "header_claims_alice")}
    assert set(anonymous.values()) == {401}, f"a caller without a valid token was not refused with 401: {anonymous}"


# Runs as a pipeline step does (the pipeline runner's ServiceAccount token, the pipeline image) and
# makes the Kubernetes API calls CALLS ([method, path, body]): prints each call's HTTP status.
API_SCRIPT = r"""
import json, os, ssl, urllib.error, urllib.request
token = open("/var/run/secrets/kubernetes.io/serviceaccount/token").read()
context = ssl.create_default_context(cafile="/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
statuses = {}
for method, path, body in json.loads(os.environ["CALLS"]):
    content = "application/merge-patch+json" if method == "PATCH" else "application/json"
    request = urllib.request.Request("https://kubernetes.default.svc" + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + token, "Content-Type": content})
    try:
        statuses[f"{method} {path}"] = urllib.request.urlopen(request, context=context, timeout=30).status
    except urllib.error.HTTPError as error:
        statuses[f"{method} {path}"] = error.code
print("RESULT " + json.dumps(statuses))
"""


# Argo's label on every pod of a workflow: the tenants' NetworkPolicies let pipeline steps, and no
# other pod, reach the Kubernetes API (allow-kubernetes-api-for-steps).
AS_A_PIPELINE_STEP = {ARGO_WORKFLOW_LABEL: "platform-test"}


def test_a_pipeline_step_reads_only_the_bucket_secret_of_its_own_namespace():
    """The pipeline runner of research-vision (every step of vision's pipelines runs as it) reads
    its namespace's bucket Secret (else no run could store an artifact) and no other Secret: not
    its group's others, not research-nlp's, not the platform's."""
    _kfp_enabled()
    from infra.components.kubeflow_pipelines import ARTIFACT_SECRET, PIPELINE_RUNNER

    vision, nlp = tenant_named("vision"), tenant_named("nlp")
    namespace = vision.namespace
    allowed = f"/api/v1/namespaces/{namespace}/secrets/{ARTIFACT_SECRET}"
    forbidden = [f"/api/v1/namespaces/{namespace}/secrets", f"/api/v1/namespaces/{nlp.namespace}/secrets"]
    for ns in (namespace, nlp.namespace, CFG.kubeflow_pipelines.namespace, MLFLOW_NS, STORE_NS):
        names = kubectl("get", "secrets", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}").split()
        forbidden += [f"/api/v1/namespaces/{ns}/secrets/{name}" for name in names if ns != namespace or name != ARTIFACT_SECRET]
    assert f"/api/v1/namespaces/{nlp.namespace}/secrets/{ARTIFACT_SECRET}" in forbidden, forbidden
    image = pipeline_image()
    statuses = run_script_pod(namespace, "secrets-test", image, API_SCRIPT,
                              [{"name": "CALLS", "value": json.dumps([["GET", path, None] for path in [allowed, *forbidden]])}],
                              service_account=PIPELINE_RUNNER, labels=AS_A_PIPELINE_STEP)
    assert statuses[f"GET {allowed}"] == 200, f"the runner cannot read {allowed}: {statuses} (every run would fail)"
    readable = {call: status for call, status in statuses.items() if call != f"GET {allowed}" and status != 403}
    assert not readable, f"a pipeline step can read (or got no 403 for) these Secrets: {readable}"


def test_a_pipeline_step_deploys_only_into_its_own_namespace_and_cannot_patch_pods():
    """As vision's pipeline runner: deploying a model server (Deployment, Service) into
    research-nlp, writing a Secret anywhere, patching a pod or exec-ing into one is refused (403);
    creating a Deployment in its own namespace is allowed (dry run)."""
    _kfp_enabled()
    from infra.components.kubeflow_pipelines import PIPELINE_RUNNER

    vision, nlp = tenant_named("vision"), tenant_named("nlp")
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "intruder"}, "spec": {
        "selector": {"matchLabels": {"app": "intruder"}}, "template": {"metadata": {"labels": {"app": "intruder"}},
        "spec": {"containers": [{"name": "c", "image": "intruder"}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "intruder"},
               "spec": {"selector": {"app": "intruder"}, "ports": [{"port": 8080}]}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "intruder"}, "stringData": {"a": "b"}}
    pod = kubectl("get", "pods", "-n", vision.namespace, "-o", "jsonpath={.items[0].metadata.name}")
    calls = {
        "own_deployment": ["POST", f"/apis/apps/v1/namespaces/{vision.namespace}/deployments?dryRun=All", deployment],
        "nlp_deployment": ["POST", f"/apis/apps/v1/namespaces/{nlp.namespace}/deployments?dryRun=All", deployment],
        "nlp_service": ["POST", f"/api/v1/namespaces/{nlp.namespace}/services?dryRun=All", service],
        "nlp_model_server_patch": ["PATCH", f"/apis/apps/v1/namespaces/{nlp.namespace}/deployments/model-x?dryRun=All", {}],
        "own_secret": ["POST", f"/api/v1/namespaces/{vision.namespace}/secrets?dryRun=All", secret],
        "own_pod_patch": ["PATCH", f"/api/v1/namespaces/{vision.namespace}/pods/{pod}?dryRun=All", {}],
        "own_pod_exec": ["POST", f"/api/v1/namespaces/{vision.namespace}/pods/{pod}/exec?command=id", None],
    }
    image = pipeline_image()
    statuses = run_script_pod(vision.namespace, "deploy-test", image, API_SCRIPT,
                              [{"name": "CALLS", "value": json.dumps(list(calls.values()))}],
                              service_account=PIPELINE_RUNNER, labels=AS_A_PIPELINE_STEP)
    result = {name: statuses[f"{method} {path}"] for name, (method, path, _) in calls.items()}
    assert result["own_deployment"] == 201, f"the runner cannot deploy a model server in its own namespace: {result}"
    refused = {name: status for name, status in result.items() if name != "own_deployment"}
    assert set(refused.values()) == {403}, f"vision's runner was not refused: {refused}"


# Runs in the UI's namespace with the pipeline base image, against the web UI's Service, as a
# browser with a person's token would (no login yet: the token goes in the Authorization
# header, which the UI forwards to the API server): the app's page and bundle, the UI server's
# health (which asks the API server), the group's runs through its API proxy, ML Metadata through
# its gRPC-Web path (the proxy in front of the metadata server), and a run's v2 artifact through
# its artifact handler, with the launcher's provider info, whose Secret (the group's bucket keys)
# the UI reads from the group's namespace.
UI_SCRIPT = r"""
import json, os, re, struct, urllib.parse, urllib.request
import boto3

ui, bucket = os.environ["UI"], os.environ["BUCKET"]

def get(path, data=None, headers=None):
    headers = {"Authorization": "Bearer " + os.environ["KFP_TOKEN"], **(headers or {})}
    request = urllib.request.Request(ui + path, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()

def grpc_web(method, message=b""):
    status, headers, body = get("/ml_metadata.MetadataStoreService/" + method, struct.pack(">BI", 0, len(message)) + message,
                                {"Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1"})
    frames = []
    while len(body) >= 5:
        flags, length = struct.unpack(">BI", body[:5])
        frames.append((flags, body[5:5 + length]))
        body = body[5 + length:]
    trailer = next((payload.decode() for flags, payload in frames if flags == 0x80), "")
    data = b"".join(payload for flags, payload in frames if flags == 0)
    found = re.search(r"grpc-status:(\d+)", trailer)
    return status, headers.get("grpc-status") or (found.group(1) if found else "no grpc-status"), data

result = {}
status, _, page = get("/")
result["page"] = [status, "<title>Kubeflow Pipelines</title>" in page.decode()]
bundle = re.search(r'src="\./(static/js/main\.[0-9a-f]+\.js)"', page.decode())
result["bundle"] = get("/" + bundle.group(1))[0] if bundle else "no main bundle in the page"
result["healthz"] = json.loads(get("/apis/v1beta1/healthz")[2])
status, _, body = get("/apis/v2beta1/runs?page_size=50&sort_by=created_at%20desc&namespace=" + os.environ["NAMESPACE"])
runs = json.loads(body).get("runs", []) if status == 200 else []
done = [r for r in runs if r.get("state") == "SUCCEEDED"]
result["runs"] = [status, len(runs), len(done)]
run_id = done[0]["run_id"] if done else ""
status, code, types = grpc_web("GetArtifactTypes")
result["artifact_types"] = [status, code, sorted({t.decode() for t in re.findall(rb"system\.[A-Za-z]+", types)})]
name = b"system.PipelineRun"
status, code, contexts = grpc_web("GetContextsByType", b"\x0a" + bytes([len(name)]) + name)
result["run_context"] = [status, code, bool(run_id) and run_id.encode() in contexts]
status, code, _ = grpc_web("GetLineageGraph")
result["unimplemented"] = code
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="v2/artifacts/")
        for o in page.get("Contents", []) if run_id and run_id in o["Key"]]
result["keys"] = keys
if keys:
    expected = s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()
    query = urllib.parse.urlencode({"source": "s3", "bucket": bucket, "key": keys[0], "providerInfo": os.environ["PROVIDER_INFO"],
                                    "namespace": os.environ["NAMESPACE"]})
    status, _, body = get("/artifacts/get?" + query)
    result["artifact_v2"] = [status, body == expected, body[:200].decode(errors="replace")]
query = urllib.parse.urlencode({"podname": os.environ["STEP_POD"], "podnamespace": os.environ["NAMESPACE"]})
status, _, body = get("/k8s/pod/logs?" + query)
result["step_logs"] = [status, len(body), body[-300:].decode(errors="replace")]
print("RESULT " + json.dumps(result))
"""


def test_kubeflow_pipelines_ui_serves_the_app_runs_metadata_and_artifacts():
    """Runs after the one-step pipeline test, whose run, lineage and artifact the UI must show."""
    import yaml

    kfp_cfg = CFG.kubeflow_pipelines
    if not (kfp_cfg.enabled and kfp_cfg.ui):
        pytest.skip("LOUD SKIP: kubeflowPipelines.enabled or .ui is false in the local stack")
    vision = tenant_named("vision")
    namespace = vision.namespace  # the one-step run's, alice's group's
    # The provider info the launcher records with each v2 artifact (backend/src/v2/config/s3.go),
    # from the kfp-launcher ConfigMap the component wrote.
    providers = yaml.safe_load(kubectl("get", "configmap", "-n", namespace, "kfp-launcher", "-o", "jsonpath={.data.providers}"))
    default = providers["s3"]["default"]
    secret_ref = default["credentials"]["secretRef"]
    provider_info = json.dumps({"Provider": "s3", "Params": {
        "endpoint": default["endpoint"], "region": default["region"], "disableSSL": str(default["disableSSL"]).lower(),
        "forcePathStyle": "true", "fromEnv": "false", "secretName": secret_ref["secretName"],
        "accessKeyKey": secret_ref["accessKeyKey"], "secretKeyKey": secret_ref["secretKeyKey"]}})
    # A finished step pod of a pipeline run, whose log the UI reads from the cluster.
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "pipeline/runid", "-o", "json"))["items"]
    step_pods = [pod["metadata"]["name"] for pod in pods if pod["status"].get("phase") == "Succeeded"
                 and "main" in [c["name"] for c in pod["spec"]["containers"]]]
    assert step_pods, f"no finished pipeline step pod in {namespace}: the one-step pipeline test runs first"
    image = pipeline_image()
    # From the UI's own namespace: its NetworkPolicy admits only that namespace's pods (people reach
    # the UI through `kubectl port-forward`, which no policy filters), not research groups' pods.
    # The group's bucket keys, to find the run's artifact, come from the group's Secret.
    group_env = json.loads(kubectl("get", "secret", "-n", namespace, PIPELINE_ENV_SECRET, "-o", "jsonpath={.data}"))
    result = run_script_pod(kfp_cfg.namespace, "ui-test", image, UI_SCRIPT, [
        {"name": "UI", "value": f"http://ml-pipeline-ui.{kfp_cfg.namespace}.svc.cluster.local."},
        {"name": "KFP_TOKEN", "value": person_token("alice")},
        {"name": "BUCKET", "value": vision.bucket}, {"name": "NAMESPACE", "value": namespace},
        {"name": "PROVIDER_INFO", "value": provider_info}, {"name": "STEP_POD", "value": step_pods[-1]},
        *({"name": key, "value": base64.b64decode(value).decode()} for key, value in group_env.items())],
        timeout=300)
    logs = kubectl("logs", "-n", kfp_cfg.namespace, "deployment/ml-pipeline-ui", "--tail=40", check=False)
    where = f"\nUI result: {json.dumps(result, indent=1)}\nUI server log (last lines):\n{logs}"
    assert result["page"] == [200, True], f"the app's page{where}"
    assert result["bundle"] == 200, f"the app's JavaScript bundle{where}"
    health = result["healthz"]
    assert (health.get("apiServerReady"), health.get("frontendTagName")) == (True, "2.14.3"), f"UI healthz{where}"
    status, listed, succeeded = result["runs"]
    assert (status, succeeded >= 1) == (200, True), \
        f"runs through the UI's API proxy: {listed} listed, {succeeded} SUCCEEDED{where}"
    status, code, types = result["artifact_types"]
    assert (status, code) == (200, "0"), f"ML Metadata through the UI's gRPC-Web path: GetArtifactTypes{where}"
    assert "system.Dataset" in types, f"the one-step run's output type among the artifact types{where}"
    assert result["run_context"] == [200, "0", True], f"the newest SUCCEEDED run's pipeline-run context in ML Metadata{where}"
    assert result["unimplemented"] == "12", f"an RPC the metadata server lacks comes back UNIMPLEMENTED{where}"
    assert result["keys"], f"no v2 artifact of the newest SUCCEEDED run in bucket {vision.bucket}{where}"
    assert result["artifact_v2"][:2] == [200, True], f"artifact through the UI (the launcher's provider info){where}"
    status, size, _ = result["step_logs"]
    assert (status, size > 0) == (200, True), f"step pod {step_pods[-1]}'s log through the UI{where}"
