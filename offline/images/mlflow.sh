#!/usr/bin/env bash
# Builds mlops.local/mlflow/mlflow:v3.17.2 (the reference infra/images.toml lists for "mlflow"
# with registry mlops.local) without any container registry: the Debian base image, Debian's
# python3, and a venv at /opt/mlflow from PyPI, pinned by offline/images/mlflow/requirements.lock
# (installed with --no-deps). Without that file the build resolves REQUIREMENTS below and writes
# the lock from `pip freeze` of the built venv (commit it). Cached by the label of its inputs'
# hash (FORCE=1 rebuilds). Prints the image reference.
#   offline/images/mlflow.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init mlflow

image=$(image_ref mlflow)
# psycopg (3): SQLAlchemy 2.1's default driver for postgresql:// URIs (the chart's DSNs);
# psycopg2 as well, for postgresql+psycopg2:// URIs and what the chart's README names.
REQUIREMENTS="mlflow[auth]==3.17.2 psycopg[binary] psycopg2-binary boto3 prometheus-flask-exporter"
src=$images_dir/mlflow
lock=$src/requirements.lock
need_docker
need_base_image
hashed() { inputs_hash -r image "$src/Dockerfile" "$(apt_sources)" -o "$lock" -s "$REQUIREMENTS $base_ref $base_id"; }
hash=$(hashed)
if ! image_current "$image" "$hash"; then
  build_context
  cp "$src/Dockerfile" "$ctx/"
  context_add_apt "$ctx"
  context_add_ca "$ctx"
  context_add_lock "$ctx" "$lock" "$REQUIREMENTS"
  docker_build "$image" "$ctx" "$hash" "REQUIREMENTS=$REQUIREMENTS"
  if lock_write_back "$image" /opt/mlflow/requirements.lock "$lock"; then
    label_image "$image" "org.mlops-platform.inputs-hash=$(hashed)"
  fi
fi
echo "$image"
