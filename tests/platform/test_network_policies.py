"""The NetworkPolicies the platform declares are enforced (the local cluster's engine: kube-router,
ansible/roles/control_plane/files/kube-router.yaml), shown by traffic: TCP connections from pods in the
research groups' namespaces to what they may and may not reach. A connection that is refused or
times out counts as blocked; the allowed targets must answer, so a broken network cannot pass."""

from __future__ import annotations

import json
import uuid

import pytest

from infra.components.kubeflow_pipelines.argo import ARTIFACT_TRANSFER, CONNECTION_REFUSED, GRPC_UNAVAILABLE
from tests.support.cluster import kubectl, wait_for
from tests.support.platform import (
    CFG,
    MLFLOW_NS,
    STORE_NS,
    kfp_api,
    person_token,
    pipeline_image,
    run_script_pod,
    run_workflow,
    saved_policy,
    submit_run_script,
    tenant_named,
    workflow_diagnostics,
)
from tests.support.scripts import pod_script

pytestmark = pytest.mark.e2e
LISTENER_PORT = 8080

# Each target is tried once; run_script_pod starts the script only once the engine has programmed
# the new pod (WAIT_FOR_NETWORK), so a refusal here is the policy's, not the engine's lag.
PROBE_SCRIPT = pod_script("network_probe")


def _tenants():
    tenants = CFG.tenancy.tenants
    if len(tenants) < 2:
        pytest.skip("LOUD SKIP: the local stack declares fewer than two research groups: nothing to isolate")
    return tenants[0], tenants[1]


@pytest.fixture(scope="module")
def listeners():
    """A TCP listener in each of the first two research groups' namespaces: {namespace: pod IP}."""
    first, second = _tenants()
    name = f"listener-{uuid.uuid4().hex[:6]}"
    pods = {}
    for tenant in (first, second):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}}, "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "listener", "image": pipeline_image(), "imagePullPolicy": "IfNotPresent",
                "command": ["python3", "-m", "http.server", str(LISTENER_PORT), "--directory", "/etc"],  # nothing to serve: a TCP listener
                "ports": [{"containerPort": LISTENER_PORT}],
                "readinessProbe": {"tcpSocket": {"port": LISTENER_PORT}, "periodSeconds": 2},
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}}]}}
        kubectl("apply", "-n", tenant.namespace, "-f", "-", stdin=json.dumps(pod))
    try:
        for tenant in (first, second):
            kubectl("wait", "-n", tenant.namespace, f"pod/{name}", "--for=condition=Ready", "--timeout=120s", timeout=150)
            pods[tenant.namespace] = kubectl("get", "pod", "-n", tenant.namespace, name, "-o", "jsonpath={.status.podIP}")
        yield pods
    finally:
        for tenant in (first, second):
            kubectl("delete", "pod", "-n", tenant.namespace, name, "--wait=false", check=False)


def _probe(namespace: str, allowed: dict[str, tuple[str, int]], blocked: dict[str, tuple[str, int]]) -> dict[str, str]:
    return run_script_pod(namespace, "netprobe", pipeline_image(), PROBE_SCRIPT,
                          [{"name": "ALLOWED", "value": json.dumps(allowed)},
                           {"name": "BLOCKED", "value": json.dumps(blocked)}], timeout=240)


