"""GPU support: the NVIDIA device plugin, the `nvidia` RuntimeClass and an optional DCGM exporter.

The device plugin is a DaemonSet of the project's own definition (not NVIDIA's Helm chart) on the
nodes that ansible/roles/gpu_node labels and taints; its config file (MIG strategy, time-slicing)
comes from a ConfigMap. Node agents that talk to the kubelet's device-plugin socket and the GPU
driver run as root in a namespace with the `privileged` Pod Security level (the monitoring
namespace has that level too, for node-exporter's read-only host mounts, but runs nothing as root).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import yaml
from mlops_components.contract import GPU_NODE_LABEL, GPU_RESOURCE, GPU_TOLERATION

from infra.components.common import labels
from infra.components.monitoring import ScrapeTarget
from infra.config import MIG_STRATEGIES, Resources

RUNTIME_CLASS = "nvidia"
# ansible/roles/gpu_node/defaults/main.yml: gpu_node_labels and gpu_node_taint (tested equal).
NODE_SELECTOR = GPU_NODE_LABEL
TOLERATION = GPU_TOLERATION
_DCGM_PORT = 9400

# GPUs only on request (ansible/roles/nvidia_container_toolkit): the NVIDIA runtime ignores
# NVIDIA_VISIBLE_DEVICES in unprivileged containers and reads the device list from volume mounts
# under /var/run/nvidia-container-devices, which only the device plugin adds, for allocated GPUs.
DEVICE_LIST_STRATEGY = "volume-mounts"
# The node agents that must see every GPU (the device plugin enumerates them, the exporter reads
# their counters) therefore run privileged; only this namespace admits privileged pods.
_NODE_AGENT_SECURITY = {"privileged": True, "seccompProfile": {"type": "RuntimeDefault"}}


@dataclass
class GpuArgs:
    namespace: str
    device_plugin_image: str
    resources: Resources
    image_pull_policy: str = "IfNotPresent"
    # 1: one nvidia.com/gpu per GPU; N > 1: time-slicing advertises N per GPU.
    time_slicing_replicas: int = 1
    mig_strategy: str = "none"
    dcgm_exporter_image: str = ""
    dcgm_exporter_resources: Resources | None = None


def device_plugin_config(mig_strategy: str, time_slicing_replicas: int) -> str:
    """The device plugin's config file (its `--config-file` format, version v1)."""
    config: dict = {"version": "v1", "flags": {
        "migStrategy": mig_strategy, "failOnInitError": True,
        # uuid: a pod's devices keep their identity across reboots and re-enumeration;
        # passDeviceSpecs: the kubelet also gets the /dev/nvidia* nodes for the device cgroup.
        "plugin": {"deviceListStrategy": DEVICE_LIST_STRATEGY, "deviceIDStrategy": "uuid", "passDeviceSpecs": True},
    }}
    if time_slicing_replicas > 1:
        config["sharing"] = {"timeSlicing": {"resources": [{"name": GPU_RESOURCE, "replicas": time_slicing_replicas}]}}
    return yaml.safe_dump(config, sort_keys=False)


def _node_agent_container(name: str, image: str, pull_policy: str, resources: Resources, **fields: object) -> dict:
    """A node agent's container (the device plugin, the DCGM exporter): privileged as
    _NODE_AGENT_SECURITY says, with its image, resources and further container `fields`."""
    return {"name": name, "image": image, "imagePullPolicy": pull_policy, **fields,
            "securityContext": _NODE_AGENT_SECURITY, "resources": resources.to_kubernetes()}


