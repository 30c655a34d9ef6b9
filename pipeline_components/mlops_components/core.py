"""The steps' logic as plain Python: what each Kubeflow Pipelines component of
`mlops_components.components` runs, callable and testable without KFP or a cluster.

Every step is deterministic for a given input and seed: the dataset is one bundled with
scikit-learn (no download), the split is stratified with a fixed seed, the estimators take the
seed and run single-threaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn import datasets as sk_datasets
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops_components.contract import MLFLOW_READER_KEYS, MLFLOW_READER_SECRET, SERVING_LABEL, SERVING_PORT

TARGET = "target"
# Datasets that ship inside scikit-learn's wheel: they load without any network.
DATASETS = {
    "iris": sk_datasets.load_iris,
    "wine": sk_datasets.load_wine,
    "breast_cancer": sk_datasets.load_breast_cancer,
    "digits": sk_datasets.load_digits,
}
MODEL_TYPES = ("random_forest", "logistic_regression")
NOT_IN_A_POD = "none (not running in a Kubernetes pod)"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class QualityGateError(RuntimeError):
    """The model scored below the pipeline's quality gate."""


# --- data -----------------------------------------------------------------------------------------

def load_dataset(name: str) -> pd.DataFrame:
    """The bundled dataset `name` as one frame: feature columns (names made identifier-safe) and
    the integer column `target`."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; bundled datasets: {', '.join(sorted(DATASETS))}")
    bunch = DATASETS[name]()
    columns = [re.sub(r"[^0-9a-zA-Z]+", "_", str(column)).strip("_").lower() for column in bunch.feature_names]
    frame = pd.DataFrame(np.asarray(bunch.data, dtype="float64"), columns=columns)
    frame[TARGET] = np.asarray(bunch.target, dtype="int64")
    return frame


def write_csv(frame: pd.DataFrame, path: str) -> str:
    """Writes `frame` as CSV (fixed float format: the same data gives the same bytes) and returns
    the file's SHA-256."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.10g", lineterminator="\n")
    return file_sha256(path)


