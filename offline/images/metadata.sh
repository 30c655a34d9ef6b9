#!/usr/bin/env bash
# Builds mlops.local/kubeflow/mlmd-server:1.17.1, the ML Metadata gRPC server that Kubeflow
# Pipelines' driver and launcher call (MetadataStoreService on port 8080), without any container
# registry: upstream's gcr.io/tfx-oss-public/ml_metadata_store_server is C++ built with Bazel, so
# this image runs offline/images/metadata/server.py instead, a small Python gRPC server that hands
# every RPC to the C++ store bundled in the ml-metadata wheel; the Debian base image, Debian's
# python3, and a venv at /opt/mlmd from PyPI, pinned by offline/images/metadata/requirements.lock
# (installed with --no-deps; without it the build resolves REQUIREMENTS and writes the lock).
# Also tags mlops.local/kubeflow/kfp-metadata-envoy:2.14.3, the stand-in for KFP's Envoy that the
# web UI reads ML Metadata through: the same image running metadata/grpc_web_proxy.py (gRPC-Web on
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
src=$images_dir/metadata
lock=$src/requirements.lock
need_docker
need_base_image
hashed() {
  inputs_hash -r image "$src/Dockerfile" "$src/server.py" "$src/grpc_web_proxy.py" "$(apt_sources)" -o "$lock" \
    -s "$REQUIREMENTS $base_ref $base_id"
}
hash=$(hashed)
if ! image_current "$image" "$hash" || ! image_current "$envoy_image" "$hash"; then
  build_context
  cp "$src/Dockerfile" "$src/server.py" "$src/grpc_web_proxy.py" "$ctx/"
  context_add_apt "$ctx"
  context_add_ca "$ctx"
  context_add_lock "$ctx" "$lock" "$REQUIREMENTS"
  docker_build "$image" "$ctx" "$hash" "REQUIREMENTS=$REQUIREMENTS"
  if lock_write_back "$image" /opt/mlmd/requirements.lock "$lock"; then
    hash=$(hashed)
    label_image "$image" "org.mlops-platform.inputs-hash=$hash"
  fi
  # The gRPC-Web proxy: the same files, another entrypoint and port (no layer of its own).
  printf '%s\n' "FROM $image" "EXPOSE 9090" 'ENTRYPOINT ["/opt/mlmd/bin/python", "/opt/mlmd/grpc_web_proxy.py"]' \
    "LABEL org.mlops-platform.inputs-hash=$hash org.opencontainers.image.description=\"gRPC-Web proxy for ML Metadata (stand-in for KFP's metadata Envoy)\"" \
    | docker build -q -t "$envoy_image" - >/dev/null 2>"$cache/logs/metadata-envoy.log" \
    || { cat "$cache/logs/metadata-envoy.log" >&2; die "building $envoy_image failed"; }
  log "tagged $envoy_image (the gRPC-Web proxy on port 9090)"
fi
echo "$image"
echo "$envoy_image"
