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
predictions, which the platform's Prometheus then counts (the model server's /metrics). On failure
the message carries the run ids, the workflows' failed nodes, pod logs and events. Nothing is
resubmitted: a run that fails, for whatever reason, fails the test (the StartError that once made a
resubmit necessary is fixed at its cause: the kind node's cgroup driver, offline/images/kind-node.sh).

The PyTorch variant (pipelines/train_pipeline_torch.yaml; `-k torch` selects it) needs a node that
advertises `nvidia.com/gpu` (kind: MLOPS_FAKE_GPUS=N; `make up` then loads the pipeline-torch image
onto it): one run must reach SUCCEEDED with its training pod on that node, asking for one GPU and
tolerating the GPU nodes' taint nvidia.com/gpu=present:NoSchedule (which ansible's gpu_node role
sets; kind's fake GPU node has none), and MLflow must record the device it trained on, which must
match the node: cuda on a real GPU node, cpu on a fake one (label mlops-platform/fake-gpu=true, set by
dev_cluster/cluster.sh: no CUDA behind it), its metrics and a served model. Without a GPU node it is
skipped, loudly, unless MLOPS_SMOKE_REQUIRE_GPU=1 (`make test`'s cluster has fake GPUs and sets it).
When both tests are selected, the PyTorch run is submitted as the module starts and runs beside the
training pipeline's two runs (a research group running two pipelines at once, as groups do; minutes
less of `make test`); its test then waits for it. Not with MLOPS_MEASUREMENTS_DIR (`make report`),
whose run times must be those of runs alone."""

import json
import os
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from mlops_components.contract import FAKE_GPU_LABEL

from infra.components.gpu import TOLERATION as GPU_TOLERATION
from infra.deploy import MODEL_SERVERS_JOB
from smoke_tests.smoke import (
    CFG,
    COMPILED,
    GPU,
    MIN_ACCURACY,
    MODEL_NAME,
    TORCH_COMPILED,
    TORCH_MODEL_NAME,
    events,
    git_commit,
    pipelines_namespace,
    record_measurements,
    submit_runs,
    tenant,
)
from tests.support.cluster import kubectl, nodes, wait_for
from tests.support.dashboard import SCREENSHOTS, look
from tests.support.deployed import deployed
from tests.support.platform import pipeline_image, platform_pods_ready, workflow_diagnostics
from tests.support.prometheus import prometheus_api, query

pytestmark = pytest.mark.e2e


TORCH_TEST = "test_the_torch_pipeline_trains_on_the_gpu_node_and_records_the_device_in_mlflow"


@pytest.fixture(scope="module", autouse=True)
def torch_run_started_early(request):
    """The PyTorch run, submitted now when its test is selected beside another and can run (a GPU
    node with the image); None otherwise (its test then submits it itself)."""
    selected = {item.name for item in request.session.items if item.module is request.module}
    if TORCH_TEST not in selected or len(selected) < 2 or os.environ.get("MLOPS_MEASUREMENTS_DIR"):
        yield None
        return
    gpu_nodes = _gpu_nodes()
    if not gpu_nodes or _torch_refusal(gpu_nodes):
        yield None
        return
    platform_pods_ready()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torch-smoke")
    print("[smoke] the PyTorch run is submitted now, to run beside the training pipeline's runs")
    future = pool.submit(_submit_torch)
    yield future
    pool.shutdown(wait=True)


def test_every_platform_pod_is_ready():
    """The platform must be healthy before a pipeline runs on it."""
    platform_pods_ready()


def test_the_training_pipeline_trains_registers_and_serves_a_model_reproducibly():
    namespace = pipelines_namespace()
    image = pipeline_image()
    arguments = {"git_commit": git_commit(), "experiment_name": f"{tenant().experiment_prefix}smoke-train",
                 "model_name": MODEL_NAME, "serving_namespace": tenant().namespace, "min_accuracy": MIN_ACCURACY}
    serving_url = f"http://model-{MODEL_NAME}.{tenant().namespace}.svc.cluster.local:8080"
    result = submit_runs(COMPILED, arguments, serving_url, runs=2, drift_check=True)

    def context() -> str:
        run_ids = [run["run_id"] for run in result["runs"]]
        return (f"runs: {json.dumps(result['runs'], default=str)[:4000]}\n{workflow_diagnostics(namespace, run_ids)}\n"
                f"events in {tenant().namespace}:\n{events(tenant().namespace)}")

    runs = result["runs"]
    for run in runs:
        assert run["state"] == "SUCCEEDED", f"run {run['run_id']} ended {run['state']}: {run['error']}\n{context()}"
        assert run["mlflow_runs"] == 1, f"run {run['run_id']}: {run['mlflow_runs']} MLflow runs tagged with it\n{context()}"
        assert run["mlflow_user"] == f"tenant-{tenant().name}", \
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

    record_measurements(result, arguments)
    served_uri = kubectl("get", "deployment", "-n", tenant().namespace, f"model-{MODEL_NAME}", "-o",
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
    _the_drift_check_recorded_the_shifted_inputs(result["drift"], served_uri)
    if deployed().monitoring_namespace:
        _prometheus_counted_the_predictions(f"model-{MODEL_NAME}")
        _prometheus_sees_the_drift(f"model-{MODEL_NAME}")
        _the_dashboard_draws_the_groups_work()


def _prometheus_counted_the_predictions(server: str) -> None:
    """The model server's /metrics (mlops_components.serving), scraped by the platform's Prometheus
    (job model-servers), counts the predictions this test asked for."""
    promql = (f'sum(model_server_requests_total{{job="{MODEL_SERVERS_JOB}", namespace="{tenant().namespace}", app="{server}", '
              'path="/invocations", status="200"})')
    with prometheus_api() as api:
        def counted():
            found = query(api, promql)
            return bool(found) and float(found[0]["value"][1]) >= 1, found

        wait_for(f"Prometheus counting {tenant().namespace}/{server}'s predictions", counted, timeout=120, interval=5)


def _the_drift_check_recorded_the_shifted_inputs(found: dict, served_uri: str) -> None:
    """Registration logged the training data's statistics; the model server compared inputs 3 standard deviations
    off with them; the drift check recorded the drift in MLflow, as the group."""
    assert served_uri == f"models:/{MODEL_NAME}/{found['version']}", f"the drift check followed {found['version']}, not {served_uri}"
    assert found["shifted_status"] == 200, found
    assert not found["before"]["psi"], f"a PSI before {found['before']['min_rows']} rows: {found['before']}"
    report = found["report"]
    assert report["rows"] >= found["before"]["rows"] + 60, report
    assert report["max_psi"] > report["threshold"], f"inputs 3 standard deviations off, but: {report}"
    assert found["max_psi"] == [report["max_psi"]], f"MLflow run {found['run_id']} holds drift.max_psi {found['max_psi']}"
    assert found["user"] == f"tenant-{tenant().name}", f"the drift run was recorded as {found['user']}"


def _prometheus_sees_the_drift(server: str) -> None:
    promql = f'max(model_input_drift_psi{{job="{MODEL_SERVERS_JOB}", namespace="{tenant().namespace}", app="{server}"}})'
    with prometheus_api() as api:
        def drifted():
            found = query(api, promql)
            return bool(found) and float(found[0]["value"][1]) > 0.2, found

        wait_for(f"Prometheus seeing {tenant().namespace}/{server}'s input drift above 0.2", drifted, timeout=120, interval=5)


def _the_dashboard_draws_the_groups_work() -> None:
    """The dashboard, in a real browser, draws the research group's CPU and memory (its pipeline's pods) and its
    model server's requests and input drift (build/screenshots/dashboard-after-smoke.png)."""
    panels = ("CPU by research group", "Memory by research group", "Model server requests",
              "Model input drift, largest PSI of a feature")
    # A series whose first sample has just come is a dot (radius 3: about 25 pixels of its colour).
    seen, _ = look(SCREENSHOTS / "dashboard-after-smoke.png", ready=panels, min_pixels=15, timeout=180)
    assert tenant().name in seen["CPU by research group"].text, seen["CPU by research group"].text
    assert f"model-{MODEL_NAME}" in seen["Model server requests"].text, seen["Model server requests"].text


