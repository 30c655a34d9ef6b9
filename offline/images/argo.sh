#!/usr/bin/env bash
# Builds the Argo Workflows images offline, the workflow engine under Kubeflow Pipelines:
#   mlops.local/argoproj/workflow-controller:v3.6.18 and mlops.local/argoproj/argoexec:v3.6.18
# (REGISTRY=... replaces mlops.local).
#   1. workflow-controller and argoexec from the wrapper module offline/go/argo-workflows
#      (github.com/argoproj/argo-workflows/v3 v3.6.18; upstream's go.mod has no replace lines),
#      static, with the version variables that upstream's Makefile stamps (version, gitTag = the
#      tag, gitCommit = the tag's commit from the module proxy's Origin, gitTreeState=clean,
#      buildDate = the tag's time), so `version` prints v3.6.18 as a release build does; cached
#      under $MLOPS_CACHE_DIR/argo-workflows/<version>-<inputs hash>/. Upstream's
#      workflow/executor/os-specific/signal_linux.go is a symlink, which module zips leave out, so
#      argoexec is built from a patched copy (see step 1).
#   2. two images FROM the Debian base (CA certificates, /bin/sh), each with upstream's
#      /etc/ssh/ssh_known_hosts (from the module's hack/), USER 8737 (upstream's non-root uid;
#      user `argo`): workflow-controller at /usr/bin/workflow-controller, argoexec at
#      /usr/bin/argoexec (= /bin/argoexec, merged /usr), each its own ENTRYPOINT.
#      The controller starts the executor as `argoexec init|wait` (PATH lookup), and the emissary
#      init container copies the binary it finds with exec.LookPath("argoexec") to
#      /var/run/argo/argoexec, from where the main container runs `/var/run/argo/argoexec
#      emissary -- ...` (workflow/controller/workflowpod.go, workflow/executor/emissary/binary.go).
#      Upstream's default argoexec image runs as root; its argoexec:<v>-nonroot runs as 8737,
#      like this one. No /etc/mime.types (upstream copies Alpine's): Go's built-in table then
#      guesses the content type of uploaded artifacts.
#
# The controller's default executor image is quay.io/argoproj/argoexec:v3.6.18, so the deployment
# must pass --executor-image=<the argoexec reference printed here> (or executor.image in the
# workflow-controller-configmap, which must exist: the controller exits without it).
#
# Verified (docker): both `version` print v3.6.18 (GitCommit 4f91e5d7..., GitTreeState clean);
# the controller with no Kubernetes config exits 1 with "invalid configuration: no configuration
# has been provided, try setting KUBERNETES_MASTER environment variable"; argoexec as uid 8737
# is found on PATH at /usr/bin/argoexec and /bin/argoexec.
#
# usage: offline/images/argo.sh        prints the two image references (controller, then argoexec)
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init argo

module=$offline/go/argo-workflows
upstream=github.com/argoproj/argo-workflows/v3

# --- 1. workflow-controller, argoexec ---------------------------------------------------------
version=$(go_module Version "$module" "$upstream")
src=$(go_module Dir "$module" "$upstream")
commit=$(go_module Commit "$module" "$upstream")
[[ -n $commit ]] || die "the module proxy's .info of $upstream@$version names no commit (Origin.Hash)"
built=$(go_module Time "$module" "$upstream")
out=$cache/argo-workflows/$version-$(inputs_hash -r go "$module/go.mod" "$module/go.sum" -s "$(go env GOVERSION)")
if ! cache_dir_ready "$out"; then
  log "building workflow-controller and argoexec $version (cold: about 5 minutes on 2 cores)"
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
  work=$out.tmp/work
  mkdir -p "$work" && cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
  cp "$src/$osdir/signal_darwin.go" "$work/src/$osdir/signal_linux.go"
  printf 'go %s\n\nuse %s\n\nreplace %s %s => %s\n' "$(go list -C "$module" -m -f '{{.GoVersion}}')" \
    "$module" "$upstream" "$version" "$work/src" >"$work/go.work"
  GOWORK=$work/go.work go_build_into --ldflags "$x" "$out.tmp" "$module" \
    "$upstream/cmd/workflow-controller" "$upstream/cmd/argoexec"
  rm -rf "$work"
  cache_dir_commit "$out"
fi

# --- 2. images --------------------------------------------------------------------------------
need_docker
need_base_image
build_argo_image() { # BINARY IMAGE: the binary, and its image's name in infra/images.toml
  local name=$1 image hash ctx
  image=$(image_ref "$2" "$version")
  hash=$(inputs_hash -r image -s "$out $base_ref $base_id $name")
  if ! image_current "$image" "$hash"; then
    build_context
    cp "$out/$name" "$ctx/$name"
    cp "$src/hack/ssh_known_hosts" "$ctx/ssh_known_hosts"
    cat >"$ctx/Dockerfile" <<DOCKERFILE
ARG BASE
FROM \${BASE}
COPY ssh_known_hosts /etc/ssh/ssh_known_hosts
RUN groupadd -g 8737 argo && useradd -u 8737 -g 8737 -d /home/argo -m -s /usr/sbin/nologin argo
COPY $name /usr/bin/$name
ARG INPUTS_HASH
LABEL org.mlops-platform.inputs-hash=\${INPUTS_HASH} org.opencontainers.image.version=$version org.opencontainers.image.revision=$commit
WORKDIR /home/argo
USER 8737
ENTRYPOINT ["$name"]
DOCKERFILE
    docker_build "$image" "$ctx" "$hash"
  fi
  echo "$image"
}
build_argo_image workflow-controller argo-workflow-controller
build_argo_image argoexec argoexec
