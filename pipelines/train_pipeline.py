"""The smoke-test training pipeline, composed from the platform's reusable components:
load a bundled dataset -> stratified split -> train (scikit-learn, fixed seed) -> evaluate with a
quality gate -> log and register the model in MLflow -> serve the registered version in a research
group's namespace (or, with deploy_mode='manifest', only write the serving manifests).
Registering and deploying change the world outside the pipeline: KFP never reuses a cached
result for them (the other steps may be cached when their inputs are the same).

train_pipeline_torch.py is the same pipeline with the PyTorch training step on a GPU node.

Compile (the checked-in train_pipeline.yaml is this, golden-tested by `make test`):
    python -m pipelines.train_pipeline [OUTPUT.yaml]
MLOPS_PIPELINE_IMAGE chooses the image (default: the local stack's pipeline base image).
"""

import sys
from pathlib import Path

from kfp import compiler, dsl
from mlops_components import components as c

PIPELINE_NAME = "mlops-smoke-train"
COMPILED = Path(__file__).with_suffix(".yaml")


def load_and_split(dataset, test_size, seed) -> tuple[dsl.PipelineTask, dsl.PipelineTask]:
    """The first steps of every training pipeline here: the bundled dataset, split with the seed."""
    data = c.load_data(dataset_name=dataset)
    return data, c.split_data(data=data.outputs["data"], test_size=test_size, seed=seed)


def evaluate_register_and_deploy(model: dsl.PipelineTask, data: dsl.PipelineTask, parts: dsl.PipelineTask, *,
                                 min_accuracy, experiment_name, model_name, serving_namespace, deploy_mode,
                                 serving_image, git_commit) -> None:
    """The steps after training, the same for every training step whose output `model` they read."""
    evaluation = c.evaluate_model(model=model.outputs["model"], test_data=parts.outputs["test_data"],
                                  min_accuracy=min_accuracy)
    registered = c.with_platform_env(c.register_model(
        model=model.outputs["model"], data=data.outputs["data"], test_data=parts.outputs["test_data"],
        metrics=evaluation.outputs["metrics"], experiment_name=experiment_name, model_name=model_name,
        min_accuracy=min_accuracy, git_commit=git_commit, kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        kfp_run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER)).set_caching_options(False)
    c.with_platform_env(c.deploy_model(
        model_name=model_name, model_version=registered.outputs["model_version"],
        namespace=serving_namespace, mode=deploy_mode,
        serving_image=serving_image, test_data=parts.outputs["test_data"])).set_caching_options(False)


@dsl.pipeline(name=PIPELINE_NAME,
              description="Train, evaluate (quality gate), register in MLflow and serve a scikit-learn classifier")
def train_pipeline(
    dataset: str = "iris",
    test_size: float = 0.25,
    seed: int = 42,
    model_type: str = "random_forest",
    n_estimators: int = 100,
    max_depth: int = 5,
    min_accuracy: float = 0.85,
    experiment_name: str = "/vision/smoke-train",
    model_name: str = "vision-iris-classifier",
    serving_namespace: str = "",
    deploy_mode: str = "kubernetes",
    serving_image: str = "",
    git_commit: str = "unknown",
):
    data, parts = load_and_split(dataset, test_size, seed)
    model = c.train_model(train_data=parts.outputs["train_data"], model_type=model_type, seed=seed,
                          n_estimators=n_estimators, max_depth=max_depth)
    evaluate_register_and_deploy(model, data, parts, min_accuracy=min_accuracy, experiment_name=experiment_name,
                                 model_name=model_name, serving_namespace=serving_namespace, deploy_mode=deploy_mode,
                                 serving_image=serving_image, git_commit=git_commit)


def compile_pipeline(output: Path = COMPILED) -> Path:
    compiler.Compiler().compile(train_pipeline, str(output))
    return output


if __name__ == "__main__":
    print(compile_pipeline(Path(sys.argv[1]) if len(sys.argv) > 1 else COMPILED))
