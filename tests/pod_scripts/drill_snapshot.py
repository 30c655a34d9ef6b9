"""Runs in the tenant's namespace on the pipeline image as the tenant (mlops-credentials) and as alice
(KFP token); prints everything the group would miss after a disaster, in a stable order.

Run by smoke_tests/backup_drill.py."""

import json
import os

import kfp
import requests
from mlflow import MlflowClient
from sklearn.datasets import load_iris

client, snapshot = MlflowClient(), {"experiments": {}, "models": {}}
for experiment in sorted(client.search_experiments(), key=lambda e: e.name):
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    snapshot["experiments"][experiment.name] = sorted(
        ({"run_id": r.info.run_id, "status": r.info.status, "params": r.data.params, "metrics": r.data.metrics,
          "tags": {k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.")},
          "artifacts": sorted(f.path for f in client.list_artifacts(r.info.run_id))} for r in runs),
        key=lambda r: r["run_id"])
for model in client.search_registered_models():
    snapshot["models"][model.name] = sorted(
        ({"version": v.version, "run_id": v.run_id, "source": v.source, "status": v.status}
         for v in client.search_model_versions(f"name='{model.name}'")), key=lambda v: int(v["version"]))
kfp_client = kfp.Client(host=os.environ["KFP_HOST"], existing_token=os.environ["KFP_TOKEN"], namespace=os.environ["NAMESPACE"])
runs = kfp_client.list_runs(namespace=os.environ["NAMESPACE"], page_size=200).runs or []
snapshot["kfp_runs"] = sorted(({"run_id": r.run_id, "name": r.display_name, "state": str(r.state)} for r in runs),
                              key=lambda r: r["run_id"])
iris = load_iris(as_frame=True)
sample = iris.frame.sample(n=12, random_state=0)
columns = [c.replace(" (cm)", "_cm").replace(" ", "_") for c in iris.feature_names]
body = {"dataframe_split": {"columns": columns, "data": sample[iris.feature_names].values.tolist()}}
response = requests.post(os.environ["SERVING_URL"] + "/invocations", json=body, timeout=120)
snapshot["serving"] = {"status": response.status_code, "predictions": response.json().get("predictions")
                       if response.ok else response.text[:500]}
print("RESULT " + json.dumps(snapshot))
