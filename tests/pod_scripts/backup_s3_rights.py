"""Run in the backup namespace with the backup's own credentials (platform-backup-credentials): what
its S3 user may and may not do.

Run by tests/platform/test_backup.py."""

import json
import os
import uuid

import boto3
from botocore.exceptions import ClientError

s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"])
def attempt(call):
    try:
        call()
        return "allowed"
    except ClientError as error:
        return error.response["Error"]["Code"]
bucket, name = os.environ["TENANT_BUCKET"], f"backup-refusal-{uuid.uuid4().hex[:8]}"
result = {
    "list the tenant's bucket": attempt(lambda: s3.list_objects_v2(Bucket=bucket, MaxKeys=1)),
    "create a bucket": attempt(lambda: s3.create_bucket(Bucket=name)),
    "delete the tenant's bucket": attempt(lambda: s3.delete_bucket(Bucket=bucket)),
}
print("RESULT " + json.dumps(result))
