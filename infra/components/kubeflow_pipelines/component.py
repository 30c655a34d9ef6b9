"""KubeflowPipelines: the namespace and what its parts share, and the parts as child components."""

from __future__ import annotations

from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from infra.components.common import PART_OF, ingress_policy, labels, namespace
from infra.components.kubeflow_pipelines.api_server import KubeflowPipelinesApiServer
from infra.components.kubeflow_pipelines.argo import KubeflowPipelinesArgo
from infra.components.kubeflow_pipelines.common import (
    API_GRPC_PORT,
    API_HTTP_PORT,
    API_SERVICE,
    ARGO_METRICS_PORT,
    ARTIFACT_SECRET,
    DATABASE_PORT,
    INSTALL_CONFIGMAP,
    METADATA_DATABASE,
    METADATA_ENVOY_PORT,
    METADATA_ENVOY_WORKLOAD,
    METADATA_GRPC_PORT,
    METADATA_WORKLOAD,
    PEOPLE_API_SERVICE,
    PIPELINE_DATABASE,
    PIPELINES_GROUP,
    S3_REGION,
    UI_PORT,
    UI_SERVICE,
    UI_SERVICE_PORT,
    UI_WORKLOADS,
    WORKFLOW_CONTROLLER,
    WORKLOADS,
    KubeflowPipelinesArgs,
    Shared,
    rule,
    selector,
)
from infra.components.kubeflow_pipelines.database import KubeflowPipelinesDatabase
from infra.components.kubeflow_pipelines.metadata import KubeflowPipelinesMetadata
from infra.components.kubeflow_pipelines.ui import KubeflowPipelinesUi
from infra.components.monitoring import ScrapeTarget
from infra.config import DATABASE_MODES

# The ClusterRoles that the API server's SubjectAccessReviews check; Tenants binds them.
EDIT_CLUSTER_ROLE = "mlops-pipelines-edit"
VIEW_CLUSTER_ROLE = "mlops-pipelines-view"
VIEW_RULES = [
    rule([PIPELINES_GROUP], ["pipelines", "pipelines/versions", "experiments", "jobs"], ["get", "list"]),
    rule([PIPELINES_GROUP], ["runs"], ["get", "list", "readArtifact"]),
]
EDIT_RULES = [
    *VIEW_RULES,
    rule([PIPELINES_GROUP], ["pipelines", "pipelines/versions"], ["create", "delete", "update"]),
    rule([PIPELINES_GROUP], ["experiments"], ["archive", "create", "delete", "unarchive"]),
    rule([PIPELINES_GROUP], ["runs"], ["archive", "create", "delete", "retry", "terminate", "unarchive",
                                       "reportMetrics"]),
    rule([PIPELINES_GROUP], ["jobs"], ["create", "delete", "disable", "enable"]),
]
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


