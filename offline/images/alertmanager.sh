#!/usr/bin/env bash
# Builds the Monitoring component's Alertmanager image offline:
#   mlops.local/prometheus/alertmanager:v<version>    (upstream quay.io/prometheus/alertmanager)
# `alertmanager` from offline/alertmanager.sh (the pinned module offline/go/alertmanager, with a
# placeholder page for the web UI its release builds compile with Elm and npm: the API serves,
# amtool reads and silences), FROM the Debian base, as user 65534, its data under /alertmanager.
# A builder of its own, beside offline/images/monitoring.sh: the other three monitoring images'
# caches (keyed by that script's text) stay valid.
#
# usage: offline/images/alertmanager.sh        prints the image reference
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init alertmanager-image

binaries=$(bash "$offline/alertmanager.sh") || die "offline/alertmanager.sh failed"
version=$(go_module Version "$offline/go/alertmanager" github.com/prometheus/alertmanager)
image=$(image_ref alertmanager "$version")
if image_outdated "$image" "$binaries" alertmanager; then
  cp "$binaries/alertmanager" "$ctx/alertmanager"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
ARG BASE
FROM \${BASE}
ARG INPUTS_HASH
COPY alertmanager /bin/alertmanager
RUN install -d -o 65534 -g 65534 /alertmanager
USER 65534:65534
WORKDIR /alertmanager
LABEL org.mlops-platform.inputs-hash=\${INPUTS_HASH} org.opencontainers.image.version=$version
ENTRYPOINT ["/bin/alertmanager"]
DOCKERFILE
  docker_build "$image" "$ctx" "$hash"
fi
echo "$image"
