"""The Gpu component (infra/components/gpu.py) under Pulumi mocks: the RuntimeClass, the NVIDIA
device plugin and its configuration, the DCGM exporter, and nothing of it with GPUs off."""

from __future__ import annotations

import pytest
import yaml

from tests.support.pulumi_mocks import containers, run

pytestmark = pytest.mark.unit


GPU_TYPES = ("kubernetes:apps/v1:DaemonSet", "kubernetes:node.k8s.io/v1:RuntimeClass")


def test_gpu_disabled_declares_no_gpu_resources(mocks):
    # Monitoring off: its node-exporter is a DaemonSet too.
    facts = run({"monitoring": {"enabled": False}})
    assert "runtime_class" not in facts
    for resource in mocks.resources:
        assert resource.typ not in GPU_TYPES, f"{resource.typ} {resource.name} declared with GPUs off"
        assert "gpu" not in resource.name, f"{resource.name} declared with GPUs off"


def test_gpu_device_plugin_daemonset(mocks):
    facts = run({"gpu": {"enabled": True, "totalGpus": 4, "timeSlicingReplicas": 4, "migStrategy": "single"},
                 "images": {"registry": "mirror.example.edu:5000"}})
    assert facts["runtime_class"] == "nvidia"

    runtime_class = mocks.named("gpu-runtime-class")
    assert runtime_class.inputs["handler"] == "nvidia", "RuntimeClass nvidia uses the containerd handler nvidia"
    plugin = mocks.named("gpu-device-plugin")
    assert plugin.inputs["metadata"]["namespace"] == "mlops-gpu"
    spec = plugin.inputs["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}, "selects the label ansible/ gpu_node sets"
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present",
            "effect": "NoSchedule"} in spec["tolerations"], "tolerates the taint ansible/ gpu_node sets"
    assert spec["runtimeClassName"] == "nvidia"
    (container,) = spec["containers"]
    assert container["image"] == "mirror.example.edu:5000/nvidia/k8s-device-plugin:v0.17.4"
    assert container["resources"]["requests"]["cpu"], "device plugin requests are set"
    assert container["resources"]["limits"]["memory"], "device plugin limits are set"
    config = mocks.named("gpu-device-plugin-config").inputs["data"]["config.yaml"]
    assert "migStrategy: single" in config
    assert "replicas: 4" in config, "time-slicing replicas reach the device plugin's config"
    assert yaml.safe_load(config)["flags"]["plugin"]["deviceListStrategy"] == "volume-mounts", \
        "GPUs reach containers as volume mounts only (the runtime ignores NVIDIA_VISIBLE_DEVICES from unprivileged pods)"
    assert not [r for r in mocks.resources if r.name == "gpu-dcgm-exporter"], "DCGM exporter is off by default"


def test_gpu_dcgm_exporter_and_image_override(mocks):
    run({"gpu": {"enabled": True, "totalGpus": 1, "dcgmExporter": {"enabled": True}},
         "images": {"overrides": {"nvidia-device-plugin": "r.example.edu/dp:1"}}})
    assert containers(mocks.named("gpu-device-plugin"))[0]["image"] == "r.example.edu/dp:1"
    config = mocks.named("gpu-device-plugin-config").inputs["data"]["config.yaml"]
    assert "sharing" not in config, "no time-slicing unless timeSlicingReplicas > 1"
    (exporter,) = containers(mocks.named("gpu-dcgm-exporter"))
    assert exporter["image"] == "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.9-3.6.1-ubuntu22.04"
    assert exporter["resources"]["requests"]["memory"], "DCGM exporter requests are set"
    assert exporter["resources"]["limits"]["cpu"], "DCGM exporter limits are set"
