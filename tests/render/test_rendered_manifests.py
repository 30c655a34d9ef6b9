"""Checks every object that a real `pulumi up` in render mode wrote (make render).

The manifests come from the Pulumi engine, the built Kubernetes provider and the project's
program and chart together; nothing here is mocked."""

from __future__ import annotations

import base64

import pytest
import yaml

from infra.config import parse
from tests.support.stacks import RENDER_DIR, stack_values

pytestmark = pytest.mark.render
STACKS = ("local", "university")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}
REGISTRY = {"local": "mlops.local/", "university": "registry.ml.example.edu/"}
CLUSTER_SCOPED_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass",
                        "RuntimeClass", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
                        "ClusterQueue", "ResourceFlavor"}
# Keys of Secrets that hold connection settings and identifiers (they appear in scripts and
# other components' settings by design), not secret values.
NON_SECRET_KEYS = {"AWS_ACCESS_KEY_ID", "MLFLOW_S3_ENDPOINT_URL", "MLFLOW_TRACKING_URI", "MLOPS_ARTIFACT_BUCKET",
                   "MLOPS_EXPERIMENT_PREFIX", "MLFLOW_TRACKING_USERNAME", "accesskey", "username",
                   "S3_ENDPOINT", "KFP_DATABASE_HOST", "KFP_DATABASE_PORT", "KFP_DATABASE_USER"}


def platform_namespaces(cfg) -> set[str]:
    gpu = {cfg.gpu.namespace} if cfg.gpu.enabled else set()
    kfp = {cfg.kubeflow_pipelines.namespace} if cfg.kubeflow_pipelines.enabled else set()
    queueing = {cfg.queueing.namespace} if cfg.queueing.enabled and cfg.tenancy.tenants else set()
    backup = {cfg.backup.namespace} if cfg.backup.enabled else set()
    login = {cfg.login.namespace} if cfg.login.enabled else set()
    monitoring = {cfg.monitoring.namespace} if cfg.monitoring.enabled else set()
    return ({cfg.object_store.namespace, cfg.mlflow.namespace} | gpu | kfp | queueing | backup | login | monitoring
            | {t.namespace for t in cfg.tenancy.tenants})


def load(stack: str) -> list[dict]:
    manifests = RENDER_DIR / stack / "manifests"
    files = sorted(manifests.rglob("*.yaml"))
    assert files, f"no rendered manifests in {manifests}: run `make render` (part of `make test`)"
    objects = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                doc["_file"] = str(path.relative_to(manifests))
                objects.append(doc)
    return objects


@pytest.fixture(scope="module", params=STACKS)
def rendered(request):
    return request.param, load(request.param)


def pod_spec(obj: dict) -> dict:
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def all_containers(obj: dict) -> list[dict]:
    spec = pod_spec(obj)
    return spec.get("initContainers", []) + spec["containers"]


def name_of(obj: dict) -> str:
    return f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata'].get('name', '?')} ({obj['_file']})"


def test_expected_objects_are_rendered(rendered):
    stack, objects = rendered
    kinds = {}
    for obj in objects:
        kinds.setdefault(obj["kind"], []).append(obj["metadata"].get("name"))
    cfg = parse(*stack_values(stack))
    assert set(kinds["Namespace"]) == platform_namespaces(cfg)
    assert "object-store" in kinds["StatefulSet"]
    assert "mlflow" in kinds["Deployment"]
    assert any(name.startswith("object-store-buckets") for name in kinds["Job"]), "bucket-creation Job rendered"
    assert len(kinds["NetworkPolicy"]) >= 3
    has_postgres = "mlflow-postgres" in kinds["StatefulSet"]
    assert has_postgres == (cfg.mlflow.database.mode == "inCluster"), "in-cluster PostgreSQL only for mode inCluster"
    assert ("platform-backup" in kinds["CronJob"]) == cfg.backup.enabled
    assert ("platform-restore" in kinds["CronJob"]) == cfg.backup.enabled
    if cfg.mlflow.ingress_host:
        hosts = [rule["host"] for ing in objects if ing["kind"] == "Ingress" for rule in ing["spec"]["rules"]
                 if ing["metadata"]["namespace"] == cfg.mlflow.namespace]
        assert hosts == [cfg.mlflow.ingress_host]