def _svc(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.svc.cluster.local."


def test_a_research_group_reaches_s3_and_mlflow_and_nothing_else_of_the_platform_or_other_groups(listeners):
    first, second = _tenants()
    blocked = {
        f"{first.name}'s pod": (listeners[first.namespace], LISTENER_PORT),
        "object store filer (8888)": (_svc("object-store", STORE_NS), 8888),
        "object store master (9333)": (_svc("object-store", STORE_NS), 9333),
        "MLflow's PostgreSQL": (_svc("mlflow-postgres", MLFLOW_NS), 5432),
        "the Kubernetes API (from a pod that is no pipeline step)": (_svc("kubernetes", "default"), 443),
    }
    if CFG.kubeflow_pipelines.enabled:
        blocked["the KFP database"] = (_svc("kubeflow-pipelines-db", CFG.kubeflow_pipelines.namespace), 3306)
    allowed = {
        "S3 (8333)": (_svc("object-store", STORE_NS), 8333),
        "MLflow (5000)": (_svc("mlflow", MLFLOW_NS), 5000),
        "its own group's pod": (listeners[second.namespace], LISTENER_PORT),
    }
    if CFG.kubeflow_pipelines.enabled:
        allowed["the KFP API (8888)"] = (_svc("ml-pipeline", CFG.kubeflow_pipelines.namespace), 8888)
    results = _probe(second.namespace, allowed, blocked)
    opened = {name: results[name] for name in blocked if results[name] == "open"}
    assert not opened, f"from {second.namespace}, reachable although no policy allows it: {opened} (all: {results})"
    closed = {name: results[name] for name in allowed if results[name] != "open"}
    assert not closed, f"from {second.namespace}, blocked although allowed: {closed} (all: {results})"


def test_the_other_research_group_is_isolated_the_other_way_too(listeners):
    first, second = _tenants()
    results = _probe(first.namespace, {"own": (listeners[first.namespace], LISTENER_PORT)},
                     {"other": (listeners[second.namespace], LISTENER_PORT)})
    assert results["own"] == "open", f"{first.namespace} cannot reach its own pod: {results}"
    assert results["other"] != "open", f"{first.namespace} reaches {second.namespace}'s pod: {results}"


def test_kueue_lets_in_the_api_servers_calls_only_and_the_refusal_is_its_policys():
    """From a namespace with no policy of its own, only Kueue's webhook and visibility ports answer;
    its metrics port times out, and answers once Kueue's NetworkPolicies are removed (put back after):
    the API server's and, with monitoring, the one admitting Prometheus to the metrics port (a pod
    any policy selects is isolated, so removing one of them alone would close the webhook too)."""
    if not CFG.queueing.enabled:
        pytest.skip("LOUD SKIP: queueing.enabled is false on the local stack: Kueue is not deployed")
    from infra.components.monitoring import prometheus_policy
    from infra.components.queueing import API_SERVER_POLICY, METRICS_PORT, METRICS_SERVICE, VISIBILITY_PORT, WEBHOOK_PORT, WEBHOOK_SERVICE

    kueue_ns = CFG.queueing.namespace
    webhook = (_svc(WEBHOOK_SERVICE, kueue_ns), 443)
    metrics = (_svc(METRICS_SERVICE, kueue_ns), METRICS_PORT)
    source = f"netprobe-{uuid.uuid4().hex[:6]}"
    policy = saved_policy(kueue_ns, API_SERVER_POLICY)
    assert {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]} == {WEBHOOK_PORT, VISIBILITY_PORT}
    policies = [policy, *([saved_policy(kueue_ns, prometheus_policy("kueue"))] if CFG.monitoring.enabled else [])]
    kubectl("create", "namespace", source)
    kubectl("label", "namespace", source, "pod-security.kubernetes.io/enforce=restricted")
    try:
        def probe():
            return run_script_pod(source, "netprobe", pipeline_image(), PROBE_SCRIPT,
                                  [{"name": "ALLOWED", "value": json.dumps({"webhook": webhook})},
                                   {"name": "BLOCKED", "value": json.dumps({"metrics": metrics})}],
                                  timeout=240, needs=(webhook,))
        results = probe()
        assert results["webhook"] == "open", f"the API server's port is closed to {source}: {results}"
        assert results["metrics"] != "open", f"Kueue's metrics port is open to any namespace: {results}"
        kubectl("delete", "networkpolicy", "-n", kueue_ns, *(p["metadata"]["name"] for p in policies))
        try:
            unprotected = probe()
        finally:
            kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": policies}))
        assert unprotected["metrics"] == "open", \
            f"without Kueue's NetworkPolicy its metrics port still does not answer, so the refusal above is not the policy's: {unprotected}"
    finally:
        kubectl("delete", "namespace", source, "--wait=false", check=False)


