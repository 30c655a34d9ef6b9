"""One typed, validated view of the stack configuration.

Defaults live only in Pulumi.yaml; a stack's values are merged over them here. Everything is
checked before any resource is declared: unknown keys, wrong types, malformed sizes, names,
hostnames and CIDRs, and inconsistent combinations. All problems are reported together, each
naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from infra.images import UPSTREAM_IMAGES, resolve_image

PROJECT = "mlops-platform"
PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"

# Keys whose value is a free-form map (names chosen by the user), not a fixed set of fields.
# "webhooks": monitoring.alertmanager.webhooks and tenants[].alerts.webhooks.
_FREE_MAPS = {"images.overrides", "requests", "limits", "login.ldap", "webhooks"}
_SECRET_KEYS = {"mlflowExternalDsn", "kubeflowPipelinesDatabasePassword", "loginLdapBindPassword",
                "monitoringSmtpPassword", "monitoringAlertWebhookUrl"}

# An address a browser opens (login.issuerUrl, login.uiUrl) and a person's e-mail address.
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_STORAGE_SIZE = re.compile(r"^[1-9][0-9]*(Mi|Gi|Ti)$")
_CPU = re.compile(r"^([1-9][0-9]*m|[0-9]+(\.[0-9]+)?)$")
_MEMORY = re.compile(r"^[1-9][0-9]*(Ki|Mi|Gi|Ti)?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{2,31}$")
_DSN = re.compile(r"^postgres(ql)?://[^:/@\s]+:[^@\s]+@[^/\s]+/[^\s]+$")
_SUBJECT = re.compile(r"^[^\s]{1,253}$")
_CRON_FIELD = r"[0-9A-Za-z*?/,-]+"
_CRON = re.compile(rf"^({_CRON_FIELD}\s+){{4}}{_CRON_FIELD}$|^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$")
_RESOURCE_NAMES = ("cpu", "memory")
# Namespaces that Kubernetes itself owns; `kube-` is reserved for it as a prefix too.
KUBERNETES_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def kubernetes_owned(namespace: str) -> bool:
    return namespace in KUBERNETES_NAMESPACES or namespace.startswith("kube-")


# Namespaces the local kind cluster's own add-ons run in (dev_cluster/cluster.sh).
CLUSTER_ADDON_NAMESPACES = ("local-path-storage",)
# The only `system:` subjects a tenant may list: ServiceAccounts (system:serviceaccount:<ns>:<name>).
_SERVICE_ACCOUNT_SUBJECT = re.compile(r"^system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")
MIG_STRATEGIES = ("none", "single", "mixed")
DATABASE_MODES = ("inCluster", "external")
TENANT_BUCKET_SUFFIX = "-artifacts"
# kubeflowPipelines.workflowRequeueSeconds' floor. Argo 3.6 does not act on a stale copy of a
# workflow however soon it looks again (it writes each update back into its informer and skips a
# copy older than the last version it wrote), so below Argo's documented 1 s is safe; below 0.1 s
# the controller would look at a workflow on nearly every pod event and batch nothing.
MIN_WORKFLOW_REQUEUE_SECONDS = 0.1
_TENANT_FIELDS = ("name", "members", "groups", "quota", "borrowingLimit", "alerts")
# A tenant's alert receivers (tenants[].alerts): what is merged over, field by field.
_TENANT_ALERTS = {"email": [], "webhooks": {}, "severities": ["critical", "warning"]}
_MEMORY_FACTORS = {"": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


class ConfigError(ValueError):
    """The stack configuration is invalid; the message lists every problem found."""


@dataclass(frozen=True)
class Resources:
    requests: dict[str, str]
    limits: dict[str, str]

    def to_kubernetes(self) -> dict[str, dict[str, str]]:
        return {"requests": dict(self.requests), "limits": dict(self.limits)}


@dataclass(frozen=True)
class ImagesConfig:
    registry: str
    pull_policy: str
    overrides: dict[str, str]
    # Run the images built by offline/images/ (their references in infra/images.toml) under `registry`.
    offline: bool = False

    def resolve(self, name: str) -> str:
        """The reference to run for image `name` (infra/images.toml) under these settings."""
        return resolve_image(name, self.registry, self.overrides, self.offline)


@dataclass(frozen=True)
class IngressTls:
    """How every Ingress gets its certificate: signed by a cert-manager ClusterIssuer, or from a TLS
    Secret the site creates. Neither set means no Ingress may exist (config validation)."""

    cluster_issuer: str = ""
    secret_name: str = ""

    def for_component(self, component: str) -> tuple[str, dict[str, str]]:
        """(the TLS Secret's name, the Ingress's annotations) of one component's Ingress."""
        if self.cluster_issuer:
            return f"{component}-tls", {"cert-manager.io/cluster-issuer": self.cluster_issuer}
        return self.secret_name, {}


@dataclass(frozen=True)
class PlatformSettings:
    storage_class: str
    ingress_class: str
    allowed_ingress_cidrs: tuple[str, ...]
    ingress_tls: IngressTls = IngressTls()
    # Pulumi protects the namespaces that hold data (pulumi destroy refuses).
    protect_data: bool = True


@dataclass(frozen=True)
class ObjectStoreConfig:
    backend: str
    namespace: str
    volume_size: str
    root_user: str
    buckets: tuple[str, ...]
    resources: Resources


@dataclass(frozen=True)
class DatabaseConfig:
    mode: str
    volume_size: str
    resources: Resources


@dataclass(frozen=True)
class MlflowConfig:
    namespace: str
    artifact_bucket: str
    admin_username: str
    ingress_host: str
    database: DatabaseConfig
    resources: Resources


def _resources(cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str) -> Resources:
    return Resources({"cpu": cpu_request, "memory": memory_request}, {"cpu": cpu_limit, "memory": memory_limit})


# Requests and limits of every Kubeflow Pipelines workload, per kubeflowPipelines.resourceProfile.
# `lean` fits the whole platform on one 2-core, 8 GiB kind node; `production` follows upstream's
# requests with headroom. `argo-executor` is the init/wait container Argo adds to each pipeline
# pod. Pipeline containers that set no resources get the tenants' tenancy.containerDefaults
# (pipelines run in the tenant namespaces).
KFP_RESOURCE_PROFILES: dict[str, dict[str, Resources]] = {
    "lean": {
        "api-server": _resources("25m", "128Mi", "500m", "512Mi"),
        "persistence-agent": _resources("10m", "64Mi", "200m", "256Mi"),
        "scheduled-workflow": _resources("10m", "64Mi", "200m", "256Mi"),
        "metadata-grpc": _resources("10m", "96Mi", "500m", "384Mi"),
        "workflow-controller": _resources("25m", "96Mi", "500m", "512Mi"),
        "database": _resources("25m", "96Mi", "500m", "384Mi"),
        "argo-executor": _resources("10m", "32Mi", "500m", "256Mi"),
        "ui": _resources("10m", "96Mi", "500m", "384Mi"),
        "metadata-envoy": _resources("5m", "32Mi", "200m", "128Mi"),
    },
    "production": {
        "api-server": _resources("250m", "512Mi", "2", "2Gi"),
        "persistence-agent": _resources("100m", "256Mi", "1", "1Gi"),
        "scheduled-workflow": _resources("100m", "256Mi", "1", "512Mi"),
        "metadata-grpc": _resources("100m", "256Mi", "1", "1Gi"),
        "workflow-controller": _resources("100m", "512Mi", "2", "2Gi"),
        "database": _resources("250m", "512Mi", "2", "4Gi"),
        "argo-executor": _resources("10m", "64Mi", "1", "512Mi"),
        "ui": _resources("50m", "256Mi", "1", "1Gi"),
        "metadata-envoy": _resources("25m", "64Mi", "500m", "256Mi"),
    },
}


