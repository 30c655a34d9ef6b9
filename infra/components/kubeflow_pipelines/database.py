"""The database of Kubeflow Pipelines: its login in a Secret, and in-cluster a MySQL StatefulSet."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.components.common import labels
from infra.components.generated_password import GeneratedPassword
from infra.components.kubeflow_pipelines.common import (
    DATABASE_PORT,
    METADATA_DATABASE,
    PIPELINE_DATABASE,
    Part,
    Shared,
    env_from_secret,
)

_MYSQL_UID = 999      # the mysql image's user (and the offline MariaDB image's)
_DB_USER_IN_CLUSTER = "mlpipeline"


class KubeflowPipelinesDatabase(Part):
    """The Secret `<name>-database` (username, password and, in-cluster, the root password) that
    the API and metadata servers log in with; with config.database.mode "inCluster" the
    passwords are generated and MySQL runs here (`<name>-db`), else the external server is used."""

    credentials: pulumi.Output[str]    # the Secret's name
    host: pulumi.Output[str]
    user: str
    password: pulumi.Output[str]       # a secret
    statefulsets: list[pulumi.Resource]  # the in-cluster server, [] for an external one

    def __init__(self, shared: Shared) -> None:
        super().__init__("KubeflowPipelinesDatabase", "mysql", shared)
        name, args = self._name, self._args
        database = args.config.database
        db_data: dict[str, pulumi.Input[str]]
        if database.mode == "inCluster":
            password = GeneratedPassword(f"{name}-database-password", opts=self.child_opts()).value
            db_user = _DB_USER_IN_CLUSTER
            self.host = pulumi.Output.concat(f"{name}-db.", self._ns, ".svc.cluster.local")
            db_data = {"root-password": GeneratedPassword(f"{name}-database-root-password", opts=self.child_opts()).value}
        else:
            password = pulumi.Output.secret(args.database_password)
            db_user, self.host = database.user, pulumi.Output.from_input(database.host)
            db_data = {}
        secret = k8s.core.v1.Secret(
            f"{name}-database-credentials",
            metadata={"name": f"{name}-database", "namespace": self._ns, "labels": labels(name, "pipelines")},
            string_data={"username": db_user, "password": password, **db_data},
            opts=self.child_opts())
        self.credentials = secret.metadata.apply(lambda m: m["name"])
        self.user, self.password = db_user, pulumi.Output.secret(password)
        self.statefulsets = [self._server()] if database.mode == "inCluster" else []
        self.register_outputs({"credentials": self.credentials, "host": self.host})

    def _server(self) -> pulumi.CustomResource:
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
            opts=self.child_opts())
        probe = {"tcpSocket": {"port": DATABASE_PORT}, "periodSeconds": 5, "timeoutSeconds": 3}
        claim = {
            "metadata": {"name": "data", "labels": labels(workload, "pipelines")},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": args.config.database.volume_size}},
                **({"storageClassName": args.storage_class} if args.storage_class else {}),
            },
        }
        self.service(workload, workload, [("mysql", DATABASE_PORT)], headless=True)
        return self.workload("StatefulSet", workload, "database", _MYSQL_UID, [{
            "name": "mysql",
            "image": args.images.database,
            "env": [
                env_from_secret("MYSQL_ROOT_PASSWORD", self.credentials, "root-password"),
                {"name": "MYSQL_USER", "value": _DB_USER_IN_CLUSTER},
                env_from_secret("MYSQL_PASSWORD", self.credentials, "password"),
            ],
            "ports": [{"name": "mysql", "containerPort": DATABASE_PORT}],
            "readinessProbe": probe,
            "livenessProbe": {**probe, "initialDelaySeconds": 60, "periodSeconds": 20, "failureThreshold": 6},
            "resources": args.config.resources["database"].to_kubernetes(),
            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql"},
                             {"name": "init", "mountPath": "/docker-entrypoint-initdb.d", "readOnly": True},
                             {"name": "run", "mountPath": "/run/mysqld"},
                             {"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 (the pod's own emptyDir)
        }], volumes=[{"name": "init", "configMap": {"name": init.metadata.apply(lambda m: m["name"])}},
                     {"name": "run", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
            serviceName=workload, volumeClaimTemplates=[claim])
