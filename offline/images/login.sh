#!/usr/bin/env bash
# Builds the two programs of people's sign-in offline (the Login component):
#   mlops.local/dexidp/dex:<release>  (upstream: ghcr.io/dexidp/dex:<release>), the OpenID Connect
#     provider: `dex` from the wrapper module offline/go/dex (Dex is reached by the pseudo-version of
#     its release tag; the release named in the wrapper's go.mod comment is the image tag);
#   mlops.local/oauth2-proxy/oauth2-proxy:<version>  (upstream: quay.io/oauth2-proxy/oauth2-proxy),
#     the authenticating proxy in front of the Kubeflow Pipelines UI, from offline/go/oauth2-proxy.
# Both static (no cgo: Dex's SQLite storage needs cgo and is not used; the component stores in
# memory), cached under $MLOPS_CACHE_DIR/<name>/<version>-<inputs hash>/, on the Debian base as a
# non-root user, with upstream's entrypoints.
#
# usage: offline/images/login.sh        prints the two image references
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init login

# --- 1. dex ----------------------------------------------------------------------------------
dex_module=$offline/go/dex
dex_pseudo=$(go_module Version "$dex_module" github.com/dexidp/dex)
# The release the pseudo-version stands for, from the wrapper's comment ("... is tag v2.45.1").
dex_release=$(sed -n "s|.*$dex_pseudo is tag \(v[0-9.]*\)\..*|\1|p" "$dex_module/go.mod")
[[ -n $dex_release ]] || die "$dex_module/go.mod pins $dex_pseudo but its comment names no release ('$dex_pseudo is tag vX.Y.Z.')"
go_binaries_cached dex "$dex_release" "$dex_module" 4 \
  --ldflags "-X main.version=$dex_release" github.com/dexidp/dex/cmd/dex
dex_out=$out
dex_image=$(image_ref dex "$dex_release")

# --- 2. oauth2-proxy -------------------------------------------------------------------------
proxy_module=$offline/go/oauth2-proxy
proxy_version=$(go_module Version "$proxy_module" github.com/oauth2-proxy/oauth2-proxy/v7)
go_binaries_cached oauth2-proxy "$proxy_version" "$proxy_module" 2 \
  --ldflags "-X github.com/oauth2-proxy/oauth2-proxy/v7/pkg/version.VERSION=$proxy_version" \
  github.com/oauth2-proxy/oauth2-proxy/v7
proxy_out=$out
proxy_image=$(image_ref oauth2-proxy "$proxy_version")

# --- 3. images -------------------------------------------------------------------------------
# image NAME BINARY_DIR BINARY ENTRYPOINT_PATH
build_image() {
  local image=$1 dir=$2 binary=$3 path=$4
  out=$dir
  if image_outdated "$image" "$out"; then
    cp "$dir/$binary" "$ctx/$binary"
    cat >"$ctx/Dockerfile" <<DOCKERFILE
ARG BASE
FROM \${BASE}
ARG INPUTS_HASH
COPY $binary $path
USER 65532:65532
LABEL org.mlops-platform.inputs-hash=\${INPUTS_HASH}
ENTRYPOINT ["$path"]
DOCKERFILE
    docker_build "$image" "$ctx" "$hash"
  fi
}
build_image "$dex_image" "$dex_out" dex /usr/local/bin/dex
build_image "$proxy_image" "$proxy_out" oauth2-proxy /bin/oauth2-proxy
echo "$dex_image"
echo "$proxy_image"