@dataclass(frozen=True)
class KfpDatabaseConfig:
    mode: str
    volume_size: str
    # External MySQL only ("" and 3306 for inCluster); the password is a secret key.
    host: str
    port: int
    user: str


@dataclass(frozen=True)
class KubeflowPipelinesConfig:
    enabled: bool
    namespace: str
    bucket: str
    resource_profile: str
    # Workload name -> requests/limits, from KFP_RESOURCE_PROFILES[resource_profile].
    resources: dict[str, Resources]
    database: KfpDatabaseConfig
    # The web UI and its gRPC-Web proxy for ML Metadata.
    ui: bool = False
    # Argo's DEFAULT_REQUEUE_TIME in seconds: how long its controller waits before it looks at a
    # workflow again after a pod of it changed (Argo's default, 10, costs ~7 s per pod).
    workflow_requeue_seconds: float = 0.3
    # How often a pipeline pod is started again when the platform, not the step, made it fail: its
    # pod taken away (Kueue reclaiming a borrowed GPU, a node drained) or its first connection to
    # KFP's servers refused while the NetworkPolicy engine catches up (Argo's retry).
    platform_fault_retries: int = 3


@dataclass(frozen=True)
class DcgmExporterConfig:
    enabled: bool
    resources: Resources


@dataclass(frozen=True)
class GpuConfig:
    enabled: bool
    namespace: str
    total_gpus: int
    max_gpus_per_tenant: int
    # 1 = each GPU is one nvidia.com/gpu; N > 1 = time-slicing advertises N per GPU.
    time_slicing_replicas: int
    mig_strategy: str
    resources: Resources
    dcgm_exporter: DcgmExporterConfig


@dataclass(frozen=True)
class TenantQuota:
    cpu: str
    memory: str
    gpu: int
    storage: str
    max_pods: int
    max_volume_claims: int


@dataclass(frozen=True)
class BorrowingLimit:
    """How much of the cohort's idle capacity a tenant may use beyond its quota (queueing.enabled);
    None: no limit (as much as the other groups leave idle)."""
    cpu: str | None
    memory: str | None
    gpu: int | None


@dataclass(frozen=True)
class TenantAlerts:
    """Where the alerts about a research group's namespace go (its model servers, pipeline runs, pods,
    volumes, GPUs), besides the platform's receivers: e-mail through the platform's SMTP account
    (monitoring.alertmanager.email) and webhooks (name -> plain URL), for the alerts of `severities`."""
    email: tuple[str, ...] = ()
    webhooks: tuple[tuple[str, str], ...] = ()
    severities: tuple[str, ...] = ("critical", "warning")

    @property
    def any(self) -> bool:
        return bool(self.email or self.webhooks)


@dataclass(frozen=True)
class TenantConfig:
    name: str
    namespace: str
    bucket: str
    experiment_prefix: str
    members: tuple[str, ...]
    groups: tuple[str, ...]
    quota: TenantQuota
    borrowing_limit: BorrowingLimit = BorrowingLimit(None, None, None)
    alerts: TenantAlerts = TenantAlerts()


@dataclass(frozen=True)
class QueueingConfig:
    enabled: bool
    namespace: str
    # "" (the pinned upstream chart, infra/charts.py) or a local folder holding that chart.
    chart: str
    cohort: str
    resources: Resources


@dataclass(frozen=True)
class BackupConfig:
    enabled: bool
    namespace: str
    schedule: str
    retention: int
    volume_size: str
    # "" = platform.storageClass
    storage_class: str
    resources: Resources


# The alerts' severities a receiver may take (the `severity` label of infra/monitoring/alert-rules.yml;
# the Watchdog's, `none`, goes to monitoring.alertmanager.heartbeatUrl only).
ALERT_SEVERITIES = ("critical", "warning", "info")
# Alertmanager's receiver of research group NAME (tenants[].alerts) is TENANT_RECEIVER_PREFIX + NAME.
TENANT_RECEIVER_PREFIX = "tenant-"


@dataclass(frozen=True)
class AlertEmail:
    # The recipients ((): no e-mail), the sender, the SMTP server (host:port).
    to: tuple[str, ...]
    sender: str
    smarthost: str
    username: str
    # A secret: monitoringSmtpPassword ("" without username).
    password: str
    require_tls: bool
    severities: tuple[str, ...]


@dataclass(frozen=True)
class AlertmanagerConfig:
    repeat_interval: str
    # The dead man's switch the Watchdog is POSTed to ("" = none), and how often.
    heartbeat_url: str
    heartbeat_interval: str
    volume_size: str
    email: AlertEmail
    # Receiver name -> URL (plain stack values), each sent the alerts of webhook_severities.
    webhooks: dict[str, str]
    # A secret: monitoringAlertWebhookUrl, the receiver `webhook` ("" = none).
    secret_webhook_url: str
    webhook_severities: tuple[str, ...]
    resources: Resources


@dataclass(frozen=True)
class MonitoringConfig:
    enabled: bool
    namespace: str
    scrape_interval: str
    retention: str
    volume_size: str
    # "" = platform.storageClass
    storage_class: str
    kubelet_insecure_tls: bool
    prometheus_resources: Resources
    kube_state_metrics_resources: Resources
    node_exporter_resources: Resources
    dashboard_resources: Resources
    alertmanager: AlertmanagerConfig


# login.ldap keys: the required ones, and every one allowed (Dex's LDAP connector settings).
LDAP_REQUIRED = ("host", "userBaseDN")
LDAP_KEYS = (*LDAP_REQUIRED, "bindDN", "userFilter", "usernameAttr", "emailAttr", "nameAttr", "groupBaseDN", "groupFilter",
             "groupUserAttr", "groupMemberAttr", "groupNameAttr", "rootCA", "insecureNoSSL")


@dataclass(frozen=True)
class LoginConfig:
    enabled: bool
    namespace: str
    # What people's browsers open: Dex's issuer (with its path) and the UI behind oauth2-proxy.
    issuer_url: str
    ui_url: str
    # E-mail addresses of people with a generated password (Dex's password database).
    static_users: tuple[str, ...]
    # Dex's LDAP connector (LDAP_KEYS), {} for none; the bind password is ldap_bind_password.
    ldap: dict[str, str]
    ldap_bind_password: str
    resources: Resources

    @staticmethod
    def user_key(email: str) -> str:
        """The key of a static user's password in the Secret people-passwords."""
        return email.split("@", 1)[0]


@dataclass(frozen=True)
class TenancyConfig:
    namespace_prefix: str
    container_defaults: Resources
    tenants: tuple[TenantConfig, ...]


@dataclass(frozen=True)
class PlatformConfig:
    images: ImagesConfig
    platform: PlatformSettings
    object_store: ObjectStoreConfig
    mlflow: MlflowConfig
    gpu: GpuConfig
    tenancy: TenancyConfig
    kubeflow_pipelines: KubeflowPipelinesConfig
    queueing: QueueingConfig
    backup: BackupConfig
    login: LoginConfig
    monitoring: MonitoringConfig
    # The external database DSN (a secret) when mlflow.database.mode is "external", else "".
    mlflow_external_dsn: str
    # The password (a secret) of kubeflowPipelines.database.user when its mode is "external", else "".
    kubeflow_pipelines_database_password: str


def project_defaults() -> dict[str, Any]:
    """The default of every declared key, read from Pulumi.yaml (keys without the project prefix)."""
    declared = yaml.safe_load(PROJECT_FILE.read_text())["config"]
    return {key.split(":", 1)[1]: copy.deepcopy(spec.get("default")) for key, spec in declared.items()}


