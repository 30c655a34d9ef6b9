"""The training pipeline with its scikit-learn training step on a GPU node: what `make bench`
(smoke_tests/bench.py) submits when the cluster advertises `nvidia.com/gpu`, so that research
groups contend for GPUs through Kueue. The step asks for one GPU and tolerates the GPU nodes'
taint; scikit-learn uses no GPU, so it runs the same on the local cluster's fake GPUs as on real
ones. The other steps are train_pipeline's.

Compile (the checked-in bench_pipeline.yaml is this, golden-tested by `make test`):
    python -m pipelines.bench_pipeline [OUTPUT.yaml]
"""

import sys
from pathlib import Path

from kfp import compiler, dsl
from mlops_components import components as c

from pipelines.train_pipeline import evaluate_register_and_deploy, load_and_split

PIPELINE_NAME = "mlops-bench-train-gpu"
COMPILED = Path(__file__).with_suffix(".yaml")


@dsl.pipeline(name=PIPELINE_NAME,
              description="train_pipeline with its training step holding one GPU (scikit-learn, on the CPU)")
def bench_pipeline(
    dataset: str = "iris",
    test_size: float = 0.25,
    seed: int = 42,
    n_estimators: int = 100,
    min_accuracy: float = 0.85,
    experiment_name: str = "/vision/bench",
    model_name: str = "vision-iris-bench",
    deploy_mode: str = "manifest",
):
    data, parts = load_and_split(dataset, test_size, seed)
    model = c.on_gpu(c.train_model(train_data=parts.outputs["train_data"], model_type="random_forest", seed=seed,
                                   n_estimators=n_estimators, max_depth=5))
    evaluate_register_and_deploy(model, data, parts, min_accuracy=min_accuracy, experiment_name=experiment_name,
                                 model_name=model_name, serving_namespace="", deploy_mode=deploy_mode,
                                 serving_image="", git_commit="bench")


def compile_pipeline(output: Path = COMPILED) -> Path:
    compiler.Compiler().compile(bench_pipeline, str(output))
    return output


if __name__ == "__main__":
    print(compile_pipeline(Path(sys.argv[1]) if len(sys.argv) > 1 else COMPILED))
