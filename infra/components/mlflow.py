"""MLflow tracking server and model registry, installed from the local chart charts/mlflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from infra.components.common import S3Access, labels, namespace
from infra.components.generated_password import GeneratedPassword
from infra.components.monitoring import ScrapeTarget
from infra.config import Resources

CHART_PATH = Path(__file__).resolve().parents[2] / "charts" / "mlflow"
DATABASE_MODES = ("inCluster", "external")
PORT = 5000
# The chart's metrics sidecar (files/serve_metrics.py): the server's request counts and latencies.
METRICS_PORT = 9102
# Every tenant's MLflow users start with this; the chart's Job deletes the ones no tenant names.
TENANT_USER_PREFIX = "tenant-"


@dataclass(frozen=True)
class TenantIdentity:
    """A tenant's MLflow workspace and its two users (editor: pipelines and researchers; reader:
    model servers), both limited to that workspace."""
    workspace: str
    editor: str
    reader: str


def tenant_identity(tenant_name: str) -> TenantIdentity:
    return TenantIdentity(workspace=tenant_name, editor=f"{TENANT_USER_PREFIX}{tenant_name}",
                          reader=f"{TENANT_USER_PREFIX}{tenant_name}-reader")


@dataclass
class MlflowArgs:
    namespace: str
    image: str
    postgres_image: str
    artifact_bucket: str
    # The MLflow bucket user's access to the artifact bucket.
    s3: S3Access
    admin_username: str
    resources: Resources
    database_mode: str = "inCluster"
    database_volume_size: str = "5Gi"
    database_resources: Resources | None = None
    # Secret DSN of an external PostgreSQL database (database_mode="external").
    external_dsn: pulumi.Input[str] | None = None
    image_pull_policy: str = "IfNotPresent"
    storage_class: str = ""
    ingress_host: str = ""
    ingress_class: str = ""
    # The Ingress's TLS Secret and annotations (IngressTls.for_component); the config refuses an
    # ingress host without TLS.
    ingress_tls_secret: str = ""
    ingress_annotations: dict[str, str] = field(default_factory=dict)
    # Namespaces whose pods may call the tracking server (pipelines, tenants).
    client_namespaces: list[str] = field(default_factory=list)
    # CIDRs outside the cluster's pods (the ingress controller's nodes) that may call it.
    client_cidrs: tuple[str, ...] = ()
    # One MLflow workspace and two users per tenant (workspaces are on when any is given).
    tenants: list[TenantIdentity] = field(default_factory=list)
    # Pulumi refuses to delete its namespace, and so its volumes (platform.protectData).
    protect_data: bool = False
    # Namespaces whose pods may reach the in-cluster PostgreSQL (the platform's backup).
    database_client_namespaces: list[str] = field(default_factory=list)
    # The server's Prometheus metrics, served by a sidecar on METRICS_PORT (the chart's metrics.enabled).
    metrics: bool = False


def _split(image: str) -> dict[str, str]:
    repository, _, tag = image.rpartition(":")
    if not repository or "/" in tag:
        raise ValueError(f"image reference {image!r} must end with :<tag>")
    return {"repository": repository, "tag": tag}


class Mlflow(pulumi.ComponentResource):
    """Namespace, generated admin and database passwords (Pulumi secrets) in Kubernetes Secrets,
    and the chart: server (schema migration in an init container, basic-auth, artifacts proxied
    to the object store), in-cluster PostgreSQL with a volume, Service and NetworkPolicies."""

    tracking_uri: pulumi.Output[str]
    namespace: pulumi.Output[str]
    admin_secret_name: pulumi.Output[str]
    admin_password: pulumi.Output[str]
    # MLflow user name (a tenant's editor or reader) -> its generated password.
    tenant_passwords: dict[str, pulumi.Output[str]]
    # postgresql://user:password@host:port/database of the tracking database (a secret).
    database_url: pulumi.Output[str]
    # The server's metrics for the Monitoring component (job `mlflow`), when asked for.
    metrics_targets: tuple[ScrapeTarget, ...]

    def __init__(self, name: str, args: MlflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops-platform:platform:Mlflow", name, None, opts)
        if args.database_mode not in DATABASE_MODES:
            raise ValueError(f"Mlflow {name}: database_mode={args.database_mode!r}; allowed: {', '.join(DATABASE_MODES)}")
        if args.database_mode == "external" and args.external_dsn is None:
            raise ValueError(f"Mlflow {name}: database_mode='external' needs external_dsn")
        if args.database_mode == "inCluster" and args.database_resources is None:
            raise ValueError(f"Mlflow {name}: database_mode='inCluster' needs database_resources")
        child = pulumi.ResourceOptions(parent=self)
        app_labels = labels(name, "tracking")

        ns = namespace(f"{name}-ns", args.namespace, "tracking", self, protect=args.protect_data)
        ns_name = ns.metadata.apply(lambda m: m["name"])

        def secret(suffix: str, data: dict[str, pulumi.Input[str]]) -> pulumi.Output[str]:
            created = k8s.core.v1.Secret(
                f"{name}-{suffix}",
                metadata={"name": f"{name}-{suffix}", "namespace": ns_name, "labels": app_labels},
                string_data=data,
                opts=child,
            )
            return created.metadata.apply(lambda m: m["name"])

        admin_password = GeneratedPassword(f"{name}-admin-password", opts=child)
        # The basic-auth app signs sessions with this key; every replica must share it.
        flask_key = GeneratedPassword(f"{name}-flask-secret-key", opts=child)
        auth_secret = secret("auth", {"admin-username": args.admin_username, "admin-password": admin_password.value,
                                      "flask-secret-key": flask_key.value})
        if args.database_mode == "external":
            db_secret = secret("database", {"dsn": pulumi.Output.secret(args.external_dsn)})
            self.database_url = pulumi.Output.secret(args.external_dsn)
        else:
            db_password = GeneratedPassword(f"{name}-database-password", opts=child)
            db_secret = secret("database", {"postgres-password": db_password.value})
            # The chart's PostgreSQL Service (mlflow.postgresFullname: the release is `name`), user and database.
            fullname = name if "mlflow" in name else f"{name}-mlflow"
            self.database_url = pulumi.Output.secret(pulumi.Output.concat(
                "postgresql://mlflow:", db_password.value, f"@{fullname}-postgres.", ns_name, ".svc.cluster.local:5432/mlflow"))
        s3_secret = secret("s3", {"AWS_ACCESS_KEY_ID": args.s3.access_key,
                                  "AWS_SECRET_ACCESS_KEY": pulumi.Output.secret(args.s3.secret_key)})
        users = [user for tenant in args.tenants for user in (tenant.editor, tenant.reader)]
        if len(set(users)) != len(users) or not all(user.startswith(TENANT_USER_PREFIX) for user in users):
            raise ValueError(f"Mlflow {name}: tenant users must be unique and start with {TENANT_USER_PREFIX!r}: {users}")
        self.tenant_passwords = {user: GeneratedPassword(f"{name}-user-{user}", opts=child).value for user in users}
        tenants_values: dict = {}
        if args.tenants:
            passwords_secret = secret("tenant-passwords", dict(self.tenant_passwords))
            tenants_values = {"identities": [{"workspace": t.workspace, "editor": t.editor, "reader": t.reader}
                                             for t in args.tenants],
                              "passwordsSecret": passwords_secret, "userPrefix": TENANT_USER_PREFIX}

        values = {
            "image": {**_split(args.image), "pullPolicy": args.image_pull_policy},
            "resources": args.resources.to_kubernetes(),
            "auth": {"existingSecret": auth_secret},
            "backendStore": {
                "existingSecret": db_secret,
                "external": args.database_mode == "external",
                "postgres": {
                    "image": {**_split(args.postgres_image), "pullPolicy": args.image_pull_policy},
                    "storageSize": args.database_volume_size,
                    "storageClass": args.storage_class,
                    **({"resources": args.database_resources.to_kubernetes()} if args.database_resources else {}),
                },
            },
            "artifacts": {"bucket": args.artifact_bucket, "s3EndpointUrl": args.s3.endpoint, "existingSecret": s3_secret},
            "networkPolicy": {"enabled": True, "allowedNamespaces": list(args.client_namespaces),
                              "allowedCidrs": list(args.client_cidrs),
                              "databaseClientNamespaces": list(args.database_client_namespaces)},
            "workspaces": {"enabled": bool(args.tenants)},
            "metrics": {"enabled": args.metrics, "port": METRICS_PORT},
            **({"tenants": tenants_values} if tenants_values else {}),
            "ingress": {"enabled": bool(args.ingress_host), "host": args.ingress_host, "className": args.ingress_class,
                        "tlsSecretName": args.ingress_tls_secret, "annotations": dict(args.ingress_annotations)},
        }
        chart = k8s.helm.v4.Chart(
            name,
            chart=str(CHART_PATH),
            namespace=ns_name,
            values=values,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]),
        )

        self.namespace = ns_name
        self.tracking_uri = pulumi.Output.concat("http://", name, ".", ns_name, f".svc.cluster.local:{PORT}")
        self.admin_secret_name = auth_secret
        self.admin_password = admin_password.value
        # The chart's server pods (mlflow.selectorLabels: the release is `name`).
        server_pods = {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/instance": name,
                       "app.kubernetes.io/component": "server"}
        self.metrics_targets = (ScrapeTarget("mlflow", (args.namespace,), server_pods, METRICS_PORT),) if args.metrics else ()
        self.register_outputs({
            "tracking_uri": self.tracking_uri, "namespace": self.namespace,
            "admin_secret_name": self.admin_secret_name, "chart": chart.urn,
        })