def _type_name(value: Any) -> str:
    return {dict: "a map", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), type(value).__name__)


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, key: str, value: Any, allowed: str) -> None:
        self.errors.append(f"{PROJECT}:{key} = {value!r} is invalid: {allowed}")

    def merge(self, key: str, default: Any, value: Any) -> Any:
        """Merge `value` over `default`, checking structure and types against the default."""
        leaf = key.rsplit(".", 1)[-1]
        if isinstance(default, dict) and (key in _FREE_MAPS or leaf in _FREE_MAPS):
            if not isinstance(value, dict):
                self.fail(key, value, f"expected a map, got {_type_name(value)}")
                return default
            merged = dict(default)
            for name, item in value.items():
                if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                    self.fail(f"{key}.{name}", item, f"expected a string, got {_type_name(item)}")
                else:
                    merged[str(name)] = str(item)
            return merged
        if isinstance(default, dict):
            if not isinstance(value, dict):
                self.fail(key, value, f"expected a map with keys {', '.join(default)}, got {_type_name(value)}")
                return default
            merged = copy.deepcopy(default)
            for name, item in value.items():
                if name not in default:
                    self.fail(f"{key}.{name}", item, f"unknown key; allowed keys under {key}: {', '.join(default)}")
                else:
                    merged[name] = self.merge(f"{key}.{name}", default[name], item)
            return merged
        if isinstance(default, list):
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                self.fail(key, value, "expected a list of strings")
                return default
            return list(value)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                self.fail(key, value, "expected true or false")
                return default
            return value
        if isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                self.fail(key, value, "expected a number, 0 or more (a decimal point is allowed: 0.5)")
                return default
            return float(value)
        if isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                self.fail(key, value, "expected a whole number, 0 or more")
                return default
            return value
        if isinstance(default, str):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)
            if not isinstance(value, str):
                self.fail(key, value, f"expected a string, got {_type_name(value)}")
                return default
            return value
        return value

    def one_of(self, key: str, value: str, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            self.fail(key, value, f"allowed values: {', '.join(allowed)}")

    def dns_label(self, key: str, value: str) -> None:
        if len(value) > 63 or not _DNS_LABEL.match(value):
            self.fail(key, value, "must be a DNS label: lower-case letters, digits and '-', at most 63 characters")
        elif kubernetes_owned(value):
            self.fail(key, value, "must not be a namespace that Kubernetes owns (default, kube-*)")

    def storage_size(self, key: str, value: str) -> None:
        if not _STORAGE_SIZE.match(value):
            self.fail(key, value, "expected a volume size such as 512Mi, 20Gi or 1Ti (Mi, Gi or Ti)")

    def hostname(self, key: str, value: str, example: str = "mlflow.ml.example.edu") -> None:
        labels = value.split(".")
        if len(value) > 253 or len(labels) < 2 or not all(len(x) <= 63 and _DNS_LABEL.match(x) for x in labels):
            self.fail(key, value, f"expected a fully qualified host name such as {example}")

    def cidr(self, key: str, value: str) -> None:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            self.fail(key, value, f"expected a network in CIDR notation such as 10.0.0.0/16 ({exc})")

    def bucket(self, key: str, value: str) -> None:
        if not _BUCKET.match(value) or ".." in value or re.match(r"^\d+\.\d+\.\d+\.\d+$", value):
            self.fail(key, value, "expected an S3 bucket name: 3-63 lower-case letters, digits, '-' or '.'")

    def resources(self, key: str, value: dict[str, dict[str, str]]) -> Resources:
        for part in ("requests", "limits"):
            names = value[part]
            for name, amount in names.items():
                if name not in _RESOURCE_NAMES:
                    self.fail(f"{key}.{part}.{name}", amount, f"allowed resources: {', '.join(_RESOURCE_NAMES)}")
                elif not (_CPU if name == "cpu" else _MEMORY).match(amount):
                    example = "100m or 2" if name == "cpu" else "512Mi or 2Gi"
                    self.fail(f"{key}.{part}.{name}", amount, f"expected a {name} quantity such as {example}")
            missing = [name for name in _RESOURCE_NAMES if name not in names]
            if missing:
                self.fail(f"{key}.{part}", names, f"must set {' and '.join(missing)}")
        if not self.errors:
            for name in _RESOURCE_NAMES:
                request, limit = value["requests"].get(name), value["limits"].get(name)
                if request and limit and quantity(request) > quantity(limit):
                    self.fail(f"{key}.requests.{name}", request, f"must not exceed the limit {limit}")
        return Resources(requests=value["requests"], limits=value["limits"])


    def tenants(self, value: Any, defaults: dict[str, Any], borrowing: dict[str, Any]) -> list[dict[str, Any]]:
        """Each tenant's fields checked and merged over the defaults (quota over tenancy.defaultQuota,
        borrowingLimit over tenancy.defaultBorrowingLimit)."""
        if not isinstance(value, list):
            self.fail("tenants", value, f"expected a list of tenants (maps with keys {', '.join(_TENANT_FIELDS)})")
            return []
        merged = []
        for i, item in enumerate(value):
            key = f"tenants[{i}]"
            if not isinstance(item, dict):
                self.fail(key, item, f"expected a map with keys {', '.join(_TENANT_FIELDS)}, got {_type_name(item)}")
                continue
            for name in item:
                if name not in _TENANT_FIELDS:
                    self.fail(f"{key}.{name}", item[name], f"unknown key; allowed keys in a tenant: {', '.join(_TENANT_FIELDS)}")
            if not isinstance(item.get("name"), str):
                self.fail(f"{key}.name", item.get("name"), "every tenant needs a name (a DNS label)")
                continue
            key = f"tenants[{item['name']}]"
            merged.append({
                "name": item["name"],
                "members": self.merge(f"{key}.members", [], item.get("members", [])),
                "groups": self.merge(f"{key}.groups", [], item.get("groups", [])),
                "quota": self.merge(f"{key}.quota", defaults, item.get("quota", {})),
                "borrowingLimit": self.merge(f"{key}.borrowingLimit", borrowing, item.get("borrowingLimit", {})),
                "alerts": self.merge(f"{key}.alerts", _TENANT_ALERTS, item.get("alerts", {})),
            })
        return merged

    def quota(self, key: str, quota: dict[str, Any]) -> TenantQuota:
        if not _CPU.match(quota["cpu"]):
            self.fail(f"{key}.cpu", quota["cpu"], "expected a cpu quantity such as 500m or 8")
        if not _MEMORY.match(quota["memory"]):
            self.fail(f"{key}.memory", quota["memory"], "expected a memory quantity such as 512Mi or 32Gi")
        self.storage_size(f"{key}.storage", quota["storage"])
        if quota["maxPods"] < 1:
            self.fail(f"{key}.maxPods", quota["maxPods"], "must be at least 1")
        return TenantQuota(cpu=quota["cpu"], memory=quota["memory"], gpu=quota["gpu"], storage=quota["storage"],
                           max_pods=quota["maxPods"], max_volume_claims=quota["maxVolumeClaims"])

    def borrowing_limit(self, key: str, limit: dict[str, str]) -> BorrowingLimit:
        """'' is no limit; otherwise a quantity (cpu, memory) or a whole number (gpu)."""
        for name, pattern, example in (("cpu", _CPU, "500m or 8"), ("memory", _MEMORY, "512Mi or 32Gi"),
                                       ("gpu", re.compile(r"^[0-9]+$"), "0 or 2")):
            if limit[name] and not pattern.match(limit[name]):
                self.fail(f"{key}.{name}", limit[name], f"expected '' (no limit) or a quantity such as {example}")
        return BorrowingLimit(cpu=limit["cpu"] or None, memory=limit["memory"] or None,
                              gpu=int(limit["gpu"]) if limit["gpu"].isdigit() else None)


def quantity(value: str) -> float:
    """A cpu (cores) or memory (bytes) quantity as a number."""
    if value.endswith("m"):
        return float(value[:-1]) / 1000
    match = re.match(r"^([0-9.]+)([KMGT]i)?$", value)
    assert match, value
    return float(match.group(1)) * _MEMORY_FACTORS[match.group(2) or ""]


def parse(raw: dict[str, Any], secret_keys: frozenset[str] = frozenset()) -> PlatformConfig:
    """Validate a stack's raw values (keys without the project prefix) merged over the defaults.

    `secret_keys` names the keys that the stack stores encrypted. Raises ConfigError listing
    every problem found.
    """
    defaults = project_defaults()
    check = _Checker()
    for key in sorted(raw):
        if key not in defaults:
            check.fail(key, raw[key], f"unknown key; known keys: {', '.join(sorted(defaults))}")
    values = {key: check.merge(key, default, raw[key]) if key in raw and key != "tenants" else default
              for key, default in defaults.items()}
    tenant_items = check.tenants(raw.get("tenants", []), values["tenancy"]["defaultQuota"],
                                 values["tenancy"]["defaultBorrowingLimit"])
    for key in sorted(_SECRET_KEYS & raw.keys()):
        if raw[key] and key not in secret_keys:
            check.fail(key, "<redacted>", f"must be stored encrypted: pulumi config set --secret {PROJECT}:{key} ...")
    if check.errors:
        raise ConfigError(_report(check.errors))

    images, platform, store, mlflow = (values[k] for k in ("images", "platform", "objectStore", "mlflow"))
    dsn = values["mlflowExternalDsn"]

    check.one_of("images.pullPolicy", images["pullPolicy"], ("Always", "IfNotPresent", "Never"))
    if images["registry"] and not re.match(r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._/-]+)?$", images["registry"]):
        check.fail("images.registry", images["registry"], "expected a registry host such as registry.example.edu:5000")
    if images["offline"] and not images["registry"]:
        check.fail("images.offline", images["offline"], "the images built by offline/images/ carry a registry name: set images.registry "
                   "too (mlops.local for the local cluster, or the registry a site pushed them to)")
    for name in images["overrides"]:
        if name not in UPSTREAM_IMAGES:
            check.fail(f"images.overrides.{name}", images["overrides"][name],
                       f"unknown image name; known images: {', '.join(sorted(UPSTREAM_IMAGES))}")

    if platform["storageClass"] and not _DNS_LABEL.match(platform["storageClass"]):
        check.fail("platform.storageClass", platform["storageClass"], "expected a StorageClass name or '' for the default")
    for i, cidr in enumerate(platform["allowedIngressCidrs"]):
        check.cidr(f"platform.allowedIngressCidrs[{i}]", cidr)
    tls = platform["ingressTls"]
    for name in ("clusterIssuer", "secretName"):
        if tls[name] and not _DNS_SUBDOMAIN.match(tls[name]):
            check.fail(f"platform.ingressTls.{name}", tls[name], "expected a Kubernetes object name (lower-case letters, digits, '-' and '.')")
    if tls["clusterIssuer"] and tls["secretName"]:
        check.fail("platform.ingressTls", tls, "set clusterIssuer (cert-manager signs each Ingress's certificate) or secretName "
                   "(your own TLS Secret), not both")

    check.one_of("objectStore.backend", store["backend"], ("minio", "seaweedfs"))
    check.dns_label("objectStore.namespace", store["namespace"])
    check.storage_size("objectStore.volumeSize", store["volumeSize"])
    if not _USERNAME.match(store["rootUser"]):
        check.fail("objectStore.rootUser", store["rootUser"], "expected 3-32 letters, digits, '.', '_' or '-', starting with a letter")
    if not store["buckets"]:
        check.fail("objectStore.buckets", store["buckets"], "list at least the bucket MLflow uses")
    for i, bucket in enumerate(store["buckets"]):
        check.bucket(f"objectStore.buckets[{i}]", bucket)
    duplicates = sorted({b for b in store["buckets"] if store["buckets"].count(b) > 1})
    if duplicates:
        check.fail("objectStore.buckets", store["buckets"], f"bucket names must be unique; repeated: {', '.join(duplicates)}")
    store_resources = check.resources("objectStore.resources", store["resources"])

    check.dns_label("mlflow.namespace", mlflow["namespace"])
    if mlflow["artifactBucket"] not in store["buckets"]:
        check.fail("mlflow.artifactBucket", mlflow["artifactBucket"],
                   f"must be one of objectStore.buckets ({', '.join(store['buckets'])}) so that it is created")
    if not _USERNAME.match(mlflow["adminUsername"]):
        check.fail("mlflow.adminUsername", mlflow["adminUsername"], "expected 3-32 letters, digits, '.', '_' or '-', starting with a letter")
    if mlflow["ingressHost"]:
        check.hostname("mlflow.ingressHost", mlflow["ingressHost"])
        if not platform["ingressClass"]:
            check.fail("mlflow.ingressHost", mlflow["ingressHost"], "needs platform.ingressClass to be set (the IngressClass that serves it)")
        if not (tls["clusterIssuer"] or tls["secretName"]):
            check.fail("mlflow.ingressHost", mlflow["ingressHost"],
                       "needs TLS: MLflow's logins (basic auth) must not cross the network in clear; set "
                       "platform.ingressTls.clusterIssuer to a cert-manager ClusterIssuer, or platform.ingressTls.secretName "
                       f"to a TLS Secret for {mlflow['ingressHost']} that you create in namespace {mlflow['namespace']}")
    database = mlflow["database"]
    check.one_of("mlflow.database.mode", database["mode"], DATABASE_MODES)
    check.storage_size("mlflow.database.volumeSize", database["volumeSize"])
    if database["mode"] == "external" and not dsn:
        check.fail("mlflow.database.mode", "external",
                   f"needs the DSN: pulumi config set --secret {PROJECT}:mlflowExternalDsn postgresql://user:pass@host:5432/mlflow")
    if database["mode"] == "external" and dsn and not _DSN.match(dsn):
        check.fail("mlflowExternalDsn", "<redacted>", "expected postgresql://user:password@host:port/database")
    if database["mode"] == "inCluster" and dsn:
        check.fail("mlflowExternalDsn", "<redacted>", "is set but mlflow.database.mode is inCluster; unset it or set the mode to external")
    db_resources = check.resources("mlflow.database.resources", database["resources"])
    mlflow_resources = check.resources("mlflow.resources", mlflow["resources"])

    gpu = _check_gpu(check, values["gpu"])
    kfp = _check_kubeflow_pipelines(check, values["kubeflowPipelines"], values["kubeflowPipelinesDatabasePassword"],
                                    store, mlflow, gpu)
    queueing = _check_queueing(check, values["queueing"])
    backup = _check_backup(check, values["backup"], platform, {
        store["namespace"]: "objectStore.namespace", mlflow["namespace"]: "mlflow.namespace",
        kfp.namespace: "kubeflowPipelines.namespace", gpu.namespace: "gpu.namespace",
        queueing.namespace: "queueing.namespace"})
    monitoring = _check_monitoring(check, values["monitoring"], platform, values["monitoringSmtpPassword"],
                                   values["monitoringAlertWebhookUrl"], {
        store["namespace"]: "objectStore.namespace", mlflow["namespace"]: "mlflow.namespace",
        kfp.namespace: "kubeflowPipelines.namespace", gpu.namespace: "gpu.namespace",
        queueing.namespace: "queueing.namespace", backup.namespace: "backup.namespace"})
    tenancy = _check_tenancy(check, values["tenancy"], tenant_items, gpu, store, mlflow, kfp, queueing, backup, monitoring)
    login = _check_login(check, values["login"], values["loginLdapBindPassword"], kfp, tenancy, platform, {
        store["namespace"]: "objectStore.namespace", mlflow["namespace"]: "mlflow.namespace",
        kfp.namespace: "kubeflowPipelines.namespace", gpu.namespace: "gpu.namespace",
        queueing.namespace: "queueing.namespace", backup.namespace: "backup.namespace",
        monitoring.namespace: "monitoring.namespace"})

    if check.errors:
        raise ConfigError(_report(check.errors))
    return PlatformConfig(
        images=ImagesConfig(images["registry"], images["pullPolicy"], dict(images["overrides"]), images["offline"]),
        platform=PlatformSettings(platform["storageClass"], platform["ingressClass"], tuple(platform["allowedIngressCidrs"]),
                                  IngressTls(tls["clusterIssuer"], tls["secretName"]), platform["protectData"]),
        object_store=ObjectStoreConfig(
            backend=store["backend"], namespace=store["namespace"], volume_size=store["volumeSize"],
            root_user=store["rootUser"], buckets=tuple(store["buckets"]), resources=store_resources),
        mlflow=MlflowConfig(
            namespace=mlflow["namespace"], artifact_bucket=mlflow["artifactBucket"],
            admin_username=mlflow["adminUsername"], ingress_host=mlflow["ingressHost"],
            database=DatabaseConfig(database["mode"], database["volumeSize"], db_resources),
            resources=mlflow_resources),
        gpu=gpu,
        tenancy=tenancy,
        kubeflow_pipelines=kfp,
        queueing=queueing,
        backup=backup,
        login=login,
        monitoring=monitoring,
        mlflow_external_dsn=dsn,
        kubeflow_pipelines_database_password=values["kubeflowPipelinesDatabasePassword"],
    )


