"""The KFP API server and the two controllers that talk to it: the persistence agent and the
scheduled-workflow controller, all three for every namespace (multi-user mode)."""

from __future__ import annotations

import pulumi

from infra.components.kubeflow_pipelines.common import (
    API_GRPC_PORT,
    API_HTTP_PORT,
    API_SERVICE,
    KFP_UID,
    PEOPLE_API_SERVICE,
    PIPELINE_RUNNER,
    PIPELINES_GROUP,
    TOKEN_AUDIENCE,
    Part,
    Shared,
    env_from_config,
    env_from_field,
    env_from_secret,
    rule,
)

# KUBEFLOW_USERID_HEADER: spaces and parentheses are not allowed in HTTP or HTTP/2 header names,
# so no request can carry it and the API server's header authenticator never succeeds: callers
# are known by their token alone.
IDENTITY_HEADER_DISABLED = "(no identity header: bearer tokens only)"


class KubeflowPipelinesApiServer(Part):
    """`ml-pipeline` with its Service and ClusterRole, the persistence agent and the
    scheduled-workflow controller; the controllers present a projected token to the API server."""

    deployment: pulumi.CustomResource  # the API server's
    # The people API server's (with args.people_login_namespace), else None.
    people_deployment: pulumi.CustomResource | None

    def __init__(self, shared: Shared, artifact_secret: pulumi.Input[str], database_credentials: pulumi.Input[str],
                 crds: list[pulumi.Resource], database: list[pulumi.Resource]) -> None:
        super().__init__("KubeflowPipelinesApiServer", "api", shared)
        account = self._account()
        self.deployment = self._api_server(API_SERVICE, IDENTITY_HEADER_DISABLED, account, artifact_secret,
                                           database_credentials, crds + database)
        # The people API server starts once the first one has migrated the database.
        self.people_deployment = (self._api_server(PEOPLE_API_SERVICE, self._args.people_identity_header, account,
                                                   artifact_secret, database_credentials, [self.deployment])
                                  if self._args.people_login_namespace else None)
        self._persistence_agent(crds)
        self._scheduled_workflow(crds)
        self.register_outputs({"api_server": self.deployment.urn,
                               **({"people_api_server": self.people_deployment.urn} if self.people_deployment else {})})

    def _account(self) -> pulumi.Output[str]:
        """The API servers' ServiceAccount and ClusterRole."""
        return self.service_account(API_SERVICE, [], cluster_rules=[
            rule([""], ["pods", "pods/log"], ["get", "list", "delete"]),
            rule(["argoproj.io"], ["workflows"], ["create", "get", "list", "watch", "update", "patch", "delete"]),
            rule(["kubeflow.org"], ["scheduledworkflows"], ["create", "get", "list", "update", "patch", "delete"]),
            rule(["kubeflow.org"], ["scheduledworkflows/finalizers"], ["update"]),
            # Who the caller is, and what it may do.
            rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
            rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
        ])

    def _api_server(self, workload: str, identity_header: str, account: pulumi.Input[str],
                    artifact_secret: pulumi.Input[str], database_credentials: pulumi.Input[str],
                    depends_on: list[pulumi.Resource]) -> pulumi.CustomResource:
        """An API server (backend/src/apiserver): viper maps each config key to an environment
        variable, dots to underscores and upper-cased (DBDriverName -> DBDRIVERNAME). It knows a
        caller by `identity_header` when the request has it, else by its bearer token."""
        args = self._args
        health = {"httpGet": {"path": "/apis/v1beta1/healthz", "port": API_HTTP_PORT}, "periodSeconds": 5, "timeoutSeconds": 2}
        self.service(workload, workload, [("http", API_HTTP_PORT), ("grpc", API_GRPC_PORT)])
        return self.workload("Deployment", workload, "api-server" if workload == API_SERVICE else workload, KFP_UID, [{
            "name": "ml-pipeline-api-server",
            "image": args.images.api_server,
            # Upstream's image command without the samples (they need images from the internet).
            "command": ["/bin/apiserver"],
            "args": ["--config=/config", "-logtostderr=true", "--logLevel=info"],
            "env": [
                env_from_field("POD_NAMESPACE", "metadata.namespace"),
                env_from_config("DBDRIVERNAME", "dbType"),
                *self.database_env(database_credentials, "DBCONFIG_MYSQLCONFIG_HOST", "DBCONFIG_MYSQLCONFIG_PORT",
                                   "DBCONFIG_MYSQLCONFIG_USER", "DBCONFIG_MYSQLCONFIG_PASSWORD"),
                env_from_config("DBCONFIG_MYSQLCONFIG_DBNAME", "pipelineDb"),
                env_from_config("DBCONFIG_CONMAXLIFETIME", "ConMaxLifeTime"),
                env_from_config("OBJECTSTORECONFIG_HOST", "objectStoreHost"),
                env_from_config("OBJECTSTORECONFIG_PORT", "objectStorePort"),
                env_from_config("OBJECTSTORECONFIG_SECURE", "objectStoreSecure"),
                env_from_config("OBJECTSTORECONFIG_REGION", "objectStoreRegion"),
                env_from_config("OBJECTSTORECONFIG_BUCKETNAME", "bucketName"),
                env_from_secret("OBJECTSTORECONFIG_ACCESSKEY", artifact_secret, "accesskey"),
                env_from_secret("OBJECTSTORECONFIG_SECRETACCESSKEY", artifact_secret, "secretkey"),
                env_from_config("AUTO_UPDATE_PIPELINE_DEFAULT_VERSION", "autoUpdatePipelineDefaultVersion"),
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
                # callers known by their token only (IDENTITY_HEADER_DISABLED), or, on the people
                # API server, by the header oauth2-proxy sets.
                {"name": "MULTIUSER", "value": "true"},
                {"name": "DEFAULTPIPELINERUNNERSERVICEACCOUNT", "value": PIPELINE_RUNNER},
                {"name": "KUBEFLOW_USERID_HEADER", "value": identity_header},
                {"name": "KUBEFLOW_USERID_PREFIX", "value": ""},
                {"name": "TOKEN_REVIEW_AUDIENCE", "value": TOKEN_AUDIENCE},
                {"name": "PIPELINE_LOG_LEVEL", "value": "1"},
            ],
            "ports": [{"name": "http", "containerPort": API_HTTP_PORT}, {"name": "grpc", "containerPort": API_GRPC_PORT}],
            "readinessProbe": health,
            "livenessProbe": health,
            # Connecting to the database and migrating it may take minutes on a first start.
            "startupProbe": {**health, "failureThreshold": 60},
            "resources": args.config.resources["api-server"].to_kubernetes(),
        }], service_account=account, depends_on=depends_on)

    @staticmethod
    def _token_volume(file_name: str) -> tuple[dict, dict]:
        """The projected token the agent and the scheduler present to the API server."""
        volume = {"name": "api-token", "projected": {"sources": [{"serviceAccountToken": {
            "path": file_name, "expirationSeconds": 3600, "audience": TOKEN_AUDIENCE}}]}}
        return volume, {"name": "api-token", "mountPath": "/var/run/secrets/kubeflow/tokens", "readOnly": True}

    def _persistence_agent(self, depends_on: list[pulumi.Resource]) -> pulumi.CustomResource:
        """Reports Workflow status to the API server; deletes finished Workflows after a day."""
        args, workload = self._args, "ml-pipeline-persistenceagent"
        account = self.service_account(workload, [], cluster_rules=[
            rule(["argoproj.io"], ["workflows"], ["get", "list", "watch"]),
            rule(["kubeflow.org"], ["scheduledworkflows"], ["get", "list", "watch"]),
            # Checked by the API server when the agent reports.
            rule([PIPELINES_GROUP], ["scheduledworkflows", "workflows"], ["report"]),
            rule([PIPELINES_GROUP], ["runs"], ["reportMetrics", "readArtifact"]),
        ])
        volume, mount = self._token_volume("persistenceagent-sa-token")
        return self.workload("Deployment", workload, "persistence-agent", KFP_UID, [{
            "name": "ml-pipeline-persistenceagent",
            "image": args.images.persistence_agent,
            "command": ["/bin/persistence_agent"],
            # No --namespace: every namespace (multi-user mode).
            "args": ["--logtostderr=true", "--ttlSecondsAfterWorkflowFinish=86400",
                     "--numWorker=2", "--executionType=Workflow", "--logLevel=info"],
            "resources": args.config.resources["persistence-agent"].to_kubernetes(),
            "volumeMounts": [mount],
        }], service_account=account, volumes=[volume], depends_on=depends_on)

    def _scheduled_workflow(self, depends_on: list[pulumi.Resource]) -> pulumi.CustomResource:
        """Starts the runs of recurring jobs (ScheduledWorkflow objects) through the API server."""
        args, workload = self._args, "ml-pipeline-scheduledworkflow"
        account = self.service_account(workload, [], cluster_rules=[
            rule(["argoproj.io"], ["workflows"], ["create", "get", "list", "watch", "update", "patch", "delete"]),
            rule(["kubeflow.org"], ["scheduledworkflows", "scheduledworkflows/finalizers"],
                 ["create", "get", "list", "watch", "update", "patch", "delete"]),
            rule([""], ["events"], ["create", "patch"]),
            rule([PIPELINES_GROUP], ["runs"], ["create"]),
        ])
        volume, mount = self._token_volume("scheduledworkflow-sa-token")
        return self.workload("Deployment", workload, "scheduled-workflow", KFP_UID, [{
            "name": "ml-pipeline-scheduledworkflow",
            "image": args.images.scheduled_workflow,
            "command": ["/bin/controller"],
            "args": ["--logtostderr=true", "--logLevel=info"],  # every namespace
            "env": [env_from_config("CRON_SCHEDULE_TIMEZONE", "cronScheduleTimezone")],
            "resources": args.config.resources["scheduled-workflow"].to_kubernetes(),
            "volumeMounts": [mount],
        }], service_account=account, volumes=[volume], depends_on=depends_on)
