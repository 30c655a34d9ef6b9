"""Kubeflow Pipelines 2.14.3 in multi-user mode on Argo Workflows 3.6.18, defined here from what
the KFP and Argo programs read, not from their manifests.

Multi-user: every research group's namespace is a pipelines namespace. A run executes in the
namespace of its experiment, as that namespace's `pipeline-runner` ServiceAccount, under its
ResourceQuota, LimitRange and NetworkPolicies, with its own bucket and S3 keys. The objects that
upstream's profile controller would make in each such namespace are declared by the Tenants
component from `pipelines_namespace_objects()` here (no metacontroller).

Who the caller is: the API server authorizes every request with a SubjectAccessReview on the
resources of `pipelines.kubeflow.org` (ClusterRoles EDIT_CLUSTER_ROLE and VIEW_CLUSTER_ROLE, bound
per tenant to its members and groups). It authenticates callers by their bearer token only
(TokenReview, audience `pipelines.kubeflow.org`): upstream also trusts a user-id header, which any
pod that reaches the API server could set without a service mesh, so the header is configured to
a name that no HTTP or gRPC request can carry (IDENTITY_HEADER_DISABLED).

Workloads, all in one namespace: the KFP API server (`ml-pipeline`), persistence agent and
scheduled-workflow controller (watching every namespace); the ML Metadata gRPC server
(`metadata-grpc-service`) that the driver and launcher of every pipeline step record lineage in;
Argo's workflow controller for the whole cluster (ClusterRole); MySQL (in-cluster StatefulSet or
external) with the databases `mlpipeline` (API server) and `metadb` (metadata server), which both
programs create; and, with `ui`, the web UI (`ml-pipeline-ui`) with the gRPC-Web proxy
(`metadata-envoy-service`) through which the browser reads ML Metadata.

Names the KFP programs look up are kept: the Services `ml-pipeline` and `metadata-grpc-service`,
and per pipelines namespace the ConfigMaps `kfp-launcher` (pipeline root and the S3 provider the
launcher writes artifacts with) and `metadata-grpc-configmap` (where the driver and launcher find
the metadata server and the API server), Argo's `artifact-repositories`, the Secret
`mlpipeline-minio-artifact` and the ServiceAccount `pipeline-runner`.

Pod Security: the platform's own workloads meet the restricted standard. Pipeline pods get a
restricted pod security context and container security contexts for Argo's executor and the main
container through the workflow controller's defaults, but the `kfp-launcher` init container that
KFP's compiler adds sets none, so pipelines namespaces enforce `baseline` and warn/audit
`restricted`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.components.common import CONTAINER_SECURITY, PART_OF, ingress_policy, labels, namespace, pod_security
from infra.components.generated_password import GeneratedPassword
from infra.config import DATABASE_MODES, Resources

API_HTTP_PORT = 8888
API_GRPC_PORT = 8887
METADATA_GRPC_PORT = 8080
METADATA_ENVOY_PORT = 9090
UI_PORT = 3000          # the UI's Node server
UI_SERVICE_PORT = 80    # upstream's Service port for it
DATABASE_PORT = 3306
API_SERVICE = "ml-pipeline"
METADATA_SERVICE = "metadata-grpc-service"
METADATA_ENVOY_SERVICE = "metadata-envoy-service"
UI_SERVICE = "ml-pipeline-ui"
# Upstream's name: the API server and, in each pipelines namespace, the launcher's provider config
# and Argo's artifact repository read the bucket keys from it.
ARTIFACT_SECRET = "mlpipeline-minio-artifact"  # noqa: S105 (a name, not a value)
LAUNCHER_CONFIGMAP = "kfp-launcher"
METADATA_CONFIGMAP = "metadata-grpc-configmap"
INSTALL_CONFIGMAP = "pipeline-install-config"
ARTIFACT_REPOSITORIES_CONFIGMAP = "artifact-repositories"  # Argo's per-namespace repositories
ARTIFACT_REPOSITORIES_ANNOTATIONS = {"workflows.argoproj.io/default-artifact-repository": "default"}
# The ClusterRoles that the API server's SubjectAccessReviews check; Tenants binds them.
EDIT_CLUSTER_ROLE = "mlops-pipelines-edit"
VIEW_CLUSTER_ROLE = "mlops-pipelines-view"
# KUBEFLOW_USERID_HEADER: spaces and parentheses are not allowed in HTTP or HTTP/2 header names,
# so no request can carry it and the API server's header authenticator never succeeds: callers
# are known by their token alone.
IDENTITY_HEADER_DISABLED = "(no identity header: bearer tokens only)"
WORKFLOW_CONTROLLER_CONFIGMAP = "workflow-controller-configmap"
PIPELINE_RUNNER = "pipeline-runner"
PIPELINE_DATABASE = "mlpipeline"
METADATA_DATABASE = "metadb"
# KFP's S3 clients need a region; MinIO's default, which SeaweedFS accepts as any other.
S3_REGION = "us-east-1"
# Pipeline pods run as this user (Argo's workflowDefaults); KFP mounts emptyDirs at /.local,
# /.cache and /.config so that pip and friends work for a uid without a home directory.
PIPELINE_UID = 1000
WORKLOADS = ("api-server", "persistence-agent", "scheduled-workflow", "metadata-grpc", "workflow-controller",
             "database", "argo-executor")
UI_WORKLOADS = ("ui", "metadata-envoy")  # needed in `resources` when `ui` is on
_KFP_UID = 1000       # upstream's KFP images (and the offline ones)
_ARGO_UID = 8737      # upstream's non-root Argo user (the offline images' USER)
_MYSQL_UID = 999      # the mysql image's user (and the offline MariaDB image's)
_DB_USER_IN_CLUSTER = "mlpipeline"
TOKEN_AUDIENCE = "pipelines.kubeflow.org"  # noqa: S105 (an audience, not a value)
PIPELINES_GROUP = "pipelines.kubeflow.org"
# Custom resources KFP needs: Argo's (group argoproj.io, v1alpha1) and KFP's ScheduledWorkflow.
# (kind, plural, short names, scope, has a status subresource)
_ARGO_CRDS = (
    ("Workflow", "workflows", ["wf"], "Namespaced", False),
    ("WorkflowTemplate", "workflowtemplates", ["wftmpl"], "Namespaced", False),
    ("CronWorkflow", "cronworkflows", ["cwf", "cronwf"], "Namespaced", False),
    ("ClusterWorkflowTemplate", "clusterworkflowtemplates", ["clusterwftmpl", "cwft"], "Cluster", False),
    ("WorkflowTaskResult", "workflowtaskresults", [], "Namespaced", False),
    ("WorkflowTaskSet", "workflowtasksets", ["wfts"], "Namespaced", True),
    ("WorkflowArtifactGCTask", "workflowartifactgctasks", ["wfat"], "Namespaced", True),
    ("WorkflowEventBinding", "workfloweventbindings", ["wfeb"], "Namespaced", False),
)


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
    # The web UI and the gRPC-Web proxy in front of the metadata server (only with `ui`).
    ui: str = ""
    metadata_envoy: str = ""


@dataclass
class KubeflowPipelinesArgs:
    namespace: str
    bucket: str
    images: KubeflowPipelinesImages
    # Workload name (WORKLOADS) -> requests/limits.
    resources: dict[str, Resources]
    # The object store: http(s)://host:port, and the S3 user scoped to `bucket` (the API server's
    # pipeline packages and the UI's reads).
    s3_endpoint: pulumi.Input[str]
    s3_access_key: str
    s3_secret_key: pulumi.Input[str]
    # The pipelines namespaces (the tenants'): they reach the API server and the metadata server.
    pipelines_namespaces: tuple[str, ...] = ()
    database_mode: str = "inCluster"
    database_volume_size: str = "10Gi"
    # External MySQL (database_mode="external"); the user needs all privileges on the databases
    # `mlpipeline` and `metadb` (both created when missing).
    database_host: str = ""
    database_port: int = DATABASE_PORT
    database_user: str = ""
    database_password: pulumi.Input[str] | None = None
    image_pull_policy: str = "IfNotPresent"
    storage_class: str = ""
    # External CIDRs (besides the namespace itself) allowed to reach the API server (and the UI).
    client_cidrs: tuple[str, ...] = ()
    # The web UI (images.ui, images.metadata_envoy and resources for UI_WORKLOADS needed).
    ui: bool = False


def _selector(workload: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": workload, "app.kubernetes.io/component": "pipelines"}


def _env_from_secret(env_name: str, secret: pulumi.Input[str], key: str) -> dict:
    return {"name": env_name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _env_from_config(env_name: str, key: str) -> dict:
    return {"name": env_name, "valueFrom": {"configMapKeyRef": {"name": INSTALL_CONFIGMAP, "key": key}}}


def _env_from_field(env_name: str, field: str) -> dict:
    return {"name": env_name, "valueFrom": {"fieldRef": {"fieldPath": field}}}


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def launcher_providers(endpoint: str) -> str:
    """The `providers` entry of the kfp-launcher ConfigMap (backend/src/v2/config/env.go, s3.go):
    every s3:// artifact goes to the platform's object store with the scoped user's keys."""
    parts = urlsplit(endpoint)
    return yaml.safe_dump({"s3": {"default": {
        "endpoint": parts.netloc,
        "region": S3_REGION,
        "disableSSL": parts.scheme != "https",
        "forcePathStyle": True,
        "credentials": {"fromEnv": False, "secretRef": {
            "secretName": ARTIFACT_SECRET, "accessKeyKey": "accesskey", "secretKeyKey": "secretkey"}},
    }}}, sort_keys=False)


