"""Research groups (tenants): one namespace each with quotas, default container resources,
access for its members, NetworkPolicies and credentials scoped to its own bucket.

The object store makes each tenant's S3 user (ObjectStoreArgs.bucket_users) and MLflow each
tenant's workspace and users (MlflowArgs.tenants): this component receives their credentials and
stores them, with the endpoints, in the tenant namespace: `mlops-credentials` (the bucket's keys
and MLflow's editor user, for pipeline steps and for the group's researchers) and `mlflow-reader`
(MLflow's read-only user of the tenant, for its model servers).

With Kubeflow Pipelines (multi-user mode), each tenant namespace is a pipelines namespace: this
component declares there what upstream's profile controller would (the `pipeline-runner`
ServiceAccount with its Role, the launcher's and Argo's ConfigMaps, the bucket Secret the
launcher and Argo's executor read, all with the tenant's own bucket and keys) and binds the
tenant's members and groups to the pipelines ClusterRole that the KFP API server checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from mlops_components.contract import GPU_RESOURCE, MLFLOW_READER_SECRET, PIPELINE_ENV_KEYS, PIPELINE_ENV_SECRET

from infra.components import kubeflow_pipelines as kfp
from infra.components import queueing
from infra.components.common import PART_OF, grant, labels
from infra.components.mlflow import TenantIdentity
from infra.config import Resources, TenantConfig

CREDENTIALS_SECRET_NAME = PIPELINE_ENV_SECRET
MLFLOW_READER_SECRET_NAME = MLFLOW_READER_SECRET
EDIT_CLUSTER_ROLE = "edit"
EXPERIMENT_PREFIX_ANNOTATION = "mlops-platform/mlflow-experiment-prefix"
GPU_QUOTA = f"requests.{GPU_RESOURCE}"


@dataclass
class TenantCredentials:
    access_key: str
    secret_key: pulumi.Input[str]
    # The tenant's MLflow workspace and users, and the users' passwords.
    mlflow: TenantIdentity
    mlflow_editor_password: pulumi.Input[str]
    mlflow_reader_password: pulumi.Input[str]


@dataclass
class TenantsArgs:
    tenants: tuple[TenantConfig, ...]
    # LimitRange defaults for containers that set no requests/limits.
    container_defaults: Resources
    # Scoped S3 credentials per tenant name (made by the object store).
    credentials: dict[str, TenantCredentials]
    object_store_namespace: str
    object_store_port: int
    s3_endpoint: pulumi.Input[str]
    mlflow_namespace: str
    mlflow_port: int
    tracking_uri: pulumi.Input[str]
    # Kubeflow Pipelines' namespace: each tenant namespace becomes a pipelines namespace.
    # None: no pipelines.
    pipelines_namespace: str | None = None
    # Pulumi refuses to delete the tenant namespaces (platform.protectData).
    protect_data: bool = False
    # With queueing, the ResourceQuota's cpu, memory and GPU per tenant name: quota plus
    # borrowing limit (queueing.quota_ceiling); Kueue admits work within the quota itself.
    quota_ceilings: dict[str, dict[str, str]] | None = None
    # With queueing, the Queueing component: each namespace gets its LocalQueue `default`, and the
    # namespaces are made after Kueue (and deleted before it).
    queueing: pulumi.Resource | None = None


def pod_security_labels(pipelines: bool) -> dict[str, str]:
    """`restricted`, or with pipelines `baseline` enforced and `restricted` warned and audited:
    KFP's compiler adds an init container (kfp-launcher) without a security context."""
    if not pipelines:
        return {"pod-security.kubernetes.io/enforce": "restricted"}
    return {"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted"}


# kubeadm's secure port of the API server (kind's and ansible's control_plane_api_server_port).
KUBERNETES_API_PORT = 6443
# The label Argo puts on every pod of a workflow: the pipeline steps.
ARGO_WORKFLOW_LABEL = "workflows.argoproj.io/workflow"


def _namespace_peer(namespace: str) -> dict:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


