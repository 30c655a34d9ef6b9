"""Runs in a tenant's namespace with the MLflow image, as that tenant (its mlops-credentials: the
editor user of its MLflow workspace); OTHER_* are another tenant's editor, READER_* this tenant's
reader. Logs a run with an artifact and a registered model, then prints the HTTP status of what each
identity tries.

Run by tests/platform/test_platform.py."""

import json
import os

import mlflow
import requests
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
with open(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="artifact.bin",
                                             dst_path="/tmp/dl"), "rb") as artifact:
    downloaded = artifact.read()
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
