"""Runs in research group vision's namespace with the pipeline base image (kfp SDK 2.14.3, boto3), as
alice (her token): lists the group's pipelines through the KFP API, compiles and submits a one-step
pipeline whose component writes an output artifact, waits for the run, and reads the artifact back
from the group's bucket with the group's keys (Secret `mlops-credentials`).

Run by tests/platform/test_platform.py."""

import json
import os

import boto3
import kfp
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
