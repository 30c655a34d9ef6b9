#!/usr/bin/env bash
# Packs the bundle of `make gpu-node-check` (gpu_node_check/README.md): the NVIDIA device plugin,
# nvidia-ctk and the stand-in kubelet built from their pinned Go modules (cached by version), the
# check (gpu_node_check/check.py) and the pipelines' PyTorch step (pipeline_components/mlops_components),
# as build/gpu-node-check.tar.gz, at most 60 MB, to carry to a GPU machine without network.
#
# usage: offline/gpu-node-check.sh        prints the bundle's path
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
builder_init gpu-node-check

max_mb=60
bundle=$root/build/gpu-node-check
tarball=$root/build/gpu-node-check.tar.gz

# shellcheck source=offline/lib/nvidia.sh
source "$offline/lib/nvidia.sh"
nvidia_device_plugin_binary
plugin_out=$out
nvidia_toolkit_binaries
toolkit_out=$out

log "building the stand-in kubelet (gpu_node_check, static)"
rm -rf "$bundle" && mkdir -p "$bundle/bin"
go_build_into "$bundle/bin" "$root/gpu_node_check" ./cmd/standin-kubelet
cp "$plugin_out/nvidia-device-plugin" "$toolkit_out/nvidia-ctk" "$bundle/bin/"
cp "$root/gpu_node_check/check.py" "$root/gpu_node_check/README.md" "$bundle/"
# The device plugin's config as the Gpu component writes it (migStrategy none), 1 and 2 replicas.
mkdir -p "$bundle/config"
for replicas in 1 2; do
  "$root/.venv/bin/python" -c 'import sys; from infra.components.gpu import device_plugin_config
sys.stdout.write(device_plugin_config("none", int(sys.argv[1])))' "$replicas" >"$bundle/config/replicas-$replicas.yaml"
done
mkdir -p "$bundle/mlops_components"
cp "$root/pipeline_components/mlops_components/__init__.py" "$root/pipeline_components/mlops_components/core.py" \
   "$root/pipeline_components/mlops_components/torch_mlp.py" "$bundle/mlops_components/"
printf 'nvidia-device-plugin %s\nnvidia-ctk %s\ncommit %s\n' "$plugin_version" "$toolkit_version" \
  "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" >"$bundle/VERSIONS"
tar -C "$root/build" -czf "$tarball" gpu-node-check
size=$(stat -c %s "$tarball")
(( size <= max_mb * 1024 * 1024 )) || die "the bundle is $((size / 1024 / 1024)) MB, more than $max_mb MB"
log "bundle $tarball: $((size / 1024 / 1024)) MB (at most $max_mb): device plugin $plugin_version, nvidia-ctk $toolkit_version"
echo "$tarball"
