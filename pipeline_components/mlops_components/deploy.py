"""Deploys a registered MLflow model version as a model server in the research group's own
namespace: the Deployment and Service of `core.serving_manifests` (server-side apply: a rerun
updates them), then waits for the rollout and checks that the server answers predictions. The
server reads its model with the group's read-only MLflow identity, which the platform keeps in
the namespace's Secret `mlflow-reader`: the step creates no MLflow user and writes no Secret.
Runs in a pipeline pod of that namespace, whose service account (`pipeline-runner`) may manage
Deployments and Services there and nothing in other namespaces."""

from __future__ import annotations

import time
from typing import Any

import requests

from mlops_components import core

FIELD_MANAGER = "mlops-components-deploy"


class DeployError(RuntimeError):
    pass


# --- Kubernetes -----------------------------------------------------------------------------------

def _api():
    from kubernetes import client, config

    config.load_incluster_config()
    return client.ApiClient()


def apply(api, manifest: dict) -> None:
    """Server-side apply of one namespaced object (apps/v1 Deployment or v1 Service)."""
    kind, meta = manifest["kind"], manifest["metadata"]
    group = "/api/v1" if manifest["apiVersion"] == "v1" else f"/apis/{manifest['apiVersion']}"
    plural = {"Deployment": "deployments", "Service": "services"}[kind]
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


def own_namespace() -> str:
    path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return ""


def deploy(model_name: str, model_version: str, namespace: str, image: str, sample,
           timeout: float = 600) -> dict[str, Any]:
    """Deploys `models:/<model_name>/<model_version>` into `namespace` (the pipeline's own) and
    returns the endpoint and the predictions it gave for `sample` (a frame with the target column)."""
    own = own_namespace()
    if own and namespace != own:
        raise DeployError(f"serving_namespace={namespace!r}, but this pipeline runs in {own!r}: a pipeline deploys "
                          f"model servers into its own research group's namespace only (set serving_namespace={own!r})")
    name = core.dns_name(model_name)
    api = _api()
    manifests = core.serving_manifests(model_name, model_version, namespace, image)
    # Each deploy rolls the pods, so a redeployed version (or rotated reader password) is picked up.
    manifests[0]["spec"]["template"]["metadata"]["annotations"]["mlops-platform/deployed-at"] = str(int(time.time()))
    for manifest in manifests:
        apply(api, manifest)
        print(f"[deploy] applied {manifest['kind']} {namespace}/{manifest['metadata']['name']}", flush=True)
    wait_for_rollout(api, namespace, name, timeout)
    url = core.endpoint(model_name, namespace)
    predictions = predict(url, core.invocation_body(sample))
    if len(predictions) != len(sample):
        raise DeployError(f"{url} returned {len(predictions)} predictions for {len(sample)} rows: {predictions}")
    print(f"[deploy] {url} answered {predictions}", flush=True)
    return {"endpoint": url, "predictions": predictions, "deployment": name,
            "credentials_secret": core.MLFLOW_READER_SECRET}
