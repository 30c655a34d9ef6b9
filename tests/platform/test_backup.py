"""The platform's backups on what `make up` deployed: `make backup` records a tenant's object and
MLflow run, `make restore` refuses bad backups with nothing changed, and a restore brings back
what was deleted after the backup and removes what was made after it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from infra.components.backup import RESTORE_CRONJOB
from platform_backup import job
from smoke_tests.upgrade_test import all_wait, migrating_dependencies
from tests.support.cluster import kubeconfig, kubectl
from tests.support.platform import CFG, MLFLOW_NS, S3_TARGET, mlflow_image, run_script_pod
from tests.support.scripts import pod_script

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
MLFLOW_TARGET = (f"mlflow.{MLFLOW_NS}.svc.cluster.local.", 5000)

# Run in a tenant namespace with the MLflow image as the tenant (its mlops-credentials); STEP says
# what to do with the marker object in the tenant's bucket and the MLflow run.
TENANT_SCRIPT = pod_script("backup_tenant_marker")


def tenant_step(step: str, marker: str, run_id: str = "") -> dict:
    tenant = CFG.tenancy.tenants[0]
    image = mlflow_image()
    return run_script_pod(tenant.namespace, f"backup-test-{step}", image, TENANT_SCRIPT,
                          [{"name": "STEP", "value": step}, {"name": "MARKER", "value": marker},
                           {"name": "RUN_ID", "value": run_id}],
                          env_from=[{"secretRef": {"name": "mlops-credentials"}}], memory_limit="512Mi",
                          needs=(S3_TARGET, MLFLOW_TARGET))


def cli(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBECONFIG": kubeconfig()}
    return subprocess.run([sys.executable, "-m", "platform_backup.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def writer_replicas() -> dict[str, str]:
    configmap = json.loads(kubectl("get", "configmap", "-n", CFG.backup.namespace, "platform-backup-program", "-o", "json"))
    platform = json.loads(configmap["data"]["platform.json"])
    return {w["name"]: kubectl("get", w["kind"].lower(), "-n", w["namespace"], w["name"], "-o", "jsonpath={.spec.replicas}")
            for w in platform["writers"]}


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory):
    """A tenant's object and MLflow run, then `make backup`: (backup folder, marker, run id)."""
    if not CFG.backup.enabled or not CFG.tenancy.tenants:
        pytest.skip("LOUD SKIP: the local stack has backup.enabled false or no tenant")
    marker = uuid.uuid4().hex[:12]
    run_id = tenant_step("before", marker)["run_id"]
    output = tmp_path_factory.mktemp("backups")
    result = cli("backup", "--output", str(output))
    assert result.returncode == 0, f"make backup failed:\n{result.stdout}\n{result.stderr}"
    folders = list(output.iterdir())
    assert len(folders) == 1, folders
    return folders[0], marker, run_id, result.stdout


def test_make_backup_records_every_database_bucket_and_the_tenants_object(backed_up):
    backup, marker, _, stdout = backed_up
    assert "every checksum matches" in stdout, stdout
    assert job.verify(backup) == []
    manifest = json.loads((backup / job.MANIFEST).read_text())
    tenant = CFG.tenancy.tenants[0]
    expected_buckets = {*CFG.object_store.buckets, CFG.kubeflow_pipelines.bucket, *(t.bucket for t in CFG.tenancy.tenants)}
    assert set(manifest["buckets"]) == expected_buckets
    entry = next(e for e in manifest["buckets"][tenant.bucket] if e["key"] == f"backup-test/{marker}")
    assert entry["sha256"] == hashlib.sha256(marker.encode() * 1000).hexdigest()
    assert (backup / "objects" / entry["sha256"]).read_bytes() == marker.encode() * 1000
    assert (backup / "databases" / "mlflow.pgdump").read_bytes()[:5] == b"PGDMP", "pg_dump's custom format"
    sql = (backup / "databases" / "kubeflow-pipelines.sql").read_text()
    assert "CREATE TABLE" in sql
    for database in ("mlpipeline", "metadb"):
        assert f"USE `{database}`" in sql, f"the KFP dump lacks {database}"