def _gpu_nodes() -> dict[str, dict]:
    return {node["metadata"]["name"]: node for node in nodes() if GPU in node["status"].get("allocatable", {})}


def _pods_of_run(namespace: str, run_id: str) -> list[dict]:
    workflows = json.loads(kubectl("get", "workflows.argoproj.io", "-n", namespace, "-l", f"pipeline/runid={run_id}",
                                   "-o", "json"))["items"]
    assert len(workflows) == 1, f"run {run_id}: {len(workflows)} Argo workflows labelled with it"
    return json.loads(kubectl("get", "pods", "-n", namespace, "-l",
                              f"workflows.argoproj.io/workflow={workflows[0]['metadata']['name']}", "-o", "json"))["items"]


def _torch_refusal(gpu_nodes: dict[str, dict]) -> str | None:
    """Why the PyTorch run cannot start (its image on none of the GPU nodes), or None."""
    torch_image = CFG.images.resolve("pipeline-torch")
    with_image = [name for name, node in gpu_nodes.items() if any(torch_image in image.get("names", [])
                                                                   for image in node["status"].get("images", []))]
    if with_image:
        return None
    return (f"{torch_image} is on none of the GPU nodes {sorted(gpu_nodes)}: `make up` loads it onto them "
            f"(or: kind load docker-image {torch_image} --name {os.environ.get('MLOPS_CLUSTER_NAME', 'mlops')} "
            f"--nodes NODE)")


def _torch_arguments() -> dict:
    return {"git_commit": git_commit(), "experiment_name": f"{tenant().experiment_prefix}smoke-train-torch",
            "model_name": TORCH_MODEL_NAME, "serving_namespace": tenant().namespace, "min_accuracy": MIN_ACCURACY}


def _torch_serving_url() -> str:
    return f"http://model-{TORCH_MODEL_NAME}.{tenant().namespace}.svc.cluster.local:8080"


def _submit_torch() -> dict:
    return submit_runs(TORCH_COMPILED, _torch_arguments(), _torch_serving_url(), runs=1)


def test_the_torch_pipeline_trains_on_the_gpu_node_and_records_the_device_in_mlflow(torch_run_started_early: Future | None):
    namespace = pipelines_namespace()
    torch_image = CFG.images.resolve("pipeline-torch")
    gpu_nodes = _gpu_nodes()
    if not gpu_nodes:
        message = (f"no node advertises {GPU}: the PyTorch variant needs a GPU node (kind: "
                   f"`MLOPS_FAKE_GPUS=2 MLOPS_WORKERS=1 make cluster up`)")
        if os.environ.get("MLOPS_SMOKE_REQUIRE_GPU") == "1":
            pytest.fail(f"{message}, and MLOPS_SMOKE_REQUIRE_GPU=1 requires it to run")
        pytest.skip(f"LOUD SKIP: {message}")
    refusal = _torch_refusal(gpu_nodes)
    assert refusal is None, refusal
    serving_url = _torch_serving_url()
    result = torch_run_started_early.result() if torch_run_started_early else _submit_torch()
    (run,) = result["runs"]

    def context() -> str:
        return (f"run: {json.dumps(run, default=str)[:4000]}\n{workflow_diagnostics(namespace, [run['run_id']])}\n"
                f"events in {namespace}:\n{events(namespace)}")

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