# alice (vision) submits a one-step pipeline, and only submits it.
SUBMIT_SCRIPT = submit_run_script(r"""
@dsl.component(base_image=os.environ["PIPELINE_IMAGE"])
def say(word: str) -> str:
    return word

@dsl.pipeline(name="platform-test-refused-driver")
def refused_driver(word: str):
    say(word=word).set_caching_options(False)
""", "refused_driver", "refused-driver", '{"word": "again"}')


def test_a_pipeline_pod_refused_by_the_metadata_server_is_started_again_and_the_run_succeeds():
    """kube-router lets a new pod through only once it has seen the pod's address: until then ML
    Metadata refuses KFP's driver, which does not retry. Argo starts such a pod again
    (kubeflowPipelines.platformFaultRetries). Shown with the refusal made on purpose: ML Metadata's
    NetworkPolicy is removed, the run's first driver is refused, the policy is put back, and the
    started-again driver gets through and the run succeeds. With platformFaultRetries 0 the run
    fails on the first refusal."""
    if not CFG.kubeflow_pipelines.enabled:
        pytest.skip("LOUD SKIP: kubeflowPipelines.enabled is false in the local stack")
    assert CFG.kubeflow_pipelines.platform_fault_retries > 0, "the local stack must restart pods the platform made fail"
    kfp_ns, vision = CFG.kubeflow_pipelines.namespace, tenant_named("vision")
    name = "kubeflow-pipelines-allow-metadata-grpc"
    policy = saved_policy(kfp_ns, name)
    image = pipeline_image()
    kubectl("delete", "networkpolicy", "-n", kfp_ns, name)
    restored, run_id = False, None
    try:
        run_id = run_script_pod(vision.namespace, "refused-submit", image, SUBMIT_SCRIPT, [
            {"name": "PIPELINE_IMAGE", "value": image}, {"name": "KFP_HOST", "value": kfp_api()},
            {"name": "KFP_TOKEN", "value": person_token("alice")}, {"name": "NAMESPACE", "value": vision.namespace}],
            timeout=300)["run_id"]

        def nodes():
            return run_workflow(vision.namespace, run_id).get("status", {})

        def refused_once():
            failed = [n for n in nodes().get("nodes", {}).values() if n.get("type") == "Pod" and n.get("phase") == "Failed"]
            return any(CONNECTION_REFUSED in (n.get("message") or "") for n in failed), \
                [(n.get("displayName"), (n.get("message") or "")[-200:]) for n in failed]
        wait_for(f"a driver of run {run_id} refused by ML Metadata", refused_once, timeout=180, interval=1)
        kubectl("apply", "-f", "-", stdin=json.dumps(policy))
        restored = True

        def finished():
            phase = nodes().get("phase")
            return phase in ("Succeeded", "Failed", "Error"), phase
        phase = wait_for(f"run {run_id} to finish", finished, timeout=420)
        status = nodes()
        assert phase == "Succeeded", f"the run ended {phase}\n{workflow_diagnostics(vision.namespace, [run_id])}"
        refused = [n for n in status["nodes"].values() if n.get("type") == "Pod" and n.get("phase") == "Failed"]
        assert refused, "no pod of the run failed although ML Metadata refused everyone"
        for node in refused:
            assert GRPC_UNAVAILABLE in node["message"], f"a pod failed for another reason than the refusal: {node}"
            assert CONNECTION_REFUSED in node["message"], f"a pod failed for another reason than the refusal: {node}"
        retried = [n for n in status["nodes"].values() if n.get("type") == "Retry" and len(n.get("children", [])) > 1]
        assert retried, "Argo started no pod again"
    finally:
        if not restored:
            kubectl("apply", "-f", "-", stdin=json.dumps(policy))
        if run_id:
            kubectl("delete", "workflows.argoproj.io", "-n", vision.namespace, "-l", f"pipeline/runid={run_id}",
                    "--wait=false", check=False)


