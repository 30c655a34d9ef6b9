"""Reusable Kubeflow Pipelines v2 components of the MLOps platform (`mlops_components.components`)
and the plain-Python logic they run (`mlops_components.core`, `mlops_components.deploy`,
`mlops_components.torch_mlp` for the PyTorch variant).
The platform's pipeline base image carries this package."""

__version__ = "0.1.0"
# The pipeline base image of the local stack (offline/images/pipeline-base.sh); compile with
# MLOPS_PIPELINE_IMAGE=<registry>/mlops-platform/pipeline-base:<tag> for another registry.
DEFAULT_BASE_IMAGE = "mlops.local/mlops-platform/pipeline-base:py3.11-kfp2.14.3"
# The base image plus PyTorch (offline/images/pipeline-torch.sh), for train_torch; compile with
# MLOPS_PIPELINE_TORCH_IMAGE=<registry>/mlops-platform/pipeline-torch:<tag> for another registry.
DEFAULT_TORCH_IMAGE = "mlops.local/mlops-platform/pipeline-torch:py3.11-kfp2.14.3-torch2.15.0"
