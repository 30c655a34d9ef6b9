"""Monitoring on the platform that `make up` deployed, through Prometheus's own API: every scrape job
is up (MLflow's server metrics through its sidecar, Argo and the KFP API, each through a NetworkPolicy
that admits Prometheus alone: a research group's pod is refused, and without the policy Prometheus is
too), every alert rule is loaded and evaluates without error, and a model server scaled to 0 raises
ModelServerDown for that server only, while a running one stays quiet. The usage per research group:
tests/platform/test_usage_report.py.

Alerts reach people: the Watchdog, which always fires, goes from Prometheus to Alertmanager and from
Alertmanager to a webhook receiver run behind the local stack's heartbeatUrl; a research group's pod is
refused at Alertmanager's port.

ModelServerDown fires after 5 minutes (`for: 5m`): `make test` waits for the alert's `pending` state
(the rule matched the real series, its clock runs); `make monitoring-drill` (MLOPS_ALERT_STATE=firing)
waits the 5 minutes until it fires."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from infra.components.kubeflow_pipelines.common import ARGO_METRICS_PORT
from infra.components.mlflow import METRICS_PORT as MLFLOW_METRICS_PORT
from infra.components.mlflow import PORT as MLFLOW_PORT
from infra.components.monitoring import (
    ALERTMANAGER_PORT,
    ALERTMANAGER_SERVICE,
    DASHBOARD_PORT,
    DASHBOARD_SERVICE,
    HEARTBEAT_RECEIVER,
    OWN_JOBS,
    PROMETHEUS_PORT,
    PROMETHEUS_SERVICE,
    RULES_FILE,
    WATCHDOG_ALERT,
    prometheus_policy,
)
from infra.components.object_store import S3_PORTS, SEAWEEDFS_METRICS_PORT
from infra.components.queueing import MANAGER_POD_LABELS as KUEUE_MANAGER_POD_LABELS
from infra.components.queueing import METRICS_PORT as KUEUE_METRICS_PORT
from infra.components.queueing import METRICS_SERVICE as KUEUE_METRICS_SERVICE
from infra.config import TENANT_RECEIVER_PREFIX
from infra.deploy import MODEL_SERVERS_JOB
from tests.support.cluster import kubectl, nodes, wait_for
from tests.support.deployed import deployed
from tests.support.platform import CFG, pipeline_image, port_forward, run_script_pod, saved_policy
from tests.support.prometheus import prometheus_api, query
from tests.support.scripts import pod_script

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = CFG.monitoring.namespace
# The jobs of the platform's components on the local stack (each component's metrics_targets).
COMPONENT_JOBS = ("mlflow", "kfp-api", "argo", *(("object-store",) if CFG.object_store.backend == "seaweedfs" else ()))


def kueue_namespace() -> str:
    """Where Kueue runs, as deployed ("" when it does not: no queueing or no research group)."""
    return deployed().queueing_namespace
# One target per node.
NODE_JOBS = ("node-exporter", "kubelet", "cadvisor")
ALERT_STATE = os.environ.get("MLOPS_ALERT_STATE", "pending")


@pytest.fixture(scope="module")
def prometheus():
    """A function querying Prometheus's HTTP API (path, params) -> its `data`."""
    with prometheus_api() as api:
        yield api


def test_every_scrape_job_is_up(prometheus):
    expected = {*OWN_JOBS, *COMPONENT_JOBS, *(("kueue",) if kueue_namespace() else ())}
    node_count = len(nodes())

    def all_up():
        targets = prometheus("targets", state="active")["activeTargets"]
        health: dict[str, list[str]] = {}
        for target in targets:
            health.setdefault(target["labels"]["job"], []).append(
                "up" if target["health"] == "up" else f"{target['health']}: {target['lastError']}")
        counts_right = all(len(health.get(job, [])) == node_count for job in NODE_JOBS)
        return (expected <= set(health) and counts_right and all(s == "up" for states in health.values() for s in states),
                health)

    health = wait_for("every scrape job up", all_up, timeout=240, interval=5)
    # The research groups' model servers: a job once one runs (the smoke test checks their counts).
    assert set(health) - {MODEL_SERVERS_JOB} == expected, f"unexpected jobs: {sorted(set(health) - expected)}"
    assert MODEL_SERVERS_JOB in prometheus("scrape_pools")["scrapePools"]