# alice (vision) submits a one-step pipeline whose step writes a Dataset after a pause, and only
# submits it: the pause is the window in which the object store starts refusing.
SLOW_WRITE_SCRIPT = submit_run_script(r"""
@dsl.component(base_image=os.environ["PIPELINE_IMAGE"])
def write_slowly(word: str, data: dsl.Output[dsl.Dataset]):
    import time
    time.sleep(18)
    with open(data.path, "w") as handle:
        handle.write(word)

@dsl.pipeline(name="platform-test-refused-upload")
def refused_upload(word: str):
    write_slowly(word=word).set_caching_options(False)
""", "refused_upload", "refused-upload", '{"word": "again"}')


def test_a_step_whose_artifact_upload_the_object_store_refused_is_started_again_and_the_run_succeeds():
    """KFP's launcher gives up at once when the object store refuses the upload of a step's outputs
    (its pod restarting: make fault-test saw a run fail so). Argo starts such a pod again
    (kubeflowPipelines.platformFaultRetries). Shown with the refusal made on purpose: while the
    step runs, the object store's ingress NetworkPolicy is removed (kube-router then refuses every
    other namespace), the step's upload is refused, the policy is put back, and the started-again
    step uploads and the run succeeds. Without the artifact clause in the retry expression the run
    fails on the refusal."""
    if not CFG.kubeflow_pipelines.enabled:
        pytest.skip("LOUD SKIP: kubeflowPipelines.enabled is false in the local stack")
    vision, name = tenant_named("vision"), "object-store-ingress"
    policy = saved_policy(STORE_NS, name)
    image = pipeline_image()
    run_id, removed = run_script_pod(vision.namespace, "refused-upload-submit", image, SLOW_WRITE_SCRIPT, [
        {"name": "PIPELINE_IMAGE", "value": image}, {"name": "KFP_HOST", "value": kfp_api()},
        {"name": "KFP_TOKEN", "value": person_token("alice")}, {"name": "NAMESPACE", "value": vision.namespace}],
        timeout=300)["run_id"], False
    try:
        def nodes():
            return run_workflow(vision.namespace, run_id).get("status", {}).get("nodes", {})

        def step_running():
            # The step's executor pod (KFP's template system-container-impl), not its driver.
            running = [n for n in nodes().values() if n.get("type") == "Pod" and n.get("phase") == "Running"
                       and "impl" in (n.get("templateName") or "")]
            return bool(running), [(n.get("displayName"), n.get("templateName"), n.get("phase")) for n in nodes().values()]
        wait_for(f"the step of run {run_id} running", step_running, timeout=300, interval=1)
        kubectl("delete", "networkpolicy", "-n", STORE_NS, name)
        removed = True

        def refused_once():
            failed = [n for n in nodes().values() if n.get("type") == "Pod" and n.get("phase") in ("Failed", "Error")]
            return any(any(words in (n.get("message") or "") for words in ARTIFACT_TRANSFER) for n in failed), \
                [(n.get("displayName"), (n.get("message") or "")[-300:]) for n in failed]
        wait_for(f"the upload of run {run_id} refused by the object store", refused_once, timeout=180, interval=1)
        kubectl("apply", "-f", "-", stdin=json.dumps(policy))
        removed = False

        def finished():
            phase = run_workflow(vision.namespace, run_id).get("status", {}).get("phase")
            return phase in ("Succeeded", "Failed", "Error"), phase
        phase = wait_for(f"run {run_id} to finish", finished, timeout=420)
        assert phase == "Succeeded", f"the run ended {phase}\n{workflow_diagnostics(vision.namespace, [run_id])}"
        failed = [n for n in nodes().values() if n.get("type") == "Pod" and n.get("phase") in ("Failed", "Error")]
        assert all(CONNECTION_REFUSED in n["message"] for n in failed), f"a pod failed for another reason: {failed}"
        retried = [n for n in nodes().values() if n.get("type") == "Retry" and len(n.get("children", [])) > 1]
        assert retried, "Argo started no pod again"
    finally:
        if removed:
            kubectl("apply", "-f", "-", stdin=json.dumps(policy))
        kubectl("delete", "workflows.argoproj.io", "-n", vision.namespace, "-l", f"pipeline/runid={run_id}",
                "--wait=false", check=False)
