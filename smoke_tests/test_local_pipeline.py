"""The smoke pipelines without a cluster (part of `make test`, in the pipelines venv that mirrors
the pipeline images): the checked-in compiled YAML is what the code compiles to, and the pipeline
runs end to end on Kubeflow Pipelines' local runner: trains, passes the gate, registers a model
version in a local MLflow store with its provenance, writes the serving manifests, and a second
run gives identical metrics; a gate it cannot pass fails the run and registers nothing. The
PyTorch variant (train_pipeline_torch) compiles its training step onto a GPU node and runs end to
end here too, on this machine's CPU (or CUDA, where there is one), recording the device in MLflow."""

import json
import os
import sys
from pathlib import Path

import pytest
from mlops_components import core, default_image

from pipelines import bench_pipeline as bench
from pipelines import drift_pipeline as drift
from pipelines import train_pipeline as tp
from pipelines import train_pipeline_torch as tpt
from smoke_tests.local_run import run_locally
from tests.support.needs_torch import require_torch

pytestmark = [
    pytest.mark.unit,
    # The local runner warns that the components name a custom image: this venv holds that
    # image's packages (make pipelines-venv), which is the point.
    pytest.mark.filterwarnings("ignore:You may be attemping to run a task that uses custom:RuntimeWarning"),
]
MODEL = "local-iris-classifier"
EXPERIMENT = "/local/smoke-train"


@pytest.mark.parametrize("pipeline", [tp, tpt, bench, drift], ids=["sklearn", "torch", "bench", "drift"])
def test_the_checked_in_compiled_pipeline_is_what_the_code_compiles_to(tmp_path, pipeline):
    assert pipeline.COMPILED.exists(), f"{pipeline.COMPILED} is missing: run `make pipelines` and commit it"
    fresh = pipeline.compile_pipeline(tmp_path / "fresh.yaml").read_text()
    assert fresh == pipeline.COMPILED.read_text(), \
        f"{pipeline.COMPILED.name} is stale: the pipeline or its components changed; run `make pipelines` and commit it"
    assert default_image("pipeline-base") in fresh
    assert "pip install" not in fresh


def test_only_the_torch_training_step_runs_in_the_torch_image_and_asks_for_a_gpu_on_a_gpu_node():
    import yaml
    from mlops_components import components

    spec, platform = yaml.safe_load_all(tpt.COMPILED.read_text())
    executors = spec["deploymentSpec"]["executors"]
    for name, executor in executors.items():
        container = executor["container"]
        if name == "exec-train-torch":
            assert container["image"] == default_image("pipeline-torch")
            accelerator = container["resources"]["accelerator"]
            assert (accelerator["resourceType"], accelerator["resourceCount"]) == ("nvidia.com/gpu", "1")
        else:
            assert container["image"] == default_image("pipeline-base"), name
            assert "accelerator" not in container.get("resources", {}), f"{name} asks for a GPU"
    kubernetes = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert kubernetes["exec-train-torch"]["tolerations"] == [components.GPU_TOLERATION]
    assert not [name for name, config in kubernetes.items() if "tolerations" in config and name != "exec-train-torch"]
    # The scikit-learn pipeline never asks for a GPU.
    assert "nvidia.com/gpu" not in tp.COMPILED.read_text()


@pytest.fixture
def local_env(monkeypatch):
    # The local runner starts `python3` from PATH: this environment's, which has the components.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE", "KFP_POD_NAME"):
        monkeypatch.delenv(key, raising=False)


def _runs(workdir: Path, experiment_name: str = EXPERIMENT, model_name: str = MODEL):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=(workdir / "mlruns").as_uri())
    experiment = client.get_experiment_by_name(experiment_name)
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    versions = client.search_model_versions(f"name='{model_name}'") if experiment else []
    return runs, versions


