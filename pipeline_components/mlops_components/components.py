"""Kubeflow Pipelines v2 components for a supervised-learning pipeline, to compose in your own
pipelines: load_data -> split_data -> train_model -> evaluate_model (quality gate) ->
register_model (MLflow) -> deploy_model (MLflow model server in a research group's namespace).
train_torch is train_model's PyTorch variant: it runs in the pipeline-torch image and uses a GPU
when its task requests one (`on_gpu(task)`); its model goes on through the same steps.

Each runs in the platform's pipeline base image, which carries this package (the component's
code is a thin call into `mlops_components.core`), so no component installs anything at run
time and they run without network access. Artifacts pass through the object store; every
artifact carries provenance in its metadata (dataset SHA-256, the image and digest of the step).

The image is `MLOPS_PIPELINE_IMAGE` at import time (compile time), else the local stack's pipeline
base image from the platform's image list (`default_image("pipeline-base")`, infra/images.toml);
train_torch's is `MLOPS_PIPELINE_TORCH_IMAGE`, else `default_image("pipeline-torch")`.
Components that talk to MLflow need its address and credentials in their environment: in the
cluster, `with_platform_env(task)` loads them from the research group's Secret `mlops-credentials`
in the namespace the pipeline runs in (MLflow as the group's own identity and workspace).
"""

import os
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from mlops_components import default_image
from mlops_components.contract import GPU_RESOURCE, GPU_TOLERATION, PIPELINE_ENV_KEYS, PIPELINE_ENV_SECRET

BASE_IMAGE = os.environ.get("MLOPS_PIPELINE_IMAGE") or default_image("pipeline-base")
TORCH_IMAGE = os.environ.get("MLOPS_PIPELINE_TORCH_IMAGE") or default_image("pipeline-torch")
# GPU_TOLERATION: the taint of the platform's GPU nodes (ansible role gpu_node; the device plugin
# tolerates the same), so only pods that tolerate it are scheduled there.


def component(func):
    return dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)(func)


def torch_component(func):
    return dsl.component(base_image=TORCH_IMAGE, install_kfp_package=False)(func)


