"""The ObjectStore component (infra/components/object_store.py) under Pulumi mocks: SeaweedFS and
MinIO, their images, requests and network policy, the buckets and the S3 users scoped to them."""

from __future__ import annotations

import pytest

from tests.support.components import TENANTS
from tests.support.pulumi_mocks import MOCK_PASSWORD, SECRET_SIG, containers, run, unsecret

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


def test_components_validate_their_arguments():
    from infra.components.object_store import ObjectStore, ObjectStoreArgs
    from infra.config import Resources

    resources = Resources({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})
    with pytest.raises(ValueError, match="backend='ceph'; allowed values: minio, seaweedfs"):
        ObjectStore("bad", ObjectStoreArgs(backend="ceph", namespace="x", image="i:1", volume_size="1Gi",
                                           root_user="admin", buckets=("b",), resources=resources))


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
