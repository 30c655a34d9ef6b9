"""The end-to-end smoke test on what `make up` deployed (`make smoke`; `make test` runs it on its
throwaway cluster): alice, a member of research group vision, submits the compiled training
pipeline (pipelines/train_pipeline.yaml) with her token to Kubeflow Pipelines (multi-user mode),
from a pod in her group's namespace, twice with the same inputs, one after the other and without
KFP's cache; the runs execute in research-vision as its pipeline runner and log to MLflow as
vision's identity (both asserted); both runs must reach SUCCEEDED within
RUN_TIMEOUT_S; each must have an MLflow run with the expected params, metrics and provenance tags
and a registered model version whose files come back from MLflow's artifact store; the runs'
KFP artifacts must be in the pipelines' bucket; the two runs' metrics must be identical; and the
model server that the pipeline deployed in the research group's namespace must answer valid
predictions. On failure the message carries the run ids, the workflows' failed nodes, pod logs
and events. Nothing is resubmitted: a run that fails, for whatever reason, fails the test (the
StartError that once made a resubmit necessary is fixed at its cause: the kind node's cgroup
driver, offline/images/kind-node.sh).

The PyTorch variant (pipelines/train_pipeline_torch.yaml; `-k torch` selects it) needs a node that
advertises `nvidia.com/gpu` (kind: MLOPS_FAKE_GPUS=N; `make up` then loads the pipeline-torch image
onto it): one run must reach SUCCEEDED with its training pod on that node, asking for one GPU and
tolerating the GPU nodes' taint nvidia.com/gpu=present:NoSchedule (which ansible's gpu_node role
sets; kind's fake GPU node has none), and MLflow must record the device it trained on, which must
match the node: cuda on a real GPU node, cpu on a fake one (label mlops-platform/fake-gpu=true, set by
offline/cluster.sh: no CUDA behind it), its metrics and a served model. Without a GPU node it is
skipped, loudly, unless MLOPS_SMOKE_REQUIRE_GPU=1 (`make test`'s cluster has fake GPUs and sets it)."""

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from mlops_components.contract import FAKE_GPU_LABEL, PIPELINE_ENV_SECRET

from infra.components.gpu import TOLERATION as GPU_TOLERATION
from infra.config import parse
from infra.images import resolve_image
from smoke_tests.timeline import restarts
from tests.cluster.test_local_cluster import kubectl, nodes
from tests.platform.test_platform import (
    person_token,
    run_script_pod,
    test_every_platform_pod_is_ready,  # noqa: F401 - the platform must be healthy first: runs here too
    workflow_diagnostics,
)
from tests.unit.test_config import stack_values

pytestmark = pytest.mark.e2e
CFG = parse(*stack_values("local"))
COMPILED = Path(__file__).parent / "pipelines" / "train_pipeline.yaml"
TORCH_COMPILED = Path(__file__).parent / "pipelines" / "train_pipeline_torch.yaml"
RUN_TIMEOUT_S = 600
# The compiled pipeline's defaults target the local stack's first research group.
TENANT = CFG.tenancy.tenants[0] if CFG.tenancy.tenants else None
MODEL_NAME = "vision-iris-classifier"
PERSON = "alice"  # a member of TENANT
TORCH_MODEL_NAME = "vision-iris-mlp"
GPU = "nvidia.com/gpu"
MIN_ACCURACY = 0.85

