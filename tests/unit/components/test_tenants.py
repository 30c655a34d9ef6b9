"""The Tenants component (infra/components/tenants.py) under Pulumi mocks: each research group's
namespace, quota, roles, network policies, credentials and pipelines objects."""

from __future__ import annotations

import pytest

from infra.config import parse
from tests.support.components import KFP_NS, TENANTS
from tests.support.pulumi_mocks import MOCK_PASSWORD, SECRET_SIG, run, unsecret

pytestmark = pytest.mark.unit


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
