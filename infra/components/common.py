"""Pieces every component uses: labels, namespaces, pod security, network policy, RBAC grants."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

PART_OF = "mlops-platform"

# Non-root, no privilege escalation, no capabilities, default seccomp: the restricted Pod
# Security Standard, which every platform workload meets.
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class S3Access:
    """A bucket user's way into the object store (ObjectStore.access): the endpoint URL, the user's
    access key and its secret key (a Pulumi secret wherever it is written)."""

    endpoint: pulumi.Input[str]
    access_key: str
    secret_key: pulumi.Input[str]


def labels(name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def pod_security(uid: int) -> dict:
    return {"runAsUser": uid, "runAsGroup": uid, "fsGroup": uid, "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"}}


def namespace(name: str, namespace_name: str, component: str, parent: pulumi.Resource,
              enforce: str = "restricted", protect: bool = False) -> k8s.core.v1.Namespace:
    """A namespace enforcing the restricted Pod Security Standard, or the level `enforce` while
    still warning about and auditing pods that are not restricted. `protect` (platform.protectData):
    Pulumi refuses to delete it (`pulumi destroy` fails before it changes anything), so the volumes
    in it survive."""
    security = {"pod-security.kubernetes.io/enforce": enforce}
    if enforce != "restricted":
        security |= {"pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/audit": "restricted"}
    return k8s.core.v1.Namespace(
        name,
        metadata={"name": namespace_name, "labels": {**labels(namespace_name, component), **security}},
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )


def ingress_policy(
    name: str,
    namespace_name: pulumi.Input[str],
    pod_labels: dict[str, str],
    port: int | tuple[int, ...],
    from_namespaces: list[str],
    from_cidrs: tuple[str, ...],
    parent: pulumi.Resource,
) -> k8s.networking.v1.NetworkPolicy:
    """Allow ingress to the selected pods on `port` (one or several) only from the same
    namespace, the named namespaces and the given CIDRs; everything else is denied."""
    ports = (port,) if isinstance(port, int) else port
    peers: list[dict] = [{"podSelector": {}}]
    peers += [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}} for ns in from_namespaces]
    peers += [{"ipBlock": {"cidr": cidr}} for cidr in from_cidrs]
    return k8s.networking.v1.NetworkPolicy(
        name,
        metadata={"name": name, "namespace": namespace_name, "labels": {"app.kubernetes.io/part-of": PART_OF}},
        spec={
            "podSelector": {"matchLabels": pod_labels},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": peers, "ports": [{"protocol": "TCP", "port": p} for p in ports]}],
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )


def after(*resources: pulumi.Resource) -> pulumi.ResourceOptions:
    """Options for a component whose every resource must wait for `resources`. A component's own
    depends_on does not reach its children: the Python SDK waits only for each resource's own
    dependencies before it registers it. A transformation (applied by the SDK, in this process, to
    every descendant before it is registered) adds them to each resource; a Helm chart's objects
    are registered by the provider only once the chart's own dependencies are done."""
    waited = list(resources)

    def transformation(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult:
        return pulumi.ResourceTransformationResult(
            args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=waited)))

    return pulumi.ResourceOptions(depends_on=waited, transformations=[transformation])


def content_digest(text: str) -> str:
    """16 hex digits of SHA-256 over `text`: a pod annotation that changes, and so restarts the pods,
    when a configuration they read from a ConfigMap or Secret changes."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def grant(role_resource: str, binding_resource: str, metadata: dict, rules: list[dict], subjects: list[dict],
          opts: pulumi.ResourceOptions, cluster_wide: bool = False) -> k8s.rbac.v1.Role | k8s.rbac.v1.ClusterRole:
    """A Role (a ClusterRole when `cluster_wide`) with `rules` and its binding to `subjects`, both named and
    labelled by `metadata` (no namespace for the cluster-wide pair). The binding names the role it was
    made with, so it follows it."""
    role_type, binding_type = ((k8s.rbac.v1.ClusterRole, k8s.rbac.v1.ClusterRoleBinding) if cluster_wide
                               else (k8s.rbac.v1.Role, k8s.rbac.v1.RoleBinding))
    role = role_type(role_resource, metadata=metadata, rules=rules, opts=opts)
    binding_type(binding_resource, metadata=metadata,
                 role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole" if cluster_wide else "Role",
                           "name": role.metadata.apply(lambda m: m["name"])},
                 subjects=subjects, opts=opts)
    return role
