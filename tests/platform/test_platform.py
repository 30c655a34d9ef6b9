"""The platform that `make up` deployed with `pulumi up --stack local`, checked for real: every
platform pod Ready; MLflow refuses anonymous requests and keeps each research group in its own
workspace, also for a researcher outside the cluster; a group uses its own bucket and is refused
another's; Kubeflow Pipelines runs a researcher's pipeline in the group's namespace, as its runner,
under its quota (a GPU step over quota is refused), and refuses other groups' members, callers
without a token and pipeline steps that reach for another namespace; the UI shows the run."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid

import pytest
from mlops_components.contract import GPU_RESOURCE, PIPELINE_ENV_SECRET

from infra.components.queueing import quota_ceiling
from infra.components.tenants import ARGO_WORKFLOW_LABEL
from tests.support.cluster import ROOT, kubectl, wait_for
from tests.support.platform import (
    CFG,
    MLFLOW_NS,
    STORE_NS,
    kfp_api,
    kfp_enabled,
    mlflow_image,
    person_token,
    pipeline_image,
    platform_pods_ready,
    port_forward,
    run_script_pod,
    secret_values,
    submit_run_script,
    tenant_named,
    workflow_diagnostics,
)
from tests.support.scripts import pod_script

pytestmark = pytest.mark.e2e


# Runs inside the cluster, in MLflow's namespace, with the MLflow image (client, boto3).
CLIENT_SCRIPT = pod_script("mlflow_admin_client")


def test_every_platform_pod_is_ready():
    platform_pods_ready()


def test_mlflow_refuses_anonymous_and_stores_an_authenticated_run_with_its_artifact_in_the_bucket():
    marker = uuid.uuid4().hex[:12]
    image = mlflow_image()
    secret_env = [
        {"name": "MLFLOW_TRACKING_USERNAME", "valueFrom": {"secretKeyRef": {"name": "mlflow-auth", "key": "admin-username"}}},
        {"name": "MLFLOW_TRACKING_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "mlflow-auth", "key": "admin-password"}}},
        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "mlflow-s3", "key": "AWS_ACCESS_KEY_ID"}}},
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "mlflow-s3", "key": "AWS_SECRET_ACCESS_KEY"}}},
    ]
    endpoint = f"http://object-store.{STORE_NS}.svc.cluster.local:8333"  # no trailing dot: S3 signs the Host
    result = run_script_pod(MLFLOW_NS, "platform-test", image, CLIENT_SCRIPT, [
        *secret_env, {"name": "MARKER", "value": marker}, {"name": "MLFLOW_S3_ENDPOINT_URL", "value": endpoint},
        {"name": "BUCKET", "value": CFG.mlflow.artifact_bucket}])
    assert result["anonymous"] == 401, f"an anonymous request got {result['anonymous']}, expected 401"
    assert result["param"] == marker
    assert result["metric"] == 0.5
    assert result["keys"], f"no object of the run in bucket {CFG.mlflow.artifact_bucket}"
    assert result["body"] == f"artifact-{marker}", "the artifact's content came back from the object store"


# Runs in tenant A's namespace with A's `mlops-credentials`: A's own bucket works, tenant B's
# bucket is refused for reading, listing and writing.
ISOLATION_SCRIPT = pod_script("bucket_isolation")


def test_a_tenant_uses_its_own_bucket_and_cannot_read_or_write_another_tenants_bucket():
    if len(CFG.tenancy.tenants) < 2:
        pytest.skip("LOUD SKIP: the local stack declares fewer than two tenants; isolation needs two")
    tenant, other = CFG.tenancy.tenants[0], CFG.tenancy.tenants[1]
    marker = uuid.uuid4().hex[:12]
    image = mlflow_image()
    result = run_script_pod(tenant.namespace, "isolation-test", image, ISOLATION_SCRIPT,
                            [{"name": "OTHER_BUCKET", "value": other.bucket}, {"name": "MARKER", "value": marker}],
                            env_from=[{"secretRef": {"name": "mlops-credentials"}}], memory_limit="512Mi")
    assert result["own"] == marker, f"tenant {tenant.name} could not use its own bucket: {result}"
    for operation in ("list", "get", "put"):
        assert result[operation] == "AccessDenied", \
            f"tenant {tenant.name} {operation} on {other.bucket}: {result[operation]} (expected AccessDenied)"


# Runs in a tenant's namespace with the MLflow image, as that tenant (its mlops-credentials: the
# editor user of its MLflow workspace); OTHER_* are another tenant's editor, READER_* this tenant's
# reader. Logs a run with an artifact and a registered model, then prints the HTTP status of what
# each identity tries.
MLFLOW_TENANT_SCRIPT = pod_script("mlflow_tenant_workspace")


def test_each_tenant_reaches_only_its_own_mlflow_workspace():
    """vision logs a run, an artifact and a model as its own MLflow identity (not the admin); nlp's
    identity is refused each of them (403), vision's reader may read but not write, neither tenant
    may create MLflow users, and a request without credentials is refused (401)."""
    from infra.components.tenants import CREDENTIALS_SECRET_NAME, MLFLOW_READER_SECRET_NAME

    vision, nlp = CFG.tenancy.tenants[:2]
    other = secret_values(nlp.namespace, CREDENTIALS_SECRET_NAME)
    reader = secret_values(vision.namespace, MLFLOW_READER_SECRET_NAME)
    assert other["MLFLOW_TRACKING_USERNAME"] != CFG.mlflow.admin_username
    image = CFG.images.resolve("mlflow")
    result = run_script_pod(vision.namespace, "mlflow-tenant-test", image, MLFLOW_TENANT_SCRIPT, [
        {"name": "MARKER", "value": uuid.uuid4().hex[:10]},
        {"name": "OTHER_USERNAME", "value": other["MLFLOW_TRACKING_USERNAME"]},
        {"name": "OTHER_PASSWORD", "value": other["MLFLOW_TRACKING_PASSWORD"]},
        {"name": "READER_USERNAME", "value": reader["MLFLOW_TRACKING_USERNAME"]},
        {"name": "READER_PASSWORD", "value": reader["MLFLOW_TRACKING_PASSWORD"]}],
        env_from=[{"secretRef": {"name": CREDENTIALS_SECRET_NAME}}], timeout=300)
    assert result.pop("downloaded"), "the tenant could not download its own artifact through MLflow"
    expected = {"anonymous": 401, "own_create_user": 403, "reader_get_run": 200, "reader_get_model": 200,
                "reader_log_metric": 403}
    expected.update({key: 403 for key in result if key.startswith("other_")})
    assert result == expected, f"MLflow answered {result}, expected {expected}"


# Runs on this machine, outside the cluster, as a researcher's laptop would: the public mlflow
# client (the pipelines' virtualenv, the same packages as the pipeline image) with only the MLFLOW_*
# settings of the group's Secret, through a port-forward to MLflow. No S3 keys: every byte goes
# through MLflow's proxy. Logs a 12 MiB artifact and a model, downloads the one, loads the other.
LAPTOP_SCRIPT = pod_script("mlflow_laptop_client")


def test_a_researcher_outside_the_cluster_downloads_artifacts_and_loads_models_through_mlflow():
    """From outside the cluster (a port-forward, as from a laptop), with vision's MLflow settings
    only: a 12 MiB artifact comes back byte for byte and a registered model loads and predicts.
    (Before the platform proxied downloads, the client got presigned URLs for the in-cluster object
    store host and retried until it timed out.)"""
    python = ROOT / ".venv-pipelines" / "bin" / "python"
    assert python.exists(), f"{python} is missing: run `make pipelines-venv` (the researcher's mlflow client)"
    vision = tenant_named("vision")
    settings = {key: value for key, value in secret_values(vision.namespace, PIPELINE_ENV_SECRET).items()
                if key.startswith(("MLFLOW_", "MLOPS_EXPERIMENT"))}
    assert "AWS_SECRET_ACCESS_KEY" not in settings
    with port_forward(MLFLOW_NS, "mlflow", 5000) as local_port:
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **settings,  # noqa: S108
               "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{local_port}", "MARKER": uuid.uuid4().hex[:10],
               "MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"}
        done = subprocess.run([str(python), "-c", LAPTOP_SCRIPT], env=env, capture_output=True, text=True,
                              timeout=600, check=False)
    assert done.returncode == 0, f"the laptop client failed ({done.returncode}):\n{done.stderr[-3000:]}"
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["same_bytes"], "the downloaded artifact differs from the logged one"
    assert result["predictions"] == [0, 0, 1, 1], result


# Runs in research group vision's namespace with the pipeline base image (kfp SDK 2.14.3, boto3),
# as alice (her token): lists the group's pipelines through the KFP API, compiles and submits a
# one-step pipeline whose component writes an output artifact, waits for the run, and reads the
# artifact back from the group's bucket with the group's keys (Secret `mlops-credentials`).
PIPELINE_SCRIPT = pod_script("kfp_one_step_run")


def test_kubeflow_pipelines_runs_a_one_step_pipeline_that_stores_its_artifact_in_the_bucket():
    """alice (vision) submits with her token: the run executes in research-vision as its pipeline
    runner (so under its quota) and stores its artifact in vision's bucket with vision's keys."""
    kfp_enabled()
    vision = tenant_named("vision")
    namespace = vision.namespace
    image = pipeline_image()
    marker = uuid.uuid4().hex[:12]
    result = run_script_pod(namespace, "pipeline-test", image, PIPELINE_SCRIPT, [
        {"name": "PIPELINE_IMAGE", "value": image}, {"name": "MARKER", "value": marker},
        {"name": "KFP_HOST", "value": kfp_api()}, {"name": "KFP_TOKEN", "value": person_token("alice")},
        {"name": "NAMESPACE", "value": namespace},
        {"name": "BUCKET", "value": vision.bucket}, {"name": "RUN_TIMEOUT", "value": "600"}],
        env_from=[{"secretRef": {"name": PIPELINE_ENV_SECRET}}], timeout=720)
    assert result["state"] == "SUCCEEDED", \
        f"the run ended {result['state']}: {result['error']}\n{workflow_diagnostics(namespace)}"
    assert result["keys"], f"no object of the run in bucket {vision.bucket}"
    assert result["has_marker"], f"no artifact with the marker among {result['keys']}"
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "pipeline/runid", "-o", "json"))["items"]
    mine = [pod for pod in pods if pod["metadata"]["labels"].get("pipeline/runid") == result["run_id"]]
    assert mine, f"no pod of run {result['run_id']} in {namespace}"
    assert {pod["spec"]["serviceAccountName"] for pod in mine} == {"pipeline-runner"}


# alice submits a one-step pipeline whose step asks for GPUS GPUs, and only submits it.
GPU_QUOTA_SCRIPT = submit_run_script(r"""
@dsl.component(base_image=os.environ["PIPELINE_IMAGE"])
def wants_gpus() -> str:
    return "never runs"