def _check_gpu(check: _Checker, gpu: dict[str, Any]) -> GpuConfig:
    check.dns_label("gpu.namespace", gpu["namespace"])
    check.one_of("gpu.migStrategy", gpu["migStrategy"], MIG_STRATEGIES)
    if gpu["timeSlicingReplicas"] < 1:
        check.fail("gpu.timeSlicingReplicas", gpu["timeSlicingReplicas"], "expected 1 (no sharing) or more (pods per GPU)")
    if gpu["enabled"] and gpu["totalGpus"] < 1:
        check.fail("gpu.totalGpus", gpu["totalGpus"], "gpu.enabled is true: declare the cluster's GPUs (1 or more)")
    dcgm = gpu["dcgmExporter"]
    return GpuConfig(
        enabled=gpu["enabled"], namespace=gpu["namespace"], total_gpus=gpu["totalGpus"],
        max_gpus_per_tenant=gpu["maxGpusPerTenant"], time_slicing_replicas=gpu["timeSlicingReplicas"],
        mig_strategy=gpu["migStrategy"], resources=check.resources("gpu.resources", gpu["resources"]),
        dcgm_exporter=DcgmExporterConfig(dcgm["enabled"], check.resources("gpu.dcgmExporter.resources", dcgm["resources"])),
    )