# Runs in the research group's namespace with the pipeline base image, its `mlops-credentials`
# Secret (MLflow as the group, the group's bucket) and a person's KFP token: submits the pipeline
# RUNS times, waits, collects what the runs left in KFP, MLflow and the bucket, and asks the
# deployed model server for predictions.
SMOKE_SCRIPT = r"""
import json, os, tempfile, time
import boto3, kfp, kfp_server_api, mlflow, requests, urllib3
from mlflow import MlflowClient
from sklearn.datasets import load_iris

with open("/tmp/pipeline.yaml", "w") as f:
    f.write(os.environ["PIPELINE_YAML"])
arguments = json.loads(os.environ["ARGUMENTS"])
client = kfp.Client(host=os.environ["KFP_HOST"], existing_token=os.environ["KFP_TOKEN"],
                    namespace=os.environ["NAMESPACE"])
started = time.time()
timeout = int(os.environ["RUN_TIMEOUT"])


def wait_for_run(run_id):
    # kfp's wait_for_run_completion gives up on the first error; while the API server's database
    # restarts (make fault-test) it answers 500 for a while: ask again, as a researcher would.
    deadline = time.time() + timeout
    while True:
        try:
            run = client.get_run(run_id)
        except (kfp_server_api.exceptions.ApiException, urllib3.exceptions.HTTPError) as error:
            if time.time() > deadline or getattr(error, "status", 500) < 500:
                raise
            print(f"asking again in 5 s: get_run {run_id}: {str(error).splitlines()[0]}", flush=True)
            time.sleep(5)
            continue
        if str(run.state) in ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELED") or time.time() > deadline:
            return run
        time.sleep(5)


runs, finished = [], []
# One after the other, without KFP's cache: the second run must compute everything again.
for i in range(1, int(os.environ["RUNS"]) + 1):
    run_id = client.create_run_from_pipeline_package("/tmp/pipeline.yaml", arguments=arguments,
                                                     run_name=f"smoke-{os.environ['MARKER']}-{i}",
                                                     experiment_name="smoke-tests", namespace=os.environ["NAMESPACE"],
                                                     enable_caching=False).run_id
    print(f"submitted run {run_id}", flush=True)
    runs.append(run_id)
    finished.append(wait_for_run(run_id))
result = {"runs": [], "wall_s": round(time.time() - started, 1)}
mlflow_client = MlflowClient()
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
bucket = os.environ["BUCKET"]
for run_id, run in zip(runs, finished):
    entry = {"run_id": run_id, "state": str(run.state), "error": str(run.error) if run.error else "",
             "duration_s": (run.finished_at - run.created_at).total_seconds() if run.finished_at else None}
    result["runs"].append(entry)
    if entry["state"] != "SUCCEEDED":
        continue
    entry["bucket_keys"] = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                            for o in page.get("Contents", []) if run_id in o["Key"]]
    found = mlflow.search_runs(experiment_names=[arguments["experiment_name"]],
                               filter_string=f"tags.`kfp.run_id` = '{run_id}'", output_format="list")
    entry["mlflow_runs"] = len(found)
    if not found:
        continue
    mlrun = found[0]
    entry.update(metrics=mlrun.data.metrics, params=mlrun.data.params, tags=mlrun.data.tags,
                 mlflow_run_id=mlrun.info.run_id, mlflow_user=mlrun.info.user_id)
    versions = mlflow_client.search_model_versions(f"name='{arguments['model_name']}' and run_id='{mlrun.info.run_id}'")
    entry["versions"] = [v.version for v in versions]
    if versions:
        files = os.listdir(mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{arguments['model_name']}/{versions[0].version}", dst_path=tempfile.mkdtemp()))
        entry["model_files"] = sorted(files)
iris = load_iris(as_frame=True)
sample = iris.frame.sample(n=12, random_state=0)
columns = [c.replace(" (cm)", "_cm").replace(" ", "_") for c in iris.feature_names]
body = {"dataframe_split": {"columns": columns, "data": sample[iris.feature_names].values.tolist()}}
try:
    response = requests.post(os.environ["SERVING_URL"] + "/invocations", json=body, timeout=60)
    result["serving"] = {"status": response.status_code, "body": response.text[:2000],
                         "expected": sample["target"].tolist()}
except requests.RequestException as error:
    result["serving"] = {"status": None, "body": str(error), "expected": sample["target"].tolist()}
print("RESULT " + json.dumps(result))
"""


