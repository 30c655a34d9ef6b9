"""Components under Pulumi mocks: the resources each declares, their labels, namespaces,
requests, images and that generated passwords stay secret. A fast layer only: the real proof
is the render run (tests/render) and the cluster tests."""

from __future__ import annotations

import json

import pulumi
import pytest
import yaml

from infra.config import parse
from tests.support.pulumi_mocks import MOCK_HASH, MOCK_PASSWORD, SECRET_SIG, RecordingMocks, containers, run, unsecret

pytestmark = pytest.mark.unit


def test_object_store_seaweedfs_resources(mocks):
    facts = run({"objectStore": {"namespace": "storage-x"}})
    assert facts["endpoint"] == "http://object-store.storage-x.svc.cluster.local:8333"

    ns = mocks.named("object-store-ns")
    assert ns.inputs["metadata"]["name"] == "storage-x", "ObjectStore namespace follows objectStore.namespace"
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    sts = mocks.named("object-store-server")
    assert sts.inputs["metadata"]["namespace"] == "storage-x", "StatefulSet lives in the store's namespace"
    labels = sts.inputs["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/part-of"] == "mlops-platform"
    for container in containers(sts):
        assert container["resources"]["requests"]["cpu"], f"object-store container {container['name']} has requests"
        assert container["resources"]["limits"]["memory"], f"object-store container {container['name']} has limits"
        assert container["securityContext"]["runAsNonRoot"] is True
        assert container["image"] == "docker.io/chrislusf/seaweedfs:4.53"
    claim = sts.inputs["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    job = mocks.named("object-store-buckets")
    script = job.inputs["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "mlflow-artifacts pipelines" in script, "the bucket Job creates every configured bucket"
    policies = mocks.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    s3_policy = next(p for p in policies if p.name == "object-store-ingress")
    peers = s3_policy.inputs["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlops-mlflow"}}} in peers
    assert s3_policy.inputs["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8333}]



def test_object_store_minio_uses_root_credentials_from_secret(mocks):
    facts = run({"objectStore": {"backend": "minio"}})
    assert facts["endpoint"].endswith(":9000")

    sts = mocks.named("object-store-server")
    server = containers(sts)[0]
    env = {e["name"]: e for e in server["env"]}
    assert "valueFrom" in env["MINIO_ROOT_PASSWORD"], "MinIO root password comes from a Secret, never inline"
    assert "value" not in env["MINIO_ROOT_PASSWORD"]
    assert server["image"] == "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"
    assert server["args"][server["args"].index("--console-address") + 1] == "127.0.0.1:9001", \
        "the console listens inside the pod only (kubectl port-forward), never for other pods"
    assert [p["port"] for p in mocks.named("object-store-svc").inputs["spec"]["ports"]] == [9000], "the Service has S3 only"
    secret = mocks.named("object-store-credentials")
    assert "s3.json" not in unsecret(secret.inputs["stringData"]), "SeaweedFS identities only for the seaweedfs backend"



def test_generated_passwords_are_secret_outputs(mocks):
    facts = run({})
    assert facts["store_password_secret"], "object-store root password must be a secret output"
    assert facts["admin_password_secret"], "MLflow admin password must be a secret output"
    generated = [r for r in mocks.of_type("pulumi-python:dynamic:Resource") if r.name != "schema-versions"]
    assert {r.name for r in generated} == {"object-store-root-password", "mlflow-admin-password",
                                           "mlflow-flask-secret-key", "mlflow-database-password",
                                           "object-store-user-kubeflow-pipelines", "object-store-user-mlflow",
                                           "object-store-user-platform-backup",
                                           "kubeflow-pipelines-database-password",
                                           "kubeflow-pipelines-database-root-password"}


def test_no_password_is_passed_in_plain_text_to_any_resource(mocks):
    facts = run({"tenants": [{"name": "nlp", "members": ["bob"]}]})
    assert facts["tracking_uri"] == "http://mlflow.mlops-mlflow.svc.cluster.local:5000"

    for resource in mocks.resources:
        if resource.typ == "kubernetes:core/v1:Secret":
            continue
        assert MOCK_PASSWORD not in repr(resource.inputs), f"{resource.typ} {resource.name} carries a password inline"
    secrets = {r.name: r for r in mocks.of_type("kubernetes:core/v1:Secret")}
    for name in ("mlflow-auth", "mlflow-database", "object-store-credentials", "mlflow-s3",
                 "kubeflow-pipelines-database-credentials", "kubeflow-pipelines-artifact-credentials",
                 "tenants-nlp-credentials", "tenants-nlp-mlflow-reader", "tenants-nlp-artifact-credentials"):
        assert SECRET_SIG in secrets[name].inputs["stringData"], f"Secret {name}: stringData is passed as a secret"
    assert unsecret(secrets["mlflow-auth"].inputs["stringData"])["admin-password"] == MOCK_PASSWORD
    assert unsecret(secrets["mlflow-database"].inputs["stringData"])["postgres-password"] == MOCK_PASSWORD



def test_mlflow_chart_values_reference_secrets_and_follow_image_override(mocks):
    run({"images": {"registry": "mirror.example.edu:5000", "overrides": {"postgres": "r.example.edu/pg:15"}}})

    chart = mocks.chart("mlflow")
    values = chart.inputs["values"]
    assert chart.inputs["chart"].endswith("charts/mlflow")
    assert values["image"] == {"repository": "mirror.example.edu:5000/mlflow/mlflow", "tag": "v3.17.2",
                               "pullPolicy": "IfNotPresent"}
    assert values["backendStore"]["postgres"]["image"]["repository"] == "r.example.edu/pg"
    assert values["auth"]["existingSecret"] == "mlflow-auth"
    assert values["artifacts"]["bucket"] == "mlflow-artifacts"
    assert values["artifacts"]["s3EndpointUrl"] == "http://object-store.mlops-storage.svc.cluster.local:8333"
    assert values["resources"]["requests"]["memory"], "MLflow server requests are set"
    assert MOCK_PASSWORD not in repr(values), "chart values never carry a password"
    sts = mocks.named("object-store-server")
    assert containers(sts)[0]["image"] == "mirror.example.edu:5000/chrislusf/seaweedfs:4.53"



def test_external_database_gets_dsn_secret_and_no_database_password(mocks):
    run({"mlflow": {"database": {"mode": "external"}},
         "mlflowExternalDsn": "postgresql://mlflow:pw@db.example.edu:5432/mlflow"})

    names = [r.name for r in mocks.resources]
    assert "mlflow-database-password" not in names, "no in-cluster database password for an external database"
    secret = mocks.named("mlflow-database")
    assert set(unsecret(secret.inputs["stringData"])) == {"dsn"}
    values = mocks.chart("mlflow").inputs["values"]
    assert values["backendStore"]["external"] is True



def test_components_validate_their_arguments():
    from infra.components.object_store import ObjectStore, ObjectStoreArgs
    from infra.config import Resources

    resources = Resources({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})
    with pytest.raises(ValueError, match="backend='ceph'; allowed values: minio, seaweedfs"):
        ObjectStore("bad", ObjectStoreArgs(backend="ceph", namespace="x", image="i:1", volume_size="1Gi",
                                           root_user="admin", buckets=("b",), resources=resources))


GPU_TYPES = ("kubernetes:apps/v1:DaemonSet", "kubernetes:node.k8s.io/v1:RuntimeClass")
TENANTS = [{"name": "vision", "members": ["alice"], "groups": ["ml-vision"], "quota": {"gpu": 2}},
           {"name": "nlp", "members": ["bob"]}]


def test_queueing_gives_each_tenant_a_cluster_queue_in_one_cohort_and_a_default_local_queue(mocks):
    tenants = [{**TENANTS[0], "quota": {"gpu": 1, "cpu": "4", "memory": "8Gi"}, "borrowingLimit": {"gpu": "1"}},
               {**TENANTS[1], "quota": {"gpu": 1, "cpu": "2", "memory": "4Gi"}}]
    run({"gpu": {"totalGpus": 2}, "tenants": tenants, "images": {"registry": "mirror.example.edu"}})
    queues = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in mocks.of_type("kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue")}
    assert set(queues) == {"research-vision", "research-nlp"}
    vision = queues["research-vision"]
    assert {q["cohortName"] for q in queues.values()} == {"research"}, "all groups share one cohort"
    assert vision["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "research-vision"}}
    assert vision["preemption"]["reclaimWithinCohort"] == "Any", "owners take their lent quota back"
    (group,) = vision["resourceGroups"]
    assert group["coveredResources"] == ["cpu", "memory", "nvidia.com/gpu"]
    resources = {r["name"]: r for r in group["flavors"][0]["resources"]}
    assert resources["nvidia.com/gpu"] == {"name": "nvidia.com/gpu", "nominalQuota": "1", "borrowingLimit": "1"}
    assert resources["cpu"] == {"name": "cpu", "nominalQuota": "4"}, "no cpu borrowing limit set: none declared"
    local_queues = mocks.of_type("kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue")
    assert sorted((q.inputs["metadata"]["namespace"], q.inputs["metadata"]["name"], q.inputs["spec"]["clusterQueue"])
                  for q in local_queues) == [("research-nlp", "default", "research-nlp"),
                                             ("research-vision", "default", "research-vision")]
    # The ResourceQuota is the ceiling: quota + borrowing limit, at most the cohort's total.
    vision_hard = mocks.named("tenants-vision-quota").inputs["spec"]["hard"]
    nlp_hard = mocks.named("tenants-nlp-quota").inputs["spec"]["hard"]
    assert vision_hard["requests.nvidia.com/gpu"] == "2"
    assert (vision_hard["requests.cpu"], vision_hard["requests.memory"]) == ("6000m", "12288Mi"), "no cpu/memory limit: the cohort"
    assert (nlp_hard["requests.nvidia.com/gpu"], nlp_hard["requests.cpu"]) == ("2", "6000m")

    chart = mocks.chart("queueing")
    assert chart.inputs["chart"] == "oci://registry.k8s.io/kueue/charts/kueue"
    assert chart.inputs["version"] == "0.17.0"
    values = chart.inputs["values"]
    assert values["controllerManager"]["manager"]["image"] == {
        "repository": "mirror.example.edu/kueue/kueue", "tag": "v0.17.0", "pullPolicy": "IfNotPresent"}
    manager = yaml.safe_load(values["managerConfig"]["controllerManagerConfigYaml"])
    assert manager["integrations"]["frameworks"] == ["pod"], "Argo's step pods are plain pods"
    assert manager["managedJobsNamespaceSelector"] == {
        "matchExpressions": [{"key": "mlops-platform/tenant", "operator": "Exists"}]}, "tenant namespaces only"
    assert manager["manageJobsWithoutQueueName"] is False
    assert "fairSharing" in manager
    ns = mocks.named("tenants-vision-ns").inputs["metadata"]["labels"]
    assert ns["mlops-platform/tenant"] == "vision", "the label Kueue's namespace selector matches"


def test_queueing_from_a_local_chart_folder_and_off(mocks, tmp_path):
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: kueue\nversion: 0.17.0\n")
    run({"gpu": {"totalGpus": 2}, "tenants": TENANTS, "queueing": {"chart": str(tmp_path)}})
    chart = mocks.chart("queueing")
    assert chart.inputs["chart"] == str(tmp_path)
    assert "version" not in chart.inputs, "a local chart has the version it has (checked by the config)"
    mocks.resources.clear()
    run({"gpu": {"totalGpus": 2}, "tenants": TENANTS, "queueing": {"enabled": False}})
    assert not [r for r in mocks.resources if "kueue" in r.typ or r.name.startswith("queueing")]


def test_gpu_disabled_declares_no_gpu_resources(mocks):
    # Monitoring off: its node-exporter is a DaemonSet too.
    facts = run({"monitoring": {"enabled": False}})
    assert "runtime_class" not in facts
    for resource in mocks.resources:
        assert resource.typ not in GPU_TYPES, f"{resource.typ} {resource.name} declared with GPUs off"
        assert "gpu" not in resource.name, f"{resource.name} declared with GPUs off"


def test_gpu_device_plugin_daemonset(mocks):
    facts = run({"gpu": {"enabled": True, "totalGpus": 4, "timeSlicingReplicas": 4, "migStrategy": "single"},
                 "images": {"registry": "mirror.example.edu:5000"}})
    assert facts["runtime_class"] == "nvidia"

    runtime_class = mocks.named("gpu-runtime-class")
    assert runtime_class.inputs["handler"] == "nvidia", "RuntimeClass nvidia uses the containerd handler nvidia"
    plugin = mocks.named("gpu-device-plugin")
    assert plugin.inputs["metadata"]["namespace"] == "mlops-gpu"
    spec = plugin.inputs["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}, "selects the label ansible/ gpu_node sets"
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present",
            "effect": "NoSchedule"} in spec["tolerations"], "tolerates the taint ansible/ gpu_node sets"
    assert spec["runtimeClassName"] == "nvidia"
    (container,) = spec["containers"]
    assert container["image"] == "mirror.example.edu:5000/nvidia/k8s-device-plugin:v0.17.4"
    assert container["resources"]["requests"]["cpu"], "device plugin requests are set"
    assert container["resources"]["limits"]["memory"], "device plugin limits are set"
    config = mocks.named("gpu-device-plugin-config").inputs["data"]["config.yaml"]
    assert "migStrategy: single" in config
    assert "replicas: 4" in config, "time-slicing replicas reach the device plugin's config"
    assert yaml.safe_load(config)["flags"]["plugin"]["deviceListStrategy"] == "volume-mounts", \
        "GPUs reach containers as volume mounts only (the runtime ignores NVIDIA_VISIBLE_DEVICES from unprivileged pods)"
    assert not [r for r in mocks.resources if r.name == "gpu-dcgm-exporter"], "DCGM exporter is off by default"


def test_gpu_dcgm_exporter_and_image_override(mocks):
    run({"gpu": {"enabled": True, "totalGpus": 1, "dcgmExporter": {"enabled": True}},
         "images": {"overrides": {"nvidia-device-plugin": "r.example.edu/dp:1"}}})
    assert containers(mocks.named("gpu-device-plugin"))[0]["image"] == "r.example.edu/dp:1"
    config = mocks.named("gpu-device-plugin-config").inputs["data"]["config.yaml"]
    assert "sharing" not in config, "no time-slicing unless timeSlicingReplicas > 1"
    (exporter,) = containers(mocks.named("gpu-dcgm-exporter"))
    assert exporter["image"] == "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.9-3.6.1-ubuntu22.04"
    assert exporter["resources"]["requests"]["memory"], "DCGM exporter requests are set"
    assert exporter["resources"]["limits"]["cpu"], "DCGM exporter limits are set"


def test_tenants_resources(mocks):
    # Without queueing the ResourceQuota is the tenant's quota (with queueing: the test below).
    facts = run({"gpu": {"totalGpus": 2}, "tenants": TENANTS, "queueing": {"enabled": False}})
    assert facts["tenants"]["vision"] == {"namespace": "research-vision", "bucket": "vision-artifacts",
                                          "experimentPrefix": "/vision/", "credentialsSecret": "mlops-credentials",
                                          "mlflowWorkspace": "vision", "mlflowUser": "tenant-vision",
                                          "mlflowReaderSecret": "mlflow-reader"}
    credentials = unsecret(mocks.named("tenants-vision-credentials").inputs["stringData"])
    assert credentials["MLFLOW_TRACKING_USERNAME"] == "tenant-vision", "pipelines and researchers log as the tenant"
    assert credentials["MLFLOW_WORKSPACE"] == "vision"
    assert credentials["MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"] == "false", "downloads go through MLflow's proxy"
    reader = unsecret(mocks.named("tenants-vision-mlflow-reader").inputs["stringData"])
    assert reader["MLFLOW_TRACKING_USERNAME"] == "tenant-vision-reader"
    values = mocks.chart("mlflow").inputs["values"]
    assert values["workspaces"] == {"enabled": True}
    assert {"workspace": "vision", "editor": "tenant-vision", "reader": "tenant-vision-reader"} in \
        values["tenants"]["identities"]
    passwords = unsecret(mocks.named("mlflow-tenant-passwords").inputs["stringData"])
    assert set(passwords) == {"tenant-vision", "tenant-vision-reader", "tenant-nlp", "tenant-nlp-reader"}

    ns = mocks.named("tenants-vision-ns")
    assert ns.inputs["metadata"]["name"] == "research-vision"
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline", \
        "a pipelines namespace: KFP's kfp-launcher init container sets no security context"
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/warn"] == "restricted"
    assert ns.inputs["metadata"]["annotations"]["mlops-platform/mlflow-experiment-prefix"] == "/vision/"
    hard = mocks.named("tenants-vision-quota").inputs["spec"]["hard"]
    assert hard["requests.nvidia.com/gpu"] == "2", "tenant GPU quota is the extended-resource request"
    assert mocks.named("tenants-nlp-quota").inputs["spec"]["hard"]["requests.nvidia.com/gpu"] == "0"
    assert {"requests.cpu", "limits.cpu", "requests.memory", "limits.memory", "requests.storage",
            "persistentvolumeclaims", "pods"} <= set(hard)
    limits = mocks.named("tenants-vision-limits").inputs["spec"]["limits"][0]
    assert limits["defaultRequest"] == {"cpu": "100m", "memory": "256Mi"}, "LimitRange gives default requests"
    assert limits["default"] == {"cpu": "1", "memory": "1Gi"}, "LimitRange gives default limits"
    binding = mocks.named("tenants-vision-edit").inputs
    assert binding["roleRef"]["name"] == "edit"
    assert {(s["kind"], s["name"]) for s in binding["subjects"]} == {("User", "alice"), ("Group", "ml-vision")}
    deny = mocks.named("tenants-vision-default-deny").inputs["spec"]
    assert deny["podSelector"] == {}, "default-deny selects every pod"
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny
    assert "egress" not in deny
    store_egress = mocks.named("tenants-vision-allow-object-store").inputs["spec"]["egress"][0]
    assert store_egress["ports"] == [{"protocol": "TCP", "port": 8333}]
    mlflow_egress = mocks.named("tenants-vision-allow-mlflow").inputs["spec"]["egress"][0]
    assert mlflow_egress["ports"] == [{"protocol": "TCP", "port": 5000}]

    secret = mocks.named("tenants-vision-credentials")
    assert secret.inputs["metadata"]["namespace"] == "research-vision"
    assert SECRET_SIG in secret.inputs["stringData"], "tenant credentials are passed as a secret"
    data = unsecret(secret.inputs["stringData"])
    assert data["AWS_ACCESS_KEY_ID"] == "tenant-vision"
    assert data["AWS_SECRET_ACCESS_KEY"] == MOCK_PASSWORD
    assert data["MLFLOW_S3_ENDPOINT_URL"] == "http://object-store.mlops-storage.svc.cluster.local:8333"
    assert data["MLFLOW_TRACKING_URI"] == "http://mlflow.mlops-mlflow.svc.cluster.local:5000"

    job = mocks.named("object-store-buckets")
    script = job.inputs["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "vision-artifacts nlp-artifacts" in script, "tenant buckets are created with the platform's"
    peers = mocks.named("object-store-ingress").inputs["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "research-vision"}}} in peers
    values = mocks.chart("mlflow").inputs["values"]
    assert values["networkPolicy"]["allowedNamespaces"] == ["research-vision", "research-nlp"], \
        "pipelines run in the tenant namespaces: no pipeline pod calls MLflow from the KFP namespace"


def test_each_tenant_namespace_is_a_pipelines_namespace_with_its_own_bucket_and_keys(mocks):
    import yaml

    run({"gpu": {"totalGpus": 2}, "tenants": TENANTS})
    role = [r for r in mocks.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role") if r.name == "tenants-vision-pipeline-runner"]
    assert role
    assert role[0].inputs["metadata"] == {**role[0].inputs["metadata"], "name": "pipeline-runner",
                                                   "namespace": "research-vision"}
    rules = role[0].inputs["rules"]
    granted = {(g, res): set(rule["verbs"]) for rule in rules for g in rule["apiGroups"] for res in rule["resources"]}
    assert granted[("argoproj.io", "workflowtaskresults")] == {"create", "patch"}, "Argo's wait container reports outputs"
    assert granted[("", "pods")] == {"get", "watch"}, "the runner reads pods and cannot patch them"
    assert [rule.get("resourceNames") for rule in rules if "secrets" in rule["resources"]] == \
        [["mlpipeline-minio-artifact"]], "pipeline steps read the bucket Secret only"
    assert granted[("", "secrets")] == {"get"}, "no Secret writes: the model server's identity is the platform's"
    assert {"create", "patch", "delete"} <= granted[("apps", "deployments")], "the deploy step serves models here"
    assert not any(res in ("pods/exec", "roles", "rolebindings") for (_, res) in granted)
    bindings = {r.name: r.inputs for r in mocks.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")}
    assert bindings["tenants-vision-pipeline-runner"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "research-vision"}]
    edit = bindings["tenants-vision-pipelines-edit"]
    assert edit["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "mlops-pipelines-edit"}
    assert {(s["kind"], s["name"]) for s in edit["subjects"]} == {("User", "alice"), ("Group", "ml-vision")}
    assert not [name for name in bindings if "deployer" in name], "no runner of another namespace deploys here"

    artifact = mocks.named("tenants-vision-artifact-credentials").inputs
    assert (artifact["metadata"]["name"], artifact["metadata"]["namespace"]) == ("mlpipeline-minio-artifact", "research-vision")
    assert unsecret(artifact["stringData"]) == {"accesskey": "tenant-vision", "secretkey": MOCK_PASSWORD}, \
        "the tenant's own S3 user, scoped to its bucket"
    launcher = mocks.named("tenants-vision-kfp-launcher").inputs
    assert launcher["metadata"]["name"] == "kfp-launcher"
    assert launcher["data"]["defaultPipelineRoot"] == "s3://vision-artifacts/v2/artifacts", "the tenant's bucket"
    assert yaml.safe_load(launcher["data"]["providers"]) == {"s3": {"default": {
        "endpoint": "object-store.mlops-storage.svc.cluster.local:8333",
        "region": "us-east-1",
        "disableSSL": True,
        "forcePathStyle": True,
        "credentials": {"fromEnv": False, "secretRef": {
            "secretName": "mlpipeline-minio-artifact", "accessKeyKey": "accesskey", "secretKeyKey": "secretkey"}},
    }}}, "backend/src/v2/config/s3.go's schema, pointing at the platform's object store"
    metadata = mocks.named("tenants-vision-metadata-grpc-configmap").inputs
    assert metadata["data"] == {
        "METADATA_GRPC_SERVICE_HOST": f"metadata-grpc-service.{KFP_NS}.svc.cluster.local",
        "METADATA_GRPC_SERVICE_PORT": "8080",
        "METADATA_GRPC_SERVICE_SERVICE_HOST": f"metadata-grpc-service.{KFP_NS}.svc.cluster.local",
        "METADATA_GRPC_SERVICE_SERVICE_PORT": "8080",
        "ML_PIPELINE_SERVICE_HOST": f"ml-pipeline.{KFP_NS}.svc.cluster.local",
        "ML_PIPELINE_SERVICE_PORT_GRPC": "8887",
    }, "the driver and launcher find KFP's servers in another namespace (else they try *.kubeflow)"
    repositories = mocks.named("tenants-vision-artifact-repositories").inputs
    assert repositories["metadata"]["annotations"] == {"workflows.argoproj.io/default-artifact-repository": "default"}
    repository = yaml.safe_load(repositories["data"]["default"])
    assert repository["archiveLogs"] is True
    assert (repository["s3"]["bucket"], repository["s3"]["accessKeySecret"]["name"]) == \
        ("vision-artifacts", "mlpipeline-minio-artifact"), "step logs go to the tenant's bucket with its keys"
    egress = mocks.named("tenants-vision-allow-kubeflow-pipelines").inputs["spec"]["egress"][0]
    assert egress["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": KFP_NS}}}]
    assert [p["port"] for p in egress["ports"]] == [8888, 8887, 8080]
    api = mocks.named("tenants-vision-allow-kubernetes-api-for-steps").inputs["spec"]
    assert api["podSelector"] == {"matchExpressions": [{"key": "workflows.argoproj.io/workflow", "operator": "Exists"}]}, \
        "only pipeline steps (Argo's pods) reach the Kubernetes API"
    assert api["egress"] == [{"ports": [{"protocol": "TCP", "port": 6443}]}]
    credentials = unsecret(mocks.named("tenants-vision-credentials").inputs["stringData"])
    from mlops_components.contract import PIPELINE_ENV_KEYS
    assert set(credentials) == set(PIPELINE_ENV_KEYS), "the Secret pipeline steps load is the tenant's"


def test_tenants_without_pipelines_are_restricted_and_declare_no_pipelines_objects(mocks):
    run({"kubeflowPipelines": {"enabled": False}, "gpu": {"totalGpus": 2}, "tenants": TENANTS})
    ns = mocks.named("tenants-vision-ns")
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    names = {r.name for r in mocks.resources}
    assert not {"tenants-vision-pipeline-runner", "tenants-vision-kfp-launcher",
                "tenants-vision-allow-kubeflow-pipelines", "tenants-vision-allow-kubernetes-api-for-steps"} & names


def test_seaweedfs_identities_scope_each_tenant_to_its_bucket(mocks):
    import json

    run({"tenants": TENANTS[1:]})
    store_secret = unsecret(mocks.named("object-store-credentials").inputs["stringData"])
    identities = {i["name"]: i for i in json.loads(store_secret["s3.json"])["identities"]}
    assert set(identities) == {"platform-admin", "kubeflow-pipelines", "mlflow", "tenant-nlp", "platform-backup"}
    assert identities["mlflow"]["actions"] == ["Read:mlflow-artifacts", "Write:mlflow-artifacts", "List:mlflow-artifacts"], \
        "MLflow's key reaches its artifact bucket only"
    assert identities["tenant-nlp"]["actions"] == ["Read:nlp-artifacts", "Write:nlp-artifacts", "List:nlp-artifacts"]
    assert identities["tenant-nlp"]["credentials"] == [{"accessKey": "tenant-nlp", "secretKey": MOCK_PASSWORD}]
    assert identities["platform-backup"]["actions"] == ["Read", "Write", "List"], \
        "the backup reads and writes every bucket, without the admin's rights"


def test_minio_tenants_get_users_and_bucket_policies_from_the_bucket_job(mocks):
    run({"objectStore": {"backend": "minio"}, "tenants": TENANTS[1:]})
    users = mocks.named("object-store-users")
    assert SECRET_SIG in users.inputs["stringData"]
    assert unsecret(users.inputs["stringData"]) == {"kubeflow-pipelines": MOCK_PASSWORD, "mlflow": MOCK_PASSWORD,
                                                    "tenant-nlp": MOCK_PASSWORD, "platform-backup": MOCK_PASSWORD}
    spec = mocks.named("object-store-buckets").inputs["spec"]["template"]["spec"]
    script = spec["containers"][0]["args"][0]
    assert "mc admin user add store tenant-nlp \"$(cat /users/tenant-nlp)\"" in script
    assert "arn:aws:s3:::nlp-artifacts/*" in script, "the tenant's policy names its bucket only"
    assert "mc admin policy attach store tenant-nlp --user tenant-nlp" in script
    assert {"name": "users", "secret": {"secretName": "object-store-users"}} in spec["volumes"]
    assert MOCK_PASSWORD not in repr(spec), "secret keys are read from the mounted Secret"


def test_gpu_and_tenants_validate_their_arguments():
    from infra.components.gpu import Gpu, GpuArgs
    from infra.components.tenants import Tenants, TenantsArgs
    from infra.config import Resources

    resources = Resources({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})
    with pytest.raises(ValueError, match="mig_strategy='all'; allowed values: none, single, mixed"):
        Gpu("bad", GpuArgs(namespace="g", device_plugin_image="i:1", resources=resources, mig_strategy="all"))
    tenant = parse({"tenants": TENANTS[1:]}).tenancy.tenants
    with pytest.raises(ValueError, match="no object-store credentials for tenant"):
        Tenants("bad", TenantsArgs(tenants=tenant, container_defaults=resources, credentials={},
                                   object_store_namespace="s", object_store_port=1, s3_endpoint="e",
                                   mlflow_namespace="m", mlflow_port=2, tracking_uri="t"))


KFP_NS = "mlops-pipelines"
KFP_DEPLOYMENTS = {
    # resource name -> (Kubernetes name, image name in infra/images.toml)
    "kubeflow-pipelines-api-server": ("ml-pipeline", "kfp-api-server"),
    "kubeflow-pipelines-persistence-agent": ("ml-pipeline-persistenceagent", "kfp-persistence-agent"),
    "kubeflow-pipelines-scheduled-workflow": ("ml-pipeline-scheduledworkflow", "kfp-scheduled-workflow"),
    "kubeflow-pipelines-metadata-server": ("metadata-grpc-deployment", "mlmd-server"),
    "kubeflow-pipelines-workflow-controller": ("workflow-controller", "argo-workflow-controller"),
}


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def rules_of(mocks, role: str, cluster: bool = False) -> dict[tuple[str, str], set[str]]:
    """(api group, resource) -> verbs of the named Role (or ClusterRole) of KFP."""
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in mocks.named(f"kubeflow-pipelines-{'clusterrole' if cluster else 'role'}-{role}").inputs["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_kubeflow_pipelines_workloads_images_resources_and_security(mocks):
    from infra.images import resolve_image

    registry = "mirror.example.edu:5000"
    facts = run({"images": {"registry": registry, "overrides": {"mlmd-server": "r.example.edu/mlmd:1"}}})
    assert facts["kfp_endpoint"] == "http://ml-pipeline.mlops-pipelines.svc.cluster.local:8888"
    assert facts["kfp_namespace"] == KFP_NS

    ns = mocks.named("kubeflow-pipelines-ns").inputs["metadata"]
    assert ns["name"] == KFP_NS
    overrides = {"mlmd-server": "r.example.edu/mlmd:1"}
    workloads = {**KFP_DEPLOYMENTS, "kubeflow-pipelines-database": ("kubeflow-pipelines-db", "mysql")}
    for resource, (k8s_name, image_name) in workloads.items():
        workload = mocks.named(resource)
        assert workload.inputs["metadata"] == {**workload.inputs["metadata"], "name": k8s_name, "namespace": KFP_NS}
        pod = workload.inputs["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, f"{k8s_name} runs as non-root"
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in containers(workload):
            where = f"{k8s_name} container {container['name']}"
            assert container["image"] == resolve_image(image_name, registry, overrides), f"{where} image"
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), f"{where} has requests"
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), f"{where} has limits"
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}, where
    api = containers(mocks.named("kubeflow-pipelines-api-server"))[0]
    assert env_of(api)["V2_DRIVER_IMAGE"]["value"] == f"{registry}/kubeflow/kfp-driver:2.14.3"
    assert env_of(api)["V2_LAUNCHER_IMAGE"]["value"] == f"{registry}/kubeflow/kfp-launcher:2.14.3"
    assert api["command"] == ["/bin/apiserver"]
    assert "--config=/config" in api["args"]
    assert not any(arg.startswith("--sampleconfig") for arg in api["args"]), "no samples: they pull public images"


def test_kubeflow_pipelines_runs_multi_user_and_knows_callers_by_token_only(mocks):
    run({})
    env = env_of(containers(mocks.named("kubeflow-pipelines-api-server"))[0])
    assert env["MULTIUSER"]["value"] == "true"
    assert env["DEFAULTPIPELINERUNNERSERVICEACCOUNT"]["value"] == "pipeline-runner"
    assert env["TOKEN_REVIEW_AUDIENCE"]["value"] == "pipelines.kubeflow.org"
    header = env["KUBEFLOW_USERID_HEADER"]["value"]
    # RFC 9110 token characters: a header name with any other character cannot be sent.
    allowed = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert set(header) - allowed, f"KUBEFLOW_USERID_HEADER={header!r} is a valid header name: any pod could claim a user"
    api = rules_of(mocks, "ml-pipeline", cluster=True)
    assert api[("authentication.k8s.io", "tokenreviews")] == {"create"}
    assert api[("authorization.k8s.io", "subjectaccessreviews")] == {"create"}
    roles = {r.inputs["metadata"]["name"]: r.inputs["rules"] for r in mocks.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")}
    edit = {(res, verb) for rule in roles["mlops-pipelines-edit"] for res in rule["resources"] for verb in rule["verbs"]}
    view = {(res, verb) for rule in roles["mlops-pipelines-view"] for res in rule["resources"] for verb in rule["verbs"]}
    assert {("runs", "create"), ("runs", "delete"), ("experiments", "create"), ("runs", "get")} <= edit
    assert ("runs", "get") in view
    assert ("runs", "list") in view
    assert not {verb for (_, verb) in view} - {"get", "list", "readArtifact"}, "view reads only"
    assert all(rule["apiGroups"] == ["pipelines.kubeflow.org"] for rule in roles["mlops-pipelines-edit"])


def test_kubeflow_pipelines_lean_profile_is_small(mocks):
    run({"kubeflowPipelines": {"resourceProfile": "lean"}})
    for resource in KFP_DEPLOYMENTS:
        requests = containers(mocks.named(resource))[0]["resources"]["requests"]
        assert requests["cpu"] in ("10m", "25m"), f"{resource} requests {requests['cpu']} CPU in the lean profile"


def test_kubeflow_pipelines_secrets_are_referenced_never_inlined(mocks):
    run({})
    for resource in mocks.resources:
        if resource.typ != "kubernetes:core/v1:Secret":
            assert MOCK_PASSWORD not in repr(resource.inputs), f"{resource.typ} {resource.name} carries a secret inline"
    for resource in [*KFP_DEPLOYMENTS, "kubeflow-pipelines-database"]:
        for container in containers(mocks.named(resource)):
            for env in container.get("env", []):
                if any(word in env["name"] for word in ("PASSWORD", "SECRET", "ACCESSKEY")):
                    assert "secretKeyRef" in env["valueFrom"], f"{resource}: {env['name']} comes from a Secret"

    artifact = mocks.named("kubeflow-pipelines-artifact-credentials").inputs
    assert artifact["metadata"]["name"] == "mlpipeline-minio-artifact", "upstream's name, which KFP's programs read"
    assert unsecret(artifact["stringData"]) == {"accesskey": "kubeflow-pipelines", "secretkey": MOCK_PASSWORD}
    assert not [r for r in mocks.of_type("kubernetes:core/v1:Secret") if "admin" in repr(unsecret(r.inputs.get("stringData")))
                and r.inputs["metadata"]["namespace"] == KFP_NS], "no MLflow admin credentials for pipelines"
    mlmd = containers(mocks.named("kubeflow-pipelines-metadata-server"))[0]
    assert mlmd["command"] == ["/bin/metadata_store_server"]
    assert "--mysql_config_password=$(DB_PASSWORD)" in mlmd["args"], "the password is expanded from the env at start"
    assert "--mysql_config_database=$(DB_NAME)" in mlmd["args"]
    assert env_of(mlmd)["DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "kubeflow-pipelines-database", "key": "password"}
    mysql = containers(mocks.named("kubeflow-pipelines-database"))[0]
    assert env_of(mysql)["MYSQL_USER"]["value"] == "mlpipeline"
    assert env_of(mysql)["MYSQL_ROOT_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "kubeflow-pipelines-database", "key": "root-password"}
    init = mocks.named("kubeflow-pipelines-db-init").inputs["data"]["10-databases.sql"]
    for database in ("mlpipeline", "metadb"):
        assert f"GRANT ALL PRIVILEGES ON `{database}`.* TO 'mlpipeline'@'%';" in init, \
            "the user gets the two databases only, created up front (KFP ignores only 'database exists')"


def test_kubeflow_pipelines_api_server_reads_database_and_object_store_settings(mocks):
    run({"objectStore": {"backend": "minio"}})
    api = containers(mocks.named("kubeflow-pipelines-api-server"))[0]
    env = env_of(api)
    install = mocks.named("kubeflow-pipelines-install-config").inputs
    assert install["metadata"]["name"] == "pipeline-install-config"
    config = install["data"]

    def value(name: str) -> str:
        source = env[name]["valueFrom"]["configMapKeyRef"]
        assert source["name"] == "pipeline-install-config", f"{name} comes from pipeline-install-config"
        return config[source["key"]]

    # viper: DBDriverName -> DBDRIVERNAME (upstream's DB_DRIVER_NAME is read by nothing).
    assert value("DBDRIVERNAME") == "mysql"
    assert value("DBCONFIG_MYSQLCONFIG_HOST") == "kubeflow-pipelines-db.mlops-pipelines.svc.cluster.local"
    assert value("DBCONFIG_MYSQLCONFIG_PORT") == "3306"
    assert value("DBCONFIG_MYSQLCONFIG_DBNAME") == "mlpipeline"
    assert value("OBJECTSTORECONFIG_HOST") == "object-store.mlops-storage.svc.cluster.local"
    assert value("OBJECTSTORECONFIG_PORT") == "9000"
    assert value("OBJECTSTORECONFIG_SECURE") == "false"
    assert value("OBJECTSTORECONFIG_BUCKETNAME") == "mlpipeline"
    assert env["OBJECTSTORECONFIG_ACCESSKEY"]["valueFrom"]["secretKeyRef"] == {"name": "mlpipeline-minio-artifact", "key": "accesskey"}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"

    api_service = mocks.named("kubeflow-pipelines-svc-ml-pipeline").inputs
    assert api_service["metadata"]["name"] == "ml-pipeline"
    # The driver finds the cache API by the service-link variable ML_PIPELINE_SERVICE_PORT_GRPC.
    assert [(p["name"], p["port"]) for p in api_service["spec"]["ports"]] == [("http", 8888), ("grpc", 8887)]
    metadata_service = mocks.named("kubeflow-pipelines-svc-metadata-grpc-service").inputs
    assert metadata_service["metadata"]["name"] == "metadata-grpc-service", "the driver reads METADATA_GRPC_SERVICE_SERVICE_HOST"
    assert [p["port"] for p in metadata_service["spec"]["ports"]] == [8080]
    agent = containers(mocks.named("kubeflow-pipelines-persistence-agent"))[0]
    assert not [arg for arg in agent["args"] if arg.startswith("--namespace")], "the agent watches every namespace"
    assert agent["volumeMounts"][0]["mountPath"] == "/var/run/secrets/kubeflow/tokens"


def test_argo_requeue_in_whole_seconds_is_a_go_duration(mocks):
    run({"kubeflowPipelines": {"workflowRequeueSeconds": 2}})
    controller = containers(mocks.named("kubeflow-pipelines-workflow-controller"))[0]
    env = {e["name"]: e.get("value") for e in controller["env"]}
    assert env["DEFAULT_REQUEUE_TIME"] == "2s", "Go's time.ParseDuration reads 2s and 0.3s"


def test_no_platform_fault_retry_when_the_stack_turns_it_off(mocks):
    import yaml

    run({"kubeflowPipelines": {"platformFaultRetries": 0}})
    config = mocks.named("kubeflow-pipelines-workflow-controller-config").inputs
    defaults = yaml.safe_load(config["data"]["workflowDefaults"])["spec"]
    assert "retryStrategy" not in defaults
    assert "podSpecPatch" not in defaults
    assert defaults["securityContext"]["runAsUser"] == 1000


def test_argo_runs_cluster_wide_with_restricted_pipeline_pods(mocks):
    import yaml

    run({"images": {"registry": "mirror.example.edu:5000"}})
    controller = containers(mocks.named("kubeflow-pipelines-workflow-controller"))[0]
    args = controller["args"]
    assert "--namespaced" not in args, "multi-user mode: workflows run in the tenant namespaces"
    assert args[args.index("--executor-image") + 1] == "mirror.example.edu:5000/argoproj/argoexec:v3.6.18"
    assert args[args.index("--configmap") + 1] == "workflow-controller-configmap"
    env = {e["name"]: e.get("value") for e in controller["env"]}
    assert env["DEFAULT_REQUEUE_TIME"] == "0.3s", "kubeflowPipelines.workflowRequeueSeconds (default 0.3), not Argo's 10 s"
    config = mocks.named("kubeflow-pipelines-workflow-controller-config").inputs
    assert config["metadata"]["name"] == "workflow-controller-configmap"
    data = {key: yaml.safe_load(value) for key, value in config["data"].items()}
    assert data["workflowDefaults"]["spec"]["securityContext"]["runAsNonRoot"] is True, "pipeline pods run as non-root"
    assert data["workflowDefaults"]["spec"]["securityContext"]["runAsUser"] == 1000
    retry = data["workflowDefaults"]["spec"]["retryStrategy"]
    assert retry["limit"] == 3, "kubeflowPipelines.platformFaultRetries (default 3)"
    assert retry["retryPolicy"] == "Always", "both Error and Failed reach the expression"
    assert retry["backoff"] == {"duration": "5s", "factor": 2}, "the policy engine and a restarted object store get time"
    assert retry["expression"] == (
        'lastRetry.message == "pod deleted" || lastRetry.exitCode == "143" || '
        '(lastRetry.message contains "code = Unavailable" && lastRetry.message contains "connect: connection refused") || '
        '((lastRetry.message contains "failed to upload output artifact" || '
        'lastRetry.message contains "failed to download input artifact") && '
        '(lastRetry.message contains "connect: connection refused" || lastRetry.message contains "connection reset by peer" || '
        'lastRetry.message contains "i/o timeout"))'), \
        "only a pod the platform made fail (taken away, refused while the policy engine catches up, " \
        "or refused by a restarting object store) is started again"
    patch = json.loads(data["workflowDefaults"]["spec"]["podSpecPatch"])
    assert patch == {"containers": [{"name": "wait"}, {"name": "main", "terminationMessagePolicy": "FallbackToLogsOnError"}]}, \
        "a failed main container's last log lines reach Argo's message, which the retry expression reads"
    for part in ("executor", "mainContainer"):
        assert data[part]["securityContext"]["allowPrivilegeEscalation"] is False, f"Argo {part} cannot escalate"
        assert data[part]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert data["executor"]["resources"]["limits"]["memory"], "Argo's init and wait containers have limits"
    assert "artifactRepository" not in data, "each pipelines namespace has its own (artifact-repositories)"
    main_env = {e["name"]: e["value"] for e in data["mainContainer"]["env"]}
    assert main_env["METADATA_GRPC_SERVICE_SERVICE_HOST"] == f"metadata-grpc-service.{KFP_NS}.svc.cluster.local", \
        "drivers run in the tenant namespaces, where no Service link names KFP's servers"
    assert main_env["ML_PIPELINE_SERVICE_PORT_GRPC"] == "8887"

    argo = rules_of(mocks, "argo", cluster=True)
    assert {"create", "delete", "patch"} <= argo[("", "pods")]
    assert {"list", "watch", "deletecollection"} <= argo[("argoproj.io", "workflowtaskresults")]
    secret_rules = [r for r in mocks.named("kubeflow-pipelines-clusterrole-argo").inputs["rules"] if "secrets" in r["resources"]]
    assert [r.get("resourceNames") for r in secret_rules] == [["mlpipeline-minio-artifact"]], \
        "Argo reads the bucket Secret of each namespace, no other Secret"
    assert rules_of(mocks, "argo")[("coordination.k8s.io", "leases")] == {"create", "get", "update"}, \
        "leader election in its own namespace only"
    assert ("coordination.k8s.io", "leases") not in argo

    crds = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in mocks.of_type("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")}
    assert set(crds) == {f"{plural}.argoproj.io" for plural in (
        "workflows", "workflowtemplates", "cronworkflows", "clusterworkflowtemplates", "workflowtaskresults",
        "workflowtasksets", "workflowartifactgctasks", "workfloweventbindings")} | {"scheduledworkflows.kubeflow.org"}
    assert crds["clusterworkflowtemplates.argoproj.io"]["scope"] == "Cluster"
    assert crds["workflows.argoproj.io"]["names"]["shortNames"] == ["wf"]
    for name, spec in crds.items():
        (version,) = spec["versions"]
        assert version["schema"]["openAPIV3Schema"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}, name
        assert version["name"] == ("v1beta1" if name.endswith("kubeflow.org") else "v1alpha1")


def test_kubeflow_pipelines_rbac_grants_what_the_programs_use(mocks):
    run({})
    api = rules_of(mocks, "ml-pipeline", cluster=True)
    assert {"create", "get", "list", "watch", "delete"} <= api[("argoproj.io", "workflows")]
    assert {"create", "delete"} <= api[("kubeflow.org", "scheduledworkflows")]
    agent = rules_of(mocks, "ml-pipeline-persistenceagent", cluster=True)
    assert agent[("argoproj.io", "workflows")] == {"get", "list", "watch"}
    assert agent[("pipelines.kubeflow.org", "workflows")] == {"report"}, "the API server checks the agent's reports"
    scheduler = rules_of(mocks, "ml-pipeline-scheduledworkflow", cluster=True)
    assert "create" in scheduler[("argoproj.io", "workflows")]
    assert scheduler[("pipelines.kubeflow.org", "runs")] == {"create"}
    bindings = {r.inputs["metadata"]["name"]: r.inputs for r in
                mocks.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")}
    assert bindings["mlops-pipelines-ml-pipeline"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "ml-pipeline", "namespace": KFP_NS}]
    assert not [name for name in bindings if "runner" in name], "no pipeline runner holds cluster-wide rights"
    api_pod = mocks.named("kubeflow-pipelines-api-server").inputs["spec"]["template"]["spec"]
    assert api_pod["serviceAccountName"] == "ml-pipeline"
    db_pod = mocks.named("kubeflow-pipelines-database").inputs["spec"]["template"]["spec"]
    assert db_pod["automountServiceAccountToken"] is False, "the database needs no Kubernetes API"


def test_kubeflow_pipelines_network_and_platform_wiring(mocks):
    import json

    run({"platform": {"allowedIngressCidrs": ["10.20.0.0/24"]}, "tenants": TENANTS[1:]})
    deny = mocks.named("kubeflow-pipelines-default-deny").inputs["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    rule = mocks.named("kubeflow-pipelines-allow-api-server").inputs["spec"]["ingress"][0]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8888}, {"protocol": "TCP", "port": 8887}]
    assert {"podSelector": {}} in rule["from"], "the agents call the API server"
    assert {"ipBlock": {"cidr": "10.20.0.0/24"}} in rule["from"], "clients outside the cluster: platform.allowedIngressCidrs"
    tenant_peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "research-nlp"}}}
    assert tenant_peer in rule["from"], "programs and pipeline steps of the tenants call the API server"
    metadata_rule = mocks.named("kubeflow-pipelines-allow-metadata-grpc").inputs["spec"]["ingress"][0]
    assert tenant_peer in metadata_rule["from"], "the driver and launcher record lineage"
    database = mocks.named("kubeflow-pipelines-database").inputs
    db_policy = mocks.named("kubeflow-pipelines-allow-database").inputs["spec"]
    assert db_policy["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == database["metadata"]["name"]
    assert [peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in db_policy["ingress"][0]["from"]] == \
        ["ml-pipeline", "metadata-grpc-deployment"]

    script = mocks.named("object-store-buckets").inputs["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "mlflow-artifacts pipelines mlpipeline nlp-artifacts" in script, "the KFP bucket is created with the others"
    store_secret = unsecret(mocks.named("object-store-credentials").inputs["stringData"])
    identities = {i["name"]: i for i in json.loads(store_secret["s3.json"])["identities"]}
    assert identities["kubeflow-pipelines"]["actions"] == ["Read:mlpipeline", "Write:mlpipeline", "List:mlpipeline"]
    peers = mocks.named("object-store-ingress").inputs["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": KFP_NS}}} in peers
    values = mocks.chart("mlflow").inputs["values"]
    assert values["networkPolicy"]["allowedNamespaces"] == ["research-nlp"], "pipeline pods call MLflow from their tenant's"
    assert values["networkPolicy"]["allowedCidrs"] == ["10.20.0.0/24"], "MLflow's Ingress: platform.allowedIngressCidrs"


def test_mlflow_ingress_gets_the_platform_tls(mocks):
    run({"platform": {"ingressClass": "nginx", "ingressTls": {"clusterIssuer": "campus-ca"}},
         "mlflow": {"ingressHost": "mlflow.ml.example.edu"}})
    ingress = mocks.chart("mlflow").inputs["values"]["ingress"]
    assert ingress == {"enabled": True, "host": "mlflow.ml.example.edu", "className": "nginx", "tlsSecretName": "mlflow-tls",
                       "annotations": {"cert-manager.io/cluster-issuer": "campus-ca"}}


def test_kubeflow_pipelines_ui_and_its_metadata_proxy(mocks):
    from infra.images import resolve_image

    registry = "mirror.example.edu:5000"
    run({"kubeflowPipelines": {"ui": True}, "images": {"registry": registry},
         "platform": {"allowedIngressCidrs": ["10.20.0.0/24"]}})
    ui = mocks.named("kubeflow-pipelines-ui")
    assert (ui.inputs["metadata"]["name"], ui.inputs["metadata"]["namespace"]) == ("ml-pipeline-ui", KFP_NS)
    pod = ui.inputs["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "ml-pipeline-ui"
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["image"] == resolve_image("kfp-frontend", registry) == f"{registry}/kubeflow/kfp-frontend:2.14.3"
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    env = env_of(container)
    assert env["ML_PIPELINE_SERVICE_HOST"]["value"] == f"ml-pipeline.{KFP_NS}.svc.cluster.local"
    assert env["ML_PIPELINE_SERVICE_PORT"]["value"] == "8888"
    assert env["METADATA_ENVOY_SERVICE_SERVICE_HOST"]["value"] == f"metadata-envoy-service.{KFP_NS}.svc.cluster.local"
    assert env["METADATA_ENVOY_SERVICE_SERVICE_PORT"]["value"] == "9090"
    for name, key in (("MINIO_ACCESS_KEY", "accesskey"), ("MINIO_SECRET_KEY", "secretkey")):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "mlpipeline-minio-artifact", "key": key}, \
            f"{name} comes from the scoped user's Secret, never upstream's default minio/minio123"
    assert env["MINIO_NAMESPACE"]["value"] == "", "the object store's host is used as given, not suffixed .kubeflow"
    assert env["MINIO_HOST"]["valueFrom"]["configMapKeyRef"]["key"] == "objectStoreHost"
    assert (env["ARGO_ARCHIVE_LOGS"]["value"], env["ARGO_ARCHIVE_BUCKETNAME"]["value"]) == ("true", "mlpipeline"), \
        "logs of finished steps come from the bucket Argo archives them in"
    assert env["FRONTEND_SERVER_NAMESPACE"]["value"] == KFP_NS
    assert container["readinessProbe"]["httpGet"] == {"path": "/apis/v2beta1/healthz", "port": 3000}
    service = mocks.named("kubeflow-pipelines-svc-ml-pipeline-ui").inputs["spec"]
    assert service["ports"] == [{"name": "http", "port": 80, "targetPort": 3000, "protocol": "TCP"}]
    rules = mocks.named("kubeflow-pipelines-clusterrole-ml-pipeline-ui").inputs["rules"]
    secret_rules = [rule for rule in rules if "secrets" in rule["resources"]]
    assert secret_rules == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
                             "resourceNames": ["mlpipeline-minio-artifact"]}], "the UI reads only the artifact Secret"
    assert not [rule for rule in rules if set(rule["verbs"]) - {"get", "list"}], "the UI changes nothing in the cluster"

    envoy = mocks.named("kubeflow-pipelines-metadata-envoy").inputs
    assert envoy["metadata"]["name"] == "metadata-envoy-deployment"
    envoy_container = envoy["spec"]["template"]["spec"]["containers"][0]
    assert envoy_container["image"] == f"{registry}/kubeflow/kfp-metadata-envoy:2.14.3"
    assert env_of(envoy_container)["GRPC_WEB_UPSTREAM"]["value"] == "metadata-grpc-service:8080"
    envoy_service = mocks.named("kubeflow-pipelines-svc-metadata-envoy-service").inputs
    assert envoy_service["metadata"]["name"] == "metadata-envoy-service"
    assert envoy_service["spec"]["ports"][0]["port"] == 9090

    ui_policy = mocks.named("kubeflow-pipelines-allow-ui").inputs["spec"]
    assert ui_policy["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "ml-pipeline-ui"
    assert ui_policy["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 3000}]
    assert {"ipBlock": {"cidr": "10.20.0.0/24"}} in ui_policy["ingress"][0]["from"]
    envoy_policy = mocks.named("kubeflow-pipelines-allow-metadata-envoy").inputs["spec"]
    assert envoy_policy["ingress"] == [{"from": [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "ml-pipeline-ui", "app.kubernetes.io/component": "pipelines"}}}],
        "ports": [{"protocol": "TCP", "port": 9090}]}], "only the UI's pod reaches the metadata proxy"