def test_mlflow_requests_are_counted(prometheus):
    """The `mlflow` job's series are the server's own: its sidecar serves the files the server writes.
    A request without credentials (answered 401) shows up in Prometheus as a count by status."""
    with port_forward(CFG.mlflow.namespace, "mlflow", MLFLOW_PORT) as port:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=1")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)  # noqa: S310 - the port-forward
        assert refused.value.code == 401, refused.value

    def counted():
        found = query(prometheus, 'sum by (status) (mlflow_http_request_total{job="mlflow"})')
        by_status = {r["metric"].get("status"): float(r["value"][1]) for r in found}
        return by_status.get("401", 0) >= 1, by_status

    wait_for("MLflow's 401 counted by Prometheus", counted, timeout=90, interval=5)


def test_every_alert_rule_is_loaded_and_evaluates(prometheus):
    wanted = {rule["alert"] for group in yaml.safe_load(RULES_FILE.read_text())["groups"] for rule in group["rules"]}

    def evaluated():
        rules = [rule for group in prometheus("rules")["groups"] for rule in group["rules"]]
        # Each rule has been evaluated at least once, without error.
        state = {rule["name"]: (rule["health"], rule.get("lastError", "")) for rule in rules}
        return set(state) == wanted and all(health == "ok" for health, _ in state.values()), state

    wait_for("every alert rule evaluated without error", evaluated, timeout=120, interval=5)


def test_the_platform_services_raise_no_alert(prometheus):
    """MLflow, the KFP API, Kueue and every model server are up: their alerts are neither pending nor firing.
    (A test before this one may have stopped MLflow for a moment, as the backup does: its alert,
    pending then, goes at the next evaluation once MLflow is back.)"""
    def quiet():
        raised = [(a["labels"]["alertname"], a["state"], a["labels"].get("instance", "")) for a in prometheus("alerts")["alerts"]
                  if a["labels"]["alertname"] in ("MlflowDown", "KubeflowPipelinesApiDown", "KueueDown", "ModelServerDown")]
        return not raised, raised

    wait_for("no alert of MLflow, the KFP API, Kueue or a model server", quiet, timeout=180, interval=5)


def test_a_model_server_scaled_to_zero_raises_model_server_down(prometheus):
    vision, nlp = (tenant.namespace for tenant in CFG.tenancy.tenants[:2])
    down, running = _model_server(vision), _model_server(nlp)
    try:
        for server in (down, running):
            _wait_available(*server)

        def seen_available():
            promql = f'kube_deployment_status_replicas_available{{deployment=~"{down[1]}|{running[1]}"}}'
            values = {r["metric"]["deployment"]: r["value"][1] for r in query(prometheus, promql)}
            return values == {down[1]: "1", running[1]: "1"}, values

        wait_for("kube-state-metrics reporting both servers available", seen_available, timeout=120, interval=5)

        # While the servers started (no replica available yet) the rule may have put their alerts in pending;
        # the first evaluation after kube-state-metrics reports them available clears it.
        def quiet():
            alerts = _server_alerts(prometheus, down[1], running[1])
            return not alerts, alerts

        wait_for("no ModelServerDown while both servers serve", quiet, timeout=90, interval=5)

        kubectl("scale", "deployment", "-n", down[0], down[1], "--replicas=0")

        def raised():
            alerts = _server_alerts(prometheus, down[1], running[1])
            return any(a["state"] == ALERT_STATE for a in alerts), alerts

        # pending: one scrape and one evaluation (15 s each here); firing: 5 minutes more (`for: 5m`).
        alerts = wait_for(f"ModelServerDown {ALERT_STATE} for {down[0]}/{down[1]}", raised,
                          timeout=120 if ALERT_STATE == "pending" else 480, interval=5)
        (alert,) = alerts
        assert alert["labels"]["namespace"] == down[0]
        assert alert["labels"]["deployment"] == down[1]
        assert alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["summary"] == f"Model server {down[0]}/{down[1]} serves nothing"
    finally:
        for namespace, name in (down, running):
            kubectl("delete", "deployment", "-n", namespace, name, "--wait=false", check=False)


