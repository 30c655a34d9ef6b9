#!/usr/bin/env bash
# Builds mlops.local/kubeflow/mlmd-server:1.17.1, the ML Metadata gRPC server that Kubeflow
# Pipelines' driver and launcher call (MetadataStoreService on port 8080), without any container
# registry: upstream's gcr.io/tfx-oss-public/ml_metadata_store_server is C++ built with Bazel, so
# this image runs offline/images/metadata/server.py instead, a small Python gRPC server that hands
# every RPC to the C++ store bundled in the ml-metadata wheel; the Debian base image of
# kind-node.sh, Debian's python3, and a venv at /opt/mlmd from PyPI.
# The venv is pinned by offline/images/metadata/requirements.lock (installed with --no-deps);
# when that file is missing, the build resolves REQUIREMENTS below and writes the lock from
# `pip freeze` of the built venv (commit it). Cached: does nothing when the tag exists with the
# label of the current inputs' hash (FORCE=1 rebuilds).
# Also tags mlops.local/kubeflow/kfp-metadata-envoy:2.14.3, the stand-in for KFP's Envoy that the
# web UI reads ML Metadata through: the same image running metadata/grpc_web_proxy.py (gRPC-Web on
# port 9090, forwarded to metadata-grpc-service:8080).
# Progress goes to stderr; stdout lists the two image references, one per line.
# offline/images/metadata/check.sh tests both.
#   offline/images/metadata.sh
set -euo pipefail

REGISTRY=${REGISTRY:-mlops.local}
IMAGE="$REGISTRY/kubeflow/mlmd-server:1.17.1"
ENVOY_IMAGE="$REGISTRY/kubeflow/kfp-metadata-envoy:2.14.3"
REQUIREMENTS="ml-metadata==1.17.1"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lock=$here/metadata/requirements.lock
log() { echo "mlmd-image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
export DOCKER_BUILDKIT=0   # the classic builder uses the local base image without any registry

bash "$here/../docker.sh" >&2
base=$(bash "$here/base-image.sh") || exit 1
sources=/etc/apt/sources.list.d/debian.sources
[[ -f $sources ]] || die "$sources not found: the image's apt sources are copied from it"
ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
[[ -f $ca ]] || die "CA bundle $ca not found (set PIP_CERT)"

inputs_hash() {
  (cat "$0" "$here/metadata/Dockerfile" "$here/metadata/server.py" "$here/metadata/grpc_web_proxy.py" "$sources"
   [[ -f $lock ]] && cat "$lock"
   echo "$REQUIREMENTS $base $(docker image inspect --format '{{.Id}}' "$base")") | sha256sum | cut -c1-16
}
hash=$(inputs_hash)
label_of() { docker image inspect --format '{{index .Config.Labels "org.mlops-platform.inputs-hash"}}' "$1" 2>/dev/null || true; }
if [[ $(label_of "$IMAGE") == "$hash" && $(label_of "$ENVOY_IMAGE") == "$hash" && ${FORCE:-0} != 1 ]]; then
  log "$IMAGE and $ENVOY_IMAGE are up to date (inputs hash $hash; FORCE=1 rebuilds them)"
  echo "$IMAGE"
  echo "$ENVOY_IMAGE"
  exit 0
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$here/metadata/Dockerfile" "$here/metadata/server.py" "$here/metadata/grpc_web_proxy.py" "$ctx/"
cp "$sources" "$ctx/debian.sources"
cp "$ca" "$ctx/build-ca.crt"
if [[ -f $lock ]]; then
  cp "$lock" "$ctx/requirements.lock"
  log "installing the pinned versions of $lock"
else
  : >"$ctx/requirements.none"   # keeps the COPY glob non-empty
  log "no $lock: resolving $REQUIREMENTS"
fi
started=$SECONDS
log "building $IMAGE from $base (inputs hash $hash) ..."
docker build --build-arg BASE="$base" --build-arg INPUTS_HASH="$hash" --build-arg REQUIREMENTS="$REQUIREMENTS" \
  -t "$IMAGE" "$ctx" >"$ctx/build.log" 2>&1 || { tail -n 40 "$ctx/build.log" >&2; die "docker build of $IMAGE failed"; }
if [[ ! -f $lock ]]; then
  docker run --rm --entrypoint cat "$IMAGE" /opt/mlmd/requirements.lock >"$lock.tmp" && mv "$lock.tmp" "$lock"
  log "wrote $lock ($(wc -l <"$lock") packages)"
  # The image is what the lock describes: label it with the hash that covers the lock, so the
  # next run finds it up to date.
  hash=$(inputs_hash)
  printf 'FROM %s\nLABEL org.mlops-platform.inputs-hash=%s\n' "$IMAGE" "$hash" \
    | docker build -q -t "$IMAGE" - >/dev/null 2>"$ctx/label.log" || { cat "$ctx/label.log" >&2; die "labelling $IMAGE failed"; }
fi
log "built $IMAGE (inputs hash $hash) in $((SECONDS - started)) s, $(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
# The gRPC-Web proxy: the same files, another entrypoint and port (no layer of its own).
printf '%s\n' "FROM $IMAGE" "EXPOSE 9090" 'ENTRYPOINT ["/opt/mlmd/bin/python", "/opt/mlmd/grpc_web_proxy.py"]' \
  "LABEL org.mlops-platform.inputs-hash=$hash org.opencontainers.image.description=\"gRPC-Web proxy for ML Metadata (stand-in for KFP's metadata Envoy)\"" \
  | docker build -q -t "$ENVOY_IMAGE" - >/dev/null 2>"$ctx/envoy.log" || { cat "$ctx/envoy.log" >&2; die "building $ENVOY_IMAGE failed"; }
log "tagged $ENVOY_IMAGE (the gRPC-Web proxy on port 9090)"
echo "$IMAGE"
echo "$ENVOY_IMAGE"
