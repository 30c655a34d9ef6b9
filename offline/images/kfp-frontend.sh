#!/usr/bin/env bash
# Builds mlops.local/kubeflow/kfp-frontend:2.14.3 (the reference infra/images.toml lists for
# "kfp-frontend" with registry mlops.local), the Kubeflow Pipelines web UI, without any container
# registry: the source is frontend/ of the Go module github.com/kubeflow/pipelines at the 2.14.3
# commit that offline/go/kubeflow-pipelines pins (go.sum-verified, fetched from the Go module
# proxy), its npm dependencies come from the npm registry at the versions of its lock files (less
# the placeholder packages the registry does not serve, kfp-frontend/drop_unserved.py), and Node
# is Debian's nodejs (offline/images/kfp-frontend/Dockerfile). Cached by the label of its inputs'
# hash (FORCE=1 rebuilds). Prints the image reference.
#   offline/images/kfp-frontend.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init kfp-frontend

VERSION=2.14.3
image=$(image_ref kfp-frontend "$VERSION")
# npm packages of the frontend's lock that the registry does not serve (placeholders, no code).
UNSERVED="fs"
src=$images_dir/kfp-frontend
module=$offline/go/kubeflow-pipelines
# github.com/kubeflow/pipelines is not in sum.golang.org; the wrapper module's go.sum pins it.
export GONOSUMDB=github.com/kubeflow/pipelines

# The module version the backend images are built from (one pin for backend and UI).
kfp_version=$(go_module Version "$module" github.com/kubeflow/pipelines)
need_docker
need_base_image
hash=$(inputs_hash -r image "$src/Dockerfile" "$src/drop_unserved.py" "$(apt_sources)" -s "$kfp_version $UNSERVED $base_ref $base_id")
if ! image_current "$image" "$hash"; then
  log "fetching github.com/kubeflow/pipelines@$kfp_version (Go module proxy; verified against $module/go.sum)"
  source_dir=$(go_module Dir "$module" github.com/kubeflow/pipelines)
  [[ -f $source_dir/frontend/package-lock.json && -f $source_dir/frontend/server/package-lock.json ]] \
    || die "$source_dir/frontend lacks its package-lock.json files"
  build_context
  cp "$src/Dockerfile" "$ctx/"
  context_add_apt "$ctx"
  context_add_ca "$ctx"
  # The module cache is read-only; the build needs neither node_modules nor the mock backend.
  (cd "$source_dir" && tar --exclude=frontend/node_modules --exclude=frontend/mock-backend -cf - frontend) | tar -C "$ctx" -xf -
  chmod -R u+w "$ctx/frontend"
  # shellcheck disable=SC2086 # one package name per word
  python3 "$src/drop_unserved.py" "$ctx/frontend" $UNSERVED >&2 || die "cannot drop $UNSERVED from the frontend's lock"
  # The commit's date, not today's: the same inputs give the same image content.
  build_date=$(date -u -d "$(go_module Time "$module" github.com/kubeflow/pipelines)" '+%a %b %d %H:%M:%S UTC %Y')
  log "npm ci of about 4000 packages, then react-scripts build: 5-15 minutes on 2 cores"
  # The tag's commit: from the proxy's .info, else the pseudo-version's 12-digit prefix of it.
  commit=$(go_module Commit "$module" github.com/kubeflow/pipelines)
  docker_build "$image" "$ctx" "$hash" "VERSION=$VERSION" "COMMIT=${commit:-${kfp_version##*-}}" "BUILD_DATE=$build_date"
fi
echo "$image"