def test_the_metrics_ports_admit_prometheus_alone(prometheus):
    """A research group's pod cannot reach Prometheus, the dashboard, Alertmanager, MLflow's metrics sidecar, Argo's
    metrics, the object store's or Kueue's metrics (only MLflow's API and the object store's S3 port, as before);
    Prometheus reaches MLflow's sidecar through the NetworkPolicy the Monitoring component adds: without
    it the `mlflow` target goes down, and comes back with it."""
    mlflow_pod = _pod_ip(CFG.mlflow.namespace, "app.kubernetes.io/instance=mlflow,app.kubernetes.io/component=server")
    argo_pod = _pod_ip(CFG.kubeflow_pipelines.namespace, "app.kubernetes.io/name=workflow-controller")
    store_pod = _pod_ip(CFG.object_store.namespace, "app.kubernetes.io/component=object-store")
    tenant = CFG.tenancy.tenants[0].namespace
    blocked = {
        "Prometheus": (f"{PROMETHEUS_SERVICE}.{NAMESPACE}.svc.cluster.local.", PROMETHEUS_PORT),
        "the dashboard": (f"{DASHBOARD_SERVICE}.{NAMESPACE}.svc.cluster.local.", DASHBOARD_PORT),
        "Alertmanager": (f"{ALERTMANAGER_SERVICE}.{NAMESPACE}.svc.cluster.local.", ALERTMANAGER_PORT),
        "MLflow's metrics sidecar": (mlflow_pod, MLFLOW_METRICS_PORT),
        "Argo's metrics": (argo_pod, ARGO_METRICS_PORT)}
    if CFG.object_store.backend == "seaweedfs":
        blocked["the object store's metrics"] = (store_pod, SEAWEEDFS_METRICS_PORT)
    if kueue_namespace():
        blocked["Kueue's metrics"] = (_pod_ip(kueue_namespace(), KUEUE_PODS), KUEUE_METRICS_PORT)
    results = run_script_pod(tenant, "netprobe", pipeline_image(), pod_script("network_probe"), [
        {"name": "ALLOWED", "value": json.dumps({
            "MLflow's API": (f"mlflow.{CFG.mlflow.namespace}.svc.cluster.local.", MLFLOW_PORT),
            # The same pod's S3 port is open to the groups: the refusal below is the port's, not the pod's.
            "the object store's S3 API": (store_pod, S3_PORTS[CFG.object_store.backend])})},
        {"name": "BLOCKED", "value": json.dumps(blocked)}], timeout=240)
    assert results.pop("MLflow's API") == "open", results
    assert results.pop("the object store's S3 API") == "open", results
    assert set(results) == set(blocked), results
    assert all(result != "open" for result in results.values()), f"from {tenant}: {results}"

    policy_name = prometheus_policy("mlflow")
    policy = saved_policy(CFG.mlflow.namespace, policy_name)

    def mlflow_target(health: str):
        def probe():
            targets = [t for t in prometheus("targets", state="active")["activeTargets"] if t["labels"]["job"] == "mlflow"]
            return bool(targets) and all(t["health"] == health for t in targets), \
                [(t["scrapeUrl"], t["health"], t["lastError"]) for t in targets]
        return probe

    kubectl("delete", "networkpolicy", "-n", CFG.mlflow.namespace, policy_name)
    try:
        # Times out (fails) if Prometheus still reaches the sidecar without the policy that admits it.
        wait_for("the mlflow target down without its NetworkPolicy", mlflow_target("down"), timeout=120, interval=5)
    finally:
        kubectl("apply", "-f", "-", stdin=json.dumps(policy))
    wait_for("the mlflow target up again with its NetworkPolicy", mlflow_target("up"), timeout=120, interval=5)


# The stand-in receiver's address: the local stack's heartbeatUrl (its research groups' webhooks
# name the same Service, each with its group's path).
HEARTBEAT = urlsplit(CFG.monitoring.alertmanager.heartbeat_url)


@pytest.fixture(scope="module")
def alert_sink():
    """The namespace and Service that the local stack's heartbeatUrl names (tests run the receiver pod
    behind it, labelled with the Service's name); deleted after the module's tests."""
    assert HEARTBEAT.hostname, f"the local stack's heartbeatUrl names no host: {HEARTBEAT.geturl()}"
    assert HEARTBEAT.port, f"the local stack's heartbeatUrl names no port: {HEARTBEAT.geturl()}"
    service, sink_namespace = HEARTBEAT.hostname.split(".")[:2]
    kubectl("create", "namespace", sink_namespace)
    try:
        kubectl("apply", "-n", sink_namespace, "-f", "-", stdin=json.dumps({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": service},
            "spec": {"selector": {"app": service}, "ports": [{"port": HEARTBEAT.port, "targetPort": 8080}]}}))
        yield sink_namespace, service
    finally:
        kubectl("delete", "namespace", sink_namespace, "--wait=false", check=False)


def _receive(sink: tuple[str, str], wanted: str, paths: tuple[str, ...] = (), linger: int = 0) -> list[dict]:
    """Runs the receiver (tests/pod_scripts/webhook_sink.py) behind the sink's Service until the alert
    WANTED has come on each of PATHS, and returns what it received."""
    namespace, service = sink
    return run_script_pod(namespace, service, pipeline_image(), pod_script("webhook_sink"), [
        {"name": "WANTED", "value": wanted}, {"name": "PORT", "value": "8080"},
        {"name": "WANTED_PATHS", "value": ",".join(paths)}, {"name": "LINGER", "value": str(linger)}],
        timeout=360, needs=(), labels={"app": service})


