#!/usr/bin/env bash
# Builds mlops.local/mlops-platform/pipeline-base:py3.11-kfp2.14.3, the base image that Kubeflow
# Pipelines v2 Python components run in (their base_image), without any container registry: the
# Debian base image of kind-node.sh, Debian's python3 (3.11), and a venv at /opt/pipeline, first
# on PATH, from PyPI. kfp must be 2.14.3, the SDK of the KFP 2.14.3 backend we deploy (it pins
# protobuf 6.31.1, kfp-pipeline-spec 2.14.0 and kubernetes<31); kfp-server-api is held at the
# backend's 2.14.3 too (kfp allows any 2.x >= 2.14). With kfp in the image, the
# `python3 -m pip install kfp==2.14.3 --no-deps` that KFP puts in front of each component is a
# no-op that needs no network. skops: mlflow.sklearn.log_model's default serialization format
# (mlflow 3.17) imports it; without it logging a scikit-learn model fails.
# The venv is pinned by offline/images/pipeline-base/requirements.lock (installed with
# --no-deps); when that file is missing, the build resolves REQUIREMENTS below and writes the lock
# from `pip freeze` of the built venv (commit it). The image also carries the platform's pipeline
# components, components/mlops_components (installed last, in a layer of their own). Cached: does nothing when the tag exists with
# the label of the current inputs' hash (FORCE=1 rebuilds). Progress goes to stderr; the last
# line of stdout is the image reference.
#   offline/images/pipeline-base.sh
set -euo pipefail

REGISTRY=${REGISTRY:-mlops.local}
IMAGE="$REGISTRY/mlops-platform/pipeline-base:py3.11-kfp2.14.3"
REQUIREMENTS="kfp==2.14.3 kfp-kubernetes==2.14.3 kfp-server-api==2.14.3 mlflow-skinny==3.17.2 scikit-learn skops pandas numpy joblib boto3"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
components=$(cd "$here/../../components" && pwd)
lock=$here/pipeline-base/requirements.lock
log() { echo "pipeline-base-image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
export DOCKER_BUILDKIT=0   # the classic builder uses the local base image without any registry

bash "$here/../docker.sh" >&2
base=$(bash "$here/base-image.sh") || exit 1
sources=/etc/apt/sources.list.d/debian.sources
[[ -f $sources ]] || die "$sources not found: the image's apt sources are copied from it"
ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
[[ -f $ca ]] || die "CA bundle $ca not found (set PIP_CERT)"

inputs_hash() {
  (cat "$0" "$here/pipeline-base/Dockerfile" "$sources"; [[ -f $lock ]] && cat "$lock"
   (cd "$components" && find mlops_components -name '*.py' | LC_ALL=C sort | xargs cat)
   echo "$REQUIREMENTS $base $(docker image inspect --format '{{.Id}}' "$base")") | sha256sum | cut -c1-16
}
hash=$(inputs_hash)
current=$(docker image inspect --format '{{index .Config.Labels "org.mlops-platform.inputs-hash"}}' "$IMAGE" 2>/dev/null || true)
if [[ $current == "$hash" && ${FORCE:-0} != 1 ]]; then
  log "$IMAGE is up to date (inputs hash $hash; FORCE=1 rebuilds it)"
  echo "$IMAGE"
  exit 0
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$here/pipeline-base/Dockerfile" "$ctx/"
cp "$sources" "$ctx/debian.sources"
cp "$ca" "$ctx/build-ca.crt"
mkdir "$ctx/components"
cp -r "$components/mlops_components" "$ctx/components/"
find "$ctx/components" -name __pycache__ -prune -exec rm -rf {} +
if [[ -f $lock ]]; then
  cp "$lock" "$ctx/requirements.lock"
  log "installing the pinned versions of $lock"
else
  : >"$ctx/requirements.none"   # keeps the COPY glob non-empty
  log "no $lock: resolving $REQUIREMENTS"
fi
started=$SECONDS
log "building $IMAGE from $base (inputs hash $hash) ..."
nice -n 10 docker build --build-arg BASE="$base" --build-arg INPUTS_HASH="$hash" --build-arg REQUIREMENTS="$REQUIREMENTS" \
  -t "$IMAGE" "$ctx" >"$ctx/build.log" 2>&1 || { tail -n 40 "$ctx/build.log" >&2; die "docker build of $IMAGE failed"; }
if [[ ! -f $lock ]]; then
  docker run --rm --entrypoint cat "$IMAGE" /opt/pipeline/requirements.lock >"$lock.tmp" && mv "$lock.tmp" "$lock"
  log "wrote $lock ($(wc -l <"$lock") packages)"
  # The image is what the lock describes: label it with the hash that covers the lock, so the
  # next run finds it up to date.
  hash=$(inputs_hash)
  printf 'FROM %s\nLABEL org.mlops-platform.inputs-hash=%s\n' "$IMAGE" "$hash" \
    | docker build -q -t "$IMAGE" - >/dev/null 2>"$ctx/label.log" || { cat "$ctx/label.log" >&2; die "labelling $IMAGE failed"; }
fi
log "built $IMAGE (inputs hash $hash) in $((SECONDS - started)) s, $(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
echo "$IMAGE"
