#!/usr/bin/env bash
# Builds (or finds) every binary of the kind node image that is not Kubernetes itself:
# containerd (+ its runc shim and ctr), runc, crictl, the CNI plugins, etcd (+ etcdctl),
# CoreDNS, local-path-provisioner and the project's own pause program. Each comes from its
# wrapper module under offline/go/node-components/, which pins the version.
#
# Results are cached outside the repository, keyed by component version and by a hash of its
# wrapper module, the build recipe below and the Go version:
#   $MLOPS_CACHE_DIR/node-components/<component>-<version>-<hash>/
# What is already there is not rebuilt, so a second run takes seconds.
#
# All binaries are also gathered (hard links) into one folder, $MLOPS_CACHE_DIR/node-components/
# bin-<hash>/, CNI plugins in its cni/ sub-folder; offline/images/kind-node.sh installs from there.
#
# Usage: build-node-components.sh              build what is missing; print one line
#                                              "component version dir" per component, then
#                                              the bin folder alone on the last line
#        build-node-components.sh --versions   print the same lines without building anything
#        build-node-components.sh COMPONENT...  only these components (no bin folder)
# Builds run one at a time under `nice` (the machines have 2 cores shared with other work).
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init node-components

modules=$offline/go/node-components
out=$cache/node-components

COMPONENTS=(containerd runc crictl cni-plugins etcd coredns local-path-provisioner pause)

# module_dir COMPONENT: the wrapper module that builds it.
module_dir() {
  if [[ $1 == pause ]]; then printf '%s' "$modules"; else printf '%s/%s' "$modules" "$1"; fi
}

# upstream_module COMPONENT: the module whose version in the wrapper's go.mod is the component's.
upstream_module() {
  case $1 in
    containerd) echo github.com/containerd/containerd/v2 ;;
    runc) echo github.com/opencontainers/runc ;;
    crictl) echo sigs.k8s.io/cri-tools ;;
    cni-plugins) echo github.com/containernetworking/plugins ;;
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    coredns) echo github.com/coredns/coredns ;;
    local-path-provisioner) echo github.com/rancher/local-path-provisioner ;;
    *) die "unknown component $1" ;;
  esac
}

# version COMPONENT: the pinned version (with its leading v), read from the wrapper go.mod
# (or, for pause, from its source), without touching the network.
version() {
  local v
  if [[ $1 == pause ]]; then
    v=v$(sed -n 's/^var version = "\(.*\)"$/\1/p' "$modules/cmd/pause/main.go")
  else
    v=$(awk -v m="$(upstream_module "$1")" '($1 == "require" && $2 == m && $3 ~ /^v[0-9]/) { print $3 } ($1 == m && $2 ~ /^v[0-9]/) { print $2 }' "$(module_dir "$1")/go.mod")
  fi
  [[ $v == v?* ]] || die "no version for $1 in $(module_dir "$1")"
  printf '%s' "$v"
}

# recipe COMPONENT VERSION: one line per binary, "name|package|CGO_ENABLED|tags|ldflags|build flags",
# following each upstream's own Makefile/build script.
recipe() {
  local v=$2 ctd=github.com/containerd/containerd/v2
  case $1 in
    containerd)
      local tags="no_aufs no_zfs no_btrfs no_devmapper urfave_cli_no_docs"
      local ld="-X $ctd/version.Version=$v -X $ctd/version.Package=$ctd"
      echo "containerd|$ctd/cmd/containerd|0|$tags|$ld|"
      echo "ctr|$ctd/cmd/ctr|0|$tags|$ld|"
      echo "containerd-shim-runc-v2|$ctd/cmd/containerd-shim-runc-v2|0|$tags no_grpc|$ld|" ;;
    runc)
      # upstream `make static`: static PIE, libseccomp linked in; the version comes from the
      # module's VERSION file (go:embed).
      echo "runc|github.com/opencontainers/runc|1|seccomp urfave_cli_no_docs netgo osusergo|-linkmode external -extldflags -static-pie|-buildmode=pie" ;;
    crictl)
      echo "crictl|sigs.k8s.io/cri-tools/cmd/crictl|0||-X sigs.k8s.io/cri-tools/pkg/version.Version=${v#v}|" ;;
    cni-plugins)
      local p=github.com/containernetworking/plugins plugin
      for plugin in main/bridge main/loopback main/ptp ipam/host-local meta/portmap; do
        echo "${plugin#*/}|$p/plugins/$plugin|0||-X $p/pkg/utils/buildversion.BuildVersion=$v|"
      done ;;
    etcd)
      # The version is a constant in go.etcd.io/etcd/api/v3/version; only the git SHA is stamped
      # upstream, and a module has none.
      echo "etcd|go.etcd.io/etcd/server/v3|0|||"
      echo "etcdctl|go.etcd.io/etcd/etcdctl/v3|0|||" ;;
    coredns)
      # The version is the constant coremain.CoreVersion.
      echo "coredns|github.com/coredns/coredns|0|||" ;;
    local-path-provisioner)
      echo "local-path-provisioner|github.com/rancher/local-path-provisioner|0||-X main.VERSION=$v|" ;;
    pause)
      echo "pause|./cmd/pause|0|||" ;;
    *) die "unknown component $1" ;;
  esac
}

