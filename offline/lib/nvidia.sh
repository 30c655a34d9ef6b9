# NVIDIA's Go programs, built once per pinned version and builder (sourced after build.sh and
# builder_init): the device plugin's image (offline/images/nvidia-device-plugin.sh), the make
# gpu-node-check bundle (offline/gpu-node-check.sh) and the Ansible roles' air-gapped artifacts
# (offline/ansible-artifacts.sh) build them with the same recipe.

# nvidia_device_plugin_binary: sets plugin_version and out (the folder with nvidia-device-plugin),
# built with cgo from offline/go/nvidia-device-plugin: it loads libnvidia-ml.so.1 at run time.
nvidia_device_plugin_binary() {
  local module=$offline/go/nvidia-device-plugin
  plugin_version=$(go_module Version "$module" github.com/NVIDIA/k8s-device-plugin)
  go_binaries_cached nvidia-device-plugin "$plugin_version" "$module" 3 --cgo \
    --ldflags "-X github.com/NVIDIA/k8s-device-plugin/internal/info.version=$plugin_version" \
    github.com/NVIDIA/k8s-device-plugin/cmd/nvidia-device-plugin
}

# nvidia_toolkit_binaries: sets toolkit_version and out (the folder with nvidia-ctk, and the runtime
# shim nvidia-container-runtime with its CDI hook nvidia-cdi-hook that the Ansible role
# nvidia_container_toolkit installs from the air-gapped artifacts), with cgo (go-nvml) from
# offline/go/nvidia-container-toolkit.
nvidia_toolkit_binaries() {
  local module=$offline/go/nvidia-container-toolkit
  toolkit_version=$(go_module Version "$module" github.com/NVIDIA/nvidia-container-toolkit)
  go_binaries_cached nvidia-container-toolkit "$toolkit_version" "$module" 3 --cgo \
    --ldflags "-X github.com/NVIDIA/nvidia-container-toolkit/internal/info.version=$toolkit_version" \
    github.com/NVIDIA/nvidia-container-toolkit/cmd/nvidia-ctk \
    github.com/NVIDIA/nvidia-container-toolkit/cmd/nvidia-container-runtime \
    github.com/NVIDIA/nvidia-container-toolkit/cmd/nvidia-cdi-hook
}