def test_the_watchdog_goes_from_prometheus_through_alertmanager_to_the_heartbeat_webhook(prometheus, alert_sink):
    """Prometheus has discovered Alertmanager and sent it the Watchdog (Alertmanager's API holds it; only
    Prometheus may reach Alertmanager), and Alertmanager POSTs it to the local stack's heartbeatUrl: a webhook
    receiver this test runs behind that address (its namespace and Service, then the pod) receives it as
    Alertmanager's webhook JSON from the receiver `heartbeat`. Alertmanager retries a receiver that did not
    answer every minute (the heartbeat route's interval), so the receiver hears from it within about two."""
    address = f"{ALERTMANAGER_SERVICE}.{NAMESPACE}.svc:{ALERTMANAGER_PORT}"

    def discovered():
        active = [a["url"] for a in prometheus("alertmanagers")["activeAlertmanagers"]]
        return any(address in url for url in active), active

    wait_for(f"Prometheus sending alerts to {address}", discovered, timeout=120, interval=5)
    with port_forward(NAMESPACE, ALERTMANAGER_SERVICE, ALERTMANAGER_PORT) as port:
        def held():
            query = urllib.parse.urlencode({"filter": f'alertname="{WATCHDOG_ALERT}"'})
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/alerts?{query}", timeout=30) as response:
                alerts = json.load(response)
            return any(a["status"]["state"] == "active" and a["labels"].get("severity") == "none" for a in alerts), alerts

        (alert, *_) = wait_for("the Watchdog in Alertmanager's API", held, timeout=120, interval=5)
    assert alert["receivers"] == [{"name": HEARTBEAT_RECEIVER}], alert["receivers"]
    # What a sysadmin runs: `make alerts` (amtool through a port-forward) lists it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    listed = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "alerts", f"ALERTMANAGER_LOCAL_PORT={free_port}"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert WATCHDOG_ALERT in listed.stdout, listed.stdout + listed.stderr

    received = _receive(alert_sink, WATCHDOG_ALERT)
    last = received[-1]
    assert last["path"] == HEARTBEAT.path, received
    notification = last["notification"]
    assert notification["receiver"] == HEARTBEAT_RECEIVER, notification
    assert notification["status"] == "firing", notification
    assert [a["labels"]["alertname"] for a in notification["alerts"]] == [WATCHDOG_ALERT], notification
    assert notification["alerts"][0]["labels"]["severity"] == "none", notification


def test_a_research_groups_alerts_reach_its_own_webhook_and_no_other_groups(alert_sink):
    """The local stack gives each research group a webhook of its own (tenants[].alerts; the stand-in
    receiver, the group's name as the path). An alert about each group's namespace, given to Alertmanager's
    API as Prometheus gives it (the path from Prometheus is the Watchdog test's), reaches that group's
    webhook, and nothing about one group reaches the other's (the receiver listens 20 s longer for a
    stray one). Without the namespace matcher of each group's route, both would get both."""
    groups = {tenant.name: tenant.namespace for tenant in CFG.tenancy.tenants if tenant.alerts.webhooks}
    assert len(groups) >= 2, f"the local stack gives fewer than two groups a webhook: {groups}"
    paths = {}
    for name, _ in groups.items():
        ((_, url),) = next(t for t in CFG.tenancy.tenants if t.name == name).alerts.webhooks
        target = urlsplit(url)
        assert (target.hostname, target.port) == (HEARTBEAT.hostname, HEARTBEAT.port), f"{name}'s webhook is not the stand-in: {url}"
        paths[name] = target.path
    check = f"TenantRouteCheck{uuid.uuid4().hex[:6]}"
    alerts = [{"labels": {"alertname": check, "namespace": namespace, "severity": "warning"},
               "annotations": {"summary": f"a test alert about {namespace}"}} for namespace in groups.values()]
    with port_forward(NAMESPACE, ALERTMANAGER_SERVICE, ALERTMANAGER_PORT) as port:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/alerts", data=json.dumps(alerts).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the port-forward
            assert response.status == 200
    received = _receive(alert_sink, check, tuple(paths.values()), linger=20)
    got: dict[str, set[str]] = {}
    for item in received:
        for alert in item["notification"].get("alerts", []):
            if alert["labels"].get("alertname") == check:
                got.setdefault(item["path"], set()).add(alert["labels"]["namespace"])
    assert got == {paths[name]: {namespace} for name, namespace in groups.items()}, got
    receivers = {item["path"]: item["notification"]["receiver"] for item in received if item["path"] in paths.values()}
    assert receivers == {paths[name]: f"{TENANT_RECEIVER_PREFIX}{name}" for name in groups}, receivers


