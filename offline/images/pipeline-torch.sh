#!/usr/bin/env bash
# Builds mlops.local/mlops-platform/pipeline-torch:py3.11-kfp2.14.3-torch2.15.0, the image of the
# pipeline components that train with PyTorch (mlops_components.components.train_torch), without
# any container registry: the pipeline base image (offline/images/pipeline-base.sh, built first
# when it is missing or stale) plus torch 2.15.0 from PyPI. PyPI's Linux wheel depends on the CUDA
# 13 runtime wheels (nvidia-*, triton): a GPU node's NVIDIA driver runs them, so they are in the
# image on purpose (that makes it several GB); on a node without a GPU torch runs on the CPU.
# The packages it adds to the base's venv are pinned by offline/images/pipeline-torch/
# requirements.lock (installed with --no-deps); when that file is missing, the build resolves
# REQUIREMENTS below with the base's lock as constraints (the base's packages keep their
# versions) and writes the packages it adds there (commit it). The pipelines venv installs the
# same lock (make pipelines-venv). Cached: does nothing when the tag exists with the label of the
# current inputs' hash, which covers the base image (FORCE=1 rebuilds). Progress goes to stderr;
# the last line of stdout is the image reference.
#   offline/images/pipeline-torch.sh
set -euo pipefail

REGISTRY=${REGISTRY:-mlops.local}
IMAGE="$REGISTRY/mlops-platform/pipeline-torch:py3.11-kfp2.14.3-torch2.15.0"
REQUIREMENTS="torch==2.15.0"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lock=$here/pipeline-torch/requirements.lock
base_lock=$here/pipeline-base/requirements.lock
log() { echo "pipeline-torch-image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
export DOCKER_BUILDKIT=0   # the classic builder uses the local base images without any registry

bash "$here/../docker.sh" >&2
debian_base=$(bash "$here/base-image.sh") || exit 1
pipeline_base=$(REGISTRY=$REGISTRY bash "$here/pipeline-base.sh" | tail -n 1) || die "offline/images/pipeline-base.sh failed"
sources=/etc/apt/sources.list.d/debian.sources
[[ -f $sources ]] || die "$sources not found: the image's apt sources are copied from it"
ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
[[ -f $ca ]] || die "CA bundle $ca not found (set PIP_CERT)"

inputs_hash() {
  (cat "$0" "$here/pipeline-torch/Dockerfile" "$here/pipeline-torch/added_pins.py" "$sources" "$base_lock"
   [[ -f $lock ]] && cat "$lock"
   echo "$REQUIREMENTS $debian_base $(docker image inspect --format '{{.Id}}' "$debian_base")"
   echo "$pipeline_base $(docker image inspect --format '{{.Id}}' "$pipeline_base")") | sha256sum | cut -c1-16
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
cp "$here/pipeline-torch/Dockerfile" "$here/pipeline-torch/added_pins.py" "$ctx/"
cp "$sources" "$ctx/debian.sources"
cp "$ca" "$ctx/build-ca.crt"
cp "$base_lock" "$ctx/base-requirements.lock"
if [[ -f $lock ]]; then
  cp "$lock" "$ctx/requirements.lock"
  log "installing the pinned versions of $lock"
else
  : >"$ctx/requirements.none"   # keeps the COPY glob non-empty
  log "no $lock: resolving $REQUIREMENTS against $base_lock"
fi
started=$SECONDS
log "building $IMAGE from $pipeline_base (inputs hash $hash; downloads about 3 GB of wheels) ..."
nice -n 10 docker build --build-arg DEBIAN_BASE="$debian_base" --build-arg PIPELINE_BASE="$pipeline_base" \
  --build-arg INPUTS_HASH="$hash" --build-arg REQUIREMENTS="$REQUIREMENTS" \
  -t "$IMAGE" "$ctx" >"$ctx/build.log" 2>&1 || { tail -n 40 "$ctx/build.log" >&2; die "docker build of $IMAGE failed"; }
grep -E '^torch [0-9]' "$ctx/build.log" | sed 's/^/pipeline-torch-image: in the image: /' >&2 || true
if [[ ! -f $lock ]]; then
  docker run --rm --entrypoint cat "$IMAGE" /opt/pipeline/requirements-torch.lock >"$lock.tmp" && mv "$lock.tmp" "$lock"
  log "wrote $lock ($(wc -l <"$lock") packages)"
  # The image is what the lock describes: label it with the hash that covers the lock, so the
  # next run finds it up to date.
  hash=$(inputs_hash)
  printf 'FROM %s\nLABEL org.mlops-platform.inputs-hash=%s\n' "$IMAGE" "$hash" \
    | docker build -q -t "$IMAGE" - >/dev/null 2>"$ctx/label.log" || { cat "$ctx/label.log" >&2; die "labelling $IMAGE failed"; }
fi
log "built $IMAGE (inputs hash $hash) in $((SECONDS - started)) s, $(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
echo "$IMAGE"
