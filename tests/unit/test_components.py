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
    facts = run({})
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