def _check_kubeflow_pipelines(check: _Checker, kfp: dict[str, Any], password: str, store: dict[str, Any],
                              mlflow: dict[str, Any], gpu: GpuConfig) -> KubeflowPipelinesConfig:
    check.dns_label("kubeflowPipelines.namespace", kfp["namespace"])
    others = {store["namespace"]: "objectStore.namespace", mlflow["namespace"]: "mlflow.namespace"}
    if gpu.enabled:
        others.setdefault(gpu.namespace, "gpu.namespace")
    if kfp["enabled"] and kfp["namespace"] in others:
        check.fail("kubeflowPipelines.namespace", kfp["namespace"], f"is already {others[kfp['namespace']]}; choose its own namespace")
    check.bucket("kubeflowPipelines.bucket", kfp["bucket"])
    if kfp["bucket"] == mlflow["artifactBucket"]:
        check.fail("kubeflowPipelines.bucket", kfp["bucket"],
                   "is mlflow.artifactBucket; pipelines get credentials scoped to their own bucket, so choose another")
    check.one_of("kubeflowPipelines.resourceProfile", kfp["resourceProfile"], tuple(KFP_RESOURCE_PROFILES))
    requeue = kfp["workflowRequeueSeconds"]
    if not MIN_WORKFLOW_REQUEUE_SECONDS <= requeue <= 60:
        check.fail("kubeflowPipelines.workflowRequeueSeconds", requeue,
                   f"expected seconds from {MIN_WORKFLOW_REQUEUE_SECONDS:g} to 60 (how long Argo waits after a pod "
                   "changed before it looks at the workflow again): 0.3 suits a small cluster, 10 is Argo's default")
    retries = kfp["platformFaultRetries"]
    if not 0 <= retries <= 10:
        check.fail("kubeflowPipelines.platformFaultRetries", retries,
                   "expected a whole number from 0 to 10: how often a pipeline pod is started again when the platform "
                   "made it fail (Kueue's preemption, a node drain, a connection refused while the NetworkPolicy "
                   "engine catches up); 0 fails the run instead")
    database = kfp["database"]
    key = "kubeflowPipelines.database"
    check.one_of(f"{key}.mode", database["mode"], DATABASE_MODES)
    check.storage_size(f"{key}.volumeSize", database["volumeSize"])
    secret_hint = f"pulumi config set --secret {PROJECT}:kubeflowPipelinesDatabasePassword <password>"
    if database["mode"] == "external":
        if not database["host"]:
            check.fail(f"{key}.host", "", "mode external needs the MySQL host, e.g. db.ml.example.edu")
        else:
            check.hostname(f"{key}.host", database["host"], example="db.ml.example.edu")
        if not 1 <= database["port"] <= 65535:
            check.fail(f"{key}.port", database["port"], "expected a TCP port, 1-65535")
        if not _USERNAME.match(database["user"]):
            check.fail(f"{key}.user", database["user"],
                       "mode external needs the MySQL user: 3-32 letters, digits, '.', '_' or '-', starting with a letter")
        if not password:
            check.fail(f"{key}.mode", "external", f"needs the user's password: {secret_hint}")
    elif database["mode"] == "inCluster":
        for field in ("host", "user"):
            if database[field]:
                check.fail(f"{key}.{field}", database[field], "is set but the mode is inCluster; unset it or set the mode to external")
        if password:
            check.fail("kubeflowPipelinesDatabasePassword", "<redacted>",
                       f"is set but {key}.mode is inCluster (the password is generated); unset it or set the mode to external")
    return KubeflowPipelinesConfig(
        enabled=kfp["enabled"], namespace=kfp["namespace"], bucket=kfp["bucket"],
        resource_profile=kfp["resourceProfile"], resources=dict(KFP_RESOURCE_PROFILES.get(kfp["resourceProfile"], {})),
        database=KfpDatabaseConfig(database["mode"], database["volumeSize"], database["host"], database["port"],
                                   database["user"]),
        ui=kfp["ui"], workflow_requeue_seconds=requeue, platform_fault_retries=retries,
    )


