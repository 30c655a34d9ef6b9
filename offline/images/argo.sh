#!/usr/bin/env bash
# Builds the Argo Workflows images offline, the workflow engine under Kubeflow Pipelines:
#   mlops.local/argoproj/workflow-controller:v3.6.18 and mlops.local/argoproj/argoexec:v3.6.18
# (REGISTRY=... replaces mlops.local).
#   1. workflow-controller and argoexec from the wrapper module offline/go/argo-workflows
#      (github.com/argoproj/argo-workflows/v3 v3.6.18; upstream's go.mod has no replace lines),
#      CGO_ENABLED=0, -trimpath, with the version variables that upstream's Makefile stamps
#      (version, gitTag = the tag, gitCommit = the tag's commit from the module proxy's Origin,
#      gitTreeState=clean, buildDate = the tag's time), so `version` prints v3.6.18 as a release
#      build does; cached under $cache/argo-workflows/<version>-<hash of go.mod, go.sum, this
#      script, Go version>/. Upstream's workflow/executor/os-specific/signal_linux.go is a symlink,
#      which module zips leave out, so argoexec is built from a patched copy (see step 1).
#   2. two images FROM the newest mlops.local/debian-base:bookworm-* (CA certificates, /bin/sh,
#      nsswitch "hosts: files dns"), each with upstream's /etc/ssh/ssh_known_hosts (from the
#      module's hack/), USER 8737 (upstream's non-root uid; user `argo`):
#        workflow-controller at /usr/bin/workflow-controller, ENTRYPOINT ["workflow-controller"];
#        argoexec at /usr/bin/argoexec (= /bin/argoexec, merged /usr), ENTRYPOINT ["argoexec"].
#      The controller starts the executor as `argoexec init|wait` (PATH lookup), and the emissary
#      init container copies the binary it finds with exec.LookPath("argoexec") to
#      /var/run/argo/argoexec, from where the main container runs `/var/run/argo/argoexec
#      emissary -- ...` (workflow/controller/workflowpod.go, workflow/executor/emissary/binary.go).
#      Upstream's default argoexec image runs as root; its argoexec:<v>-nonroot runs as 8737,
#      like this one. No /etc/mime.types (upstream copies Alpine's): Go's built-in table then
#      guesses the content type of uploaded artifacts.
#      Each image is skipped when its tag exists with label mlops.argo-hash=<hash>.
#
# The controller's default executor image is quay.io/argoproj/argoexec:v3.6.18, so the deployment
# must pass --executor-image=<the argoexec reference printed here> (or executor.image in the
# workflow-controller-configmap, which must exist: the controller exits without it).
#
# Measured on the 2-core dev VM (Go 1.26.8, modules downloaded): cold build of both binaries
# with an empty Go build cache 395 s (load average ~4; about 13 min at load 9); rebuild with a
# warm Go cache 6-17 s; a rerun with nothing changed 0.4 s. Images: workflow-controller 240 MB,
# argoexec 273 MB (debian-base 165 MB + 74 MB / 107 MB binary; the user layer is shared).
# Verified (docker): both `version` print v3.6.18 (GitCommit 4f91e5d7..., GitTreeState clean);
# the controller with no Kubernetes config exits 1 with "invalid configuration: no configuration
# has been provided, try setting KUBERNETES_MASTER environment variable"; argoexec as uid 8737
# is found on PATH at /usr/bin/argoexec and /bin/argoexec.
#
# usage: offline/images/argo.sh        prints the two image references (controller, then argoexec)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
offline=$(dirname "$here")
module=$offline/go/argo-workflows
cache=${MLOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-platform}
registry=${REGISTRY:-mlops.local}
upstream=github.com/argoproj/argo-workflows/v3
log() { printf '[argo] %s\n' "$*" >&2; }
die() { printf '[argo] ERROR: %s\n' "$*" >&2; exit 1; }

bash "$offline/docker.sh"
export DOCKER_BUILDKIT=0