def _run_twice_identically(tmp_path: Path, variant: str, experiment: str, model: str):
    """Runs the pipeline twice with the same inputs: two MLflow runs, model versions 1 and 2, the same
    metrics above the quality gate on iris' 38 test rows. The two runs."""
    arguments = {"experiment_name": experiment, "model_name": model, "git_commit": "0" * 40}
    run_locally(tmp_path, variant, **arguments)
    run_locally(tmp_path, variant, **arguments)
    runs, versions = _runs(tmp_path, experiment, model)
    assert len(runs) == 2, f"expected one MLflow run per pipeline run, found {len(runs)}"
    assert sorted(int(v.version) for v in versions) == [1, 2]
    first, second = runs
    assert first.data.metrics == second.data.metrics, "two runs with the same inputs gave different metrics"
    assert first.data.metrics["accuracy"] >= 0.85
    assert first.data.metrics["test_rows"] == 38
    return first, second


def test_the_pipeline_runs_locally_registers_a_model_with_provenance_and_reruns_identically(tmp_path, local_env):
    first, second = _run_twice_identically(tmp_path, "sklearn", EXPERIMENT, MODEL)
    assert first.data.params["dataset"] == "iris"
    assert first.data.params["seed"] == "42"
    tags = first.data.tags
    expected_sha = core.file_sha256(str(_write(tmp_path)))
    assert tags["dataset.sha256"] == expected_sha == second.data.tags["dataset.sha256"]
    assert tags["model.sha256"] == second.data.tags["model.sha256"], "the same seed gave different model files"
    assert tags["git_commit"] == "0" * 40
    assert tags["kfp.run_id"]
    assert tags["image_digest.train_model"] == core.NOT_IN_A_POD
    manifests = sorted(tmp_path.glob("pipeline-root/*/deploy-model/manifests"))
    assert len(manifests) == 2
    deployment, service = json.loads(manifests[-1].read_text())
    assert deployment["kind"] == "Deployment"
    assert service["kind"] == "Service"
    assert f"models:/{MODEL}/2" in deployment["spec"]["template"]["spec"]["containers"][0]["command"]


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "iris.csv"
    core.write_csv(core.load_dataset("iris"), str(path))
    return path


def test_a_model_below_the_quality_gate_fails_the_run_and_is_not_registered(tmp_path, local_env):
    with pytest.raises(RuntimeError, match=r"Inner task failed: .*evaluate-model"):
        run_locally(tmp_path, experiment_name=EXPERIMENT, model_name=MODEL, min_accuracy=1.01)
    runs, versions = _runs(tmp_path)
    assert runs == []
    assert versions == []


@pytest.fixture
def torch():
    return require_torch()


def test_the_torch_pipeline_runs_locally_records_its_device_and_reruns_identically(tmp_path, local_env, torch):
    model = "local-iris-mlp"
    first, second = _run_twice_identically(tmp_path, "torch", "/local/smoke-train-torch", model)
    assert {key: first.data.params[key] for key in ("model_type", "seed", "hidden_units", "epochs", "learning_rate",
                                                      "batch_size")} == \
        {"model_type": "mlp", "seed": "42", "hidden_units": "32", "epochs": "200", "learning_rate": "0.01",
         "batch_size": "16"}
    tags = first.data.tags
    assert tags["model.sha256"] == second.data.tags["model.sha256"], "the same seed gave different model files"
    assert tags["model.framework"] == "pytorch"
    assert tags["train.device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert tags["train.cuda_available"] == str(torch.cuda.is_available()).lower()
    assert tags["train.torch_version"] == torch.__version__
    assert tags["train.deterministic"] == "true"
    assert tags["image_digest.train_model"] == core.NOT_IN_A_POD
    manifests = sorted(tmp_path.glob("pipeline-root/*/deploy-model/manifests"))
    assert len(manifests) == 2
    deployment, _ = json.loads(manifests[-1].read_text())
    assert f"models:/{model}/2" in deployment["spec"]["template"]["spec"]["containers"][0]["command"]