def _check_backup(check: _Checker, backup: dict[str, Any], platform: dict[str, Any],
                  others: dict[str, str]) -> BackupConfig:
    check.dns_label("backup.namespace", backup["namespace"])
    if backup["namespace"] in others:
        check.fail("backup.namespace", backup["namespace"], f"is already {others[backup['namespace']]}; choose its own namespace")
    if not _CRON.match(backup["schedule"].strip()):
        check.fail("backup.schedule", backup["schedule"], "expected a cron schedule of five fields (minute hour "
                   "day-of-month month day-of-week, UTC), such as '0 2 * * *', or @daily / @hourly / @weekly")
    if backup["retention"] < 1:
        check.fail("backup.retention", backup["retention"], "expected 1 or more (how many backups are kept)")
    target = backup["target"]
    check.storage_size("backup.target.volumeSize", target["volumeSize"])
    if target["storageClass"] and not _DNS_LABEL.match(target["storageClass"]):
        check.fail("backup.target.storageClass", target["storageClass"], "expected a StorageClass name or '' for platform.storageClass")
    return BackupConfig(enabled=backup["enabled"], namespace=backup["namespace"], schedule=backup["schedule"].strip(),
                        retention=backup["retention"], volume_size=target["volumeSize"],
                        storage_class=target["storageClass"] or platform["storageClass"],
                        resources=check.resources("backup.resources", backup["resources"]))


# Prometheus durations: a number and a unit (30s, 1m, 15d, 2w); one unit is enough here.
_DURATION = re.compile(r"^[1-9][0-9]*(s|m|h|d|w|y)$")


def _check_monitoring(check: _Checker, monitoring: dict[str, Any], platform: dict[str, Any], smtp_password: str,
                      webhook_url: str, others: dict[str, str]) -> MonitoringConfig:
    check.dns_label("monitoring.namespace", monitoring["namespace"])
    if monitoring["namespace"] in others:
        check.fail("monitoring.namespace", monitoring["namespace"], f"is already {others[monitoring['namespace']]}; "
                   "choose its own namespace")
    elif kubernetes_owned(monitoring["namespace"]):
        check.fail("monitoring.namespace", monitoring["namespace"], "Kubernetes owns it (default, kube-*); use e.g. mlops-monitoring")
    for key in ("scrapeInterval", "retention"):
        if not _DURATION.match(str(monitoring[key])):
            check.fail(f"monitoring.{key}", monitoring[key], "expected a number and a unit: s, m, h, d, w or y (e.g. 30s, 15d)")
    if _DURATION.match(str(monitoring["scrapeInterval"])) and _seconds(monitoring["scrapeInterval"]) > 300:
        check.fail("monitoring.scrapeInterval", monitoring["scrapeInterval"],
                   "at most 5m: Prometheus treats a series not scraped for 5 minutes as gone, and the alerts would flap")
    check.storage_size("monitoring.volumeSize", monitoring["volumeSize"])
    if monitoring["storageClass"] and not _DNS_LABEL.match(monitoring["storageClass"]):
        check.fail("monitoring.storageClass", monitoring["storageClass"], "expected a StorageClass name or '' for platform.storageClass")
    return MonitoringConfig(
        enabled=monitoring["enabled"], namespace=monitoring["namespace"], scrape_interval=monitoring["scrapeInterval"],
        retention=monitoring["retention"], volume_size=monitoring["volumeSize"],
        storage_class=monitoring["storageClass"] or platform["storageClass"],
        kubelet_insecure_tls=monitoring["kubeletInsecureTls"],
        prometheus_resources=check.resources("monitoring.prometheus.resources", monitoring["prometheus"]["resources"]),
        kube_state_metrics_resources=check.resources("monitoring.kubeStateMetrics.resources",
                                                     monitoring["kubeStateMetrics"]["resources"]),
        node_exporter_resources=check.resources("monitoring.nodeExporter.resources", monitoring["nodeExporter"]["resources"]),
        dashboard_resources=check.resources("monitoring.dashboard.resources", monitoring["dashboard"]["resources"]),
        alertmanager=_check_alertmanager(check, monitoring["alertmanager"], smtp_password, webhook_url))


# An SMTP server: host:port.
_SMARTHOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:[0-9]{1,5}$")
# A receiver's URL (Alertmanager POSTs to it); a secret one may carry a query string.
_SECRET_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")


def _check_alertmanager(check: _Checker, alerting: dict[str, Any], smtp_password: str,
                        webhook_url: str) -> AlertmanagerConfig:
    key = "monitoring.alertmanager"
    if not _DURATION.match(str(alerting["repeatInterval"])):
        check.fail(f"{key}.repeatInterval", alerting["repeatInterval"], "expected a number and a unit: s, m, h, d, w or y (e.g. 4h)")
    elif _seconds(alerting["repeatInterval"]) < 300:
        check.fail(f"{key}.repeatInterval", alerting["repeatInterval"],
                   "at least 5m: Alertmanager sends a group again at most every 5 minutes (its group interval)")
    if not _DURATION.match(str(alerting["heartbeatInterval"])) or _seconds(alerting["heartbeatInterval"]) < 60:
        check.fail(f"{key}.heartbeatInterval", alerting["heartbeatInterval"], "expected a duration of at least 1m (e.g. 5m)")
    if alerting["heartbeatUrl"] and not _URL.match(alerting["heartbeatUrl"]):
        check.fail(f"{key}.heartbeatUrl", alerting["heartbeatUrl"], "expected an http(s) URL without query or credentials, "
                   "such as https://heartbeat.example.edu/ping/platform")
    check.storage_size(f"{key}.volumeSize", alerting["volumeSize"])
    email = alerting["email"]
    _check_severities(check, f"{key}.email.severities", email["severities"])
    _check_severities(check, f"{key}.webhookSeverities", alerting["webhookSeverities"])
    if email["to"]:
        for i, address in enumerate(email["to"]):
            if not _EMAIL.match(address):
                check.fail(f"{key}.email.to[{i}]", address, "expected an e-mail address such as ml-admins@example.edu")
        if not _EMAIL.match(email["from"]):
            check.fail(f"{key}.email.from", email["from"], "expected the sender's e-mail address, such as alerts@example.edu")
        if not _SMARTHOST.match(email["smarthost"]) or not 0 < int(email["smarthost"].rsplit(":", 1)[-1] or 0) < 65536:
            check.fail(f"{key}.email.smarthost", email["smarthost"], "expected the SMTP server as host:port, such as "
                       "smtp.example.edu:587")
        if email["username"] and not smtp_password:
            check.fail(f"{key}.email.username", email["username"], "needs its password: pulumi config set --secret "
                       f"{PROJECT}:monitoringSmtpPassword <password>")
    elif any(email[name] for name in ("from", "smarthost", "username")):
        check.fail(f"{key}.email.to", [], "is empty, but from, smarthost or username is set: list the recipients, "
                   "or clear the rest to send no e-mail")
    if smtp_password and not email["username"]:
        check.fail("monitoringSmtpPassword", "<redacted>", f"is set but {key}.email.username is not: name the account "
                   "it is the password of, or unset it")
    for name, url in alerting["webhooks"].items():
        if not _DNS_LABEL.match(name) or len(name) > 63:
            check.fail(f"{key}.webhooks.{name}", url, "the receiver's name must be a DNS label (lower-case letters, digits, '-')")
        elif name in ("webhook", "heartbeat", "keep", "email"):
            check.fail(f"{key}.webhooks.{name}", url, f"`{name}` is a receiver of the platform's own (email, webhook: "
                       "monitoringAlertWebhookUrl, heartbeat: heartbeatUrl, keep: no receiver): choose another name")
        elif name.startswith(TENANT_RECEIVER_PREFIX):
            check.fail(f"{key}.webhooks.{name}", url, f"names beginning with {TENANT_RECEIVER_PREFIX!r} are the research "
                       "groups' receivers (tenants[].alerts): choose another name")
        if not _URL.match(url):
            check.fail(f"{key}.webhooks.{name}", url, "expected an http(s) URL without query or credentials, such as "
                       f"https://alerts.example.edu/hook; a URL that is a credential goes into {PROJECT}:monitoringAlertWebhookUrl "
                       "(pulumi config set --secret)")
    if webhook_url and not _SECRET_URL.match(webhook_url):
        check.fail("monitoringAlertWebhookUrl", "<redacted>", "expected an http(s) URL")
    return AlertmanagerConfig(
        repeat_interval=str(alerting["repeatInterval"]), heartbeat_url=alerting["heartbeatUrl"],
        heartbeat_interval=str(alerting["heartbeatInterval"]), volume_size=alerting["volumeSize"],
        email=AlertEmail(to=tuple(email["to"]), sender=email["from"], smarthost=email["smarthost"],
                         username=email["username"], password=smtp_password, require_tls=email["requireTls"],
                         severities=tuple(email["severities"])),
        webhooks=dict(alerting["webhooks"]), secret_webhook_url=webhook_url,
        webhook_severities=tuple(alerting["webhookSeverities"]),
        resources=check.resources(f"{key}.resources", alerting["resources"]))


