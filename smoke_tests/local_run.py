"""Runs a smoke pipeline without a cluster: Kubeflow Pipelines' local runner executes each
component as a subprocess of this Python environment (which must carry the pipeline base image's
packages and mlops_components: `make pipelines-venv`), MLflow tracks to a local file store and the
deploy step only writes the serving manifests.
    python -m smoke_tests.local_run WORKDIR [torch]
`torch` runs the PyTorch variant (train_pipeline_torch; its GPU request means nothing locally:
the training step uses CUDA when this machine has it, else the CPU).
"""

import importlib
import json
import os
import sys
from pathlib import Path

PIPELINES = {"sklearn": ("pipelines.train_pipeline", "train_pipeline"),
             "torch": ("pipelines.train_pipeline_torch", "train_pipeline_torch")}


def run_locally(workdir: Path, variant: str = "sklearn", **arguments) -> dict:
    """Runs train_pipeline (`variant` sklearn) or train_pipeline_torch (`variant` torch) in
    `workdir` (artifacts under workdir/pipeline-root, MLflow under workdir/mlruns) and returns the
    outputs of its tasks: {task: {output: value or path}}."""
    if variant not in PIPELINES:
        raise ValueError(f"unknown pipeline variant {variant!r}; allowed: {', '.join(PIPELINES)}")
    workdir = Path(workdir).resolve()
    os.environ["MLFLOW_TRACKING_URI"] = (workdir / "mlruns").as_uri()
    # mlflow-skinny (the image's MLflow) has no SQL store; the file store is enough for one run.
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    os.environ.pop("MLFLOW_TRACKING_USERNAME", None)
    os.environ.pop("MLFLOW_TRACKING_PASSWORD", None)
    from kfp import local

    module, name = PIPELINES[variant]
    pipeline = getattr(importlib.import_module(module), name)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(workdir / "pipeline-root"),
               raise_on_error=True)
    task = pipeline(**{"deploy_mode": "manifest", **arguments})
    return {"outputs": {key: getattr(value, "path", value) for key, value in (task.outputs or {}).items()}}


if __name__ == "__main__":
    print(json.dumps(run_locally(Path(sys.argv[1]), *sys.argv[2:3]), indent=2, default=str))
