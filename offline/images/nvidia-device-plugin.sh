#!/usr/bin/env bash
# Builds NVIDIA's Kubernetes device plugin offline: mlops.local/nvidia/k8s-device-plugin:<version>
# (upstream: nvcr.io/nvidia/k8s-device-plugin:<version>), which the Gpu component runs on GPU nodes.
#   1. `nvidia-device-plugin` from the wrapper module offline/go/nvidia-device-plugin, with cgo: it
#      loads the host's libnvidia-ml.so.1 at run time (the nvidia runtime or CDI mounts it in),
#      cached under $MLOPS_CACHE_DIR/nvidia-device-plugin/<version>-<inputs hash>/ (the same binary
#      goes into the make gpu-node-check bundle),
#   2. the image FROM the Debian base (its glibc), the binary at /usr/bin/nvidia-device-plugin as
#      in upstream's image, which the Gpu component starts with its default entrypoint.
#
# usage: offline/images/nvidia-device-plugin.sh        prints the image reference
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init nvidia-device-plugin
# shellcheck source=offline/lib/nvidia.sh
source "$offline/lib/nvidia.sh"

# --- 1. nvidia-device-plugin -----------------------------------------------------------------
nvidia_device_plugin_binary
image=$(image_ref nvidia-device-plugin "$plugin_version")

# --- 2. image --------------------------------------------------------------------------------
if image_outdated "$image" "$out"; then
  cp "$out/nvidia-device-plugin" "$ctx/nvidia-device-plugin"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
ARG INPUTS_HASH
COPY nvidia-device-plugin /usr/bin/nvidia-device-plugin
LABEL org.mlops-platform.inputs-hash=${INPUTS_HASH}
ENTRYPOINT ["/usr/bin/nvidia-device-plugin"]
DOCKERFILE
  docker_build "$image" "$ctx" "$hash"
fi
echo "$image"