# module_files DIR: the files of a wrapper module that decide what gets built (nested modules
# excluded).
module_files() {
  (cd "$1" && find . -mindepth 1 -type d -exec test -e '{}/go.mod' ';' -prune -o \
    -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print | LC_ALL=C sort)
}

# dest COMPONENT: the cache folder for the component's current pins and recipe.
dest() {
  local c=$1 v dir hash
  v=$(version "$c"); dir=$(module_dir "$c")
  hash=$( { (cd "$dir" && module_files . | xargs cat); recipe "$c" "$v"; printf '%s\n' "$goversion"; } \
    | sha256sum | cut -c1-12)
  printf '%s/%s-%s-%s' "$out" "$c" "${v#v}" "$hash"
}

ensure_libseccomp() {
  pkg-config --exists libseccomp 2>/dev/null && command -v gcc >/dev/null && return
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing libseccomp-dev, pkg-config and gcc (runc is built with cgo and seccomp)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libseccomp-dev pkg-config gcc >/dev/null
  else
    die "runc needs cgo with libseccomp: apt-get install -y libseccomp-dev pkg-config gcc"
  fi
}

# build COMPONENT: build every binary of the component into its cache folder unless there.
build() {
  local c=$1 v d dir start name pkg cgo tags ld flags
  v=$(version "$c"); d=$(dest "$c"); dir=$(module_dir "$c")
  if cache_dir_ready "$d"; then
    log "$c ${v}: cached"
    return
  fi
  [[ $c == runc ]] && ensure_libseccomp
  log "$c ${v}: building into $d (cold builds take minutes)"
  start=$SECONDS
  while IFS='|' read -r name pkg cgo tags ld flags; do
    log "  go build $name ($pkg)"
    # shellcheck disable=SC2086 # flags is a word list on purpose
    CGO_ENABLED=$cgo nice -n 10 go build -C "$dir" -v -trimpath $flags -tags "$tags" \
      -ldflags "-s -w $ld" -o "$d.tmp/$name" "$pkg" || die "go build of $name ($pkg) failed"
  done < <(recipe "$c" "$v")
  cache_dir_commit "$d"
  log "$c ${v}: built in $((SECONDS - start)) s"
}

# bin_dir: the folder that gathers every component's binaries (named by their cache folders).
bin_dir() {
  local c
  printf '%s/bin-%s' "$out" "$(for c in "${COMPONENTS[@]}"; do dest "$c"; echo; done | sha256sum | cut -c1-12)"
}

gather() {
  local b c d f
  b=$(bin_dir)
  cache_dir_ready "$b" && return
  mkdir -p "$b.tmp/cni"
  for c in "${COMPONENTS[@]}"; do
    d=$(dest "$c")
    for f in "$d"/*; do
      if [[ $c == cni-plugins ]]; then ln -f "$f" "$b.tmp/cni/" 2>/dev/null || cp -p "$f" "$b.tmp/cni/"
      else ln -f "$f" "$b.tmp/" 2>/dev/null || cp -p "$f" "$b.tmp/"; fi
    done
  done
  cache_dir_commit "$b"
  log "binaries gathered in $b"
}

mode=build
if [[ ${1:-} == --versions ]]; then mode=versions; shift; fi
selected=("$@")
[[ ${#selected[@]} -gt 0 ]] || selected=("${COMPONENTS[@]}")
for c in "${selected[@]}"; do
  [[ " ${COMPONENTS[*]} " == *" $c "* ]] || die "unknown component $c (known: ${COMPONENTS[*]})"
done

need_go
goversion=$(go env GOVERSION)
mkdir -p "$out"

if [[ $mode == build ]]; then
  exec 9>"$out/.lock"
  flock 9 # one build at a time, also across concurrent runs of this script
  total=$SECONDS
  for c in "${selected[@]}"; do build "$c"; done
  if [[ $# -eq 0 ]]; then gather; fi
  log "done in $((SECONDS - total)) s"
fi
for c in "${selected[@]}"; do
  printf '%s %s %s\n' "$c" "$(version "$c")" "$(dest "$c")"
done
if [[ $# -eq 0 ]]; then bin_dir; echo; fi