def kfp_service_env(kfp_namespace: str) -> dict[str, str]:
    """Where the driver and launcher of a step find the metadata server and the API server's task
    API: by these variables (backend/src/v2/metadata/env.go, cacheutils/cache.go), which the
    Services' links would set in their own namespace; elsewhere they fall back to `*.kubeflow`.
    The driver passes METADATA_GRPC_SERVICE_HOST/PORT to the launcher's flags (v2/driver/driver.go)."""
    return {
        "METADATA_GRPC_SERVICE_HOST": f"{METADATA_SERVICE}.{kfp_namespace}.svc.cluster.local",
        "METADATA_GRPC_SERVICE_PORT": str(METADATA_GRPC_PORT),
        "METADATA_GRPC_SERVICE_SERVICE_HOST": f"{METADATA_SERVICE}.{kfp_namespace}.svc.cluster.local",
        "METADATA_GRPC_SERVICE_SERVICE_PORT": str(METADATA_GRPC_PORT),
        "ML_PIPELINE_SERVICE_HOST": f"{API_SERVICE}.{kfp_namespace}.svc.cluster.local",
        "ML_PIPELINE_SERVICE_PORT_GRPC": str(API_GRPC_PORT),
    }


def workflow_controller_config(executor: Resources, kfp_namespace: str) -> dict[str, str]:
    """The workflow-controller-configmap (Argo's config/config.go; one YAML document per key).

    Every pipeline pod runs as PIPELINE_UID with the restricted pod security context, and Argo's
    executor and the main container drop every capability. Every main container (the drivers',
    which KFP's compiler gives no ConfigMap, and the steps') gets kfp_service_env(). No artifact
    repository: each pipelines namespace has its own (artifact_repositories()), with its own bucket
    and keys."""
    container_defaults = {"securityContext": CONTAINER_SECURITY}
    service_env = [{"name": name, "value": value} for name, value in kfp_service_env(kfp_namespace).items()]
    config = {
        # Image and pull policy: the controller's --executor-image* flags.
        "executor": {"resources": executor.to_kubernetes(), **container_defaults},
        "mainContainer": {**container_defaults, "env": service_env},
        "workflowDefaults": {"spec": {"securityContext": pod_security(PIPELINE_UID)}},
    }
    return {key: yaml.safe_dump(value, sort_keys=False) for key, value in config.items()}


