"""Monitoring: Prometheus, kube-state-metrics and node-exporter, with the platform's alert rules.

Prometheus scrapes, every `scrape_interval`:
  - itself, kube-state-metrics (the API's objects as metrics: Deployments' available replicas, pods'
    restarts, CronJobs' schedules) and node-exporter on every node (disks, memory, CPU);
  - each node's kubelet over HTTPS with its ServiceAccount token: volume statistics (`kubelet`) and
    the containers' CPU and memory use (`cadvisor`, only the series the usage per tenant needs);
  - the ScrapeTargets other components declare (the KFP API server, Argo's controller, MLflow's
    sidecar, SeaweedFS, the DCGM exporter), each as the job its alert rules name, through a NetworkPolicy in the target's
    namespace that admits Prometheus alone on the metrics port.
It evaluates infra/monitoring/alert-rules.yml (checked and unit-tested by promtool in make test) and
sends the alerts that fire to Alertmanager, which groups them and sends them to the stack's receivers
(e-mail, webhooks; alertmanager_config()) and keeps them, and their silences, in its API.
The time series live on a volume, kept for `retention` or until 80% of the volume is used.
The dashboard (platform_dashboard/server.py, mounted from a ConfigMap on the MLflow image) draws
the platform's and the research groups' charts from Prometheus; people open it with
`kubectl port-forward` (make dashboard), as Prometheus's API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.components.common import CONTAINER_SECURITY, PART_OF, content_digest, grant, ingress_policy, labels, pod_security
from infra.config import TENANT_RECEIVER_PREFIX, AlertmanagerConfig, MonitoringConfig, TenantConfig

RULES_FILE = Path(__file__).resolve().parents[1] / "monitoring" / "alert-rules.yml"
DASHBOARD_PROGRAM = Path(__file__).resolve().parents[2] / "platform_dashboard" / "server.py"
DASHBOARD_SERVICE = "dashboard"
DASHBOARD_PORT = 8080
# The MLflow image's user (its Python runs the dashboard).
_DASHBOARD_UID = 1000
PROMETHEUS_PORT = 9090
# The Service of Prometheus's API (and of its UI, once built).
PROMETHEUS_SERVICE = "prometheus"
KUBE_STATE_METRICS_PORT = 8080
NODE_EXPORTER_PORT = 9100
KUBELET_PORT = 10250
ALERTMANAGER_PORT = 9093
ALERTMANAGER_SERVICE = "alertmanager"
# Alertmanager's receiver that sends nowhere: the alerts no other receiver takes stay in its API.
KEEP_RECEIVER = "keep"
# The receiver of the secret monitoringAlertWebhookUrl.
SECRET_WEBHOOK_RECEIVER = "webhook"  # noqa: S105 (a name, not a value)
# The always-firing alert (infra/monitoring/alert-rules.yml) and the receiver it goes to (heartbeatUrl).
WATCHDOG_ALERT = "Watchdog"
HEARTBEAT_RECEIVER = "heartbeat"
_ALERTMANAGER_CONFIG_DIR = "/etc/alertmanager"
# The SMTP password and the secret webhook URL, one file each, from a Secret (never in the configuration).
_ALERTMANAGER_SECRETS_DIR = "/etc/alertmanager-secrets"
_ALERTMANAGER_DATA_DIR = "/alertmanager"
# The nobody user of the images (offline/images/monitoring.sh runs each as 65534).
_UID = 65534
_SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
_CONFIG_DIR = "/etc/prometheus"
# The targets' own bearer tokens (ScrapeTarget.bearer_token), one file per job, from a Secret.
_TOKENS_DIR = "/etc/prometheus-tokens"
TOKENS_SECRET = "prometheus-scrape-tokens"  # noqa: S105 (a name, not a value)
_DATA_DIR = "/prometheus"
# What kube-state-metrics reports: what the alert rules and the usage per tenant read, no more.
KUBE_STATE_METRICS_RESOURCES = ("cronjobs", "daemonsets", "deployments", "jobs", "namespaces", "nodes",
                                "persistentvolumeclaims", "pods", "resourcequotas", "statefulsets")
# Object labels kube-state-metrics turns into metric labels (kube_<kind>_labels): the model
# servers' component label (ModelServerDown) and the tenant namespaces' label (usage per tenant).
KUBE_STATE_METRICS_LABELS = {"deployments": ["app.kubernetes.io/component"], "namespaces": ["mlops-platform/tenant"]}
# The cAdvisor series kept (the others, hundreds per container, are dropped at scrape time).
CADVISOR_KEEP = ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes")
# The kubelet's series kept: its volumes' use (VolumeNearlyFull).
KUBELET_KEEP = ("kubelet_volume_stats_.*",)


def prometheus_policy(job: str) -> str:
    """The name of the NetworkPolicy that admits Prometheus to the pods of scrape job `job`."""
    return f"allow-prometheus-to-{job}"


@dataclass(frozen=True)
class ScrapeTarget:
    """Pods another component runs in `namespaces` whose metrics Prometheus scrapes as `job` (the
    name the alert rules use). `honor_labels`: the exporter's own `namespace` and `pod` labels name the workload
    it reports on (Argo's runs, DCGM's GPU users), so they win over the pod's own. `authorized`: the
    target serves HTTPS with a certificate it made itself and lets in only callers whose token the
    API server authorizes for `get` on the path (controller-runtime's secure metrics, Kueue's):
    Prometheus sends its ServiceAccount token, which its ClusterRole allows for /metrics.
    `bearer_token`: a token of the target's own that Prometheus sends instead (MinIO's); it is kept
    in a Secret mounted into Prometheus, never in its configuration."""

    job: str
    namespaces: tuple[str, ...]
    pod_labels: dict[str, str]
    port: int
    path: str = "/metrics"
    honor_labels: bool = False
    authorized: bool = False
    bearer_token: pulumi.Input[str] | None = None


@dataclass
class MonitoringArgs:
    # namespace, scrape interval, retention, volume, kubelet TLS, each part's resources.
    config: MonitoringConfig
    # Prometheus's, kube-state-metrics', node-exporter's and Alertmanager's image.
    images: tuple[str, str, str, str]
    # Runs the dashboard (Python 3, standard library): the MLflow image.
    dashboard_image: str
    image_pull_policy: str
    targets: tuple[ScrapeTarget, ...] = ()
    # The research groups: those with receivers of their own (alerts) get their namespace's alerts.
    tenants: tuple[TenantConfig, ...] = ()
    # The components whose namespaces the targets' NetworkPolicies go into.
    depends_on: list[pulumi.Resource] = field(default_factory=list)


def _keep(pattern: tuple[str, ...]) -> list[dict]:
    return [{"source_labels": ["__name__"], "regex": "|".join(pattern), "action": "keep"}]


def _pod_job(job: str, namespaces: tuple[str, ...], pod_labels: dict[str, str], port: int, path: str = "/metrics",
             honor_labels: bool = False, authorized: bool = False, token_file: str = "") -> dict:
    """A job scraping `port` of every ready pod of `namespaces` with `pod_labels`, labelled with the
    pod's namespace, name and node. A pod that is not ready is no target: a server whose every pod
    fails its readiness probe leaves no `up` series, which the alert rules' absent() catches.
    `authorized` (ScrapeTarget): HTTPS with Prometheus's ServiceAccount token; the pod's certificate
    is its own, signed by no CA Prometheus could know, so it is not verified (the token is what
    the target checks; the NetworkPolicy keeps everyone else from the port). `token_file`: a bearer
    token of the target's own, over plain HTTP."""
    selector = ",".join(f"{key}={value}" for key, value in sorted(pod_labels.items()))
    secure = {"scheme": "https", "authorization": {"credentials_file": f"{_SERVICE_ACCOUNT_DIR}/token"},
              "tls_config": {"insecure_skip_verify": True}} if authorized else {}
    if token_file:
        secure = {"authorization": {"credentials_file": token_file}}
    return {
        "job_name": job,
        "metrics_path": path,
        "honor_labels": honor_labels,
        **secure,
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": list(namespaces)},
                                   "selectors": [{"role": "pod", "label": selector}]}],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_pod_ready"], "regex": "true", "action": "keep"},
            # One target per pod, whatever ports its containers declare.
            {"source_labels": ["__meta_kubernetes_pod_ip"], "target_label": "__address__", "replacement": f"$1:{port}"},
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
            # The workload's name (a model server's: its model's), which outlives the pod's.
            {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"], "target_label": "app"},
        ],
    }