def test_every_ingress_serves_tls_and_its_backend_admits_the_ingress_cidrs(rendered):
    """Issue 17 item 3: no Ingress without TLS; allowedIngressCidrs reaches each Ingress's backend pods."""
    stack, objects = rendered
    cfg = parse(*stack_values(stack))
    ingresses = [obj for obj in objects if obj["kind"] == "Ingress"]
    # Each Ingress's component: MLflow's, and the Login component's two (Dex, oauth2-proxy).
    components = {(cfg.mlflow.namespace, "mlflow"): "mlflow"} if cfg.mlflow.ingress_host else {}
    if cfg.login.enabled and cfg.platform.ingress_class:
        components |= {(cfg.login.namespace, name): f"login-{name}" for name in ("dex", "oauth2-proxy")}
    assert {(obj["metadata"]["namespace"], obj["metadata"]["name"]) for obj in ingresses} == set(components), \
        [name_of(obj) for obj in ingresses]
    policies = [obj for obj in objects if obj["kind"] == "NetworkPolicy"]
    for ingress in ingresses:
        hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
        tls = ingress["spec"].get("tls", [])
        assert tls, f"{name_of(ingress)} serves plain HTTP"
        assert hosts <= {host for entry in tls for host in entry["hosts"]}, f"{name_of(ingress)}: a host without TLS"
        secret, annotations = cfg.platform.ingress_tls.for_component(
            components[(ingress["metadata"]["namespace"], ingress["metadata"]["name"])])
        assert [entry["secretName"] for entry in tls] == [secret]
        assert annotations.items() <= ingress["metadata"].get("annotations", {}).items()
        namespace = ingress["metadata"]["namespace"]
        backends = {path["backend"]["service"]["name"] for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]}
        services = [obj for obj in objects if obj["kind"] == "Service" and obj["metadata"]["name"] in backends
                    and obj["metadata"].get("namespace") == namespace]
        assert services, f"{name_of(ingress)}: backend Service not rendered"
        for service in services:
            selector = service["spec"]["selector"]
            admitted = {peer["ipBlock"]["cidr"] for policy in policies if policy["metadata"].get("namespace") == namespace
                        and policy["spec"]["podSelector"].get("matchLabels", {}).items() <= selector.items()
                        for rule in policy["spec"].get("ingress", []) for peer in rule.get("from", []) if "ipBlock" in peer}
            assert set(cfg.platform.allowed_ingress_cidrs) <= admitted, \
                f"{name_of(service)}: the ingress controller's CIDRs {cfg.platform.allowed_ingress_cidrs} are not admitted ({admitted})"


def test_namespaced_objects_live_in_platform_namespaces(rendered):
    stack, objects = rendered
    cfg = parse(*stack_values(stack))
    allowed = platform_namespaces(cfg)
    for obj in objects:
        if obj["kind"] in CLUSTER_SCOPED_KINDS:
            continue
        if (obj["kind"], obj["metadata"].get("namespace")) == ("RoleBinding", "kube-system"):
            # The one exception: Kueue's visibility API server (an aggregated API) reads the API
            # server's client-CA ConfigMap through the Role Kubernetes provides for that.
            assert obj["roleRef"]["name"] == "extension-apiserver-authentication-reader", name_of(obj)
            assert [s["name"] for s in obj["subjects"]] == ["kueue-controller-manager"], name_of(obj)
            continue
        assert obj["metadata"].get("namespace") in allowed, f"{name_of(obj)} is outside the platform namespaces"