class Gpu(pulumi.ComponentResource):
    """Namespace, RuntimeClass `nvidia`, the device plugin's ConfigMap and DaemonSet, and the DCGM
    exporter DaemonSet when its image is given."""

    namespace: pulumi.Output[str]
    runtime_class: pulumi.Output[str]
    # The DCGM exporter, when it runs, for the Monitoring component (job `dcgm-exporter`; its
    # namespace and pod labels name the pods using each GPU).
    metrics_targets: tuple[ScrapeTarget, ...]

    def __init__(self, name: str, args: GpuArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops-platform:platform:Gpu", name, None, opts)
        if args.mig_strategy not in MIG_STRATEGIES:
            raise ValueError(f"Gpu {name}: mig_strategy={args.mig_strategy!r}; allowed values: {', '.join(MIG_STRATEGIES)}")
        if args.time_slicing_replicas < 1:
            raise ValueError(f"Gpu {name}: time_slicing_replicas={args.time_slicing_replicas}; allowed: 1 or more")
        if args.dcgm_exporter_image and args.dcgm_exporter_resources is None:
            raise ValueError(f"Gpu {name}: dcgm_exporter_image needs dcgm_exporter_resources")
        child = pulumi.ResourceOptions(parent=self)

        ns = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": args.namespace, "labels": {
                **labels(args.namespace, "gpu"),
                # hostPath volumes and root: the device plugin and the exporter are node agents.
                "pod-security.kubernetes.io/enforce": "privileged",
            }},
            opts=child,
        )
        ns_name = ns.metadata.apply(lambda m: m["name"])
        runtime_class = k8s.node.v1.RuntimeClass(
            f"{name}-runtime-class",
            metadata={"name": RUNTIME_CLASS, "labels": labels(RUNTIME_CLASS, "gpu")},
            handler=RUNTIME_CLASS,
            scheduling={"nodeSelector": NODE_SELECTOR, "tolerations": [TOLERATION]},
            opts=child,
        )
        runtime_class_name = runtime_class.metadata.apply(lambda m: m["name"])

        plugin_labels = labels(f"{name}-device-plugin", "gpu-device-plugin")
        config = k8s.core.v1.ConfigMap(
            f"{name}-device-plugin-config",
            metadata={"name": f"{name}-device-plugin-config", "namespace": ns_name, "labels": plugin_labels},
            data={"config.yaml": device_plugin_config(args.mig_strategy, args.time_slicing_replicas)},
            opts=child,
        )
        plugin = self._daemonset(
            f"{name}-device-plugin", ns_name, plugin_labels, runtime_class_name,
            container=_node_agent_container(
                "device-plugin", args.device_plugin_image, args.image_pull_policy, args.resources,
                env=[{"name": "CONFIG_FILE", "value": "/etc/nvidia-device-plugin/config.yaml"}],
                volumeMounts=[
                    {"name": "device-plugin", "mountPath": "/var/lib/kubelet/device-plugins"},
                    {"name": "config", "mountPath": "/etc/nvidia-device-plugin", "readOnly": True},
                ],
            ),
            volumes=[
                {"name": "device-plugin", "hostPath": {"path": "/var/lib/kubelet/device-plugins"}},
                {"name": "config", "configMap": {"name": config.metadata.apply(lambda m: m["name"])}},
            ],
        )
        children = {"device_plugin": plugin.urn}
        self.metrics_targets = ()
        if args.dcgm_exporter_image:
            exporter_labels = labels(f"{name}-dcgm-exporter", "gpu-metrics")
            exporter = self._daemonset(
                f"{name}-dcgm-exporter", ns_name, exporter_labels, runtime_class_name,
                # DCGM reads every GPU's (profiling) counters: it needs all devices, see above.
                container=_node_agent_container(
                    "dcgm-exporter", args.dcgm_exporter_image, args.image_pull_policy, args.dcgm_exporter_resources,
                    ports=[{"name": "metrics", "containerPort": _DCGM_PORT}],
                    volumeMounts=[{"name": "pod-resources", "mountPath": "/var/lib/kubelet/pod-resources", "readOnly": True}],
                ),
                volumes=[{"name": "pod-resources", "hostPath": {"path": "/var/lib/kubelet/pod-resources"}}],
            )
            children["dcgm_exporter"] = exporter.urn
            self.metrics_targets = (ScrapeTarget("dcgm-exporter", (args.namespace,), {
                key: exporter_labels[key] for key in ("app.kubernetes.io/name", "app.kubernetes.io/component")},
                _DCGM_PORT, honor_labels=True),)

        self.namespace = ns_name
        self.runtime_class = runtime_class_name
        self.register_outputs({"namespace": self.namespace, "runtime_class": self.runtime_class, **children})

    def _daemonset(self, name: str, ns_name: pulumi.Output[str], app_labels: dict[str, str],
                   runtime_class: pulumi.Output[str], container: dict, volumes: list[dict]) -> k8s.apps.v1.DaemonSet:
        selector = {"app.kubernetes.io/name": app_labels["app.kubernetes.io/name"],
                    "app.kubernetes.io/component": app_labels["app.kubernetes.io/component"]}
        return k8s.apps.v1.DaemonSet(
            name,
            metadata={"name": name, "namespace": ns_name, "labels": app_labels},
            spec={
                "selector": {"matchLabels": selector},
                "updateStrategy": {"type": "RollingUpdate"},
                "template": {
                    "metadata": {"labels": app_labels},
                    "spec": {
                        "priorityClassName": "system-node-critical",
                        "runtimeClassName": runtime_class,
                        "nodeSelector": NODE_SELECTOR,
                        "tolerations": [TOLERATION],
                        "containers": [container],
                        "volumes": volumes,
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