def read_csv(path: str) -> pd.DataFrame:
    return pd.read_csv(path)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split(frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified train/test split with a fixed seed."""
    if not 0.05 <= test_size <= 0.5:
        raise ValueError(f"test_size={test_size} is outside [0.05, 0.5]")
    if TARGET not in frame.columns:
        raise ValueError(f"the data has no {TARGET!r} column (columns: {', '.join(frame.columns)})")
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=frame[TARGET])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[TARGET])


# --- model ----------------------------------------------------------------------------------------

def build_model(model_type: str, seed: int, n_estimators: int = 100, max_depth: int = 5, c: float = 1.0):
    """A scikit-learn estimator; single-threaded so that a seed gives the same model every time."""
    if model_type == "random_forest":
        if n_estimators < 1 or max_depth < 1:
            raise ValueError(f"random_forest needs n_estimators >= 1 and max_depth >= 1 (got {n_estimators}, {max_depth})")
        return RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=seed, n_jobs=1)
    if model_type == "logistic_regression":
        if c <= 0:
            raise ValueError(f"logistic_regression needs c > 0 (got {c})")
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000, random_state=seed))
    raise ValueError(f"unknown model_type {model_type!r}; allowed: {', '.join(MODEL_TYPES)}")


def train(frame: pd.DataFrame, model_type: str, seed: int, **params):
    model = build_model(model_type, seed, **params)
    model.fit(features(frame), frame[TARGET])
    return model


def save_model(model, path: str) -> str:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    return file_sha256(path)


def load_model(path: str):
    return joblib.load(path)


def evaluate(model, frame: pd.DataFrame) -> dict[str, float]:
    predicted = model.predict(features(frame))
    return {
        "accuracy": round(float(accuracy_score(frame[TARGET], predicted)), 6),
        "f1_macro": round(float(f1_score(frame[TARGET], predicted, average="macro")), 6),
        "test_rows": float(len(frame)),
    }


def quality_gate(metrics: dict[str, float], min_accuracy: float) -> None:
    if metrics["accuracy"] < min_accuracy:
        raise QualityGateError(f"quality gate failed: accuracy {metrics['accuracy']:.4f} < min_accuracy "
                               f"{min_accuracy:.4f}; the model is not registered")


# --- provenance -----------------------------------------------------------------------------------

def running_image() -> dict[str, str]:
    """The image and image digest of the container running this step, read from the Kubernetes
    API (KFP sets KFP_POD_NAME; the pipeline runner may read its pods). Outside a pod, says so."""
    pod_name = os.environ.get("KFP_POD_NAME", "")
    if not pod_name or not (SERVICE_ACCOUNT_DIR / "namespace").exists():
        return {"image": NOT_IN_A_POD, "image_id": NOT_IN_A_POD}
    from kubernetes import client, config

    config.load_incluster_config()
    namespace = (SERVICE_ACCOUNT_DIR / "namespace").read_text().strip()
    pod = client.CoreV1Api().read_namespaced_pod(pod_name, namespace)
    for status in pod.status.container_statuses or []:
        if status.name == "main":
            return {"image": status.image, "image_id": status.image_id}
    raise RuntimeError(f"pod {namespace}/{pod_name} has no container 'main' in its status")


# --- MLflow ---------------------------------------------------------------------------------------

def register(model_path: str, sample: pd.DataFrame, experiment: str, model_name: str,
             params: dict[str, Any], metrics: dict[str, float], tags: dict[str, str],
             training: pd.DataFrame | None = None) -> dict[str, str]:
    """Logs params, metrics, provenance tags and the model to a new MLflow run in `experiment`,
    and registers the model as a new version of `model_name`. With `training` (the data the model
    was trained from), its features' statistics go to the run as drift/reference.json, which the
    model server compares its inputs with (mlops_components.drift). MLflow's location and credentials
    come from the environment (MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME/PASSWORD)."""
    import mlflow
    from mlflow.models import infer_signature

    from mlops_components import drift

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        raise RuntimeError("MLFLOW_TRACKING_URI is not set: the step needs MLflow's address "
                           "(in the cluster the research group's Secret mlops-credentials provides it)")
    model = load_model(model_path)
    inputs = features(sample)
    signature = infer_signature(inputs, model.predict(inputs))
    # The experiment's id, not the active experiment: when two steps create the same experiment at
    # once, the loser's set_experiment returns it without making it active (MLflow 3's fluent API),
    # and its run would go to the default experiment, outside the group's workspace (403).
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    with mlflow.start_run(experiment_id=experiment_id, run_name=tags.get("kfp.run_name") or None) as run:
        mlflow.set_tags(tags)
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        if training is not None:
            mlflow.log_dict(drift.reference(features(training)), drift.REFERENCE_ARTIFACT)
        # skops refuses types it cannot vouch for (e.g. sklearn.tree._tree.Tree of a random forest);
        # this step made the model from its own training run, so the types it contains are trusted.
        import skops.io

        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
        info = mlflow.sklearn.log_model(model, name="model", signature=signature, input_example=inputs.head(3),
                                        registered_model_name=model_name, skops_trusted_types=trusted)
    version = str(info.registered_model_version)
    return {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id, "model_version": version,
            "model_uri": f"models:/{model_name}/{version}"}


# --- serving --------------------------------------------------------------------------------------

# SERVING_PORT and SERVING_LABEL (mlops_components.contract): what the tenants' NetworkPolicy admits.


def dns_name(value: str, prefix: str = "model-") -> str:
    """`value` as a Kubernetes object name (RFC 1123 label, at most 63 characters)."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"{prefix}{value}".lower()).strip("-")
    return name[:63].rstrip("-")


def serving_manifests(model_name: str, model_version: str, namespace: str, image: str,
                      credentials_secret: str = MLFLOW_READER_SECRET, cpu: str = "500m",
                      memory: str = "768Mi") -> list[dict]:
    """A Deployment running MLflow's model server (with request metrics: mlops_components.serving) for
    `models:/<model_name>/<model_version>` and its Service, for a namespace with the `restricted` Pod Security level and a ResourceQuota.
    The server reads the model from MLflow with the research group's read-only identity, which
    the platform keeps in `credentials_secret` (its address, workspace, user and password)."""
    name = dns_name(model_name)
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "model-server",
              "app.kubernetes.io/part-of": "mlops-platform", SERVING_LABEL: "true"}
    secret_env = [{"name": key, "valueFrom": {"secretKeyRef": {"name": credentials_secret, "key": key}}}
                  for key in MLFLOW_READER_KEYS]
    container = {
        "name": "server",
        "image": image,
        # MLflow's scoring server, measured: Prometheus reads /metrics on the same port (mlops_components.serving).
        "command": ["python3", "-m", "mlops_components.serving", "--model-uri", f"models:/{model_name}/{model_version}",
                    "--host", "0.0.0.0", "--port", str(SERVING_PORT)],  # noqa: S104
        "env": [*secret_env,
                {"name": "HOME", "value": "/tmp"}, {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"}],  # noqa: S108
        "ports": [{"name": "http", "containerPort": SERVING_PORT}],
        "readinessProbe": {"httpGet": {"path": "/ping", "port": "http"}, "periodSeconds": 5, "failureThreshold": 3},
        "startupProbe": {"httpGet": {"path": "/ping", "port": "http"}, "periodSeconds": 5, "failureThreshold": 60},
        "resources": {"requests": {"cpu": "100m", "memory": "384Mi"}, "limits": {"cpu": cpu, "memory": memory}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
    }
    annotations = {"mlops-platform/model-uri": f"models:/{model_name}/{model_version}"}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {"automountServiceAccountToken": False, "containers": [container],
                         "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]},
            },
        },
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"selector": {"app.kubernetes.io/name": name},
                 "ports": [{"name": "http", "port": SERVING_PORT, "targetPort": "http"}]},
    }
    return [deployment, service]


def endpoint(model_name: str, namespace: str) -> str:
    return f"http://{dns_name(model_name)}.{namespace}.svc.cluster.local:{SERVING_PORT}"


def invocation_body(sample: pd.DataFrame) -> dict:
    inputs = features(sample)
    return {"dataframe_split": {"columns": list(inputs.columns), "data": inputs.values.tolist()}}


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