def test_no_secret_value_outside_secret_objects(rendered):
    _, objects = rendered
    values = []
    for obj in objects:
        if obj["kind"] != "Secret":
            continue
        values += [v for k, v in (obj.get("stringData") or {}).items() if k not in NON_SECRET_KEYS]
        values += [base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items() if k not in NON_SECRET_KEYS]
    values = [v for v in values if len(v) >= 12]
    assert values, "the rendered Secrets carry generated passwords"
    for obj in objects:
        if obj["kind"] == "Secret":
            continue
        text = yaml.safe_dump(obj)
        for value in values:
            for line in value.splitlines():
                if len(line) >= 12 and "password" not in line.lower():
                    assert line not in text, f"{name_of(obj)} contains a value of a Secret in plain text"


def test_images_follow_the_registry_override(rendered):
    stack, objects = rendered
    workloads = [obj for obj in objects if obj["kind"] in WORKLOAD_KINDS]
    assert workloads
    for obj in workloads:
        for container in all_containers(obj):
            assert container["image"].startswith(REGISTRY[stack]), f"{name_of(obj)} runs {container['image']}"


def test_every_workload_has_requests_limits_and_runs_as_non_root(rendered):
    stack, objects = rendered
    cfg = parse(*stack_values(stack))
    # The device plugin and the DCGM exporter are node agents: root, to reach the kubelet's
    # device-plugin socket, and privileged, to see every GPU now that the NVIDIA runtime gives
    # unprivileged containers only the GPUs allocated to them (their namespace is the privileged one).
    node_agents_namespace = cfg.gpu.namespace if cfg.gpu.enabled else None
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        spec = pod_spec(obj)
        for container in all_containers(obj):
            resources = container.get("resources", {})
            where = f"{name_of(obj)} container {container['name']}"
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{where} lacks cpu/memory requests"
            assert {"cpu", "memory"} <= set(resources.get("limits", {})), f"{where} lacks cpu/memory limits"
            non_root = container.get("securityContext", {}).get("runAsNonRoot", spec.get("securityContext", {}).get("runAsNonRoot"))
            if obj["metadata"]["namespace"] == node_agents_namespace:
                assert obj["kind"] == "DaemonSet", f"{where}: only the GPU node agents run in {node_agents_namespace}"
                continue
            assert non_root is True, f"{where} may run as root"
            assert not container.get("securityContext", {}).get("privileged"), f"{where} is privileged"
            assert container.get("securityContext", {}).get("allowPrivilegeEscalation") is False, f"{where} allows escalation"


def test_secrets_are_referenced_not_inlined_in_env(rendered):
    _, objects = rendered
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        for container in all_containers(obj):
            for env in container.get("env", []):
                if any(word in env["name"].upper() for word in ("PASSWORD", "SECRET", "DSN")):
                    assert "valueFrom" in env, f"{name_of(obj)} sets {env['name']} inline"