def _kubelet_job(job: str, path: str, keep: tuple[str, ...], insecure_tls: bool) -> dict:
    tls = {"insecure_skip_verify": True} if insecure_tls else {"ca_file": f"{_SERVICE_ACCOUNT_DIR}/ca.crt"}
    return {
        "job_name": job,
        "scheme": "https",
        "metrics_path": path,
        "authorization": {"credentials_file": f"{_SERVICE_ACCOUNT_DIR}/token"},
        "tls_config": tls,
        "kubernetes_sd_configs": [{"role": "node"}],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_node_address_InternalIP"], "target_label": "__address__",
             "replacement": f"$1:{KUBELET_PORT}"},
            {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "node"},
        ],
        "metric_relabel_configs": _keep(keep),
    }


def prometheus_config(namespace: str, scrape_interval: str, kubelet_insecure_tls: bool,
                      targets: tuple[ScrapeTarget, ...]) -> dict:
    """Prometheus's configuration file: the monitoring stack's own jobs, the kubelets' and the targets'."""
    jobs = [job.job for job in targets]
    repeated = sorted({job for job in jobs if jobs.count(job) > 1} | (set(jobs) & set(OWN_JOBS)))
    if repeated:
        raise ValueError(f"Monitoring: scrape job names must be unique; repeated or reserved: {', '.join(repeated)}")
    both = sorted(t.job for t in targets if t.authorized and t.bearer_token is not None)
    if both:
        raise ValueError(f"Monitoring: a scrape target takes Prometheus's token or its own, not both: {', '.join(both)}")
    alertmanager = f"{ALERTMANAGER_SERVICE}.{namespace}.svc:{ALERTMANAGER_PORT}"
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [f"{_CONFIG_DIR}/rules/{RULES_FILE.name}"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [f"localhost:{PROMETHEUS_PORT}"]}]},
            {"job_name": "alertmanager", "static_configs": [{"targets": [alertmanager]}]},
            # The objects' namespace and pod labels are kube-state-metrics' own series labels.
            {"job_name": "kube-state-metrics", "honor_labels": True,
             "static_configs": [{"targets": [f"kube-state-metrics.{namespace}.svc:{KUBE_STATE_METRICS_PORT}"]}]},
            _pod_job("node-exporter", (namespace,), _selector(labels("node-exporter", "monitoring")), NODE_EXPORTER_PORT),
            _kubelet_job("kubelet", "/metrics", KUBELET_KEEP, kubelet_insecure_tls),
            _kubelet_job("cadvisor", "/metrics/cadvisor", CADVISOR_KEEP, kubelet_insecure_tls),
            *[_pod_job(t.job, t.namespaces, t.pod_labels, t.port, t.path, t.honor_labels, t.authorized,
                       f"{_TOKENS_DIR}/{t.job}" if t.bearer_token is not None else "") for t in targets],
        ],
    }


