"""The registered versions of MODEL_NAME and whether each one's files download (as the tenant).

Run by smoke_tests/test_faults.py."""

import json
import os
import tempfile

import mlflow
from mlflow import MlflowClient

result = {}
for version in MlflowClient().search_model_versions(f"name='{os.environ['MODEL']}'"):
    try:
        files = os.listdir(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{os.environ['MODEL']}/{version.version}",
                                                               dst_path=tempfile.mkdtemp()))
        result[version.version] = "MLmodel" in files
    except Exception as error:
        result[version.version] = f"{type(error).__name__}: {error}"[:300]
print("RESULT " + json.dumps(result))