KUEUE_PODS = ",".join(f"{key}={value}" for key, value in sorted(KUEUE_MANAGER_POD_LABELS.items()))


def test_kueues_metrics_answer_prometheus_token_and_refuse_others():
    """Past the NetworkPolicy (a port-forward enters the pod's own network), Kueue still checks the
    caller: no token is refused (401), a research group's ServiceAccount token is refused (403),
    Prometheus's token, which its ClusterRole allows `get /metrics`, reads the queues' series."""
    if not kueue_namespace():
        pytest.skip("LOUD SKIP: the local stack runs no Kueue (queueing disabled or no research group)")
    tenant = CFG.tenancy.tenants[0].namespace
    prometheus_account = kubectl("get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=prometheus",
                                 "-o", "jsonpath={.items[0].spec.serviceAccountName}").strip()
    tokens = {"no token": "", f"{tenant}'s default ServiceAccount": kubectl("create", "token", "default", "-n", tenant).strip(),
              "Prometheus": kubectl("create", "token", prometheus_account, "-n", NAMESPACE).strip()}
    # Kueue's certificate is its own (no CA to check it by); the caller's token is what is checked.
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    answers = {}
    with port_forward(kueue_namespace(), KUEUE_METRICS_SERVICE, KUEUE_METRICS_PORT) as port:
        for caller, token in tokens.items():
            request = urllib.request.Request(f"https://127.0.0.1:{port}/metrics",
                                             headers={"Authorization": f"Bearer {token}"} if token else {})
            try:
                with urllib.request.urlopen(request, timeout=30, context=context) as response:  # noqa: S310 - the port-forward
                    answers[caller] = (response.status, response.read().decode())
            except urllib.error.HTTPError as refused:
                answers[caller] = (refused.code, "")
    assert answers["no token"][0] == 401, answers["no token"]
    assert answers[f"{tenant}'s default ServiceAccount"][0] == 403, answers
    status, body = answers["Prometheus"]
    assert status == 200, (status, body[:500])
    assert "kueue_pending_workloads" in body, body[:500]


def _pod_ip(namespace: str, selector: str) -> str:
    ips = kubectl("get", "pods", "-n", namespace, "-l", selector, "--field-selector=status.phase=Running",
                  "-o", "jsonpath={.items[*].status.podIP}").split()
    assert ips, f"no running pod {selector} in {namespace}"
    return ips[0]


def _server_alerts(prometheus, *deployments: str) -> list[dict]:
    return [a for a in prometheus("alerts")["alerts"]
            if a["labels"]["alertname"] == "ModelServerDown" and a["labels"].get("deployment") in deployments]


def _model_server(namespace: str) -> tuple[str, str]:
    """A stand-in model server: a Deployment with the component label of the platform's model servers
    (mlops_components.core.serving_manifests), serving HTTP from the pipeline image; without their
    serving label, so that the model-servers job does not scrape it (it has no /metrics)."""
    name = f"monitoring-check-{uuid.uuid4().hex[:6]}"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "model-server",
              "app.kubernetes.io/part-of": "mlops-platform-tests"}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": name, "namespace": namespace, "labels": labels},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                           "template": {"metadata": {"labels": labels}, "spec": {
                               "automountServiceAccountToken": False,
                               "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                                   "seccompProfile": {"type": "RuntimeDefault"}},
                               "containers": [{
                                   "name": "server", "image": pipeline_image(), "imagePullPolicy": "IfNotPresent",
                                   "command": ["python3", "-m", "http.server", "8080", "--directory", "/tmp"],  # noqa: S108
                                   "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 2},
                                   "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                                   "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                                 "limits": {"cpu": "200m", "memory": "128Mi"}}}]}}}}
    kubectl("apply", "-f", "-", stdin=json.dumps(deployment))
    return namespace, name


def _wait_available(namespace: str, name: str) -> None:
    def available():
        value = kubectl("get", "deployment", "-n", namespace, name, "-o", "jsonpath={.status.availableReplicas}", check=False)
        return value == "1", value or kubectl("get", "pods", "-n", namespace, "-l", f"app.kubernetes.io/name={name}",
                                              "-o", "wide", check=False)

    wait_for(f"model server stand-in {namespace}/{name} available", available, timeout=180)
