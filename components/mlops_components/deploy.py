"""Deploys a registered MLflow model version as a model server in a research group's namespace:
a read-only MLflow user for the server, its credentials in a Secret, the Deployment and Service
of `core.serving_manifests` (server-side apply: a rerun updates them), then waits for the rollout
and checks that the server answers predictions. Runs in a pipeline pod whose service account may
manage Deployments, Services and Secrets in that namespace (the platform's Tenants component
grants this to Kubeflow Pipelines' `pipeline-runner`)."""

from __future__ import annotations

import base64
import os
import secrets
import time
from typing import Any

import requests

from mlops_components import core

FIELD_MANAGER = "mlops-components-deploy"
READ = "READ"


class DeployError(RuntimeError):
    pass


# --- MLflow: a read-only user for the model server -----------------------------------------------

class MlflowAdmin:
    """The parts of MLflow's basic-auth admin API the deploy step needs, with the step's
    credentials (MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD)."""

    def __init__(self) -> None:
        missing = [key for key in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
                   if not os.environ.get(key)]
        if missing:
            raise DeployError(f"{', '.join(missing)} not set: the deploy step needs MLflow's address and an "
                              "admin's credentials (in the cluster the Secret mlops-pipeline-env provides them)")
        self.uri = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
        self.auth = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"])

    def _call(self, method: str, path: str, payload: dict, exists_ok: bool = False) -> bool:
        response = requests.request(method, f"{self.uri}/api/{path}", json=payload, auth=self.auth, timeout=30)
        if response.ok:
            return True
        if exists_ok and response.status_code in (400, 409) and "RESOURCE_ALREADY_EXISTS" in response.text:
            return False
        raise DeployError(f"MLflow {method} /api/{path} answered {response.status_code}: {response.text[:300]}")

    def ensure_reader(self, username: str, password: str, experiment_id: str, model_name: str) -> None:
        """User `username` with `password`, allowed to READ the experiment (the model's artifacts)
        and the registered model, nothing else (the server's default permission is none).
        MLflow 3.17's auth API: users/create, users/update-password, users/permissions/grant."""
        if not self._call("POST", "2.0/mlflow/users/create", {"username": username, "password": password},
                          exists_ok=True):
            self._call("PATCH", "2.0/mlflow/users/update-password", {"username": username, "password": password})
        for resource_type, resource_id in (("experiment", experiment_id), ("registered_model", model_name)):
            self._call("POST", "3.0/mlflow/users/permissions/grant",
                       {"username": username, "resource_type": resource_type, "resource_id": resource_id,
                        "permission": READ}, exists_ok=True)


# --- Kubernetes -----------------------------------------------------------------------------------

def _api():
    from kubernetes import client, config

    config.load_incluster_config()
    return client.ApiClient()


def apply(api, manifest: dict) -> None:
    """Server-side apply of one namespaced object (apps/v1 Deployment, v1 Service or Secret)."""
    kind, meta = manifest["kind"], manifest["metadata"]
    group = "/api/v1" if manifest["apiVersion"] == "v1" else f"/apis/{manifest['apiVersion']}"
    plural = {"Deployment": "deployments", "Service": "services", "Secret": "secrets"}[kind]
    path = f"{group}/namespaces/{meta['namespace']}/{plural}/{meta['name']}"
    from kubernetes.client.rest import ApiException

    try:
        api.call_api(path, "PATCH", query_params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
                     header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
                     body=manifest, auth_settings=["BearerToken"], response_type="object", _preload_content=True)
    except ApiException as error:
        raise DeployError(f"applying {kind} {meta['namespace']}/{meta['name']} failed: {error.status} {error.reason}: "
                          f"{(error.body or '')[:400]}") from error


def _diagnostics(api, namespace: str, name: str) -> str:
    from kubernetes import client

    core_api = client.CoreV1Api(api)
    lines = []
    pods = core_api.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/name={name}").items
    for pod in pods:
        states = [(s.name, s.ready, s.restart_count, str(s.state)) for s in pod.status.container_statuses or []]
        lines.append(f"pod {pod.metadata.name}: {pod.status.phase} {states}")
        try:
            lines.append(core_api.read_namespaced_pod_log(pod.metadata.name, namespace, tail_lines=30))
        except Exception as error:
            lines.append(f"(no logs: {error})")
    for event in core_api.list_namespaced_event(namespace).items[-15:]:
        lines.append(f"event {event.involved_object.kind}/{event.involved_object.name}: {event.reason} {event.message}")
    return "\n".join(lines)