def test_kubeflow_pipelines_without_ui_declares_none_of_it(mocks):
    run({"kubeflowPipelines": {"ui": False}})
    names = {r.name for r in mocks.resources}
    assert not {n for n in names if "ui" in n.split("-") or "envoy" in n}, "no UI, proxy, Service, Role or policy"


def test_kubeflow_pipelines_disabled_declares_nothing_of_it(mocks):
    run({"kubeflowPipelines": {"enabled": False}})
    names = [r.name for r in mocks.resources]
    assert not [n for n in names if "kubeflow-pipelines" in n], "nothing of KFP, not even its bucket user"
    assert "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition" not in {r.typ for r in mocks.resources}
    script = mocks.named("object-store-buckets").inputs["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "mlpipeline" not in script
    values = mocks.chart("mlflow").inputs["values"]
    assert values["networkPolicy"]["allowedNamespaces"] == []


def test_kubeflow_pipelines_external_database(mocks):
    run({"kubeflowPipelines": {"database": {"mode": "external", "host": "db.example.edu", "port": 5433, "user": "kfp"}},
         "kubeflowPipelinesDatabasePassword": "external-db-password"})
    names = [r.name for r in mocks.resources]
    assert "kubeflow-pipelines-database-password" not in names, "no generated password for an external database"
    assert [r.name for r in mocks.of_type("kubernetes:apps/v1:StatefulSet")] == ["object-store-server"], \
        "no in-cluster database for an external one"
    secret = mocks.named("kubeflow-pipelines-database-credentials").inputs
    assert secret["metadata"]["name"] == "kubeflow-pipelines-database"
    assert SECRET_SIG in secret["stringData"]
    assert unsecret(secret["stringData"]) == {"username": "kfp", "password": "external-db-password"}
    config = mocks.named("kubeflow-pipelines-install-config").inputs["data"]
    assert (config["mysqlHost"], config["mysqlPort"]) == ("db.example.edu", "5433")
    for resource in mocks.resources:
        if resource.typ != "kubernetes:core/v1:Secret":
            assert "external-db-password" not in repr(resource.inputs), f"{resource.name} carries the database password"


def test_kubeflow_pipelines_validates_its_arguments():
    from dataclasses import replace

    from infra.components.common import S3Access
    from infra.components.kubeflow_pipelines import KubeflowPipelines, KubeflowPipelinesArgs, KubeflowPipelinesImages
    from infra.config import KFP_RESOURCE_PROFILES, KfpDatabaseConfig, KubeflowPipelinesConfig

    images = KubeflowPipelinesImages(*["i:1"] * 9)
    config = KubeflowPipelinesConfig(enabled=True, namespace="p", bucket="b", resource_profile="lean",
                                     resources=KFP_RESOURCE_PROFILES["lean"],
                                     database=KfpDatabaseConfig("inCluster", "10Gi", "", 3306, ""))
    base = {"images": images, "s3": S3Access("http://s3:9000", "u", "k")}

    def database(mode: str) -> KubeflowPipelinesConfig:
        return replace(config, database=replace(config.database, mode=mode))

    def without(*workloads: str, ui: bool = False) -> KubeflowPipelinesConfig:
        return replace(config, ui=ui, resources={k: v for k, v in config.resources.items() if k not in workloads})

    with pytest.raises(ValueError, match=r"database\.mode='mysql'; allowed values: inCluster, external"):
        KubeflowPipelines("bad", KubeflowPipelinesArgs(config=database("mysql"), **base))
    with pytest.raises(ValueError, match=r"database\.mode='external' needs config\.database\.host, "
                                         r"config\.database\.user, database_password"):
        KubeflowPipelines("bad", KubeflowPipelinesArgs(config=database("external"), **base))
    with pytest.raises(ValueError, match="resources lacks ui, metadata-envoy"):
        KubeflowPipelines("bad", KubeflowPipelinesArgs(config=without("ui", "metadata-envoy", ui=True), **base))
    with pytest.raises(ValueError, match=r"ui=True needs images\.ui and images\.metadata_envoy"):
        KubeflowPipelines("bad", KubeflowPipelinesArgs(config=replace(config, ui=True), **base))
    with pytest.raises(ValueError, match="resources lacks argo-executor"):
        KubeflowPipelines("bad", KubeflowPipelinesArgs(config=without("argo-executor"), **base))


KFP_PARTS = {"mlops-platform:platform:KubeflowPipelinesDatabase", "mlops-platform:platform:KubeflowPipelinesApiServer",
             "mlops-platform:platform:KubeflowPipelinesMetadata", "mlops-platform:platform:KubeflowPipelinesArgo",
             "mlops-platform:platform:KubeflowPipelinesUi"}


@pytest.mark.parametrize("database", [{}, {"mode": "external", "host": "db.example.edu", "user": "kfp"}])
def test_kubeflow_pipelines_parts_keep_the_urns_objects_had_before_the_split(database):
    """Until the split, KubeflowPipelines was the parent of every object its child components now
    declare: each such object must carry an alias to that parent under its unchanged name and
    type, or `pulumi up` on an existing stack would create a same-named Kubernetes object (and
    fail, or delete the old one afterwards)."""
    from pulumi.runtime.mocks import MockMonitor

    class AliasRecordingMonitor(MockMonitor):
        def __init__(self, recorder: RecordingMocks) -> None:
            super().__init__(recorder)
            self.requests: list = []

        def RegisterResource(self, request):
            self.requests.append(request)
            return super().RegisterResource(request)

    monitor = AliasRecordingMonitor(RecordingMocks())
    pulumi.runtime.set_mocks(monitor.mocks, project="mlops-platform", stack="unit", preview=False, monitor=monitor)
    secret = {"kubeflowPipelinesDatabasePassword": "pw"} if database else {}
    run({"kubeflowPipelines": {"ui": True, "database": database}, **secret})

    urns = [monitor.make_urn(r.parent, r.type, r.name) for r in monitor.requests]
    (kfp,) = [urn for r, urn in zip(monitor.requests, urns, strict=True) if r.type == "mlops-platform:platform:KubeflowPipelines"]
    parts = {urn: r.type for r, urn in zip(monitor.requests, urns, strict=True) if r.parent == kfp and r.type in KFP_PARTS}
    assert set(parts.values()) == KFP_PARTS, "database, API server, metadata, Argo and UI are child components"
    old_urns = []
    for request in monitor.requests:
        if request.parent not in parts:
            continue
        where = f"{request.type} {request.name} (in {parts[request.parent]})"
        # Besides ours, the Kubernetes SDK adds aliases to former API versions of the type (same parent).
        moved = [(a.spec.parentUrn, a.spec.name, a.spec.type, a.spec.noParent) for a in request.aliases
                 if a.WhichOneof("alias") != "spec" or a.spec.parentUrn or a.spec.noParent or a.spec.name]
        assert moved == [(kfp, "", "", False)], \
            f"{where}: one alias, to KubeflowPipelines as parent with its own name and type; got {request.aliases}"
        old_urns.append(monitor.make_urn(kfp, request.type, request.name))
    assert len(old_urns) >= 2 * len(KFP_PARTS), f"the parts declare their objects: {old_urns}"
    assert len(set(old_urns)) == len(old_urns), "no two objects claim the same old URN"
    assert not set(old_urns) & set(urns), "no object of this program holds an old URN of a moved object"
    for request, urn in zip(monitor.requests, urns, strict=True):
        if request.type in KFP_PARTS:
            assert not request.aliases, f"{urn}: a child component is new, it has no old URN"


def test_seaweedfs_divides_its_claim_into_volumes_and_grows_one_per_bucket(mocks):
    from infra.components.object_store import seaweedfs_volume_layout
    assert seaweedfs_volume_layout("2Gi") == (32, 64)
    assert seaweedfs_volume_layout("500Gi") == (32, 16000)
    run({"objectStore": {"backend": "seaweedfs", "volumeSize": "2Gi"}})
    server = containers(mocks.named("object-store-server"))[0]
    assert "-volume.max=32" in server["args"], "the volume count follows the claim, not the node's free disk"
    assert "-master.volumeSizeLimitMB=64" in server["args"]
    assert {"name": "WEED_MASTER_VOLUME_GROWTH_COPY_1", "value": "1"} in server["env"], \
        "a new bucket takes one volume, not seven"


def test_backup_dumps_both_databases_then_copies_every_bucket_as_its_own_s3_user(mocks):
    import json

    run({"tenants": TENANTS[1:], "backup": {"schedule": "30 1 * * *", "retention": 4}})
    cronjob = mocks.named("backup-cronjob").inputs
    assert (cronjob["spec"]["schedule"], cronjob["spec"]["suspend"]) == ("30 1 * * *", False)
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["dump-mlflow", "dump-kubeflow-pipelines"], \
        "the databases are dumped before the buckets are copied (the backup's consistency)"
    dump_mlflow, dump_kfp = (c["command"][-1] for c in pod["initContainers"])
    assert "pg_dump --format=custom" in dump_mlflow
    assert "--exclude-table=users" in dump_mlflow, "MLflow's auth tables stay out: a restore keeps the new platform's users"
    assert "--single-transaction" in dump_kfp
    assert "--databases mlpipeline metadb" in dump_kfp
    assert "$KFP_DATABASE_PASSWORD" in dump_kfp
    assert "--password" not in dump_kfp, "no password on a command line"
    assert pod["containers"][0]["command"][-1].endswith("--retention 4 --platform /program/platform.json")
    assert pod["automountServiceAccountToken"] is False, "the backup pods need no Kubernetes API"
    assert all(c["securityContext"]["runAsNonRoot"] for c in pod["initContainers"] + pod["containers"])
    restore = mocks.named("backup-restore").inputs
    assert restore["spec"]["suspend"] is True, "a restore runs only when make restore starts it"
    restore_pod = restore["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["name"] for c in restore_pod["initContainers"]] == ["verify", "restore-mlflow", "restore-kubeflow-pipelines"]
    assert "--single-transaction" in restore_pod["initContainers"][1]["command"][-1]

    secret = mocks.named("backup-credentials").inputs["stringData"]
    assert SECRET_SIG in secret, "the database logins are Pulumi secrets"
    assert unsecret(secret)["AWS_ACCESS_KEY_ID"] == "platform-backup", "its own S3 user, never the root key"
    assert unsecret(secret)["MLFLOW_DATABASE_URL"] == \
        f"postgresql://mlflow:{MOCK_PASSWORD}@mlflow-postgres.mlops-mlflow.svc.cluster.local:5432/mlflow"
    platform = json.loads(mocks.named("backup-program").inputs["data"]["platform.json"])
    assert platform["buckets"] == ["mlflow-artifacts", "pipelines", "mlpipeline", "nlp-artifacts"]
    assert platform["databases"] == ["mlflow", "kubeflow-pipelines"]
    assert set(platform["images"]) == {"mlflow", "postgres", "mysql", "kfp-api-server", "mlmd-server"}
    assert {w["name"] for w in platform["writers"]} == {"mlflow", "ml-pipeline", "metadata-grpc-deployment"}

    # The model servers of each tenant namespace: read only, and the token in the store container only.
    rules = mocks.named("backup-read-model-servers-research-nlp-role").inputs["rules"]
    assert {verb for rule in rules for verb in rule["verbs"]} == {"get", "list"}
    assert {r for rule in rules for r in rule["resources"]} == {"deployments", "services"}
    assert platform["modelServers"] == {"namespaces": ["research-nlp"], "selector": "mlops-platform/serving=true"}
    assert pod["serviceAccountName"] == "platform-backup"
    assert [c["name"] for c in pod["initContainers"] + pod["containers"]
            if any(m["name"] == "api-token" for m in c["volumeMounts"])] == ["store"]
    assert "serviceAccountName" not in restore_pod, "the restore pod has no Kubernetes API access"

    # Only the backup namespace (and the servers) reach the databases.
    chart = mocks.chart("mlflow").inputs["values"]
    assert chart["networkPolicy"]["databaseClientNamespaces"] == ["mlops-backup"]
    kfp_db = mocks.named("kubeflow-pipelines-allow-database-clients").inputs["spec"]
    assert kfp_db["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlops-backup"}}}]
    assert "mlops-backup" in repr(mocks.named("object-store-ingress").inputs["spec"])