def _events(namespace: str) -> str:
    return kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False)[-3000:]


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def _record(result: dict, arguments: dict) -> None:
    """Writes what the runs measured to $MLOPS_MEASUREMENTS_DIR/smoke.json (for docs/report.md)."""
    directory = os.environ.get("MLOPS_MEASUREMENTS_DIR")
    if not directory:
        return
    runs = [{key: run.get(key) for key in ("run_id", "state", "duration_s", "metrics", "versions", "restarts")}
            | {"model_sha256": run["tags"].get("model.sha256"), "dataset_sha256": run["tags"].get("dataset.sha256")}
            for run in result["runs"]]
    record = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "git_commit": arguments["git_commit"],
              "runs": runs, "wall_s": result["wall_s"], "serving_status": result["serving"]["status"]}
    Path(directory).mkdir(parents=True, exist_ok=True)
    (Path(directory) / "smoke.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def _submit(compiled: Path, arguments: dict, serving_url: str, runs: int) -> dict:
    """Submits `compiled` `runs` times as alice from a pod in her group's namespace (SMOKE_SCRIPT)
    and returns what the runs left in KFP, MLflow, the bucket and the model server."""
    namespace, kfp_namespace = TENANT.namespace, CFG.kubeflow_pipelines.namespace
    image = resolve_image("pipeline-base", CFG.images.registry, CFG.images.overrides)
    started = time.monotonic()
    try:
        result = run_script_pod(namespace, "smoke-test", image, SMOKE_SCRIPT, [
            {"name": "PIPELINE_YAML", "value": compiled.read_text()},
            {"name": "ARGUMENTS", "value": json.dumps(arguments)},
            {"name": "RUNS", "value": str(runs)},
            {"name": "MARKER", "value": uuid.uuid4().hex[:8]},
            {"name": "KFP_HOST", "value": f"http://ml-pipeline.{kfp_namespace}.svc.cluster.local.:8888"},
            {"name": "KFP_TOKEN", "value": person_token(PERSON)}, {"name": "NAMESPACE", "value": namespace},
            {"name": "BUCKET", "value": TENANT.bucket}, {"name": "RUN_TIMEOUT", "value": str(RUN_TIMEOUT_S)},
            {"name": "SERVING_URL", "value": serving_url}],
            env_from=[{"secretRef": {"name": PIPELINE_ENV_SECRET}}], timeout=runs * RUN_TIMEOUT_S + 300)
    except AssertionError as error:
        pytest.fail(f"{error}\n{workflow_diagnostics(namespace)}\nevents in {namespace}:\n{_events(namespace)}")
    print(f"[smoke] {runs} run(s) of {compiled.name} in {result['wall_s']} s (test {time.monotonic() - started:.0f} s): "
          + ", ".join(f"{r['run_id']} {r['state']} {r['duration_s']} s" for r in result["runs"]))
    # Nothing is resubmitted; pods the platform made fail are started again by Argo
    # (kubeflowPipelines.platformFaultRetries): counted and shown, never hidden.
    workflows = json.loads(kubectl("get", "workflows.argoproj.io", "-n", namespace, "-o", "json"))["items"]
    for run in result["runs"]:
        run["restarts"] = [r for w in workflows if w["metadata"].get("labels", {}).get("pipeline/runid") == run["run_id"]
                           for r in restarts(w)]
    restarted = [r for run in result["runs"] for r in run["restarts"]]
    print(f"[smoke] pods started again by the platform's retry: {len(restarted)}"
          + (": " + "; ".join(f"{r['step']}: {r['cause']}" for r in restarted) if restarted else ""))
    return result


def _pipelines_namespace() -> str:
    """The namespace the runs execute in, the research group's (KFP's multi-user mode); skips
    (loudly) when KFP is off, and checks that the group is the local stack's first."""
    kfp_cfg = CFG.kubeflow_pipelines
    if not kfp_cfg.enabled:
        pytest.skip("LOUD SKIP: kubeflowPipelines.enabled is false in the local stack: no pipeline to run")
    assert TENANT is not None, "the local stack declares no research group to serve the model in"
    assert TENANT.name == "vision", \
        "the compiled pipeline's defaults log to research group 'vision': keep it first in stacks/Pulumi.local.yaml"
    assert f"system:serviceaccount:mlops-people:{PERSON}" in TENANT.members, \
        f"{PERSON} is no member of {TENANT.name} in stacks/Pulumi.local.yaml"
    return TENANT.namespace


def test_the_training_pipeline_trains_registers_and_serves_a_model_reproducibly():
    namespace = _pipelines_namespace()
    image = resolve_image("pipeline-base", CFG.images.registry, CFG.images.overrides)
    arguments = {"git_commit": _git_commit(), "experiment_name": f"{TENANT.experiment_prefix}smoke-train",
                 "model_name": MODEL_NAME, "serving_namespace": TENANT.namespace, "min_accuracy": MIN_ACCURACY}
    serving_url = f"http://model-{MODEL_NAME}.{TENANT.namespace}.svc.cluster.local:8080"
    result = _submit(COMPILED, arguments, serving_url, runs=2)

    def context() -> str:
        run_ids = [run["run_id"] for run in result["runs"]]
        return (f"runs: {json.dumps(result['runs'], default=str)[:4000]}\n{workflow_diagnostics(namespace, run_ids)}\n"
                f"events in {TENANT.namespace}:\n{_events(TENANT.namespace)}")

    runs = result["runs"]
    for run in runs:
        assert run["state"] == "SUCCEEDED", f"run {run['run_id']} ended {run['state']}: {run['error']}\n{context()}"
        assert run["mlflow_runs"] == 1, f"run {run['run_id']}: {run['mlflow_runs']} MLflow runs tagged with it\n{context()}"
        assert run["mlflow_user"] == f"tenant-{TENANT.name}", \
            f"MLflow recorded run {run['mlflow_run_id']} as {run['mlflow_user']!r}, not as the group's identity"
        assert run["metrics"]["accuracy"] >= MIN_ACCURACY, context()
        assert run["metrics"]["test_rows"] == 38, context()
        assert set(run["metrics"]) >= {"accuracy", "f1_macro"}, context()
        assert run["params"]["dataset"] == "iris", context()
        assert run["params"]["seed"] == "42", context()
        tags = run["tags"]
        assert tags["git_commit"] == arguments["git_commit"], context()
        assert tags["kfp.run_id"] == run["run_id"], context()
        assert len(tags["dataset.sha256"]) == 64, context()
        for step in ("load_data", "train_model", "register_model"):
            assert tags[f"image.{step}"] == image, f"step {step} ran {tags[f'image.{step}']}, expected {image}"
            assert "sha256:" in tags[f"image_digest.{step}"], f"no image digest recorded for {step}: {tags}"
        assert len(run["versions"]) == 1, f"run {run['run_id']} registered versions {run['versions']}\n{context()}"
        assert "MLmodel" in run["model_files"], f"model files from MLflow: {run['model_files']}"
        outputs = {key.rsplit("/", 1)[-1] for key in run["bucket_keys"]}
        assert {"data", "train_data", "test_data", "model", "manifests"} <= outputs, \
            f"the pipelines' bucket lacks artifacts of run {run['run_id']}: {run['bucket_keys']}"
    for run in runs:
        # Multi-user mode: the run's pods are the group's, under its quota, as its pipeline runner.
        pods = _pods_of_run(namespace, run["run_id"])
        assert pods, f"no pod of run {run['run_id']} in {namespace}\n{context()}"
        accounts = {pod["spec"].get("serviceAccountName") for pod in pods}
        assert accounts == {"pipeline-runner"}, f"run {run['run_id']}'s pods ran as {accounts}"
    first, second = runs
    assert first["metrics"] == second["metrics"], f"same inputs, different metrics: {first['metrics']} vs {second['metrics']}"
    assert first["tags"]["dataset.sha256"] == second["tags"]["dataset.sha256"]
    assert first["tags"]["model.sha256"] == second["tags"]["model.sha256"], "same seed, different model files"

    _record(result, arguments)
    served_uri = kubectl("get", "deployment", "-n", TENANT.namespace, f"model-{MODEL_NAME}", "-o",
                         "jsonpath={.metadata.annotations.mlops-platform/model-uri}")
    registered = {f"models:/{MODEL_NAME}/{run['versions'][0]}" for run in runs}
    assert served_uri in registered, f"the model server serves {served_uri}, not one of this test's versions {registered}"
    serving = result["serving"]
    assert serving["status"] == 200, f"{serving_url}/invocations answered {serving['status']}: {serving['body']}\n{context()}"
    predictions = json.loads(serving["body"])["predictions"]
    expected = serving["expected"]
    assert len(predictions) == len(expected), f"{len(predictions)} predictions for {len(expected)} rows: {predictions}"
    assert set(predictions) <= {0, 1, 2}, f"predictions outside iris' classes 0, 1, 2: {predictions}"
    correct = sum(p == e for p, e in zip(predictions, expected, strict=True))
    assert correct / len(expected) >= MIN_ACCURACY, f"{correct}/{len(expected)} right: {predictions} vs {expected}"


def _gpu_nodes() -> dict[str, dict]:
    return {node["metadata"]["name"]: node for node in nodes() if GPU in node["status"].get("allocatable", {})}


def _pods_of_run(namespace: str, run_id: str) -> list[dict]:
    workflows = json.loads(kubectl("get", "workflows.argoproj.io", "-n", namespace, "-l", f"pipeline/runid={run_id}",
                                   "-o", "json"))["items"]
    assert len(workflows) == 1, f"run {run_id}: {len(workflows)} Argo workflows labelled with it"
    return json.loads(kubectl("get", "pods", "-n", namespace, "-l",
                              f"workflows.argoproj.io/workflow={workflows[0]['metadata']['name']}", "-o", "json"))["items"]


def test_the_torch_pipeline_trains_on_the_gpu_node_and_records_the_device_in_mlflow():
    namespace = _pipelines_namespace()
    torch_image = resolve_image("pipeline-torch", CFG.images.registry, CFG.images.overrides)
    gpu_nodes = _gpu_nodes()
    if not gpu_nodes:
        message = (f"no node advertises {GPU}: the PyTorch variant needs a GPU node (kind: "
                   f"`MLOPS_FAKE_GPUS=2 MLOPS_WORKERS=1 make cluster up`)")
        if os.environ.get("MLOPS_SMOKE_REQUIRE_GPU") == "1":
            pytest.fail(f"{message}, and MLOPS_SMOKE_REQUIRE_GPU=1 requires it to run")
        pytest.skip(f"LOUD SKIP: {message}")
    with_image = [name for name, node in gpu_nodes.items() if any(torch_image in image.get("names", [])
                                                                   for image in node["status"].get("images", []))]
    assert with_image, (f"{torch_image} is on none of the GPU nodes {sorted(gpu_nodes)}: `make up` loads it onto them "
                        f"(or: kind load docker-image {torch_image} --name {os.environ.get('MLOPS_CLUSTER_NAME', 'mlops')} "
                        f"--nodes NODE)")
    arguments = {"git_commit": _git_commit(), "experiment_name": f"{TENANT.experiment_prefix}smoke-train-torch",
                 "model_name": TORCH_MODEL_NAME, "serving_namespace": TENANT.namespace, "min_accuracy": MIN_ACCURACY}
    serving_url = f"http://model-{TORCH_MODEL_NAME}.{TENANT.namespace}.svc.cluster.local:8080"
    result = _submit(TORCH_COMPILED, arguments, serving_url, runs=1)
    (run,) = result["runs"]

    def context() -> str:
        return (f"run: {json.dumps(run, default=str)[:4000]}\n{workflow_diagnostics(namespace, [run['run_id']])}\n"
                f"events in {namespace}:\n{_events(namespace)}")

    assert run["state"] == "SUCCEEDED", f"run {run['run_id']} ended {run['state']}: {run['error']}\n{context()}"
    train_pods = [pod for pod in _pods_of_run(namespace, run["run_id"])
                  if any(c["name"] == "main" and c["image"] == torch_image for c in pod["spec"]["containers"])]
    assert len(train_pods) == 1, f"{len(train_pods)} pods of run {run['run_id']} ran {torch_image}\n{context()}"
    pod = train_pods[0]
    node = pod["spec"].get("nodeName")
    assert node in gpu_nodes, f"the training pod {pod['metadata']['name']} ran on {node}, not on a GPU node {sorted(gpu_nodes)}"
    resources = next(c for c in pod["spec"]["containers"] if c["name"] == "main").get("resources", {})
    assert resources.get("limits", {}).get(GPU) == "1", f"training pod limits: {resources}"
    assert resources.get("requests", {}).get(GPU) == "1", f"training pod requests: {resources}"
    assert GPU_TOLERATION in pod["spec"].get("tolerations", []), pod["spec"].get("tolerations")

    assert run["mlflow_runs"] == 1, f"run {run['run_id']}: {run['mlflow_runs']} MLflow runs tagged with it\n{context()}"
    tags, params, metrics = run["tags"], run["params"], run["metrics"]
    # The step trained where its node let it: on CUDA on a real GPU node, on the CPU on the local
    # cluster's fake one (FAKE_GPU_LABEL: no CUDA behind it), and MLflow says which.
    fake = gpu_nodes[node]["metadata"].get("labels", {}).get(FAKE_GPU_LABEL) == "true"
    expected = "cpu" if fake else "cuda"
    assert tags["train.device"] == expected, (f"MLflow records train.device={tags.get('train.device')!r}, expected "
                                              f"{expected!r} on {'fake' if fake else 'real'} GPU node {node}: {tags}")
    assert tags["train.cuda_available"] == ("false" if fake else "true"), tags
    assert (tags["train.gpu"] == "none") == fake, f"GPU name {tags.get('train.gpu')!r} on node {node}: {tags}"
    assert tags["train.torch_version"].startswith("2.15.0"), tags
    assert tags["model.framework"] == "pytorch", tags
    assert tags["image.train_model"] == torch_image, f"the training step ran {tags['image.train_model']}"
    assert "sha256:" in tags["image_digest.train_model"], tags
    assert tags["kfp.run_id"] == run["run_id"], tags
    assert metrics["accuracy"] >= MIN_ACCURACY, context()
    assert metrics["test_rows"] == 38, context()
    assert params["model_type"] == "mlp", params
    assert params["seed"] == "42", params
    assert len(run["versions"]) == 1, f"run {run['run_id']} registered versions {run['versions']}\n{context()}"
    assert "MLmodel" in run["model_files"], f"model files from MLflow: {run['model_files']}"
    # The model server runs in the pipeline base image, without torch: the model is numpy weights.
    serving = result["serving"]
    assert serving["status"] == 200, f"{serving_url}/invocations answered {serving['status']}: {serving['body']}\n{context()}"
    predictions = json.loads(serving["body"])["predictions"]
    expected = serving["expected"]
    assert len(predictions) == len(expected), f"{len(predictions)} predictions for {len(expected)} rows: {predictions}"
    correct = sum(p == e for p, e in zip(predictions, expected, strict=True))
    assert correct / len(expected) >= MIN_ACCURACY, f"{correct}/{len(expected)} right: {predictions} vs {expected}"
