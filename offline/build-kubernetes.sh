#!/usr/bin/env bash
# Builds the Kubernetes binaries at the version pinned in offline/go/kubernetes/go.mod, with
# the version stamping upstream's release builds use, into
# $MLOPS_CACHE_DIR/kubernetes/<version>-<hash>/bin. Cached: a second run builds nothing.
# Cold: 20-40 minutes on 2 cores. Prints the bin directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
module=$here/go/kubernetes
cache=${MLOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-platform}
version=$(go list -C "$module" -m -f '{{.Version}}' k8s.io/kubernetes)
[[ -n $version ]] || { echo "[kubernetes] ERROR: no k8s.io/kubernetes version in $module/go.mod" >&2; exit 1; }
hash=$(cat "$module/go.mod" "$module/go.sum" "$0" | sha256sum | cut -c1-12)
dest=$cache/kubernetes/$version-$hash
components=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)

# kubectl goes on the project's PATH (the other targets and the tests use it).
link_kubectl() { mkdir -p "$cache/bin" && ln -sfn "$dest/bin/kubectl" "$cache/bin/kubectl"; }

if [[ -f $dest/.complete ]]; then
  link_kubectl
  echo "$dest/bin"
  exit 0
fi

# The same stamping as upstream's hack/lib/version.sh, from the module's own metadata.
IFS=. read -r major minor _ <<<"${version#v}"
commit=$(go list -C "$module" -m -json k8s.io/kubernetes | python3 -c 'import json,sys; print((json.load(sys.stdin).get("Origin") or {}).get("Hash", ""))')
build_date=$(date -u -d "@$(go list -C "$module" -m -f '{{.Time.Unix}}' k8s.io/kubernetes 2>/dev/null || date +%s)" +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
  [[ -n $commit ]] && ldflags+=" -X $pkg.gitCommit=$commit"
done

mkdir -p "$dest/bin"
total=$SECONDS
for component in "${components[@]}"; do
  if [[ -x $dest/bin/$component ]]; then continue; fi
  echo "[kubernetes] building $component $version ..." >&2
  start=$SECONDS
  CGO_ENABLED=0 go build -C "$module" -trimpath -tags providerless -ldflags "$ldflags" \
    -o "$dest/bin/$component.tmp" "k8s.io/kubernetes/cmd/$component"
  mv "$dest/bin/$component.tmp" "$dest/bin/$component"
  echo "[kubernetes] built $component in $((SECONDS - start)) s" | tee -a "$dest/timings.txt" >&2
done
echo "[kubernetes] all components in $((SECONDS - total)) s" >>"$dest/timings.txt"
"$dest/bin/kubeadm" version -o short | grep -qx "$version" || {
  echo "[kubernetes] ERROR: kubeadm reports $("$dest/bin/kubeadm" version -o short), expected $version" >&2; exit 1; }
touch "$dest/.complete"
link_kubectl
echo "$dest/bin"
