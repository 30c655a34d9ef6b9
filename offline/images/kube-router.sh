#!/usr/bin/env bash
# Builds the NetworkPolicy engine of the local kind cluster offline: mlops.local/kube-router:<version>.
#   1. `kube-router` from the wrapper module offline/go/kube-router (github.com/cloudnativelabs/
#      kube-router/v2), static, cached under $MLOPS_CACHE_DIR/kube-router/<version>-<inputs hash>/,
#   2. the image FROM the Debian base with the iptables and ipset programs kube-router runs (and
#      iproute2, for the Service-range routing rules of its manifest's init container),
#      ENTRYPOINT ["/usr/local/bin/kube-router"].
# offline/images/kind-node.sh preloads it into the node image, whose network manifest runs it as a
# DaemonSet with only its firewall on (--run-firewall, no router, no service proxy).
#
# Why kube-router and not sigs.k8s.io/kube-network-policies: the latter queues packets with the
# nftables `queue` statement, which needs CONFIG_NFT_QUEUE, and this project's CI kernel (6.18,
# /proc/config.gz) has it off; kube-router filters with iptables and ipsets (CONFIG_IP_SET and
# CONFIG_NETFILTER_XT_SET are on).
#
# usage: offline/images/kube-router.sh        prints the image reference
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init kube-router

module=$offline/go/kube-router
version=$(go_module Version "$module" github.com/cloudnativelabs/kube-router/v2)
image=$registry/kube-router:$version

# --- 1. kube-router ---------------------------------------------------------------------------
go_binaries_cached kube-router "$version" "$module" 3 \
  --ldflags "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$version" \
  github.com/cloudnativelabs/kube-router/v2/cmd/kube-router

# --- 2. image --------------------------------------------------------------------------------
if image_outdated "$image" "$out"; then
  context_add_apt "$ctx"
  cp "$out/kube-router" "$ctx/kube-router"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
ARG INPUTS_HASH
# The base image knows bookworm main only; the host's sources add -updates and -security.
COPY debian.sources /etc/apt/sources.list.d/debian.sources
RUN rm -f /etc/apt/sources.list \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 ipset iptables \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
COPY kube-router /usr/local/bin/kube-router
LABEL org.mlops-platform.inputs-hash=${INPUTS_HASH}
ENTRYPOINT ["/usr/local/bin/kube-router"]
DOCKERFILE
  docker_build "$image" "$ctx" "$hash"
fi
echo "$image"
