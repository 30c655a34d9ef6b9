#!/usr/bin/env bash
# Builds the Kubernetes binaries at the version pinned in offline/go/kubernetes/go.mod, with the
# version stamping upstream's release builds use, in one `go build` (one dependency graph, links
# in parallel) into $MLOPS_CACHE_DIR/kubernetes/<version>-<inputs hash>/bin, and links kubectl
# into $MLOPS_CACHE_DIR/bin. Cached: a second run builds nothing. Prints the bin directory.
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
builder_init kubernetes

module=$offline/go/kubernetes
components=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
version=$(go_module Version "$module" k8s.io/kubernetes)
dest=$cache/kubernetes/$version-$(inputs_hash -r go "$module/go.mod" "$module/go.sum" -s "$(go env GOVERSION)")

if ! cache_dir_ready "$dest"; then
  # The same stamping as upstream's hack/lib/version.sh, from the module proxy's metadata.
  IFS=. read -r major minor _ <<<"${version#v}"
  build_date=$(date -u -d "$(go_module Time "$module" k8s.io/kubernetes)" +%Y-%m-%dT%H:%M:%SZ)
  commit=$(go_module Commit "$module" k8s.io/kubernetes)
  ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
    [[ -z $commit ]] || ldflags+=" -X $pkg.gitCommit=$commit"
  done
  log "building ${components[*]} $version (cold: 5-10 minutes on 2 cores)"
  packages=()
  for component in "${components[@]}"; do packages+=("k8s.io/kubernetes/cmd/$component"); done
  go_build_into --tags providerless --ldflags "$ldflags" "$dest.tmp/bin" "$module" "${packages[@]}"
  "$dest.tmp/bin/kubeadm" version -o short | grep -qx "$version" \
    || die "kubeadm reports $("$dest.tmp/bin/kubeadm" version -o short), expected $version"
  cache_dir_commit "$dest"
fi
# kubectl goes on the project's PATH (the other targets and the tests use it).
mkdir -p "$cache/bin" && ln -sfn "$dest/bin/kubectl" "$cache/bin/kubectl"
echo "$dest/bin"
