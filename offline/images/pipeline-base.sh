#!/usr/bin/env bash
# Builds mlops.local/mlops-platform/pipeline-base:py3.11-kfp2.14.3, the base image that Kubeflow
# Pipelines v2 Python components run in (their base_image), without any container registry: the
# Debian base image, Debian's python3 (3.11), and a venv at /opt/pipeline, first on PATH, from
# PyPI. kfp must be 2.14.3, the SDK of the KFP 2.14.3 backend we deploy (it pins protobuf 6.31.1,
# kfp-pipeline-spec 2.14.0 and kubernetes<31); kfp-server-api is held at the backend's 2.14.3 too
# (kfp allows any 2.x >= 2.14). With kfp in the image, the `python3 -m pip install kfp==2.14.3
# --no-deps` that KFP puts in front of each component is a no-op that needs no network. skops:
# mlflow.sklearn.log_model's default serialization format (mlflow 3.17) imports it; without it
# logging a scikit-learn model fails.
# The venv is pinned by offline/images/pipeline-base/requirements.lock (installed with --no-deps;
# without it the build resolves REQUIREMENTS and writes the lock). The image also carries the
# platform's pipeline components, components/mlops_components (installed last, in a layer of
# their own). Cached by the label of its inputs' hash (FORCE=1 rebuilds). Prints the reference.
#   offline/images/pipeline-base.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init pipeline-base

image=$(image_ref pipeline-base)
REQUIREMENTS="kfp==2.14.3 kfp-kubernetes==2.14.3 kfp-server-api==2.14.3 mlflow-skinny==3.17.2 scikit-learn skops pandas numpy joblib boto3"
src=$images_dir/pipeline-base
lock=$src/requirements.lock
components=$root/components
need_docker
need_base_image
hashed() {
  local sources
  sources=$(cd "$components" && find mlops_components -name '*.py' | LC_ALL=C sort | sed "s|^|$components/|")
  # shellcheck disable=SC2086 # one path per word
  inputs_hash -r image "$src/Dockerfile" "$(apt_sources)" -o "$lock" $sources -s "$REQUIREMENTS $base_ref $base_id"
}
hash=$(hashed)
if ! image_current "$image" "$hash"; then
  build_context
  cp "$src/Dockerfile" "$ctx/"
  context_add_apt "$ctx"
  context_add_ca "$ctx"
  context_add_lock "$ctx" "$lock" "$REQUIREMENTS"
  mkdir "$ctx/components"
  cp -r "$components/mlops_components" "$ctx/components/"
  find "$ctx/components" -name __pycache__ -prune -exec rm -rf {} +
  docker_build "$image" "$ctx" "$hash" "REQUIREMENTS=$REQUIREMENTS"
  if lock_write_back "$image" /opt/pipeline/requirements.lock "$lock"; then
    label_image "$image" "org.mlops-platform.inputs-hash=$(hashed)"
  fi
fi
echo "$image"