def test_schema_images_are_recorded_for_the_pre_upgrade_backup(mocks):
    run({"images": {"registry": "mirror.example.edu:5000"}, "backup": {"namespace": "backups"}})
    record = mocks.named("schema-versions").inputs
    assert record["backupNamespace"] == "backups"
    assert set(record["images"]) == {"mlflow", "postgres", "mysql", "kfp-api-server", "mlmd-server"}, \
        "every image that migrates a database schema on start"
    assert all(ref.startswith("mirror.example.edu:5000/") for ref in record["images"].values())


def test_backup_off_declares_nothing_and_opens_nothing(mocks):
    run({"backup": {"enabled": False}})
    names = {r.name for r in mocks.resources}
    assert not {n for n in names if n.startswith("backup-")}
    assert "schema-versions" not in names, "no pre-upgrade backup without backups"
    assert "kubeflow-pipelines-allow-database-clients" not in names
    assert mocks.chart("mlflow").inputs["values"]["networkPolicy"]["databaseClientNamespaces"] == []


LOGIN_RAW = {
    "kubeflowPipelines": {"ui": True},
    "login": {"enabled": True, "issuerUrl": "https://login.example.edu/dex", "uiUrl": "https://pipelines.example.edu",
              "staticUsers": ["alice@example.edu"]},
    "tenants": [{"name": "vision", "members": ["alice@example.edu"]}],
    "platform": {"allowedIngressCidrs": ["10.20.0.0/24"]},
}


