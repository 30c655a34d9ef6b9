#!/usr/bin/env bash
# Builds mlops.local/kubeflow/kfp-frontend:2.14.3 (the reference infra/images.py resolves for
# "kfp-frontend" with registry mlops.local), the Kubeflow Pipelines web UI, without any container
# registry: the source is frontend/ of the Go module github.com/kubeflow/pipelines at the 2.14.3
# commit that offline/go/kubeflow-pipelines pins (go.sum-verified, fetched from the Go module
# proxy), its npm dependencies come from the npm registry at the versions of its lock files, and
# Node is Debian's nodejs (offline/images/kfp-frontend/Dockerfile). Cached: does nothing when the
# tag exists with the label of the current inputs' hash (FORCE=1 rebuilds). Progress goes to
# stderr; the last line of stdout is the image reference.
#   offline/images/kfp-frontend.sh
set -euo pipefail

REGISTRY=${REGISTRY:-mlops.local}
VERSION=2.14.3
IMAGE="$REGISTRY/kubeflow/kfp-frontend:$VERSION"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
module=$(dirname "$here")/go/kubeflow-pipelines
log() { echo "kfp-frontend-image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
export DOCKER_BUILDKIT=0   # the classic builder uses the local base image without any registry
# github.com/kubeflow/pipelines is not in sum.golang.org; the wrapper module's go.sum pins it.
export GONOSUMDB=github.com/kubeflow/pipelines GOFLAGS=-mod=mod

bash "$here/../docker.sh" >&2
base=$(bash "$here/base-image.sh") || exit 1
sources=/etc/apt/sources.list.d/debian.sources
[[ -f $sources ]] || die "$sources not found: the image's apt sources are copied from it"
ca=${NPM_CERT:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}}
[[ -f $ca ]] || die "CA bundle $ca not found (set NPM_CERT)"
command -v go >/dev/null || die "Go (>= 1.26) is needed: it fetches the KFP source module from the Go module proxy"

# The module version the backend images are built from (one pin for backend and UI).
kfp_version=$(cd "$module" && go list -m -f '{{.Version}}' github.com/kubeflow/pipelines) \
  || die "cannot read the github.com/kubeflow/pipelines version from $module/go.mod"
commit=${kfp_version##*-}
inputs_hash() {
  (cat "$0" "$here/kfp-frontend/Dockerfile" "$sources"
   echo "$kfp_version $base $(docker image inspect --format '{{.Id}}' "$base")") | sha256sum | cut -c1-16
}
hash=$(inputs_hash)
current=$(docker image inspect --format '{{index .Config.Labels "org.mlops-platform.inputs-hash"}}' "$IMAGE" 2>/dev/null || true)
if [[ $current == "$hash" && ${FORCE:-0} != 1 ]]; then
  log "$IMAGE is up to date (inputs hash $hash; FORCE=1 rebuilds it)"
  echo "$IMAGE"
  exit 0
fi

log "fetching github.com/kubeflow/pipelines@$kfp_version (Go module proxy; verified against $module/go.sum)"
source_dir=$(cd "$module" && go mod download -json "github.com/kubeflow/pipelines@$kfp_version" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') || die "go mod download of the KFP module failed"
[[ -f $source_dir/frontend/package-lock.json && -f $source_dir/frontend/server/package-lock.json ]] \
  || die "$source_dir/frontend lacks its package-lock.json files"

ctx=$(mktemp -d)
trap 'chmod -R u+w "$ctx" 2>/dev/null; rm -rf "$ctx"' EXIT
cp "$here/kfp-frontend/Dockerfile" "$ctx/"
cp "$sources" "$ctx/debian.sources"
cp "$ca" "$ctx/build-ca.crt"
# The module cache is read-only; the build needs neither node_modules nor the mock backend.
(cd "$source_dir" && tar --exclude=frontend/node_modules --exclude=frontend/mock-backend -cf - frontend) | tar -C "$ctx" -xf -
chmod -R u+w "$ctx/frontend"
# The commit's date, not today's: the same inputs give the same image content.
build_date=$(date -u -d "$(cd "$module" && go list -m -f '{{.Time.Format "2006-01-02T15:04:05Z"}}' github.com/kubeflow/pipelines)" \
  '+%a %b %d %H:%M:%S UTC %Y')
started=$SECONDS
log "building $IMAGE from $base (KFP $kfp_version, inputs hash $hash): npm ci of about 4000 packages, then react-scripts build; takes minutes ..."
docker build --build-arg BASE="$base" --build-arg INPUTS_HASH="$hash" --build-arg VERSION="$VERSION" \
  --build-arg COMMIT="$commit" --build-arg BUILD_DATE="$build_date" \
  -t "$IMAGE" "$ctx" >"$ctx/build.log" 2>&1 || { tail -n 40 "$ctx/build.log" >&2; die "docker build of $IMAGE failed"; }
log "built $IMAGE (inputs hash $hash) in $((SECONDS - started)) s, $(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
echo "$IMAGE"
