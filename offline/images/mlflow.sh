#!/usr/bin/env bash
# Builds mlops.local/mlflow/mlflow:v3.17.2 (the reference infra/images.toml lists for "mlflow"
# with registry mlops.local) without any container registry: the Debian base image, Debian's
# python3, and a venv at /opt/mlflow from PyPI, pinned by offline/images/mlflow/requirements.lock
# (installed with --no-deps). Without that file the build resolves REQUIREMENTS below and writes
# the lock from `pip freeze` of the built venv (commit it). The build is venv_image's
# (offline/lib/build.sh: the stages of common/venv-stages.Dockerfile, then mlflow/Dockerfile).
# Cached by the label of its inputs' hash (FORCE=1 rebuilds). Prints the image reference.
#   offline/images/mlflow.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init mlflow

image=$(image_ref mlflow)
# psycopg (3): SQLAlchemy 2.1's default driver for postgresql:// URIs (the chart's DSNs);
# psycopg2 as well, for postgresql+psycopg2:// URIs and what the chart's README names.
REQUIREMENTS="mlflow[auth]==3.17.2 psycopg[binary] psycopg2-binary boto3 prometheus-flask-exporter"
venv_image "$image" /opt/mlflow/requirements.lock VENV=/opt/mlflow APP_USER=mlflow APP_HOME=/tmp \
  "RUNTIME_PACKAGES=python3-venv ca-certificates"
echo "$image"
