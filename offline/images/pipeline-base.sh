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
# platform's pipeline components, pipeline_components/mlops_components (installed last, in a layer of
# their own). The build is venv_image's (offline/lib/build.sh: the stages of
# common/venv-stages.Dockerfile, then pipeline-base/Dockerfile). Cached by the label of its inputs'
# hash (FORCE=1 rebuilds). Prints the reference.
#   offline/images/pipeline-base.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init pipeline-base

image=$(image_ref pipeline-base)
REQUIREMENTS="kfp==2.14.3 kfp-kubernetes==2.14.3 kfp-server-api==2.14.3 mlflow-skinny==3.17.2 scikit-learn skops pandas numpy joblib boto3"
components=$root/pipeline_components
mapfile -t hashed_files < <(cd "$components" && find mlops_components -name '*.py' | LC_ALL=C sort | sed "s|^|$components/|")
add_to_context() {
  mkdir "$1/pipeline_components"
  cp -r "$components/mlops_components" "$1/pipeline_components/"
  find "$1/pipeline_components" -name __pycache__ -prune -exec rm -rf {} +
}
venv_image "$image" /opt/pipeline/requirements.lock VENV=/opt/pipeline APP_USER=pipeline APP_HOME=/home/pipeline \
  APP_SHELL=/bin/bash "RUNTIME_PACKAGES=python3-venv ca-certificates"
echo "$image"
