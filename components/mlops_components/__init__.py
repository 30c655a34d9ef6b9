"""Reusable Kubeflow Pipelines v2 components of the MLOps platform (`mlops_components.components`)
and the plain-Python logic they run (`mlops_components.core`, `mlops_components.deploy`).
The platform's pipeline base image carries this package."""

__version__ = "0.1.0"
# The pipeline base image of the local stack (offline/images/pipeline-base.sh); compile with
# MLOPS_PIPELINE_IMAGE=<registry>/mlops-platform/pipeline-base:<tag> for another registry.
DEFAULT_BASE_IMAGE = "mlops.local/mlops-platform/pipeline-base:py3.11-kfp2.14.3"
