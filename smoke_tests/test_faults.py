"""`make fault-test`: a smoke run survives losing the platform's stateful pods while it runs.

alice submits the training pipeline once (as the smoke test does); while its steps run, the pods of
MLflow's server, the object store and Kubeflow Pipelines' database are deleted, 15 s apart, while
its workflow runs. The run must reach SUCCEEDED (a step may be started
again), register its model version with its files, leave its artifacts in the bucket, and every
model version registered before must still be there with its files. Not part of `make test`
(a few minutes of deliberate disruption); run by hand and reported.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from smoke_tests.smoke import (
    COMPILED,
    MIN_ACCURACY,
    MODEL_NAME,
    git_commit,
    pipelines_namespace,
    submit_runs,
    tenant,
)
from tests.support.cluster import kubectl, wait_for
from tests.support.deployed import deployed
from tests.support.platform import mlflow_image, run_script_pod
from tests.support.scripts import pod_script

pytestmark = pytest.mark.e2e

# The registered versions of MODEL_NAME and whether each one's files download (as the tenant).
VERSIONS_SCRIPT = pod_script("fault_model_versions")


def versions() -> dict[str, object]:
    return run_script_pod(tenant().namespace, "fault-versions", mlflow_image(), VERSIONS_SCRIPT, [{"name": "MODEL", "value": MODEL_NAME}],
                          env_from=[{"secretRef": {"name": "mlops-credentials"}}], memory_limit="512Mi", needs=())


def victims() -> list[tuple[str, str, str]]:
    """(what, namespace, label selector) of each stateful pod, in the order they are deleted."""
    kfp_ns = deployed().kfp_namespace
    return [("MLflow server", deployed().mlflow_namespace, "app.kubernetes.io/name=mlflow,app.kubernetes.io/component=server"),
            ("object store", deployed().object_store_namespace, "app.kubernetes.io/name=object-store,app.kubernetes.io/component=object-store"),
            ("KFP database", kfp_ns, "app.kubernetes.io/name=kubeflow-pipelines-db")]


def _ready_pods(namespace: str, selector: str) -> list[tuple[str, str]]:
    """(name, uid) of the ready pods: a StatefulSet's new pod has the old one's name, not its uid."""
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json"))["items"]
    return [(p["metadata"]["name"], p["metadata"]["uid"]) for p in pods if p["metadata"].get("deletionTimestamp") is None
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]


def _step_running(namespace: str) -> bool:
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "workflows.argoproj.io/workflow", "-o", "json"))["items"]
    return any(p["status"].get("phase") == "Running" and "driver" not in p["metadata"]["name"] for p in pods)


def _workflow_running(namespace: str) -> bool:
    workflows = json.loads(kubectl("get", "workflows.argoproj.io", "-n", namespace, "-o", "json"))["items"]
    return any(w.get("status", {}).get("phase") == "Running" for w in workflows)


def test_a_run_survives_the_loss_of_mlflow_the_object_store_and_the_kfp_database():
    namespace = pipelines_namespace()
    for what, ns, selector in victims():
        assert _ready_pods(ns, selector), f"no ready pod of the {what} ({ns}, {selector}) to delete"
    before = versions()
    arguments = {"git_commit": git_commit(), "experiment_name": f"{tenant().experiment_prefix}smoke-train",
                 "model_name": MODEL_NAME, "serving_namespace": tenant().namespace, "min_accuracy": MIN_ACCURACY}
    serving_url = f"http://model-{MODEL_NAME}.{tenant().namespace}.svc.cluster.local:8080"
    outcome: dict = {}

    def submit() -> None:
        try:
            outcome["result"] = submit_runs(COMPILED, arguments, serving_url, runs=1)
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=submit)
    thread.start()
    disruptions = []
    wait_for("a step of the run running", lambda: (_step_running(namespace), "no step running yet"), timeout=600)
    # One after the other, 15 s apart, without waiting for the previous one to come back: the
    # run meets all three outages, overlapping.
    for what, ns, selector in victims():
        pod, uid = _ready_pods(ns, selector)[0]
        kubectl("delete", "pod", "-n", ns, pod, "--wait=false")
        disruptions.append({"what": what, "namespace": ns, "selector": selector, "pod": pod, "uid": uid, "at": time.monotonic(),
                            "run_running": _workflow_running(namespace)})
        print(f"[faults] deleted the {what} pod {ns}/{pod} (the run's workflow running: "
              f"{disruptions[-1]['run_running']})", flush=True)
        time.sleep(15)
    for disruption in disruptions:
        ns, selector, uid = disruption["namespace"], disruption["selector"], disruption.pop("uid")
        wait_for(f"the {disruption['what']} back", lambda ns=ns, selector=selector, uid=uid: (
            any(other != uid for _, other in _ready_pods(ns, selector)), _ready_pods(ns, selector)), timeout=600)
        disruption["back_after_s"] = round(time.monotonic() - disruption.pop("at"), 1)
        print(f"[faults] the {disruption['what']} is back {disruption['back_after_s']} s after its deletion", flush=True)
    thread.join(timeout=1800)
    assert not thread.is_alive(), "the run did not finish in 30 minutes"
    if "error" in outcome:
        raise outcome["error"]
    run = outcome["result"]["runs"][0]
    print(f"[faults] disruptions: {json.dumps(disruptions)}; run {run['run_id']} {run['state']} in {run['duration_s']} s; "
          f"pods started again: {len(run.get('restarts', []))}")
    assert all(d["run_running"] for d in disruptions), f"the run was not running at every deletion: {disruptions}"
    assert run["state"] == "SUCCEEDED", f"run {run['run_id']} ended {run['state']}: {run['error']}"
    assert run["metrics"]["accuracy"] >= MIN_ACCURACY
    assert len(run["versions"]) == 1, f"the run registered {run['versions']}"
    assert "MLmodel" in run["model_files"]
    outputs = {key.rsplit("/", 1)[-1] for key in run["bucket_keys"]}
    assert {"data", "train_data", "test_data", "model"} <= outputs, run["bucket_keys"]
    after = versions()
    lost = {version: state for version, state in before.items() if after.get(version) is not True}
    assert not lost, f"model versions registered before the faults lost or unreadable after them: {lost}"
    assert after.get(run["versions"][0]) is True, f"the new version's files: {after.get(run['versions'][0])}"
