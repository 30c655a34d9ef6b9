"""Runs on this machine, outside the cluster, as a researcher's laptop would: the public mlflow client
(the pipelines' virtualenv, the same packages as the pipeline image) with only the MLFLOW_* settings
of the group's Secret, through a port-forward to MLflow. No S3 keys: every byte goes through
MLflow's proxy. Logs a 12 MiB artifact and a model, downloads the one, loads the other.

Run by tests/platform/test_platform.py."""

import hashlib
import json
import os
import tempfile

import mlflow
import numpy
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
