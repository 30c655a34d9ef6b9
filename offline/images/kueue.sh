#!/usr/bin/env bash
# Builds Kueue, the queueing controller of the research groups' pipeline steps, offline:
# mlops.local/kueue/kueue:<version> (upstream: registry.k8s.io/kueue/kueue:<version>).
#   1. `kueue` (the controller manager) from the wrapper module offline/go/kueue (sigs.k8s.io/kueue),
#      static, cached under $MLOPS_CACHE_DIR/kueue/<version>-<inputs hash>/,
#   2. the image FROM the Debian base, as a non-root user (the chart runs it with runAsNonRoot),
#      ENTRYPOINT ["/manager"] as upstream's image.
# Its Helm chart is extracted from the same module by offline/charts.sh.
#
# usage: offline/images/kueue.sh        prints the image reference
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init kueue

module=$offline/go/kueue
version=$(go_module Version "$module" sigs.k8s.io/kueue)
image=$(image_ref kueue "$version")

# --- 1. kueue ---------------------------------------------------------------------------------
go_binaries_cached kueue "$version" "$module" 5 --ldflags "-X sigs.k8s.io/kueue/pkg/version.GitVersion=$version" \
  sigs.k8s.io/kueue/cmd/kueue

# --- 2. image --------------------------------------------------------------------------------
if image_outdated "$image" "$out"; then
  cp "$out/kueue" "$ctx/manager"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
ARG INPUTS_HASH
COPY manager /manager
USER 65532:65532
LABEL org.mlops-platform.inputs-hash=${INPUTS_HASH}
ENTRYPOINT ["/manager"]
DOCKERFILE
  docker_build "$image" "$ctx" "$hash"
fi
echo "$image"
