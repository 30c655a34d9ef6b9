"""Run in a tenant namespace with the MLflow image as the tenant (its mlops-credentials); STEP says
what to do with the marker object in the tenant's bucket and the MLflow run.

Run by tests/platform/test_backup.py."""

import json
import os

import boto3
import mlflow
from botocore.exceptions import ClientError
from mlflow import MlflowClient

step, marker = os.environ["STEP"], os.environ["MARKER"]
s3, bucket = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"]), os.environ["MLOPS_ARTIFACT_BUCKET"]
key, body = f"backup-test/{marker}", marker.encode() * 1000
workspace = os.environ["MLFLOW_WORKSPACE"]
client, result = MlflowClient(), {}
if step == "before":
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    mlflow.set_experiment(f"/{workspace}/backup-test-{marker}")
    with mlflow.start_run() as run:
        mlflow.log_param("marker", marker)
        mlflow.log_metric("score", 0.25)
    result["run_id"] = run.info.run_id
elif step == "damage":
    s3.delete_object(Bucket=bucket, Key=key)
    client.delete_run(os.environ["RUN_ID"])
    mlflow.set_experiment(f"/{workspace}/after-backup-{marker}")
else:
    try:
        result["object"] = s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    except ClientError as error:
        result["object"] = error.response["Error"]["Code"]
    run = client.get_run(os.environ["RUN_ID"])
    result["stage"], result["params"], result["metrics"] = run.info.lifecycle_stage, run.data.params, run.data.metrics
    result["after_backup_experiment"] = client.get_experiment_by_name(f"/{workspace}/after-backup-{marker}") is not None
print("RESULT " + json.dumps(result))
