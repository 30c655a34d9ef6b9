"""The drift check of a served model as a pipeline: one step (check_drift) that reads how far the
model server's recent inputs have moved from its training data (its GET /drift; mlops_components.drift)
and records it in MLflow, in the run drift-<model_name>-v<model_version> of the model's experiment.
A research group schedules it as a recurring run (KFP's recurring runs, e.g. every hour) next to the
model server that train_pipeline deployed; the alert ModelInputDrift watches the same numbers live.

Compile (the checked-in drift_pipeline.yaml is this, golden-tested by `make test`):
    python -m pipelines.drift_pipeline [OUTPUT.yaml]
"""

import sys
from pathlib import Path

from kfp import compiler, dsl
from mlops_components import components as c

PIPELINE_NAME = "mlops-drift-check"
COMPILED = Path(__file__).with_suffix(".yaml")


@dsl.pipeline(name=PIPELINE_NAME, description="record a served model's input drift in MLflow")
def drift_pipeline(model_name: str = "vision-iris", model_version: str = "1", namespace: str = ""):
    c.with_platform_env(c.check_drift(model_name=model_name, model_version=model_version, namespace=namespace))


def compile_pipeline(output: Path = COMPILED) -> Path:
    compiler.Compiler().compile(drift_pipeline, str(output))
    return output


if __name__ == "__main__":
    print(compile_pipeline(Path(sys.argv[1]) if len(sys.argv) > 1 else COMPILED))