OWN_JOBS = ("prometheus", "alertmanager", "kube-state-metrics", "node-exporter", "kubelet", "cadvisor")


def _severity_matcher(severities: tuple[str, ...]) -> str:
    return f'severity=~"{"|".join(severities)}"'


def alertmanager_config(cfg: AlertmanagerConfig, tenants: tuple[TenantConfig, ...] = ()) -> dict:
    """Alertmanager's configuration file: the Watchdog to the heartbeat URL alone, every heartbeat
    interval; the other alerts grouped by alert and namespace, each group sent 30 s after its first
    alert, its changes at most every 5 minutes and again every repeat interval while it fires, to
    every receiver whose severities match (e-mail, each webhook, the secret webhook); alerts no
    receiver takes stay in Alertmanager's API (the `keep` receiver). A critical alert mutes the
    warning of the same name in the same namespace. A research group with receivers of its own
    (tenants[].alerts) also gets the alerts of its namespace, of its severities, and no other group's:
    its route matches the namespace label, and the platform's receivers still get them. It holds no
    secret: the SMTP password and the secret webhook URL are files from a Secret (`*_file`)."""
    receivers: list[dict] = [{"name": KEEP_RECEIVER}]
    # The Watchdog stops here (no `continue`): with no heartbeat URL it is kept, never sent.
    routes: list[dict] = [{"receiver": HEARTBEAT_RECEIVER if cfg.heartbeat_url else KEEP_RECEIVER,
                           "matchers": [f'alertname="{WATCHDOG_ALERT}"'], "group_wait": "0s", "group_interval": "1m",
                           "repeat_interval": cfg.heartbeat_interval}]
    if cfg.heartbeat_url:
        receivers.append({"name": HEARTBEAT_RECEIVER, "webhook_configs": [{"url": cfg.heartbeat_url, "send_resolved": False}]})
    config: dict = {"global": {"resolve_timeout": "5m"}}
    for tenant in tenants:
        if not tenant.alerts.any:
            continue
        receiver: dict = {"name": TENANT_RECEIVER_PREFIX + tenant.name}
        if tenant.alerts.email:
            receiver["email_configs"] = [{"to": ", ".join(tenant.alerts.email), "send_resolved": True}]
        if tenant.alerts.webhooks:
            receiver["webhook_configs"] = [{"url": url, "send_resolved": True} for _, url in tenant.alerts.webhooks]
        receivers.append(receiver)
        routes.append({"receiver": receiver["name"], "continue": True,
                       "matchers": [f'namespace="{tenant.namespace}"', _severity_matcher(tenant.alerts.severities)]})
    email = cfg.email
    if email.to:
        config["global"].update({"smtp_from": email.sender, "smtp_smarthost": email.smarthost,
                                 "smtp_require_tls": email.require_tls})
        if email.username:
            config["global"].update({"smtp_auth_username": email.username,
                                     "smtp_auth_password_file": f"{_ALERTMANAGER_SECRETS_DIR}/smtp-password"})
        receivers.append({"name": "email", "email_configs": [{"to": ", ".join(email.to), "send_resolved": True}]})
        routes.append({"receiver": "email", "matchers": [_severity_matcher(email.severities)], "continue": True})
    webhooks = [(name, {"url": url}) for name, url in sorted(cfg.webhooks.items())]
    if cfg.secret_webhook_url:
        webhooks.append((SECRET_WEBHOOK_RECEIVER, {"url_file": f"{_ALERTMANAGER_SECRETS_DIR}/webhook-url"}))
    for name, target in webhooks:
        receivers.append({"name": name, "webhook_configs": [{**target, "send_resolved": True}]})
        routes.append({"receiver": name, "matchers": [_severity_matcher(cfg.webhook_severities)], "continue": True})
    config["route"] = {"receiver": KEEP_RECEIVER, "group_by": ["alertname", "namespace"], "group_wait": "30s",
                       "group_interval": "5m", "repeat_interval": cfg.repeat_interval, "routes": routes}
    config["receivers"] = receivers
    config["inhibit_rules"] = [{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
                                "equal": ["alertname", "namespace"]}]
    return config


