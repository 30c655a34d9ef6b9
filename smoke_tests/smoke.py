"""The smoke run that smoke tests, the fault test, the backup drill and the upgrade test share: the
local stack's first research group (vision; `tenant()` gives it as deployed, from the stack's
outputs) and its member alice, the compiled training pipeline, and `submit_runs`, which submits it
from a pod in the group's namespace and collects what the runs left in Kubeflow Pipelines, MLflow,
the bucket and the model server. Not a test module."""

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from mlops_components.contract import PIPELINE_ENV_SECRET

from smoke_tests.timeline import restarts
from tests.support.cluster import kubectl
from tests.support.deployed import Tenant, deployed
from tests.support.platform import person_token, pipeline_image, run_script_pod, workflow_diagnostics
from tests.support.scripts import pod_script
from tests.support.stacks import stack_config

CFG = stack_config("local")
COMPILED = Path(__file__).parents[1] / "pipelines" / "train_pipeline.yaml"
TORCH_COMPILED = Path(__file__).parents[1] / "pipelines" / "train_pipeline_torch.yaml"
RUN_TIMEOUT_S = 600
# The compiled pipeline's defaults target the local stack's first research group.
GROUP = "vision"
MODEL_NAME = "vision-iris-classifier"
PERSON = "alice"  # a member of GROUP
TORCH_MODEL_NAME = "vision-iris-mlp"
GPU = "nvidia.com/gpu"
MIN_ACCURACY = 0.85

# Runs in the research group's namespace with the pipeline base image, its `mlops-credentials`
# Secret (MLflow as the group, the group's bucket) and a person's KFP token: submits the pipeline
# RUNS times, waits, collects what the runs left in KFP, MLflow and the bucket, and asks the
# deployed model server for predictions.
SMOKE_SCRIPT = pod_script("smoke_runs")


def events(namespace: str) -> str:
    return kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False)[-3000:]


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def record_measurements(result: dict, arguments: dict) -> None:
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


def submit_runs(compiled: Path, arguments: dict, serving_url: str, runs: int, drift_check: bool = False) -> dict:
    """Submits `compiled` `runs` times as alice from a pod in her group's namespace (SMOKE_SCRIPT)
    and returns what the runs left in KFP, MLflow, the bucket and the model server (`drift_check`: and
    the server's drift after inputs far from the training data, recorded in MLflow by the drift check)."""
    namespace, kfp_namespace = tenant().namespace, deployed().kfp_namespace
    image = pipeline_image()
    started = time.monotonic()
    try:
        result = run_script_pod(namespace, "smoke-test", image, SMOKE_SCRIPT, [
            {"name": "PIPELINE_YAML", "value": compiled.read_text()},
            {"name": "ARGUMENTS", "value": json.dumps(arguments)},
            {"name": "RUNS", "value": str(runs)},
            {"name": "MARKER", "value": uuid.uuid4().hex[:8]},
            {"name": "KFP_HOST", "value": f"http://ml-pipeline.{kfp_namespace}.svc.cluster.local.:8888"},
            {"name": "KFP_TOKEN", "value": person_token(PERSON)}, {"name": "NAMESPACE", "value": namespace},
            {"name": "BUCKET", "value": tenant().bucket}, {"name": "RUN_TIMEOUT", "value": str(RUN_TIMEOUT_S)},
            {"name": "SERVING_URL", "value": serving_url}, {"name": "DRIFT_CHECK", "value": "1" if drift_check else "0"}],
            env_from=[{"secretRef": {"name": PIPELINE_ENV_SECRET}}], timeout=runs * RUN_TIMEOUT_S + 300)
    except AssertionError as error:
        pytest.fail(f"{error}\n{workflow_diagnostics(namespace)}\nevents in {namespace}:\n{events(namespace)}")
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


def pipelines_namespace() -> str:
    """The namespace the runs execute in, the research group's (KFP's multi-user mode); skips
    (loudly) when KFP is off, and checks that the group is the local stack's first."""
    kfp_cfg = CFG.kubeflow_pipelines
    if not kfp_cfg.enabled:
        pytest.skip("LOUD SKIP: kubeflowPipelines.enabled is false in the local stack: no pipeline to run")
    first = CFG.tenancy.tenants[0] if CFG.tenancy.tenants else None
    assert first is not None, "the local stack declares no research group to serve the model in"
    assert first.name == GROUP, \
        f"the compiled pipeline's defaults log to research group {GROUP!r}: keep it first in stacks/Pulumi.local.yaml"
    assert f"system:serviceaccount:mlops-people:{PERSON}" in first.members, \
        f"{PERSON} is no member of {GROUP} in stacks/Pulumi.local.yaml"
    return tenant().namespace


def tenant() -> Tenant:
    """The research group the smoke run uses, as deployed (its namespace, bucket, experiment prefix)."""
    return deployed().tenant(GROUP)