# --- 1. workflow-controller, argoexec ---------------------------------------------------------
version=$(go list -C "$module" -m -f '{{.Version}}' "$upstream")
# The module proxy's .info file names the tag's commit and time (Origin.Hash, Time).
download=$(cd "$module" && go mod download -json "$upstream@$version")
src=$(sed -n 's/^\t"Dir": "\([^"]*\)".*/\1/p' <<<"$download")
info=$(cat "$(sed -n 's/^\t"Info": "\([^"]*\)".*/\1/p' <<<"$download")")
commit=$(sed -n 's/.*"Hash":"\([0-9a-f]\{40\}\)".*/\1/p' <<<"$info")
built=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' <<<"$info")
[[ -n $commit && -n $built && -d $src ]] || die "no commit/time in the module proxy's .info of $upstream@$version: $info"
# Comment lines are left out of the hash so that notes here do not force a rebuild.
hash=$( (cat "$module/go.mod" "$module/go.sum"; grep -v '^ *#' "${BASH_SOURCE[0]}"; go env GOVERSION) | sha256sum | cut -c1-12)
out=$cache/argo-workflows/$version-$hash
if [[ ! -x $out/workflow-controller || ! -x $out/argoexec ]]; then
  mkdir -p "$out"
  rm -rf "$out/tmp" && mkdir "$out/tmp"
  log "building workflow-controller and argoexec $version (cold: 7-13 minutes on 2 cores) ..."
  start=$(date +%s)
  x="-X $upstream.version=$version -X $upstream.buildDate=$built -X $upstream.gitCommit=$commit"
  x+=" -X $upstream.gitTag=$version -X $upstream.gitTreeState=clean"
  # Upstream's workflow/executor/os-specific/signal_linux.go is a symlink to signal_darwin.go;
  # module zips leave symlinks out, so from the module argoexec fails to build on Linux
  # ("undefined: Setpgid"), and `go build -overlay` refuses files under GOMODCACHE. So the build
  # uses a copy of the verified module source with that file restored, through a throw-away
  # go.work that replaces the module with the copy (same import path, so the -X flags hold; the
  # copy's go.mod is upstream's, so every dependency version stays the same).
  osdir=workflow/executor/os-specific
  [[ -f $src/$osdir/signal_darwin.go && ! -e $src/$osdir/signal_linux.go ]] \
    || die "$upstream@$version: $osdir no longer needs signal_linux.go restored; recheck this script"
  cp -r "$src" "$out/tmp/src" && chmod -R u+w "$out/tmp/src"
  cp "$src/$osdir/signal_darwin.go" "$out/tmp/src/$osdir/signal_linux.go"
  printf 'go %s\n\nuse %s\n\nreplace %s %s => %s\n' "$(go list -C "$module" -m -f '{{.GoVersion}}')" \
    "$module" "$upstream" "$version" "$out/tmp/src" >"$out/tmp/go.work"
  (cd "$module" && GOWORK=$out/tmp/go.work CGO_ENABLED=0 nice -n 10 go build -trimpath \
    -ldflags "-s -w $x" -o "$out/tmp/" "$upstream/cmd/workflow-controller" "$upstream/cmd/argoexec")
  mv "$out/tmp/workflow-controller" "$out/tmp/argoexec" "$out/" && rm -rf "$out/tmp"
  took=$(($(date +%s) - start))
  echo "workflow-controller+argoexec $version $(date -u +%FT%TZ) build ${took}s" >>"$out/timings.txt"
  log "built workflow-controller and argoexec in ${took}s -> $out/"
fi

# --- 2. images --------------------------------------------------------------------------------
base=$(bash "$here/base-image.sh") || exit 1
base_id=$(docker image inspect -f '{{.Id}}' "$base")
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
build_image() { # name: binary and image name
  local name=$1 image=$registry/argoproj/$1:$version image_hash
  image_hash=$(echo "$hash $base $base_id $name" | sha256sum | cut -c1-12)
  if [[ $(docker image inspect -f '{{index .Config.Labels "mlops.argo-hash"}}' "$image" 2>/dev/null) != "$image_hash" ]]; then
    rm -rf "${ctx:?}/$name" && mkdir "$ctx/$name"
    cp "$out/$name" "$ctx/$name/$name"
    cp "$src/hack/ssh_known_hosts" "$ctx/$name/ssh_known_hosts"
    cat >"$ctx/$name/Dockerfile" <<EOF
FROM $base
COPY ssh_known_hosts /etc/ssh/ssh_known_hosts
RUN groupadd -g 8737 argo && useradd -u 8737 -g 8737 -d /home/argo -m -s /usr/sbin/nologin argo
COPY $name /usr/bin/$name
LABEL mlops.argo-hash=$image_hash org.opencontainers.image.version=$version org.opencontainers.image.revision=$commit
WORKDIR /home/argo
USER 8737
ENTRYPOINT ["$name"]
EOF
    log "building $image from $base"
    docker build -q -t "$image" "$ctx/$name" >/dev/null
  fi
  echo "$image"
}
build_image workflow-controller
build_image argoexec
