#!/usr/bin/env bash
# Builds mlops.local/mlops-platform/pipeline-torch:py3.11-kfp2.14.3-torch2.15.0, the image of the
# pipeline components that train with PyTorch (mlops_components.components.train_torch), without
# any container registry: the pipeline base image (offline/images/pipeline-base.sh, built first
# when it is missing or stale) plus torch 2.15.0 from PyPI. PyPI's Linux wheel depends on the CUDA
# 13 runtime wheels (nvidia-*, triton): a GPU node's NVIDIA driver runs them, so they are in the
# image on purpose (that makes it several GB); on a node without a GPU torch runs on the CPU.
# The packages it adds to the base's venv are pinned by offline/images/pipeline-torch/
# requirements.lock (installed with --no-deps); without that file the build resolves
# REQUIREMENTS with the base's lock as constraints (the base's packages keep their versions) and
# writes the packages it adds there (commit it). The pipelines venv installs the same lock (make
# pipelines-venv). The build is venv_image's (offline/lib/build.sh), with the whole pipeline-torch/
# Dockerfile. Cached by the label of its inputs' hash, which covers the base image (FORCE=1
# rebuilds). Prints the image reference.
#   offline/images/pipeline-torch.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init pipeline-torch

image=$(image_ref pipeline-torch)
REQUIREMENTS="torch==2.15.0"
base_lock=$images_dir/pipeline-base/requirements.lock
pipeline_base=$(bash "$images_dir/pipeline-base.sh") || die "offline/images/pipeline-base.sh failed"
own_stages=1   # its Dockerfile builds on the pipeline base image, not on common/venv-stages.Dockerfile
context_files=("$images_dir/pipeline-torch/added_pins.py")
hashed_files=("$base_lock")
hashed_strings=("$pipeline_base" "$(docker image inspect -f '{{.Id}}' "$pipeline_base")")
add_to_context() {
  cp "$base_lock" "$1/base-requirements.lock"
  log "downloads about 3 GB of wheels when cold"
}
venv_image "$image" /opt/pipeline/requirements-torch.lock "PIPELINE_BASE=$pipeline_base"
echo "$image"