def test_gpu_device_plugin_only_when_enabled_and_on_gpu_nodes(rendered):
    stack, objects = rendered
    cfg = parse(*stack_values(stack))
    # node-exporter (the Monitoring component) is a DaemonSet on every node, GPUs or not.
    daemonsets = [obj for obj in objects if obj["kind"] == "DaemonSet" and obj["metadata"]["namespace"] != cfg.monitoring.namespace]
    runtime_classes = [obj for obj in objects if obj["kind"] == "RuntimeClass"]
    if not cfg.gpu.enabled:
        assert not daemonsets, "gpu.enabled is false: no GPU DaemonSets"
        assert not runtime_classes, "gpu.enabled is false: no RuntimeClass"
        return
    assert [(rc["metadata"]["name"], rc["handler"]) for rc in runtime_classes] == [("nvidia", "nvidia")]
    plugin = next(ds for ds in daemonsets if ds["metadata"]["name"].endswith("device-plugin"))
    spec = pod_spec(plugin)
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["runtimeClassName"] == "nvidia"
    # GPUs only on request: the plugin passes allocated GPUs as volume mounts, which the NVIDIA
    # runtime (ansible/roles/nvidia_container_toolkit) accepts instead of NVIDIA_VISIBLE_DEVICES.
    config_map = next(cm for cm in objects if cm["kind"] == "ConfigMap" and cm["metadata"]["name"].endswith("device-plugin-config"))
    flags = yaml.safe_load(config_map["data"]["config.yaml"])["flags"]
    assert flags["plugin"]["deviceListStrategy"] == "volume-mounts", flags
    namespace = next(ns for ns in objects if ns["kind"] == "Namespace" and ns["metadata"]["name"] == cfg.gpu.namespace)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_every_tenant_namespace_is_fenced(rendered):
    stack, objects = rendered
    cfg = parse(*stack_values(stack))
    assert cfg.tenancy.tenants, f"stack {stack} ships example tenants"
    quotas = [obj for obj in objects if obj["kind"] == "ResourceQuota"]
    assert len(quotas) == len(cfg.tenancy.tenants)
    for quota in quotas:
        assert "requests.nvidia.com/gpu" in quota["spec"]["hard"], f"{name_of(quota)} does not bound GPUs"
    for tenant in cfg.tenancy.tenants:
        kinds = {(obj["kind"], obj["metadata"]["name"]) for obj in objects
                 if obj["metadata"].get("namespace") == tenant.namespace}
        for expected in (("ResourceQuota", "tenant-quota"), ("LimitRange", "container-defaults"),
                         ("RoleBinding", "tenant-edit"), ("NetworkPolicy", "default-deny"),
                         ("Secret", "mlops-credentials")):
            assert expected in kinds, f"tenant namespace {tenant.namespace} lacks {expected[0]} {expected[1]}"
        namespace = next(ns for ns in objects if ns["kind"] == "Namespace" and ns["metadata"]["name"] == tenant.namespace)
        # A pipelines namespace enforces baseline (KFP's launcher init container sets no security
        # context) and warns at restricted; a tenant without pipelines enforces restricted.
        levels = namespace["metadata"]["labels"]
        expected = "baseline" if cfg.kubeflow_pipelines.enabled else "restricted"
        assert levels["pod-security.kubernetes.io/enforce"] == expected, tenant.namespace
        assert levels["pod-security.kubernetes.io/warn"] == "restricted", tenant.namespace
    store_policy = next(obj for obj in objects if obj["kind"] == "NetworkPolicy"
                        and obj["metadata"]["name"] == "object-store-ingress")
    admitted = {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                for peer in store_policy["spec"]["ingress"][0]["from"] if "namespaceSelector" in peer}
    assert {t.namespace for t in cfg.tenancy.tenants} <= admitted, "tenant pods may reach the object store"


