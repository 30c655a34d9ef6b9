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
# pipelines-venv). Cached by the label of its inputs' hash, which covers the base image (FORCE=1
# rebuilds). Prints the image reference.
#   offline/images/pipeline-torch.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init pipeline-torch

image=$(image_ref pipeline-torch)
REQUIREMENTS="torch==2.15.0"
src=$images_dir/pipeline-torch
lock=$src/requirements.lock
base_lock=$images_dir/pipeline-base/requirements.lock
need_docker
need_base_image
pipeline_base=$(bash "$images_dir/pipeline-base.sh") || die "offline/images/pipeline-base.sh failed"
hashed() {
  inputs_hash -r image "$src/Dockerfile" "$src/added_pins.py" "$(apt_sources)" "$base_lock" -o "$lock" \
    -s "$REQUIREMENTS $base_ref $base_id $pipeline_base $(docker image inspect -f '{{.Id}}' "$pipeline_base")"
}
hash=$(hashed)
if ! image_current "$image" "$hash"; then
  build_context
  cp "$src/Dockerfile" "$src/added_pins.py" "$ctx/"
  context_add_apt "$ctx"
  context_add_ca "$ctx"
  cp "$base_lock" "$ctx/base-requirements.lock"
  context_add_lock "$ctx" "$lock" "$REQUIREMENTS against $base_lock"
  log "downloads about 3 GB of wheels when cold"
  docker_build "$image" "$ctx" "$hash" "PIPELINE_BASE=$pipeline_base" "REQUIREMENTS=$REQUIREMENTS"
  if lock_write_back "$image" /opt/pipeline/requirements-torch.lock "$lock"; then
    label_image "$image" "org.mlops-platform.inputs-hash=$(hashed)"
  fi
fi
echo "$image"
