"""Reusable Kubeflow Pipelines v2 components of the MLOps platform (`mlops_components.components`)
and the plain-Python logic they run (`mlops_components.core`, `mlops_components.deploy`,
`mlops_components.torch_mlp` for the PyTorch variant).
The platform's pipeline base image carries this package."""

__version__ = "0.1.0"

import importlib.util
import sys
from pathlib import Path

# The platform's image list, in the checkout this package is part of (pipeline_components/ beside infra/).
_IMAGE_LIST = Path(__file__).resolve().parents[2] / "infra" / "images.py"


def default_image(name: str) -> str:
    """The image `name` ("pipeline-base", "pipeline-torch") as the local stack runs it: the reference
    that offline/images/ builds for it, from the platform's image list (infra/images.toml). Components
    compile against it unless MLOPS_PIPELINE_IMAGE / MLOPS_PIPELINE_TORCH_IMAGE name another (a site's
    registry). Read when asked, so that the package imports where the list is not (the images)."""
    if not _IMAGE_LIST.is_file():
        raise RuntimeError(f"the platform's image list is not beside this package ({_IMAGE_LIST} is missing): set "
                           "MLOPS_PIPELINE_IMAGE and MLOPS_PIPELINE_TORCH_IMAGE to your platform's pipeline images")
    module = sys.modules.get("_mlops_platform_images")
    if module is None:
        spec = importlib.util.spec_from_file_location("_mlops_platform_images", _IMAGE_LIST)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
    return module.UPSTREAM_IMAGES[name].offline_reference()
