"""Research groups (tenants): one namespace each with quotas, default container resources,
access for its members, NetworkPolicies and credentials scoped to its own bucket.

The object store makes each tenant's S3 user (ObjectStoreArgs.bucket_users) and MLflow each
tenant's workspace and users (MlflowArgs.tenants): this component receives their credentials and
stores them, with the endpoints, in the tenant namespace: `mlops-credentials` (the bucket's keys
and MLflow's editor user, for pipeline pods with `envFrom` and for the group's researchers) and
`mlflow-reader` (MLflow's read-only user of the tenant, for its model servers).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from mlops_components.contract import GPU_RESOURCE, SERVING_LABEL, SERVING_PORT

from infra.components.common import PART_OF, labels
from infra.components.mlflow import TenantIdentity
from infra.config import Resources, TenantConfig

CREDENTIALS_SECRET_NAME = "mlops-credentials"  # noqa: S105 (a name, not a value)
MLFLOW_READER_SECRET_NAME = "mlflow-reader"  # noqa: S105 (a name, not a value)
DEPLOYER_ROLE = "pipeline-deployer"
# What a pipeline's deploy step does in a tenant namespace: a model server's Deployment, Service
# and MLflow read credentials (Secret), and the pods/events it reads when a rollout fails.
DEPLOYER_RULES = [
    {"apiGroups": ["apps"], "resources": ["deployments"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["services", "secrets"], "verbs": ["get", "create", "update", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods", "pods/log", "events"], "verbs": ["get", "list"]},
]
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
    # (namespace, service account) of Kubeflow Pipelines' pipeline runner: it may deploy model
    # servers into every tenant namespace (components' deploy_model). None: no pipelines.
    pipeline_runner: tuple[str, str] | None = None


def _namespace_peer(namespace: str) -> dict:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


class Tenants(pulumi.ComponentResource):
    """Per tenant: Namespace (restricted Pod Security, MLflow experiment prefix annotation),
    ResourceQuota, LimitRange, RoleBinding to `edit`, NetworkPolicies (default deny; DNS, the
    object store, MLflow and the own namespace allowed) and the credentials Secret; with
    pipelines, a Role that lets the pipeline runner deploy model servers, which the pipelines'
    namespace may reach on port 8080."""

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
        tenant_labels = {**labels(tenant.name, "tenant"), "mlops-platform/tenant": tenant.name}

        ns = k8s.core.v1.Namespace(
            f"{prefix}-ns",
            metadata={
                "name": tenant.namespace,
                "labels": {**tenant_labels, "pod-security.kubernetes.io/enforce": "restricted"},
                "annotations": {EXPERIMENT_PREFIX_ANNOTATION: tenant.experiment_prefix},
            },
            opts=child,
        )
        ns_name = ns.metadata.apply(lambda m: m["name"])

        def meta(suffix: str) -> dict:
            return {"name": suffix, "namespace": ns_name, "labels": tenant_labels}

        quota = tenant.quota
        k8s.core.v1.ResourceQuota(
            f"{prefix}-quota",
            metadata=meta("tenant-quota"),
            spec={"hard": {
                "requests.cpu": quota.cpu, "limits.cpu": quota.cpu,
                "requests.memory": quota.memory, "limits.memory": quota.memory,
                GPU_QUOTA: str(quota.gpu),
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
        if args.pipeline_runner:
            self._pipeline_deployer(prefix, meta)

        credentials = args.credentials[tenant.name]
        secret = k8s.core.v1.Secret(
            f"{prefix}-credentials",
            metadata=meta(CREDENTIALS_SECRET_NAME),
            string_data={
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
            },
            opts=child,
        )
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

    def _pipeline_deployer(self, prefix: str, meta) -> None:
        """Lets the pipeline runner deploy model servers here (DEPLOYER_RULES, nothing else)."""
        runner_namespace, runner = self._args.pipeline_runner
        child = pulumi.ResourceOptions(parent=self)
        role = k8s.rbac.v1.Role(f"{prefix}-deployer", metadata=meta(DEPLOYER_ROLE), rules=DEPLOYER_RULES, opts=child)
        k8s.rbac.v1.RoleBinding(
            f"{prefix}-deployer",
            metadata=meta(DEPLOYER_ROLE),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                      "name": role.metadata.apply(lambda m: m["name"])},
            subjects=[{"kind": "ServiceAccount", "name": runner, "namespace": runner_namespace}],
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
        selectors = {}
        if args.pipeline_runner:
            # The deploy step checks the model server it deployed, from the pipelines' namespace.
            policies["allow-model-serving-from-pipelines"] = {
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [_namespace_peer(args.pipeline_runner[0])],
                             "ports": [{"protocol": "TCP", "port": SERVING_PORT}]}],
            }
            selectors["allow-model-serving-from-pipelines"] = {"matchLabels": {SERVING_LABEL: "true"}}
        for policy, spec in policies.items():
            k8s.networking.v1.NetworkPolicy(
                f"{prefix}-{policy}",
                metadata={"name": policy, "namespace": ns_name, "labels": {"app.kubernetes.io/part-of": PART_OF}},
                spec={"podSelector": selectors.get(policy, {}), **spec},
                opts=pulumi.ResourceOptions(parent=self),
            )