def wait_for_rollout(api, namespace: str, name: str, timeout: float) -> None:
    from kubernetes import client

    apps = client.AppsV1Api(api)
    deadline = time.monotonic() + timeout
    last = "not read yet"
    while time.monotonic() < deadline:
        deployment = apps.read_namespaced_deployment(name, namespace)
        status, wanted = deployment.status, deployment.spec.replicas
        last = (f"generation {deployment.metadata.generation}, observed {status.observed_generation}, "
                f"updated {status.updated_replicas}, available {status.available_replicas}, wanted {wanted}")
        if (status.observed_generation or 0) >= deployment.metadata.generation and status.updated_replicas == wanted \
                and status.available_replicas == wanted and (status.replicas or 0) == wanted:
            print(f"[deploy] {namespace}/{name} rolled out: {last}", flush=True)
            return
        print(f"[deploy] waiting for {namespace}/{name}: {last}", flush=True)
        time.sleep(5)
    raise DeployError(f"{namespace}/{name} did not roll out within {timeout:.0f} s ({last})\n"
                      f"{_diagnostics(api, namespace, name)}")


def predict(url: str, body: dict, timeout: float = 120) -> list[Any]:
    """POSTs `body` to the server's /invocations, retrying while the Service settles."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            response = requests.post(f"{url}/invocations", json=body, timeout=30)
            if response.ok:
                return response.json()["predictions"]
            last = f"HTTP {response.status_code}: {response.text[:300]}"
        except (requests.RequestException, KeyError, ValueError) as error:
            last = str(error)
        time.sleep(3)
    raise DeployError(f"{url}/invocations gave no predictions within {timeout:.0f} s: {last}")


def deploy(model_name: str, model_version: str, experiment_id: str, namespace: str, image: str,
           sample, timeout: float = 600) -> dict[str, Any]:
    """Deploys `models:/<model_name>/<model_version>` into `namespace` and returns the endpoint and
    the predictions it gave for `sample` (a frame with the target column)."""
    admin = MlflowAdmin()
    name = core.dns_name(model_name)
    secret_name = f"{name}-mlflow-reader"
    username = core.dns_name(f"{namespace}-{model_name}", prefix="serving-")
    password = secrets.token_urlsafe(24)
    admin.ensure_reader(username, password, experiment_id, model_name)
    print(f"[deploy] MLflow user {username} may read experiment {experiment_id} and model {model_name}", flush=True)
    api = _api()
    secret = {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": secret_name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/part-of": "mlops-platform", core.SERVING_LABEL: "true"}},
        "data": {key: base64.b64encode(value.encode()).decode()
                 for key, value in (("MLFLOW_TRACKING_USERNAME", username), ("MLFLOW_TRACKING_PASSWORD", password))},
    }
    apply(api, secret)
    manifests = core.serving_manifests(model_name, model_version, namespace, image, admin.uri, secret_name)
    # The password changed: a new pod must pick it up even when the version did not change.
    manifests[0]["spec"]["template"]["metadata"]["annotations"]["mlops-platform/credentials-rotated"] = \
        str(int(time.time()))
    for manifest in manifests:
        apply(api, manifest)
        print(f"[deploy] applied {manifest['kind']} {namespace}/{manifest['metadata']['name']}", flush=True)
    wait_for_rollout(api, namespace, name, timeout)
    url = core.endpoint(model_name, namespace)
    predictions = predict(url, core.invocation_body(sample))
    if len(predictions) != len(sample):
        raise DeployError(f"{url} returned {len(predictions)} predictions for {len(sample)} rows: {predictions}")
    print(f"[deploy] {url} answered {predictions}", flush=True)
    return {"endpoint": url, "predictions": predictions, "deployment": name, "credentials_secret": secret_name}
