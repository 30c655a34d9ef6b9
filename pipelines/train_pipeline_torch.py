"""The training pipeline's PyTorch variant: the same steps as train_pipeline.py (load, split,
evaluate with the quality gate, register in MLflow, serve), with `train_torch` as the training
step: a small MLP trained with PyTorch, fixed seed, deterministic. That step runs in the
pipeline-torch image, requests one `nvidia.com/gpu` and tolerates the GPU nodes' taint
(nvidia.com/gpu=present:NoSchedule), so it runs on a GPU node; it trains on CUDA when the pod sees
a GPU and on the CPU otherwise (a node that only advertises the resource), and records which in
MLflow (tag train.device). The model it saves is numpy weights, so the other steps and the model
server run in the pipeline base image, without torch and without a GPU.

A pipeline of its own rather than a parameter of train_pipeline: the GPU request and toleration
are fixed when the pipeline is compiled, and the scikit-learn pipeline must never ask for a GPU.

Compile (the checked-in train_pipeline_torch.yaml is this, golden-tested by `make test`):
    python -m pipelines.train_pipeline_torch [OUTPUT.yaml]
MLOPS_PIPELINE_IMAGE and MLOPS_PIPELINE_TORCH_IMAGE choose the images (default: the local stack's).
"""

import sys
from pathlib import Path

from kfp import compiler, dsl
from mlops_components import components as c

from pipelines.train_pipeline import evaluate_register_and_deploy, load_and_split

PIPELINE_NAME = "mlops-smoke-train-torch"
COMPILED = Path(__file__).with_suffix(".yaml")
# torch (0.5 GiB), pandas and scikit-learn put the step's Python at 0.8 GiB resident (measured
# on the CPU with each bundled dataset), near the lean profile's 1 GiB default limit for pipeline
# steps; CUDA's context on a GPU node adds to it.
TRAIN_MEMORY_REQUEST = "1Gi"
TRAIN_MEMORY_LIMIT = "4Gi"


@dsl.pipeline(name=PIPELINE_NAME,
              description="Train a PyTorch MLP on a GPU node, evaluate (quality gate), register in MLflow and serve it")
def train_pipeline_torch(
    dataset: str = "iris",
    test_size: float = 0.25,
    seed: int = 42,
    hidden_units: int = 32,
    epochs: int = 200,
    learning_rate: float = 0.01,
    batch_size: int = 16,
    min_accuracy: float = 0.85,
    experiment_name: str = "/vision/smoke-train-torch",
    model_name: str = "vision-iris-mlp",
    serving_namespace: str = "",
    deploy_mode: str = "kubernetes",
    serving_image: str = "",
    git_commit: str = "unknown",
):
    data, parts = load_and_split(dataset, test_size, seed)
    model = c.on_gpu(c.train_torch(train_data=parts.outputs["train_data"], seed=seed, hidden_units=hidden_units,
                                   epochs=epochs, learning_rate=learning_rate, batch_size=batch_size))
    model.set_memory_request(TRAIN_MEMORY_REQUEST).set_memory_limit(TRAIN_MEMORY_LIMIT)
    evaluate_register_and_deploy(model, data, parts, min_accuracy=min_accuracy, experiment_name=experiment_name,
                                 model_name=model_name, serving_namespace=serving_namespace, deploy_mode=deploy_mode,
                                 serving_image=serving_image, git_commit=git_commit)


def compile_pipeline(output: Path = COMPILED) -> Path:
    compiler.Compiler().compile(train_pipeline_torch, str(output))
    return output


if __name__ == "__main__":
    print(compile_pipeline(Path(sys.argv[1]) if len(sys.argv) > 1 else COMPILED))
