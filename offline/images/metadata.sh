#!/usr/bin/env bash
# Builds mlops.local/kubeflow/mlmd-server:1.17.1, the ML Metadata gRPC server that Kubeflow
# Pipelines' driver and launcher call (MetadataStoreService on port 8080), without any container
# registry: upstream's gcr.io/tfx-oss-public/ml_metadata_store_server is C++ built with Bazel, so
# this image runs platform_metadata/server.py instead, a small Python gRPC server that hands
# every RPC to the C++ store bundled in the ml-metadata wheel; the Debian base image, Debian's
# python3, and a venv at /opt/mlmd from PyPI, pinned by offline/images/metadata/requirements.lock
# (installed with --no-deps; without it the build resolves REQUIREMENTS and writes the lock).
# Also tags mlops.local/kubeflow/kfp-metadata-envoy:2.14.3, the stand-in for KFP's Envoy that the
# web UI reads ML Metadata through: the same image running platform_metadata/grpc_web_proxy.py (gRPC-Web on
# port 9090, forwarded to metadata-grpc-service:8080).
# Cached by the label of its inputs' hash (FORCE=1 rebuilds). Prints both references, one per line.
# offline/images/metadata/check.sh tests both.
#   offline/images/metadata.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init metadata

image=$(image_ref mlmd-server)
envoy_image=$(image_ref kfp-metadata-envoy)
REQUIREMENTS="ml-metadata==1.17.1"
program=$root/platform_metadata   # the code the image runs (its README and tests are there)
context_files=("$program/server.py" "$program/grpc_web_proxy.py")
venv_image "$image" /opt/mlmd/requirements.lock VENV=/opt/mlmd APP_USER=mlmd APP_HOME=/tmp STRIP_PIP=1
if ((built)) || ! image_current "$envoy_image" "$hash"; then
  # The gRPC-Web proxy: the same files, another entrypoint and port (no layer of its own).
  printf '%s\n' "FROM $image" "EXPOSE 9090" 'ENTRYPOINT ["/opt/mlmd/bin/python", "/opt/mlmd/grpc_web_proxy.py"]' \
    "LABEL org.mlops-platform.inputs-hash=$hash org.opencontainers.image.description=\"gRPC-Web proxy for ML Metadata (stand-in for KFP's metadata Envoy)\"" \
    | docker build -q -t "$envoy_image" - >/dev/null 2>"$cache/logs/metadata-envoy.log" \
    || { cat "$cache/logs/metadata-envoy.log" >&2; die "building $envoy_image failed"; }
  log "tagged $envoy_image (the gRPC-Web proxy on port 9090)"
fi
echo "$image"
echo "$envoy_image"
