"""What every part of Kubeflow Pipelines shares: the names and ports the KFP programs look up,
the component's arguments, and `Part`, the base of the child components."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.components.common import CONTAINER_SECURITY, S3Access, grant, labels, pod_security
from infra.config import KubeflowPipelinesConfig

API_HTTP_PORT = 8888
API_GRPC_PORT = 8887
METADATA_GRPC_PORT = 8080
METADATA_ENVOY_PORT = 9090
UI_PORT = 3000          # the UI's Node server
UI_SERVICE_PORT = 80    # upstream's Service port for it
DATABASE_PORT = 3306
API_SERVICE = "ml-pipeline"
# The second API server, for people signed in through the Login component: the same program, which
# also trusts the identity header that oauth2-proxy sets, reachable from the UI's pods only.
PEOPLE_API_SERVICE = "ml-pipeline-people"
METADATA_SERVICE = "metadata-grpc-service"
METADATA_ENVOY_SERVICE = "metadata-envoy-service"
UI_SERVICE = "ml-pipeline-ui"
METADATA_WORKLOAD = "metadata-grpc-deployment"
METADATA_ENVOY_WORKLOAD = "metadata-envoy-deployment"
WORKFLOW_CONTROLLER = "workflow-controller"
# Argo's controller serves its metrics (workflows by namespace and phase) here.
ARGO_METRICS_PORT = 9090
# Upstream's name: the API server and, in each pipelines namespace, the launcher's provider config
# and Argo's artifact repository read the bucket keys from it.
ARTIFACT_SECRET = "mlpipeline-minio-artifact"  # noqa: S105 (a name, not a value)
INSTALL_CONFIGMAP = "pipeline-install-config"
PIPELINE_RUNNER = "pipeline-runner"
PIPELINE_DATABASE = "mlpipeline"
METADATA_DATABASE = "metadb"
# KFP's S3 clients need a region; MinIO's default, which SeaweedFS accepts as any other.
S3_REGION = "us-east-1"
TOKEN_AUDIENCE = "pipelines.kubeflow.org"  # noqa: S105 (an audience, not a value)
PIPELINES_GROUP = "pipelines.kubeflow.org"
WORKLOADS = ("api-server", "persistence-agent", "scheduled-workflow", "metadata-grpc", "workflow-controller",
             "database", "argo-executor")
UI_WORKLOADS = ("ui", "metadata-envoy")  # needed in `resources` when `ui` is on
KFP_UID = 1000        # upstream's KFP images (and the offline ones)


@dataclass(frozen=True)
class KubeflowPipelinesImages:
    api_server: str
    persistence_agent: str
    scheduled_workflow: str
    driver: str
    launcher: str
    metadata_server: str
    workflow_controller: str
    argoexec: str
    # MySQL 8.4 upstream; offline, MariaDB 10.11 with the same interface (offline/images/mariadb.sh).
    database: str
    # The web UI and the gRPC-Web proxy in front of the metadata server (only with `config.ui`).
    ui: str = ""
    metadata_envoy: str = ""


@dataclass
class KubeflowPipelinesArgs:
    # The validated `kubeflowPipelines` section: namespace, bucket, resources per workload
    # (WORKLOADS, UI_WORKLOADS), database mode, size and external host/port/user, ui.
    config: KubeflowPipelinesConfig
    images: KubeflowPipelinesImages
    # The object store: http(s)://host:port, and the S3 user scoped to the bucket (the API server's
    # pipeline packages and the UI's reads).
    # The pipelines' bucket user (KFP's and Argo's artifacts).
    s3: S3Access
    # The pipelines namespaces (the tenants'): they reach the API server and the metadata server.
    pipelines_namespaces: tuple[str, ...] = ()
    # External MySQL only (config.database.mode "external"): the password of config.database.user,
    # who needs all privileges on the databases `mlpipeline` and `metadb` (both created when missing).
    database_password: pulumi.Input[str] | None = None
    image_pull_policy: str = "IfNotPresent"
    storage_class: str = ""
    # External CIDRs (besides the namespace itself) allowed to reach the API server (and the UI).
    client_cidrs: tuple[str, ...] = ()
    # Pulumi refuses to delete its namespace, and so its volumes (platform.protectData).
    protect_data: bool = False
    # Namespaces whose pods may reach the in-cluster database (the platform's backup).
    database_client_namespaces: tuple[str, ...] = ()
    # With the Login component (needs config.ui): its namespace, whose oauth2-proxy pods alone
    # reach the UI from outside the namespace, and the header it sets to the person's identity.
    # The UI then talks to the people API server (PEOPLE_API_SERVICE), which trusts that header.
    people_login_namespace: str = ""
    people_identity_header: str = ""
    # The research groups' namespaces and their members, for the UI's group selector (ui.py).
    people_namespaces: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Shared:
    """What the KubeflowPipelines parent hands its parts: itself (the parent of every object
    before the split, hence the parts' alias), its name (the prefix of every logical name), the
    arguments and the namespace's name."""
    parent: pulumi.Resource
    name: str
    args: KubeflowPipelinesArgs
    namespace: pulumi.Output[str]


def selector(workload: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": workload, "app.kubernetes.io/component": "pipelines"}


def env_from_secret(env_name: str, secret: pulumi.Input[str], key: str) -> dict:
    return {"name": env_name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def env_from_config(env_name: str, key: str) -> dict:
    return {"name": env_name, "valueFrom": {"configMapKeyRef": {"name": INSTALL_CONFIGMAP, "key": key}}}


def env_from_field(env_name: str, field: str) -> dict:
    return {"name": env_name, "valueFrom": {"fieldRef": {"fieldPath": field}}}


def rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


class Part(pulumi.ComponentResource):
    """A child component of KubeflowPipelines. Its objects keep the logical names they had when
    the parent declared them itself and carry an alias to that parent, so that a stack deployed
    before the split keeps every object: same URN, no replacement."""

    def __init__(self, kind: str, suffix: str, shared: Shared) -> None:
        super().__init__(f"mlops-platform:platform:{kind}", f"{shared.name}-{suffix}", None,
                         pulumi.ResourceOptions(parent=shared.parent))
        self._shared, self._name, self._args, self._ns = shared, shared.name, shared.args, shared.namespace

    def child_opts(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        """Options of every object of the part: parented here, aliased to KubeflowPipelines."""
        return pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(parent=self._shared.parent)],
                                      depends_on=depends_on or [])

    def service_account(self, account: str, rules: list[dict], automount: bool = True,
                        cluster_rules: list[dict] | None = None) -> pulumi.Output[str]:
        """A ServiceAccount; when `rules` are given, a Role of the same name bound to it (this
        namespace), and when `cluster_rules` are, a ClusterRole `<namespace>-<account>` bound to
        it (every namespace: the controllers of multi-user mode)."""
        meta = {"name": account, "namespace": self._ns, "labels": labels(account, "pipelines")}
        sa = k8s.core.v1.ServiceAccount(f"{self._name}-sa-{account}", metadata=meta,
                                        automount_service_account_token=automount, opts=self.child_opts())
        subjects = [{"kind": "ServiceAccount", "name": account, "namespace": self._ns}]
        if rules:
            grant(f"{self._name}-role-{account}", f"{self._name}-binding-{account}", meta, rules, subjects,
                  self.child_opts())
        if cluster_rules:
            cluster_meta = {"name": f"{self._args.config.namespace}-{account}", "labels": labels(account, "pipelines")}
            grant(f"{self._name}-clusterrole-{account}", f"{self._name}-clusterbinding-{account}", cluster_meta,
                  cluster_rules, subjects, self.child_opts(), cluster_wide=True)
        return sa.metadata.apply(lambda m: m["name"])

    def workload(self, kind: str, workload: str, resource_name: str, uid: int, containers: list[dict],
                 service_account: pulumi.Input[str] | None = None, volumes: list[dict] | None = None,
                 depends_on: list[pulumi.Resource] | None = None, pod_annotations: dict | None = None,
                 **spec) -> pulumi.CustomResource:
        """A one-replica Deployment (or StatefulSet) of restricted pods running as `uid`."""
        for container in containers:
            container.setdefault("imagePullPolicy", self._args.image_pull_policy)
            container["securityContext"] = {**CONTAINER_SECURITY, **container.get("securityContext", {})}
        pod_spec = {
            "securityContext": pod_security(uid),
            "containers": containers,
            **({"serviceAccountName": service_account} if service_account else {"automountServiceAccountToken": False}),
            **({"volumes": volumes} if volumes else {}),
        }
        workload_labels = labels(workload, "pipelines")
        resource = k8s.apps.v1.StatefulSet if kind == "StatefulSet" else k8s.apps.v1.Deployment
        return resource(
            f"{self._name}-{resource_name}",
            metadata={"name": workload, "namespace": self._ns, "labels": workload_labels},
            spec={
                "replicas": 1,
                "selector": {"matchLabels": selector(workload)},
                "template": {"metadata": {"labels": workload_labels,
                                          **({"annotations": pod_annotations} if pod_annotations else {})},
                             "spec": pod_spec},
                **spec,
            },
            opts=self.child_opts(depends_on),
        )

    def service(self, service: str, workload: str, ports: list[tuple[str, int] | tuple[str, int, int]],
                headless: bool = False) -> None:
        """A Service for `workload`; each port is (name, port) or (name, port, container port)."""
        k8s.core.v1.Service(
            f"{self._name}-svc-{service}",
            metadata={"name": service, "namespace": self._ns, "labels": labels(workload, "pipelines")},
            spec={
                "selector": selector(workload),
                "ports": [{"name": port_name, "port": port, "targetPort": target[0] if target else port, "protocol": "TCP"}
                          for port_name, port, *target in ports],
                **({"clusterIP": "None"} if headless else {}),
            },
            opts=self.child_opts(),
        )

    def database_env(self, credentials: pulumi.Input[str], host_env: str, port_env: str, user_env: str,
                     password_env: str) -> list[dict]:
        """The database's address (pipeline-install-config) and login (the `credentials` Secret)."""
        return [
            env_from_config(host_env, "mysqlHost"),
            env_from_config(port_env, "mysqlPort"),
            env_from_secret(user_env, credentials, "username"),
            env_from_secret(password_env, credentials, "password"),
        ]