VIEW_RULES = [
    _rule([PIPELINES_GROUP], ["pipelines", "pipelines/versions", "experiments", "jobs"], ["get", "list"]),
    _rule([PIPELINES_GROUP], ["runs"], ["get", "list", "readArtifact"]),
]
EDIT_RULES = [
    *VIEW_RULES,
    _rule([PIPELINES_GROUP], ["pipelines", "pipelines/versions"], ["create", "delete", "update"]),
    _rule([PIPELINES_GROUP], ["experiments"], ["archive", "create", "delete", "unarchive"]),
    _rule([PIPELINES_GROUP], ["runs"], ["archive", "create", "delete", "retry", "terminate", "unarchive",
                                        "reportMetrics"]),
    _rule([PIPELINES_GROUP], ["jobs"], ["create", "delete", "disable", "enable"]),
]
# The pipeline runner of a pipelines namespace: the driver (its pod, PVCs of kfp-kubernetes, the
# ConfigMaps it reads), the launcher and Argo's executor (the bucket Secret, task results). Of the
# Secrets it reads the bucket's only: other Secrets reach a step through its pod spec (the kubelet
# reads them). The deploy step's model servers: Deployments and Services, and the pods and events
# it reads when a rollout fails. No Secret writes, no pod changes.
RUNNER_RULES = [
    _rule([""], ["pods"], ["get", "watch"]),
    _rule([""], ["configmaps"], ["get", "list", "watch"]),
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": [ARTIFACT_SECRET]},
    _rule([""], ["persistentvolumeclaims"], ["create", "get", "delete"]),
    _rule(["argoproj.io"], ["workflowtaskresults"], ["create", "patch"]),
    _rule(["apps"], ["deployments"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
    _rule([""], ["services"], ["get", "create", "update", "patch", "delete"]),
    _rule([""], ["pods/log", "events"], ["get", "list"]),
]


def artifact_repositories(endpoint: str, bucket: str) -> dict[str, str]:
    """Argo's `artifact-repositories` ConfigMap of a pipelines namespace: step logs archived in
    the namespace's own bucket with its own keys."""
    parts = urlsplit(endpoint)
    return {"default": yaml.safe_dump({"archiveLogs": True, "s3": {
        "endpoint": parts.netloc,
        "bucket": bucket,
        "region": S3_REGION,
        "insecure": parts.scheme != "https",
        "keyFormat": "artifacts/{{workflow.name}}/{{workflow.creationTimestamp.Y}}/"
                     "{{workflow.creationTimestamp.m}}/{{workflow.creationTimestamp.d}}/{{pod.name}}",
        "accessKeySecret": {"name": ARTIFACT_SECRET, "key": "accesskey"},
        "secretKeySecret": {"name": ARTIFACT_SECRET, "key": "secretkey"},
    }}, sort_keys=False)}


def pipelines_namespace_config(kfp_namespace: str, endpoint: str, bucket: str) -> dict[str, dict[str, str]]:
    """The ConfigMaps of a pipelines namespace (what upstream's profile controller writes):
    name -> data. KFP's compiler gives the launcher and importer `metadata-grpc-configmap` as
    environment: kfp_service_env() (the workflow controller also sets it on every main container)."""
    return {
        LAUNCHER_CONFIGMAP: {"defaultPipelineRoot": f"s3://{bucket}/v2/artifacts",
                             "providers": launcher_providers(endpoint)},
        METADATA_CONFIGMAP: kfp_service_env(kfp_namespace),
        ARTIFACT_REPOSITORIES_CONFIGMAP: artifact_repositories(endpoint, bucket),
    }


class KubeflowPipelines(pulumi.ComponentResource):
    """Namespace, the CRDs, ServiceAccounts with their (Cluster)Roles, the ClusterRoles that
    users are bound to, the generated database password and the bucket credentials in Secrets,
    the ConfigMaps the KFP programs read, the five workloads plus the database, their Services
    and NetworkPolicies (ingress denied except the API server from the namespace, the pipelines
    namespaces and the client CIDRs, the metadata server from the namespace and the pipelines
    namespaces, and the database from the API and metadata servers)."""

    endpoint: pulumi.Output[str]
    namespace: pulumi.Output[str]
    ui_endpoint: pulumi.Output[str]  # "" without the UI

    def __init__(self, name: str, args: KubeflowPipelinesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops-platform:platform:KubeflowPipelines", name, None, opts)
        self._validate(name, args)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        part_labels = labels(name, "pipelines")

        ns = namespace(f"{name}-ns", args.namespace, "pipelines", self, enforce="baseline")
        self._ns = ns.metadata.apply(lambda m: m["name"])
        crds = self._custom_resource_definitions()

        def meta(object_name: str) -> dict:
            return {"name": object_name, "namespace": self._ns, "labels": part_labels}

        def secret(suffix: str, object_name: str, data: dict[str, pulumi.Input[str]]) -> pulumi.Output[str]:
            created = k8s.core.v1.Secret(f"{name}-{suffix}", metadata=meta(object_name), string_data=data, opts=child)
            return created.metadata.apply(lambda m: m["name"])

        endpoint = pulumi.Output.from_input(args.s3_endpoint)
        self._artifact_secret = secret("artifact-credentials", ARTIFACT_SECRET, {
            "accesskey": args.s3_access_key, "secretkey": pulumi.Output.secret(args.s3_secret_key)})
        db_data: dict[str, pulumi.Input[str]]
        if args.database_mode == "inCluster":
            password = GeneratedPassword(f"{name}-database-password", opts=child).value
            db_user, db_host = _DB_USER_IN_CLUSTER, pulumi.Output.concat(f"{name}-db.", self._ns, ".svc.cluster.local")
            db_data = {"root-password": GeneratedPassword(f"{name}-database-root-password", opts=child).value}
        else:
            password = pulumi.Output.secret(args.database_password)
            db_user, db_host = args.database_user, pulumi.Output.from_input(args.database_host)
            db_data = {}
        self._db_secret = secret("database-credentials", f"{name}-database",
                                 {"username": db_user, "password": password, **db_data})

        store_url = endpoint.apply(urlsplit)
        k8s.core.v1.ConfigMap(f"{name}-install-config", metadata=meta(INSTALL_CONFIGMAP), data={
            "dbType": "mysql",
            "mysqlHost": db_host,
            "mysqlPort": str(args.database_port),
            "pipelineDb": PIPELINE_DATABASE,
            "mlmdDb": METADATA_DATABASE,
            "ConMaxLifeTime": "120s",
            "bucketName": args.bucket,
            "objectStoreHost": store_url.apply(lambda p: p.hostname),
            "objectStorePort": store_url.apply(lambda p: str(p.port or (443 if p.scheme == "https" else 80))),
            "objectStoreSecure": store_url.apply(lambda p: str(p.scheme == "https").lower()),
            "objectStoreRegion": S3_REGION,
            "autoUpdatePipelineDefaultVersion": "true",
            "cronScheduleTimezone": "UTC",
        }, opts=child)
        database = self._database() if args.database_mode == "inCluster" else []
        self._user_cluster_roles()
        api_server = self._api_server(crds + database)
        metadata_server = self._metadata_server(database)
        self._persistence_agent(crds)
        self._scheduled_workflow(crds)
        controller = self._workflow_controller(crds)
        ui = self._ui(api_server, metadata_server, store_url) if args.ui else None
        self._network_policies()

        self.namespace = self._ns
        self.endpoint = pulumi.Output.concat(f"http://{API_SERVICE}.", self._ns, f".svc.cluster.local:{API_HTTP_PORT}")
        self.ui_endpoint = (pulumi.Output.concat(f"http://{UI_SERVICE}.", self._ns, f".svc.cluster.local:{UI_SERVICE_PORT}")
                            if args.ui else pulumi.Output.from_input(""))
        self.register_outputs({
            "endpoint": self.endpoint, "namespace": self.namespace,
            "ui_endpoint": self.ui_endpoint,
            "api_server": api_server.urn, "metadata_server": metadata_server.urn, "workflow_controller": controller.urn,
            **({"ui": ui.urn} if ui else {}),
        })

    @staticmethod
    def _validate(name: str, args: KubeflowPipelinesArgs) -> None:
        if args.database_mode not in DATABASE_MODES:
            raise ValueError(f"KubeflowPipelines {name}: database_mode={args.database_mode!r}; "
                             f"allowed values: {', '.join(DATABASE_MODES)}")
        if args.database_mode == "external":
            missing = [field for field in ("database_host", "database_user", "database_password") if not getattr(args, field)]
            if missing:
                raise ValueError(f"KubeflowPipelines {name}: database_mode='external' needs {', '.join(missing)}")
        needed = WORKLOADS + (UI_WORKLOADS if args.ui else ())
        missing = [workload for workload in needed if workload not in args.resources]
        if missing:
            raise ValueError(f"KubeflowPipelines {name}: resources lacks {', '.join(missing)}; needed: {', '.join(needed)}")
        if args.ui and not (args.images.ui and args.images.metadata_envoy):
            raise ValueError(f"KubeflowPipelines {name}: ui=True needs images.ui and images.metadata_envoy")

    # --- cluster-scoped -------------------------------------------------------------------------

    def _custom_resource_definitions(self) -> list[pulumi.Resource]:
        """Argo's CRDs and KFP's ScheduledWorkflow, schema-less (preserve-unknown-fields) like
        upstream's minimal CRDs: the controllers validate their own objects."""
        definitions = [("argoproj.io", "v1alpha1", *crd) for crd in _ARGO_CRDS]
        definitions.append(("kubeflow.org", "v1beta1", "ScheduledWorkflow", "scheduledworkflows", ["swf"], "Namespaced", False))
        crds = []
        for group, version, kind, plural, short_names, scope, status in definitions:
            crds.append(k8s.apiextensions.v1.CustomResourceDefinition(
                f"{self._name}-crd-{plural}",
                metadata={"name": f"{plural}.{group}", "labels": labels(self._name, "pipelines")},
                spec={
                    "group": group,
                    "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower(),
                              **({"shortNames": short_names} if short_names else {})},
                    "scope": scope,
                    "versions": [{
                        "name": version, "served": True, "storage": True,
                        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                        **({"subresources": {"status": {}}} if status else {}),
                    }],
                },
                opts=pulumi.ResourceOptions(parent=self),
            ))
        return crds

    # --- RBAC ---------------------------------------------------------------------------------------

    def _service_account(self, account: str, rules: list[dict], automount: bool = True,
                         cluster_rules: list[dict] | None = None) -> pulumi.Output[str]:
        """A ServiceAccount; when `rules` are given, a Role of the same name bound to it (this
        namespace), and when `cluster_rules` are, a ClusterRole `<namespace>-<account>` bound to
        it (every namespace: the controllers of multi-user mode)."""
        child = pulumi.ResourceOptions(parent=self)
        meta = {"name": account, "namespace": self._ns, "labels": labels(account, "pipelines")}
        sa = k8s.core.v1.ServiceAccount(f"{self._name}-sa-{account}", metadata=meta,
                                        automount_service_account_token=automount, opts=child)
        subjects = [{"kind": "ServiceAccount", "name": account, "namespace": self._ns}]
        if rules:
            role = k8s.rbac.v1.Role(f"{self._name}-role-{account}", metadata=meta, rules=rules, opts=child)
            k8s.rbac.v1.RoleBinding(
                f"{self._name}-binding-{account}",
                metadata=meta,
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                          "name": role.metadata.apply(lambda m: m["name"])},
                subjects=subjects,
                opts=child,
            )
        if cluster_rules:
            cluster_meta = {"name": f"{self._args.namespace}-{account}", "labels": labels(account, "pipelines")}
            role = k8s.rbac.v1.ClusterRole(f"{self._name}-clusterrole-{account}", metadata=cluster_meta,
                                           rules=cluster_rules, opts=child)
            k8s.rbac.v1.ClusterRoleBinding(
                f"{self._name}-clusterbinding-{account}",
                metadata=cluster_meta,
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                          "name": role.metadata.apply(lambda m: m["name"])},
                subjects=subjects,
                opts=child,
            )
        return sa.metadata.apply(lambda m: m["name"])

    def _user_cluster_roles(self) -> None:
        """What people and programs may do through the API server, checked by its
        SubjectAccessReviews (verbs of KFP 2.14's resource manager): EDIT_CLUSTER_ROLE runs and
        manages pipelines, VIEW_CLUSTER_ROLE reads. Tenants binds them in each tenant namespace."""
        for role_name, rules in ((EDIT_CLUSTER_ROLE, EDIT_RULES), (VIEW_CLUSTER_ROLE, VIEW_RULES)):
            k8s.rbac.v1.ClusterRole(f"{self._name}-{role_name}", metadata={
                "name": role_name, "labels": labels(role_name, "pipelines")}, rules=rules,
                opts=pulumi.ResourceOptions(parent=self))

    # --- workloads ----------------------------------------------------------------------------------

    def _workload(self, kind: str, workload: str, resource_name: str, uid: int, containers: list[dict],
                  service_account: pulumi.Input[str] | None = None, volumes: list[dict] | None = None,
                  depends_on: list[pulumi.Resource] | None = None, **spec) -> pulumi.CustomResource:
        args = self._args
        for container in containers:
            container.setdefault("imagePullPolicy", args.image_pull_policy)
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
                "selector": {"matchLabels": _selector(workload)},
                "template": {"metadata": {"labels": workload_labels}, "spec": pod_spec},
                **spec,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on or []),
        )

    def _service(self, service: str, workload: str, ports: list[tuple[str, int] | tuple[str, int, int]],
                 headless: bool = False) -> None:
        """A Service for `workload`; each port is (name, port) or (name, port, container port)."""
        k8s.core.v1.Service(
            f"{self._name}-svc-{service}",
            metadata={"name": service, "namespace": self._ns, "labels": labels(workload, "pipelines")},
            spec={
                "selector": _selector(workload),
                "ports": [{"name": port_name, "port": port, "targetPort": target[0] if target else port, "protocol": "TCP"}
                          for port_name, port, *target in ports],
                **({"clusterIP": "None"} if headless else {}),
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _database_env(self, host_env: str, port_env: str, user_env: str, password_env: str) -> list[dict]:
        return [
            _env_from_config(host_env, "mysqlHost"),
            _env_from_config(port_env, "mysqlPort"),
            _env_from_secret(user_env, self._db_secret, "username"),
            _env_from_secret(password_env, self._db_secret, "password"),
        ]

    def _database(self) -> list[pulumi.Resource]:
        """MySQL (offline: MariaDB with the same interface) for both databases. The image's
        entrypoint creates the user on first start; an init script then creates `mlpipeline` and
        `metadb` and grants the user all privileges on them only (KFP's own `CREATE DATABASE`
        then meets "database exists", which it ignores)."""
        args, workload = self._args, f"{self._name}-db"
        init = k8s.core.v1.ConfigMap(f"{self._name}-db-init", metadata={
            "name": f"{workload}-init", "namespace": self._ns, "labels": labels(workload, "pipelines")},
            data={"10-databases.sql": "".join(
                f"CREATE DATABASE IF NOT EXISTS `{db}`;\nGRANT ALL PRIVILEGES ON `{db}`.* TO '{_DB_USER_IN_CLUSTER}'@'%';\n"
                for db in (PIPELINE_DATABASE, METADATA_DATABASE))},
            opts=pulumi.ResourceOptions(parent=self))
        probe = {"tcpSocket": {"port": DATABASE_PORT}, "periodSeconds": 5, "timeoutSeconds": 3}
        claim = {
            "metadata": {"name": "data", "labels": labels(workload, "pipelines")},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": args.database_volume_size}},
                **({"storageClassName": args.storage_class} if args.storage_class else {}),
            },
        }
        self._service(workload, workload, [("mysql", DATABASE_PORT)], headless=True)
        statefulset = self._workload("StatefulSet", workload, "database", _MYSQL_UID, [{
            "name": "mysql",
            "image": args.images.database,
            "env": [
                _env_from_secret("MYSQL_ROOT_PASSWORD", self._db_secret, "root-password"),
                {"name": "MYSQL_USER", "value": _DB_USER_IN_CLUSTER},
                _env_from_secret("MYSQL_PASSWORD", self._db_secret, "password"),
            ],
            "ports": [{"name": "mysql", "containerPort": DATABASE_PORT}],
            "readinessProbe": probe,
            "livenessProbe": {**probe, "initialDelaySeconds": 60, "periodSeconds": 20, "failureThreshold": 6},
            "resources": args.resources["database"].to_kubernetes(),
            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql"},
                             {"name": "init", "mountPath": "/docker-entrypoint-initdb.d", "readOnly": True},
                             {"name": "run", "mountPath": "/run/mysqld"},
                             {"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 (the pod's own emptyDir)
        }], volumes=[{"name": "init", "configMap": {"name": init.metadata.apply(lambda m: m["name"])}},
                     {"name": "run", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
            serviceName=workload, volumeClaimTemplates=[claim])
        return [statefulset]

    def _api_server(self, depends_on: list[pulumi.Resource]) -> pulumi.CustomResource:
        """The API server (backend/src/apiserver): viper maps each config key to an environment
        variable, dots to underscores and upper-cased (DBDriverName -> DBDRIVERNAME)."""
        args = self._args
        account = self._service_account(API_SERVICE, [], cluster_rules=[
            _rule([""], ["pods", "pods/log"], ["get", "list", "delete"]),
            _rule(["argoproj.io"], ["workflows"], ["create", "get", "list", "watch", "update", "patch", "delete"]),
            _rule(["kubeflow.org"], ["scheduledworkflows"], ["create", "get", "list", "update", "patch", "delete"]),
            _rule(["kubeflow.org"], ["scheduledworkflows/finalizers"], ["update"]),
            # Who the caller is, and what it may do.
            _rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
            _rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
        ])
        health = {"httpGet": {"path": "/apis/v1beta1/healthz", "port": API_HTTP_PORT}, "periodSeconds": 5, "timeoutSeconds": 2}
        self._service(API_SERVICE, API_SERVICE, [("http", API_HTTP_PORT), ("grpc", API_GRPC_PORT)])
        return self._workload("Deployment", API_SERVICE, "api-server", _KFP_UID, [{
            "name": "ml-pipeline-api-server",
            "image": args.images.api_server,
            # Upstream's image command without the samples (they need images from the internet).
            "command": ["/bin/apiserver"],
            "args": ["--config=/config", "-logtostderr=true", "--logLevel=info"],
            "env": [
                _env_from_field("POD_NAMESPACE", "metadata.namespace"),
                _env_from_config("DBDRIVERNAME", "dbType"),
                *self._database_env("DBCONFIG_MYSQLCONFIG_HOST", "DBCONFIG_MYSQLCONFIG_PORT",
                                    "DBCONFIG_MYSQLCONFIG_USER", "DBCONFIG_MYSQLCONFIG_PASSWORD"),
                _env_from_config("DBCONFIG_MYSQLCONFIG_DBNAME", "pipelineDb"),
                _env_from_config("DBCONFIG_CONMAXLIFETIME", "ConMaxLifeTime"),
                _env_from_config("OBJECTSTORECONFIG_HOST", "objectStoreHost"),
                _env_from_config("OBJECTSTORECONFIG_PORT", "objectStorePort"),
                _env_from_config("OBJECTSTORECONFIG_SECURE", "objectStoreSecure"),
                _env_from_config("OBJECTSTORECONFIG_REGION", "objectStoreRegion"),
                _env_from_config("OBJECTSTORECONFIG_BUCKETNAME", "bucketName"),
                _env_from_secret("OBJECTSTORECONFIG_ACCESSKEY", self._artifact_secret, "accesskey"),
                _env_from_secret("OBJECTSTORECONFIG_SECRETACCESSKEY", self._artifact_secret, "secretkey"),
                _env_from_config("AUTO_UPDATE_PIPELINE_DEFAULT_VERSION", "autoUpdatePipelineDefaultVersion"),
                # What the compiled Argo Workflows run (backend/src/v2/compiler/argocompiler).
                {"name": "V2_DRIVER_IMAGE", "value": args.images.driver},
                {"name": "V2_LAUNCHER_IMAGE", "value": args.images.launcher},
                # Required at start (upstream gets them from the visualization server's Service
                # links); that server (v1 visualizations, TensorFlow) is not deployed, so only
                # calls to the visualization API fail.
                {"name": "ML_PIPELINE_VISUALIZATIONSERVER_SERVICE_HOST", "value": "ml-pipeline-visualizationserver"},
                {"name": "ML_PIPELINE_VISUALIZATIONSERVER_SERVICE_PORT", "value": "8888"},
                {"name": "PUBLISH_LOGS", "value": "true"},
                # Multi-user mode: runs in their experiment's namespace, as its pipeline runner;
                # callers known by their token only (IDENTITY_HEADER_DISABLED).
                {"name": "MULTIUSER", "value": "true"},
                {"name": "DEFAULTPIPELINERUNNERSERVICEACCOUNT", "value": PIPELINE_RUNNER},
                {"name": "KUBEFLOW_USERID_HEADER", "value": IDENTITY_HEADER_DISABLED},
                {"name": "KUBEFLOW_USERID_PREFIX", "value": ""},
                {"name": "TOKEN_REVIEW_AUDIENCE", "value": TOKEN_AUDIENCE},
                {"name": "PIPELINE_LOG_LEVEL", "value": "1"},
            ],
            "ports": [{"name": "http", "containerPort": API_HTTP_PORT}, {"name": "grpc", "containerPort": API_GRPC_PORT}],
            "readinessProbe": health,
            "livenessProbe": health,
            # Connecting to the database and migrating it may take minutes on a first start.
            "startupProbe": {**health, "failureThreshold": 60},
            "resources": args.resources["api-server"].to_kubernetes(),
        }], service_account=account, depends_on=depends_on)

    def _metadata_server(self, depends_on: list[pulumi.Resource]) -> pulumi.CustomResource:
        """The ML Metadata gRPC server with the MySQL flags of upstream's manifest; the
        password reaches the command line by Kubernetes' $(VAR) expansion, never the manifest."""
        args, workload = self._args, "metadata-grpc-deployment"
        self._service(METADATA_SERVICE, workload, [("grpc-api", METADATA_GRPC_PORT)])
        probe = {"tcpSocket": {"port": METADATA_GRPC_PORT}, "periodSeconds": 5, "timeoutSeconds": 2}
        return self._workload("Deployment", workload, "metadata-server", _KFP_UID, [{
            "name": "metadata-grpc",
            "image": args.images.metadata_server,
            "command": ["/bin/metadata_store_server"],
            "args": [
                f"--grpc_port={METADATA_GRPC_PORT}",
                "--mysql_config_database=$(DB_NAME)",
                "--mysql_config_host=$(DB_HOST)",
                "--mysql_config_port=$(DB_PORT)",
                "--mysql_config_user=$(DB_USER)",
                "--mysql_config_password=$(DB_PASSWORD)",
                "--enable_database_upgrade=true",
            ],
            "env": [*self._database_env("DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD"), _env_from_config("DB_NAME", "mlmdDb")],
            "ports": [{"name": "grpc-api", "containerPort": METADATA_GRPC_PORT}],
            "readinessProbe": probe,
            "livenessProbe": {**probe, "initialDelaySeconds": 30, "periodSeconds": 10, "failureThreshold": 6},
            "resources": args.resources["metadata-grpc"].to_kubernetes(),
        }], service_account=self._service_account("metadata-grpc-server", [], automount=False), depends_on=depends_on)

    def _ui(self, api_server: pulumi.Resource, metadata_server: pulumi.Resource,
            store_url: pulumi.Output) -> pulumi.CustomResource:
        """The web UI (frontend/server of KFP 2.14.3): its Node server serves the static app,
        proxies /apis/v1beta1 and /apis/v2beta1 to the API server and /ml_metadata.* to the
        gRPC-Web proxy, and reads artifacts and archived step logs from the bucket with the
        scoped user's keys (from the Secret; for v2 artifacts it reads the Secret that the
        launcher's provider config names, hence `get` on that one Secret only) and live logs from
        the pods. The gRPC-Web proxy (upstream: an Envoy; offline: offline/images/metadata/
        grpc_web_proxy.py) answers the browser's metadata calls and accepts only the UI's pod."""
        args = self._args
        envoy_workload = "metadata-envoy-deployment"
        self._service(METADATA_ENVOY_SERVICE, envoy_workload, [("md-envoy", METADATA_ENVOY_PORT)])
        envoy_probe = {"tcpSocket": {"port": METADATA_ENVOY_PORT}, "periodSeconds": 10, "timeoutSeconds": 2}
        self._workload("Deployment", envoy_workload, "metadata-envoy", _KFP_UID, [{
            "name": "container",
            "image": args.images.metadata_envoy,
            # Read by the offline proxy; upstream's Envoy has the same target in its config.
            "env": [{"name": "GRPC_WEB_UPSTREAM", "value": f"{METADATA_SERVICE}:{METADATA_GRPC_PORT}"},
                    {"name": "GRPC_WEB_PORT", "value": str(METADATA_ENVOY_PORT)}],
            "ports": [{"name": "md-envoy", "containerPort": METADATA_ENVOY_PORT}],
            "readinessProbe": envoy_probe,
            "livenessProbe": {**envoy_probe, "initialDelaySeconds": 10, "failureThreshold": 6},
            "resources": args.resources["metadata-envoy"].to_kubernetes(),
        }], depends_on=[metadata_server])

        account = self._service_account(UI_SERVICE, [], cluster_rules=[
            _rule([""], ["pods", "pods/log", "events"], ["get", "list"]),
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": [ARTIFACT_SECRET]},
            _rule(["argoproj.io"], ["workflows"], ["get", "list"]),
        ])
        self._service(UI_SERVICE, UI_SERVICE, [("http", UI_SERVICE_PORT, UI_PORT)])
        ready = {"httpGet": {"path": "/apis/v2beta1/healthz", "port": UI_PORT}, "periodSeconds": 10, "timeoutSeconds": 3}
        alive = {"httpGet": {"path": "/", "port": UI_PORT}, "periodSeconds": 20, "timeoutSeconds": 3, "failureThreshold": 6}
        secure = store_url.apply(lambda p: str(p.scheme == "https").lower())
        return self._workload("Deployment", UI_SERVICE, "ui", _KFP_UID, [{
            "name": "ml-pipeline-ui",
            "image": args.images.ui,
            "env": [
                {"name": "ML_PIPELINE_SERVICE_HOST", "value": pulumi.Output.concat(API_SERVICE, ".", self._ns, ".svc.cluster.local")},
                {"name": "ML_PIPELINE_SERVICE_PORT", "value": str(API_HTTP_PORT)},
                {"name": "METADATA_ENVOY_SERVICE_SERVICE_HOST",
                 "value": pulumi.Output.concat(METADATA_ENVOY_SERVICE, ".", self._ns, ".svc.cluster.local")},
                {"name": "METADATA_ENVOY_SERVICE_SERVICE_PORT", "value": str(METADATA_ENVOY_PORT)},
                # The object store, for minio:// artifacts and Argo's archived logs ("" namespace:
                # the host is used as given, not suffixed with ".kubeflow").
                _env_from_config("MINIO_HOST", "objectStoreHost"),
                _env_from_config("MINIO_PORT", "objectStorePort"),
                {"name": "MINIO_NAMESPACE", "value": ""},
                {"name": "MINIO_SSL", "value": secure},
                _env_from_secret("MINIO_ACCESS_KEY", self._artifact_secret, "accesskey"),
                _env_from_secret("MINIO_SECRET_KEY", self._artifact_secret, "secretkey"),
                {"name": "ARGO_ARCHIVE_LOGS", "value": "true"},
                {"name": "ARGO_ARCHIVE_ARTIFACTORY", "value": "minio"},
                {"name": "ARGO_ARCHIVE_BUCKETNAME", "value": args.bucket},
                {"name": "FRONTEND_SERVER_NAMESPACE", "value": self._ns},
                {"name": "DISABLE_GKE_METADATA", "value": "true"},
                {"name": "ALLOW_CUSTOM_VISUALIZATIONS", "value": "false"},
            ],
            "ports": [{"name": "http", "containerPort": UI_PORT}],
            "readinessProbe": ready,
            "livenessProbe": {**alive, "initialDelaySeconds": 10},
            "resources": args.resources["ui"].to_kubernetes(),
        }], service_account=account, depends_on=[api_server])

    def _token_volume(self, file_name: str) -> tuple[dict, dict]:
        """The projected token the agent and the scheduler present to the API server."""
        volume = {"name": "api-token", "projected": {"sources": [{"serviceAccountToken": {
            "path": file_name, "expirationSeconds": 3600, "audience": TOKEN_AUDIENCE}}]}}
        return volume, {"name": "api-token", "mountPath": "/var/run/secrets/kubeflow/tokens", "readOnly": True}

    def _persistence_agent(self, depends_on: list[pulumi.Resource]) -> pulumi.CustomResource:
        """Reports Workflow status to the API server; deletes finished Workflows after a day."""
        args, workload = self._args, "ml-pipeline-persistenceagent"
        account = self._service_account(workload, [], cluster_rules=[
            _rule(["argoproj.io"], ["workflows"], ["get", "list", "watch"]),
            _rule(["kubeflow.org"], ["scheduledworkflows"], ["get", "list", "watch"]),
            # Checked by the API server when the agent reports.
            _rule([PIPELINES_GROUP], ["scheduledworkflows", "workflows"], ["report"]),
            _rule([PIPELINES_GROUP], ["runs"], ["reportMetrics", "readArtifact"]),
        ])
        volume, mount = self._token_volume("persistenceagent-sa-token")
        return self._workload("Deployment", workload, "persistence-agent", _KFP_UID, [{
            "name": "ml-pipeline-persistenceagent",
            "image": args.images.persistence_agent,
            "command": ["/bin/persistence_agent"],
            # No --namespace: every namespace (multi-user mode).
            "args": ["--logtostderr=true", "--ttlSecondsAfterWorkflowFinish=86400",
                     "--numWorker=2", "--executionType=Workflow", "--logLevel=info"],
            "resources": args.resources["persistence-agent"].to_kubernetes(),
            "volumeMounts": [mount],
        }], service_account=account, volumes=[volume], depends_on=depends_on)

    def _scheduled_workflow(self, depends_on: list[pulumi.Resource]) -> pulumi.CustomResource:
        """Starts the runs of recurring jobs (ScheduledWorkflow objects) through the API server."""
        args, workload = self._args, "ml-pipeline-scheduledworkflow"
        account = self._service_account(workload, [], cluster_rules=[
            _rule(["argoproj.io"], ["workflows"], ["create", "get", "list", "watch", "update", "patch", "delete"]),
            _rule(["kubeflow.org"], ["scheduledworkflows", "scheduledworkflows/finalizers"],
                  ["create", "get", "list", "watch", "update", "patch", "delete"]),
            _rule([""], ["events"], ["create", "patch"]),
            _rule([PIPELINES_GROUP], ["runs"], ["create"]),
        ])
        volume, mount = self._token_volume("scheduledworkflow-sa-token")
        return self._workload("Deployment", workload, "scheduled-workflow", _KFP_UID, [{
            "name": "ml-pipeline-scheduledworkflow",
            "image": args.images.scheduled_workflow,
            "command": ["/bin/controller"],
            "args": ["--logtostderr=true", "--logLevel=info"],  # every namespace
            "env": [_env_from_config("CRON_SCHEDULE_TIMEZONE", "cronScheduleTimezone")],
            "resources": args.resources["scheduled-workflow"].to_kubernetes(),
            "volumeMounts": [mount],
        }], service_account=account, volumes=[volume], depends_on=depends_on)

    def _workflow_controller(self, depends_on: list[pulumi.Resource]) -> pulumi.CustomResource:
        """Argo's controller for every namespace (multi-user mode runs workflows in the tenants'):
        a ClusterRole as Argo's cluster install has, but Secrets read by name (the bucket's of each
        pipelines namespace), and its leader lease in this namespace (a Role); its config is
        workflow_controller_config()."""
        args, workload = self._args, "workflow-controller"
        config = k8s.core.v1.ConfigMap(
            f"{self._name}-workflow-controller-config",
            metadata={"name": WORKFLOW_CONTROLLER_CONFIGMAP, "namespace": self._ns, "labels": labels(workload, "pipelines")},
            data=workflow_controller_config(args.resources["argo-executor"], args.namespace),
            opts=pulumi.ResourceOptions(parent=self),
        )
        crud = ["get", "list", "watch", "update", "patch", "delete", "create"]
        account = self._service_account("argo", [
            _rule(["coordination.k8s.io"], ["leases"], ["create", "get", "update"]),
        ], cluster_rules=[
            _rule([""], ["pods", "pods/exec"], ["create", "get", "list", "watch", "update", "patch", "delete"]),
            _rule([""], ["configmaps"], ["get", "watch", "list"]),
            _rule([""], ["persistentvolumeclaims", "persistentvolumeclaims/finalizers"], ["create", "update", "delete", "get"]),
            _rule(["argoproj.io"], ["workflows", "workflows/finalizers", "workflowtasksets", "workflowtasksets/finalizers",
                                    "workflowartifactgctasks"], crud),
            _rule(["argoproj.io"], ["workflowtemplates", "workflowtemplates/finalizers"], ["get", "list", "watch"]),
            _rule(["argoproj.io"], ["workflowtaskresults"], ["list", "watch", "deletecollection"]),
            _rule([""], ["serviceaccounts"], ["get", "list"]),
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": [ARTIFACT_SECRET]},
            _rule(["argoproj.io"], ["cronworkflows", "cronworkflows/finalizers"], ["get", "list", "watch", "update", "patch", "delete"]),
            _rule([""], ["events"], ["create", "patch"]),
            _rule(["policy"], ["poddisruptionbudgets"], ["create", "get", "delete"]),
        ])
        return self._workload("Deployment", workload, "workflow-controller", _ARGO_UID, [{
            "name": "workflow-controller",
            "image": args.images.workflow_controller,
            "command": ["workflow-controller"],
            "args": ["--configmap", WORKFLOW_CONTROLLER_CONFIGMAP,
                     "--executor-image", args.images.argoexec,
                     "--executor-image-pull-policy", args.image_pull_policy],
            "env": [_env_from_field("LEADER_ELECTION_IDENTITY", "metadata.name")],
            "ports": [{"name": "metrics", "containerPort": 9090}, {"name": "healthz", "containerPort": 6060}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 6060}, "initialDelaySeconds": 90,
                              "periodSeconds": 60, "timeoutSeconds": 30, "failureThreshold": 3},
            "securityContext": {"readOnlyRootFilesystem": True},
            "resources": args.resources["workflow-controller"].to_kubernetes(),
        }], service_account=account, depends_on=[*depends_on, config])

    # --- network ------------------------------------------------------------------------------------

    def _network_policies(self) -> None:
        args, child = self._args, pulumi.ResourceOptions(parent=self)
        deny = k8s.networking.v1.NetworkPolicy(
            f"{self._name}-default-deny",
            metadata={"name": "default-deny-ingress", "namespace": self._ns, "labels": {"app.kubernetes.io/part-of": PART_OF}},
            spec={"podSelector": {}, "policyTypes": ["Ingress"]},
            opts=child,
        )
        # The pipelines namespaces: programs call the API server, the driver and launcher of each
        # step its task API and the metadata server.
        pipelines = list(args.pipelines_namespaces)
        ingress_policy(f"{self._name}-allow-api-server", self._ns, _selector(API_SERVICE), (API_HTTP_PORT, API_GRPC_PORT),
                       pipelines, args.client_cidrs, self)
        ingress_policy(f"{self._name}-allow-metadata-grpc", self._ns, _selector("metadata-grpc-deployment"), METADATA_GRPC_PORT,
                       pipelines, (), self)
        if args.ui:
            ingress_policy(f"{self._name}-allow-ui", self._ns, _selector(UI_SERVICE), UI_PORT, [], args.client_cidrs, self)
            k8s.networking.v1.NetworkPolicy(
                f"{self._name}-allow-metadata-envoy",
                metadata={"name": f"{self._name}-allow-metadata-envoy", "namespace": self._ns,
                          "labels": {"app.kubernetes.io/part-of": PART_OF}},
                spec={
                    "podSelector": {"matchLabels": _selector("metadata-envoy-deployment")},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"podSelector": {"matchLabels": _selector(UI_SERVICE)}}],
                                 "ports": [{"protocol": "TCP", "port": METADATA_ENVOY_PORT}]}],
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[deny]),
            )
        if args.database_mode == "inCluster":
            k8s.networking.v1.NetworkPolicy(
                f"{self._name}-allow-database",
                metadata={"name": f"{self._name}-allow-database", "namespace": self._ns,
                          "labels": {"app.kubernetes.io/part-of": PART_OF}},
                spec={
                    "podSelector": {"matchLabels": _selector(f"{self._name}-db")},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"podSelector": {"matchLabels": _selector(client)}}
                                          for client in (API_SERVICE, "metadata-grpc-deployment")],
                                 "ports": [{"protocol": "TCP", "port": DATABASE_PORT}]}],
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[deny]),
            )