def test_login_signs_people_in_at_dex_and_only_its_proxy_reaches_the_api_server_that_trusts_it(mocks):
    from infra.components.kubeflow_pipelines import IDENTITY_HEADER_DISABLED
    from infra.components.login import IDENTITY_HEADER

    run(LOGIN_RAW)
    dex_config = yaml.safe_load(unsecret(mocks.named("login-dex-config").inputs["stringData"])["config.yaml"])
    assert dex_config["issuer"] == "https://login.example.edu/dex"
    assert dex_config["staticPasswords"] == [{"email": "alice@example.edu", "hash": MOCK_HASH, "username": "alice",
                                              "userID": "alice"}], "Dex holds the bcrypt hash, not the password"
    assert dex_config["staticClients"][0]["redirectURIs"] == ["https://pipelines.example.edu/oauth2/callback"]
    assert "connectors" not in dex_config, "no LDAP connector unless login.ldap is set"
    passwords = unsecret(mocks.named("login-people-passwords").inputs["stringData"])
    assert passwords == {"alice": MOCK_PASSWORD}, "the generated password, for the admin to hand out"

    proxy = mocks.named("login-oauth2-proxy").inputs["spec"]["template"]["spec"]["containers"][0]
    args = proxy["args"]
    for flag in ("--upstream=http://ml-pipeline-ui.mlops-pipelines.svc.cluster.local:80", "--pass-user-headers=true",
                 "--pass-basic-auth=false", "--cookie-secure=true", "--approval-prompt=auto",
                 "--redeem-url=http://dex.mlops-login.svc.cluster.local:5556/dex/token",
                 "--login-url=https://login.example.edu/dex/auth"):
        assert flag in args, f"oauth2-proxy lacks {flag}: {args}"
    assert {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in proxy["env"]} == {
        "OAUTH2_PROXY_CLIENT_SECRET": "client-secret", "OAUTH2_PROXY_COOKIE_SECRET": "cookie-secret"}

    token_api = env_of(mocks.named("kubeflow-pipelines-api-server").inputs["spec"]["template"]["spec"]["containers"][0])
    people_api = env_of(mocks.named("kubeflow-pipelines-ml-pipeline-people").inputs["spec"]["template"]["spec"]["containers"][0])
    assert token_api["KUBEFLOW_USERID_HEADER"]["value"] == IDENTITY_HEADER_DISABLED
    assert people_api["KUBEFLOW_USERID_HEADER"]["value"] == IDENTITY_HEADER == "x-forwarded-email"
    ui = mocks.named("kubeflow-pipelines-ui").inputs["spec"]["template"]["spec"]
    ui_env = env_of(ui["containers"][0])
    assert ui_env["ML_PIPELINE_SERVICE_HOST"]["value"] == f"ml-pipeline-people.{KFP_NS}.svc.cluster.local"
    assert (ui_env["DEPLOYMENT"]["value"], ui_env["HIDE_SIDENAV"]["value"]) == ("KUBEFLOW", "false")
    selector_files = mocks.named("kubeflow-pipelines-ui-group-selector").inputs["data"]
    assert json.loads(selector_files["mlops-namespaces.json"]) == [
        {"namespace": "research-vision", "members": ["alice@example.edu"]}]
    assert "window.centraldashboard" in selector_files["dashboard_lib.bundle.js"]

    people_policy = mocks.named("kubeflow-pipelines-allow-people-api-server").inputs["spec"]
    assert people_policy["ingress"] == [{"from": [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "ml-pipeline-ui", "app.kubernetes.io/component": "pipelines"}}}],
        "ports": [{"protocol": "TCP", "port": 8888}]}], "only the UI's pods reach the API server that trusts the header"
    ui_policy = mocks.named("kubeflow-pipelines-allow-ui").inputs["spec"]
    assert ui_policy["ingress"][0]["from"] == [{"podSelector": {}}, {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlops-login"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "oauth2-proxy"}}}], \
        "behind the login, the UI takes no traffic from the client CIDRs, only from the proxy"
    database_policy = mocks.named("kubeflow-pipelines-allow-database").inputs["spec"]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ml-pipeline-people",
                                            "app.kubernetes.io/component": "pipelines"}}} in database_policy["ingress"][0]["from"]
    dex_policy = mocks.named("login-allow-dex").inputs["spec"]
    assert {"ipBlock": {"cidr": "10.20.0.0/24"}} in dex_policy["ingress"][0]["from"]
    assert not mocks.of_type("kubernetes:networking.k8s.io/v1:Ingress"), "no Ingress without platform.ingressClass"