def with_platform_env(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """Gives `task` MLflow's address and the research group's credentials from its Secret."""
    from kfp import kubernetes

    return kubernetes.use_secret_as_env(task, secret_name=PIPELINE_ENV_SECRET,
                                        secret_key_to_env={key: key for key in PIPELINE_ENV_KEYS})


def on_gpu(task: dsl.PipelineTask, gpus: int = 1) -> dsl.PipelineTask:
    """Requests `gpus` NVIDIA GPUs for `task` (resource limit nvidia.com/gpu) and tolerates the GPU
    nodes' taint, so the scheduler places it on a GPU node."""
    from kfp import kubernetes

    task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(gpus)
    return kubernetes.add_toleration(task, **GPU_TOLERATION)


@component
def load_data(dataset_name: str, data: Output[Dataset]):
    """Loads a dataset bundled with scikit-learn (iris, wine, breast_cancer, digits) as CSV."""
    from mlops_components import core

    frame = core.load_dataset(dataset_name)
    data.metadata.update({"sha256": core.write_csv(frame, data.path), "rows": len(frame),
                          "columns": len(frame.columns), "dataset": dataset_name, **core.running_image()})


@component
def split_data(data: Input[Dataset], test_size: float, seed: int, train_data: Output[Dataset],
               test_data: Output[Dataset]):
    """Stratified train/test split with a fixed seed."""
    from mlops_components import core

    train, test = core.split(core.read_csv(data.path), test_size, seed)
    for part, frame in ((train_data, train), (test_data, test)):
        part.metadata.update({"sha256": core.write_csv(frame, part.path), "rows": len(frame),
                              "test_size": test_size, "seed": seed})


@component
def train_model(train_data: Input[Dataset], model_type: str, seed: int, n_estimators: int, max_depth: int,
                model: Output[Model]):
    """Trains a scikit-learn classifier (random_forest or logistic_regression) with a fixed seed."""
    from mlops_components import core

    params = {"n_estimators": n_estimators, "max_depth": max_depth} if model_type == "random_forest" else {}
    fitted = core.train(core.read_csv(train_data.path), model_type, seed, **params)
    model.metadata.update({"sha256": core.save_model(fitted, model.path), "framework": "scikit-learn",
                           "model_type": model_type, "seed": seed, **core.running_image(),
                           # Flat keys: KFP's metadata store hands nested values back as protobuf structs.
                           **{f"param_{key}": value for key, value in params.items()}})


@torch_component
def train_torch(train_data: Input[Dataset], seed: int, hidden_units: int, epochs: int, learning_rate: float,
                batch_size: int, model: Output[Model]):
    """Trains a small MLP classifier with PyTorch, seeded and deterministic, on the GPU when the pod
    has one, else on the CPU, and records which (device, torch and CUDA versions). The model is
    saved as numpy weights (mlops_components.torch_mlp.MlpClassifier): evaluate_model,
    register_model and the model server use it without torch."""
    from mlops_components import core, torch_mlp

    params = {"hidden_units": hidden_units, "epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size}
    fitted, record = torch_mlp.train_mlp(core.read_csv(train_data.path), seed, **params)
    print(f"[train_torch] trained on {record['device']} (torch {record['torch_version']}, CUDA available: "
          f"{record['cuda_available']}, GPU: {record['gpu']}), final training loss {record['final_loss']}")
    model.metadata.update({"sha256": core.save_model(fitted, model.path), "framework": "pytorch",
                           "model_type": "mlp", "seed": seed, **core.running_image(),
                           **{f"param_{key}": value for key, value in params.items()},
                           # Booleans as "true"/"false": KFP's metadata store hands them back as 0/1.
                           **{f"train_{key}": str(value).lower() if isinstance(value, bool) else value
                              for key, value in record.items()}})


@component
def evaluate_model(model: Input[Model], test_data: Input[Dataset], min_accuracy: float,
                   metrics: Output[Metrics]) -> float:
    """Scores the model on the test set; fails the pipeline when accuracy < min_accuracy."""
    from mlops_components import core

    scores = core.evaluate(core.load_model(model.path), core.read_csv(test_data.path))
    for key, value in scores.items():
        metrics.log_metric(key, value)
    core.quality_gate(scores, min_accuracy)
    return scores["accuracy"]


@component
def register_model(model: Input[Model], data: Input[Dataset], test_data: Input[Dataset], metrics: Input[Metrics],
                   experiment_name: str, model_name: str, min_accuracy: float, git_commit: str, kfp_run_id: str,
                   kfp_run_name: str) -> NamedTuple("Registered", run_id=str, experiment_id=str, model_version=str,
                                                    model_uri=str):
    """Logs params, metrics, the model and provenance (git commit, images and their digests,
    dataset hash, KFP run) to an MLflow run and registers a new version of `model_name`. The
    params are what the upstream steps recorded in their artifacts' metadata."""
    from mlops_components import __version__, core

    this_step = core.running_image()
    tags = {
        "git_commit": git_commit, "kfp.run_id": kfp_run_id, "kfp.run_name": kfp_run_name,
        "mlops_components.version": __version__, "model.framework": model.metadata.get("framework", ""),
        "dataset.name": data.metadata.get("dataset", ""), "dataset.sha256": data.metadata.get("sha256", ""),
        "dataset.rows": str(data.metadata.get("rows", "")),
        "model.sha256": model.metadata.get("sha256", ""),
        "image.load_data": data.metadata.get("image", ""), "image_digest.load_data": data.metadata.get("image_id", ""),
        "image.train_model": model.metadata.get("image", ""), "image_digest.train_model": model.metadata.get("image_id", ""),
        "image.register_model": this_step["image"], "image_digest.register_model": this_step["image_id"],
        # What the training step recorded about where it ran (train_torch: device, torch, CUDA).
        **{f"train.{key[len('train_'):]}": str(value) for key, value in model.metadata.items()
           if key.startswith("train_")},
    }
    scores = {key: float(value) for key, value in metrics.metadata.items() if isinstance(value, (int, float))}
    # Metadata numbers come back as floats (protobuf Struct): the integer settings are cast back.
    params = {"dataset": data.metadata.get("dataset"), "test_size": test_data.metadata.get("test_size"),
              "seed": int(model.metadata["seed"]), "model_type": model.metadata.get("model_type"),
              "min_accuracy": min_accuracy,
              **{key[len("param_"):]: int(value) if float(value).is_integer() else value
                 for key, value in model.metadata.items() if key.startswith("param_")}}
    # The dataset's features are the drift reference of the model server (drift/reference.json).
    result = core.register(model.path, core.read_csv(test_data.path), experiment_name, model_name,
                           params, scores, tags, training=core.read_csv(data.path))
    print(f"registered {result['model_uri']} from MLflow run {result['run_id']}")
    outputs = NamedTuple("Registered", run_id=str, experiment_id=str, model_version=str, model_uri=str)  # noqa: UP014
    return outputs(result["run_id"], result["experiment_id"], result["model_version"], result["model_uri"])


@component
def deploy_model(model_name: str, model_version: str, namespace: str, mode: str,
                 serving_image: str, test_data: Input[Dataset], manifests: Output[dsl.Artifact]) -> str:
    """mode='kubernetes': serves models:/<model_name>/<model_version> with MLflow's model server
    in `namespace` (Deployment + Service; "" is the namespace the pipeline runs in, the research
    group's own, the only one it may deploy into), waits for it and checks its predictions;
    returns the endpoint. mode='manifest': only writes the manifests (runs without a cluster)."""
    import json

    from mlops_components import core, deploy

    if mode not in ("kubernetes", "manifest"):
        raise ValueError(f"mode={mode!r}; allowed: kubernetes, manifest")
    image = serving_image or core.running_image()["image"]
    if image == core.NOT_IN_A_POD:
        image = "<serving image: set serving_image>"
    namespace = namespace or deploy.own_namespace() or "<namespace: set serving_namespace>"
    rendered = core.serving_manifests(model_name, model_version, namespace, image)
    with open(manifests.path, "w") as handle:
        json.dump(rendered, handle, indent=2, sort_keys=True)
    url = core.endpoint(model_name, namespace)
    if mode == "manifest":
        manifests.metadata["applied"] = False
        return url
    sample = core.read_csv(test_data.path).head(5)
    result = deploy.deploy(model_name, model_version, namespace, image, sample)
    manifests.metadata.update({"applied": True, "predictions": json.dumps(result["predictions"])})
    return result["endpoint"]


@component
def check_drift(model_name: str, model_version: str, namespace: str) -> float:
    """Reads how far the recent inputs of the model server of models:/<model_name>/<model_version> in
    `namespace` ("" = the pipeline's own) have moved from its training data (the server's GET /drift)
    and records it in MLflow, in the run drift-<model_name>-v<model_version> of the model's experiment.
    Returns the largest PSI of a feature, or -1 while the server has seen too few inputs. A recurring
    run of pipelines/drift_pipeline.py checks a served model on a schedule."""
    from mlops_components import core, deploy, drift

    url = core.endpoint(model_name, namespace or deploy.own_namespace())
    report, run_id = drift.check(url, model_name, model_version)
    print(f"models:/{model_name}/{model_version} at {url}: {drift.summary(report)}; recorded in MLflow run {run_id}")
    return float(report["max_psi"]) if report["psi"] else -1.0
