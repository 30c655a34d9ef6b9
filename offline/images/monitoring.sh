#!/usr/bin/env bash
# Builds the monitoring stack's three images offline, each from its pinned Go module, FROM the
# Debian base, as a non-root user (infra/components/monitoring.py deploys them):
#   mlops.local/prometheus/prometheus:v<version>      (upstream quay.io/prometheus/prometheus)
#     `prometheus` from offline/go/prometheus (the module promtool comes from) with only the
#     Kubernetes service discovery compiled in (-tags remove_all_sd,enable_kubernetes_sd: the
#     platform discovers nothing else); no web UI assets (the module ships the UI's sources only):
#     the API, /metrics and the readiness endpoints serve, the UI's pages do not,
#   mlops.local/kube-state-metrics/kube-state-metrics:v<version>  (upstream registry.k8s.io/...)
#     from offline/go/kube-state-metrics,
#   mlops.local/prometheus/node-exporter:v<version>   (upstream quay.io/prometheus/node-exporter)
#     from offline/go/node-exporter.
# Binaries cached under $MLOPS_CACHE_DIR/<name>/<version>-<inputs hash>/; each reports its version
# (the -X flags of github.com/prometheus/common/version, as upstream's release builds set them).
#
# usage: offline/images/monitoring.sh        prints the three image references
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init monitoring

version_flags() { printf -- '-X github.com/prometheus/common/version.Version=%s -X github.com/prometheus/common/version.Revision=%s -X github.com/prometheus/common/version.Branch=HEAD' "$1" "$2"; }

# --- 1. binaries -----------------------------------------------------------------------------
prometheus_module=$(go_module Version "$offline/go/prometheus" github.com/prometheus/prometheus)
prometheus_version=$(python3 -c 'import sys; _, minor, patch = sys.argv[1].lstrip("v").split("."); print(f"{int(minor) // 100}.{int(minor) % 100}.{patch}")' "$prometheus_module")
go_binaries_cached prometheus "$prometheus_version" "$offline/go/prometheus" 10 --tags remove_all_sd,enable_kubernetes_sd \
  --ldflags "$(version_flags "$prometheus_version" "$prometheus_module")" github.com/prometheus/prometheus/cmd/prometheus
prometheus_out=$out

ksm_version=$(go_module Version "$offline/go/kube-state-metrics" k8s.io/kube-state-metrics/v2)
go_binaries_cached kube-state-metrics "$ksm_version" "$offline/go/kube-state-metrics" 4 \
  --ldflags "$(version_flags "${ksm_version#v}" "$ksm_version")" k8s.io/kube-state-metrics/v2
ksm_out=$out

node_exporter_version=$(go_module Version "$offline/go/node-exporter" github.com/prometheus/node_exporter)
go_binaries_cached node-exporter "$node_exporter_version" "$offline/go/node-exporter" 2 \
  --ldflags "$(version_flags "${node_exporter_version#v}" "$node_exporter_version")" github.com/prometheus/node_exporter
node_exporter_out=$out

# --- 2. images -------------------------------------------------------------------------------
# image BINARY_DIR BINARY IMAGE_NAME VERSION PATH_IN_IMAGE: one image with the binary as its entrypoint.
image() {
  local dir=$1 binary=$2 name=$3 version=$4 path=$5 image
  image=$(image_ref "$name" "v${version#v}")
  if image_outdated "$image" "$dir" "$binary"; then
    cp "$dir/$binary" "$ctx/binary"
    cat >"$ctx/Dockerfile" <<DOCKERFILE
ARG BASE
FROM \${BASE}
ARG INPUTS_HASH
COPY binary $path
USER 65534:65534
LABEL org.mlops-platform.inputs-hash=\${INPUTS_HASH}
ENTRYPOINT ["$path"]
DOCKERFILE
    docker_build "$image" "$ctx" "$hash"
  fi
  echo "$image"
}
image "$prometheus_out" prometheus prometheus "$prometheus_version" /bin/prometheus
image "$ksm_out" kube-state-metrics kube-state-metrics "$ksm_version" /kube-state-metrics
image "$node_exporter_out" node_exporter node-exporter "$node_exporter_version" /bin/node_exporter