def test_login_with_ldap_and_ingresses(mocks):
    raw = {**LOGIN_RAW, "platform": {"ingressClass": "nginx", "ingressTls": {"clusterIssuer": "campus-ca"}},
           "login": {**LOGIN_RAW["login"], "staticUsers": [], "ldap": {
               "host": "ldap.example.edu:636", "bindDN": "cn=dex,dc=example,dc=edu", "userBaseDN": "ou=people,dc=example,dc=edu",
               "groupBaseDN": "ou=groups,dc=example,dc=edu"}},
           "loginLdapBindPassword": "bind-secret"}
    from infra.deploy import deploy

    @pulumi.runtime.test
    def program():
        deploy(parse(raw, frozenset({"loginLdapBindPassword"})))
        return pulumi.Output.from_input(None)

    program()
    dex_config = yaml.safe_load(unsecret(mocks.named("login-dex-config").inputs["stringData"])["config.yaml"])
    assert (dex_config["enablePasswordDB"], "staticPasswords" in dex_config) == (False, False)
    connector = dex_config["connectors"][0]
    assert (connector["type"], connector["config"]["bindPW"]) == ("ldap", "bind-secret")
    assert connector["config"]["userSearch"]["baseDN"] == "ou=people,dc=example,dc=edu"
    assert connector["config"]["groupSearch"]["baseDN"] == "ou=groups,dc=example,dc=edu"
    hosts = {i.inputs["spec"]["rules"][0]["host"]: i.inputs for i in mocks.of_type("kubernetes:networking.k8s.io/v1:Ingress")}
    assert set(hosts) == {"login.example.edu", "pipelines.example.edu"}
    for host, ingress in hosts.items():
        assert ingress["spec"]["tls"][0]["hosts"] == [host]
        assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "campus-ca"}
