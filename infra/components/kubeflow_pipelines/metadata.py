"""The ML Metadata gRPC server (`metadata-grpc-service`) that the driver and launcher of every
pipeline step record lineage in."""

from __future__ import annotations

import pulumi

from infra.components.kubeflow_pipelines.common import (
    KFP_UID,
    METADATA_GRPC_PORT,
    METADATA_SERVICE,
    METADATA_WORKLOAD,
    Part,
    Shared,
    env_from_config,
)


class KubeflowPipelinesMetadata(Part):
    """The metadata server with its Service and a ServiceAccount without a token (it needs no
    Kubernetes API); its database is `metadb` of the pipelines' database."""

    deployment: pulumi.CustomResource

    def __init__(self, shared: Shared, database_credentials: pulumi.Input[str], database: list[pulumi.Resource]) -> None:
        super().__init__("KubeflowPipelinesMetadata", "metadata", shared)
        self.deployment = self._server(database_credentials, database)
        self.register_outputs({"metadata_server": self.deployment.urn})

    def _server(self, database_credentials: pulumi.Input[str], depends_on: list[pulumi.Resource]) -> pulumi.CustomResource:
        """The ML Metadata gRPC server with the MySQL flags of upstream's manifest; the
        password reaches the command line by Kubernetes' $(VAR) expansion, never the manifest."""
        args = self._args
        self.service(METADATA_SERVICE, METADATA_WORKLOAD, [("grpc-api", METADATA_GRPC_PORT)])
        probe = {"tcpSocket": {"port": METADATA_GRPC_PORT}, "periodSeconds": 5, "timeoutSeconds": 2}
        return self.workload("Deployment", METADATA_WORKLOAD, "metadata-server", KFP_UID, [{
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
            "env": [*self.database_env(database_credentials, "DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD"),
                    env_from_config("DB_NAME", "mlmdDb")],
            "ports": [{"name": "grpc-api", "containerPort": METADATA_GRPC_PORT}],
            "readinessProbe": probe,
            "livenessProbe": {**probe, "initialDelaySeconds": 30, "periodSeconds": 10, "failureThreshold": 6},
            "resources": args.config.resources["metadata-grpc"].to_kubernetes(),
        }], service_account=self.service_account("metadata-grpc-server", [], automount=False), depends_on=depends_on)