@dsl.pipeline(name="platform-test-gpu-quota")
def over_quota():
    wants_gpus().set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(int(os.environ["GPUS"]))
""", "over_quota", "gpu-over-quota")


def test_a_pipeline_step_over_its_groups_gpu_quota_is_refused_with_the_quota_named():
    """Pipeline pods count in the group's ResourceQuota: a step asking for more GPUs than
    vision may ever hold (its quota, plus its borrowing limit when Kueue queues the group's work)
    never starts; Argo keeps it pending with the API server's refusal, which names the quota
    (whatever GPUs the nodes have: admission refuses before scheduling)."""
    kfp_enabled()
    vision = tenant_named("vision")
    namespace = vision.namespace
    image = pipeline_image()
    ceiling = int(quota_ceiling(vision, CFG.tenancy.tenants)[GPU_RESOURCE]) if CFG.queueing.enabled else vision.quota.gpu
    # kfp's set_accelerator_limit takes 1, 2, 4, 8 or 16: the smallest one above the ceiling.
    gpus = min(n for n in (1, 2, 4, 8, 16) if n > ceiling)
    result = run_script_pod(namespace, "gpu-quota", image, GPU_QUOTA_SCRIPT, [
        {"name": "PIPELINE_IMAGE", "value": image}, {"name": "GPUS", "value": str(gpus)},
        {"name": "KFP_HOST", "value": kfp_api()}, {"name": "KFP_TOKEN", "value": person_token("alice")},
        {"name": "NAMESPACE", "value": namespace}], timeout=300)
    selector = f"pipeline/runid={result['run_id']}"
    try:
        def refused():
            workflows = json.loads(kubectl("get", "workflows.argoproj.io", "-n", namespace, "-l", selector,
                                           "-o", "json"))["items"]
            messages = [node.get("message", "") for workflow in workflows
                        for node in workflow.get("status", {}).get("nodes", {}).values()]
            return any("exceeded quota" in message for message in messages), messages
        messages = wait_for(f"the GPU step of run {result['run_id']} refused by the quota", refused, timeout=300)
        message = next(message for message in messages if "exceeded quota" in message)
        assert "tenant-quota" in message, message
        assert "nvidia.com/gpu" in message, message
        pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json"))["items"]
        gpu_pods = [pod["metadata"]["name"] for pod in pods for container in pod["spec"]["containers"]
                    if "nvidia.com/gpu" in container.get("resources", {}).get("limits", {})]
        assert not gpu_pods, f"a pod asking for {gpus} GPUs exists in {namespace}: {gpu_pods}"
    finally:
        kubectl("delete", "workflows.argoproj.io", "-n", namespace, "-l", selector, "--wait=false", check=False)


# As a person with a token (or none): what the KFP API answers. Prints the HTTP status of each call.
KFP_AUTHZ_SCRIPT = pod_script("kfp_authorization")


def test_a_person_reaches_only_the_pipelines_of_the_groups_they_belong_to():
    """bob (nlp) cannot list, get or delete alice's (vision's) runs and experiments, nor create one
    in vision: 403 from the API server's SubjectAccessReview; without a valid token: 401; a
    user-id header names nobody. Runs after the one-step pipeline test (alice's run)."""
    kfp_enabled()
    vision, nlp = tenant_named("vision"), tenant_named("nlp")
    image = pipeline_image()
    result = run_script_pod(nlp.namespace, "kfp-authz-test", image, KFP_AUTHZ_SCRIPT, [
        {"name": "KFP_HOST", "value": kfp_api()}, {"name": "ALICE", "value": person_token("alice")},
        {"name": "BOB", "value": person_token("bob")}, {"name": "VISION", "value": vision.namespace},
        {"name": "NLP", "value": nlp.namespace}])
    assert (result["alice_lists_vision_runs"], result["alice_lists_vision_experiments"]) == (200, 200), result
    assert result["run_id"], f"alice sees no run in {vision.namespace}: {result}"
    assert result["experiment_id"], f"alice sees no experiment in {vision.namespace}: {result}"
    assert result["bob_lists_nlp_runs"] == 200, f"bob cannot use his own group's pipelines: {result}"
    refused = {key: result[key] for key in ("bob_lists_vision_runs", "bob_gets_alice_run", "bob_deletes_alice_run",
                                            "bob_lists_vision_experiments", "bob_gets_alice_experiment",
                                            "bob_creates_experiment_in_vision")}
    assert set(refused.values()) == {403}, f"bob reached vision's pipelines: {refused}"
    anonymous = {key: result[key] for key in ("no_token_lists_vision_runs", "forged_token_lists_vision_runs",
                                              "header_claims_alice")}
    assert set(anonymous.values()) == {401}, f"a caller without a valid token was not refused with 401: {anonymous}"


# Runs as a pipeline step does (the pipeline runner's ServiceAccount token, the pipeline image) and
# makes the Kubernetes API calls CALLS ([method, path, body]): prints each call's HTTP status.
API_SCRIPT = pod_script("kubernetes_api_calls")


# Argo's label on every pod of a workflow: the tenants' NetworkPolicies let pipeline steps, and no
# other pod, reach the Kubernetes API (allow-kubernetes-api-for-steps).
AS_A_PIPELINE_STEP = {ARGO_WORKFLOW_LABEL: "platform-test"}


def test_a_pipeline_step_reads_only_the_bucket_secret_of_its_own_namespace():
    """The pipeline runner of research-vision (every step of vision's pipelines runs as it) reads
    its namespace's bucket Secret (else no run could store an artifact) and no other Secret: not
    its group's others, not research-nlp's, not the platform's."""
    kfp_enabled()
    from infra.components.kubeflow_pipelines import ARTIFACT_SECRET, PIPELINE_RUNNER

    vision, nlp = tenant_named("vision"), tenant_named("nlp")
    namespace = vision.namespace
    allowed = f"/api/v1/namespaces/{namespace}/secrets/{ARTIFACT_SECRET}"
    forbidden = [f"/api/v1/namespaces/{namespace}/secrets", f"/api/v1/namespaces/{nlp.namespace}/secrets"]
    for ns in (namespace, nlp.namespace, CFG.kubeflow_pipelines.namespace, MLFLOW_NS, STORE_NS):
        names = kubectl("get", "secrets", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}").split()
        forbidden += [f"/api/v1/namespaces/{ns}/secrets/{name}" for name in names if ns != namespace or name != ARTIFACT_SECRET]
    assert f"/api/v1/namespaces/{nlp.namespace}/secrets/{ARTIFACT_SECRET}" in forbidden, forbidden
    image = pipeline_image()
    statuses = run_script_pod(namespace, "secrets-test", image, API_SCRIPT,
                              [{"name": "CALLS", "value": json.dumps([["GET", path, None] for path in [allowed, *forbidden]])}],
                              service_account=PIPELINE_RUNNER, labels=AS_A_PIPELINE_STEP)
    assert statuses[f"GET {allowed}"] == 200, f"the runner cannot read {allowed}: {statuses} (every run would fail)"
    readable = {call: status for call, status in statuses.items() if call != f"GET {allowed}" and status != 403}
    assert not readable, f"a pipeline step can read (or got no 403 for) these Secrets: {readable}"


def test_a_pipeline_step_deploys_only_into_its_own_namespace_and_cannot_patch_pods():
    """As vision's pipeline runner: deploying a model server (Deployment, Service) into
    research-nlp, writing a Secret anywhere, patching a pod or exec-ing into one is refused (403);
    creating a Deployment in its own namespace is allowed (dry run)."""
    kfp_enabled()
    from infra.components.kubeflow_pipelines import PIPELINE_RUNNER

    vision, nlp = tenant_named("vision"), tenant_named("nlp")
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "intruder"}, "spec": {
        "selector": {"matchLabels": {"app": "intruder"}}, "template": {"metadata": {"labels": {"app": "intruder"}},
        "spec": {"containers": [{"name": "c", "image": "intruder"}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "intruder"},
               "spec": {"selector": {"app": "intruder"}, "ports": [{"port": 8080}]}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "intruder"}, "stringData": {"a": "b"}}
    pod = kubectl("get", "pods", "-n", vision.namespace, "-o", "jsonpath={.items[0].metadata.name}")
    calls = {
        "own_deployment": ["POST", f"/apis/apps/v1/namespaces/{vision.namespace}/deployments?dryRun=All", deployment],
        "nlp_deployment": ["POST", f"/apis/apps/v1/namespaces/{nlp.namespace}/deployments?dryRun=All", deployment],
        "nlp_service": ["POST", f"/api/v1/namespaces/{nlp.namespace}/services?dryRun=All", service],
        "nlp_model_server_patch": ["PATCH", f"/apis/apps/v1/namespaces/{nlp.namespace}/deployments/model-x?dryRun=All", {}],
        "own_secret": ["POST", f"/api/v1/namespaces/{vision.namespace}/secrets?dryRun=All", secret],
        "own_pod_patch": ["PATCH", f"/api/v1/namespaces/{vision.namespace}/pods/{pod}?dryRun=All", {}],
        "own_pod_exec": ["POST", f"/api/v1/namespaces/{vision.namespace}/pods/{pod}/exec?command=id", None],
    }
    image = pipeline_image()
    statuses = run_script_pod(vision.namespace, "deploy-test", image, API_SCRIPT,
                              [{"name": "CALLS", "value": json.dumps(list(calls.values()))}],
                              service_account=PIPELINE_RUNNER, labels=AS_A_PIPELINE_STEP)
    result = {name: statuses[f"{method} {path}"] for name, (method, path, _) in calls.items()}
    assert result["own_deployment"] == 201, f"the runner cannot deploy a model server in its own namespace: {result}"
    refused = {name: status for name, status in result.items() if name != "own_deployment"}
    assert set(refused.values()) == {403}, f"vision's runner was not refused: {refused}"


# Runs in the UI's namespace with the pipeline base image, against the web UI's Service, as a
# browser with a person's token would (no login yet: the token goes in the Authorization
# header, which the UI forwards to the API server): the app's page and bundle, the UI server's
# health (which asks the API server), the group's runs through its API proxy, ML Metadata through
# its gRPC-Web path (the proxy in front of the metadata server), and a run's v2 artifact through
# its artifact handler, with the launcher's provider info, whose Secret (the group's bucket keys)
# the UI reads from the group's namespace.
UI_SCRIPT = pod_script("kfp_ui_requests")


def test_kubeflow_pipelines_ui_serves_the_app_runs_metadata_and_artifacts():
    """Runs after the one-step pipeline test, whose run, lineage and artifact the UI must show."""
    import yaml

    kfp_cfg = CFG.kubeflow_pipelines
    if not (kfp_cfg.enabled and kfp_cfg.ui):
        pytest.skip("LOUD SKIP: kubeflowPipelines.enabled or .ui is false in the local stack")
    vision = tenant_named("vision")
    namespace = vision.namespace  # the one-step run's, alice's group's
    # The provider info the launcher records with each v2 artifact (backend/src/v2/config/s3.go),
    # from the kfp-launcher ConfigMap the component wrote.
    providers = yaml.safe_load(kubectl("get", "configmap", "-n", namespace, "kfp-launcher", "-o", "jsonpath={.data.providers}"))
    default = providers["s3"]["default"]
    secret_ref = default["credentials"]["secretRef"]
    provider_info = json.dumps({"Provider": "s3", "Params": {
        "endpoint": default["endpoint"], "region": default["region"], "disableSSL": str(default["disableSSL"]).lower(),
        "forcePathStyle": "true", "fromEnv": "false", "secretName": secret_ref["secretName"],
        "accessKeyKey": secret_ref["accessKeyKey"], "secretKeyKey": secret_ref["secretKeyKey"]}})
    # A finished step pod of a pipeline run, whose log the UI reads from the cluster.
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "pipeline/runid", "-o", "json"))["items"]
    step_pods = [pod["metadata"]["name"] for pod in pods if pod["status"].get("phase") == "Succeeded"
                 and "main" in [c["name"] for c in pod["spec"]["containers"]]]
    assert step_pods, f"no finished pipeline step pod in {namespace}: the one-step pipeline test runs first"
    image = pipeline_image()
    # From the UI's own namespace: its NetworkPolicy admits only that namespace's pods (people reach
    # the UI through `kubectl port-forward`, which no policy filters), not research groups' pods.
    # The group's bucket keys, to find the run's artifact, come from the group's Secret.
    group_env = json.loads(kubectl("get", "secret", "-n", namespace, PIPELINE_ENV_SECRET, "-o", "jsonpath={.data}"))
    result = run_script_pod(kfp_cfg.namespace, "ui-test", image, UI_SCRIPT, [
        {"name": "UI", "value": f"http://ml-pipeline-ui.{kfp_cfg.namespace}.svc.cluster.local."},
        {"name": "KFP_TOKEN", "value": person_token("alice")},
        {"name": "BUCKET", "value": vision.bucket}, {"name": "NAMESPACE", "value": namespace},
        {"name": "PROVIDER_INFO", "value": provider_info}, {"name": "STEP_POD", "value": step_pods[-1]},
        *({"name": key, "value": base64.b64decode(value).decode()} for key, value in group_env.items())],
        timeout=300)
    logs = kubectl("logs", "-n", kfp_cfg.namespace, "deployment/ml-pipeline-ui", "--tail=40", check=False)
    where = f"\nUI result: {json.dumps(result, indent=1)}\nUI server log (last lines):\n{logs}"
    assert result["page"] == [200, True], f"the app's page{where}"
    assert result["bundle"] == 200, f"the app's JavaScript bundle{where}"
    health = result["healthz"]
    assert (health.get("apiServerReady"), health.get("frontendTagName")) == (True, "2.14.3"), f"UI healthz{where}"
    status, listed, succeeded = result["runs"]
    assert (status, succeeded >= 1) == (200, True), \
        f"runs through the UI's API proxy: {listed} listed, {succeeded} SUCCEEDED{where}"
    status, code, types = result["artifact_types"]
    assert (status, code) == (200, "0"), f"ML Metadata through the UI's gRPC-Web path: GetArtifactTypes{where}"
    assert "system.Dataset" in types, f"the one-step run's output type among the artifact types{where}"
    assert result["run_context"] == [200, "0", True], f"the newest SUCCEEDED run's pipeline-run context in ML Metadata{where}"
    assert result["unimplemented"] == "12", f"an RPC the metadata server lacks comes back UNIMPLEMENTED{where}"
    assert result["keys"], f"no v2 artifact of the newest SUCCEEDED run in bucket {vision.bucket}{where}"
    assert result["artifact_v2"][:2] == [200, True], f"artifact through the UI (the launcher's provider info){where}"
    status, size, _ = result["step_logs"]
    assert (status, size > 0) == (200, True), f"step pod {step_pods[-1]}'s log through the UI{where}"
