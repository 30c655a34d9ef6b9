# NVIDIA's Go programs, built once per pinned version (sourced after build.sh and builder_init):
# the device plugin's image (offline/images/nvidia-device-plugin.sh) and the make gpu-node-check
# bundle (offline/gpu-node-check.sh) take the same binaries from here.

# nvidia_device_plugin_binary: sets plugin_version and out (the folder with nvidia-device-plugin),
# built with cgo from offline/go/nvidia-device-plugin: it loads libnvidia-ml.so.1 at run time.
nvidia_device_plugin_binary() {
  local module=$offline/go/nvidia-device-plugin
  plugin_version=$(go_module Version "$module" github.com/NVIDIA/k8s-device-plugin)
  go_binaries_cached nvidia-device-plugin "$plugin_version" "$module" 3 --cgo \
    --ldflags "-X github.com/NVIDIA/k8s-device-plugin/internal/info.version=$plugin_version" \
    github.com/NVIDIA/k8s-device-plugin/cmd/nvidia-device-plugin
}

# nvidia_ctk_binary: sets toolkit_version and out (the folder with nvidia-ctk), with cgo (go-nvml)
# from offline/go/nvidia-container-toolkit.
nvidia_ctk_binary() {
  local module=$offline/go/nvidia-container-toolkit
  toolkit_version=$(go_module Version "$module" github.com/NVIDIA/nvidia-container-toolkit)
  go_binaries_cached nvidia-container-toolkit "$toolkit_version" "$module" 3 --cgo \
    --ldflags "-X github.com/NVIDIA/nvidia-container-toolkit/internal/info.version=$toolkit_version" \
    github.com/NVIDIA/nvidia-container-toolkit/cmd/nvidia-ctk
}
