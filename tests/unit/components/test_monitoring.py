"""The Monitoring component under Pulumi mocks and its Prometheus configuration under promtool: what
it scrapes, who may reach what, its privileges and the local stack's budget. A fast layer; the
cluster test (tests/platform/test_monitoring.py) shows the targets up and an alert on real series."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.components.monitoring import (
    DASHBOARD_PROGRAM,
    OWN_JOBS,
    ScrapeTarget,
    alertmanager_config,
    prometheus_config,
    retention_size,
)
from infra.components.object_store import minio_metrics_token
from infra.config import ConfigError, parse, quantity
from tests.support.pulumi_mocks import SECRET_SIG, containers, run, unsecret
from tests.support.stacks import stack_config

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "infra" / "monitoring" / "alert-rules.yml"
# Nodes of the local kind cluster (dev_cluster/cluster.sh: one control plane, one worker).
LOCAL_NODES = 2
# The MLflow chart's metrics sidecar (charts/mlflow/templates/deployment.yaml; tests/charts checks them).
METRICS_SIDECAR_CPU, METRICS_SIDECAR_MEMORY = 0.005, 32 * 2**20


def _jobs_the_rules_name() -> set[str]:
    return set(re.findall(r'(?<![a-z_])job="([a-z-]+)"', RULES.read_text()))


def _scrape_jobs(mocks) -> dict[str, dict]:
    config_map = mocks.named("monitoring-prometheus-config")
    config = yaml.safe_load(config_map.inputs["data"]["prometheus.yml"])
    return {job["job_name"]: job for job in config["scrape_configs"]}


TENANTS = [{"name": "vision", "members": ["alice"]}, {"name": "nlp", "members": ["bob"]}]


def test_prometheus_scrapes_its_own_jobs_the_pipelines_and_loads_the_rules(mocks):
    run({"tenants": TENANTS})
    jobs = _scrape_jobs(mocks)
    assert set(OWN_JOBS) <= set(jobs)
    assert {"kfp-api", "argo"} <= set(jobs), "Kubeflow Pipelines' API server and Argo's controller are scraped"
    assert _jobs_the_rules_name() <= set(jobs), "every job an alert rule names is scraped"
    kfp = jobs["kfp-api"]
    assert kfp["kubernetes_sd_configs"][0]["namespaces"] == {"names": ["mlops-pipelines"]}
    assert kfp["kubernetes_sd_configs"][0]["selectors"][0]["label"] == \
        "app.kubernetes.io/component=pipelines,app.kubernetes.io/name=ml-pipeline"
    assert {"source_labels": ["__meta_kubernetes_pod_ip"], "target_label": "__address__", "replacement": "$1:8888"} \
        in kfp["relabel_configs"]
    assert jobs["argo"]["honor_labels"] is True, "Argo's namespace label is the runs' namespace"
    rules = mocks.named("monitoring-prometheus-rules")
    assert rules.inputs["data"]["alert-rules.yml"] == RULES.read_text()
    prometheus = mocks.named("monitoring-prometheus")
    (container,) = containers(prometheus)
    assert "--storage.tsdb.retention.time=15d" in container["args"]
    assert "--storage.tsdb.retention.size=16384MB" in container["args"], "80% of the 20Gi volume"
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert mounts["/etc/prometheus"]["readOnly"]
    assert mounts["/etc/prometheus/rules"]["readOnly"]
    assert container["securityContext"]["runAsNonRoot"]
    assert container["securityContext"]["readOnlyRootFilesystem"]


def test_the_research_groups_model_servers_are_scraped_in_every_tenant_namespace(mocks):
    run({"tenants": TENANTS})
    servers = _scrape_jobs(mocks)["model-servers"]
    assert servers["kubernetes_sd_configs"][0]["namespaces"] == {"names": ["research-vision", "research-nlp"]}
    assert servers["kubernetes_sd_configs"][0]["selectors"][0]["label"] == "mlops-platform/serving=true"
    assert {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"], "target_label": "app"} \
        in servers["relabel_configs"], "the alerts group by the model server's name"
    policies = [p.inputs for p in mocks.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                if p.inputs["metadata"]["name"] == "allow-prometheus-to-model-servers"]
    assert sorted(p["metadata"]["namespace"] for p in policies) == ["research-nlp", "research-vision"]
    assert all(p["spec"]["podSelector"] == {"matchLabels": {"mlops-platform/serving": "true"}} for p in policies)
    assert all(p["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}] for p in policies)


def test_without_tenants_there_are_no_model_servers_to_scrape(mocks):
    run({})
    assert "model-servers" not in _scrape_jobs(mocks)


def test_seaweedfs_serves_its_metrics_to_prometheus_alone(mocks):
    run({})
    job = _scrape_jobs(mocks)["object-store"]
    assert job["kubernetes_sd_configs"][0]["namespaces"] == {"names": ["mlops-storage"]}
    assert {"source_labels": ["__meta_kubernetes_pod_ip"], "target_label": "__address__", "replacement": "$1:9327"} \
        in job["relabel_configs"]
    (server,) = containers(mocks.named("object-store-server"))
    assert "-metricsPort=9327" in server["args"]
    policy = mocks.named("monitoring-allow-object-store-mlops-storage").inputs
    assert policy["metadata"]["namespace"] == "mlops-storage"
    assert policy["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9327}]


def _jwt_parts(token: str) -> tuple[dict, dict, bytes]:
    def decode(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    header, claims, signature = token.split(".")
    return json.loads(decode(header)), json.loads(decode(claims)), decode(signature)


def test_the_minio_metrics_token_is_a_jwt_signed_with_the_secret_key():
    """What `mc admin prometheus generate` makes: HS512 over the header and claims with the user's
    secret key, the user as subject, `prometheus` as issuer; the same key gives the same token (a second
    `pulumi up` changes nothing), another key another signature."""
    token = minio_metrics_token("platform-admin", "s3cr3t")
    header, claims, signature = _jwt_parts(token)
    assert header == {"alg": "HS512", "typ": "JWT"}
    assert claims == {"exp": 4102444800, "iss": "prometheus", "sub": "platform-admin"}
    signed = token.rsplit(".", 1)[0].encode()
    assert hmac.compare_digest(signature, hmac.new(b"s3cr3t", signed, hashlib.sha512).digest())
    assert minio_metrics_token("platform-admin", "s3cr3t") == token
    assert _jwt_parts(minio_metrics_token("platform-admin", "other"))[2] != signature


def test_minio_is_scraped_on_its_s3_port_with_its_token_from_a_secret(mocks):
    run({"objectStore": {"backend": "minio"}})
    job = _scrape_jobs(mocks)["object-store"]
    assert job["metrics_path"] == "/minio/v2/metrics/cluster"
    assert job["authorization"] == {"credentials_file": "/etc/prometheus-tokens/object-store"}
    assert "scheme" not in job, "MinIO serves its metrics over the S3 port's plain HTTP"
    assert {"source_labels": ["__meta_kubernetes_pod_ip"], "target_label": "__address__", "replacement": "$1:9000"} \
        in job["relabel_configs"]
    secret = mocks.named("monitoring-prometheus-tokens").inputs
    assert secret["metadata"]["name"] == "prometheus-scrape-tokens"
    token = unsecret(secret["stringData"])["object-store"]
    assert SECRET_SIG in json.dumps(secret["stringData"]), "the token is a Pulumi secret (encrypted in the state)"
    root = unsecret(mocks.named("object-store-credentials").inputs["stringData"])
    assert token == minio_metrics_token(root["AWS_ACCESS_KEY_ID"], root["AWS_SECRET_ACCESS_KEY"]), "signed by the root's key"
    assert token not in mocks.named("monitoring-prometheus-config").inputs["data"]["prometheus.yml"]
    (container,) = containers(mocks.named("monitoring-prometheus"))
    assert {"name": "tokens", "mountPath": "/etc/prometheus-tokens", "readOnly": True} in container["volumeMounts"]
    policy = mocks.named("monitoring-allow-object-store-mlops-storage").inputs
    assert policy["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9000}]


def test_with_seaweedfs_prometheus_holds_no_token_secret(mocks):
    run({})
    assert "authorization" not in _scrape_jobs(mocks)["object-store"]
    assert not [s for s in mocks.of_type("kubernetes:core/v1:Secret") if s.name == "monitoring-prometheus-tokens"]


def test_a_target_cannot_take_both_tokens():
    target = ScrapeTarget("both", ("ns",), {"app": "x"}, 8443, authorized=True, bearer_token="t")
    with pytest.raises(ValueError, match="Prometheus's token or its own, not both: both"):
        prometheus_config("mlops-monitoring", "15s", True, (target,))


def test_without_monitoring_seaweedfs_serves_no_metrics(mocks):
    run({"monitoring": {"enabled": False}})
    (server,) = containers(mocks.named("object-store-server"))
    assert not [arg for arg in server["args"] if arg.startswith("-metricsPort")]


def test_mlflow_is_scraped_at_its_metrics_sidecar(mocks):
    run({})
    mlflow = _scrape_jobs(mocks)["mlflow"]
    assert "basic_auth" not in mlflow, "the sidecar needs no credentials; a NetworkPolicy admits Prometheus alone"
    assert mlflow["kubernetes_sd_configs"][0]["selectors"][0]["label"] == \
        "app.kubernetes.io/component=server,app.kubernetes.io/instance=mlflow,app.kubernetes.io/name=mlflow"
    assert {"source_labels": ["__meta_kubernetes_pod_ip"], "target_label": "__address__", "replacement": "$1:9102"} \
        in mlflow["relabel_configs"]
    assert {"source_labels": ["__meta_kubernetes_pod_ready"], "regex": "true", "action": "keep"} in mlflow["relabel_configs"], \
        "a pod failing its readiness probe is no target: MlflowDown's absent() sees it"
    assert mocks.chart("mlflow").inputs["values"]["metrics"] == {"enabled": True, "port": 9102}


def test_without_monitoring_mlflow_exposes_no_metrics(mocks):
    run({"monitoring": {"enabled": False}})
    assert mocks.chart("mlflow").inputs["values"]["metrics"]["enabled"] is False


def test_each_scrape_target_is_opened_to_prometheus_alone(mocks):
    run({})
    policies = {p.inputs["metadata"]["name"]: p.inputs for p in mocks.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                if p.name.startswith("monitoring-")}
    prometheus_pods = {"matchLabels": {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/component": "monitoring"}}
    kfp = policies["allow-prometheus-to-kfp-api"]
    assert kfp["metadata"]["namespace"] == "mlops-pipelines"
    assert kfp["spec"]["ingress"] == [{
        "from": [{"podSelector": prometheus_pods,
                  "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlops-monitoring"}}}],
        "ports": [{"protocol": "TCP", "port": 8888}]}]
    assert policies["allow-prometheus-to-argo"]["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9090}]
    for exporter, port in (("kube-state-metrics", 8080), ("node-exporter", 9100)):
        policy = policies[f"allow-prometheus-to-{exporter}"]
        assert policy["spec"]["ingress"] == [{"from": [{"podSelector": prometheus_pods}],
                                              "ports": [{"protocol": "TCP", "port": port}]}]
    assert policies["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


def _monitoring_roles(mocks) -> dict[str, list[dict]]:
    return {r.name.removesuffix("-role"): r.inputs["rules"] for r in mocks.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
            if r.name.startswith("monitoring-")}


def test_prometheus_and_kube_state_metrics_only_read(mocks):
    run({"tenants": TENANTS})
    roles = _monitoring_roles(mocks)
    verbs = {verb for rules in roles.values() for rule in rules for verb in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}
    resources = {resource for rule in roles["monitoring-prometheus"] for resource in rule.get("resources", [])}
    assert resources == {"nodes", "pods", "nodes/metrics"}, "no nodes/proxy (exec, logs), no secrets"
    urls = [rule for rule in roles["monitoring-prometheus"] if "nonResourceURLs" in rule]
    assert urls == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}], "Kueue's /metrics, read only"
    assert not any("secrets" in rule.get("resources", []) for rules in roles.values() for rule in rules)


def test_kueue_is_scraped_over_https_with_prometheus_token_and_opened_to_prometheus_alone(mocks):
    """Kueue serves its metrics on 8443 over HTTPS to callers the API server authorizes for
    `get /metrics` (TokenReview, SubjectAccessReview): Prometheus sends its ServiceAccount token,
    only for this job; the other targets get no token."""
    run({"tenants": TENANTS})
    jobs = _scrape_jobs(mocks)
    kueue = jobs["kueue"]
    assert kueue["scheme"] == "https"
    assert kueue["authorization"] == {"credentials_file": "/var/run/secrets/kubernetes.io/serviceaccount/token"}
    assert kueue["tls_config"] == {"insecure_skip_verify": True}, "Kueue's certificate is self-made: no CA to check it by"
    assert kueue["kubernetes_sd_configs"][0]["namespaces"] == {"names": ["kueue-system"]}
    assert kueue["kubernetes_sd_configs"][0]["selectors"][0]["label"] == \
        "app.kubernetes.io/name=kueue,control-plane=controller-manager"
    assert {"source_labels": ["__meta_kubernetes_pod_ip"], "target_label": "__address__", "replacement": "$1:8443"} \
        in kueue["relabel_configs"]
    assert [name for name, job in jobs.items() if "authorization" in job] == ["kubelet", "cadvisor", "kueue"], \
        "the token goes to the kubelets and Kueue only"
    policy = mocks.named("monitoring-allow-kueue-kueue-system").inputs
    assert policy["metadata"]["namespace"] == "kueue-system"
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "kueue", "control-plane": "controller-manager"}}
    assert policy["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8443}]
    calls = mocks.named("queueing-api-server-only").inputs
    assert 8443 not in [port["port"] for rule in calls["spec"]["ingress"] for port in rule["ports"]], \
        "the API server's policy does not open the metrics port to everyone"


def test_without_research_groups_there_is_no_kueue_to_scrape_and_no_token_rule(mocks):
    run({})
    assert "kueue" not in _scrape_jobs(mocks)
    assert not [rule for rule in _monitoring_roles(mocks)["monitoring-prometheus"] if "nonResourceURLs" in rule]


def test_node_exporter_mounts_the_host_read_only_as_nobody(mocks):
    run({})
    daemonset = mocks.named("monitoring-node-exporter")
    spec = daemonset.inputs["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["tolerations"] == [{"operator": "Exists"}], "every node, tainted GPU nodes included"
    (container,) = containers(daemonset)
    assert all(mount["readOnly"] for mount in container["volumeMounts"])
    assert spec["securityContext"]["runAsUser"] == 65534
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    namespace = mocks.named("monitoring-ns").inputs["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "privileged"
    assert namespace["pod-security.kubernetes.io/warn"] == "restricted"


def test_kube_state_metrics_exports_the_labels_the_rules_join_on(mocks):
    run({})
    (container,) = containers(mocks.named("monitoring-kube-state-metrics"))
    assert "--metric-labels-allowlist=deployments=[app.kubernetes.io/component],namespaces=[mlops-platform/tenant]" \
        in container["args"]
    assert 'label_app_kubernetes_io_component="model-server"' in RULES.read_text()


def test_dcgm_exporter_is_scraped_with_its_own_labels_when_it_runs(mocks):
    run({"gpu": {"enabled": True, "totalGpus": 1, "dcgmExporter": {"enabled": True}}})
    jobs = _scrape_jobs(mocks)
    assert jobs["dcgm-exporter"]["honor_labels"] is True
    assert jobs["dcgm-exporter"]["kubernetes_sd_configs"][0]["namespaces"] == {"names": [parse({}).gpu.namespace]}
    assert jobs["dcgm-exporter"]["relabel_configs"][1]["replacement"] == "$1:9400"


def test_the_dashboard_runs_its_program_without_a_token_reachable_from_its_namespace_only(mocks):
    run({})
    deployment = mocks.named("monitoring-dashboard")
    spec = deployment.inputs["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False, "it asks Prometheus only, not the Kubernetes API"
    (container,) = containers(deployment)
    assert container["image"].rsplit("/", 1)[-1].startswith("mlflow:"), "the MLflow image's Python"
    assert container["command"] == ["python3", "/program/server.py", "--port=8080"]
    assert {e["name"]: e["value"] for e in container["env"]}["PROMETHEUS_URL"] == "http://prometheus.mlops-monitoring.svc:9090"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert mocks.named("monitoring-dashboard-program").inputs["data"]["server.py"] == DASHBOARD_PROGRAM.read_text()
    policy = mocks.named("monitoring-allow-dashboard").inputs
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "dashboard"
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 8080}]}]


def test_monitoring_off_declares_nothing(mocks):
    run({"monitoring": {"enabled": False}})
    assert not [r for r in mocks.resources if r.name.startswith("monitoring")]


def test_the_local_stack_keeps_monitoring_within_its_budget():
    """Issue 21: at most 300m CPU and 512 MiB of requests on the local stack."""
    monitoring = stack_config("local").monitoring
    once = [monitoring.prometheus_resources, monitoring.kube_state_metrics_resources, monitoring.dashboard_resources,
             monitoring.alertmanager.resources]
    cpu = sum(quantity(r.requests["cpu"]) for r in once) + LOCAL_NODES * quantity(monitoring.node_exporter_resources.requests["cpu"]) \
        + METRICS_SIDECAR_CPU
    memory = sum(quantity(r.requests["memory"]) for r in once) + \
        LOCAL_NODES * quantity(monitoring.node_exporter_resources.requests["memory"]) + METRICS_SIDECAR_MEMORY
    assert cpu <= 0.3, f"{cpu * 1000:.0f}m CPU requested"
    assert memory <= 512 * 2**20, f"{memory / 2**20:.0f} MiB requested"


@pytest.mark.parametrize(("values", "message"), [
    ({"scrapeInterval": "30"}, "monitoring.scrapeInterval"),
    ({"scrapeInterval": "10m"}, "at most 5m"),
    ({"retention": "two weeks"}, "monitoring.retention"),
    ({"volumeSize": "20G"}, "monitoring.volumeSize"),
    ({"namespace": "mlops-mlflow"}, "is already mlflow.namespace"),
    ({"namespace": "kube-monitoring"}, "Kubernetes owns it"),
])
def test_bad_monitoring_settings_are_refused_with_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        parse({"monitoring": values})


def test_job_names_must_be_unique():
    target = ScrapeTarget("kubelet", ("ns",), {"app": "x"}, 80)
    with pytest.raises(ValueError, match="repeated or reserved: kubelet"):
        prometheus_config("mlops-monitoring", "30s", True, (target,))


def test_retention_size_is_eighty_percent_of_the_volume():
    assert retention_size("1Gi") == "819MB"
    assert retention_size("500Mi") == "400MB"
    assert retention_size("1Ti") == "838860MB"


def test_promtool_accepts_the_generated_configuration(tmp_path):
    """promtool check config on the local stack's configuration, with the targets of every component."""
    built = subprocess.run(["bash", str(ROOT / "offline" / "promtool.sh")], capture_output=True, text=True, check=False)
    assert built.returncode == 0, f"offline/promtool.sh failed:\n{built.stderr[-3000:]}"
    promtool = built.stdout.strip().splitlines()[-1]
    targets = (ScrapeTarget("kfp-api", ("mlops-pipelines",), {"app.kubernetes.io/name": "ml-pipeline"}, 8888),
               ScrapeTarget("dcgm-exporter", ("gpu",), {"app.kubernetes.io/name": "dcgm"}, 9400, honor_labels=True),
               ScrapeTarget("kueue", ("kueue-system",), {"control-plane": "controller-manager"}, 8443, authorized=True),
               ScrapeTarget("object-store", ("mlops-storage",), {"app.kubernetes.io/name": "object-store"}, 9000,
                            path="/minio/v2/metrics/cluster", bearer_token="a.b.c"))
    config = prometheus_config("mlops-monitoring", "15s", True, targets)
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    checked = subprocess.run([promtool, "check", "config", "--syntax-only", str(path)], capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout + checked.stderr
    config["scrape_configs"][0]["scrape_interval"] = "thirty"
    path.write_text(yaml.safe_dump(config))
    broken = subprocess.run([promtool, "check", "config", "--syntax-only", str(path)], capture_output=True, text=True,
                            check=False)
    assert broken.returncode != 0, "promtool must refuse a broken configuration (the check can fail)"


# A stack with every receiver: e-mail with an SMTP account, a plain webhook, the secret webhook, the heartbeat.
RECEIVERS = {"monitoring": {"alertmanager": {
    "heartbeatUrl": "https://heartbeat.example.edu/ping/platform",
    "email": {"to": ["ml-admins@example.edu", "it-oncall@example.edu"], "from": "alerts@example.edu",
              "smarthost": "smtp.example.edu:587", "username": "alerts"},
    "webhooks": {"ops": "https://ops.example.edu/hooks/alerts"},
    "webhookSeverities": ["critical", "info"]}},
    "monitoringSmtpPassword": "smtp-s3cret", "monitoringAlertWebhookUrl": "https://chat.example.com/hooks/T0K3N?x=1"}
SECRETS = frozenset({"monitoringSmtpPassword", "monitoringAlertWebhookUrl"})


def _alertmanager_config(mocks) -> dict:
    return yaml.safe_load(mocks.named("monitoring-alertmanager-config").inputs["data"]["alertmanager.yml"])


def test_prometheus_sends_its_alerts_to_alertmanager_which_only_prometheus_reaches(mocks):
    run({})
    config = yaml.safe_load(mocks.named("monitoring-prometheus-config").inputs["data"]["prometheus.yml"])
    assert config["alerting"] == {"alertmanagers": [{"static_configs": [{"targets": ["alertmanager.mlops-monitoring.svc:9093"]}]}]}
    assert _scrape_jobs(mocks)["alertmanager"]["static_configs"] == [{"targets": ["alertmanager.mlops-monitoring.svc:9093"]}]
    policy = mocks.named("monitoring-allow-alertmanager").inputs
    assert policy["metadata"]["name"] == "allow-prometheus-to-alertmanager"
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "alertmanager",
                                                             "app.kubernetes.io/component": "monitoring"}}
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "prometheus", "app.kubernetes.io/component": "monitoring"}}}],
        "ports": [{"protocol": "TCP", "port": 9093}]}]
    deployment = mocks.named("monitoring-alertmanager")
    spec = deployment.inputs["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False, "it calls no Kubernetes API"
    assert spec["securityContext"]["runAsUser"] == 65534
    (container,) = containers(deployment)
    assert container["image"].rsplit("/", 1)[-1] == "alertmanager:v0.35.0"
    assert "--cluster.listen-address=" in container["args"], "one replica: no gossip port"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/etc/alertmanager", "/alertmanager"]
    assert mocks.named("monitoring-alertmanager-data").inputs["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert not [s for s in mocks.of_type("kubernetes:core/v1:Secret") if s.name == "monitoring-alertmanager-secrets"]


def test_without_receivers_alertmanager_keeps_every_alert(mocks):
    run({})
    config = _alertmanager_config(mocks)
    assert config["receivers"] == [{"name": "keep"}]
    assert config["route"]["receiver"] == "keep"
    (watchdog,) = config["route"]["routes"]
    assert watchdog["receiver"] == "keep"
    assert watchdog["matchers"] == ['alertname="Watchdog"']


def test_the_receivers_secrets_are_files_of_a_secret_not_in_the_configuration(mocks):
    from tests.support import pulumi_mocks

    pulumi_mocks.run(RECEIVERS)
    text = mocks.named("monitoring-alertmanager-config").inputs["data"]["alertmanager.yml"]
    assert "smtp-s3cret" not in text
    assert "T0K3N" not in text
    config = yaml.safe_load(text)
    assert config["global"]["smtp_auth_password_file"] == "/etc/alertmanager-secrets/smtp-password"
    assert {"url_file": "/etc/alertmanager-secrets/webhook-url", "send_resolved": True} in \
        [c for r in config["receivers"] for c in r.get("webhook_configs", [])]
    secret = mocks.named("monitoring-alertmanager-secrets").inputs
    assert SECRET_SIG in json.dumps(secret["stringData"]), "Pulumi secrets (encrypted in the state)"
    assert unsecret(secret["stringData"]) == {"smtp-password": "smtp-s3cret",
                                              "webhook-url": "https://chat.example.com/hooks/T0K3N?x=1"}
    (container,) = containers(mocks.named("monitoring-alertmanager"))
    assert {"name": "secrets", "mountPath": "/etc/alertmanager-secrets", "readOnly": True} in container["volumeMounts"]
    template = mocks.named("monitoring-alertmanager").inputs["spec"]["template"]
    assert "smtp-s3cret" not in json.dumps(template), "the pod template holds no secret (not even in the config hash)"


@pytest.fixture(scope="module")
def amtool() -> str:
    built = subprocess.run(["bash", str(ROOT / "offline" / "alertmanager.sh")], capture_output=True, text=True, check=False)
    assert built.returncode == 0, f"offline/alertmanager.sh failed:\n{built.stderr[-3000:]}"
    return str(Path(built.stdout.strip().splitlines()[-1]) / "amtool")


def _routes(amtool: str, path: Path, labels: str) -> str:
    routed = subprocess.run([amtool, "config", "routes", "test", f"--config.file={path}", *labels.split()],
                            capture_output=True, text=True, check=False)
    assert routed.returncode == 0, routed.stdout + routed.stderr
    return routed.stdout.strip()


def test_amtool_accepts_the_configuration_and_routes_each_severity_to_its_receivers(amtool, tmp_path):
    """Alertmanager's own checker and router (amtool, from the pinned module) on the configuration of a
    stack with every receiver, and of one with none."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(alertmanager_config(parse(RECEIVERS, SECRETS).monitoring.alertmanager)))
    checked = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    assert _routes(amtool, path, "alertname=ModelServerDown severity=critical") == "email,ops,webhook"
    assert _routes(amtool, path, "alertname=PodCrashLooping severity=warning") == "email"
    assert _routes(amtool, path, "alertname=GpuAllocatedButIdle severity=info") == "ops,webhook"
    assert _routes(amtool, path, "alertname=Watchdog severity=none") == "heartbeat"
    assert _routes(amtool, path, "alertname=Unknown") == "keep"
    path.write_text(yaml.safe_dump(alertmanager_config(parse({}).monitoring.alertmanager)))
    assert _routes(amtool, path, "alertname=ModelServerDown severity=critical") == "keep"
    assert _routes(amtool, path, "alertname=Watchdog severity=none") == "keep"
    broken = alertmanager_config(parse(RECEIVERS, SECRETS).monitoring.alertmanager)
    broken["route"]["routes"][1]["receiver"] = "pager"
    path.write_text(yaml.safe_dump(broken))
    refused = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)
    assert refused.returncode != 0, "amtool must refuse a route to an undefined receiver (the check can fail)"
    assert "pager" in refused.stdout + refused.stderr


# Three research groups: vision with e-mail and a webhook, nlp with a webhook for critical alerts only,
# quiet with no receivers of its own.
TENANT_RECEIVERS = {**RECEIVERS, "tenants": [
    {"name": "vision", "members": ["alice"], "alerts": {
        "email": ["vision-lab@example.edu"], "webhooks": {"chat": "https://chat.example.edu/hooks/vision"}}},
    {"name": "nlp", "members": ["bob"], "alerts": {
        "webhooks": {"chat": "https://chat.example.edu/hooks/nlp"}, "severities": ["critical"]}},
    {"name": "quiet", "members": ["carol"]}]}


def test_amtool_routes_a_research_groups_alerts_to_its_receivers_and_no_other_groups(amtool, tmp_path):
    """Alertmanager's router on a stack whose groups have receivers of their own: an alert about a
    group's namespace goes to that group's receiver (of its severities) besides the platform's, never
    to another group's; a group without receivers, and the platform's own alerts, reach no group."""
    cfg = parse(TENANT_RECEIVERS, SECRETS)
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(alertmanager_config(cfg.monitoring.alertmanager, cfg.tenancy.tenants)))
    checked = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    routes = {
        "namespace=research-vision severity=warning": "tenant-vision,email",
        "namespace=research-vision severity=critical": "tenant-vision,email,ops,webhook",
        "namespace=research-vision severity=info": "ops,webhook",
        "namespace=research-nlp severity=warning": "email",
        "namespace=research-nlp severity=critical": "tenant-nlp,email,ops,webhook",
        "namespace=research-quiet severity=critical": "email,ops,webhook",
        "namespace=mlops-mlflow severity=critical": "email,ops,webhook",
        "namespace=research-vision-old severity=critical": "email,ops,webhook",
    }
    for labels, receivers in routes.items():
        assert _routes(amtool, path, f"alertname=ModelServerDown {labels}") == receivers, labels
    assert _routes(amtool, path, "alertname=Watchdog severity=none namespace=research-vision") == "heartbeat"
    config = yaml.safe_load(path.read_text())
    vision = next(r for r in config["receivers"] if r["name"] == "tenant-vision")
    assert vision["email_configs"] == [{"to": "vision-lab@example.edu", "send_resolved": True}]
    assert vision["webhook_configs"] == [{"url": "https://chat.example.edu/hooks/vision", "send_resolved": True}]
    assert "tenant-quiet" not in [r["name"] for r in config["receivers"]]


def test_the_deployed_configuration_holds_the_groups_receivers(mocks):
    from tests.support import pulumi_mocks

    pulumi_mocks.run(TENANT_RECEIVERS)
    config = _alertmanager_config(mocks)
    assert [r["receiver"] for r in config["route"]["routes"]][:3] == ["heartbeat", "tenant-vision", "tenant-nlp"]


@pytest.mark.parametrize(("tenant_alerts", "extra", "message"), [
    ({"email": ["vision-lab@example.edu"]}, {}, r"tenants\[vision\].alerts.email.*needs the platform's SMTP account"),
    ({"email": ["not an address"]}, RECEIVERS, r"tenants\[vision\].alerts.email\[0\]"),
    ({"webhooks": {"chat": "https://chat.example.edu/hook?token=x"}}, {}, r"tenants\[vision\].alerts.webhooks.chat"),
    ({"webhooks": {"Chat Room": "https://chat.example.edu/hook"}}, {}, "DNS label"),
    ({"webhooks": {"chat": "https://chat.example.edu/hook"}, "severities": ["none"]}, {}, r"alerts.severities"),
    ({"webhooks": {"chat": "https://chat.example.edu/hook"}}, {"monitoring": {"enabled": False}},
     r"tenants\[vision\].alerts.*needs monitoring.enabled"),
    ({"pager": "x"}, {}, r"tenants\[vision\].alerts.pager.*unknown key"),
])
def test_bad_research_group_receivers_are_refused_with_the_key(tenant_alerts, extra, message):
    with pytest.raises(ConfigError, match=message):
        parse({**extra, "tenants": [{"name": "vision", "members": ["alice"], "alerts": tenant_alerts}]},
              SECRETS if "monitoringSmtpPassword" in extra else frozenset())


@pytest.mark.parametrize(("values", "message"), [
    ({"repeatInterval": "1m"}, "repeatInterval.*at least 5m"),
    ({"heartbeatInterval": "10s"}, "heartbeatInterval.*at least 1m"),
    ({"heartbeatUrl": "hc.example.edu/ping"}, "heartbeatUrl"),
    ({"email": {"to": ["not-an-address"], "from": "a@example.edu", "smarthost": "smtp.example.edu:25"}}, r"email.to\[0\]"),
    ({"email": {"to": ["a@example.edu"], "from": "a@example.edu", "smarthost": "smtp.example.edu"}}, "host:port"),
    ({"email": {"to": ["a@example.edu"], "from": "a@example.edu", "smarthost": "smtp.example.edu:25", "username": "u"}},
     "needs its password: pulumi config set --secret mlops-platform:monitoringSmtpPassword"),
    ({"email": {"smarthost": "smtp.example.edu:25"}}, "email.to.*list the recipients"),
    ({"email": {"severities": ["page"]}}, "email.severities"),
    ({"webhookSeverities": ["none"]}, "webhookSeverities.*heartbeatUrl alone"),
    ({"webhooks": {"ops": "https://ops.example.edu/hook?token=x"}}, "monitoringAlertWebhookUrl"),
    ({"webhooks": {"heartbeat": "https://ops.example.edu/hook"}}, "receiver of the platform's own"),
    ({"webhooks": {"Ops Room": "https://ops.example.edu/hook"}}, "DNS label"),
    ({"webhooks": {"tenant-ops": "https://ops.example.edu/hook"}}, "research groups' receivers"),
])
def test_bad_alertmanager_settings_are_refused_with_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        parse({"monitoring": {"alertmanager": values}})


def test_the_receivers_secrets_must_be_stored_encrypted():
    with pytest.raises(ConfigError, match=r"monitoringSmtpPassword.*must be stored encrypted"):
        parse({**RECEIVERS, "monitoringAlertWebhookUrl": ""}, frozenset({"monitoringAlertWebhookUrl"}))
    with pytest.raises(ConfigError, match=r"monitoringAlertWebhookUrl.*must be stored encrypted"):
        parse(RECEIVERS, frozenset({"monitoringSmtpPassword"}))
    with pytest.raises(ConfigError, match=r"monitoringSmtpPassword.*email.username is not"):
        parse({"monitoringSmtpPassword": "x"}, SECRETS)
