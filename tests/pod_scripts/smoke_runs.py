"""Runs in the research group's namespace with the pipeline base image, its `mlops-credentials` Secret
(MLflow as the group, the group's bucket) and a person's KFP token: submits the pipeline RUNS times,
waits, collects what the runs left in KFP, MLflow and the bucket, and asks the deployed model server
for predictions.

Run by smoke_tests/smoke.py."""

import json
import os
import tempfile
import time

import boto3
import kfp
import kfp_server_api
import mlflow
import requests
import urllib3
from mlflow import MlflowClient
from sklearn.datasets import load_iris

with open("/tmp/pipeline.yaml", "w") as f:
    f.write(os.environ["PIPELINE_YAML"])
arguments = json.loads(os.environ["ARGUMENTS"])
client = kfp.Client(host=os.environ["KFP_HOST"], existing_token=os.environ["KFP_TOKEN"],
                    namespace=os.environ["NAMESPACE"])
started = time.time()
timeout = int(os.environ["RUN_TIMEOUT"])


def wait_for_run(run_id):
    # kfp's wait_for_run_completion gives up on the first error; while the API server's database
    # restarts (make fault-test) it answers 500 for a while: ask again, as a researcher would.
    deadline = time.time() + timeout
    while True:
        try:
            run = client.get_run(run_id)
        except (kfp_server_api.exceptions.ApiException, urllib3.exceptions.HTTPError) as error:
            if time.time() > deadline or getattr(error, "status", 500) < 500:
                raise
            print(f"asking again in 5 s: get_run {run_id}: {str(error).splitlines()[0]}", flush=True)
            time.sleep(5)
            continue
        if str(run.state) in ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELED") or time.time() > deadline:
            return run
        time.sleep(5)


def experiment_id(name):
    """The KFP experiment's id, made when missing. kfp's client looks the name up, then creates it: a
    submitter doing the same at that moment (the smoke tests submit two pipelines at once) makes it
    first and KFP answers 409 Already exists; the look-up then finds that one."""
    try:
        return client.create_experiment(name, namespace=os.environ["NAMESPACE"]).experiment_id
    except kfp_server_api.exceptions.ApiException as error:
        if error.status != 409:
            raise
        print(f"experiment {name} made by another submitter meanwhile: using it", flush=True)
        return client.create_experiment(name, namespace=os.environ["NAMESPACE"]).experiment_id


experiment = experiment_id("smoke-tests")
runs, finished = [], []
# One after the other, without KFP's cache: the second run must compute everything again.
for i in range(1, int(os.environ["RUNS"]) + 1):
    run_id = client.create_run_from_pipeline_package("/tmp/pipeline.yaml", arguments=arguments,
                                                     run_name=f"smoke-{os.environ['MARKER']}-{i}",
                                                     experiment_id=experiment, namespace=os.environ["NAMESPACE"],
                                                     enable_caching=False).run_id
    print(f"submitted run {run_id}", flush=True)
    runs.append(run_id)
    finished.append(wait_for_run(run_id))
result = {"runs": [], "wall_s": round(time.time() - started, 1)}
mlflow_client = MlflowClient()
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
bucket = os.environ["BUCKET"]
for run_id, run in zip(runs, finished, strict=True):
    entry = {"run_id": run_id, "state": str(run.state), "error": str(run.error) if run.error else "",
             "duration_s": (run.finished_at - run.created_at).total_seconds() if run.finished_at else None}
    result["runs"].append(entry)
    if entry["state"] != "SUCCEEDED":
        continue
    entry["bucket_keys"] = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                            for o in page.get("Contents", []) if run_id in o["Key"]]
    found = mlflow.search_runs(experiment_names=[arguments["experiment_name"]],
                               filter_string=f"tags.`kfp.run_id` = '{run_id}'", output_format="list")
    entry["mlflow_runs"] = len(found)
    if not found:
        continue
    mlrun = found[0]
    entry.update(metrics=mlrun.data.metrics, params=mlrun.data.params, tags=mlrun.data.tags,
                 mlflow_run_id=mlrun.info.run_id, mlflow_user=mlrun.info.user_id)
    versions = mlflow_client.search_model_versions(f"name='{arguments['model_name']}' and run_id='{mlrun.info.run_id}'")
    entry["versions"] = [v.version for v in versions]
    if versions:
        files = os.listdir(mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{arguments['model_name']}/{versions[0].version}", dst_path=tempfile.mkdtemp()))
        entry["model_files"] = sorted(files)
iris = load_iris(as_frame=True)
sample = iris.frame.sample(n=12, random_state=0)
columns = [c.replace(" (cm)", "_cm").replace(" ", "_") for c in iris.feature_names]
body = {"dataframe_split": {"columns": columns, "data": sample[iris.feature_names].values.tolist()}}
try:
    response = requests.post(os.environ["SERVING_URL"] + "/invocations", json=body, timeout=60)
    result["serving"] = {"status": response.status_code, "body": response.text[:2000],
                         "expected": sample["target"].tolist()}
except requests.RequestException as error:
    result["serving"] = {"status": None, "body": str(error), "expected": sample["target"].tolist()}
# DRIFT_CHECK=1: inputs far from the training data (each feature 3 of its standard deviations higher),
# then the drift check (mlops_components.drift, what the pipeline component check_drift runs) records
# the server's drift in MLflow as the group.
last_versions = result["runs"][-1].get("versions") if result["runs"] else None
if os.environ.get("DRIFT_CHECK") == "1" and result["serving"]["status"] == 200 and last_versions:
    from mlops_components import drift

    features = iris.frame[iris.feature_names]
    shifted = features.sample(n=60, random_state=1) + 3 * features.std()
    before = requests.get(os.environ["SERVING_URL"] + "/drift", timeout=60).json()
    answer = requests.post(os.environ["SERVING_URL"] + "/invocations", timeout=60,
                           json={"dataframe_split": {"columns": columns, "data": shifted.values.tolist()}})
    report, drift_run = drift.check(os.environ["SERVING_URL"], arguments["model_name"], last_versions[0])
    mlflow_client = MlflowClient()
    result["drift"] = {"before": before, "shifted_status": answer.status_code, "report": report, "run_id": drift_run,
                       "version": last_versions[0], "user": mlflow_client.get_run(drift_run).info.user_id,
                       "max_psi": [m.value for m in mlflow_client.get_metric_history(drift_run, "drift.max_psi")]}
print("RESULT " + json.dumps(result))
