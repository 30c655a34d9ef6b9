"""Runs inside the cluster, in MLflow's namespace, with the MLflow image (client, boto3).

Run by tests/platform/test_platform.py."""

import json
import os
import urllib.error
import urllib.request
import uuid

import boto3
import mlflow

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