def test_make_restore_refuses_a_bad_backup_before_changing_anything(backed_up, tmp_path):
    backup = backed_up[0]
    before = writer_replicas()
    jobs_before = kubectl("get", "jobs", "-n", CFG.backup.namespace, "-o", "name")

    missing = cli("restore", str(tmp_path / "no-such-backup"))
    assert missing.returncode == 2
    assert "is not a folder" in missing.stderr
    assert "name the backup: make restore BACKUP=" in cli("restore").stderr

    corrupt = tmp_path / "corrupt"
    shutil.copytree(backup, corrupt)
    victim = max((corrupt / "objects").iterdir(), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    refused = cli("restore", str(corrupt))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "nothing was changed" in refused.stderr
    assert f"objects/{victim.name}: checksum differs from the manifest (corrupt)" in refused.stderr

    other_version = tmp_path / "other-version"
    shutil.copytree(backup, other_version)
    manifest = json.loads((other_version / job.MANIFEST).read_text())
    manifest["platform"]["images"]["mlflow"] = "ghcr.io/mlflow/mlflow:v3.0.0"
    (other_version / job.MANIFEST).write_text(json.dumps(manifest))
    refused = cli("restore", str(other_version))
    assert refused.returncode == 2
    assert "image mlflow: the backup was taken with 'ghcr.io/mlflow/mlflow:v3.0.0'" in refused.stderr

    assert writer_replicas() == before, "a refused restore must not stop any server"
    assert kubectl("get", "jobs", "-n", CFG.backup.namespace, "-o", "name") == jobs_before, "no restore Job started"


def test_make_restore_brings_back_what_was_deleted_after_the_backup(backed_up):
    backup, marker, run_id, _ = backed_up
    tenant_step("damage", marker, run_id)
    damaged = tenant_step("check", marker, run_id)
    assert damaged["object"] == "NoSuchKey"
    assert damaged["stage"] == "deleted"
    assert damaged["after_backup_experiment"] is True
    before = writer_replicas()

    result = cli("restore", str(backup))
    assert result.returncode == 0, f"make restore failed:\n{result.stdout}\n{result.stderr}"
    restored = tenant_step("check", marker, run_id)
    assert restored["object"] is True, "the tenant's object is back, byte for byte"
    assert restored["stage"] == "active", "the run deleted after the backup is back"
    assert restored["params"] == {"marker": marker}
    assert restored["metrics"] == {"score": 0.25}
    assert restored["after_backup_experiment"] is False, "what was made after the backup is gone"
    assert writer_replicas() == before, "the servers run again as before"
    # Every Job of the namespace is owned by its CronJob: deleting the platform deletes them, and
    # their pods do not keep the backups volume (make down waited for it once).
    jobs = json.loads(kubectl("get", "jobs", "-n", CFG.backup.namespace, "-o", "json"))["items"]
    assert any(j["metadata"]["name"].startswith(RESTORE_CRONJOB) for j in jobs)
    for job_object in jobs:
        owners = [(o["kind"], o["name"]) for o in job_object["metadata"].get("ownerReferences", [])]
        assert owners in ([("CronJob", RESTORE_CRONJOB)], [("CronJob", "platform-backup")]), \
            f"Job {job_object['metadata']['name']} is owned by {owners}"


def test_migrating_workloads_wait_for_the_pre_upgrade_backup():
    """Every Deployment and StatefulSet of MLflow and Kubeflow Pipelines depends, in the deployed
    stack's Pulumi state, on the schema record whose hooks take the pre-upgrade backup
    (infra/components/schema_versions.py): none of them changes before that backup succeeded.
    Seen failing when the dependency was set on the components only (Pulumi does not pass a
    component's depends_on to its children): every workload was listed as not waiting."""
    dependencies = migrating_dependencies()
    assert all_wait(dependencies), f"workloads that could migrate before the backup: {dependencies}"


# Run in the backup namespace with the backup's own credentials (platform-backup-credentials):
# what its S3 user may and may not do.
S3_RIGHTS_SCRIPT = pod_script("backup_s3_rights")


def test_the_backups_s3_user_reads_every_bucket_but_cannot_create_or_delete_one():
    """The backup's S3 user (platform-backup) lists a tenant's bucket, and is refused creating a
    bucket or deleting one: it is no admin (the root key would be allowed both)."""
    tenant = CFG.tenancy.tenants[0]
    image = mlflow_image()
    result = run_script_pod(CFG.backup.namespace, "backup-s3-rights", image, S3_RIGHTS_SCRIPT,
                            [{"name": "TENANT_BUCKET", "value": tenant.bucket}],
                            env_from=[{"secretRef": {"name": "platform-backup-credentials"}}], memory_limit="512Mi",
                            needs=(S3_TARGET,))
    assert result["list the tenant's bucket"] == "allowed", result
    assert result["create a bucket"] in ("AccessDenied", "AllAccessDisabled"), result
    assert result["delete the tenant's bucket"] in ("AccessDenied", "AllAccessDisabled"), result


def test_the_backups_service_account_reads_model_servers_and_nothing_more():
    """The API server's own answer (SubjectAccessReview via kubectl auth can-i) for the backup's
    ServiceAccount: it lists a tenant's Deployments, and may not create or delete them, read the
    tenant's Secrets or the platform's."""
    account = f"system:serviceaccount:{CFG.backup.namespace}:platform-backup"
    tenant = CFG.tenancy.tenants[0].namespace

    def can(verb: str, resource: str, namespace: str) -> str:
        return kubectl("auth", "can-i", verb, resource, "-n", namespace, f"--as={account}", check=False).strip()

    assert can("list", "deployments.apps", tenant) == "yes"
    refused = {f"{verb} {resource} in {namespace}": can(verb, resource, namespace) for verb, resource, namespace in (
        ("create", "deployments.apps", tenant), ("delete", "deployments.apps", tenant), ("patch", "services", tenant),
        ("get", "secrets", tenant), ("get", "secrets", MLFLOW_NS), ("list", "deployments.apps", MLFLOW_NS))}
    assert set(refused.values()) == {"no"}, f"the backup's ServiceAccount may do more than read model servers: {refused}"


CONNECT_SCRIPT = pod_script("backup_reach")


def test_the_backup_namespace_reaches_the_databases_and_not_mlflows_api():
    """The databases admit the backup namespace (their NetworkPolicies name it); MLflow's server,
    which the backup does not use, does not. That a research group's pods cannot reach either
    database is test_network_policies' (refused there)."""
    kfp_ns = CFG.kubeflow_pipelines.namespace
    targets = {"MLflow's PostgreSQL": (f"mlflow-postgres.{MLFLOW_NS}.svc.cluster.local.", 5432),
               "the KFP database": (f"kubeflow-pipelines-db.{kfp_ns}.svc.cluster.local.", 3306),
               "MLflow's server": MLFLOW_TARGET}
    image = mlflow_image()
    # The pod starts its probe once both databases accept it: the NetworkPolicy engine admits a new pod
    # some moments after it starts (it rejects until then, as a policy does), and after make restore's
    # restarts that took long enough for one database to refuse the probe (CI, 2026-12-08). A policy that
    # does not admit the namespace fails the wait.
    result = run_script_pod(CFG.backup.namespace, "backup-reach", image, CONNECT_SCRIPT,
                            [{"name": "TARGETS", "value": json.dumps(targets)}],
                            needs=(targets["MLflow's PostgreSQL"], targets["the KFP database"]))
    assert result["MLflow's PostgreSQL"] == "open", result
    assert result["the KFP database"] == "open", result
    assert result["MLflow's server"] != "open", f"the backup namespace reaches MLflow's API: {result}"