class Tenants(pulumi.ComponentResource):
    """Per tenant: Namespace (Pod Security, MLflow experiment prefix annotation), ResourceQuota,
    LimitRange, RoleBinding to `edit`, NetworkPolicies (default deny; DNS, the object store,
    MLflow and the own namespace allowed) and the credentials Secrets; with pipelines, the
    pipelines namespace's objects (pipeline runner, ConfigMaps, bucket Secret), the members'
    binding to the pipelines ClusterRole and egress to the KFP API and metadata servers."""

    # tenant name -> {namespace, bucket, experimentPrefix, credentialsSecret}
    tenants: pulumi.Output[dict]

    def __init__(self, name: str, args: TenantsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops-platform:platform:Tenants", name, None, opts)
        missing = [t.name for t in args.tenants if t.name not in args.credentials]
        if missing:
            raise ValueError(f"Tenants {name}: no object-store credentials for tenant(s) {', '.join(missing)}")
        self._args = args
        exported = {tenant.name: self._tenant(name, tenant) for tenant in args.tenants}
        self.tenants = pulumi.Output.from_input(exported)
        self.register_outputs({"tenants": self.tenants})

    def _tenant(self, name: str, tenant: TenantConfig) -> dict:
        args = self._args
        prefix = f"{name}-{tenant.name}"
        child = pulumi.ResourceOptions(parent=self)
        tenant_labels = {**labels(tenant.name, "tenant"), queueing.TENANT_NAMESPACE_LABEL: tenant.name}

        ns = k8s.core.v1.Namespace(
            f"{prefix}-ns",
            metadata={
                "name": tenant.namespace,
                "labels": {**tenant_labels, **pod_security_labels(args.pipelines_namespace is not None)},
                "annotations": {EXPERIMENT_PREFIX_ANNOTATION: tenant.experiment_prefix},
            },
            # A group's own volumes and Secrets live here (platform.protectData).
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                protect=args.protect_data, depends_on=[args.queueing] if args.queueing else None)),
        )
        ns_name = ns.metadata.apply(lambda m: m["name"])

        def meta(suffix: str) -> dict:
            return {"name": suffix, "namespace": ns_name, "labels": tenant_labels}

        quota = tenant.quota
        ceiling = (args.quota_ceilings or {}).get(tenant.name) or queueing.nominal_quota(tenant)
        k8s.core.v1.ResourceQuota(
            f"{prefix}-quota",
            metadata=meta("tenant-quota"),
            spec={"hard": {
                "requests.cpu": ceiling["cpu"], "limits.cpu": ceiling["cpu"],
                "requests.memory": ceiling["memory"], "limits.memory": ceiling["memory"],
                GPU_QUOTA: ceiling[GPU_RESOURCE],
                "requests.storage": quota.storage,
                "persistentvolumeclaims": str(quota.max_volume_claims),
                "pods": str(quota.max_pods),
                # Tenants reach their services through the platform, never from outside.
                "services.loadbalancers": "0",
                "services.nodeports": "0",
            }},
            opts=child,
        )
        k8s.core.v1.LimitRange(
            f"{prefix}-limits",
            metadata=meta("container-defaults"),
            spec={"limits": [{
                "type": "Container",
                "defaultRequest": dict(args.container_defaults.requests),
                "default": dict(args.container_defaults.limits),
            }]},
            opts=child,
        )
        subjects = [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"} for user in tenant.members]
        subjects += [{"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"} for group in tenant.groups]
        k8s.rbac.v1.RoleBinding(
            f"{prefix}-edit",
            metadata=meta("tenant-edit"),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": EDIT_CLUSTER_ROLE},
            subjects=subjects,
            opts=child,
        )
        self._network_policies(prefix, ns_name)
        if args.queueing:
            queueing.local_queue(f"{prefix}-local-queue", tenant, tenant_labels,
                                 pulumi.ResourceOptions(parent=self, depends_on=[ns]))

        credentials = args.credentials[tenant.name]
        if args.pipelines_namespace:
            self._pipelines_namespace(prefix, tenant, meta, subjects, credentials)
        env = {
            "AWS_ACCESS_KEY_ID": credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": pulumi.Output.secret(credentials.secret_key),
            "MLFLOW_S3_ENDPOINT_URL": args.s3_endpoint,
            "MLFLOW_TRACKING_URI": args.tracking_uri,
            "MLOPS_ARTIFACT_BUCKET": tenant.bucket,
            "MLOPS_EXPERIMENT_PREFIX": tenant.experiment_prefix,
            # MLflow as the tenant: its workspace only (mlflow 3.17 clients read these).
            "MLFLOW_WORKSPACE": credentials.mlflow.workspace,
            "MLFLOW_TRACKING_USERNAME": credentials.mlflow.editor,
            "MLFLOW_TRACKING_PASSWORD": pulumi.Output.secret(credentials.mlflow_editor_password),
            # Downloads through MLflow's artifact proxy, not presigned URLs of the in-cluster
            # object store that a client outside the cluster cannot reach.
            "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
        }
        if set(env) != set(PIPELINE_ENV_KEYS):
            raise ValueError(f"{CREDENTIALS_SECRET_NAME}: keys {sorted(env)} differ from the pipeline components' "
                             f"{sorted(PIPELINE_ENV_KEYS)} (mlops_components.contract)")
        secret = k8s.core.v1.Secret(f"{prefix}-credentials", metadata=meta(CREDENTIALS_SECRET_NAME), string_data=env,
                                    opts=child)
        k8s.core.v1.Secret(
            f"{prefix}-mlflow-reader",
            metadata=meta(MLFLOW_READER_SECRET_NAME),
            string_data={
                "MLFLOW_TRACKING_URI": args.tracking_uri,
                "MLFLOW_WORKSPACE": credentials.mlflow.workspace,
                "MLFLOW_TRACKING_USERNAME": credentials.mlflow.reader,
                "MLFLOW_TRACKING_PASSWORD": pulumi.Output.secret(credentials.mlflow_reader_password),
                "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
            },
            opts=child,
        )
        return {"namespace": ns_name, "bucket": tenant.bucket, "experimentPrefix": tenant.experiment_prefix,
                "credentialsSecret": secret.metadata.apply(lambda m: m["name"]),
                "mlflowWorkspace": credentials.mlflow.workspace, "mlflowUser": credentials.mlflow.editor,
                "mlflowReaderSecret": MLFLOW_READER_SECRET_NAME}

    def _pipelines_namespace(self, prefix: str, tenant: TenantConfig, meta, subjects: list[dict],
                             credentials: TenantCredentials) -> None:
        """What Kubeflow Pipelines' multi-user mode needs in the tenant namespace: the runner
        that runs every pipeline pod (kfp.RUNNER_RULES), the bucket Secret (the tenant's keys), the
        launcher's, the metadata and Argo's ConfigMaps (the tenant's bucket as pipeline root and
        log archive), and the members' and groups' binding to the pipelines edit ClusterRole."""
        args, child = self._args, pulumi.ResourceOptions(parent=self)
        runner = kfp.PIPELINE_RUNNER
        k8s.core.v1.ServiceAccount(f"{prefix}-pipeline-runner", metadata=meta(runner), opts=child)
        grant(f"{prefix}-pipeline-runner", f"{prefix}-pipeline-runner", meta(runner), kfp.RUNNER_RULES,
              [{"kind": "ServiceAccount", "name": runner, "namespace": tenant.namespace}], child)
        k8s.core.v1.Secret(f"{prefix}-artifact-credentials", metadata=meta(kfp.ARTIFACT_SECRET), string_data={
            "accesskey": credentials.access_key, "secretkey": pulumi.Output.secret(credentials.secret_key)}, opts=child)
        config = pulumi.Output.from_input(args.s3_endpoint).apply(
            lambda endpoint: kfp.pipelines_namespace_config(args.pipelines_namespace, endpoint, tenant.bucket))
        for config_map in (kfp.LAUNCHER_CONFIGMAP, kfp.METADATA_CONFIGMAP, kfp.ARTIFACT_REPOSITORIES_CONFIGMAP):
            annotations = kfp.ARTIFACT_REPOSITORIES_ANNOTATIONS if config_map == kfp.ARTIFACT_REPOSITORIES_CONFIGMAP else {}
            k8s.core.v1.ConfigMap(f"{prefix}-{config_map}", metadata={**meta(config_map), "annotations": annotations},
                                  data=config.apply(lambda maps, name=config_map: maps[name]), opts=child)
        k8s.rbac.v1.RoleBinding(
            f"{prefix}-pipelines-edit",
            metadata=meta("pipelines-edit"),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": kfp.EDIT_CLUSTER_ROLE},
            subjects=subjects,
            opts=child,
        )

    def _network_policies(self, prefix: str, ns_name: pulumi.Output[str]) -> None:
        args = self._args
        policies = {
            # Everything not allowed below is denied, in both directions.
            "default-deny": {"policyTypes": ["Ingress", "Egress"]},
            "allow-same-namespace": {
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
            "allow-dns": {
                "policyTypes": ["Egress"],
                "egress": [{"to": [_namespace_peer("kube-system")],
                            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}],
            },
            "allow-object-store": {
                "policyTypes": ["Egress"],
                "egress": [{"to": [_namespace_peer(args.object_store_namespace)],
                            "ports": [{"protocol": "TCP", "port": args.object_store_port}]}],
            },
            "allow-mlflow": {
                "policyTypes": ["Egress"],
                "egress": [{"to": [_namespace_peer(args.mlflow_namespace)],
                            "ports": [{"protocol": "TCP", "port": args.mlflow_port}]}],
            },
        }
        if args.pipelines_namespace:
            # Pipeline steps: the driver and launcher reach the metadata server and the API
            # server's task API; programs submit runs through the API server.
            policies["allow-kubeflow-pipelines"] = {
                "policyTypes": ["Egress"],
                "egress": [{"to": [_namespace_peer(args.pipelines_namespace)],
                            "ports": [{"protocol": "TCP", "port": port}
                                      for port in (kfp.API_HTTP_PORT, kfp.API_GRPC_PORT, kfp.METADATA_GRPC_PORT)]}],
            }
            # The steps' driver and launcher read the namespace's launcher ConfigMap and artifact
            # Secret, and a deploying step creates its model server, through the Kubernetes API
            # (as the pipeline runner, under RBAC). Policies see the API server's own address after
            # the Service is translated, which no pod selector matches: its port, for step pods only.
            policies["allow-kubernetes-api-for-steps"] = {
                "podSelector": {"matchExpressions": [{"key": ARGO_WORKFLOW_LABEL, "operator": "Exists"}]},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"protocol": "TCP", "port": KUBERNETES_API_PORT}]}],
            }
        for policy, spec in policies.items():
            k8s.networking.v1.NetworkPolicy(
                f"{prefix}-{policy}",
                metadata={"name": policy, "namespace": ns_name, "labels": {"app.kubernetes.io/part-of": PART_OF}},
                spec={"podSelector": {}, **spec},
                opts=pulumi.ResourceOptions(parent=self),
            )