def alertmanager_secrets(cfg: AlertmanagerConfig) -> dict[str, str]:
    """The files of Alertmanager's Secret (file name -> content): the SMTP password, the secret webhook URL."""
    files = {}
    if cfg.email.to and cfg.email.username:
        files["smtp-password"] = cfg.email.password
    if cfg.secret_webhook_url:
        files["webhook-url"] = cfg.secret_webhook_url
    return files


def _selector(app_labels: dict[str, str]) -> dict[str, str]:
    return {key: app_labels[key] for key in ("app.kubernetes.io/name", "app.kubernetes.io/component")}


def kube_state_metrics_args() -> list[str]:
    allowlist = ",".join(f"{kind}=[{','.join(names)}]" for kind, names in KUBE_STATE_METRICS_LABELS.items())
    return [f"--port={KUBE_STATE_METRICS_PORT}", "--telemetry-port=8081",
            f"--resources={','.join(KUBE_STATE_METRICS_RESOURCES)}", f"--metric-labels-allowlist={allowlist}"]


class Monitoring(pulumi.ComponentResource):
    """Namespace (Pod Security `privileged` enforced for node-exporter's host mounts, `restricted`
    warned), Prometheus (Deployment, volume, ConfigMaps of its configuration and the rules, RBAC to
    discover pods and nodes and read the kubelets' metrics), kube-state-metrics (Deployment,
    Service, read-only RBAC on what it reports), node-exporter (DaemonSet on every node), ingress
    denied but from Prometheus, and a NetworkPolicy per scrape target in the target's namespace."""

    namespace: pulumi.Output[str]
    prometheus_service: pulumi.Output[str]
    dashboard_service: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops-platform:platform:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg = args.config
        config = prometheus_config(cfg.namespace, cfg.scrape_interval, cfg.kubelet_insecure_tls, args.targets)
        ns = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": cfg.namespace, "labels": {
                **labels(cfg.namespace, "monitoring"),
                # node-exporter reads the host's /proc, /sys and file systems (hostPath volumes).
                "pod-security.kubernetes.io/enforce": "privileged",
                "pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/audit": "restricted"}},
            opts=child)
        ns_name = ns.metadata.apply(lambda m: m["name"])
        prometheus_labels = labels("prometheus", "monitoring")
        ksm_labels = labels("kube-state-metrics", "monitoring")
        exporter_labels = labels("node-exporter", "monitoring")

        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata={"name": "default-deny-ingress", "namespace": ns_name, "labels": {"app.kubernetes.io/part-of": PART_OF}},
            spec={"podSelector": {}, "policyTypes": ["Ingress"]}, opts=child)
        for workload, workload_labels, port in (("kube-state-metrics", ksm_labels, KUBE_STATE_METRICS_PORT),
                                                ("node-exporter", exporter_labels, NODE_EXPORTER_PORT)):
            self._allow_prometheus(f"{name}-allow-{workload}", prometheus_policy(workload), ns_name,
                                   _selector(workload_labels), port, _selector(prometheus_labels), child)
        # Prometheus's API and UI: from this namespace only (people reach it with kubectl port-forward).
        ingress_policy(f"{name}-allow-prometheus", ns_name, _selector(prometheus_labels), PROMETHEUS_PORT, [], (), self)
        target_opts = pulumi.ResourceOptions(parent=self, depends_on=args.depends_on)
        for target in args.targets:
            for target_namespace in target.namespaces:
                self._allow_prometheus(f"{name}-allow-{target.job}-{target_namespace}", prometheus_policy(target.job),
                                       target_namespace, target.pod_labels, target.port, _selector(prometheus_labels),
                                       target_opts, from_namespace=cfg.namespace)

        self._kube_state_metrics(name, ns_name, ksm_labels, args, child)
        self._node_exporter(name, ns_name, exporter_labels, args, child)
        service = self._prometheus(name, ns_name, prometheus_labels, config, args, child)
        self._alertmanager(name, ns_name, _selector(prometheus_labels), args, child)
        dashboard = self._dashboard(name, ns_name, service, args, child)

        self.namespace = ns_name
        self.prometheus_service = service.metadata.apply(lambda m: m["name"])
        self.dashboard_service = dashboard.metadata.apply(lambda m: m["name"])
        self.register_outputs({"namespace": self.namespace, "prometheus_service": self.prometheus_service,
                               "dashboard_service": self.dashboard_service})

    @staticmethod
    def _allow_prometheus(resource_name: str, name: str, namespace_name: pulumi.Input[str], pod_labels: dict[str, str],
                          port: int, prometheus: dict[str, str], opts: pulumi.ResourceOptions,
                          from_namespace: str = "") -> None:
        """Ingress to the pods with `pod_labels` on `port` from Prometheus's pods only (in
        `from_namespace` when it is another namespace)."""
        peer: dict = {"podSelector": {"matchLabels": prometheus}}
        if from_namespace:
            peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": from_namespace}}
        k8s.networking.v1.NetworkPolicy(
            resource_name,
            metadata={"name": name, "namespace": namespace_name, "labels": {"app.kubernetes.io/part-of": PART_OF}},
            spec={"podSelector": {"matchLabels": pod_labels}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [peer], "ports": [{"protocol": "TCP", "port": port}]}]},
            opts=opts)

    @staticmethod
    def _service_account(name: str, ns_name: pulumi.Output[str], app_labels: dict[str, str], rules: list[dict],
                         opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        account = k8s.core.v1.ServiceAccount(f"{name}-account", metadata={"name": name, "namespace": ns_name,
                                                                          "labels": app_labels}, opts=opts)
        grant(f"{name}-role", f"{name}-binding", {"name": f"mlops-{name}", "labels": app_labels}, rules,
              [{"kind": "ServiceAccount", "name": name, "namespace": ns_name}], opts, cluster_wide=True)
        return account.metadata.apply(lambda m: m["name"])

    def _kube_state_metrics(self, name: str, ns_name: pulumi.Output[str], app_labels: dict[str, str],
                            args: MonitoringArgs, opts: pulumi.ResourceOptions) -> None:
        groups = {"": ["namespaces", "nodes", "persistentvolumeclaims", "pods", "resourcequotas"],
                  "apps": ["daemonsets", "deployments", "statefulsets"], "batch": ["cronjobs", "jobs"]}
        account = self._service_account(f"{name}-kube-state-metrics", ns_name, app_labels, [
            {"apiGroups": [group], "resources": resources, "verbs": ["list", "watch"]} for group, resources in groups.items()],
            opts)
        k8s.apps.v1.Deployment(
            f"{name}-kube-state-metrics",
            metadata={"name": "kube-state-metrics", "namespace": ns_name, "labels": app_labels},
            spec={
                "replicas": 1,
                "selector": {"matchLabels": _selector(app_labels)},
                "template": {
                    "metadata": {"labels": app_labels},
                    "spec": {
                        "serviceAccountName": account,
                        "securityContext": pod_security(_UID),
                        "containers": [{
                            "name": "kube-state-metrics",
                            "image": args.images[1],
                            "imagePullPolicy": args.image_pull_policy,
                            "args": kube_state_metrics_args(),
                            "ports": [{"name": "metrics", "containerPort": KUBE_STATE_METRICS_PORT}],
                            "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8081}, "periodSeconds": 10},
                            "livenessProbe": {"httpGet": {"path": "/livez", "port": KUBE_STATE_METRICS_PORT},
                                              "initialDelaySeconds": 10, "periodSeconds": 30},
                            "securityContext": {**CONTAINER_SECURITY, "readOnlyRootFilesystem": True},
                            "resources": args.config.kube_state_metrics_resources.to_kubernetes(),
                        }],
                    },
                },
            },
            opts=opts)
        _service(f"{name}-kube-state-metrics-svc", "kube-state-metrics", ns_name, app_labels, "metrics", KUBE_STATE_METRICS_PORT,
                 opts)

    def _node_exporter(self, name: str, ns_name: pulumi.Output[str], app_labels: dict[str, str],
                       args: MonitoringArgs, opts: pulumi.ResourceOptions) -> None:
        host = [("proc", "/proc"), ("sys", "/sys"), ("root", "/")]
        k8s.apps.v1.DaemonSet(
            f"{name}-node-exporter",
            metadata={"name": "node-exporter", "namespace": ns_name, "labels": app_labels},
            spec={
                "selector": {"matchLabels": _selector(app_labels)},
                "updateStrategy": {"type": "RollingUpdate"},
                "template": {
                    "metadata": {"labels": app_labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security(_UID),
                        # Every node, control plane and tainted GPU nodes included.
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [{
                            "name": "node-exporter",
                            "image": args.images[2],
                            "imagePullPolicy": args.image_pull_policy,
                            "args": [f"--web.listen-address=:{NODE_EXPORTER_PORT}", "--path.procfs=/host/proc",
                                     "--path.sysfs=/host/sys", "--path.rootfs=/host/root",
                                     # The kubelet's and containerd's per-pod mounts are the pods' (kubelet volume stats).
                                     "--collector.filesystem.mount-points-exclude="
                                     "^/(dev|proc|sys|run|var/lib/kubelet/.+|var/lib/containerd/.+)($|/)"],
                            "ports": [{"name": "metrics", "containerPort": NODE_EXPORTER_PORT}],
                            "readinessProbe": {"httpGet": {"path": "/", "port": NODE_EXPORTER_PORT}, "periodSeconds": 10},
                            "securityContext": {**CONTAINER_SECURITY, "readOnlyRootFilesystem": True},
                            "resources": args.config.node_exporter_resources.to_kubernetes(),
                            "volumeMounts": [{"name": volume, "mountPath": f"/host/{volume}", "readOnly": True,
                                              **({"mountPropagation": "HostToContainer"} if volume == "root" else {})}
                                             for volume, _ in host],
                        }],
                        "volumes": [{"name": volume, "hostPath": {"path": path}} for volume, path in host],
                    },
                },
            },
            opts=opts)

    def _prometheus(self, name: str, ns_name: pulumi.Output[str], app_labels: dict[str, str], config: dict,
                    args: MonitoringArgs, opts: pulumi.ResourceOptions) -> k8s.core.v1.Service:
        account = self._service_account(f"{name}-prometheus", ns_name, app_labels, [
            {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list", "watch"]},
            # The kubelets' /metrics and /metrics/cadvisor (not nodes/proxy: no exec, no logs).
            {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
            # The `authorized` targets' /metrics (Kueue's), only where there are such targets.
            *([{"nonResourceURLs": sorted({t.path for t in args.targets if t.authorized}), "verbs": ["get"]}]
              if any(t.authorized for t in args.targets) else []),
        ], opts)
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-prometheus-config",
            metadata={"name": "prometheus-config", "namespace": ns_name, "labels": app_labels},
            data={"prometheus.yml": yaml.safe_dump(config, sort_keys=False)}, opts=opts)
        rules = k8s.core.v1.ConfigMap(
            f"{name}-prometheus-rules",
            metadata={"name": "prometheus-rules", "namespace": ns_name, "labels": app_labels},
            data={RULES_FILE.name: RULES_FILE.read_text()}, opts=opts)
        cfg = args.config
        volume = _data_volume(f"{name}-prometheus-data", "prometheus-data", ns_name, app_labels, cfg.volume_size,
                              cfg.storage_class, opts)
        mounts, volumes = [], []
        tokens = {t.job: t.bearer_token for t in args.targets if t.bearer_token is not None}
        if tokens:
            secret = k8s.core.v1.Secret(
                f"{name}-prometheus-tokens", metadata={"name": TOKENS_SECRET, "namespace": ns_name, "labels": app_labels},
                string_data={job: pulumi.Output.secret(token) for job, token in tokens.items()}, opts=opts)
            mounts.append({"name": "tokens", "mountPath": _TOKENS_DIR, "readOnly": True})
            volumes.append({"name": "tokens", "secret": {"secretName": secret.metadata.apply(lambda m: m["name"]),
                                                         "defaultMode": 0o440}})
        k8s.apps.v1.Deployment(
            f"{name}-prometheus",
            metadata={"name": "prometheus", "namespace": ns_name, "labels": app_labels},
            spec={
                "replicas": 1,
                # One writer of the volume at a time.
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": _selector(app_labels)},
                "template": {
                    "metadata": {"labels": app_labels, "annotations": {
                        # A changed configuration or rule file restarts Prometheus with it.
                        "mlops-platform/config-hash": content_digest(yaml.safe_dump(config) + RULES_FILE.read_text())}},
                    "spec": {
                        "serviceAccountName": account,
                        "securityContext": pod_security(_UID),
                        "containers": [{
                            "name": "prometheus",
                            "image": args.images[0],
                            "imagePullPolicy": args.image_pull_policy,
                            "args": [f"--config.file={_CONFIG_DIR}/prometheus.yml", f"--storage.tsdb.path={_DATA_DIR}",
                                     f"--storage.tsdb.retention.time={cfg.retention}",
                                     f"--storage.tsdb.retention.size={retention_size(cfg.volume_size)}",
                                     f"--web.listen-address=:{PROMETHEUS_PORT}"],
                            "ports": [{"name": "web", "containerPort": PROMETHEUS_PORT}],
                            **_probes(PROMETHEUS_PORT, "/-/ready", "/-/healthy", live_delay=30),
                            "securityContext": {**CONTAINER_SECURITY, "readOnlyRootFilesystem": True},
                            "resources": args.config.prometheus_resources.to_kubernetes(),
                            "volumeMounts": [
                                {"name": "config", "mountPath": _CONFIG_DIR, "readOnly": True},
                                {"name": "rules", "mountPath": f"{_CONFIG_DIR}/rules", "readOnly": True},
                                {"name": "data", "mountPath": _DATA_DIR},
                                *mounts,
                            ],
                        }],
                        "volumes": [
                            {"name": "config", "configMap": {"name": config_map.metadata.apply(lambda m: m["name"])}},
                            {"name": "rules", "configMap": {"name": rules.metadata.apply(lambda m: m["name"])}},
                            {"name": "data", "persistentVolumeClaim": {"claimName": volume.metadata.apply(lambda m: m["name"])}},
                            *volumes,
                        ],
                    },
                },
            },
            opts=opts)
        return _service(f"{name}-prometheus-svc", PROMETHEUS_SERVICE, ns_name, app_labels, "web", PROMETHEUS_PORT, opts)


    def _alertmanager(self, name: str, ns_name: pulumi.Output[str], prometheus_pods: dict[str, str], args: MonitoringArgs,
                      opts: pulumi.ResourceOptions) -> None:
        """Alertmanager: a Deployment (one replica, its own HA cluster off), its configuration in a
        ConfigMap, the SMTP password and secret webhook URL in a Secret, silences and the
        notification log on a volume, a Service; reached by Prometheus alone (alerts, /metrics),
        people use kubectl port-forward (amtool)."""
        cfg = args.config.alertmanager
        app_labels = labels(ALERTMANAGER_SERVICE, "monitoring")
        config = alertmanager_config(cfg, args.tenants)
        config_text = yaml.safe_dump(config, sort_keys=False)
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-alertmanager-config",
            metadata={"name": "alertmanager-config", "namespace": ns_name, "labels": app_labels},
            data={"alertmanager.yml": config_text}, opts=opts)
        files = alertmanager_secrets(cfg)
        mounts = [{"name": "config", "mountPath": _ALERTMANAGER_CONFIG_DIR, "readOnly": True},
                  {"name": "data", "mountPath": _ALERTMANAGER_DATA_DIR}]
        volumes: list[dict] = [{"name": "config", "configMap": {"name": config_map.metadata.apply(lambda m: m["name"])}}]
        if files:
            secret = k8s.core.v1.Secret(
                f"{name}-alertmanager-secrets",
                metadata={"name": "alertmanager-secrets", "namespace": ns_name, "labels": app_labels},
                string_data={file: pulumi.Output.secret(value) for file, value in files.items()}, opts=opts)
            mounts.append({"name": "secrets", "mountPath": _ALERTMANAGER_SECRETS_DIR, "readOnly": True})
            volumes.append({"name": "secrets", "secret": {"secretName": secret.metadata.apply(lambda m: m["name"]),
                                                          "defaultMode": 0o440}})
        volume = _data_volume(f"{name}-alertmanager-data", "alertmanager-data", ns_name, app_labels, cfg.volume_size,
                              args.config.storage_class, opts)
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": volume.metadata.apply(lambda m: m["name"])}})
        # A changed configuration restarts Alertmanager with it. The secret files are read at each
        # sending (notify/webhook, notify/email): a changed password or URL needs no restart.
        digest = content_digest(config_text)
        k8s.apps.v1.Deployment(
            f"{name}-alertmanager",
            metadata={"name": ALERTMANAGER_SERVICE, "namespace": ns_name, "labels": app_labels},
            spec={
                "replicas": 1,
                # One writer of the volume at a time.
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": _selector(app_labels)},
                "template": {
                    "metadata": {"labels": app_labels, "annotations": {"mlops-platform/config-hash": digest}},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security(_UID),
                        "containers": [{
                            "name": "alertmanager",
                            "image": args.images[3],
                            "imagePullPolicy": args.image_pull_policy,
                            "args": [f"--config.file={_ALERTMANAGER_CONFIG_DIR}/alertmanager.yml",
                                     f"--storage.path={_ALERTMANAGER_DATA_DIR}",
                                     f"--web.listen-address=:{ALERTMANAGER_PORT}",
                                     # One replica: no gossip with peers (its port stays closed).
                                     "--cluster.listen-address="],
                            "ports": [{"name": "web", "containerPort": ALERTMANAGER_PORT}],
                            **_probes(ALERTMANAGER_PORT, "/-/ready", "/-/healthy", live_delay=10),
                            "securityContext": {**CONTAINER_SECURITY, "readOnlyRootFilesystem": True},
                            "resources": cfg.resources.to_kubernetes(),
                            "volumeMounts": mounts,
                        }],
                        "volumes": volumes,
                    },
                },
            },
            opts=opts)
        # Prometheus sends the alerts and reads /metrics; nobody else (people: kubectl port-forward).
        self._allow_prometheus(f"{name}-allow-alertmanager", prometheus_policy("alertmanager"), ns_name,
                               _selector(app_labels), ALERTMANAGER_PORT, prometheus_pods, opts)
        _service(f"{name}-alertmanager-svc", ALERTMANAGER_SERVICE, ns_name, app_labels, "web", ALERTMANAGER_PORT, opts)

    def _dashboard(self, name: str, ns_name: pulumi.Output[str], prometheus: k8s.core.v1.Service, args: MonitoringArgs,
                   opts: pulumi.ResourceOptions) -> k8s.core.v1.Service:
        """The dashboard: a Deployment running platform_dashboard/server.py against Prometheus's Service,
        without a ServiceAccount token (it asks Prometheus only), reachable from this namespace only."""
        app_labels = labels(DASHBOARD_SERVICE, "monitoring")
        program = DASHBOARD_PROGRAM.read_text()
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-dashboard-program",
            metadata={"name": "dashboard-program", "namespace": ns_name, "labels": app_labels},
            data={DASHBOARD_PROGRAM.name: program}, opts=opts)
        prometheus_url = pulumi.Output.all(prometheus.metadata, ns_name).apply(
            lambda values: f"http://{values[0]['name']}.{values[1]}.svc:{PROMETHEUS_PORT}")
        k8s.apps.v1.Deployment(
            f"{name}-dashboard",
            metadata={"name": DASHBOARD_SERVICE, "namespace": ns_name, "labels": app_labels},
            spec={
                "replicas": 1,
                "selector": {"matchLabels": _selector(app_labels)},
                "template": {
                    # A changed program restarts the server with it.
                    "metadata": {"labels": app_labels, "annotations": {"mlops-platform/program-hash": content_digest(program)}},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security(_DASHBOARD_UID),
                        "containers": [{
                            "name": "dashboard",
                            "image": args.dashboard_image,
                            "imagePullPolicy": args.image_pull_policy,
                            "command": ["python3", f"/program/{DASHBOARD_PROGRAM.name}", f"--port={DASHBOARD_PORT}"],
                            "env": [{"name": "PROMETHEUS_URL", "value": prometheus_url},
                                    {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
                            "ports": [{"name": "http", "containerPort": DASHBOARD_PORT}],
                            **_probes(DASHBOARD_PORT, "/healthz", "/healthz", live_delay=10),
                            "securityContext": {**CONTAINER_SECURITY, "readOnlyRootFilesystem": True},
                            "resources": args.config.dashboard_resources.to_kubernetes(),
                            "volumeMounts": [{"name": "program", "mountPath": "/program", "readOnly": True}],
                        }],
                        "volumes": [{"name": "program", "configMap": {"name": config_map.metadata.apply(lambda m: m["name"])}}],
                    },
                },
            },
            opts=opts)
        # People reach it with kubectl port-forward, as Prometheus: no other pod needs it.
        ingress_policy(f"{name}-allow-dashboard", ns_name, _selector(app_labels), DASHBOARD_PORT, [], (), self)
        return _service(f"{name}-dashboard-svc", DASHBOARD_SERVICE, ns_name, app_labels, "http", DASHBOARD_PORT, opts)


def _service(resource_name: str, name: str, ns_name: pulumi.Output[str], app_labels: dict[str, str], port_name: str,
             port: int, opts: pulumi.ResourceOptions) -> k8s.core.v1.Service:
    return k8s.core.v1.Service(
        resource_name, metadata={"name": name, "namespace": ns_name, "labels": app_labels},
        spec={"selector": _selector(app_labels), "ports": [{"name": port_name, "port": port, "targetPort": port}]}, opts=opts)


def _data_volume(resource_name: str, name: str, ns_name: pulumi.Output[str], app_labels: dict[str, str], size: str,
                 storage_class: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.PersistentVolumeClaim:
    """A ReadWriteOnce claim of `size` (in `storage_class`, "" = the cluster's default)."""
    spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return k8s.core.v1.PersistentVolumeClaim(
        resource_name, metadata={"name": name, "namespace": ns_name, "labels": app_labels}, spec=spec,
        # local-path volumes bind once a pod uses them.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create="10m"))))


def _probes(port: int, ready: str, live: str, live_delay: int) -> dict:
    """A server's readiness (every 10 s) and liveness (every 30 s, after `live_delay` s) HTTP probes."""
    return {"readinessProbe": {"httpGet": {"path": ready, "port": port}, "periodSeconds": 10},
            "livenessProbe": {"httpGet": {"path": live, "port": port}, "initialDelaySeconds": live_delay, "periodSeconds": 30}}


def retention_size(volume_size: str) -> str:
    """80% of the volume, in MiB: Prometheus deletes the oldest blocks before the volume fills."""
    number, unit = int(volume_size[:-2]), volume_size[-2:]
    mebibytes = number * {"Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}[unit]
    return f"{mebibytes * 8 // 10}MB"