def _seconds(duration: str) -> int:
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}[duration[-1]]


def _check_login(check: _Checker, login: dict[str, Any], bind_password: str, kfp: KubeflowPipelinesConfig,
                 tenancy: TenancyConfig, platform: dict[str, Any], others: dict[str, str]) -> LoginConfig:
    check.dns_label("login.namespace", login["namespace"])
    if login["namespace"] in others:
        check.fail("login.namespace", login["namespace"], f"is already {others[login['namespace']]}; choose its own namespace")
    elif kubernetes_owned(login["namespace"]):
        check.fail("login.namespace", login["namespace"], "is a namespace that Kubernetes owns (default, kube-*); choose another")
    elif login["namespace"] in {tenant.namespace for tenant in tenancy.tenants}:
        check.fail("login.namespace", login["namespace"], "is a tenant's namespace; choose its own namespace")
    ldap = dict(login["ldap"])
    for name in sorted(ldap):
        if name not in LDAP_KEYS:
            check.fail(f"login.ldap.{name}", ldap[name], f"unknown key; allowed keys: {', '.join(LDAP_KEYS)}")
    users = login["staticUsers"]
    for i, email in enumerate(users):
        if not _EMAIL.match(email):
            check.fail(f"login.staticUsers[{i}]", email, "expected an e-mail address such as alice@example.edu "
                       "(people sign in with it, and Kubeflow Pipelines knows them by it)")
    keys = [LoginConfig.user_key(email) for email in users]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        check.fail("login.staticUsers", users, f"the parts before the @ name each password in the Secret "
                   f"people-passwords and must be unique; repeated: {', '.join(repeated)}")
    if login["enabled"]:
        for key in ("issuerUrl", "uiUrl"):
            value = login[key]
            if not _URL.match(value):
                check.fail(f"login.{key}", value, "expected the http(s) address people's browsers open, such as "
                           + ("https://login.example.edu/dex (Dex's issuer, with its path)" if key == "issuerUrl"
                              else "https://pipelines.example.edu (the UI behind oauth2-proxy)"))
        if _URL.match(login["issuerUrl"]) and urlsplit(login["issuerUrl"]).path in ("", "/"):
            check.fail("login.issuerUrl", login["issuerUrl"], "needs a path for Dex (such as /dex): its pages and "
                       "keys are served under it")
        tls = platform["ingressTls"]
        if platform["ingressClass"]:
            for key in ("issuerUrl", "uiUrl"):
                if _URL.match(login[key]) and not login[key].startswith("https://"):
                    check.fail(f"login.{key}", login[key], "must be https:// when an Ingress serves it (platform.ingressClass "
                               "is set): passwords and session cookies must not cross the network in clear")
            if not (tls["clusterIssuer"] or tls["secretName"]):
                check.fail("login.enabled", True, "needs TLS for its two Ingresses: set platform.ingressTls.clusterIssuer "
                           "or platform.ingressTls.secretName (a Secret for both hosts in login.namespace)")
        if not kfp.enabled or not kfp.ui:
            check.fail("login.enabled", True, "signs people in to the Kubeflow Pipelines UI: set kubeflowPipelines.ui "
                       "(and kubeflowPipelines.enabled) to true, or login.enabled to false")
        if not users and not ldap:
            check.fail("login", "enabled", "nobody could sign in: list login.staticUsers or configure login.ldap")
        if ldap:
            missing = [name for name in LDAP_REQUIRED if not ldap.get(name)]
            if missing:
                check.fail("login.ldap", {k: v for k, v in ldap.items()}, f"needs {', '.join(missing)}")
            if ldap.get("bindDN") and not bind_password:
                check.fail("login.ldap.bindDN", ldap["bindDN"], "needs its password: pulumi config set --secret "
                           f"{PROJECT}:loginLdapBindPassword <password>")
            if bind_password and not ldap.get("bindDN"):
                check.fail("loginLdapBindPassword", "<redacted>", "is set but login.ldap.bindDN is not: name the account "
                           "it is the password of, or unset it to search the directory anonymously")
            if ldap.get("insecureNoSSL", "false") not in ("true", "false"):
                check.fail("login.ldap.insecureNoSSL", ldap["insecureNoSSL"], "expected true or false")
        members = {member for tenant in tenancy.tenants for member in tenant.members}
        for i, email in enumerate(users):
            if email not in members:
                check.fail(f"login.staticUsers[{i}]", email, "is no tenant's member: list it in a tenant's members "
                           "(or remove it), or the person signs in to an empty UI")
    return LoginConfig(enabled=login["enabled"], namespace=login["namespace"], issuer_url=login["issuerUrl"].rstrip("/"),
                       ui_url=login["uiUrl"].rstrip("/"), static_users=tuple(users), ldap=ldap,
                       ldap_bind_password=bind_password,
                       resources=check.resources("login.resources", login["resources"]))


def _check_queueing(check: _Checker, queueing: dict[str, Any]) -> QueueingConfig:
    from infra.charts import UPSTREAM_CHARTS, local_chart_problem

    check.dns_label("queueing.namespace", queueing["namespace"])
    if kubernetes_owned(queueing["namespace"]):
        check.fail("queueing.namespace", queueing["namespace"], "Kubernetes owns it (default, kube-*); use e.g. kueue-system")
    check.dns_label("queueing.cohort", queueing["cohort"])
    if queueing["enabled"] and queueing["chart"]:
        problem = local_chart_problem(queueing["chart"], UPSTREAM_CHARTS["kueue"])
        if problem:
            check.fail("queueing.chart", queueing["chart"], problem)
    return QueueingConfig(enabled=queueing["enabled"], namespace=queueing["namespace"], chart=queueing["chart"],
                          cohort=queueing["cohort"], resources=check.resources("queueing.resources", queueing["resources"]))


