"""The platform that `make up` deployed with `pulumi up --stack local`, checked for real: every
platform pod Ready; MLflow refuses anonymous requests, accepts an authenticated run with an
artifact, and the artifact lands in the object-store bucket."""

from __future__ import annotations

import json
import uuid

import pytest

from infra.config import parse
from tests.cluster.test_local_cluster import kubectl, wait_for
from tests.unit.test_config import stack_values

pytestmark = pytest.mark.e2e
CFG = parse(*stack_values("local"))
MLFLOW_NS = CFG.mlflow.namespace
STORE_NS = CFG.object_store.namespace

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


def test_every_platform_pod_is_ready():
    for namespace in (STORE_NS, MLFLOW_NS):
        def probe(namespace=namespace):
            pods = json.loads(kubectl("get", "pods", "-n", namespace, "-o", "json"))["items"]
            state = {}
            for pod in pods:
                if pod["status"].get("phase") == "Succeeded":
                    continue  # finished Jobs (bucket setup)
                ready = any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
                if not ready:
                    state[pod["metadata"]["name"]] = pod["status"].get("phase")
            return bool(pods) and not state, state or [p["metadata"]["name"] for p in pods]
        wait_for(f"pods in {namespace} to be Ready", probe, timeout=300)


def test_mlflow_refuses_anonymous_and_stores_an_authenticated_run_with_its_artifact_in_the_bucket():
    marker = uuid.uuid4().hex[:12]
    image = kubectl("get", "deployment", "-n", MLFLOW_NS, "mlflow", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
    secret_env = [
        {"name": "MLFLOW_TRACKING_USERNAME", "valueFrom": {"secretKeyRef": {"name": "mlflow-auth", "key": "admin-username"}}},
        {"name": "MLFLOW_TRACKING_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "mlflow-auth", "key": "admin-password"}}},
        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "mlflow-s3", "key": "AWS_ACCESS_KEY_ID"}}},
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "mlflow-s3", "key": "AWS_SECRET_ACCESS_KEY"}}},
    ]
    endpoint = f"http://object-store.{STORE_NS}.svc.cluster.local:8333"
    name = f"platform-test-{marker}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "client", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": ["python", "-c", CLIENT_SCRIPT],
            "env": [*secret_env, {"name": "MARKER", "value": marker}, {"name": "HOME", "value": "/tmp"},  # noqa: S108 - the pod's own /tmp
                    {"name": "MLFLOW_S3_ENDPOINT_URL", "value": endpoint},
                    {"name": "BUCKET", "value": CFG.mlflow.artifact_bucket}],
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}]}}
    kubectl("apply", "-n", MLFLOW_NS, "-f", "-", stdin=json.dumps(pod))
    try:
        def done():
            phase = kubectl("get", "pod", "-n", MLFLOW_NS, name, "-o", "jsonpath={.status.phase}", check=False)
            return phase in ("Succeeded", "Failed"), phase
        phase = wait_for(f"the MLflow client pod {name}", done, timeout=300)
        logs = kubectl("logs", "-n", MLFLOW_NS, name, check=False)
        assert phase == "Succeeded", f"client pod {phase}:\n{logs}"
        result = json.loads(next(line for line in logs.splitlines() if line.startswith("RESULT "))[7:])
        assert result["anonymous"] == 401, f"an anonymous request got {result['anonymous']}, expected 401"
        assert result["param"] == marker
        assert result["metric"] == 0.5
        assert result["keys"], f"no object of the run in bucket {CFG.mlflow.artifact_bucket}"
        assert result["body"] == f"artifact-{marker}", "the artifact's content came back from the object store"
    finally:
        kubectl("delete", "pod", "-n", MLFLOW_NS, name, "--wait=false", check=False)