def test_kubeflow_pipelines_objects(rendered):
    """The KFP install as the cluster receives it: names the programs look up, the namespaced
    Argo controller, images from the stack's registry, the launcher's S3 provider."""
    stack, objects = rendered
    cfg = parse(*stack_values(stack))
    kfp = cfg.kubeflow_pipelines
    assert kfp.enabled, f"stack {stack} deploys Kubeflow Pipelines"
    ns = kfp.namespace
    by_kind: dict[str, dict[str, dict]] = {}
    for obj in objects:
        if obj["metadata"].get("namespace") in (ns, None):
            by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    assert {"ml-pipeline", "ml-pipeline-persistenceagent", "ml-pipeline-scheduledworkflow", "metadata-grpc-deployment",
            "workflow-controller"} <= set(by_kind["Deployment"])
    assert ("kubeflow-pipelines-db" in by_kind.get("StatefulSet", {})) == (kfp.database.mode == "inCluster")
    assert [(p["name"], p["port"]) for p in by_kind["Service"]["ml-pipeline"]["spec"]["ports"]] == [("http", 8888), ("grpc", 8887)]
    assert by_kind["Service"]["metadata-grpc-service"]["spec"]["ports"][0]["port"] == 8080
    assert "mlpipeline-minio-artifact" in by_kind["Secret"]
    assert {"ml-pipeline", "argo"} <= set(by_kind["ServiceAccount"])
    assert "pipeline-runner" not in by_kind["ServiceAccount"], "runs execute in the tenants' namespaces"
    assert not any(obj["kind"] == "Secret" and "MLFLOW_TRACKING_PASSWORD" in {**obj.get("stringData", {}), **obj.get("data", {})}
                   and obj["metadata"].get("namespace") == ns for obj in objects), \
        "no MLflow credentials in the pipelines' namespace"
    # Multi-user mode: Argo and the controllers watch every namespace; no ClusterRole of theirs
    # reads Secrets beyond the one named artifact Secret.
    cluster_roles = by_kind.get("ClusterRole", {})
    assert {"mlops-pipelines-edit", "mlops-pipelines-view"} <= set(cluster_roles)
    for name, role in cluster_roles.items():
        for rule in role.get("rules", []):
            if "secrets" in rule.get("resources", []):
                assert rule.get("resourceNames"), f"ClusterRole {name} reads every Secret of the cluster"
                assert set(rule["verbs"]) <= {"get"}, f"ClusterRole {name} may {rule['verbs']} Secrets"
    crds = {name: crd for name, crd in by_kind["CustomResourceDefinition"].items() if not name.endswith(".kueue.x-k8s.io")}
    assert {"workflows.argoproj.io", "workflowtaskresults.argoproj.io", "scheduledworkflows.kubeflow.org"} <= set(crds)
    assert len(crds) == 9, "Argo's and KFP's (Kueue's come with its chart)"

    store_port = 9000 if cfg.object_store.backend == "minio" else 8333
    for tenant in cfg.tenancy.tenants:
        mine = {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects
                if obj["metadata"].get("namespace") == tenant.namespace}
        for expected in (("ServiceAccount", "pipeline-runner"), ("RoleBinding", "pipelines-edit"),
                         ("Secret", "mlpipeline-minio-artifact"), ("ConfigMap", "metadata-grpc-configmap"),
                         ("ConfigMap", "artifact-repositories")):
            assert expected in mine, f"pipelines namespace {tenant.namespace} lacks {expected[0]} {expected[1]}"
        launcher = mine[("ConfigMap", "kfp-launcher")]["data"]
        assert launcher["defaultPipelineRoot"] == f"s3://{tenant.bucket}/v2/artifacts"
        provider = yaml.safe_load(launcher["providers"])["s3"]["default"]
        assert provider["endpoint"] == f"object-store.{cfg.object_store.namespace}.svc.cluster.local:{store_port}"
        assert provider["credentials"]["secretRef"]["secretName"] == "mlpipeline-minio-artifact"
        repository = yaml.safe_load(mine[("ConfigMap", "artifact-repositories")]["data"]["default"])
        assert repository["s3"]["bucket"] == tenant.bucket
        binding = mine[("RoleBinding", "pipelines-edit")]
        assert binding["roleRef"]["name"] == "mlops-pipelines-edit"
        assert {s["name"] for s in binding["subjects"]} == set(tenant.members) | set(tenant.groups)

    controller = by_kind["Deployment"]["workflow-controller"]["spec"]["template"]["spec"]["containers"][0]
    assert "--namespaced" not in controller["args"], "Argo watches every pipelines namespace"
    assert "--managed-namespace" not in controller["args"], "Argo watches every pipelines namespace"
    assert controller["args"][controller["args"].index("--executor-image") + 1].startswith(REGISTRY[stack])
    api = by_kind["Deployment"]["ml-pipeline"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in api["env"]}
    for name in ("V2_DRIVER_IMAGE", "V2_LAUNCHER_IMAGE"):
        assert env[name]["value"].startswith(REGISTRY[stack]), f"pipeline pods run {name} from the stack's registry"
    assert env["MULTIUSER"]["value"] == "true"
    assert env["DEFAULTPIPELINERUNNERSERVICEACCOUNT"]["value"] == "pipeline-runner"

    namespace = next(obj for obj in objects if obj["kind"] == "Namespace" and obj["metadata"]["name"] == ns)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/warn"] == "restricted"
    assert by_kind["NetworkPolicy"]["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