def _check_tenancy(check: _Checker, tenancy: dict[str, Any], items: list[dict[str, Any]], gpu: GpuConfig,
                   store: dict[str, Any], mlflow: dict[str, Any], kfp: KubeflowPipelinesConfig,
                   queueing: QueueingConfig, backup: BackupConfig, monitoring: MonitoringConfig) -> TenancyConfig:
    prefix = tenancy["namespacePrefix"]
    if prefix and not re.match(r"^[a-z]([-a-z0-9]*)$", prefix):
        check.fail("tenancy.namespacePrefix", prefix, "expected '' or lower-case letters, digits and '-', starting with a letter")
    check.quota("tenancy.defaultQuota", tenancy["defaultQuota"])
    check.borrowing_limit("tenancy.defaultBorrowingLimit", tenancy["defaultBorrowingLimit"])
    container_defaults = check.resources("tenancy.containerDefaults", tenancy["containerDefaults"])
    # What one tenant can be granted: time-slicing advertises replicas x GPUs as nvidia.com/gpu.
    gpu_capacity = gpu.total_gpus * gpu.time_slicing_replicas
    # Every namespace the platform uses or may use (a disabled component's too: enabling it later
    # must not take over a tenant's namespace), with the key that names it.
    platform_namespaces = {kfp.namespace: "kubeflowPipelines.namespace", gpu.namespace: "gpu.namespace",
                           mlflow["namespace"]: "mlflow.namespace", store["namespace"]: "objectStore.namespace",
                           queueing.namespace: "queueing.namespace", backup.namespace: "backup.namespace",
                           monitoring.namespace: "monitoring.namespace"}
    names = [item["name"] for item in items]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        check.fail("tenants", names, f"tenant names must be unique; repeated: {', '.join(repeated)}")
    tenants = []
    for item in items:
        key = f"tenants[{item['name']}]"
        name, namespace = item["name"], prefix + item["name"]
        if not _DNS_LABEL.match(name):
            check.fail(f"{key}.name", name, "must be a DNS label: lower-case letters, digits and '-'")
        elif len(namespace) > 63:
            check.fail(f"{key}.name", name, f"namespace {namespace!r} (tenancy.namespacePrefix + name) exceeds 63 characters")
        elif kubernetes_owned(namespace):
            check.fail(f"{key}.name", name, f"namespace {namespace!r} (tenancy.namespacePrefix + name) is a namespace "
                       "that Kubernetes owns (default, kube-*); a tenant gets a default-deny policy and a quota there, "
                       "so choose another name or set tenancy.namespacePrefix (e.g. research-)")
        elif namespace in platform_namespaces:
            check.fail(f"{key}.name", name, f"namespace {namespace!r} is a platform namespace "
                       f"({platform_namespaces[namespace]}); choose another name")
        elif namespace in CLUSTER_ADDON_NAMESPACES:
            check.fail(f"{key}.name", name, f"namespace {namespace!r} belongs to a cluster add-on; choose another name")
        bucket = name + TENANT_BUCKET_SUFFIX
        check.bucket(f"{key}.name", bucket)
        if bucket in store["buckets"]:
            check.fail(f"{key}.name", name, f"its bucket {bucket!r} collides with a platform bucket in objectStore.buckets")
        elif kfp.enabled and bucket == kfp.bucket:
            check.fail(f"{key}.name", name, f"its bucket {bucket!r} is kubeflowPipelines.bucket")
        if not item["members"] and not item["groups"]:
            check.fail(key, item["name"], "list at least one member or group (bound to the edit ClusterRole)")
        for field in ("members", "groups"):
            for subject in item[field]:
                if not _SUBJECT.match(subject):
                    check.fail(f"{key}.{field}", subject, "expected a user or group name without spaces")
                elif field == "groups" and subject.startswith("system:"):
                    check.fail(f"{key}.groups", subject, "system: groups are Kubernetes' own (system:authenticated is "
                               "every user, system:serviceaccounts every ServiceAccount); list the research group's "
                               "directory group or its members instead")
                elif field == "members" and subject.startswith("system:") and not _SERVICE_ACCOUNT_SUBJECT.match(subject):
                    check.fail(f"{key}.members", subject, "system: users are Kubernetes' own (system:anonymous, "
                               "system:kube-*); the only system: member allowed is a ServiceAccount, "
                               "system:serviceaccount:<namespace>:<name>")
        quota = check.quota(f"{key}.quota", item["quota"])
        if quota.gpu > gpu.max_gpus_per_tenant:
            check.fail(f"{key}.quota.gpu", quota.gpu, f"exceeds gpu.maxGpusPerTenant ({gpu.max_gpus_per_tenant})")
        if quota.gpu and not gpu.enabled and gpu.total_gpus == 0:
            # With the device plugin off, GPUs may still be advertised by other means (the local
            # kind cluster's fake extended resource): gpu.totalGpus declares them.
            check.fail(f"{key}.quota.gpu", quota.gpu, "gpu.enabled is false and gpu.totalGpus is 0: no GPUs to grant; "
                       "enable gpu or declare the GPUs the cluster advertises in gpu.totalGpus")
        elif quota.gpu > gpu_capacity:
            check.fail(f"{key}.quota.gpu", quota.gpu,
                       f"quotas above cluster capacity: the cluster declares {gpu_capacity} GPUs "
                       "(gpu.totalGpus x gpu.timeSlicingReplicas)")
        tenants.append(TenantConfig(
            name=name, namespace=namespace, bucket=bucket, experiment_prefix=f"/{name}/",
            members=tuple(item["members"]), groups=tuple(item["groups"]), quota=quota,
            borrowing_limit=check.borrowing_limit(f"{key}.borrowingLimit", item["borrowingLimit"]),
            alerts=_check_tenant_alerts(check, f"{key}.alerts", item["alerts"], monitoring)))
    return TenancyConfig(namespace_prefix=prefix, container_defaults=container_defaults, tenants=tuple(tenants))


def _check_severities(check: _Checker, key: str, severities: list[str]) -> None:
    """A receiver's severities: one or more of ALERT_SEVERITIES."""
    if not severities or any(s not in ALERT_SEVERITIES for s in severities):
        check.fail(key, severities, f"expected a list of one or more of {', '.join(ALERT_SEVERITIES)} "
                   "(the Watchdog alert, which always fires, goes to monitoring.alertmanager.heartbeatUrl alone)")


def _check_tenant_alerts(check: _Checker, key: str, alerts: dict[str, Any], monitoring: MonitoringConfig) -> TenantAlerts:
    """A research group's receivers: e-mail addresses (sent through the platform's SMTP account) and
    plain webhook URLs; they need Alertmanager (monitoring.enabled)."""
    for i, address in enumerate(alerts["email"]):
        if not _EMAIL.match(address):
            check.fail(f"{key}.email[{i}]", address, "expected an e-mail address such as vision-lab@example.edu")
    if alerts["email"] and not monitoring.alertmanager.email.to:
        check.fail(f"{key}.email", alerts["email"], "needs the platform's SMTP account: set monitoring.alertmanager.email "
                   "(to, from, smarthost and, with a login, username and the secret monitoringSmtpPassword)")
    for name, url in alerts["webhooks"].items():
        if not _DNS_LABEL.match(name) or len(name) > 40:
            check.fail(f"{key}.webhooks.{name}", url, "the webhook's name must be a DNS label of at most 40 characters")
        if not _URL.match(url):
            check.fail(f"{key}.webhooks.{name}", url, "expected an http(s) URL without query or credentials, such as "
                       "https://chat.example.edu/hooks/vision (a research group's webhook is no secret of the platform)")
    _check_severities(check, f"{key}.severities", alerts["severities"])
    result = TenantAlerts(email=tuple(alerts["email"]), webhooks=tuple(sorted(alerts["webhooks"].items())),
                          severities=tuple(alerts["severities"]))
    if result.any and not monitoring.enabled:
        check.fail(key, "email/webhooks", "needs monitoring.enabled: the platform's Alertmanager sends a group's alerts")
    return result


def _report(errors: list[str]) -> str:
    return "invalid stack configuration:\n  - " + "\n  - ".join(errors)


def load() -> PlatformConfig:
    """Read and validate the running stack's configuration (call inside a Pulumi program)."""
    import json

    import pulumi.runtime

    prefix = f"{PROJECT}:"
    raw: dict[str, Any] = {}
    for full_key, text in pulumi.runtime.get_config_env().items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix):]
        try:
            raw[key] = json.loads(text) if text[:1] in ("{", "[") or text in ("true", "false") else text
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{full_key} is not valid JSON/YAML: {exc}") from None
    secret = frozenset(k[len(prefix):] for k in pulumi.runtime.get_config_secret_keys_env() if k.startswith(prefix))
    return parse(raw, secret)