class KubeflowPipelines(pulumi.ComponentResource):
    """The namespace, the CRDs (Argo's and ScheduledWorkflow: the API server, the controllers and
    Argo all use them), the bucket credentials Secret, the ConfigMap the KFP programs read, the
    ClusterRoles that users are bound to and the NetworkPolicies (ingress denied except the API
    server from the namespace, the pipelines namespaces and the client CIDRs, the metadata server
    from the namespace and the pipelines namespaces, and the database from the API and metadata
    servers); the workloads are its child components: database, API server and controllers,
    metadata server, Argo and, with config.ui, the UI."""

    endpoint: pulumi.Output[str]
    namespace: pulumi.Output[str]
    ui_endpoint: pulumi.Output[str]  # "" without the UI
    # The database's host, port, user and password (a secret): the platform's backup logs in with it.
    database_host: pulumi.Output[str]
    database_port: int
    database_user: str
    database_password: pulumi.Output[str]
    # The Deployments that write its databases (a restore stops them meanwhile).
    database_writers: tuple[str, ...]
    # What the Monitoring component scrapes: the API server (the alert rules' job `kfp-api`) and
    # Argo's controller (`argo`: its workflow counts carry the runs' namespaces).
    metrics_targets: tuple[ScrapeTarget, ...]

    def __init__(self, name: str, args: KubeflowPipelinesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops-platform:platform:KubeflowPipelines", name, None, opts)
        self._validate(name, args)
        self._name, self._args = name, args
        self._people = bool(args.people_login_namespace)
        self.database_writers = (API_SERVICE, METADATA_WORKLOAD) + ((PEOPLE_API_SERVICE,) if self._people else ())
        self.metrics_targets = (
            ScrapeTarget("kfp-api", (args.config.namespace,), selector(API_SERVICE), API_HTTP_PORT),
            ScrapeTarget("argo", (args.config.namespace,), selector(WORKFLOW_CONTROLLER), ARGO_METRICS_PORT, honor_labels=True))
        config = args.config
        child = pulumi.ResourceOptions(parent=self)

        ns = namespace(f"{name}-ns", config.namespace, "pipelines", self, enforce="baseline", protect=args.protect_data)
        self._ns = ns.metadata.apply(lambda m: m["name"])
        shared = Shared(parent=self, name=name, args=args, namespace=self._ns)
        crds = self._custom_resource_definitions()

        def meta(object_name: str) -> dict:
            return {"name": object_name, "namespace": self._ns, "labels": labels(name, "pipelines")}

        artifact = k8s.core.v1.Secret(f"{name}-artifact-credentials", metadata=meta(ARTIFACT_SECRET), string_data={
            "accesskey": args.s3.access_key, "secretkey": pulumi.Output.secret(args.s3.secret_key)}, opts=child)
        artifact_secret = artifact.metadata.apply(lambda m: m["name"])
        database = KubeflowPipelinesDatabase(shared)

        store_url = pulumi.Output.from_input(args.s3.endpoint).apply(urlsplit)
        k8s.core.v1.ConfigMap(f"{name}-install-config", metadata=meta(INSTALL_CONFIGMAP), data={
            "dbType": "mysql",
            "mysqlHost": database.host,
            "mysqlPort": str(config.database.port),
            "pipelineDb": PIPELINE_DATABASE,
            "mlmdDb": METADATA_DATABASE,
            "ConMaxLifeTime": "120s",
            "bucketName": config.bucket,
            "objectStoreHost": store_url.apply(lambda p: p.hostname),
            "objectStorePort": store_url.apply(lambda p: str(p.port or (443 if p.scheme == "https" else 80))),
            "objectStoreSecure": store_url.apply(lambda p: str(p.scheme == "https").lower()),
            "objectStoreRegion": S3_REGION,
            "autoUpdatePipelineDefaultVersion": "true",
            "cronScheduleTimezone": "UTC",
        }, opts=child)
        self._user_cluster_roles()
        api = KubeflowPipelinesApiServer(shared, artifact_secret, database.credentials, crds, database.statefulsets)
        metadata = KubeflowPipelinesMetadata(shared, database.credentials, database.statefulsets)
        argo = KubeflowPipelinesArgo(shared, crds)
        ui = (KubeflowPipelinesUi(shared, artifact_secret, store_url, api.deployment, metadata.deployment)
              if config.ui else None)
        self._network_policies()

        self.namespace = self._ns
        self.database_host, self.database_port = database.host, config.database.port
        self.database_user, self.database_password = database.user, database.password
        self.endpoint = pulumi.Output.concat(f"http://{API_SERVICE}.", self._ns, f".svc.cluster.local:{API_HTTP_PORT}")
        self.ui_endpoint = (pulumi.Output.concat(f"http://{UI_SERVICE}.", self._ns, f".svc.cluster.local:{UI_SERVICE_PORT}")
                            if config.ui else pulumi.Output.from_input(""))
        self.register_outputs({
            "endpoint": self.endpoint, "namespace": self.namespace,
            "ui_endpoint": self.ui_endpoint,
            "api_server": api.deployment.urn, "metadata_server": metadata.deployment.urn,
            "workflow_controller": argo.deployment.urn,
            **({"ui": ui.deployment.urn} if ui else {}),
        })

    @staticmethod
    def _validate(name: str, args: KubeflowPipelinesArgs) -> None:
        config, database = args.config, args.config.database
        if database.mode not in DATABASE_MODES:
            raise ValueError(f"KubeflowPipelines {name}: config.database.mode={database.mode!r}; "
                             f"allowed values: {', '.join(DATABASE_MODES)}")
        if database.mode == "external":
            missing = [f"config.database.{field}" for field in ("host", "user") if not getattr(database, field)]
            missing += [] if args.database_password else ["database_password"]
            if missing:
                raise ValueError(f"KubeflowPipelines {name}: config.database.mode='external' needs {', '.join(missing)}")
        needed = WORKLOADS + (UI_WORKLOADS if config.ui else ())
        missing = [workload for workload in needed if workload not in config.resources]
        if missing:
            raise ValueError(f"KubeflowPipelines {name}: config.resources lacks {', '.join(missing)}; "
                             f"needed: {', '.join(needed)}")
        if config.ui and not (args.images.ui and args.images.metadata_envoy):
            raise ValueError(f"KubeflowPipelines {name}: config.ui=True needs images.ui and images.metadata_envoy")
        if args.people_login_namespace and not (config.ui and args.people_identity_header):
            raise ValueError(f"KubeflowPipelines {name}: people_login_namespace needs config.ui=True and "
                             "people_identity_header (the header the Login component's proxy sets)")

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

    def _user_cluster_roles(self) -> None:
        """What people and programs may do through the API server, checked by its
        SubjectAccessReviews (verbs of KFP 2.14's resource manager): EDIT_CLUSTER_ROLE runs and
        manages pipelines, VIEW_CLUSTER_ROLE reads. Tenants binds them in each tenant namespace."""
        for role_name, rules in ((EDIT_CLUSTER_ROLE, EDIT_RULES), (VIEW_CLUSTER_ROLE, VIEW_RULES)):
            k8s.rbac.v1.ClusterRole(f"{self._name}-{role_name}", metadata={
                "name": role_name, "labels": labels(role_name, "pipelines")}, rules=rules,
                opts=pulumi.ResourceOptions(parent=self))

    def _network_policies(self) -> None:
        args, config = self._args, self._args.config
        deny = k8s.networking.v1.NetworkPolicy(
            f"{self._name}-default-deny",
            metadata={"name": "default-deny-ingress", "namespace": self._ns, "labels": {"app.kubernetes.io/part-of": PART_OF}},
            spec={"podSelector": {}, "policyTypes": ["Ingress"]},
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The pipelines namespaces: programs call the API server, the driver and launcher of each
        # step its task API and the metadata server.
        pipelines = list(args.pipelines_namespaces)
        ingress_policy(f"{self._name}-allow-api-server", self._ns, selector(API_SERVICE), (API_HTTP_PORT, API_GRPC_PORT),
                       pipelines, args.client_cidrs, self)
        ingress_policy(f"{self._name}-allow-metadata-grpc", self._ns, selector(METADATA_WORKLOAD), METADATA_GRPC_PORT,
                       pipelines, (), self)
        if config.ui and self._people:
            # Signed-in people only: the UI from the Login component's proxy (and this namespace's
            # own pods, the platform's), the people API server, which trusts the identity header
            # the proxy sets, from the UI only.
            k8s.networking.v1.NetworkPolicy(
                f"{self._name}-allow-ui",
                metadata={"name": f"{self._name}-allow-ui", "namespace": self._ns,
                          "labels": {"app.kubernetes.io/part-of": PART_OF}},
                spec={"podSelector": {"matchLabels": selector(UI_SERVICE)}, "policyTypes": ["Ingress"],
                      "ingress": [{"from": [{"podSelector": {}}, {
                          "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": args.people_login_namespace}},
                          "podSelector": {"matchLabels": {"app.kubernetes.io/name": "oauth2-proxy"}}}],
                          "ports": [{"protocol": "TCP", "port": UI_PORT}]}]},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[deny]))
            self._allow_from_pods("allow-people-api-server", PEOPLE_API_SERVICE, [UI_SERVICE], API_HTTP_PORT, deny)
        elif config.ui:
            ingress_policy(f"{self._name}-allow-ui", self._ns, selector(UI_SERVICE), UI_PORT, [], args.client_cidrs, self)
        if config.ui:
            self._allow_from_pods("allow-metadata-envoy", METADATA_ENVOY_WORKLOAD, [UI_SERVICE], METADATA_ENVOY_PORT, deny)
        if config.database.mode == "inCluster":
            writers = [API_SERVICE, METADATA_WORKLOAD] + ([PEOPLE_API_SERVICE] if self._people else [])
            self._allow_from_pods("allow-database", f"{self._name}-db", writers, DATABASE_PORT, deny)
            if args.database_client_namespaces:
                # Only those namespaces (ingress_policy would admit this namespace's every pod too).
                k8s.networking.v1.NetworkPolicy(
                    f"{self._name}-allow-database-clients",
                    metadata={"name": f"{self._name}-allow-database-clients", "namespace": self._ns,
                              "labels": {"app.kubernetes.io/part-of": PART_OF}},
                    spec={"podSelector": {"matchLabels": selector(f"{self._name}-db")}, "policyTypes": ["Ingress"],
                          "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
                                                for ns in args.database_client_namespaces],
                                       "ports": [{"protocol": "TCP", "port": DATABASE_PORT}]}]},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[deny]))

    def _allow_from_pods(self, suffix: str, workload: str, clients: list[str], port: int,
                         deny: pulumi.Resource) -> None:
        """Ingress to `workload` on `port` from the pods of `clients` (this namespace) only."""
        k8s.networking.v1.NetworkPolicy(
            f"{self._name}-{suffix}",
            metadata={"name": f"{self._name}-{suffix}", "namespace": self._ns,
                      "labels": {"app.kubernetes.io/part-of": PART_OF}},
            spec={
                "podSelector": {"matchLabels": selector(workload)},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": selector(client)}} for client in clients],
                             "ports": [{"protocol": "TCP", "port": port}]}],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deny]),
        )
