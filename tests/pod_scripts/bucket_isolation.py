"""Runs in tenant A's namespace with A's `mlops-credentials`: A's own bucket works, tenant B's bucket
is refused for reading, listing and writing.

Run by tests/platform/test_platform.py."""

import json
import os

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
