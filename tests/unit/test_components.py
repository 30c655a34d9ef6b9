"""Components under Pulumi mocks: the resources each declares, their labels, namespaces,
requests, images and that generated passwords stay secret. A fast layer only: the real proof
is the render run (tests/render) and the cluster tests."""

from __future__ import annotations

import asyncio

import pulumi
import pytest

from infra.config import parse

pytestmark = pytest.mark.unit
MOCK_PASSWORD = "f" * 48


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "pulumi-python:dynamic:Resource":
            outputs["result"] = MOCK_PASSWORD
        metadata = outputs.get("metadata")
        if isinstance(metadata, dict) and "name" not in metadata:
            outputs["metadata"] = {**metadata, "name": f"{args.name}-generated"}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> pulumi.runtime.MockResourceArgs:
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, f"expected one resource named {name}, found {[r.name for r in self.resources]}"
        return matches[0]


@pytest.fixture
def mocks():
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="mlops-platform", stack="unit", preview=False)
    return recorder


def run(raw: dict) -> dict:
    """Run the program under mocks; returns facts about its outputs once every resource is
    registered (the test decorator waits for all outstanding registrations)."""
    from infra.deploy import deploy

    facts: dict = {}

    @pulumi.runtime.test
    def program():
        platform = deploy(parse(raw, frozenset({"mlflowExternalDsn"})))

        async def collect():
            facts["store_password_secret"] = await platform.object_store.secret_key.is_secret()
            facts["admin_password_secret"] = await platform.mlflow.admin_password.is_secret()
            facts["tracking_uri"] = await platform.mlflow.tracking_uri.future()
            facts["endpoint"] = await platform.object_store.endpoint.future()
            if platform.tenants:
                facts["tenants"] = await platform.tenants.tenants.future()
            if platform.gpu:
                facts["runtime_class"] = await platform.gpu.runtime_class.future()

        return pulumi.Output.from_input(asyncio.ensure_future(collect()))

    program()
    return facts


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how the mock runtime encodes a secret value


def unsecret(value):
    """Inputs as plain data: secret-wrapped values (as the mocks receive them) unwrapped."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return unsecret(value["value"])
        return {k: unsecret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsecret(v) for v in value]
    return value


def containers(workload: pulumi.runtime.MockResourceArgs) -> list[dict]:
    spec = workload.inputs["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


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
    secret = mocks.named("object-store-credentials")
    assert "s3.json" not in unsecret(secret.inputs["stringData"]), "SeaweedFS identities only for the seaweedfs backend"



def test_generated_passwords_are_secret_outputs(mocks):
    facts = run({})
    assert facts["store_password_secret"], "object-store root password must be a secret output"
    assert facts["admin_password_secret"], "MLflow admin password must be a secret output"
    generated = mocks.of_type("pulumi-python:dynamic:Resource")
    assert {r.name for r in generated} == {"object-store-root-password", "mlflow-admin-password",
                                           "mlflow-flask-secret-key", "mlflow-database-password"}


def test_no_password_is_passed_in_plain_text_to_any_resource(mocks):
    facts = run({"tenants": [{"name": "nlp", "members": ["bob"]}]})
    assert facts["tracking_uri"] == "http://mlflow.mlops-mlflow.svc.cluster.local:5000"

    for resource in mocks.resources:
        if resource.typ == "kubernetes:core/v1:Secret":
            continue
        assert MOCK_PASSWORD not in repr(resource.inputs), f"{resource.typ} {resource.name} carries a password inline"
    secrets = {r.name: r for r in mocks.of_type("kubernetes:core/v1:Secret")}
    for name in ("mlflow-auth", "mlflow-database", "object-store-credentials", "mlflow-s3"):
        assert SECRET_SIG in secrets[name].inputs["stringData"], f"Secret {name}: stringData is passed as a secret"
    assert unsecret(secrets["mlflow-auth"].inputs["stringData"])["admin-password"] == MOCK_PASSWORD
    assert unsecret(secrets["mlflow-database"].inputs["stringData"])["postgres-password"] == MOCK_PASSWORD



def test_mlflow_chart_values_reference_secrets_and_follow_image_override(mocks):
    run({"images": {"registry": "mirror.example.edu:5000", "overrides": {"postgres": "r.example.edu/pg:15"}}})

    chart = mocks.of_type("kubernetes:helm.sh/v4:Chart")
    assert len(chart) == 1, "MLflow is installed from the local chart"
    values = chart[0].inputs["values"]
    assert chart[0].inputs["chart"].endswith("charts/mlflow")
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
    values = mocks.of_type("kubernetes:helm.sh/v4:Chart")[0].inputs["values"]
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


def test_gpu_disabled_declares_no_gpu_resources(mocks):
    facts = run({})
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
    assert container["image"] == "mirror.example.edu:5000/nvidia/k8s-device-plugin:v0.17.1"
    assert container["resources"]["requests"]["cpu"], "device plugin requests are set"
    assert container["resources"]["limits"]["memory"], "device plugin limits are set"
    config = mocks.named("gpu-device-plugin-config").inputs["data"]["config.yaml"]
    assert "migStrategy: single" in config
    assert "replicas: 4" in config, "time-slicing replicas reach the device plugin's config"
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
    facts = run({"gpu": {"totalGpus": 2}, "tenants": TENANTS})
    assert facts["tenants"]["vision"] == {"namespace": "research-vision", "bucket": "vision-artifacts",
                                          "experimentPrefix": "/vision/", "credentialsSecret": "mlops-credentials"}

    ns = mocks.named("tenants-vision-ns")
    assert ns.inputs["metadata"]["name"] == "research-vision"
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
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
    values = mocks.of_type("kubernetes:helm.sh/v4:Chart")[0].inputs["values"]
    assert values["networkPolicy"]["allowedNamespaces"] == ["research-vision", "research-nlp"]


def test_seaweedfs_identities_scope_each_tenant_to_its_bucket(mocks):
    import json

    run({"tenants": TENANTS[1:]})
    store_secret = unsecret(mocks.named("object-store-credentials").inputs["stringData"])
    identities = {i["name"]: i for i in json.loads(store_secret["s3.json"])["identities"]}
    assert set(identities) == {"platform-admin", "tenant-nlp"}
    assert identities["tenant-nlp"]["actions"] == ["Read:nlp-artifacts", "Write:nlp-artifacts", "List:nlp-artifacts"]
    assert identities["tenant-nlp"]["credentials"] == [{"accessKey": "tenant-nlp", "secretKey": MOCK_PASSWORD}]


def test_minio_tenants_get_users_and_bucket_policies_from_the_bucket_job(mocks):
    run({"objectStore": {"backend": "minio"}, "tenants": TENANTS[1:]})
    users = mocks.named("object-store-users")
    assert SECRET_SIG in users.inputs["stringData"]
    assert unsecret(users.inputs["stringData"]) == {"tenant-nlp": MOCK_PASSWORD}
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
